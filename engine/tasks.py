"""Celery tasks: the shells that run attempts, fire timers and reconcile.

Three phases for an attempt: claim the step row with a conditional update
(status and attempt number are the fencing token); have the step's kind
perform it outside any transaction; record the outcome through the kernel in
a second short transaction. A row already claimed, or moved on, means: log
and return.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

from celery import shared_task

import saga
from common.logs import log_context
from engine import children, dispatch, iterations, reconciler, tracing
from engine.claims import claim_step, release_claim
from engine.models import StepRun
from engine.participants import WorkerParticipants
from engine.services import run_apply, run_apply_and_continue
from engine.store import definition_for_version, workflow_slug
from saga.steps import kind_of
from saga.steps.base import WAITING, Outcome, Waiting, Work
from saga.templates import TemplateError, find_references, render

log = logging.getLogger("sagaboard.engine")

WORKER = f"{socket.gethostname()}:{os.getpid()}"

# How many steps one worker runs back to back before handing on through the broker,
# so one long saga cannot keep a worker from everything else.
MAX_CONTINUATIONS = 50


class RunFacts(NamedTuple):
    """What running a step needs to know of its run."""

    version_id: int
    input: Any
    correlation_id: str
    workflow_id: int


@dataclass(frozen=True)
class Claimed:
    """A claimed attempt: what running it needs to know of its run, and for an iteration
    of a map, its index, item and output (its compensation reads it)."""

    run: RunFacts
    index: int | None = None
    item: Any = None
    output: Any = None


def _claim(
    run_id: str, step_id: str, attempt: int, compensation: bool, index: int | None
) -> Claimed | None:
    """Claim the attempt for this worker; what running it needs, or None when the attempt
    is not there to claim (a duplicate message, or the step moved on)."""
    if index is not None:
        found = iterations.claim(
            run_id, step_id, index, attempt, compensation, by=WORKER, fields=RunFacts._fields
        )
        return None if found is None else Claimed(RunFacts(*found[0]), index, *found[1])
    facts = claim_step(run_id, step_id, attempt, compensation, by=WORKER, fields=RunFacts._fields)
    return None if facts is None else Claimed(RunFacts(*facts))


@lru_cache(maxsize=4096)
def _template_roots(version_id: int, step_id: str, compensation: bool) -> frozenset[str]:
    """Which of input, steps, run, item and index the step's action (or compensation), or
    its map's ``do``, refers to."""
    sdef = definition_for_version(version_id).step(step_id)
    sdef = sdef.do or sdef
    template = sdef.compensation if compensation else sdef.action
    return frozenset(ref.root for ref in find_references(dict(template or {})))


def _action(
    run_id: str,
    run_input: Any,
    version_id: int,
    sdef: saga.StepDef,
    claimed: Claimed,
    compensation: bool,
) -> dict[str, Any]:
    """The step's action (or compensation) with its templates filled in; an iteration's
    with its item and index."""
    template = dict((sdef.compensation if compensation else sdef.action) or {})
    roots = _template_roots(version_id, sdef.id, compensation)
    if not roots:
        return template
    steps: dict[str, Any] = {}
    if "steps" in roots:
        outputs = StepRun.objects.filter(run_id=run_id, output__isnull=False)
        steps = {sid: {"output": out} for sid, out in outputs.values_list("step_id", "output")}
    context = {"input": run_input, "steps": steps, "run": {"id": str(run_id)}}
    if claimed.index is not None:
        context.update(item=claimed.item, index=claimed.index)
        if compensation:
            # An iteration's compensation reads its own output as its step's, as any
            # step's compensation does.
            steps[sdef.id] = {"output": claimed.output}
    return render(template, context)


@shared_task(name=dispatch.EXECUTE_STEP, acks_late=True, ignore_result=True)
def execute_step(
    run_id: str, step_id: str, attempt: int, compensation: bool = False, index: int | None = None
) -> None:
    """Run one attempt of a step, or of one iteration of a map step (or of its
    compensation), and record what came of it.

    When recording the outcome starts a next step, this worker claims it in the
    same transaction and runs it at once, up to MAX_CONTINUATIONS in a row.
    """
    claimed = _claim(run_id, step_id, attempt, compensation, index)
    if claimed is None:
        log.info(
            "attempt %s of %s in run %s is not ours to run (duplicate or moved on)",
            attempt,
            step_id if index is None else f"{step_id}[{index}]",
            run_id,
        )
        return
    run = claimed.run
    for _ in range(MAX_CONTINUATIONS):
        with log_context(run_id=run_id, step_id=step_id, correlation_id=run.correlation_id):
            happening = _attempt(run_id, claimed, step_id, attempt, compensation)
        if happening is None:
            return
        decision, following, _ = run_apply_and_continue(run_id, happening, claim_next=WORKER)
        if decision.ignored:
            log.info(
                "outcome of attempt %s of %s in run %s came too late", attempt, step_id, run_id
            )
        if following is None:
            return
        step_id, attempt, index = following.step, following.attempt, following.index
        compensation = isinstance(following, saga.StartCompensation)
        claimed = Claimed(run, index, *_item(run_id, step_id, index))
    # Enough in a row: the next one goes through the broker like any other.
    if index is None:
        release_claim(run_id, step_id, by=WORKER)
    else:
        iterations.release(run_id, step_id, index, by=WORKER)
    dispatch.execute(run_id, step_id, attempt, compensation, index)


def _item(run_id: str, step_id: str, index: int | None) -> tuple[Any, Any]:
    if index is None:
        return None, None
    return iterations.item(run_id, step_id, index)


def _attempt(
    run_id: str, claimed: Claimed, step_id: str, attempt: int, compensation: bool
) -> saga.Happening | None:
    """Carry out one claimed attempt: what happened (None: nothing yet, the answer comes
    later)."""
    run, index = claimed.run, claimed.index
    sdef = definition_for_version(run.version_id).step(step_id)
    sdef = sdef.do or sdef
    key = f"{run_id}:{step_id}" + (f":{index}" if index is not None else "")
    key += ":compensate" if compensation else ""
    with tracing.attempt_span(
        run_id,
        step_id,
        attempt,
        compensation=compensation,
        step_type=sdef.type,
        workflow=workflow_slug(run.workflow_id) if tracing.enabled() else "",
    ) as span:
        try:
            action = _action(run_id, run.input, run.version_id, sdef, claimed, compensation)
        except TemplateError as exc:
            outcome: Outcome | Waiting = Outcome(False, error=str(exc), retryable=False)
        else:
            work = Work(run_id, sdef, attempt, compensation, action, key, span.headers, index)
            outcome = kind_of(sdef.type).perform(work, WorkerParticipants())
        if isinstance(outcome, Outcome):
            span.outcome(outcome.ok, outcome.error, outcome.retryable)
    if outcome is WAITING:
        # A compensation that waits (a child run compensating) is answered when it ends.
        return None if compensation else saga.StepWaiting(step_id, attempt, index)
    assert isinstance(outcome, Outcome)
    if compensation:
        if outcome.ok:
            return saga.CompensationSucceeded(step_id, attempt, index)
        return saga.CompensationFailed(step_id, attempt, outcome.error, outcome.retryable, index)
    if outcome.ok:
        return saga.StepSucceeded(step_id, attempt, outcome.output, index)
    return saga.StepFailed(step_id, attempt, outcome.error, outcome.retryable, index)


@shared_task(name=dispatch.FIRE_TIMER, acks_late=True, ignore_result=True)
def fire_timer(
    run_id: str, step_id: str, attempt: int, compensation: bool = False, index: int | None = None
) -> None:
    """A retry or a delay is due."""
    run_apply(run_id, saga.TimerFired(step_id, attempt, compensation, index))


@shared_task(name=dispatch.CHILD_ENDED, acks_late=True, ignore_result=True)
def child_ended(run_id: str) -> None:
    """A child run has ended: its parent's step hears of it."""
    children.child_ended(run_id)


@shared_task(name=dispatch.RECONCILE, ignore_result=True)
def reconcile() -> dict[str, int]:
    """Deliver what is due, take back what dead workers held, re-send lost messages.

    Safe to run at any time and as often as wanted: every happening it
    delivers is fenced by the kernel, so a duplicate changes nothing.
    """
    return reconciler.reconcile_pass()

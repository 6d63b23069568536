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
from functools import lru_cache
from typing import Any, NamedTuple

from celery import shared_task

import saga
from common.logs import log_context
from engine import dispatch, reconciler, tracing
from engine.models import StepRun
from engine.participants import WorkerParticipants
from engine.services import run_apply, run_apply_and_continue
from engine.store import claim_step, definition_for_version, release_claim, workflow_slug
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


def _claim(run_id: str, step_id: str, attempt: int, compensation: bool) -> RunFacts | None:
    """Claim the attempt for this worker; what running it needs to know of the run, or None
    when the attempt is not there to claim (a duplicate message, or the step moved on)."""
    facts = claim_step(run_id, step_id, attempt, compensation, by=WORKER, fields=RunFacts._fields)
    return None if facts is None else RunFacts(*facts)


@lru_cache(maxsize=4096)
def _template_roots(version_id: int, step_id: str, compensation: bool) -> frozenset[str]:
    """Which of input, steps and run the step's action (or compensation) refers to."""
    sdef = definition_for_version(version_id).step(step_id)
    template = sdef.compensation if compensation else sdef.action
    return frozenset(ref.root for ref in find_references(dict(template or {})))


def _action(
    run_id: str, run_input: Any, version_id: int, sdef: saga.StepDef, compensation: bool
) -> dict[str, Any]:
    """The step's action (or compensation) with its templates filled in."""
    template = dict((sdef.compensation if compensation else sdef.action) or {})
    roots = _template_roots(version_id, sdef.id, compensation)
    if not roots:
        return template
    steps: dict[str, Any] = {}
    if "steps" in roots:
        outputs = StepRun.objects.filter(run_id=run_id, output__isnull=False)
        steps = {sid: {"output": out} for sid, out in outputs.values_list("step_id", "output")}
    return render(template, {"input": run_input, "steps": steps, "run": {"id": str(run_id)}})


@shared_task(name=dispatch.EXECUTE_STEP, acks_late=True, ignore_result=True)
def execute_step(run_id: str, step_id: str, attempt: int, compensation: bool = False) -> None:
    """Run one attempt of a step (or of its compensation) and record what came of it.

    When recording the outcome starts a next step, this worker claims it in the
    same transaction and runs it at once, up to MAX_CONTINUATIONS in a row.
    """
    run = _claim(run_id, step_id, attempt, compensation)
    if run is None:
        log.info(
            "attempt %s of %s in run %s is not ours to run (duplicate or moved on)",
            attempt,
            step_id,
            run_id,
        )
        return
    for _ in range(MAX_CONTINUATIONS):
        with log_context(run_id=run_id, step_id=step_id, correlation_id=run.correlation_id):
            happening = _attempt(run_id, run, step_id, attempt, compensation)
        decision, following, _ = run_apply_and_continue(run_id, happening, claim_next=WORKER)
        if decision.ignored:
            log.info(
                "outcome of attempt %s of %s in run %s came too late", attempt, step_id, run_id
            )
        if following is None:
            return
        step_id, attempt = following.step, following.attempt
        compensation = isinstance(following, saga.StartCompensation)
    # Enough in a row: the next one goes through the broker like any other.
    release_claim(run_id, step_id, by=WORKER)
    dispatch.execute(run_id, step_id, attempt, compensation)


def _attempt(
    run_id: str, run: RunFacts, step_id: str, attempt: int, compensation: bool
) -> saga.Happening:
    """Carry out one claimed attempt: what happened."""
    sdef = definition_for_version(run.version_id).step(step_id)
    key = f"{run_id}:{step_id}" + (":compensate" if compensation else "")
    with tracing.attempt_span(
        run_id,
        step_id,
        attempt,
        compensation=compensation,
        step_type=sdef.type,
        workflow=workflow_slug(run.workflow_id) if tracing.enabled() else "",
    ) as span:
        try:
            action = _action(run_id, run.input, run.version_id, sdef, compensation)
        except TemplateError as exc:
            outcome: Outcome | Waiting = Outcome(False, error=str(exc), retryable=False)
        else:
            work = Work(run_id, sdef, attempt, compensation, action, key, span.headers)
            outcome = kind_of(sdef.type).perform(work, WorkerParticipants())
        if isinstance(outcome, Outcome):
            span.outcome(outcome.ok, outcome.error, outcome.retryable)
    if outcome is WAITING:
        return saga.StepWaiting(step_id, attempt)
    assert isinstance(outcome, Outcome)
    if compensation:
        if outcome.ok:
            return saga.CompensationSucceeded(step_id, attempt)
        return saga.CompensationFailed(step_id, attempt, outcome.error, outcome.retryable)
    if outcome.ok:
        return saga.StepSucceeded(step_id, attempt, outcome.output)
    return saga.StepFailed(step_id, attempt, outcome.error, outcome.retryable)


@shared_task(name=dispatch.FIRE_TIMER, acks_late=True, ignore_result=True)
def fire_timer(run_id: str, step_id: str, attempt: int, compensation: bool = False) -> None:
    """A retry or a delay is due."""
    run_apply(run_id, saga.TimerFired(step_id, attempt, compensation))


@shared_task(name=dispatch.RECONCILE, ignore_result=True)
def reconcile() -> dict[str, int]:
    """Deliver what is due, take back what dead workers held, re-send lost messages.

    Safe to run at any time and as often as wanted: every happening it
    delivers is fenced by the kernel, so a duplicate changes nothing.
    """
    return reconciler.reconcile_pass()

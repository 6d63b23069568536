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
import time
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
from engine.services import Continuation, run_apply, run_apply_all
from engine.store import definition_for_version, workflow_slug
from saga.steps import kind_of
from saga.steps.base import WAITING, Outcome, Waiting, Work
from saga.templates import TemplateError, find_references, render

log = logging.getLogger("sagaboard.engine")

WORKER = f"{socket.gethostname()}:{os.getpid()}"

# How many steps one worker runs back to back before handing on through the broker,
# so one long saga cannot keep a worker from everything else.
MAX_CONTINUATIONS = 50
# At most how many iterations of a map, and for how long, a worker carries out before
# recording what came of them together (see _attempts).
BATCH = 20
BATCH_S = 0.05


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
    jobs = [Job(step_id, attempt, compensation, claimed)]
    for _ in range(MAX_CONTINUATIONS):
        happenings, fast = _attempts(run_id, jobs)
        if happenings:
            decisions, following, _ = run_apply_all(
                run_id, happenings, claim_next=WORKER, claim_iterations=BATCH if fast else 0
            )
            for happening, decision in zip(happenings, decisions, strict=True):
                if decision.ignored:
                    log.info("an outcome came too late for run %s: %r", run_id, happening)
            jobs += _jobs(run_id, claimed.run, following)
        if not fast:
            # Slow work: what this worker holds beyond its next attempt goes back
            # through the broker, for other workers to take at the same time.
            _hand_back(run_id, jobs[1:])
            del jobs[1:]
        if not jobs:
            return
    # Enough in a row: the rest goes through the broker like any other.
    _hand_back(run_id, jobs)


@dataclass(frozen=True)
class Job:
    """An attempt this worker has claimed and is to carry out."""

    step_id: str
    attempt: int
    compensation: bool
    claimed: Claimed


def _jobs(run_id: str, run: RunFacts, following: list[Continuation]) -> list[Job]:
    """The attempts a recorded change handed this worker (claimed for it), with their
    iterations' items and outputs, read together."""
    own: dict[tuple[str, int], tuple[Any, Any]] = {}
    indexes: dict[str, list[int]] = {}
    for c in following:
        if c.index is not None:
            indexes.setdefault(c.step, []).append(c.index)
    for step_id, wanted in indexes.items():
        for index, found in iterations.items(run_id, step_id, wanted).items():
            own[(step_id, index)] = found
    jobs = []
    for c in following:
        item, output = (None, None) if c.index is None else own.get((c.step, c.index), (None, None))
        compensation = isinstance(c, saga.StartCompensation)
        jobs.append(Job(c.step, c.attempt, compensation, Claimed(run, c.index, item, output)))
    return jobs


def _hand_back(run_id: str, jobs: list[Job]) -> None:
    """Give up these claimed attempts and send them through the broker."""
    for job in jobs:
        index = job.claimed.index
        if index is None:
            release_claim(run_id, job.step_id, by=WORKER)
        else:
            iterations.release(run_id, job.step_id, index, by=WORKER)
        dispatch.execute(run_id, job.step_id, job.attempt, job.compensation, index)


def _attempts(run_id: str, jobs: list[Job]) -> tuple[list[saga.Happening], bool]:
    """Carry out the first of ``jobs`` (taking it off the list), and what happened; and
    whether that was fast.

    An iteration of a map that succeeds is not recorded at once: this worker goes on
    with more iterations of the same map, those it holds and then those waiting for a
    worker (claiming each), while they succeed, up to ``BATCH`` of them and for at most
    ``BATCH_S``; their outcomes are then recorded together, in one transaction. A map's
    iterations all change one run, whose row each change locks, so one at a time they
    could not go faster than one worker; in batches they go as fast as steps of many
    runs do. A worker that dies holding outcomes loses nothing: each of those iterations
    times out from its claim and is sent again.
    """
    done: list[saga.Happening] = []
    began = time.monotonic()
    while jobs:
        job = jobs.pop(0)
        with log_context(
            run_id=run_id, step_id=job.step_id, correlation_id=job.claimed.run.correlation_id
        ):
            happening = _attempt(run_id, job.claimed, job.step_id, job.attempt, job.compensation)
        fast = time.monotonic() - began <= BATCH_S
        if happening is not None:
            done.append(happening)
        if not isinstance(happening, saga.StepSucceeded) or job.claimed.index is None:
            return done, fast
        if len(done) >= BATCH or not fast:
            return done, fast
        if not jobs or jobs[0].step_id != job.step_id or jobs[0].claimed.index is None:
            waiting = iterations.claim_waiting(run_id, job.step_id, by=WORKER)
            if waiting is None:
                return done, fast
            index, attempt, item = waiting
            jobs.insert(0, Job(job.step_id, attempt, False, Claimed(job.claimed.run, index, item)))
    return done, True


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

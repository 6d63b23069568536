"""Celery tasks: the shells that run attempts, fire timers and reconcile.

Three phases for an attempt: claim the step row with a conditional update
(status and attempt number are the fencing token); call the participant
outside any transaction; record the outcome through the core in a second
short transaction. A row already claimed, or moved on, means: log and return.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta
from functools import lru_cache
from typing import Any, NamedTuple

from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from engine import core, tracing
from engine.metrics import observe_reconcile
from engine.models import TERMINAL_RUN_STATUSES, Run, StepRun
from engine.participants import Outcome, call_http, call_task
from engine.services import run_apply, run_apply_and_continue
from engine.store import claim_step, definition_for_version, workflow_slug
from engine.templating import TemplateError, find_references, render
from sagaboard.logs import log_context

log = logging.getLogger("sagaboard.engine")

WORKER = f"{socket.gethostname()}:{os.getpid()}"
# A step started but never claimed for this long lost its message: send it again.
LOST_AFTER = timedelta(seconds=15)
RECONCILE_BATCH = 500


# How many steps one worker runs back to back before handing on through the broker,
# so one long saga cannot keep a worker from everything else.
MAX_CONTINUATIONS = 50


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
    run_id: str, run_input: Any, version_id: int, sdef: core.StepDef, compensation: bool
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


@shared_task(acks_late=True, ignore_result=True)
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
        if happening is None:
            return
        decision, following, _ = run_apply_and_continue(run_id, happening, claim_next=WORKER)
        if decision.ignored:
            log.info(
                "outcome of attempt %s of %s in run %s came too late", attempt, step_id, run_id
            )
        if following is None:
            return
        step_id, attempt = following.step, following.attempt
        compensation = isinstance(following, core.StartCompensation)
    # Enough in a row: the next one goes through the broker like any other.
    StepRun.objects.filter(run_id=run_id, step_id=step_id, claimed_by=WORKER).update(
        claimed_at=None, claimed_by=""
    )
    execute_step.delay(run_id, step_id, attempt, compensation)


class RunFacts(NamedTuple):
    """What running a step needs to know of its run."""

    version_id: int
    input: Any
    correlation_id: str
    workflow_id: int


def _attempt(
    run_id: str, run: RunFacts, step_id: str, attempt: int, compensation: bool
) -> core.Happening | None:
    """Carry out one claimed attempt; what happened, or None when the step now waits."""
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
            outcome: Outcome | None = Outcome(False, error=str(exc), retryable=False)
        else:
            outcome = _perform(run_id, sdef, action, key, attempt, compensation, span.headers)
        if outcome is not None:
            span.outcome(outcome.ok, outcome.error, outcome.retryable)
    if outcome is None:
        return None
    if compensation:
        if outcome.ok:
            return core.CompensationSucceeded(step_id, attempt)
        return core.CompensationFailed(step_id, attempt, outcome.error, outcome.retryable)
    if outcome.ok:
        return core.StepSucceeded(step_id, attempt, outcome.output)
    return core.StepFailed(step_id, attempt, outcome.error, outcome.retryable)


def _perform(
    run_id: str,
    sdef: core.StepDef,
    action: dict[str, Any],
    key: str,
    attempt: int,
    compensation: bool,
    trace_headers: dict[str, str],
) -> Outcome | None:
    timeout = sdef.timeout_s
    if sdef.type == "task":
        return call_task(
            action,
            run_id=str(run_id),
            step_id=sdef.id,
            attempt=attempt,
            idempotency_key=key,
            compensation=compensation,
        )
    if sdef.type == "callback" and not compensation:
        return _start_callback(run_id, sdef.id, action, key, attempt, timeout, trace_headers)
    return call_http(
        action,
        idempotency_key=key,
        correlation_id=str(run_id),
        timeout_s=timeout,
        extra_headers=trace_headers,
    )


def _start_callback(
    run_id: str,
    step_id: str,
    action: dict[str, Any],
    key: str,
    attempt: int,
    timeout: float | None,
    trace_headers: dict[str, str],
) -> Outcome | None:
    """Hand out a one-time token, make the optional call, then wait for the participant."""
    import secrets

    token = secrets.token_urlsafe(24)
    StepRun.objects.filter(run_id=run_id, step_id=step_id, attempt=attempt).update(
        callback_token=token
    )
    callback_url = f"{settings.SAGABOARD_BASE_URL.rstrip('/')}/api/callbacks/{token}/"
    if action.get("url"):
        body = action.get("body")
        body = (
            {**body} if isinstance(body, dict) else ({"payload": body} if body is not None else {})
        )
        body.update({"callback_url": callback_url, "callback_token": token})
        outcome = call_http(
            {**action, "body": body, "method": action.get("method", "POST")},
            idempotency_key=key,
            correlation_id=str(run_id),
            timeout_s=min(timeout or 30.0, 30.0),
            extra_headers={**trace_headers, "X-Callback-Token": token},
        )
        if not outcome.ok:
            return outcome
    run_apply(run_id, core.StepWaiting(step_id, attempt))
    return None


@shared_task(acks_late=True, ignore_result=True)
def fire_timer(run_id: str, step_id: str, attempt: int, compensation: bool = False) -> None:
    """A retry or a delay is due."""
    run_apply(run_id, core.TimerFired(step_id, attempt, compensation))


@shared_task(ignore_result=True)
def reconcile() -> dict[str, int]:
    """Deliver what is due, take back what dead workers held, re-send lost messages.

    Safe to run at any time and as often as wanted: every happening it
    delivers is fenced by the core, so a duplicate changes nothing.
    """
    now = timezone.now()
    counts = {"timers": 0, "timeouts": 0, "resent": 0, "deadlines": 0}
    active = ~Q(run__status__in=TERMINAL_RUN_STATUSES)

    due = StepRun.objects.filter(
        active, status__in=["retrying", "waiting", "compensating"], next_attempt_at__lte=now
    ).values_list("run_id", "step_id", "status", "attempt", "compensation_attempt")
    for run_id, step_id, status, attempt, comp_attempt in due[:RECONCILE_BATCH]:
        if status == "compensating":
            _deliver(run_id, core.TimerFired(step_id, comp_attempt, True))
        else:
            _deliver(run_id, core.TimerFired(step_id, attempt))
        counts["timers"] += 1

    overdue = StepRun.objects.filter(
        active,
        status__in=["running", "waiting", "compensating"],
        deadline_at__lte=now,
        next_attempt_at__isnull=True,
    ).values_list("run_id", "step_id", "status", "attempt", "compensation_attempt")
    for run_id, step_id, status, attempt, comp_attempt in overdue[:RECONCILE_BATCH]:
        if status == "compensating":
            _deliver(run_id, core.CompensationTimedOut(step_id, comp_attempt))
        else:
            _deliver(run_id, core.StepTimedOut(step_id, attempt))
        counts["timeouts"] += 1

    lost = StepRun.objects.filter(
        active,
        Q(status="running") | Q(status="compensating", next_attempt_at__isnull=True),
        claimed_at__isnull=True,
        updated_at__lte=now - LOST_AFTER,
    ).values_list("run_id", "step_id", "status", "attempt", "compensation_attempt")
    for run_id, step_id, status, attempt, comp_attempt in lost[:RECONCILE_BATCH]:
        compensation = status == "compensating"
        execute_step.delay(
            str(run_id), step_id, comp_attempt if compensation else attempt, compensation
        )
        counts["resent"] += 1

    stalled = Run.objects.filter(
        status__in=["running", "waiting", "compensating"], progress_deadline_at__lte=now
    ).values_list("id", flat=True)
    for run_id in stalled[:RECONCILE_BATCH]:
        _deliver(run_id, core.RunDeadlinePassed())
        counts["deadlines"] += 1
    if any(counts.values()):
        log.info("reconciler: %s", counts)
    observe_reconcile(counts, now)
    return counts


def _deliver(run_id: Any, happening: core.Happening) -> None:
    try:
        run_apply(run_id, happening)
    except Exception:
        log.exception("reconciler could not deliver %r to run %s", happening, run_id)

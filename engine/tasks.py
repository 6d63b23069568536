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
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from engine import core
from engine.models import TERMINAL_RUN_STATUSES, Run, StepRun
from engine.participants import Outcome, call_http, call_task
from engine.services import run_apply
from engine.store import definition_for
from engine.templating import TemplateError, render

log = logging.getLogger("sagaboard.engine")

WORKER = f"{socket.gethostname()}:{os.getpid()}"
# A step started but never claimed for this long lost its message: send it again.
LOST_AFTER = timedelta(seconds=15)
RECONCILE_BATCH = 500


def _claim(run_id: str, step_id: str, attempt: int, compensation: bool) -> StepRun | None:
    if compensation:
        where = Q(status="compensating", compensation_attempt=attempt, next_attempt_at__isnull=True)
    else:
        where = Q(status="running", attempt=attempt)
    updates: dict[str, Any] = {"claimed_at": timezone.now(), "claimed_by": WORKER}
    claimed = StepRun.objects.filter(
        where, run_id=run_id, step_id=step_id, claimed_at__isnull=True
    ).update(**updates)
    if not claimed:
        return None
    return StepRun.objects.select_related("run__version").get(run_id=run_id, step_id=step_id)


def _context(run: Run) -> dict[str, Any]:
    outputs = StepRun.objects.filter(run=run).values_list("step_id", "output")
    return {
        "input": run.input,
        "steps": {sid: {"output": out} for sid, out in outputs if out is not None},
        "run": {"id": str(run.pk)},
    }


@shared_task(acks_late=True, ignore_result=True)
def execute_step(run_id: str, step_id: str, attempt: int, compensation: bool = False) -> None:
    """Run one attempt of a step (or of its compensation) and record what came of it."""
    row = _claim(run_id, step_id, attempt, compensation)
    if row is None:
        log.info(
            "attempt %s of %s in run %s is not ours to run (duplicate or moved on)",
            attempt,
            step_id,
            run_id,
        )
        return
    run = row.run
    sdef = definition_for(run).step(step_id)
    key = f"{run.pk}:{step_id}" + (":compensate" if compensation else "")
    template = sdef.compensation if compensation else sdef.action
    try:
        action = render(dict(template or {}), _context(run))
    except TemplateError as exc:
        outcome = Outcome(False, error=str(exc), retryable=False)
    else:
        outcome = _perform(row, sdef, action, key, attempt, compensation)
    if outcome is None:
        return
    happening: core.Happening
    if compensation:
        happening = (
            core.CompensationSucceeded(step_id, attempt)
            if outcome.ok
            else core.CompensationFailed(step_id, attempt, outcome.error, outcome.retryable)
        )
    elif outcome.ok:
        happening = core.StepSucceeded(step_id, attempt, outcome.output)
    else:
        happening = core.StepFailed(step_id, attempt, outcome.error, outcome.retryable)
    decision = run_apply(run_id, happening)
    if decision.ignored:
        log.info("outcome of attempt %s of %s in run %s came too late", attempt, step_id, run_id)


def _perform(
    row: StepRun,
    sdef: core.StepDef,
    action: dict[str, Any],
    key: str,
    attempt: int,
    compensation: bool,
) -> Outcome | None:
    run = row.run
    timeout = sdef.timeout_s
    if sdef.type == "task":
        return call_task(
            action,
            run_id=str(run.pk),
            step_id=row.step_id,
            attempt=attempt,
            idempotency_key=key,
            compensation=compensation,
        )
    if sdef.type == "callback" and not compensation:
        return _start_callback(row, action, key, attempt, timeout)
    return call_http(action, idempotency_key=key, correlation_id=str(run.pk), timeout_s=timeout)


def _start_callback(
    row: StepRun, action: dict[str, Any], key: str, attempt: int, timeout: float | None
) -> Outcome | None:
    """Hand out a one-time token, make the optional call, then wait for the participant."""
    import secrets

    token = secrets.token_urlsafe(24)
    StepRun.objects.filter(pk=row.pk, attempt=attempt).update(callback_token=token)
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
            correlation_id=str(row.run_id),
            timeout_s=min(timeout or 30.0, 30.0),
            extra_headers={"X-Callback-Token": token},
        )
        if not outcome.ok:
            return outcome
    run_apply(row.run_id, core.StepWaiting(row.step_id, attempt))
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
    return counts


def _deliver(run_id: Any, happening: core.Happening) -> None:
    try:
        run_apply(run_id, happening)
    except Exception:
        log.exception("reconciler could not deliver %r to run %s", happening, run_id)

"""Child runs: started by a parent's child saga step, compensated with it, and heard from.

A child is an ordinary run of another workflow's published version, linked to the run
and step that started it (``Run.parent_run``, ``Run.parent_step``) and started with the
key ``<parent run id>:<step id>``, so starting it again finds it. When it ends, its
parent's step is told, through the same fenced path as any participant's answer: a
callback's answer going forward, a compensation's outcome going back. The message is a
nudge; :func:`tell_waiting_parents` (the reconciler) finds the ones that were lost.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.db.models import F

import saga
from common.errors import Conflict, InvalidInput
from designer.models import Workflow
from engine.models import Run, StepRun
from engine.services import run_apply, run_start
from saga.steps.base import WAITING, Outcome, Waiting, Work
from saga.vocabulary import TERMINAL, RunStatus, StepStatus

log = logging.getLogger("sagaboard.engine")

__all__ = ["ask_again", "child_ended", "compensate_child", "start_child", "tell_waiting_parents"]


def start_child(action: Mapping[str, Any], work: Work) -> Outcome | Waiting:
    """Start the child run ``action`` names (or find the one started already): ``WAITING``
    for its end, or what its end came to when it has ended."""
    slug = str(action.get("workflow", ""))
    workflow = Workflow.objects.filter(slug=slug).first()
    if workflow is None:
        return Outcome(False, error=f"no workflow {slug!r} to run as a child", retryable=False)
    try:
        child, _ = run_start(
            workflow=workflow,
            by=None,
            input=action.get("input") or {},
            idempotency_key=f"{work.run_id}:{work.step.id}",
            parent=(work.run_id, work.step.id),
        )
    except (Conflict, InvalidInput) as exc:
        return Outcome(
            False, error=f"the child run of {slug} could not start: {exc}", retryable=False
        )
    return _outcome(child) if child.status in TERMINAL else WAITING


def _outcome(child: Run) -> Outcome:
    if child.status == RunStatus.COMPLETED:
        return Outcome(True, output=child.output if child.output is not None else {})
    return Outcome(False, error=f"the child run {child.pk} was {child.status}", retryable=False)


def compensate_child(work: Work) -> Outcome | Waiting:
    """Have the step's child run compensated: ``WAITING`` while it compensates; failed for
    good when it cannot be (past its own pivot)."""
    child = Run.objects.filter(parent_run__pk=work.run_id, parent_step=work.step.id).first()
    if child is None or child.status == RunStatus.COMPENSATED:
        return Outcome(True)  # nothing was done, or it is undone already
    try:
        run_apply(child.pk, saga.ParentCompensates(parent=work.run_id))
    except saga.ActNotAllowed as exc:
        return Outcome(False, error=str(exc), retryable=False)
    child.refresh_from_db()
    if child.status == RunStatus.COMPENSATED:
        return Outcome(True)  # it had nothing to undo
    if child.status == RunStatus.CANCELLED:
        return Outcome(False, error=f"the child run {child.pk} was cancelled", retryable=False)
    return WAITING


def child_ended(run_id: Any) -> None:
    """A child run ended: its parent's step hears what came of it."""
    child = Run.objects.filter(pk=run_id).first()
    if child is None or child.parent_run_id is None or child.status not in TERMINAL:
        return
    step = StepRun.objects.filter(run_id=child.parent_run_id, step_id=child.parent_step).first()
    if step is None:
        return
    happening: saga.Happening | None = None
    if step.status in (StepStatus.RUNNING, StepStatus.WAITING):
        outcome = _outcome(child)
        happening = saga.CallbackCompleted(
            step.step_id,
            step.attempt,
            outcome.ok,
            outcome.output if outcome.ok else None,
            None if outcome.ok else outcome.error,
            retryable=False,
        )
    elif step.status == StepStatus.COMPENSATING and step.next_attempt_at is None:
        attempt = step.compensation_attempt
        if child.status == RunStatus.COMPENSATED:
            happening = saga.CompensationSucceeded(step.step_id, attempt)
        elif child.status == RunStatus.CANCELLED:
            error = f"the child run {child.pk} was cancelled before it was undone"
            happening = saga.CompensationFailed(step.step_id, attempt, error, retryable=False)
    if happening is not None:
        run_apply(child.parent_run_id, happening)


def ask_again(limit: int = 500) -> int:
    """Children whose parent compensates their step, yet who are not compensating (the
    worker that was to ask them was lost): asked again, and the parent told when they
    cannot be undone."""
    asked = 0
    rows = StepRun.objects.filter(
        type="subsaga", status=StepStatus.COMPENSATING, next_attempt_at__isnull=True
    ).exclude(run__status__in=TERMINAL)
    for step in rows[:limit]:
        child = Run.objects.filter(parent_run_id=step.run_id, parent_step=step.step_id).first()
        if child is None or child.status in TERMINAL - {RunStatus.COMPLETED}:
            continue  # nothing to undo, or its end is told by tell_waiting_parents
        if (child.core or {}).get("compensating"):
            continue  # asked already
        try:
            run_apply(child.pk, saga.ParentCompensates(parent=str(step.run_id)))
        except saga.ActNotAllowed as exc:
            failed = saga.CompensationFailed(
                step.step_id, step.compensation_attempt, str(exc), retryable=False
            )
            run_apply(step.run_id, failed)
        asked += 1
    return asked


def tell_waiting_parents(limit: int = 500) -> int:
    """Parents still waiting on a child that has ended (its message lost): told again;
    and children not yet asked to compensate by a parent that does: asked again."""
    ended = Run.objects.filter(
        parent_run__isnull=False,
        status__in=TERMINAL,
        parent_run__steps__step_id=F("parent_step"),
        parent_run__steps__status__in=[
            StepStatus.RUNNING,
            StepStatus.WAITING,
            StepStatus.COMPENSATING,
        ],
    ).exclude(parent_run__status__in=TERMINAL)
    told = 0
    for run_id in ended.values_list("id", flat=True)[:limit]:
        try:
            child_ended(run_id)
            told += 1
        except Exception:
            log.exception("could not tell the parent of child run %s that it ended", run_id)
    try:
        told += ask_again(limit)
    except Exception:
        log.exception("could not ask child runs to compensate again")
    return told

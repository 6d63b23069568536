"""Child runs: started by a parent's child saga step, compensated with it, and heard from.

A child is an ordinary run of another workflow's published version, linked to the run
and step that started it (``Run.parent_run``, ``Run.parent_step``; ``Run.parent_index``
when the step is a map's, one child per iteration) and started with the step's (or the
iteration's) idempotency key, ``<parent run id>:<step id>[:<index>]``, so starting it
again finds it. When it ends, its parent's step (or iteration) is told, through the same
fenced path as any participant's answer: a callback's answer going forward, a
compensation's outcome going back. The message is a nudge; :func:`tell_waiting_parents`
(the reconciler) finds the ones that were lost.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.db.models import OuterRef, Q, QuerySet, Subquery

import saga
from common.errors import Conflict, InvalidInput
from designer.models import Workflow
from engine.models import Iteration, Run, StepRun
from engine.services import run_apply, run_start
from saga.steps.base import WAITING, Outcome, Waiting, Work
from saga.vocabulary import OPEN, TERMINAL, RunStatus, StepStatus

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
            # The attempt's key: <run id>:<step id>, and :<index> for an iteration's child.
            idempotency_key=work.idempotency_key,
            parent=(work.run_id, work.step.id),
            parent_index=work.index,
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
    child = Run.objects.filter(
        parent_run__pk=work.run_id, parent_step=work.step.id, parent_index=work.index
    ).first()
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
    """A child run ended: its parent's step (or iteration) hears what came of it."""
    child = Run.objects.filter(pk=run_id).first()
    if child is None or child.parent_run_id is None or child.status not in TERMINAL:
        return
    index = child.parent_index
    rows = Iteration.objects if index is not None else StepRun.objects
    found = (
        rows.filter(run_id=child.parent_run_id, step_id=child.parent_step)
        .filter(**({"index": index} if index is not None else {}))
        .values_list("status", "attempt", "compensation_attempt", "next_attempt_at")
        .first()
    )
    if found is None:
        return
    status, attempt, compensation_attempt, next_attempt_at = found
    step_id = child.parent_step
    happening: saga.Happening | None = None
    if status in (StepStatus.RUNNING, StepStatus.WAITING):
        outcome = _outcome(child)
        happening = saga.CallbackCompleted(
            step_id,
            attempt,
            outcome.ok,
            outcome.output if outcome.ok else None,
            None if outcome.ok else outcome.error,
            retryable=False,
            index=index,
        )
    elif status == StepStatus.COMPENSATING and next_attempt_at is None:
        if child.status == RunStatus.COMPENSATED:
            happening = saga.CompensationSucceeded(step_id, compensation_attempt, index)
        elif child.status == RunStatus.CANCELLED:
            error = f"the child run {child.pk} was cancelled before it was undone"
            happening = saga.CompensationFailed(
                step_id, compensation_attempt, error, retryable=False, index=index
            )
    if happening is not None:
        run_apply(child.parent_run_id, happening)


def ask_again(limit: int = 500) -> int:
    """Children whose parent compensates their step (or iteration), yet who are not
    compensating (the worker that was to ask them was lost): asked again, and the parent
    told when they cannot be undone."""
    asked = 0
    steps = (
        StepRun.objects.filter(
            type="subsaga", status=StepStatus.COMPENSATING, next_attempt_at__isnull=True
        )
        .exclude(run__status__in=TERMINAL)
        .values_list("run_id", "step_id", "compensation_attempt")
    )
    for parent, step_id, attempt in steps[:limit]:
        child = Run.objects.filter(
            parent_run_id=parent, parent_step=step_id, parent_index__isnull=True
        ).first()
        asked += _ask(parent, step_id, None, attempt, child)
    # An iteration's child, found by a join (only iterations that have one come out).
    for parent, step_id, index, attempt, child_id in _compensating_iterations(limit):
        asked += _ask(parent, step_id, index, attempt, Run.objects.filter(pk=child_id).first())
    return asked


def _compensating_iterations(limit: int) -> list[tuple[Any, str, int, int, Any]]:
    """Iterations compensating now (no retry pending) whose child run has not ended, or
    has completed, in runs that have not ended; with the child's id."""
    child = _child_of_iteration()
    rows = (
        Iteration.objects.filter(status=StepStatus.COMPENSATING, next_attempt_at__isnull=True)
        .exclude(run__status__in=TERMINAL)
        .annotate(
            child_id=Subquery(child.values("id")[:1]),
            child_status=Subquery(child.values("status")[:1]),
        )
        .filter(child_status__in=OPEN | {RunStatus.COMPLETED})
        .order_by()
        .values_list("run_id", "step_id", "index", "compensation_attempt", "child_id")
    )
    return list(rows[:limit])


def _child_of_iteration() -> QuerySet[Run]:
    """The child run of the iteration an outer query is at, found by the index on the
    child's parent run, step and index (a subquery: one probe of it per iteration)."""
    return Run.objects.filter(
        parent_run_id=OuterRef("run_id"),
        parent_step=OuterRef("step_id"),
        parent_index=OuterRef("index"),
    ).order_by()


def _ask(parent: Any, step_id: str, index: int | None, attempt: int, child: Run | None) -> int:
    """Ask ``child`` to compensate, as its parent does, unless it is asked already or has
    nothing to undo; 1 when asked."""
    if child is None or child.status in TERMINAL - {RunStatus.COMPLETED}:
        return 0  # nothing to undo, or its end is told by tell_waiting_parents
    if (child.core or {}).get("compensating"):
        return 0  # asked already
    try:
        run_apply(child.pk, saga.ParentCompensates(parent=str(parent)))
    except saga.ActNotAllowed as exc:
        failed = saga.CompensationFailed(step_id, attempt, str(exc), retryable=False, index=index)
        run_apply(parent, failed)
    return 1


def tell_waiting_parents(limit: int = 500) -> int:
    """Parents still waiting on a child that has ended (its message lost): told again;
    and children not yet asked to compensate by a parent that does: asked again."""
    found = _ended_under_steps(limit) + _ended_under_iterations(limit)
    told = 0
    for run_id in found:
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


def _ended_under_steps(limit: int) -> list[Any]:
    """Child runs that have ended whose parent's child saga step still waits for them, or
    compensates them and they were undone (or cancelled). Driven from the open child saga
    steps (a partial index holds them), never from every child run that ever ended."""
    going = Q(status__in=[StepStatus.RUNNING, StepStatus.WAITING])
    compensating = Q(status=StepStatus.COMPENSATING, next_attempt_at__isnull=True)
    child = Run.objects.filter(
        parent_run=OuterRef("run_id"), parent_step=OuterRef("step_id"), parent_index__isnull=True
    )
    rows = (
        StepRun.objects.filter(going | compensating, type="subsaga")
        .exclude(run__status__in=TERMINAL)
        .annotate(
            child_id=Subquery(child.values("id")[:1]),
            child_status=Subquery(child.values("status")[:1]),
        )
        .filter(
            (going & Q(child_status__in=TERMINAL))
            | (compensating & Q(child_status__in=[RunStatus.COMPENSATED, RunStatus.CANCELLED]))
        )
        .order_by()
        .values_list("child_id", flat=True)
    )
    return list(rows[:limit])


def _ended_under_iterations(limit: int) -> list[Any]:
    """Child runs that have ended whose parent's iteration still waits for them: going
    forward (a child saga iteration waits once its child has started: one still running
    has a deadline and finds its child again), or compensating and it was undone (or
    cancelled). Driven from the iterations not at rest (a partial index holds them)."""
    waiting = Q(status=StepStatus.WAITING)
    compensating = Q(status=StepStatus.COMPENSATING, next_attempt_at__isnull=True)
    undone = [RunStatus.COMPENSATED, RunStatus.CANCELLED]
    child = _child_of_iteration()
    rows = (
        Iteration.objects.filter(waiting | compensating)
        .exclude(run__status__in=TERMINAL)
        .annotate(
            child_id=Subquery(child.values("id")[:1]),
            child_status=Subquery(child.values("status")[:1]),
        )
        .filter(
            (waiting & Q(child_status__in=TERMINAL)) | (compensating & Q(child_status__in=undone))
        )
        .order_by()
        .values_list("child_id", flat=True)
    )
    return list(rows[:limit])

"""Operators' and approvers' acts: what each may do in the run's state, and what it does.

An act the state does not allow raises :class:`ActNotAllowed` with a reason a
person can read. :func:`act_allowed` asks the same rules, so what is offered
is what will work.
"""

from __future__ import annotations

from saga.compensation import (
    begin_compensation,
    owes_compensation,
    start_compensation,
)
from saga.draft import ABANDONED_CANCELLED, Draft
from saga.forward import attempt_failed, start_attempt
from saga.happenings import ApprovalDecided, CancelRun, CompensateRun, RetryStep, SkipStep
from saga.state import pivot_passed
from saga.vocabulary import RUN_PHRASES, STEP_PHRASES, EventType, RunStatus, StepStatus

__all__ = ["ActNotAllowed", "on_approval", "on_cancel", "on_compensate", "on_retry", "on_skip"]

S = StepStatus


class ActNotAllowed(Exception):
    """An operator act the run's current state does not allow; the message says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _require_open(d: Draft, consequence: str) -> None:
    if d.terminal or d.status is RunStatus.PENDING:
        raise ActNotAllowed(f"the run {RUN_PHRASES[d.status]}; {consequence}")


def on_approval(d: Draft, h: ApprovalDecided) -> None:
    _require_open(d, "its approvals can no longer be decided")
    if not d.kind(h.step).decided_by_people:
        raise ActNotAllowed(f"step {h.step} is not an approval")
    step = d.steps[h.step]
    if step.status is not S.WAITING:
        raise ActNotAllowed(
            f"step {h.step} {STEP_PHRASES[step.status]}; only a waiting approval can be decided"
        )
    event = EventType.ACT_APPROVE if h.approved else EventType.ACT_REJECT
    d.act(event, h.step, h.by, h.comment)
    if h.approved:
        d.succeed(h.step, None, decided_by=h.by)
    else:
        error = f"rejected by {h.by}" + (f": {h.comment}" if h.comment else "")
        attempt_failed(d, h.step, error, False)


def on_retry(d: Draft, h: RetryStep) -> None:
    _require_open(d, "no step can be retried")
    step = d.steps[h.step]
    phrase = STEP_PHRASES[step.status]
    if d.compensating:
        if step.status is S.COMPENSATION_FAILED or (
            step.status is S.COMPENSATING and step.due_at is not None
        ):
            d.act(EventType.ACT_RETRY, h.step, h.by, h.reason)
            start_compensation(d, h.step, step.compensation_attempt + 1, new_round=True)
            return
        raise ActNotAllowed(
            f"step {h.step} {phrase}; while the run compensates, only a failed compensation "
            "can be retried"
        )
    if step.status in (S.FAILED, S.RETRYING):
        d.act(EventType.ACT_RETRY, h.step, h.by, h.reason)
        start_attempt(d, h.step, step.attempt + 1, new_round=True)
        return
    raise ActNotAllowed(f"step {h.step} {phrase}; only a failed step can be retried")


def on_skip(d: Draft, h: SkipStep) -> None:
    _require_open(d, "no step can be skipped")
    step = d.steps[h.step]
    phrase = STEP_PHRASES[step.status]
    if d.compensating:
        # Only what is owed and not in flight: an attempt running may still take effect.
        in_flight = step.status is S.COMPENSATING and step.due_at is None
        if not owes_compensation(d, h.step) or in_flight:
            raise ActNotAllowed(
                f"step {h.step} {phrase}; while the run compensates, only a compensation "
                "not yet done and not in flight can be skipped"
            )
        d.act(EventType.ACT_SKIP, h.step, h.by, h.reason)
        d.move(h.step, S.SKIPPED, deadline_at=None, due_at=None, finished_at=d.now)
        d.emit(
            EventType.STEP_SKIPPED,
            h.step,
            S.SKIPPED,
            step.compensation_attempt,
            reason=h.reason,
            compensation=True,
        )
        return
    blocked = step.status is S.PENDING and any(
        d.steps[a].status is S.FAILED for a in d.definition.ancestors(h.step)
    )
    if step.status not in (S.FAILED, S.RETRYING, S.WAITING) and not blocked:
        if step.status is S.RUNNING:
            reason = "wait for its attempt to finish or time out"
        elif step.status is S.PENDING:
            reason = "only a step blocked by a failed one can be skipped before it starts"
        else:
            reason = "only a failed, retrying, waiting or blocked step can be skipped"
        raise ActNotAllowed(f"step {h.step} {phrase}; {reason}")
    d.act(EventType.ACT_SKIP, h.step, h.by, h.reason)
    d.move(h.step, S.SKIPPED, deadline_at=None, due_at=None, finished_at=d.now)
    d.emit(EventType.STEP_SKIPPED, h.step, S.SKIPPED, step.attempt, reason=h.reason)


def on_compensate(d: Draft, h: CompensateRun) -> None:
    _require_open(d, "it cannot be compensated")
    pivot = pivot_passed(d.definition, d.steps)
    if pivot is not None:
        verb = "has succeeded" if d.steps[pivot].status is S.SUCCEEDED else "was skipped"
        raise ActNotAllowed(f"the pivot {pivot} {verb}; the run can only move forward")
    if d.compensating:
        raise ActNotAllowed("the run is already compensating")
    d.act(EventType.ACT_COMPENSATE, None, h.by, h.reason)
    begin_compensation(d)


def on_cancel(d: Draft, h: CancelRun) -> None:
    if d.terminal:
        raise ActNotAllowed(
            f"the run {RUN_PHRASES[d.status]}; only a run still going can be cancelled"
        )
    d.act(EventType.ACT_CANCEL, None, h.by, h.reason)
    for step_id in d.definition.order:
        step = d.steps[step_id]
        if step.status in (S.RETRYING, S.WAITING):
            d.fail(step_id, ABANDONED_CANCELLED, abandoned=True)
        elif step.status is S.COMPENSATING and step.due_at is not None:
            d.move(step_id, S.COMPENSATION_FAILED, error=ABANDONED_CANCELLED, due_at=None)
            d.emit(
                EventType.STEP_COMPENSATION_FAILED,
                step_id,
                S.COMPENSATION_FAILED,
                step.compensation_attempt,
                ABANDONED_CANCELLED,
                abandoned=True,
            )
    d.run_status(RunStatus.CANCELLED)

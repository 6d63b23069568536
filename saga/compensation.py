"""The rules of a run going back: it waits for what is in flight, then compensates every
step that owes it, in reverse order of the graph, each retried with its own policy."""

from __future__ import annotations

from collections.abc import Mapping

from saga.commands import ScheduleCompensationRetry, StartCompensation
from saga.draft import ABANDONED_COMPENSATING, Draft, split
from saga.state import Key, StepState
from saga.vocabulary import OWES_COMPENSATION, EventType, RunStatus, StepStatus

__all__ = [
    "advance_compensation",
    "begin_compensation",
    "compensation_failed",
    "is_current_compensation",
    "on_compensation_timer",
    "owes_compensation",
    "start_compensation",
]

S = StepStatus


#: A map's own status while it may still owe the compensation of some iterations.
_MAP_OWES = frozenset({S.SUCCEEDED, S.FAILED, S.COMPENSATING, S.COMPENSATION_FAILED})
#: A map's own status when its compensation may begin.
_MAP_TURN = (S.SUCCEEDED, S.WAITING, S.FAILED)


def is_current_compensation(d: Draft, step_id: Key, attempt: int) -> bool:
    step = d.steps[step_id]
    # A compensation waiting for its retry timer has no attempt in flight to answer.
    return (
        step.status is S.COMPENSATING
        and step.compensation_attempt == attempt
        and step.due_at is None
    )


def begin_compensation(d: Draft) -> None:
    """Turn the run around: give up what waits, keep what runs, compensate when it settles."""
    d.compensating = True
    d.run_status(RunStatus.COMPENSATING)
    for step_id in d.definition.order:
        step = d.steps[step_id]
        keep_waiting = d.kind(step_id).waits_through_compensation(d.sdef(step_id))
        if step.status is S.RETRYING or (step.status is S.WAITING and not keep_waiting):
            # A retry given up on: its last attempt failed without an answer.
            unsure = step.status is S.RETRYING
            d.fail(step_id, ABANDONED_COMPENSATING, unsure=unsure, abandoned=True)
    for step_id in d.definition.maps:
        if d.steps[step_id].fan is None:
            continue
        for index, iteration in list(d.fan(step_id).iterations.items()):
            if iteration.status is S.RETRYING:
                d.fail((step_id, index), ABANDONED_COMPENSATING, abandoned=True)


def owed(iteration: StepState) -> bool:
    """An iteration of a map to be compensated: one that succeeded, or one given up on
    unsure of what it began (a child run its lost worker may have started)."""
    return iteration.status is S.SUCCEEDED or (
        iteration.status is S.FAILED and iteration.outcome_unknown
    )


def any_unsure(iterations: Mapping[int, StepState]) -> bool:
    """Whether an iteration was given up on unsure of what it began and is yet to be
    compensated (the shell loads every failed iteration of a map that compensates)."""
    return any(it.status is S.FAILED and it.outcome_unknown for it in iterations.values())


def owes_compensation(d: Draft, step_id: Key) -> bool:
    """Whether the step (or iteration) has a compensation it still owes; a map, while any
    of its iterations does; a step given up on unsure of what it began, as a succeeded one."""
    sdef = d.sdef(step_id)
    if not sdef.has_compensation:
        return False
    step = d.steps[step_id]
    if sdef.fans_out and not isinstance(step_id, tuple):
        if step.status not in _MAP_OWES or step.fan is None:
            return False
        fan = d.fan(step_id)
        owing = fan.count(S.SUCCEEDED, S.COMPENSATING, S.COMPENSATION_FAILED)
        return owing > 0 or any_unsure(fan.iterations)
    return step.status in OWES_COMPENSATION or (step.status is S.FAILED and step.outcome_unknown)


def advance_compensation(d: Draft) -> None:
    """Start the compensations now due: of each step that owes one and whose later steps
    owe nothing more, once nothing is in flight."""
    # Steps still in flight may yet succeed and need undoing too: wait for all of them.
    if any(s.status is S.RUNNING for s in d.steps.values()):
        return
    for step_id in reversed(d.definition.order):
        step = d.steps[step_id]
        # A map that failed owes the compensation of the iterations that succeeded, a step
        # given up on unsure of what it began (a child run) that of whatever it began.
        turn = (
            (S.SUCCEEDED, S.WAITING, S.FAILED)
            if d.sdef(step_id).fans_out or step.outcome_unknown
            else (S.SUCCEEDED, S.WAITING)
        )
        if not owes_compensation(d, step_id) or step.status not in turn:
            continue
        if any(owes_compensation(d, later) for later in d.definition.descendants(step_id)):
            continue
        start_compensation(d, step_id, step.compensation_attempt + 1, new_round=True)


def start_compensation(d: Draft, step_id: Key, attempt: int, *, new_round: bool) -> None:
    """Start a compensation attempt; of a map, start compensating it (its iterations are
    compensated by :func:`saga.fan.advance_fans`)."""
    sdef = d.sdef(step_id)
    current = d.steps[step_id]
    whole_map = sdef.fans_out and not isinstance(step_id, tuple)
    unbounded = whole_map or d.kind(step_id).waits_unbounded  # as long as its child takes
    deadline = None if sdef.timeout_s is None or unbounded else d.now + sdef.timeout_s
    d.move(
        step_id,
        S.COMPENSATING,
        compensation_attempt=attempt,
        compensation_round_start=attempt if new_round else current.compensation_round_start,
        deadline_at=deadline,
        due_at=None,
        error=None,
    )
    d.emit(EventType.STEP_COMPENSATION_STARTED, step_id, S.COMPENSATING, attempt)
    if not whole_map:
        sid, index = split(step_id)
        d.commands.append(StartCompensation(sid, attempt, deadline, index))


def compensation_succeeded(d: Draft, step_id: Key, attempt: int) -> None:
    d.move(step_id, S.COMPENSATED, deadline_at=None, error=None)
    d.emit(EventType.STEP_COMPENSATED, step_id, S.COMPENSATED, attempt)


def compensation_failed(d: Draft, step_id: Key, error: str, retryable: bool) -> None:
    """A compensation attempt failed: retry it, or give it up (the run is then stuck)."""
    sdef = d.sdef(step_id)
    step = d.steps[step_id]
    attempt = step.compensation_attempt
    n = attempt - step.compensation_round_start + 1
    if retryable and not d.terminal and n < sdef.retry.max_attempts:
        delay = sdef.retry.delay_s(n, d.jitter)
        at = d.now + delay
        d.move(step_id, S.COMPENSATING, error=error, deadline_at=None, due_at=at)
        d.emit(
            EventType.STEP_RETRY_SCHEDULED,
            step_id,
            S.COMPENSATING,
            attempt,
            error,
            at=at,
            delay_s=delay,
            compensation=True,
        )
        sid, index = split(step_id)
        d.commands.append(ScheduleCompensationRetry(sid, attempt, at, index))
        return
    d.move(step_id, S.COMPENSATION_FAILED, error=error, deadline_at=None, due_at=None)
    d.emit(
        EventType.STEP_COMPENSATION_FAILED,
        step_id,
        S.COMPENSATION_FAILED,
        attempt,
        error,
        retryable=retryable,
    )


def on_compensation_timer(d: Draft, step_id: Key, attempt: int) -> bool:
    step = d.steps[step_id]
    if (
        d.terminal
        or step.status is not S.COMPENSATING
        or step.compensation_attempt != attempt
        or step.due_at is None
    ):
        return False
    start_compensation(d, step_id, attempt + 1, new_round=False)
    return True

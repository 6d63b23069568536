"""The rules of a map step: one iteration per item, at most ``max_concurrency`` in flight,
each with its own attempts and retries; the map succeeds when every iteration has, fails
once the iterations in flight have settled after one failed for good, and is compensated
iteration by iteration, in reverse index order.

An iteration is addressed by the key ``(map id, index)``; the rules of one attempt
(:mod:`saga.forward`) and one compensation attempt (:mod:`saga.compensation`) are the
same as a step's. This module only says when iterations begin, and what their map's
status becomes.
"""

from __future__ import annotations

from collections.abc import Mapping

from saga.compensation import any_unsure, owed, start_compensation
from saga.draft import ABANDONED_CANCELLED, ABANDONED_COMPENSATING, Draft, FanWork
from saga.forward import after_failure, start_attempt
from saga.happenings import (
    AttemptLost,
    CallbackCompleted,
    Happening,
    StepSucceeded,
    StepWaiting,
    TimerFired,
)
from saga.vocabulary import EventType, RunStatus, StepStatus

__all__ = ["advance_fans", "needs_every_iteration"]

S = StepStatus

#: An iteration that is not at rest going forward.
_MOVING = frozenset({S.RUNNING, S.RETRYING, S.WAITING})


#: Iterations in these statuses mean a map's change may need more than one iteration.
_TROUBLE = (S.FAILED, S.COMPENSATING, S.COMPENSATION_FAILED)


def needs_every_iteration(
    happening: Happening | None,
    *,
    run_status: RunStatus,
    compensating: bool,
    map_status: StepStatus,
    counts: Mapping[StepStatus, int],
) -> bool:
    """Whether deciding ``happening`` may need more of a map's iterations than the one it
    names (see :class:`saga.state.Fan`, which says what the shell then loads).

    It does not for a quiet change: an attempt's success (or a child run's), a call made,
    a retry due or a message sent again, in a map that is running with nothing failed or
    compensating, in a run going forward. Then only counts change besides the iteration
    named, and the map's hot path costs the same for 10 items as for 10,000.
    """
    if isinstance(happening, TimerFired):
        quiet = not happening.compensation
    else:
        quiet = isinstance(happening, StepSucceeded | StepWaiting | AttemptLost) or (
            isinstance(happening, CallbackCompleted) and happening.succeeded
        )
    calm = map_status is S.RUNNING and not any(counts.get(s) for s in _TROUBLE)
    return not (quiet and calm and not compensating and run_status is not RunStatus.STUCK)


def advance_fans(d: Draft) -> None:
    """Begin the iterations there is room for, and bring each map's status up to date."""
    for step_id in d.definition.maps:
        step = d.steps[step_id]
        if step.fan is None and step_id not in d.fans:
            continue  # its items are not known yet
        if step.status is S.RUNNING:
            _forward(d, step_id)
        elif step.status is S.FAILED and not d.compensating and not d.terminal:
            _resumed(d, step_id)
        elif step.status in (S.COMPENSATING, S.COMPENSATION_FAILED):
            _backward(d, step_id)


def _resumed(d: Draft, step_id: str) -> None:
    """A failed map whose failed iterations an operator retried or skipped goes on."""
    if d.fan(step_id).count(S.FAILED):
        return
    d.move(step_id, S.RUNNING, error=None, finished_at=None)
    _forward(d, step_id)


def _forward(d: Draft, step_id: str) -> None:
    fan = d.fan(step_id)
    failed = fan.count(S.FAILED)
    moving = fan.count(*_MOVING)
    if not failed and not d.compensating and not d.terminal:
        room = d.sdef(step_id).max_concurrency - moving
        while room > 0 and fan.started < fan.total:
            index = fan.started
            fan.started += 1
            room -= 1
            moving += 1
            start_attempt(d, (step_id, index), 1, new_round=True)
    if moving:
        return
    if failed:
        first = _first(fan, S.FAILED)
        error = f"iteration {first} failed: {fan.iterations[first].error}"
        d.fail(step_id, error, iteration=first, failed=failed)
        after_failure(d)
    elif fan.count(S.SUCCEEDED, S.SKIPPED) >= fan.total:
        # The output, every iteration's in item order, is gathered by the shell from where
        # it keeps them (an empty map's is known here).
        d.succeed(step_id, [] if fan.total == 0 else None, iterations=fan.total)
    else:
        # The run turned to compensate, or was cancelled, before every iteration began.
        why = ABANDONED_CANCELLED if d.terminal else ABANDONED_COMPENSATING
        d.fail(step_id, why, abandoned=True)


def _backward(d: Draft, step_id: str) -> None:
    """Compensate the map's succeeded iterations, highest index first, ``max_concurrency`` at
    a time; then the map is compensated, or failed to compensate if an iteration did."""
    fan = d.fan(step_id)
    busy = fan.count(S.COMPENSATING)
    if d.steps[step_id].status is S.COMPENSATION_FAILED:
        if not busy and not fan.count(S.SUCCEEDED) and fan.count(S.COMPENSATION_FAILED):
            return  # waits for an operator
        # An operator retried or skipped what failed to compensate: the map goes on.
        d.move(step_id, S.COMPENSATING, error=None)
    if not d.terminal:
        room = d.sdef(step_id).max_concurrency - busy
        for index in _next_to_compensate(fan, room):
            iteration = fan.iterations[index]
            start_compensation(
                d, (step_id, index), iteration.compensation_attempt + 1, new_round=True
            )
            busy += 1
    if busy or fan.count(S.SUCCEEDED) or any_unsure(fan.iterations):
        return
    if fan.count(S.COMPENSATION_FAILED):
        first = _first(fan, S.COMPENSATION_FAILED)
        error = f"iteration {first} failed to compensate: {fan.iterations[first].error}"
        d.move(step_id, S.COMPENSATION_FAILED, error=error)
        d.emit(
            EventType.STEP_COMPENSATION_FAILED,
            step_id,
            S.COMPENSATION_FAILED,
            d.steps[step_id].compensation_attempt,
            error,
            iteration=first,
        )
    else:
        d.move(step_id, S.COMPENSATED, error=None)
        d.emit(
            EventType.STEP_COMPENSATED,
            step_id,
            S.COMPENSATED,
            d.steps[step_id].compensation_attempt,
        )


def _first(fan: FanWork, status: StepStatus) -> int:
    """The lowest index of the iterations in ``status`` (the shell loads them all when any
    is: something failed)."""
    return min(i for i, it in fan.iterations.items() if it.status is status)


def _next_to_compensate(fan: FanWork, room: int) -> list[int]:
    if room <= 0:
        return []
    ready = sorted((i for i, it in fan.iterations.items() if owed(it)), reverse=True)
    return ready[:room]

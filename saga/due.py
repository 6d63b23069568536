"""What is due: the happenings a run's state says should be delivered by ``now``.

The reconciler's queries only find runs that may have something due; this
function says what, for each. Delivering one twice is harmless (fencing), so
the reconciler can simply send these on every pass.
"""

from __future__ import annotations

from saga.happenings import (
    AttemptLost,
    CompensationTimedOut,
    Happening,
    RunDeadlinePassed,
    StepTimedOut,
    TimerFired,
)
from saga.state import RunState, StepState
from saga.vocabulary import MOVING, StepStatus

__all__ = ["LOST_AFTER_S", "due_happenings"]

S = StepStatus

#: An attempt sent this long ago that no worker has claimed lost its message.
LOST_AFTER_S = 15.0


def due_happenings(
    state: RunState,
    now: float,
    *,
    lost_after: float = LOST_AFTER_S,
    held_before: float | None = None,
) -> list[Happening]:
    """What is due at ``now``: timers, attempts and waits past their deadline (an attempt's
    counted from its claim), attempts whose message was lost, and the run's own progress
    deadline.

    ``held_before``: every claim made before this moment belongs to a worker known to
    be gone (a single-process install that restarted), and every unclaimed attempt
    sent before it lost its message; those attempts are sent again at once.
    """
    found: list[Happening] = []
    for step_id in state.definition.order:
        step = state.steps[step_id]
        if step.fan is not None:
            # A map is never sent to a worker; its iterations are, each on its own.
            for index, iteration in step.fan.iterations.items():
                found.extend(_due(state, step_id, index, iteration, now, lost_after, held_before))
        else:
            found.extend(_due(state, step_id, None, step, now, lost_after, held_before))
    if state.status in MOVING and state.deadline_at is not None and state.deadline_at <= now:
        found.append(RunDeadlinePassed())
    return found


def _due(
    state: RunState,
    step_id: str,
    index: int | None,
    step: StepState,
    now: float,
    lost_after: float,
    held_before: float | None,
) -> list[Happening]:
    overdue = _overdue(state, step_id, index, step, now)
    due = step.due_at is not None and step.due_at <= now
    if step.status in (S.RUNNING, S.WAITING) and overdue:
        return [StepTimedOut(step_id, step.attempt, index)]
    if step.status in (S.RETRYING, S.WAITING) and due:
        return [TimerFired(step_id, step.attempt, False, index)]
    if step.status is S.COMPENSATING and due:
        return [TimerFired(step_id, step.compensation_attempt, True, index)]
    if step.status is S.COMPENSATING and step.due_at is None and overdue:
        return [CompensationTimedOut(step_id, step.compensation_attempt, index)]
    if (
        not state.terminal
        and not (index is None and state.definition.step(step_id).fans_out)
        and _lost(step, now - lost_after, held_before)
    ):
        compensation = step.status is S.COMPENSATING
        attempt = step.compensation_attempt if compensation else step.attempt
        return [AttemptLost(step_id, attempt, compensation, step.claimed_at, index)]
    return []


def _overdue(state: RunState, step_id: str, index: int | None, step: StepState, now: float) -> bool:
    """Past its deadline. An attempt (or compensation attempt) in flight has its timeout
    from when a worker claimed it: one still waiting in the broker's queue behind others
    is not late (and one whose message was lost is sent again, see :func:`_lost`)."""
    if step.deadline_at is None:
        return False
    in_flight = step.status is S.RUNNING or (step.status is S.COMPENSATING and step.due_at is None)
    if not in_flight:
        return step.deadline_at <= now
    if step.claimed_at is None:
        return False
    sdef = state.definition.step(step_id)
    timeout = (sdef.do if index is not None and sdef.do is not None else sdef).timeout_s
    if timeout is None:
        return step.deadline_at <= now
    return max(step.deadline_at, step.claimed_at + timeout) <= now


def _lost(step: StepState, sent_before: float, held_before: float | None) -> bool:
    in_flight = step.status is S.RUNNING or (step.status is S.COMPENSATING and step.due_at is None)
    if not in_flight:
        return False
    if step.claimed_at is not None:
        return held_before is not None and step.claimed_at < held_before
    if held_before is not None:
        return True
    return step.changed_at is not None and step.changed_at <= sent_before

"""``decide(state, happening, *, now, jitter)``: the only way a run changes.

It takes the run's frozen :class:`~saga.state.RunState` and one happening (a
participant's answer, a timer, a timeout, an operator's act) and returns a
:class:`~saga.commands.Decision`: the new state and the commands the shell
must carry out. The core does no I/O, reads no clock and draws no random
number: the shell passes ``now`` (epoch seconds) and ``jitter`` (a number in
[0, 1]).

Fencing: every happening about a step names the attempt it belongs to. One
whose attempt is not the step's current one, or which the step's status does
not expect (a duplicate, a late answer, a redelivered message), changes nothing
and returns no commands. Operator acts the state does not allow raise
:class:`~saga.acts.ActNotAllowed` with a reason a person can read.
"""

from __future__ import annotations

import dataclasses

from saga.acts import ActNotAllowed, act_of
from saga.commands import Decision, StartCompensation, StartStep
from saga.compensation import (
    advance_compensation,
    begin_compensation,
    compensation_failed,
    compensation_succeeded,
    is_current_compensation,
    on_compensation_timer,
    owes_compensation,
)
from saga.draft import Draft, key_of
from saga.fan import advance_fans
from saga.forward import (
    attempt_failed,
    is_current,
    is_ready,
    on_callback,
    on_condition,
    on_items,
    on_timed_out,
    on_timer,
    on_waiting,
    start_ready,
)
from saga.happenings import (
    Act,
    ApprovalDecided,
    AttemptLost,
    CallbackCompleted,
    CancelRun,
    CompensateRun,
    CompensationFailed,
    CompensationSucceeded,
    CompensationTimedOut,
    ConditionEvaluated,
    Happening,
    ItemsEvaluated,
    ParentCompensates,
    RetryStep,
    RunDeadlinePassed,
    RunStarted,
    SkipStep,
    StepFailed,
    StepSucceeded,
    StepTimedOut,
    StepWaiting,
    TimerFired,
)
from saga.state import RunState, UnknownStep, pivot_passed
from saga.vocabulary import DONE, EventType, RunStatus, StepStatus

__all__ = ["act_allowed", "decide"]

R, S = RunStatus, StepStatus
#: Happenings that keep a run going without being progress of its own.
_MAINTENANCE = (RunDeadlinePassed, AttemptLost)


def decide(state: RunState, happening: Happening, *, now: float, jitter: float = 1.0) -> Decision:
    """Apply ``happening`` to ``state`` and say what follows.

    ``now`` is the time in epoch seconds and ``jitter`` a number in [0, 1]
    that spreads retry delays (1.0, the default, gives the full delay); both
    come from the shell. Raises :class:`ActNotAllowed` for an act the state
    does not allow and :class:`~saga.state.UnknownStep` for a step the
    definition does not have.
    """
    if not 0.0 <= jitter <= 1.0:
        raise ValueError(f"jitter must be in [0, 1], not {jitter}")
    step_id = getattr(happening, "step", None)
    if step_id is not None:
        state.step(step_id)
        index = getattr(happening, "index", None)
        if index is not None:
            fan = state.steps[step_id].fan
            if fan is None or not 0 <= index < fan.total:
                raise UnknownStep(f"step {step_id} has no iteration {index}")
    draft = Draft(state, now, jitter)
    if not _apply(draft, happening):
        return Decision(state=state, ignored=True)
    if isinstance(happening, _MAINTENANCE):
        draft.progress = False
    else:
        draft.stalled = False
    _settle(draft)
    return draft.decision()


def _apply(d: Draft, h: Happening) -> bool:
    """Apply one happening to the draft; False when it is fenced off."""
    match h:
        case RunStarted():
            if d.status is not R.PENDING:
                return False
            d.emit(EventType.RUN_STARTED, None, "")
            d.run_status(R.RUNNING)
            return True
        case StepSucceeded(step=step_id, attempt=attempt, output=output, index=index):
            key = key_of(step_id, index)
            if not is_current(d, key, attempt, S.RUNNING):
                return False
            d.succeed(key, output)
            return True
        case StepFailed(step=step_id, attempt=attempt, error=error, retryable=retryable):
            key = key_of(step_id, h.index)
            if not is_current(d, key, attempt, S.RUNNING):
                return False
            attempt_failed(d, key, error, retryable)
            return True
        case StepTimedOut(step=step_id, attempt=attempt, index=index):
            return on_timed_out(d, key_of(step_id, index), attempt)
        case StepWaiting(step=step_id, attempt=attempt, index=index):
            return on_waiting(d, key_of(step_id, index), attempt)
        case TimerFired(step=step_id, attempt=attempt, compensation=compensation, index=index):
            if compensation:
                return on_compensation_timer(d, key_of(step_id, index), attempt)
            return on_timer(d, key_of(step_id, index), attempt)
        case CallbackCompleted():
            return on_callback(d, h)
        case ConditionEvaluated():
            return on_condition(d, h)
        case ItemsEvaluated():
            return on_items(d, h)
        case ParentCompensates(parent=parent):
            return _on_parent_compensates(d, parent)
        case AttemptLost():
            return _on_lost(d, h)
        case RunDeadlinePassed():
            if d.terminal or d.status in (R.PENDING, R.STUCK):
                return False
            d.stalled = True
            return True
    if isinstance(h, CompensationSucceeded | CompensationFailed | CompensationTimedOut):
        return _apply_compensation(d, h)
    if isinstance(h, ApprovalDecided | RetryStep | SkipStep | CompensateRun | CancelRun):
        act_of(h).apply(d, h)
        return True
    raise TypeError(f"not a happening: {h!r}")


def _apply_compensation(
    d: Draft, h: CompensationSucceeded | CompensationFailed | CompensationTimedOut
) -> bool:
    key = key_of(h.step, h.index)
    if not is_current_compensation(d, key, h.attempt):
        return False
    match h:
        case CompensationSucceeded():
            compensation_succeeded(d, key, h.attempt)
        case CompensationFailed(error=error, retryable=retryable):
            compensation_failed(d, key, error, retryable)
        case CompensationTimedOut():
            error = f"compensation attempt {h.attempt} timed out or its worker was lost"
            compensation_failed(d, key, error, True)
    return True


def _on_parent_compensates(d: Draft, parent: str) -> bool:
    """The parent compensates the step that started this run: undo it, completed or not,
    unless a pivot of its own has passed (then :class:`ActNotAllowed` says so)."""
    if d.compensating or d.status in (R.COMPENSATED, R.CANCELLED):
        return False  # compensating, or nothing left to undo: the parent hears when it ends
    pivot = pivot_passed(d.definition, d.steps)
    if pivot is not None:
        raise ActNotAllowed(f"the child run has passed its pivot {pivot}: it cannot be undone")
    d.act(EventType.ACT_COMPENSATE, None, f"run {parent}", "its parent run compensates")
    begin_compensation(d)
    return True


def _on_lost(d: Draft, h: AttemptLost) -> bool:
    """Send the same attempt again, its claim (a gone worker's) released."""
    key = key_of(h.step, h.index)
    step = d.steps[key]
    if d.terminal or step.claimed_at != h.claimed_at:
        return False
    if h.compensation:
        if not is_current_compensation(d, key, h.attempt):
            return False
        d.commands.append(StartCompensation(h.step, h.attempt, step.deadline_at, h.index))
    else:
        if not is_current(d, key, h.attempt, S.RUNNING):
            return False
        d.commands.append(StartStep(h.step, h.attempt, step.deadline_at, h.index))
    # Changed now: the next send, if this one is lost too, waits as long again.
    d.steps[key] = dataclasses.replace(step, claimed_at=None, changed_at=d.now)
    return True


def _settle(d: Draft) -> None:
    """Start what has become possible, then bring the run's status up to date."""
    if d.terminal:
        return
    if d.compensating and pivot_passed(d.definition, d.steps) is not None:
        # A pivot still in flight when compensation began has succeeded: nothing has been
        # compensated yet (compensation waits for every step in flight), so the run goes on
        # forward, stuck on whatever failed.
        d.compensating = False
    advance_fans(d)
    if d.terminal:
        return
    if d.compensating:
        advance_compensation(d)
        advance_fans(d)  # a map whose compensation just began starts on its iterations
    else:
        start_ready(d)
    d.run_status(_derived_status(d))


def _derived_status(d: Draft) -> RunStatus:
    statuses = {s.status for s in d.steps.values()}
    if d.compensating:
        if S.COMPENSATION_FAILED in statuses or d.stalled:
            return R.STUCK
        if S.RUNNING in statuses or any(owes_compensation(d, s) for s in d.steps):
            return R.COMPENSATING
        return R.COMPENSATED
    if statuses <= DONE:
        return R.COMPLETED
    if S.FAILED in statuses or d.stalled:
        return R.STUCK
    if S.RUNNING in statuses or S.RETRYING in statuses:
        return R.RUNNING
    if S.PENDING in statuses and any(is_ready(d, s) for s in d.steps):
        return R.RUNNING  # a step about to start: its condition is being evaluated
    if S.WAITING in statuses:
        return R.WAITING
    return R.STUCK  # nothing can move without an operator


def act_allowed(state: RunState, act: Act) -> bool:
    """Whether ``act`` is allowed now (for offering only the acts that will work)."""
    try:
        decide(state, act, now=0.0)
    except ActNotAllowed:
        return False
    return True

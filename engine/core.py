"""The saga engine's pure core: a run's state, what can happen to it, and what follows.

``decide(state, happening, *, now, jitter)`` is the only way a run changes. It
takes the run's frozen :class:`RunState` and one happening (a participant's
answer, a timer, a timeout, an operator's act) and returns a :class:`Decision`:
the new state and the commands the shell must carry out. :class:`Emit`
commands are the run's event log, in order; the others (start an attempt,
schedule a retry, start a compensation, wait for a person or a timer) are sent
once the new state has been committed.

The core does no I/O, reads no clock and draws no random number: the shell
passes ``now`` (epoch seconds) and ``jitter`` (a number in [0, 1]). Standard
library only, so it can be tested, replayed and simulated without Django or
Celery.

Fencing: every happening about a step names the attempt it belongs to. One
whose attempt is not the step's current one, or which the step's status does
not expect (a duplicate, a late answer, a redelivered message), changes nothing
and returns no commands. Operator acts the state does not allow raise
:class:`ActNotAllowed` with a reason a person can read.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from engine.definition import (
    BUILTIN_RETRY,
    BUILTIN_TIMEOUT_S,
    Definition,
    DefinitionError,
    Jitter,
    OnTimeout,
    RetryPolicy,
    StepDef,
    StepType,
    definition_from_spec,
)

__all__ = [
    # definitions (engine.definition)
    "BUILTIN_RETRY",
    "BUILTIN_TIMEOUT_S",
    "Definition",
    "DefinitionError",
    "Jitter",
    "OnTimeout",
    "RetryPolicy",
    "StepDef",
    "StepType",
    "definition_from_spec",
    # statuses and legal moves
    "RunStatus",
    "StepStatus",
    "EventType",
    "TERMINAL_RUN_STATUSES",
    "RUN_MOVES",
    "STEP_MOVES",
    # state
    "RunState",
    "StepState",
    "initial_state",
    # happenings
    "RunStarted",
    "StepSucceeded",
    "StepFailed",
    "StepTimedOut",
    "StepWaiting",
    "TimerFired",
    "ApprovalDecided",
    "CallbackCompleted",
    "CompensationSucceeded",
    "CompensationFailed",
    "CompensationTimedOut",
    "RunDeadlinePassed",
    "RetryStep",
    "SkipStep",
    "CompensateRun",
    "CancelRun",
    "Happening",
    "Act",
    # commands and decisions
    "StartStep",
    "ScheduleRetry",
    "StartCompensation",
    "ScheduleCompensationRetry",
    "WaitForApproval",
    "StartTimer",
    "Emit",
    "Command",
    "Decision",
    # errors
    "ActNotAllowed",
    "IllegalMove",
    "UnknownStep",
    # functions
    "decide",
    "act_allowed",
    "due_happenings",
    "simulate",
    "Simulation",
]


# --------------------------------------------------------------------------- statuses


class RunStatus(StrEnum):
    """A run's status, as DESIGN.md names it."""

    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"
    COMPENSATING = "compensating"
    COMPLETED = "completed"
    COMPENSATED = "compensated"
    STUCK = "stuck"
    CANCELLED = "cancelled"


class StepStatus(StrEnum):
    """A step's status, as DESIGN.md names it."""

    PENDING = "pending"
    RUNNING = "running"
    RETRYING = "retrying"
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    COMPENSATING = "compensating"
    COMPENSATED = "compensated"
    COMPENSATION_FAILED = "compensation_failed"


class EventType(StrEnum):
    """The types of a run's log events, as DESIGN.md names them."""

    RUN_STARTED = "run.started"
    RUN_COMPLETED = "run.completed"
    RUN_COMPENSATING = "run.compensating"
    RUN_COMPENSATED = "run.compensated"
    RUN_STUCK = "run.stuck"
    RUN_CANCELLED = "run.cancelled"
    STEP_STARTED = "step.started"
    STEP_SUCCEEDED = "step.succeeded"
    STEP_FAILED = "step.failed"
    STEP_RETRY_SCHEDULED = "step.retry_scheduled"
    STEP_WAITING = "step.waiting"
    STEP_SKIPPED = "step.skipped"
    STEP_COMPENSATION_STARTED = "step.compensation_started"
    STEP_COMPENSATED = "step.compensated"
    STEP_COMPENSATION_FAILED = "step.compensation_failed"
    ACT_RETRY = "act.retry"
    ACT_SKIP = "act.skip"
    ACT_COMPENSATE = "act.compensate"
    ACT_CANCEL = "act.cancel"
    ACT_APPROVE = "act.approve"
    ACT_REJECT = "act.reject"


R, S = RunStatus, StepStatus

#: Statuses a run never leaves. ``stuck`` is not one of them: acts bring it back.
TERMINAL_RUN_STATUSES: frozenset[RunStatus] = frozenset({R.COMPLETED, R.COMPENSATED, R.CANCELLED})

#: The legal moves of a run, source -> allowed targets, written down once.
RUN_MOVES: Mapping[RunStatus, frozenset[RunStatus]] = MappingProxyType(
    {
        R.PENDING: frozenset({R.RUNNING, R.CANCELLED}),
        R.RUNNING: frozenset({R.WAITING, R.COMPLETED, R.COMPENSATING, R.STUCK, R.CANCELLED}),
        R.WAITING: frozenset({R.RUNNING, R.COMPLETED, R.COMPENSATING, R.STUCK, R.CANCELLED}),
        R.COMPENSATING: frozenset(
            {
                R.COMPENSATED,
                R.STUCK,
                R.CANCELLED,
                # a pivot that was in flight when compensation began succeeded: only forward now
                R.RUNNING,
                R.WAITING,
                R.COMPLETED,
            }
        ),
        R.STUCK: frozenset(
            {R.RUNNING, R.WAITING, R.COMPENSATING, R.COMPLETED, R.COMPENSATED, R.CANCELLED}
        ),
        R.COMPLETED: frozenset(),
        R.COMPENSATED: frozenset(),
        R.CANCELLED: frozenset(),
    }
)

#: The legal moves of a step, source -> allowed targets, written down once.
STEP_MOVES: Mapping[StepStatus, frozenset[StepStatus]] = MappingProxyType(
    {
        S.PENDING: frozenset({S.RUNNING, S.WAITING, S.SKIPPED}),
        S.RUNNING: frozenset({S.SUCCEEDED, S.FAILED, S.RETRYING, S.WAITING}),
        S.RETRYING: frozenset({S.RUNNING, S.FAILED, S.SKIPPED}),
        S.WAITING: frozenset(
            {
                S.SUCCEEDED,
                S.FAILED,
                S.RETRYING,
                S.SKIPPED,
                # a callback's call was made: compensate it without waiting for its answer
                S.COMPENSATING,
            }
        ),
        # skipped: an operator skips a step's compensation, and the compensation goes on
        S.SUCCEEDED: frozenset({S.COMPENSATING, S.SKIPPED}),
        # waiting: an operator retries an approval or a delay that was given up on
        S.FAILED: frozenset({S.RUNNING, S.WAITING, S.SKIPPED}),
        S.SKIPPED: frozenset(),
        # compensating: a compensation's retry keeps the step compensating, with a new attempt
        S.COMPENSATING: frozenset(
            {S.COMPENSATING, S.COMPENSATED, S.COMPENSATION_FAILED, S.SKIPPED}
        ),
        S.COMPENSATED: frozenset(),
        S.COMPENSATION_FAILED: frozenset({S.COMPENSATING, S.SKIPPED}),
    }
)

_RUN_EVENTS: Mapping[RunStatus, EventType] = MappingProxyType(
    {
        R.COMPLETED: EventType.RUN_COMPLETED,
        R.COMPENSATING: EventType.RUN_COMPENSATING,
        R.COMPENSATED: EventType.RUN_COMPENSATED,
        R.STUCK: EventType.RUN_STUCK,
        R.CANCELLED: EventType.RUN_CANCELLED,
    }
)

_RUN_PHRASES: Mapping[RunStatus, str] = MappingProxyType(
    {
        R.PENDING: "has not started",
        R.RUNNING: "is running",
        R.WAITING: "is waiting",
        R.COMPENSATING: "is compensating",
        R.COMPLETED: "has completed",
        R.COMPENSATED: "has been compensated",
        R.STUCK: "is stuck",
        R.CANCELLED: "was cancelled",
    }
)

_STEP_PHRASES: Mapping[StepStatus, str] = MappingProxyType(
    {
        S.PENDING: "has not started",
        S.RUNNING: "is running",
        S.RETRYING: "is waiting to retry",
        S.WAITING: "is waiting",
        S.SUCCEEDED: "has succeeded",
        S.FAILED: "has failed",
        S.SKIPPED: "was skipped",
        S.COMPENSATING: "is compensating",
        S.COMPENSATED: "has been compensated",
        S.COMPENSATION_FAILED: "failed to compensate",
    }
)

_DONE = frozenset({S.SUCCEEDED, S.SKIPPED})
# Statuses of a step whose compensation (when it has one) is still owed.
_OWES_COMPENSATION = frozenset({S.SUCCEEDED, S.WAITING, S.COMPENSATING, S.COMPENSATION_FAILED})

ABANDONED_COMPENSATING = "abandoned: the run is compensating"
ABANDONED_CANCELLED = "abandoned: the run was cancelled"


# --------------------------------------------------------------------------- errors


class ActNotAllowed(Exception):
    """An operator act the run's current state does not allow; the message says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownStep(LookupError):
    """A happening names a step the run's definition does not have."""


class IllegalMove(RuntimeError):
    """A move outside :data:`RUN_MOVES` / :data:`STEP_MOVES`: a defect in the core."""


# --------------------------------------------------------------------------- state


@dataclass(frozen=True)
class StepState:
    """Where one step of a run stands.

    ``attempt`` counts the step's attempts (0 before the first, then only up);
    ``round_start`` is the attempt where the current retry round began, so an
    operator's retry gets a fresh round. ``compensation_attempt`` and
    ``compensation_round_start`` do the same for the compensation.
    ``deadline_at`` is when the attempt (or compensation attempt) in flight
    times out; ``due_at`` is when a scheduled retry or a delay is due. Both
    are what the reconciler looks at (see :func:`due_happenings`).
    """

    status: StepStatus = StepStatus.PENDING
    attempt: int = 0
    round_start: int = 1
    compensation_attempt: int = 0
    compensation_round_start: int = 1
    deadline_at: float | None = None
    due_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    output: Any = None
    error: str | None = None


@dataclass(frozen=True)
class RunState:
    """Where a run stands: its status and every step's.

    ``compensating`` says which way the run is going; it stays set while the
    run is ``stuck`` on a compensation. ``stalled`` marks a run that made no
    progress before its deadline; the next change of any kind clears it.
    """

    definition: Definition = field(repr=False)
    status: RunStatus
    steps: Mapping[str, StepState]
    compensating: bool = False
    stalled: bool = False

    def step(self, step_id: str) -> StepState:
        """The state of step ``step_id``; :class:`UnknownStep` if the run has none."""
        try:
            return self.steps[step_id]
        except KeyError:
            raise UnknownStep(f"the run has no step {step_id!r}") from None

    @property
    def terminal(self) -> bool:
        """Whether the run has ended for good (completed, compensated or cancelled)."""
        return self.status in TERMINAL_RUN_STATUSES

    @property
    def pivot_passed(self) -> str | None:
        """The first pivot that succeeded (or was skipped), or ``None``.

        Once there is one, the run only moves forward. A skipped pivot counts:
        the steps after it may already have run, and nothing after a pivot has
        a compensation.
        """
        return _pivot_passed(self.definition, self.steps)


def initial_state(definition: Definition) -> RunState:
    """The state of a run that has been created but not started."""
    return RunState(
        definition=definition,
        status=RunStatus.PENDING,
        steps=MappingProxyType({step_id: StepState() for step_id in definition.order}),
    )


def _pivot_passed(definition: Definition, steps: Mapping[str, StepState]) -> str | None:
    for step_id in definition.pivots:
        if steps[step_id].status in _DONE:
            return step_id
    return None


# --------------------------------------------------------------------------- happenings


@dataclass(frozen=True)
class RunStarted:
    """The run was created and may begin."""


@dataclass(frozen=True)
class StepSucceeded:
    """An attempt of an ``http`` or ``task`` step succeeded."""

    step: str
    attempt: int
    output: Any = None


@dataclass(frozen=True)
class StepFailed:
    """An attempt failed; ``retryable`` says whether trying again may help."""

    step: str
    attempt: int
    error: str
    retryable: bool = True


@dataclass(frozen=True)
class StepTimedOut:
    """An attempt passed its deadline, or the worker holding it died.

    Handled as a retryable failure; for an approval, ``on_timeout`` decides.
    """

    step: str
    attempt: int


@dataclass(frozen=True)
class StepWaiting:
    """A callback step's outgoing call was made; it now waits for the participant."""

    step: str
    attempt: int


@dataclass(frozen=True)
class TimerFired:
    """A timer is due: a retry (of the attempt, or with ``compensation`` of the
    compensation attempt, that failed), or a delay step's wait is over."""

    step: str
    attempt: int
    compensation: bool = False


@dataclass(frozen=True)
class ApprovalDecided:
    """A person decided an approval step (an act; group membership is checked by the shell)."""

    step: str
    approved: bool
    by: str
    comment: str = ""


@dataclass(frozen=True)
class CallbackCompleted:
    """The participant of a callback step posted its result."""

    step: str
    attempt: int
    succeeded: bool
    output: Any = None
    error: str | None = None
    retryable: bool = True


@dataclass(frozen=True)
class CompensationSucceeded:
    """A compensation attempt succeeded."""

    step: str
    attempt: int


@dataclass(frozen=True)
class CompensationFailed:
    """A compensation attempt failed."""

    step: str
    attempt: int
    error: str
    retryable: bool = True


@dataclass(frozen=True)
class CompensationTimedOut:
    """A compensation attempt passed its deadline, or its worker died (retryable)."""

    step: str
    attempt: int


@dataclass(frozen=True)
class RunDeadlinePassed:
    """The run made no progress for longer than its deadline."""


@dataclass(frozen=True)
class RetryStep:
    """Operator act: run a failed step (or failed compensation) again, with a fresh round."""

    step: str
    by: str
    reason: str = ""


@dataclass(frozen=True)
class SkipStep:
    """Operator act: record a step (or its compensation) as skipped and go on."""

    step: str
    by: str
    reason: str = ""


@dataclass(frozen=True)
class CompensateRun:
    """Operator act: undo the run (only before any pivot has succeeded)."""

    by: str
    reason: str = ""


@dataclass(frozen=True)
class CancelRun:
    """Operator act: stop the run; answers still in flight are recorded, nothing starts."""

    by: str
    reason: str = ""


Act = ApprovalDecided | RetryStep | SkipStep | CompensateRun | CancelRun
Happening = (
    RunStarted
    | StepSucceeded
    | StepFailed
    | StepTimedOut
    | StepWaiting
    | TimerFired
    | CallbackCompleted
    | CompensationSucceeded
    | CompensationFailed
    | CompensationTimedOut
    | RunDeadlinePassed
    | Act
)


# --------------------------------------------------------------------------- commands


@dataclass(frozen=True)
class StartStep:
    """Enqueue attempt ``attempt`` of ``step`` (http, task or callback)."""

    step: str
    attempt: int
    deadline_at: float | None


@dataclass(frozen=True)
class ScheduleRetry:
    """Deliver ``TimerFired(step, attempt)`` at ``at``."""

    step: str
    attempt: int
    at: float


@dataclass(frozen=True)
class StartCompensation:
    """Enqueue compensation attempt ``attempt`` of ``step``."""

    step: str
    attempt: int
    deadline_at: float | None


@dataclass(frozen=True)
class ScheduleCompensationRetry:
    """Deliver ``TimerFired(step, attempt, compensation=True)`` at ``at``."""

    step: str
    attempt: int
    at: float


@dataclass(frozen=True)
class WaitForApproval:
    """Ask the step's group to decide; at ``deadline_at`` send ``StepTimedOut``."""

    step: str
    deadline_at: float | None
    attempt: int = 1


@dataclass(frozen=True)
class StartTimer:
    """A delay step: deliver ``TimerFired(step, attempt)`` at ``at``."""

    step: str
    at: float
    attempt: int = 1


@dataclass(frozen=True)
class Emit:
    """Append one event to the run's log.

    ``status`` is the new status of the step (step events) or of the run (run
    events, and the act event or ``run.started`` that opens a decision). Act
    events carry ``actor`` and ``reason`` in ``data``.
    """

    event_type: EventType
    step: str | None
    status: str
    attempt: int | None = None
    error: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


Command = (
    StartStep
    | ScheduleRetry
    | StartCompensation
    | ScheduleCompensationRetry
    | WaitForApproval
    | StartTimer
    | Emit
)


@dataclass(frozen=True)
class Decision:
    """What :func:`decide` returns: the new state and the commands, in order.

    ``ignored`` is true when the happening changed nothing (fenced off).
    """

    state: RunState
    commands: tuple[Command, ...] = ()
    ignored: bool = False

    @property
    def events(self) -> tuple[Emit, ...]:
        """The :class:`Emit` commands alone."""
        return tuple(c for c in self.commands if isinstance(c, Emit))


# --------------------------------------------------------------------------- decide


def decide(state: RunState, happening: Happening, *, now: float, jitter: float = 1.0) -> Decision:
    """Apply ``happening`` to ``state`` and say what follows.

    ``now`` is the time in epoch seconds and ``jitter`` a number in [0, 1]
    that spreads retry delays (1.0, the default, gives the full delay); both
    come from the shell. Raises
    :class:`ActNotAllowed` for an act the state does not allow and
    :class:`UnknownStep` for a step the definition does not have.
    """
    if not 0.0 <= jitter <= 1.0:
        raise ValueError(f"jitter must be in [0, 1], not {jitter}")
    step_id = getattr(happening, "step", None)
    if step_id is not None:
        state.step(step_id)
    draft = _Draft(state, now, jitter)
    if not _apply(draft, happening):
        return Decision(state=state, ignored=True)
    if not isinstance(happening, RunDeadlinePassed):
        draft.stalled = False
    _settle(draft)
    return draft.decision()


class _Draft:
    """A decision in the making: a working copy of the run and what it has to say."""

    def __init__(self, state: RunState, now: float, jitter: float) -> None:
        self.definition = state.definition
        self.status = state.status
        self.compensating = state.compensating
        self.stalled = state.stalled
        self.steps: dict[str, StepState] = dict(state.steps)
        self.commands: list[Command] = []
        self.now = now
        self.jitter = jitter

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_RUN_STATUSES

    def move(self, step_id: str, status: StepStatus, **changes: Any) -> StepState:
        current = self.steps[step_id]
        if status not in STEP_MOVES[current.status]:
            raise IllegalMove(f"step {step_id}: {current.status} -> {status}")
        self.steps[step_id] = dataclasses.replace(current, status=status, **changes)
        return self.steps[step_id]

    def run_status(self, status: RunStatus) -> None:
        if status == self.status:
            return
        if status not in RUN_MOVES[self.status]:
            raise IllegalMove(f"run: {self.status} -> {status}")
        self.status = status
        event = _RUN_EVENTS.get(status)
        if event is not None:
            self.emit(event, None, status)

    def emit(
        self,
        event_type: EventType,
        step: str | None,
        status: str,
        attempt: int | None = None,
        error: str | None = None,
        **data: Any,
    ) -> None:
        self.commands.append(Emit(event_type, step, str(status), attempt, error, data))

    def act(self, event_type: EventType, step: str | None, by: str, reason: str) -> None:
        # The status is filled in by decision(): the run's, once the act has played out.
        self.emit(event_type, step, "", actor=by, reason=reason)

    def decision(self) -> Decision:
        commands = self.commands
        if commands:
            first = commands[0]
            if isinstance(first, Emit) and (
                first.event_type is EventType.RUN_STARTED or first.event_type.startswith("act.")
            ):
                commands[0] = dataclasses.replace(first, status=str(self.status))
        state = RunState(
            definition=self.definition,
            status=self.status,
            steps=MappingProxyType(self.steps),
            compensating=self.compensating,
            stalled=self.stalled,
        )
        return Decision(state=state, commands=tuple(commands))

    def latency_ms(self, step: StepState) -> int | None:
        if step.started_at is None:
            return None
        return round((self.now - step.started_at) * 1000)


def _apply(d: _Draft, h: Happening) -> bool:
    """Apply one happening to the draft; False when it is fenced off."""
    match h:
        case RunStarted():
            return _on_run_started(d)
        case StepSucceeded(step=step_id, attempt=attempt, output=output):
            if not _is_current(d, step_id, attempt, S.RUNNING):
                return False
            _succeed(d, step_id, output)
            return True
        case StepFailed(step=step_id, attempt=attempt, error=error, retryable=retryable):
            if not _is_current(d, step_id, attempt, S.RUNNING):
                return False
            _attempt_failed(d, step_id, error, retryable)
            return True
        case StepTimedOut(step=step_id, attempt=attempt):
            return _on_timed_out(d, step_id, attempt)
        case StepWaiting(step=step_id, attempt=attempt):
            return _on_waiting(d, step_id, attempt)
        case TimerFired(step=step_id, attempt=attempt, compensation=compensation):
            if compensation:
                return _on_compensation_timer(d, step_id, attempt)
            return _on_timer(d, step_id, attempt)
        case CallbackCompleted():
            return _on_callback(d, h)
        case CompensationSucceeded(step=step_id, attempt=attempt):
            if not _is_current_compensation(d, step_id, attempt):
                return False
            d.move(step_id, S.COMPENSATED, deadline_at=None, error=None)
            d.emit(EventType.STEP_COMPENSATED, step_id, S.COMPENSATED, attempt)
            return True
        case CompensationFailed(step=step_id, attempt=attempt, error=error, retryable=retryable):
            if not _is_current_compensation(d, step_id, attempt):
                return False
            _compensation_failed(d, step_id, error, retryable)
            return True
        case CompensationTimedOut(step=step_id, attempt=attempt):
            if not _is_current_compensation(d, step_id, attempt):
                return False
            error = f"compensation attempt {attempt} timed out or its worker was lost"
            _compensation_failed(d, step_id, error, True)
            return True
        case RunDeadlinePassed():
            if d.terminal or d.status in (R.PENDING, R.STUCK):
                return False
            d.stalled = True
            return True
        case ApprovalDecided():
            _on_approval(d, h)
            return True
        case RetryStep():
            _on_retry(d, h)
            return True
        case SkipStep():
            _on_skip(d, h)
            return True
        case CompensateRun():
            _on_compensate(d, h)
            return True
        case CancelRun():
            _on_cancel(d, h)
            return True
    raise TypeError(f"not a happening: {h!r}")


def _is_current(d: _Draft, step_id: str, attempt: int, *statuses: StepStatus) -> bool:
    step = d.steps[step_id]
    return step.attempt == attempt and step.status in statuses


def _is_current_compensation(d: _Draft, step_id: str, attempt: int) -> bool:
    step = d.steps[step_id]
    # A compensation waiting for its retry timer has no attempt in flight to answer.
    return (
        step.status is S.COMPENSATING
        and step.compensation_attempt == attempt
        and step.due_at is None
    )


# --------------------------------------------------------------------------- forward


def _on_run_started(d: _Draft) -> bool:
    if d.status is not R.PENDING:
        return False
    d.emit(EventType.RUN_STARTED, None, "")
    d.run_status(R.RUNNING)
    return True


def _start_attempt(d: _Draft, step_id: str, attempt: int, *, new_round: bool) -> None:
    sdef = d.definition.step(step_id)
    current = d.steps[step_id]
    common: dict[str, Any] = {
        "attempt": attempt,
        "round_start": attempt if new_round else current.round_start,
        "started_at": d.now,
        "finished_at": None,
        "output": None,
        "error": None,
    }
    if sdef.type is StepType.APPROVAL:
        deadline = None if sdef.timeout_s is None else d.now + sdef.timeout_s
        d.move(step_id, S.WAITING, deadline_at=deadline, due_at=None, **common)
        d.emit(EventType.STEP_WAITING, step_id, S.WAITING, attempt, deadline_at=deadline)
        d.commands.append(WaitForApproval(step_id, deadline, attempt))
    elif sdef.type is StepType.DELAY:
        at = d.now + sdef.delay_s
        d.move(step_id, S.WAITING, deadline_at=None, due_at=at, **common)
        d.emit(EventType.STEP_WAITING, step_id, S.WAITING, attempt, until=at)
        d.commands.append(StartTimer(step_id, at, attempt))
    else:
        deadline = None if sdef.timeout_s is None else d.now + sdef.timeout_s
        d.move(step_id, S.RUNNING, deadline_at=deadline, due_at=None, **common)
        d.emit(EventType.STEP_STARTED, step_id, S.RUNNING, attempt)
        d.commands.append(StartStep(step_id, attempt, deadline))


def _succeed(d: _Draft, step_id: str, output: Any, **data: Any) -> None:
    step = d.move(
        step_id,
        S.SUCCEEDED,
        output=output,
        error=None,
        deadline_at=None,
        due_at=None,
        finished_at=d.now,
    )
    d.emit(
        EventType.STEP_SUCCEEDED,
        step_id,
        S.SUCCEEDED,
        step.attempt,
        latency_ms=d.latency_ms(step),
        **data,
    )


def _attempt_failed(d: _Draft, step_id: str, error: str, retryable: bool) -> None:
    """The current attempt failed: retry it, or fail the step for good and say what follows."""
    sdef = d.definition.step(step_id)
    step = d.steps[step_id]
    n = step.attempt - step.round_start + 1
    if retryable and not d.terminal and not d.compensating and n < sdef.retry.max_attempts:
        delay = sdef.retry.delay_s(n, d.jitter)
        at = d.now + delay
        d.move(step_id, S.RETRYING, error=error, deadline_at=None, due_at=at, finished_at=d.now)
        d.emit(
            EventType.STEP_RETRY_SCHEDULED,
            step_id,
            S.RETRYING,
            step.attempt,
            error,
            at=at,
            delay_s=delay,
        )
        d.commands.append(ScheduleRetry(step_id, step.attempt, at))
        return
    if retryable and n >= sdef.retry.max_attempts:
        # Retryable in kind, but no attempt is left: say so, not only the last error.
        error = f"gave up after {n} attempt{'s' if n > 1 else ''}; the last: {error}"
    _fail(d, step_id, error, retryable=retryable, latency_ms=d.latency_ms(step))
    # In a compensating or finished run a failure changes nothing more: "if they fail, nothing".
    if not d.terminal and not d.compensating and _pivot_passed(d.definition, d.steps) is None:
        _begin_compensation(d)


def _fail(d: _Draft, step_id: str, error: str, **data: Any) -> None:
    step = d.move(step_id, S.FAILED, error=error, deadline_at=None, due_at=None, finished_at=d.now)
    d.emit(EventType.STEP_FAILED, step_id, S.FAILED, step.attempt, error, **data)


def _on_timed_out(d: _Draft, step_id: str, attempt: int) -> bool:
    if not _is_current(d, step_id, attempt, S.RUNNING, S.WAITING):
        return False
    sdef = d.definition.step(step_id)
    step = d.steps[step_id]
    if step.status is S.WAITING:
        if sdef.type is StepType.DELAY:
            return False  # a delay has no deadline; its TimerFired ends it
        if sdef.type is StepType.APPROVAL:
            if sdef.on_timeout is OnTimeout.APPROVE:
                _succeed(d, step_id, None, decided_by="timeout")
            else:
                _attempt_failed(d, step_id, "nobody decided the approval in time", False)
            return True
        if d.compensating and sdef.has_compensation:
            return False  # its compensation comes in its turn, whatever the participant does
    _attempt_failed(d, step_id, f"attempt {attempt} timed out or its worker was lost", True)
    return True


def _on_waiting(d: _Draft, step_id: str, attempt: int) -> bool:
    sdef = d.definition.step(step_id)
    if sdef.type is not StepType.CALLBACK or not _is_current(d, step_id, attempt, S.RUNNING):
        return False
    if d.terminal:
        _fail(d, step_id, ABANDONED_CANCELLED, abandoned=True)
    elif d.compensating and not sdef.has_compensation:
        _fail(d, step_id, ABANDONED_COMPENSATING, abandoned=True)
    else:
        # In a compensating run, a callback with a compensation waits for its turn to be undone.
        d.move(step_id, S.WAITING)
        d.emit(
            EventType.STEP_WAITING,
            step_id,
            S.WAITING,
            attempt,
            deadline_at=d.steps[step_id].deadline_at,
        )
    return True


def _on_timer(d: _Draft, step_id: str, attempt: int) -> bool:
    sdef = d.definition.step(step_id)
    if _is_current(d, step_id, attempt, S.RETRYING) and not d.terminal:
        _start_attempt(d, step_id, attempt + 1, new_round=False)
        return True
    if sdef.type is StepType.DELAY and _is_current(d, step_id, attempt, S.WAITING):
        _succeed(d, step_id, None)
        return True
    return False


def _on_callback(d: _Draft, h: CallbackCompleted) -> bool:
    sdef = d.definition.step(h.step)
    # A quick participant may answer before the worker has recorded that the call was made.
    if sdef.type is not StepType.CALLBACK or not _is_current(
        d, h.step, h.attempt, S.RUNNING, S.WAITING
    ):
        return False
    if h.succeeded:
        _succeed(d, h.step, h.output)
    else:
        _attempt_failed(d, h.step, h.error or "the participant reported a failure", h.retryable)
    return True


def _start_ready(d: _Draft) -> None:
    for step_id in d.definition.order:
        if d.steps[step_id].status is not S.PENDING:
            continue
        if all(d.steps[a].status in _DONE for a in d.definition.step(step_id).after):
            _start_attempt(d, step_id, d.steps[step_id].attempt + 1, new_round=True)


# --------------------------------------------------------------------------- compensation


def _begin_compensation(d: _Draft) -> None:
    """Turn the run around: give up what waits, keep what runs, compensate in _settle."""
    d.compensating = True
    d.run_status(R.COMPENSATING)
    for step_id in d.definition.order:
        sdef = d.definition.step(step_id)
        step = d.steps[step_id]
        keep_waiting = sdef.type is StepType.CALLBACK and sdef.has_compensation
        if step.status is S.RETRYING or (step.status is S.WAITING and not keep_waiting):
            _fail(d, step_id, ABANDONED_COMPENSATING, abandoned=True)


def _owes_compensation(d: _Draft, step_id: str) -> bool:
    return (
        d.definition.step(step_id).has_compensation
        and d.steps[step_id].status in _OWES_COMPENSATION
    )


def _advance_compensation(d: _Draft) -> None:
    # Steps still in flight may yet succeed and need undoing too: wait for all of them.
    if any(s.status is S.RUNNING for s in d.steps.values()):
        return
    for step_id in reversed(d.definition.order):
        step = d.steps[step_id]
        if not _owes_compensation(d, step_id) or step.status not in (S.SUCCEEDED, S.WAITING):
            continue
        if any(_owes_compensation(d, later) for later in d.definition.descendants(step_id)):
            continue
        _start_compensation(d, step_id, step.compensation_attempt + 1, new_round=True)


def _start_compensation(d: _Draft, step_id: str, attempt: int, *, new_round: bool) -> None:
    sdef = d.definition.step(step_id)
    current = d.steps[step_id]
    deadline = None if sdef.timeout_s is None else d.now + sdef.timeout_s
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
    d.commands.append(StartCompensation(step_id, attempt, deadline))


def _compensation_failed(d: _Draft, step_id: str, error: str, retryable: bool) -> None:
    sdef = d.definition.step(step_id)
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
        d.commands.append(ScheduleCompensationRetry(step_id, attempt, at))
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


def _on_compensation_timer(d: _Draft, step_id: str, attempt: int) -> bool:
    step = d.steps[step_id]
    if (
        d.terminal
        or step.status is not S.COMPENSATING
        or step.compensation_attempt != attempt
        or step.due_at is None
    ):
        return False
    _start_compensation(d, step_id, attempt + 1, new_round=False)
    return True


# --------------------------------------------------------------------------- settling


def _settle(d: _Draft) -> None:
    """Start what has become possible, then bring the run's status up to date."""
    if d.terminal:
        return
    if d.compensating and _pivot_passed(d.definition, d.steps) is not None:
        # A pivot still in flight when compensation began has succeeded: nothing has been
        # compensated yet (compensation waits for every step in flight), so the run goes on
        # forward, stuck on whatever failed.
        d.compensating = False
    if d.compensating:
        _advance_compensation(d)
    else:
        _start_ready(d)
    d.run_status(_derived_status(d))


def _derived_status(d: _Draft) -> RunStatus:
    statuses = {s.status for s in d.steps.values()}
    if d.compensating:
        if S.COMPENSATION_FAILED in statuses or d.stalled:
            return R.STUCK
        if S.RUNNING in statuses or any(_owes_compensation(d, s) for s in d.steps):
            return R.COMPENSATING
        return R.COMPENSATED
    if statuses <= _DONE:
        return R.COMPLETED
    if S.FAILED in statuses or d.stalled:
        return R.STUCK
    if S.RUNNING in statuses or S.RETRYING in statuses:
        return R.RUNNING
    if S.WAITING in statuses:
        return R.WAITING
    return R.STUCK  # nothing can move without an operator


# --------------------------------------------------------------------------- acts


def _require_open(d: _Draft, consequence: str) -> None:
    if d.terminal or d.status is R.PENDING:
        raise ActNotAllowed(f"the run {_RUN_PHRASES[d.status]}; {consequence}")


def _on_approval(d: _Draft, h: ApprovalDecided) -> None:
    sdef = d.definition.step(h.step)
    _require_open(d, "its approvals can no longer be decided")
    if sdef.type is not StepType.APPROVAL:
        raise ActNotAllowed(f"step {h.step} is not an approval")
    step = d.steps[h.step]
    if step.status is not S.WAITING:
        raise ActNotAllowed(
            f"step {h.step} {_STEP_PHRASES[step.status]}; only a waiting approval can be decided"
        )
    event = EventType.ACT_APPROVE if h.approved else EventType.ACT_REJECT
    d.act(event, h.step, h.by, h.comment)
    if h.approved:
        _succeed(d, h.step, None, decided_by=h.by)
    else:
        error = f"rejected by {h.by}" + (f": {h.comment}" if h.comment else "")
        _attempt_failed(d, h.step, error, False)


def _on_retry(d: _Draft, h: RetryStep) -> None:
    _require_open(d, "no step can be retried")
    step = d.steps[h.step]
    phrase = _STEP_PHRASES[step.status]
    if d.compensating:
        if step.status is S.COMPENSATION_FAILED or (
            step.status is S.COMPENSATING and step.due_at is not None
        ):
            d.act(EventType.ACT_RETRY, h.step, h.by, h.reason)
            _start_compensation(d, h.step, step.compensation_attempt + 1, new_round=True)
            return
        raise ActNotAllowed(
            f"step {h.step} {phrase}; while the run compensates, only a failed compensation "
            "can be retried"
        )
    if step.status in (S.FAILED, S.RETRYING):
        d.act(EventType.ACT_RETRY, h.step, h.by, h.reason)
        _start_attempt(d, h.step, step.attempt + 1, new_round=True)
        return
    raise ActNotAllowed(f"step {h.step} {phrase}; only a failed step can be retried")


def _on_skip(d: _Draft, h: SkipStep) -> None:
    _require_open(d, "no step can be skipped")
    step = d.steps[h.step]
    phrase = _STEP_PHRASES[step.status]
    if d.compensating:
        # Only what is owed and not in flight: an attempt running may still take effect.
        in_flight = step.status is S.COMPENSATING and step.due_at is None
        if not _owes_compensation(d, h.step) or in_flight:
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


def _on_compensate(d: _Draft, h: CompensateRun) -> None:
    _require_open(d, "it cannot be compensated")
    pivot = _pivot_passed(d.definition, d.steps)
    if pivot is not None:
        verb = "has succeeded" if d.steps[pivot].status is S.SUCCEEDED else "was skipped"
        raise ActNotAllowed(f"the pivot {pivot} {verb}; the run can only move forward")
    if d.compensating:
        raise ActNotAllowed("the run is already compensating")
    d.act(EventType.ACT_COMPENSATE, None, h.by, h.reason)
    _begin_compensation(d)


def _on_cancel(d: _Draft, h: CancelRun) -> None:
    if d.terminal:
        raise ActNotAllowed(
            f"the run {_RUN_PHRASES[d.status]}; only a run still going can be cancelled"
        )
    d.act(EventType.ACT_CANCEL, None, h.by, h.reason)
    for step_id in d.definition.order:
        step = d.steps[step_id]
        if step.status in (S.RETRYING, S.WAITING):
            _fail(d, step_id, ABANDONED_CANCELLED, abandoned=True)
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
    d.run_status(R.CANCELLED)


# --------------------------------------------------------------------------- helpers


def act_allowed(state: RunState, act: Act) -> bool:
    """Whether ``act`` is allowed now (for offering only the acts that will work)."""
    try:
        decide(state, act, now=0.0)
    except ActNotAllowed:
        return False
    return True


def due_happenings(state: RunState, now: float) -> list[Happening]:
    """What the reconciler should deliver at ``now``: overdue timers and timeouts.

    Delivering one twice is harmless (fencing), so the reconciler can simply
    send these on every pass.
    """
    found: list[Happening] = []
    for step_id in state.definition.order:
        step = state.steps[step_id]
        overdue = step.deadline_at is not None and step.deadline_at <= now
        due = step.due_at is not None and step.due_at <= now
        if step.status in (S.RUNNING, S.WAITING) and overdue:
            found.append(StepTimedOut(step_id, step.attempt))
        elif step.status in (S.RETRYING, S.WAITING) and due:
            found.append(TimerFired(step_id, step.attempt))
        elif step.status is S.COMPENSATING and due:
            found.append(TimerFired(step_id, step.compensation_attempt, compensation=True))
        elif step.status is S.COMPENSATING and step.due_at is None and overdue:
            found.append(CompensationTimedOut(step_id, step.compensation_attempt))
    return found


@dataclass(frozen=True)
class Simulation:
    """The outcome of :func:`simulate`: the run's event log and its final state."""

    events: tuple[Emit, ...]
    state: RunState


def simulate(definition: Definition, fail_step: str | None = None) -> Simulation:
    """Run ``definition`` with every step succeeding except ``fail_step``, which fails for good.

    Every answer comes back at once, in the order the work was started, so
    parallel branches interleave the way they often do; approvals are
    approved (``fail_step``, when it is one, rejected). Shows the path a run
    takes: to completion, through compensation, or to ``stuck`` after a pivot.
    """
    if fail_step is not None:
        if fail_step not in definition:
            raise UnknownStep(f"the definition has no step {fail_step!r}")
        if definition.step(fail_step).type is StepType.DELAY:
            raise ValueError(f"step {fail_step} is a delay; a delay does not fail")
    state = initial_state(definition)
    events: list[Emit] = []
    inbox: deque[Happening] = deque([RunStarted()])
    now = 0.0
    while inbox:
        now += 1.0
        try:
            decision = decide(state, inbox.popleft(), now=now)
        except ActNotAllowed:
            continue  # an approval the run gave up on while its decision was on the way
        state = decision.state
        for command in decision.commands:
            inbox.extend(_simulated_answers(definition, command, fail_step, events))
    return Simulation(events=tuple(events), state=state)


def _simulated_answers(
    definition: Definition, command: Command, fail_step: str | None, events: list[Emit]
) -> Iterable[Happening]:
    match command:
        case Emit():
            events.append(command)
        case StartStep(step=step_id, attempt=attempt):
            if step_id == fail_step:
                return [StepFailed(step_id, attempt, "simulated failure", retryable=False)]
            if definition.step(step_id).type is StepType.CALLBACK:
                return [StepWaiting(step_id, attempt), CallbackCompleted(step_id, attempt, True)]
            return [StepSucceeded(step_id, attempt)]
        case WaitForApproval(step=step_id):
            return [ApprovalDecided(step_id, step_id != fail_step, by="simulation")]
        case StartTimer(step=step_id, attempt=attempt):
            return [TimerFired(step_id, attempt)]
        case StartCompensation(step=step_id, attempt=attempt):
            return [CompensationSucceeded(step_id, attempt)]
    return []

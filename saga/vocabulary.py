"""The saga language's words: statuses, legal moves, event types and the named sets.

Everything else, in Python and (generated from here) in TypeScript, takes its
statuses and its sets of statuses from this module; SQL text is built from the
sets too. A set gets a name here when more than one place asks the question it
answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

__all__ = [
    "EventType",
    "RunStatus",
    "StepStatus",
    "RUN_MOVES",
    "STEP_MOVES",
    "RUN_EVENTS",
    "RUN_PHRASES",
    "STEP_PHRASES",
    "TERMINAL",
    "MOVING",
    "OPEN",
    "DONE",
    "OWES_COMPENSATION",
    "AT_REST",
    "FAILED_FOR_GOOD",
    "IN_FLIGHT",
    "TIMED",
    "DEADLINED",
]


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

    @property
    def is_act(self) -> bool:
        """Whether the event records an operator's (or an approver's) act."""
        return self.startswith("act.")


R, S = RunStatus, StepStatus

# --- named sets of run statuses

#: Statuses a run never leaves. ``stuck`` is not one of them: acts bring it back.
TERMINAL: frozenset[RunStatus] = frozenset({R.COMPLETED, R.COMPENSATED, R.CANCELLED})
#: Not ended: a run that may still change, on its own or by an act.
OPEN: frozenset[RunStatus] = frozenset(RunStatus) - TERMINAL
#: Making progress on its own: what a run's progress deadline watches.
MOVING: frozenset[RunStatus] = frozenset({R.RUNNING, R.WAITING, R.COMPENSATING})

# --- named sets of step statuses

#: Settled forward: the steps after it may run.
DONE: frozenset[StepStatus] = frozenset({S.SUCCEEDED, S.SKIPPED})
#: A step whose compensation (when it has one) is still owed.
OWES_COMPENSATION: frozenset[StepStatus] = frozenset(
    {S.SUCCEEDED, S.WAITING, S.COMPENSATING, S.COMPENSATION_FAILED}
)
#: An iteration of a map that needs nothing more, or has not begun: a change of its run
#: does not load it (a succeeded one is loaded when it is next to be compensated).
AT_REST: frozenset[StepStatus] = frozenset({S.PENDING, S.SUCCEEDED, S.SKIPPED, S.COMPENSATED})
#: Failed and given up on: where a stuck run is stuck.
FAILED_FOR_GOOD: frozenset[StepStatus] = frozenset({S.FAILED, S.COMPENSATION_FAILED})
#: An attempt (or a compensation attempt) is, or may be, with a worker.
IN_FLIGHT: frozenset[StepStatus] = frozenset({S.RUNNING, S.COMPENSATING})
#: A timer may be due: a retry, a delay, or a compensation's retry.
TIMED: frozenset[StepStatus] = frozenset({S.RETRYING, S.WAITING, S.COMPENSATING})
#: An attempt, a wait or a compensation attempt that has a deadline.
DEADLINED: frozenset[StepStatus] = frozenset({S.RUNNING, S.WAITING, S.COMPENSATING})

# --- legal moves

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
        # compensating: a child run whose parent compensates the step that started it
        R.COMPLETED: frozenset({R.COMPENSATING}),
        R.COMPENSATED: frozenset(),
        R.CANCELLED: frozenset(),
    }
)

#: The legal moves of a step, source -> allowed targets, written down once.
STEP_MOVES: Mapping[StepStatus, frozenset[StepStatus]] = MappingProxyType(
    {
        # failed: its condition could not be evaluated (a missing field, a type error)
        S.PENDING: frozenset({S.RUNNING, S.WAITING, S.SKIPPED, S.FAILED}),
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
        # waiting: an operator retries an approval or a delay that was given up on;
        # compensating: a map that failed compensates the iterations that succeeded, and a
        # child saga step given up on without an answer compensates the child it may have begun
        S.FAILED: frozenset({S.RUNNING, S.WAITING, S.SKIPPED, S.COMPENSATING}),
        S.SKIPPED: frozenset(),
        # compensating: a compensation's retry keeps the step compensating, with a new attempt
        S.COMPENSATING: frozenset(
            {S.COMPENSATING, S.COMPENSATED, S.COMPENSATION_FAILED, S.SKIPPED}
        ),
        S.COMPENSATED: frozenset(),
        S.COMPENSATION_FAILED: frozenset({S.COMPENSATING, S.SKIPPED}),
    }
)

#: The event a run's move to a status emits (a move to running or waiting emits none).
RUN_EVENTS: Mapping[RunStatus, EventType] = MappingProxyType(
    {
        R.COMPLETED: EventType.RUN_COMPLETED,
        R.COMPENSATING: EventType.RUN_COMPENSATING,
        R.COMPENSATED: EventType.RUN_COMPENSATED,
        R.STUCK: EventType.RUN_STUCK,
        R.CANCELLED: EventType.RUN_CANCELLED,
    }
)

# --- words for people, in refusals

RUN_PHRASES: Mapping[RunStatus, str] = MappingProxyType(
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

STEP_PHRASES: Mapping[StepStatus, str] = MappingProxyType(
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

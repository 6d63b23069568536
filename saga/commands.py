"""What :func:`saga.decide.decide` asks of the shell, and the decision that carries it.

:class:`Emit` commands are the run's event log, in order; the others (start an
attempt, schedule a retry, start a compensation, wait for a person or a timer)
are carried out once the new state has been committed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from saga.state import RunState
from saga.vocabulary import EventType

__all__ = [
    "Command",
    "Decision",
    "Emit",
    "EvaluateCondition",
    "EvaluateItems",
    "ScheduleCompensationRetry",
    "ScheduleRetry",
    "StartCompensation",
    "StartStep",
    "StartTimer",
    "WaitForApproval",
]


@dataclass(frozen=True)
class StartStep:
    """Enqueue attempt ``attempt`` of ``step`` (http, task or callback)."""

    step: str
    attempt: int
    deadline_at: float | None
    index: int | None = None


@dataclass(frozen=True)
class ScheduleRetry:
    """Deliver ``TimerFired(step, attempt)`` at ``at``."""

    step: str
    attempt: int
    at: float
    index: int | None = None


@dataclass(frozen=True)
class StartCompensation:
    """Enqueue compensation attempt ``attempt`` of ``step``."""

    step: str
    attempt: int
    deadline_at: float | None
    index: int | None = None


@dataclass(frozen=True)
class ScheduleCompensationRetry:
    """Deliver ``TimerFired(step, attempt, compensation=True)`` at ``at``."""

    step: str
    attempt: int
    at: float
    index: int | None = None


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
class EvaluateCondition:
    """Evaluate ``step``'s condition and answer with ``ConditionEvaluated``, in the same
    transaction (the step waits for nothing else)."""

    step: str
    expression: str


@dataclass(frozen=True)
class EvaluateItems:
    """Evaluate map ``step``'s items, keep them for its iterations, and answer with
    ``ItemsEvaluated``, in the same transaction."""

    step: str
    expression: str


@dataclass(frozen=True)
class Emit:
    """Append one event to the run's log (an iteration's carries its ``index`` in ``data``).

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
    | EvaluateCondition
    | EvaluateItems
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

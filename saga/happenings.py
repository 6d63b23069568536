"""What can happen to a run: participants' answers, timers, timeouts and operators' acts.

Each happening about a step names the attempt it belongs to, so that
:func:`saga.decide.decide` can fence off one that comes too late or twice.
Acts name who did them; whether that person may is for the shell to check.
A happening about one iteration of a map step names its ``index`` too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "Act",
    "ApprovalDecided",
    "AttemptLost",
    "CallbackCompleted",
    "CancelRun",
    "CompensateRun",
    "CompensationFailed",
    "CompensationSucceeded",
    "CompensationTimedOut",
    "ConditionEvaluated",
    "Happening",
    "ItemsEvaluated",
    "ParentCompensates",
    "RetryStep",
    "RunDeadlinePassed",
    "RunStarted",
    "SkipStep",
    "StepFailed",
    "StepSucceeded",
    "StepTimedOut",
    "StepWaiting",
    "TimerFired",
]


@dataclass(frozen=True)
class RunStarted:
    """The run was created and may begin."""


@dataclass(frozen=True)
class StepSucceeded:
    """An attempt of an ``http`` or ``task`` step succeeded."""

    step: str
    attempt: int
    output: Any = None
    #: The iteration, for a step of a map (None: the step itself).
    index: int | None = None


@dataclass(frozen=True)
class StepFailed:
    """An attempt failed; ``retryable`` says whether trying again may help."""

    step: str
    attempt: int
    error: str
    retryable: bool = True
    #: The iteration, for a step of a map (None: the step itself).
    index: int | None = None


@dataclass(frozen=True)
class StepTimedOut:
    """An attempt passed its deadline, or the worker holding it died.

    Handled as a retryable failure; for an approval, ``on_timeout`` decides.
    """

    step: str
    attempt: int
    #: The iteration, for a step of a map (None: the step itself).
    index: int | None = None


@dataclass(frozen=True)
class StepWaiting:
    """A step that answers later (a callback's call made, a child run started) now waits
    for its answer."""

    step: str
    attempt: int
    #: The iteration, for a step of a map (None: the step itself).
    index: int | None = None


@dataclass(frozen=True)
class TimerFired:
    """A timer is due: a retry (of the attempt, or with ``compensation`` of the
    compensation attempt, that failed), or a delay step's wait is over."""

    step: str
    attempt: int
    compensation: bool = False
    #: The iteration, for a step of a map (None: the step itself).
    index: int | None = None


@dataclass(frozen=True)
class ApprovalDecided:
    """A person decided an approval step (an act; group membership is checked by the shell)."""

    step: str
    approved: bool
    by: str
    comment: str = ""


@dataclass(frozen=True)
class CallbackCompleted:
    """The participant of a step that answers later posted its result (a callback's), or
    its child run ended (a child saga's)."""

    step: str
    attempt: int
    succeeded: bool
    output: Any = None
    error: str | None = None
    retryable: bool = True
    #: The iteration, for a step of a map (None: the step itself).
    index: int | None = None


@dataclass(frozen=True)
class CompensationSucceeded:
    """A compensation attempt succeeded."""

    step: str
    attempt: int
    #: The iteration, for a step of a map (None: the step itself).
    index: int | None = None


@dataclass(frozen=True)
class CompensationFailed:
    """A compensation attempt failed."""

    step: str
    attempt: int
    error: str
    retryable: bool = True
    #: The iteration, for a step of a map (None: the step itself).
    index: int | None = None


@dataclass(frozen=True)
class CompensationTimedOut:
    """A compensation attempt passed its deadline, or its worker died (retryable)."""

    step: str
    attempt: int
    #: The iteration, for a step of a map (None: the step itself).
    index: int | None = None


@dataclass(frozen=True)
class AttemptLost:
    """The message of an attempt in flight was lost, or the worker holding it is known to be
    gone (a restarted single-process install): send the same attempt again.

    ``claimed_at`` is the claim the shell saw (None: unclaimed); a step claimed
    since then is left alone.
    """

    step: str
    attempt: int
    compensation: bool = False
    claimed_at: float | None = None
    #: The iteration, for a step of a map (None: the step itself).
    index: int | None = None


@dataclass(frozen=True)
class ConditionEvaluated:
    """The shell evaluated a step's condition: its value, or why it could not."""

    step: str
    value: bool = False
    error: str | None = None


@dataclass(frozen=True)
class ItemsEvaluated:
    """The shell evaluated a map step's items: how many there are, or why they could not be
    had (the items themselves go to the iterations' rows, not through the core)."""

    step: str
    count: int = 0
    error: str | None = None


@dataclass(frozen=True)
class ParentCompensates:
    """The parent run of this (child) run compensates the step that started it: the run is
    compensated, even once it has completed, unless a pivot of its own has passed."""

    parent: str


@dataclass(frozen=True)
class RunDeadlinePassed:
    """The run made no progress for longer than its deadline."""


@dataclass(frozen=True)
class RetryStep:
    """Operator act: run a failed step (or failed compensation) again, with a fresh round."""

    step: str
    by: str
    reason: str = ""
    #: The iteration, for a step of a map (None: the step itself).
    index: int | None = None


@dataclass(frozen=True)
class SkipStep:
    """Operator act: record a step (or its compensation) as skipped and go on."""

    step: str
    by: str
    reason: str = ""
    #: The iteration, for a step of a map (None: the step itself).
    index: int | None = None


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
    | AttemptLost
    | ConditionEvaluated
    | ItemsEvaluated
    | ParentCompensates
    | Act
)

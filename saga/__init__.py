"""The saga kernel: the language of ``sagaboard/v1`` and its pure model. Standard library
(and the expression library) only: no Django, no Celery, no I/O, no clock.

The names below are its public face; each module says what it holds.
"""

from saga.acts import ACTS, ActNotAllowed, RunAct
from saga.commands import (
    Command,
    Decision,
    Emit,
    EvaluateCondition,
    EvaluateItems,
    ScheduleCompensationRetry,
    ScheduleRetry,
    StartCompensation,
    StartStep,
    StartTimer,
    WaitForApproval,
)
from saga.decide import act_allowed, decide
from saga.definition import (
    BUILTIN_RETRY,
    BUILTIN_TIMEOUT_S,
    Definition,
    DefinitionError,
    Jitter,
    OnTimeout,
    RetryPolicy,
    StepDef,
)
from saga.draft import IllegalMove
from saga.due import due_happenings
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
from saga.reading import definition_from_spec
from saga.simulate import Simulation, simulate
from saga.state import Fan, Key, RunState, StepState, UnknownStep, initial_state
from saga.vocabulary import RUN_MOVES, STEP_MOVES, TERMINAL, EventType, RunStatus, StepStatus

__all__ = [
    "ACTS", "BUILTIN_RETRY", "BUILTIN_TIMEOUT_S", "RUN_MOVES", "STEP_MOVES", "TERMINAL", "Act",
    "ActNotAllowed", "ApprovalDecided", "AttemptLost", "CallbackCompleted", "CancelRun",
    "Command", "CompensateRun", "CompensationFailed", "CompensationSucceeded",
    "CompensationTimedOut", "ConditionEvaluated", "Decision", "Definition", "DefinitionError",
    "Emit", "EvaluateCondition", "EvaluateItems", "EventType", "Fan", "Happening",
    "IllegalMove", "ItemsEvaluated", "Jitter", "Key", "OnTimeout", "ParentCompensates",
    "RetryPolicy", "RetryStep", "RunAct", "RunDeadlinePassed", "RunStarted", "RunState",
    "RunStatus", "ScheduleCompensationRetry", "ScheduleRetry", "Simulation", "SkipStep",
    "StartCompensation", "StartStep", "StartTimer", "StepDef", "StepFailed", "StepState",
    "StepStatus", "StepSucceeded", "StepTimedOut", "StepWaiting", "TimerFired", "UnknownStep",
    "WaitForApproval", "act_allowed", "decide", "definition_from_spec", "due_happenings",
    "initial_state", "simulate",
]  # fmt: skip

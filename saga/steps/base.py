"""What a step kind is: every question the house asks of a kind, with the answer most
kinds give.

A kind is one module under :mod:`saga.steps` holding one :class:`StepKind`:
the shape of its action (a JSON Schema fragment), what validation checks
beyond that shape, what an attempt does when it begins, how a wait of its
own ends, what the simulation answers, how the worker performs it (through
the :class:`Participants` the shell hands in: the kind itself does no I/O),
and how it is labelled in pictures. The registry in :mod:`saga.steps` is the
one entry point: the core, validation, the worker and the pictures all ask it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

from saga.commands import Command, StartStep
from saga.definition import RetryPolicy, StepDef
from saga.happenings import Happening, StepFailed, StepSucceeded
from saga.issues import Catalog, Issue
from saga.vocabulary import EventType, StepStatus

__all__ = [
    "Begin",
    "kind_rule",
    "Outcome",
    "Participants",
    "StepKind",
    "Verdict",
    "WAITING",
    "Waiting",
    "Work",
]


@dataclass(frozen=True)
class Outcome:
    """What performing an attempt came to: ``retryable`` says whether trying again may help."""

    ok: bool
    output: Any = None
    error: str = ""
    retryable: bool = True


class Waiting:
    """Performing the attempt started a wait: the participant answers later."""

    def __repr__(self) -> str:
        return "WAITING"


WAITING = Waiting()


@dataclass(frozen=True)
class Work:
    """One claimed attempt, as the worker hands it to its kind: ``action`` is the step's
    action (or compensation) with its templates filled in; ``index``, the iteration's, for
    a step of a map."""

    run_id: str
    step: StepDef
    attempt: int
    compensation: bool
    action: Mapping[str, Any]
    idempotency_key: str
    trace_headers: Mapping[str, str] = field(default_factory=dict)
    index: int | None = None


class Participants(Protocol):
    """The I/O a kind may ask of the worker that performs it."""

    def call_http(
        self,
        action: Mapping[str, Any],
        work: Work,
        *,
        timeout_s: float | None,
        headers: Mapping[str, str] | None = None,
    ) -> Outcome:
        """Make the HTTP request ``action`` describes, with the attempt's idempotency key."""
        ...

    def call_task(self, action: Mapping[str, Any], work: Work) -> Outcome:
        """Run the task activity ``action`` names."""
        ...

    def callback_token(self, work: Work) -> tuple[str, str]:
        """A one-time token for this attempt, and the URL its participant answers at."""
        ...

    def start_child(self, action: Mapping[str, Any], work: Work) -> Outcome | Waiting:
        """Start (or find, when started already) the child run ``action`` names; what its
        end came to when it has ended, else ``WAITING``."""
        ...

    def compensate_child(self, work: Work) -> Outcome | Waiting:
        """Have the child run this step started compensated: ``WAITING`` while it does."""
        ...


@dataclass(frozen=True)
class Begin:
    """How an attempt begins: the step's new status, its deadline or due time, the event,
    and what the shell is asked to do."""

    status: StepStatus
    event: EventType
    command: Command | None
    deadline_at: float | None = None
    due_at: float | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    """How a wait of the kind's own ends when its deadline passes (see
    :meth:`StepKind.wait_expired`)."""

    kind: Literal["ignore", "time_out", "succeed", "fail"]
    error: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)


class StepKind:
    """A kind of step. Subclasses set the class attributes and override what differs."""

    #: The ``type`` a spec gives the step.
    name: ClassVar[str]
    #: How pictures and boxes label it; how the designer names it in words (the label,
    #: unless it says otherwise); what the palette says of it.
    label: ClassVar[str]
    title: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    #: JSON Schema: the kind's own ``$defs``, and which of them its action and its
    #: compensation are (``None``: the kind takes no compensation).
    schema_defs: ClassVar[Mapping[str, Any]] = {}
    action_def: ClassVar[str]
    compensation_def: ClassVar[str | None] = None
    action_required: ClassVar[bool] = True
    #: An approval: people decide it (``ApprovalDecided``), members of ``group``.
    decided_by_people: ClassVar[bool] = False
    #: A callback: its participant answers later (``StepWaiting``, ``CallbackCompleted``).
    answers_later: ClassVar[bool] = False
    #: A delay: its timer ends its wait, successfully.
    timer_ends_wait: ClassVar[bool] = False
    #: A child saga: its wait, and its compensation, last as long as another run takes;
    #: only the attempt that starts it has a deadline (``timeout_s``).
    waits_unbounded: ClassVar[bool] = False
    #: A child saga: an attempt given up on without an answer (timed out, its worker lost,
    #: a retryable failure) may have begun what outlives it (the child run); when the run
    #: compensates, the step is compensated all the same (which finds nothing to undo when
    #: nothing was begun).
    undone_when_unsure: ClassVar[bool] = False
    #: Whether the simulation can fail it.
    can_fail: ClassVar[bool] = True
    #: Step fields of the kind's own beside the common ones (a map's ``items``): their JSON
    #: Schema, and which of them a step of the kind must have. Other kinds may not use them.
    own_fields: ClassVar[Mapping[str, Any]] = {}
    own_required: ClassVar[tuple[str, ...]] = ()

    # --- reading and validating a spec

    def settings(
        self, action: Mapping[str, Any], *, timeout_s: float | None, retry: RetryPolicy
    ) -> dict[str, Any]:
        """The :class:`StepDef` fields the kind sets from its action, given the defaults."""
        return {"timeout_s": timeout_s, "retry": retry}

    def nested(
        self, raw: Mapping[str, Any], read: Callable[[Mapping[str, Any]], StepDef]
    ) -> dict[str, Any]:
        """More :class:`StepDef` fields, for a kind whose step holds another (a map's
        ``do``): ``read`` reads a step with the defaults this one was read with."""
        return {}

    def issues(self, step_id: str, step: Mapping[str, Any], catalog: Catalog) -> Iterable[Issue]:
        """What validation refuses in a step whose shape is right, beyond the graph rules."""
        return ()

    def doubts(
        self, step_id: str, step: Mapping[str, Any], catalog: Catalog, *, undoable: bool
    ) -> Iterable[Issue]:
        """What validation warns of in such a step; ``undoable``: the run may yet have to
        compensate it (no pivot passed before it)."""
        return ()

    def side_effects(self, action: Mapping[str, Any], catalog: Catalog) -> bool:
        """Whether the step changes something a later failure should undo."""
        return False

    def approvers(self, step: StepDef) -> str | None:
        """The group whose members decide the step, for kinds people decide."""
        return None

    # --- the core

    def begin(self, step: StepDef, attempt: int, now: float) -> Begin:
        """An attempt begins: by default a worker runs it, within ``timeout_s``."""
        deadline = None if step.timeout_s is None else now + step.timeout_s
        return Begin(
            StepStatus.RUNNING,
            EventType.STEP_STARTED,
            StartStep(step.id, attempt, deadline),
            deadline_at=deadline,
        )

    def wait_expired(self, step: StepDef, *, compensating: bool) -> Verdict:
        """A waiting step of this kind passed its deadline: by default a timed-out attempt."""
        return Verdict("time_out")

    def waits_through_compensation(self, step: StepDef) -> bool:
        """Whether a waiting step of this kind keeps waiting when the run turns to
        compensate (to be compensated in its turn) rather than being given up."""
        return False

    def simulated_answers(self, step: StepDef, command: Command, *, fail: bool) -> list[Happening]:
        """What the simulation answers to the attempt the kind's ``begin`` asked for."""
        if isinstance(command, StartStep):
            if fail:
                return [StepFailed(step.id, command.attempt, "simulated failure", retryable=False)]
            return [StepSucceeded(step.id, command.attempt)]
        return []

    # --- the worker

    def perform(self, work: Work, participants: Participants) -> Outcome | Waiting:
        """Carry out a claimed attempt (or compensation attempt)."""
        raise NotImplementedError(f"a {self.name} step is not performed by a worker")


def kind_rule(kind: StepKind, others: Iterable[StepKind]) -> dict[str, Any]:
    """The JSON Schema rule a step of ``kind`` follows: its action, its compensation, the
    fields it must have, and none of the fields only ``others`` use."""
    then: dict[str, Any] = {}
    required = (["action"] if kind.action_required else []) + list(kind.own_required)
    if required:
        then["required"] = required
    compensation: dict[str, Any] = (
        {"$ref": f"#/$defs/{kind.compensation_def}"} if kind.compensation_def else {"not": {}}
    )
    then["properties"] = {
        "action": {"$ref": f"#/$defs/{kind.action_def}"},
        "compensation": compensation,
    }
    for other in others:
        for name in other.own_fields:
            if name not in kind.own_fields:
                then["properties"][name] = {"not": {}}
    return {
        "if": {"required": ["type"], "properties": {"type": {"const": kind.name}}},
        "then": then,
    }

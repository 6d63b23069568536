"""Where a run stands: the frozen state that :func:`saga.decide.decide` takes and returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from saga.definition import Definition
from saga.vocabulary import DONE, TERMINAL, RunStatus, StepStatus

__all__ = [
    "Fan",
    "Key",
    "RunState",
    "StepState",
    "UnknownStep",
    "initial_state",
    "pivot_passed",
]

#: Names a step (its id), or one iteration of a map step (its id and the index).
Key = str | tuple[str, int]


class UnknownStep(LookupError):
    """A happening names a step the run's definition does not have."""


@dataclass(frozen=True)
class StepState:
    """Where one step of a run stands.

    ``attempt`` counts the step's attempts (0 before the first, then only up);
    ``round_start`` is the attempt where the current retry round began, so an
    operator's retry gets a fresh round. ``compensation_attempt`` and
    ``compensation_round_start`` do the same for the compensation.
    ``deadline_at`` is when the attempt (or compensation attempt) in flight
    times out; ``due_at`` is when a scheduled retry or a delay is due.

    ``skipped_by_condition``: the step was not taken, its condition false or every
    step before it not taken (dead-path elimination); it owes nothing and does
    not count as passed.

    ``outcome_unknown``: the step failed for good on an attempt whose outcome is not
    known (it timed out, its worker was lost, it failed in a way worth retrying), and
    its kind undoes what such an attempt may have begun (a child saga step's child run,
    which may have started): it owes its compensation as a succeeded step does.

    ``changed_at`` is when the step last changed, ``claimed_at`` when a worker
    claimed its attempt in flight (the shell claims; a new attempt starts
    unclaimed). With them :func:`saga.due.due_happenings` tells a message
    that was lost from one still on its way.
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
    changed_at: float | None = None
    claimed_at: float | None = None
    skipped_by_condition: bool = False
    outcome_unknown: bool = False
    fan: Fan | None = None

    def new_attempt_since(self, before: StepState) -> bool:
        """Whether this state holds an attempt (or compensation attempt) that ``before`` did
        not: one no worker has claimed yet, and no token handed out earlier may complete."""
        return (
            self.attempt != before.attempt
            or self.compensation_attempt != before.compensation_attempt
            or (self.status != before.status and self.status is StepStatus.COMPENSATING)
        )

    @property
    def latency_ms(self) -> float | None:
        """How long the step's last attempt took, once it has finished."""
        if self.started_at is None or self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at) * 1000, 1)


@dataclass(frozen=True)
class Fan:
    """Where the iterations of a map step stand.

    Iterations begin in index order: those below ``started`` have begun, and ``counts``
    says how many of them stand in each status. ``iterations`` holds the state of some
    of them: at least the one a happening is about, and, when the change may turn the
    run to compensate or something failed, every iteration not at rest (in flight,
    retrying, failed, compensating, failed to compensate) and the ``max_concurrency``
    succeeded ones of highest index, the next to be compensated. The rules read the
    counts, and the iterations only for what they name.
    """

    total: int
    started: int = 0
    counts: Mapping[StepStatus, int] = field(default_factory=lambda: MappingProxyType({}))
    iterations: Mapping[int, StepState] = field(default_factory=lambda: MappingProxyType({}))

    def count(self, *statuses: StepStatus) -> int:
        """How many begun iterations stand in any of ``statuses``."""
        return sum(self.counts.get(s, 0) for s in statuses)

    @property
    def settled(self) -> int:
        """The iterations done going forward: succeeded or skipped."""
        return self.count(StepStatus.SUCCEEDED, StepStatus.SKIPPED)


@dataclass(frozen=True)
class RunState:
    """Where a run stands: its status and every step's.

    ``compensating`` says which way the run is going; it stays set while the
    run is ``stuck`` on a compensation. ``stalled`` marks a run that made no
    progress before its deadline; the next change of any kind clears it.
    ``deadline_at`` is that progress deadline (while the run moves on its
    own and its definition sets ``deadline_s``); ``stuck_since`` and
    ``finished_at`` say when it became stuck and when it ended.
    """

    definition: Definition = field(repr=False)
    status: RunStatus
    steps: Mapping[str, StepState]
    compensating: bool = False
    stalled: bool = False
    deadline_at: float | None = None
    stuck_since: float | None = None
    finished_at: float | None = None

    def step(self, step_id: str) -> StepState:
        """The state of step ``step_id``; :class:`UnknownStep` if the run has none."""
        try:
            return self.steps[step_id]
        except KeyError:
            raise UnknownStep(f"the run has no step {step_id!r}") from None

    @property
    def terminal(self) -> bool:
        """Whether the run has ended for good (completed, compensated or cancelled)."""
        return self.status in TERMINAL

    @property
    def pivot_passed(self) -> str | None:
        """The first pivot that succeeded (or was skipped), or ``None``.

        Once there is one, the run only moves forward. A skipped pivot counts:
        the steps after it may already have run, and nothing after a pivot has
        a compensation.
        """
        return pivot_passed(self.definition, self.steps)


def initial_state(definition: Definition) -> RunState:
    """The state of a run that has been created but not started."""
    return RunState(
        definition=definition,
        status=RunStatus.PENDING,
        steps=MappingProxyType({step_id: StepState() for step_id in definition.order}),
    )


def pivot_passed(definition: Definition, steps: Mapping[str, StepState]) -> str | None:
    """The first pivot of ``definition`` that is done in ``steps``, or ``None``."""
    for step_id in definition.pivots:
        step = steps[step_id]
        # A pivot on a branch not taken is no pivot passed.
        if step.status in DONE and not step.skipped_by_condition:
            return step_id
    return None

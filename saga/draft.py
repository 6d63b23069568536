"""A decision in the making: a working copy of a run, what it has to say, and the moves it
may make (checked against the legal moves of :mod:`saga.vocabulary`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from saga.commands import Command, Decision, Emit
from saga.definition import StepDef
from saga.state import Fan, Key, RunState, StepState
from saga.steps import StepKind, kind_of
from saga.vocabulary import (
    MOVING,
    RUN_EVENTS,
    RUN_MOVES,
    STEP_MOVES,
    TERMINAL,
    EventType,
    RunStatus,
    StepStatus,
)

__all__ = [
    "ABANDONED_CANCELLED",
    "ABANDONED_COMPENSATING",
    "Draft",
    "FanWork",
    "IllegalMove",
    "key_of",
    "split",
]

ABANDONED_CANCELLED = "abandoned: the run was cancelled"
ABANDONED_COMPENSATING = "abandoned: the run is compensating"


S = StepStatus


class IllegalMove(RuntimeError):
    """A move outside ``RUN_MOVES`` / ``STEP_MOVES``: a defect in the core."""


def split(key: Key) -> tuple[str, int | None]:
    """The step id of a key, and the iteration's index (None for a step itself)."""
    return (key[0], key[1]) if isinstance(key, tuple) else (key, None)


def key_of(step: str, index: int | None) -> Key:
    """The key of a step (``index`` None) or of one iteration of a map step."""
    return step if index is None else (step, index)


@dataclass
class FanWork:
    """A map step's :class:`~saga.state.Fan`, in the making."""

    total: int
    started: int
    counts: dict[StepStatus, int]
    iterations: dict[int, StepState] = field(default_factory=dict)

    def count(self, *statuses: StepStatus) -> int:
        return sum(self.counts.get(s, 0) for s in statuses)

    def frozen(self) -> Fan:
        counts = {s: n for s, n in self.counts.items() if n}
        return Fan(
            self.total,
            self.started,
            MappingProxyType(counts),
            MappingProxyType(dict(self.iterations)),
        )


class Slots(MutableMapping[str, StepState]):
    """The steps of a draft by id; a key ``(step id, index)`` reaches an iteration of a
    map step (iterating gives the steps alone)."""

    def __init__(self, draft: Draft, steps: dict[str, StepState]) -> None:
        self._draft = draft
        self._steps = steps

    def __getitem__(self, key: Key) -> StepState:
        if isinstance(key, tuple):
            found = self._draft.fan(key[0]).iterations.get(key[1])
            return StepState() if found is None else found  # not begun yet
        return self._steps[key]

    def __setitem__(self, key: Key, value: StepState) -> None:
        if isinstance(key, tuple):
            self._draft.fan(key[0]).iterations[key[1]] = value
        else:
            self._steps[key] = value

    def __delitem__(self, key: Key) -> None:
        raise TypeError("a run's steps are never removed")

    def __iter__(self) -> Iterator[str]:
        return iter(self._steps)

    def __len__(self) -> int:
        return len(self._steps)


class Draft:
    """A working copy of the run; :meth:`decision` turns it into the new frozen state."""

    def __init__(self, state: RunState, now: float, jitter: float) -> None:
        self.before = state
        self.definition = state.definition
        self.status = state.status
        self.compensating = state.compensating
        self.stalled = state.stalled
        self.steps = Slots(self, dict(state.steps))
        self.fans: dict[str, FanWork] = {}
        self.commands: list[Command] = []
        self.now = now
        self.jitter = jitter
        #: Whether the run made progress (a maintenance happening does not).
        self.progress = True

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def sdef(self, key: Key) -> StepDef:
        """The definition of a step; of an iteration, its map's ``do``."""
        if isinstance(key, tuple):
            do = self.definition.step(key[0]).do
            assert do is not None, f"step {key[0]} is no map"
            return do
        return self.definition.step(key)

    def kind(self, key: Key) -> StepKind:
        return kind_of(self.sdef(key).type)

    def fan(self, step_id: str) -> FanWork:
        """The working copy of a map step's iterations (a map whose items are not yet
        known has none: ``total`` 0)."""
        work = self.fans.get(step_id)
        if work is None:
            fan = self.steps[step_id].fan or Fan(0)
            work = FanWork(fan.total, fan.started, dict(fan.counts), dict(fan.iterations))
            self.fans[step_id] = work
        return work

    def move(self, key: Key, status: StepStatus, **changes: Any) -> StepState:
        current = self.steps[key]
        if status not in STEP_MOVES[current.status]:
            raise IllegalMove(f"step {_named(key)}: {current.status} -> {status}")
        new = dataclasses.replace(current, status=status, changed_at=self.now, **changes)
        if new.claimed_at is not None and new.new_attempt_since(self._before(key)):
            # A new attempt is free for the next worker to claim.
            new = dataclasses.replace(new, claimed_at=None)
        if isinstance(key, tuple):
            fan = self.fan(key[0])
            if current.status is not S.PENDING:  # a pending iteration has not begun
                fan.counts[current.status] = fan.counts.get(current.status, 0) - 1
            fan.counts[status] = fan.counts.get(status, 0) + 1
        self.steps[key] = new
        return new

    def _before(self, key: Key) -> StepState:
        if isinstance(key, tuple):
            fan = self.before.steps[key[0]].fan
            found = fan.iterations.get(key[1]) if fan is not None else None
            return StepState() if found is None else found
        return self.before.steps[key]

    def run_status(self, status: RunStatus) -> None:
        if status == self.status:
            return
        if status not in RUN_MOVES[self.status]:
            raise IllegalMove(f"run: {self.status} -> {status}")
        self.status = status
        event = RUN_EVENTS.get(status)
        if event is not None:
            self.emit(event, None, status)

    def emit(
        self,
        event_type: EventType,
        step: Key | None,
        status: str,
        attempt: int | None = None,
        error: str | None = None,
        **data: Any,
    ) -> None:
        if isinstance(step, tuple):
            step, data = step[0], {"index": step[1], **data}
        self.commands.append(Emit(event_type, step, str(status), attempt, error, data))

    def act(self, event_type: EventType, step: Key | None, by: str, reason: str) -> None:
        # The status is filled in by decision(): the run's, once the act has played out.
        self.emit(event_type, step, "", actor=by, reason=reason)

    def succeed(self, step_id: Key, output: Any, **data: Any) -> None:
        """The step succeeded (its attempt, or a person, or its wait)."""
        step = self.move(
            step_id,
            StepStatus.SUCCEEDED,
            output=output,
            error=None,
            deadline_at=None,
            due_at=None,
            finished_at=self.now,
        )
        self.emit(
            EventType.STEP_SUCCEEDED,
            step_id,
            StepStatus.SUCCEEDED,
            step.attempt,
            latency_ms=self.latency_ms(step),
            **data,
        )

    def fail(self, step_id: Key, error: str, *, unsure: bool = False, **data: Any) -> None:
        """The step (or iteration) failed for good; ``unsure``: without knowing what its
        last attempt began, for a kind that undoes it all the same (see
        ``StepState.outcome_unknown``)."""
        step = self.move(
            step_id,
            StepStatus.FAILED,
            error=error,
            deadline_at=None,
            due_at=None,
            finished_at=self.now,
            outcome_unknown=unsure and self.kind(step_id).undone_when_unsure,
        )
        self.emit(EventType.STEP_FAILED, step_id, StepStatus.FAILED, step.attempt, error, **data)

    def latency_ms(self, step: StepState) -> int | None:
        if step.started_at is None:
            return None
        return round((self.now - step.started_at) * 1000)

    def decision(self) -> Decision:
        commands = self.commands
        if commands:
            first = commands[0]
            if isinstance(first, Emit) and (
                first.event_type is EventType.RUN_STARTED or first.event_type.is_act
            ):
                commands[0] = dataclasses.replace(first, status=str(self.status))
        for step_id, fan in self.fans.items():
            self.steps[step_id] = dataclasses.replace(self.steps[step_id], fan=fan.frozen())
        before, now = self.before, self.now
        deadline_s = self.definition.deadline_s
        if not deadline_s or self.status not in MOVING:
            deadline_at = None
        elif self.progress:
            deadline_at = now + deadline_s
        else:
            deadline_at = before.deadline_at
        state = RunState(
            definition=self.definition,
            status=self.status,
            steps=MappingProxyType(dict(self.steps.items())),
            compensating=self.compensating,
            stalled=self.stalled,
            deadline_at=deadline_at,
            stuck_since=(before.stuck_since or now) if self.status is RunStatus.STUCK else None,
            # A completed child run that its parent compensates is going again.
            finished_at=(before.finished_at or now) if self.status in TERMINAL else None,
        )
        return Decision(state=state, commands=tuple(commands))


def _named(key: Key) -> str:
    return f"{key[0]}[{key[1]}]" if isinstance(key, tuple) else key

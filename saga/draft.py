"""A decision in the making: a working copy of a run, what it has to say, and the moves it
may make (checked against the legal moves of :mod:`saga.vocabulary`)."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType
from typing import Any

from saga.commands import Command, Decision, Emit
from saga.definition import StepDef
from saga.state import RunState, StepState
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

__all__ = ["ABANDONED_CANCELLED", "ABANDONED_COMPENSATING", "Draft", "IllegalMove"]

ABANDONED_CANCELLED = "abandoned: the run was cancelled"
ABANDONED_COMPENSATING = "abandoned: the run is compensating"


class IllegalMove(RuntimeError):
    """A move outside ``RUN_MOVES`` / ``STEP_MOVES``: a defect in the core."""


class Draft:
    """A working copy of the run; :meth:`decision` turns it into the new frozen state."""

    def __init__(self, state: RunState, now: float, jitter: float) -> None:
        self.before = state
        self.definition = state.definition
        self.status = state.status
        self.compensating = state.compensating
        self.stalled = state.stalled
        self.steps: dict[str, StepState] = dict(state.steps)
        self.commands: list[Command] = []
        self.now = now
        self.jitter = jitter
        #: Whether the run made progress (a maintenance happening does not).
        self.progress = True

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def sdef(self, step_id: str) -> StepDef:
        return self.definition.step(step_id)

    def kind(self, step_id: str) -> StepKind:
        return kind_of(self.definition.step(step_id).type)

    def move(self, step_id: str, status: StepStatus, **changes: Any) -> StepState:
        current = self.steps[step_id]
        if status not in STEP_MOVES[current.status]:
            raise IllegalMove(f"step {step_id}: {current.status} -> {status}")
        new = dataclasses.replace(current, status=status, changed_at=self.now, **changes)
        if new.claimed_at is not None and new.new_attempt_since(self.before.steps[step_id]):
            # A new attempt is free for the next worker to claim.
            new = dataclasses.replace(new, claimed_at=None)
        self.steps[step_id] = new
        return new

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

    def succeed(self, step_id: str, output: Any, **data: Any) -> None:
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

    def fail(self, step_id: str, error: str, **data: Any) -> None:
        """The step failed for good."""
        step = self.move(
            step_id,
            StepStatus.FAILED,
            error=error,
            deadline_at=None,
            due_at=None,
            finished_at=self.now,
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
            steps=MappingProxyType(self.steps),
            compensating=self.compensating,
            stalled=self.stalled,
            deadline_at=deadline_at,
            stuck_since=(before.stuck_since or now) if self.status is RunStatus.STUCK else None,
            finished_at=before.finished_at or (now if self.status in TERMINAL else None),
        )
        return Decision(state=state, commands=tuple(commands))

"""The simulation: a definition run with every answer at once and no side effect, to
show the path a run takes when one step fails for good."""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass
from typing import Any

from saga.acts import ActNotAllowed
from saga.commands import Command, Emit, EvaluateCondition, EvaluateItems, StartCompensation
from saga.decide import decide
from saga.definition import Definition
from saga.expressions import ExpressionError, activation, condition, items
from saga.happenings import (
    CompensationSucceeded,
    ConditionEvaluated,
    Happening,
    ItemsEvaluated,
    RunStarted,
)
from saga.state import RunState, UnknownStep, initial_state
from saga.steps import kind_of

__all__ = ["Simulation", "simulate"]


@dataclass(frozen=True)
class Simulation:
    """The outcome of :func:`simulate`: the run's event log and its final state."""

    events: tuple[Emit, ...]
    state: RunState


def simulate(
    definition: Definition, fail_step: str | None = None, *, input: Any = None
) -> Simulation:
    """Run ``definition`` with every step succeeding except ``fail_step``, which fails for good.

    Every answer comes back at once, in the order the work was started, so
    parallel branches interleave the way they often do; approvals are
    approved (``fail_step``, when it is one, rejected). Conditions and a map's items are
    evaluated against ``input`` (a sample) and the simulated outputs (none); a map named
    by ``fail_step`` fails at its last iteration. Shows the path a
    run takes: which branches, to completion, through compensation, or to
    ``stuck`` after a pivot.
    """
    if fail_step is not None:
        if fail_step not in definition:
            raise UnknownStep(f"the definition has no step {fail_step!r}")
        kind = kind_of(definition.step(fail_step).type)
        if not kind.can_fail:
            raise ValueError(f"step {fail_step} is a {kind.name}; a {kind.name} does not fail")
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
            if isinstance(command, EvaluateCondition):
                inbox.append(_evaluated(command, input, state))
            elif isinstance(command, EvaluateItems):
                inbox.append(_counted(command, input, state))
            else:
                inbox.extend(_simulated_answers(state, command, fail_step, events))
    return Simulation(events=tuple(events), state=state)


def _evaluated(command: EvaluateCondition, run_input: Any, state: RunState) -> Happening:
    try:
        value = condition(command.expression, activation(run_input, state.steps))
    except ExpressionError as exc:
        return ConditionEvaluated(command.step, error=str(exc))
    return ConditionEvaluated(command.step, value)


def _counted(command: EvaluateItems, run_input: Any, state: RunState) -> Happening:
    try:
        found = items(command.expression, activation(run_input, state.steps))
    except ExpressionError as exc:
        return ItemsEvaluated(command.step, error=str(exc))
    return ItemsEvaluated(command.step, len(found))


def _simulated_answers(
    state: RunState, command: Command, fail_step: str | None, events: list[Emit]
) -> list[Happening]:
    if isinstance(command, Emit):
        events.append(command)
        return []
    index: int | None = getattr(command, "index", None)
    if isinstance(command, StartCompensation):
        return [CompensationSucceeded(command.step, command.attempt, index)]
    step_id = getattr(command, "step", None)
    if step_id is None:
        return []
    sdef = state.definition.step(step_id)
    fail = step_id == fail_step
    if index is None:
        return kind_of(sdef.type).simulated_answers(sdef, command, fail=fail)
    assert sdef.do is not None
    fan = state.steps[step_id].fan
    fail = fail and fan is not None and index == fan.total - 1
    answers = kind_of(sdef.do.type).simulated_answers(sdef.do, command, fail=fail)
    return [dataclasses.replace(a, index=index) for a in answers]  # type: ignore[arg-type]

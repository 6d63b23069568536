"""A decision and the answers the kernel asks of the shell within it.

``decide`` asks for what it may not compute itself: a condition's value, a map's
items (EvaluateCondition, EvaluateItems), and it leaves a completed map's output
to be gathered from where its iterations keep theirs. The shell answers at once,
in the same transaction, so a change of a run is one decision however many
answers it took; each answer is a happening in the run's history, so a replay
never evaluates again.
"""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

import saga
from engine import histories, iterations
from engine.models import Run
from saga import Decision, Happening, decide
from saga.expressions import ExpressionError, activation, condition, items

__all__ = ["decide_answered"]


def decide_answered(
    run: Run, state: saga.RunState, happening: Happening, *, now: float, jitter: float
) -> Decision:
    """``decide``, with the conditions and items it asks for evaluated and answered at
    once, in the same transaction: one decision of them all. Each is in the run's history.
    A map that succeeds gets its output, gathered from its iterations."""
    decision = _gathered(run, decide(state, happening, now=now, jitter=jitter))
    histories.record(run.pk, run.version_id, state, happening, now, jitter, decision)
    asks = _asks(decision)
    if decision.ignored or not asks:
        return decision
    commands = [c for c in decision.commands if not isinstance(c, _Ask)]
    current = decision
    for _ in range(2 * len(state.steps)):  # each step is asked at most twice
        if not asks:
            break
        answer = _evaluated(asks[0], run, current.state)
        before = current.state
        current = _gathered(run, decide(current.state, answer, now=now, jitter=jitter))
        histories.record(run.pk, run.version_id, before, answer, now, jitter, current)
        commands += [c for c in current.commands if not isinstance(c, _Ask)]
        asks = _asks(current)
    return Decision(state=current.state, commands=tuple(commands))


_Ask = saga.EvaluateCondition | saga.EvaluateItems


def _asks(decision: Decision) -> list[saga.EvaluateCondition | saga.EvaluateItems]:
    return [c for c in decision.commands if isinstance(c, _Ask)]


def _evaluated(
    ask: saga.EvaluateCondition | saga.EvaluateItems, run: Run, state: saga.RunState
) -> saga.Happening:
    names = activation(run.input, state.steps)
    try:
        if isinstance(ask, saga.EvaluateItems):
            found = items(ask.expression, names)
        else:
            return saga.ConditionEvaluated(ask.step, condition(ask.expression, names))
    except ExpressionError as exc:
        if isinstance(ask, saga.EvaluateItems):
            return saga.ItemsEvaluated(ask.step, error=str(exc))
        return saga.ConditionEvaluated(ask.step, error=str(exc))
    iterations.create(run.pk, ask.step, found)
    return saga.ItemsEvaluated(ask.step, len(found))


def _gathered(run: Run, decision: Decision) -> Decision:
    """The decision, with the output of each map it completes gathered from its iterations
    (the kernel leaves it to the shell, which keeps them)."""
    state = decision.state
    done = [
        sid
        for sid in state.definition.maps
        if state.steps[sid].status is saga.StepStatus.SUCCEEDED
        and state.steps[sid].output is None
        and state.steps[sid].fan is not None
    ]
    if not done:
        return decision
    steps = dict(state.steps)
    for sid in done:
        fan = steps[sid].fan
        assert fan is not None
        steps[sid] = dataclasses.replace(
            steps[sid], output=iterations.gather(run.pk, sid, fan.iterations)
        )
    new = dataclasses.replace(state, steps=MappingProxyType(steps))
    return dataclasses.replace(decision, state=new)

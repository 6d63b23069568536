"""A child saga step given up on without an answer: its worker may have started the child
before it was lost, so when the run compensates, the step is compensated (the child is
asked to undo itself, which finds nothing when it never started) before the steps the
parent ran before it. A step whose child's end failed it owes nothing more."""

from __future__ import annotations

from typing import Any

from saga import (
    CallbackCompleted,
    CompensationSucceeded,
    Decision,
    RetryStep,
    RunStarted,
    RunState,
    StartCompensation,
    StepFailed,
    StepStatus,
    StepSucceeded,
    StepTimedOut,
    TimerFired,
    decide,
    definition_from_spec,
    initial_state,
)

T0 = 1_700_000_000.0


def parent(attempts: int, *, side: bool = False) -> RunState:
    """``book -> pay`` (a child saga step), maybe ``side`` beside ``pay``; ``book`` done."""
    steps: list[dict[str, Any]] = [
        {
            "id": "book",
            "type": "task",
            "action": {"name": "demo.noop"},
            "compensation": {"name": "demo.noop"},
        },
        {
            "id": "pay",
            "type": "subsaga",
            "after": ["book"],
            "action": {"workflow": "payment"},
            "retry": {"max_attempts": attempts, "jitter": "none"},
            "timeout_s": 10,
        },
    ]
    if side:
        steps.append(
            {"id": "side", "type": "task", "after": ["book"], "action": {"name": "demo.noop"}}
        )
    definition = definition_from_spec({"format": "sagaboard/v1", "steps": steps})
    state = decide(initial_state(definition), RunStarted(), now=T0).state
    return decide(state, StepSucceeded("book", 1), now=T0 + 1).state


def compensations(decision: Decision) -> list[str]:
    return [c.step for c in decision.commands if isinstance(c, StartCompensation)]


def test_a_child_saga_step_given_up_on_after_its_worker_was_lost_is_compensated_first() -> None:
    state = parent(attempts=1)
    # The worker started the child and was lost before saying so: the attempt times out.
    decision = decide(state, StepTimedOut("pay", 1), now=T0 + 20)
    pay = decision.state.steps["pay"]
    assert decision.state.status == "compensating"
    assert pay.status is StepStatus.COMPENSATING and "gave up after 1 attempt" in str(
        decision.events
    )
    # The child is undone before what the parent did before starting it.
    assert compensations(decision) == ["pay"]
    decision = decide(decision.state, CompensationSucceeded("pay", 1), now=T0 + 30)
    assert compensations(decision) == ["book"]
    decision = decide(decision.state, CompensationSucceeded("book", 1), now=T0 + 31)
    assert decision.state.status == "compensated"


def test_a_child_saga_step_waiting_to_retry_when_the_run_turns_back_is_compensated() -> None:
    state = parent(attempts=2, side=True)
    state = decide(state, StepTimedOut("pay", 1), now=T0 + 20).state
    assert state.steps["pay"].status is StepStatus.RETRYING
    decision = decide(state, StepFailed("side", 1, "down", retryable=False), now=T0 + 21)
    assert decision.state.steps["pay"].status is StepStatus.COMPENSATING
    assert compensations(decision) == ["pay"]


def test_a_child_saga_step_timed_out_while_the_run_compensates_is_compensated() -> None:
    state = parent(attempts=3, side=True)
    state = decide(state, StepFailed("side", 1, "down", retryable=False), now=T0 + 2).state
    assert state.compensating and state.steps["pay"].status is StepStatus.RUNNING
    decision = decide(state, StepTimedOut("pay", 1), now=T0 + 20)
    assert compensations(decision) == ["pay"]


def test_a_child_saga_step_its_child_failed_owes_nothing_more() -> None:
    error = "the child run 7 was compensated"
    answer = CallbackCompleted("pay", 1, False, error=error, retryable=False)
    decision = decide(parent(attempts=3), answer, now=T0 + 5)
    assert decision.state.steps["pay"].status is StepStatus.FAILED
    assert compensations(decision) == ["book"]


def test_a_retry_of_a_child_saga_step_given_up_on_starts_it_afresh() -> None:
    spec = {
        "format": "sagaboard/v1",
        "steps": [
            {"id": "book", "type": "task", "action": {"name": "demo.noop"}, "pivot": True},
            {"id": "pay", "type": "subsaga", "after": ["book"], "action": {"workflow": "p"}},
        ],
    }
    state = decide(initial_state(definition_from_spec(spec)), RunStarted(), now=T0).state
    state = decide(state, StepSucceeded("book", 1), now=T0 + 1).state
    for attempt in (1, 2, 3):
        state = decide(state, StepTimedOut("pay", attempt), now=T0 + 40 * attempt).state
        if attempt < 3:
            state = decide(state, TimerFired("pay", attempt), now=T0 + 40 * attempt + 5).state
    # Past the pivot the run only goes forward: stuck, until an operator retries the step.
    assert state.status == "stuck" and state.steps["pay"].outcome_unknown
    state = decide(state, RetryStep("pay", "olga", "again"), now=T0 + 200).state
    assert state.steps["pay"].status is StepStatus.RUNNING
    assert not state.steps["pay"].outcome_unknown

"""Conditions (``when``) and dead-path elimination, as DESIGN.md's "Branches, maps and child
sagas" states them: decided by the kernel, evaluated by the shell, recorded as happenings."""

from __future__ import annotations

from typing import Any

import pytest

from saga import (
    ActNotAllowed,
    ConditionEvaluated,
    EvaluateCondition,
    RetryStep,
    RunStarted,
    RunState,
    SkipStep,
    StartStep,
    StepFailed,
    StepSucceeded,
    decide,
    definition_from_spec,
    initial_state,
    simulate,
)
from saga.expressions import activation, condition

T0 = 1_700_000_000.0


def step(sid: str, *after: str, when: str | None = None, **extra: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "id": sid,
        "type": "task",
        "after": list(after),
        "action": {"name": "demo.noop"},
        "compensation": {"name": "demo.noop"},
        **extra,
    }
    if when:
        raw["when"] = when
    return raw


#: reserve → gate (only big orders) → charge, with the direct edge reserve → charge.
GATED = [
    step("reserve"),
    step("gate", "reserve", when="input.amount > 10000"),
    step("charge", "reserve", "gate"),
]


class Run:
    """A run driven by hand, its conditions answered as the shell answers them."""

    def __init__(self, steps: list[dict[str, Any]], run_input: Any) -> None:
        self.definition = definition_from_spec({"format": "sagaboard/v1", "steps": steps})
        self.input = run_input
        self.state: RunState = initial_state(self.definition)
        self.events: list[Any] = []
        self.now = T0
        self.apply(RunStarted())

    def apply(self, happening: Any) -> Any:
        self.now += 1
        decision = decide(self.state, happening, now=self.now)
        self.state = decision.state
        self.events += list(decision.events)
        for command in decision.commands:
            if isinstance(command, EvaluateCondition):
                try:
                    value = condition(command.expression, activation(self.input, self.state.steps))
                except ValueError as exc:
                    self.apply(ConditionEvaluated(command.step, error=str(exc)))
                else:
                    self.apply(ConditionEvaluated(command.step, value))
                break  # the next decision asks again for any other condition
        return decision

    def succeed(self, sid: str, output: Any = None) -> None:
        self.apply(StepSucceeded(sid, self.state.steps[sid].attempt, output))

    def fail(self, sid: str) -> None:
        self.apply(StepFailed(sid, self.state.steps[sid].attempt, "down", retryable=False))

    def status(self, sid: str) -> str:
        return str(self.state.steps[sid].status)

    def skipped_events(self) -> dict[str, dict[str, Any]]:
        return {e.step: dict(e.data) for e in self.events if e.event_type == "step.skipped"}


def test_a_false_condition_skips_its_step_and_the_join_runs_all_the_same() -> None:
    run = Run(GATED, {"amount": 500})
    run.succeed("reserve")
    assert run.status("gate") == "skipped" and run.state.steps["gate"].skipped_by_condition
    assert run.skipped_events() == {"gate": {"reason": "condition", "condition": False}}
    assert run.status("charge") == "running"
    run.succeed("charge")
    assert run.state.status == "completed"
    assert not any(e.event_type == "step.started" and e.step == "gate" for e in run.events)


def test_a_true_condition_starts_its_step_and_says_so() -> None:
    run = Run(GATED, {"amount": 20000})
    run.succeed("reserve")
    assert run.status("gate") == "running" and run.status("charge") == "pending"
    started = next(e for e in run.events if e.event_type == "step.started" and e.step == "gate")
    assert started.data["condition"] is True


def test_every_step_after_a_branch_not_taken_is_skipped_without_evaluating_its_own() -> None:
    steps = [
        step("reserve"),
        step("gate", "reserve", when="input.amount > 10000"),
        step("audit", "gate", when="input.missing.field"),  # would fail if evaluated
        step("ship", "reserve"),
    ]
    run = Run(steps, {"amount": 5})
    run.succeed("reserve")
    assert run.skipped_events()["audit"] == {"reason": "condition", "dead_path": True}
    run.succeed("ship")
    assert run.state.status == "completed"


def test_a_condition_that_cannot_be_evaluated_fails_its_step_for_good() -> None:
    run = Run(GATED, {})
    run.succeed("reserve")
    gate = run.state.steps["gate"]
    assert run.status("gate") == "failed" and "no such field 'amount'" in (gate.error or "")
    # Before any pivot: the run turns to compensate what succeeded.
    assert run.state.status == "compensating" and run.status("reserve") == "compensating"


def test_a_step_that_failed_on_its_condition_is_not_retried() -> None:
    pivot = {**step("reserve"), "pivot": True}
    pivot.pop("compensation")
    run = Run([pivot, step("gate", "reserve", when="input.amount > 1")], {})
    run.succeed("reserve")
    assert run.state.status == "stuck"
    with pytest.raises(ActNotAllowed, match="failed on its condition"):
        decide(run.state, RetryStep("gate", "olga", "again"), now=run.now)


def test_a_condition_that_is_no_boolean_fails_too() -> None:
    run = Run([step("gate", when="input.amount")], {"amount": 3})
    assert "must be true or false" in (run.state.steps["gate"].error or "")


def test_a_pivot_on_a_branch_not_taken_is_no_pivot_passed() -> None:
    steps = [
        step("reserve"),
        {**step("charge", "reserve", when="input.card"), "pivot": True, "compensation": None},
        step("ship", "reserve", "charge"),
    ]
    steps[1].pop("compensation")
    run = Run(steps, {"card": False})
    run.succeed("reserve")
    assert run.status("charge") == "skipped" and run.state.pivot_passed is None
    run.fail("ship")
    assert run.state.status == "compensating"


def test_a_step_not_taken_owes_no_compensation() -> None:
    steps = [step("a"), step("b", "a", when="false"), step("c", "a", "b")]
    run = Run(steps, {})
    run.succeed("a")
    run.fail("c")
    started = [e.step for e in run.events if e.event_type == "step.compensation_started"]
    assert started == ["a"]


def test_a_step_an_operator_skipped_counts_as_ran() -> None:
    pivot = {**step("p"), "pivot": True}
    pivot.pop("compensation")
    after = [
        {k: v for k, v in step(sid, *deps).items() if k != "compensation"}
        for sid, deps in (("a", ["p"]), ("b", ["a"]))
    ]
    run = Run([pivot, *after], {})
    run.succeed("p")
    run.fail("a")
    assert run.state.status == "stuck"
    run.apply(SkipStep("a", "olga", "done by hand"))
    assert run.status("b") == "running"


def test_the_run_is_running_while_its_condition_is_evaluated() -> None:
    definition = definition_from_spec({"format": "sagaboard/v1", "steps": GATED})
    state = decide(initial_state(definition), RunStarted(), now=T0).state
    decision = decide(state, StepSucceeded("reserve", 1), now=T0 + 1)
    assert EvaluateCondition("gate", "input.amount > 10000") in decision.commands
    assert decision.state.status == "running"
    assert not any(e.event_type == "run.stuck" for e in decision.events)
    # Answered once; a second answer, or one for a step not ready, changes nothing.
    answered = decide(decision.state, ConditionEvaluated("gate", True), now=T0 + 2)
    assert StartStep("gate", 1, T0 + 2 + 30) in answered.commands
    assert decide(answered.state, ConditionEvaluated("gate", False), now=T0 + 3).ignored
    assert decide(state, ConditionEvaluated("charge", True), now=T0 + 3).ignored


def test_the_simulation_takes_the_branches_its_sample_input_says() -> None:
    definition = definition_from_spec({"format": "sagaboard/v1", "steps": GATED})
    small = simulate(definition, input={"amount": 10})
    big = simulate(definition, input={"amount": 20000})
    assert small.state.steps["gate"].status == "skipped"
    assert big.state.steps["gate"].status == "succeeded"
    assert small.state.status == big.state.status == "completed"


# --- validation


def issues_of(steps: list[dict[str, Any]], **spec: Any) -> tuple[list[str], list[str]]:
    from saga.issues import Catalog
    from saga.rules import graph_issues

    errors, warnings = graph_issues(
        {"format": "sagaboard/v1", "steps": steps, **spec}, Catalog({"demo.noop": False})
    )
    return [f"{i.step}.{i.field}: {i.message}" for i in errors], [
        f"{i.step}.{i.field}: {i.message}" for i in warnings
    ]


def test_a_condition_that_does_not_compile_is_refused_naming_step_and_field() -> None:
    errors, _ = issues_of([step("a", when="input.amount >")])
    assert len(errors) == 1 and errors[0].startswith("a.when: does not compile: Syntax error")
    assert "(line 1, column 15)" in errors[0]


def test_a_condition_may_read_only_what_it_can_know() -> None:
    errors, _ = issues_of(
        [
            step("a"),
            step("b", "a", when="steps.a.output.ok && steps.c.output.ok"),
            step("c", "b"),
            step("d", when="item.qty > 1 || steps.nope.output.x || steps.a.status == 'x'"),
        ]
    )
    assert errors == [
        "b.when: steps.c.output.ok: step c does not run before step b, so its output is not "
        "known when b's condition is evaluated (list it in after, directly or through another "
        "step)",
        "d.when: item.qty: item and index exist only in a map",
        "d.when: steps.nope.output.x: there is no step 'nope'",
        "d.when: steps.a.status: a step is read as steps.<id>.output",
    ]


def test_a_condition_is_checked_against_the_input_schema() -> None:
    schema = {"type": "object", "properties": {"amount": {"type": "number"}}}
    _, warnings = issues_of(
        [step("a", when="input.amount > 1 && input.amont > 2")], input_schema=schema
    )
    assert warnings == ["a.when: input.amont: the input schema declares no field 'amont'"]
    closed = {**schema, "additionalProperties": False}
    errors, _ = issues_of([step("a", when="input.amont > 2")], input_schema=closed)
    assert errors == ["a.when: input.amont: the input schema declares no field 'amont'"]


def test_the_output_template_names_only_steps_there_are() -> None:
    errors, _ = issues_of(
        [step("a")], output={"id": "{{ steps.a.output.id }}", "x": "{{ steps.b.output.y }}"}
    )
    assert errors == ["None.output.x: {{ steps.b.output.y }}: there is no step 'b'"]

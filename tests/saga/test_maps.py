"""Maps, as DESIGN.md's "Branches, maps and child sagas" states them, decided by the
kernel: iterations begin in index order, at most ``max_concurrency`` in flight, each with
its own attempts; a failure fails the map once those in flight settle; the succeeded
iterations are compensated highest index first; operators retry or skip one iteration."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from saga import (
    ActNotAllowed,
    AttemptLost,
    Decision,
    EvaluateItems,
    ItemsEvaluated,
    RetryStep,
    RunStarted,
    RunState,
    ScheduleRetry,
    SkipStep,
    StartCompensation,
    StartStep,
    StepFailed,
    StepSucceeded,
    StepTimedOut,
    UnknownStep,
    decide,
    definition_from_spec,
    due_happenings,
    initial_state,
)
from saga.issues import Catalog
from saga.rules import graph_issues, issues_beside_shape

T0 = 1_700_000_000.0


def spec(*, concurrency: int = 2, pivot_first: bool = False, compensation: bool = True) -> dict:
    do: dict[str, Any] = {
        "type": "task",
        "action": {"name": "demo.noop", "args": {"sku": "{{ item.sku }}", "n": "{{ index }}"}},
        "retry": {"max_attempts": 2, "initial_delay_s": 1, "jitter": "none"},
    }
    if compensation:
        do["compensation"] = {"name": "demo.noop"}
    steps: list[dict[str, Any]] = [
        {"id": "first", "type": "task", "action": {"name": "demo.noop"}},
        {
            "id": "lines",
            "type": "map",
            "after": ["first"],
            "items": "input.lines",
            "max_concurrency": concurrency,
            "do": do,
        },
        {"id": "last", "type": "task", "after": ["lines"], "action": {"name": "demo.noop"}},
    ]
    if pivot_first:
        steps[0]["pivot"] = True
    else:
        steps[0]["compensation"] = {"name": "demo.noop"}
    return {"format": "sagaboard/v1", "steps": steps}


class Run:
    """A run driven by hand through decide, keeping what it was told to start."""

    def __init__(self, raw: dict, items: int) -> None:
        self.state: RunState = initial_state(definition_from_spec(raw))
        self.now = T0
        self.started: list[StartStep] = []
        self.compensations: list[StartCompensation] = []
        self.last = self.apply(RunStarted())
        self.apply(StepSucceeded("first", 1))
        asked = [c for c in self.last.commands if isinstance(c, EvaluateItems)]
        assert asked == [EvaluateItems("lines", "input.lines")]
        self.apply(ItemsEvaluated("lines", items))

    def apply(self, happening: Any) -> Decision:
        self.now += 1
        decision = decide(self.state, happening, now=self.now)
        self.state = decision.state
        self.started += [c for c in decision.commands if isinstance(c, StartStep)]
        self.compensations += [c for c in decision.commands if isinstance(c, StartCompensation)]
        self.last = decision
        return decision

    def in_flight(self) -> list[int]:
        fan = self.state.steps["lines"].fan
        assert fan is not None
        return sorted(i for i, it in fan.iterations.items() if it.status == "running")

    def succeed(self, index: int, attempt: int = 1) -> Decision:
        return self.apply(StepSucceeded("lines", attempt, {"n": index}, index))


def test_iterations_begin_in_index_order_at_most_max_concurrency_at_a_time() -> None:
    run = Run(spec(concurrency=2), items=5)
    assert run.in_flight() == [0, 1]
    assert [(c.step, c.index) for c in run.started if c.step == "lines"] == [
        ("lines", 0),
        ("lines", 1),
    ]
    run.succeed(1)
    assert run.in_flight() == [0, 2]
    for index in (0, 2, 3, 4):
        assert run.state.steps["lines"].status == "running"
        run.succeed(index)
    lines = run.state.steps["lines"]
    assert lines.status == "succeeded" and lines.fan is not None
    assert (lines.fan.total, lines.fan.started, lines.fan.settled) == (5, 5, 5)
    assert run.started[-1].step == "last" and run.started[-1].index is None


def test_an_empty_list_succeeds_at_once_with_an_empty_output() -> None:
    run = Run(spec(), items=0)
    assert run.state.steps["lines"].status == "succeeded"
    assert run.state.steps["lines"].output == []
    assert run.started[-1].step == "last"


def test_a_late_or_repeated_answer_for_an_iteration_changes_nothing() -> None:
    run = Run(spec(concurrency=1), items=3)
    run.succeed(0)
    assert run.succeed(0).ignored
    assert run.apply(StepSucceeded("lines", 1, None, 2)).ignored  # not begun yet
    assert run.apply(StepSucceeded("lines", 2, None, 1)).ignored  # no such attempt
    assert run.in_flight() == [1]


def test_an_iteration_is_retried_on_its_own() -> None:
    run = Run(spec(), items=3)
    decision = run.apply(StepFailed("lines", 1, "busy", True, 1))
    retry = [c for c in decision.commands if isinstance(c, ScheduleRetry)]
    assert retry == [ScheduleRetry("lines", 1, run.now + 1, 1)]
    fan = run.state.steps["lines"].fan
    assert fan is not None and fan.iterations[1].status == "retrying"
    assert run.in_flight() == [0]  # a retrying iteration keeps its place: none begins


def test_a_failure_waits_for_the_iterations_in_flight_then_compensates_highest_first() -> None:
    run = Run(spec(concurrency=3), items=4)
    run.succeed(0)  # iteration 3 begins
    run.apply(StepFailed("lines", 1, "refused", False, 2))
    assert run.state.steps["lines"].status == "running"  # 1 and 3 are still in flight
    assert run.in_flight() == [1, 3]
    run.succeed(3)
    run.succeed(1)
    assert run.state.steps["lines"].status == "compensating"
    assert run.state.status == "compensating"
    assert [c.index for c in run.compensations] == [3, 1, 0]  # three at a time, from the top
    for index in (3, 1, 0):
        run.apply(_compensated(index))
    assert run.state.steps["lines"].status == "compensated"
    assert run.compensations[-1].step == "first"
    run.apply(_compensated(None, step="first"))
    assert run.state.status == "compensated"
    failed = [e for e in _events(run) if e.event_type == "step.failed"]
    assert failed == []  # (the failure was in an earlier decision)


def test_one_at_a_time_the_compensations_go_in_reverse_index_order() -> None:
    run = Run(spec(concurrency=1), items=3)
    run.succeed(0)
    run.succeed(1)
    run.apply(StepFailed("lines", 1, "refused", False, 2))
    order = []
    while run.compensations and run.compensations[-1].step == "lines":
        index = run.compensations[-1].index
        order.append(index)
        run.apply(_compensated(index))
    assert order == [1, 0]


def test_past_the_pivot_a_failed_iteration_leaves_the_run_stuck_until_an_operator_acts() -> None:
    run = Run(spec(pivot_first=True, compensation=False), items=3)
    run.apply(StepFailed("lines", 1, "refused", False, 0))
    run.succeed(1)
    assert run.state.steps["lines"].status == "failed"
    assert run.state.status == "stuck"
    assert run.state.steps["lines"].error == "iteration 0 failed: refused"
    with pytest.raises(ActNotAllowed, match="only a failed step"):
        run.apply(RetryStep("lines", "olga", "x", index=1))  # it succeeded
    run.apply(RetryStep("lines", "olga", "fixed", index=0))
    assert run.state.steps["lines"].status == "running"
    assert run.in_flight() == [0, 2]  # the rest begins again
    run.succeed(0, attempt=2)
    run.succeed(2)
    assert run.state.steps["lines"].status == "succeeded"


def test_an_operator_skips_a_failed_iteration_and_the_map_goes_on() -> None:
    run = Run(spec(pivot_first=True, compensation=False), items=2)
    run.apply(StepFailed("lines", 1, "refused", False, 0))
    run.succeed(1)
    run.apply(SkipStep("lines", "olga", "done by hand", index=0))
    assert run.state.steps["lines"].status == "succeeded"
    skipped = [e for e in run.last.events if e.event_type == "step.skipped"]
    assert skipped and skipped[0].data["index"] == 0


def test_retrying_the_whole_map_retries_each_failed_iteration() -> None:
    run = Run(spec(pivot_first=True, compensation=False), items=2)
    run.apply(StepFailed("lines", 1, "refused", False, 0))
    run.apply(StepFailed("lines", 1, "refused", False, 1))
    run.apply(RetryStep("lines", "olga", "participant is back"))
    assert run.in_flight() == [0, 1]


def test_an_iteration_that_does_not_exist_is_unknown() -> None:
    run = Run(spec(), items=2)
    with pytest.raises(UnknownStep):
        run.apply(RetryStep("lines", "olga", "x", index=5))
    with pytest.raises(UnknownStep):
        run.apply(StepSucceeded("first", 1, None, 0))


def test_items_that_cannot_be_had_fail_the_map_for_good() -> None:
    state = initial_state(definition_from_spec(spec()))
    state = decide(state, RunStarted(), now=T0).state
    state = decide(state, StepSucceeded("first", 1), now=T0).state
    decision = decide(state, ItemsEvaluated("lines", error="no such field 'lines'"), now=T0)
    assert decision.state.steps["lines"].status == "failed"
    assert "its items could not be had" in (decision.state.steps["lines"].error or "")
    with pytest.raises(ActNotAllowed, match="skip it instead"):
        decide(decision.state, RetryStep("lines", "olga", "x"), now=T0)


def test_what_is_due_names_the_iteration() -> None:
    run = Run(spec(), items=2)
    fan = run.state.steps["lines"].fan
    assert fan is not None
    deadline = fan.iterations[0].deadline_at
    assert deadline is not None
    # Claimed by a worker: its timeout counts from then.
    claimed = dataclasses.replace(fan.iterations[0], claimed_at=deadline - 30)  # at once
    fan = dataclasses.replace(fan, iterations={**fan.iterations, 0: claimed})
    lines = dataclasses.replace(run.state.steps["lines"], fan=fan)
    state = dataclasses.replace(run.state, steps={**run.state.steps, "lines": lines})
    due = due_happenings(state, deadline + 1)
    assert StepTimedOut("lines", 1, 0) in due
    assert not any(getattr(h, "step", "") == "lines" and h.index is None for h in due)
    lost = due_happenings(run.state, run.now + 20)
    assert AttemptLost("lines", 1, False, None, 1) in lost


def _compensated(index: int | None, *, step: str = "lines") -> Any:
    from saga import CompensationSucceeded

    return CompensationSucceeded(step, 1, index)


def _events(run: Run) -> list[Any]:
    return list(run.last.events)


# --- validation

CATALOG = Catalog({"demo.noop": True})


def test_a_valid_map_passes_validation() -> None:
    errors, warnings = graph_issues(spec(), CATALOG)
    assert errors == [] and [w for w in warnings if w.step == "lines"] == []


def test_item_and_index_exist_only_in_a_map() -> None:
    raw = spec()
    raw["steps"][2]["action"]["args"] = {"x": "{{ item.sku }}"}
    raw["steps"][1]["items"] = "input.lines.filter(l, l.qty > index)"
    errors, _ = graph_issues(raw, CATALOG)
    found = [(e.step, e.field, e.message) for e in errors]
    assert (
        "last",
        "action.args.x",
        "{{ item.sku }}: item and index exist only in the step a map runs for each item",
    ) in found
    assert any(f == "items" and "items come before its iterations" in m for _, f, m in found)


def test_a_map_names_its_inner_steps_problems() -> None:
    raw = spec()
    raw["steps"][1]["do"]["action"]["name"] = "demo.nope"
    raw["steps"][1]["items"] = "input.lines.("
    errors = issues_beside_shape(raw, set(), CATALOG)
    assert any(e.field == "do.action.name" for e in errors)
    errors, _ = graph_issues(raw, CATALOG)
    assert any(e.field == "items" and "does not compile" in e.message for e in errors)


def test_a_map_without_compensation_before_the_pivot_is_warned_of() -> None:
    _, warnings = graph_issues(spec(compensation=False), CATALOG)
    assert ("lines", "do.compensation") in [(w.step, w.field) for w in warnings]

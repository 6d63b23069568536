"""A map whose ``do`` is a child saga, decided by the kernel: each iteration waits for its
own child run without a deadline, the child's end answers that iteration alone (by its
index), a compensated child fails the map once the others settle, and compensating the
map asks each succeeded iteration's child, highest index first."""

from __future__ import annotations

import copy
from typing import Any

from saga import (
    CallbackCompleted,
    CompensationFailed,
    CompensationSucceeded,
    Decision,
    ItemsEvaluated,
    RunStarted,
    RunState,
    StartCompensation,
    StartStep,
    StepFailed,
    StepSucceeded,
    StepTimedOut,
    StepWaiting,
    decide,
    definition_from_spec,
    due_happenings,
    initial_state,
    simulate,
)

T0 = 1_700_000_000.0

SPEC: dict[str, Any] = {
    "format": "sagaboard/v1",
    "steps": [
        {
            "id": "pays",
            "type": "map",
            "items": "input.lines",
            "max_concurrency": 2,
            "do": {
                "type": "subsaga",
                "action": {"workflow": "payment", "input": {"line": "{{ index }}"}},
            },
        },
        {"id": "ship", "type": "task", "after": ["pays"], "action": {"name": "demo.noop"}},
    ],
}


class Run:
    def __init__(self, items: int, spec: dict[str, Any] = SPEC) -> None:
        self.state: RunState = initial_state(definition_from_spec(spec))
        self.now = T0
        self.apply(RunStarted())
        self.last = self.apply(ItemsEvaluated("pays", items))

    def apply(self, happening: Any) -> Decision:
        self.now += 1
        decision = decide(self.state, happening, now=self.now)
        self.state = decision.state
        self.last = decision
        return decision

    def iteration(self, index: int) -> Any:
        fan = self.state.steps["pays"].fan
        assert fan is not None
        return fan.iterations[index]

    def complete(self, index: int, output: Any) -> Decision:
        self.apply(StepWaiting("pays", 1, index))
        return self.apply(CallbackCompleted("pays", 1, True, output, index=index))


def test_each_iteration_waits_for_its_child_without_a_deadline_and_its_end_answers_it() -> None:
    run = Run(3)
    starts = [c for c in run.last.commands if isinstance(c, StartStep)]
    assert [(c.step, c.index) for c in starts] == [("pays", 0), ("pays", 1)]
    run.apply(StepWaiting("pays", 1, 1))
    assert run.iteration(1).status == "waiting" and run.iteration(1).deadline_at is None
    assert run.iteration(0).status == "running"
    # Nothing is ever due for a waiting child (iteration 0, never claimed, is not lost yet).
    assert due_happenings(run.state, run.now + 10_000_000, lost_after=float("inf")) == []
    # The child of iteration 1 ends: only that iteration hears of it; a repeat changes nothing.
    decision = run.apply(CallbackCompleted("pays", 1, True, {"charge": "c-1"}, index=1))
    assert run.iteration(1).status == "succeeded" and run.iteration(1).output == {"charge": "c-1"}
    assert [c.index for c in decision.commands if isinstance(c, StartStep)] == [2]
    assert run.apply(CallbackCompleted("pays", 1, True, {}, index=1)).ignored
    run.complete(0, {"charge": "c-0"})
    run.complete(2, {"charge": "c-2"})
    assert run.state.steps["pays"].status == "succeeded"
    assert run.state.steps["ship"].status == "running"


def test_a_compensated_child_fails_the_map_and_the_rest_are_compensated_highest_first() -> None:
    run = Run(3)
    run.apply(StepWaiting("pays", 1, 0))
    run.apply(StepWaiting("pays", 1, 1))
    run.apply(StepSucceeded("pays", 1, None, 0))  # not how a child saga answers: ignored
    assert run.iteration(0).status == "waiting"
    error = "the child run was compensated"
    run.apply(CallbackCompleted("pays", 1, False, error=error, retryable=False, index=1))
    # Iteration 1 failed for good, not retried; the map waits for iteration 0's child.
    assert run.iteration(1).status == "failed" and run.iteration(1).attempt == 1
    assert run.state.steps["pays"].status == "running"
    decision = run.complete(0, {"charge": "c-0"})
    assert run.state.steps["pays"].status == "compensating"
    assert run.state.status == "compensating"
    compensations = [c for c in decision.commands if isinstance(c, StartCompensation)]
    # The child is compensated for as long as it takes: no deadline.
    assert compensations == [StartCompensation("pays", 1, None, 0)]
    run.apply(CompensationSucceeded("pays", 1, 0))
    assert run.state.status == "compensated"


def test_compensating_the_map_asks_the_children_highest_index_first() -> None:
    run = Run(3)
    for index in (0, 1):
        run.complete(index, {"charge": f"c-{index}"})
    run.complete(2, {"charge": "c-2"})
    decision = run.apply(StepFailed("ship", 1, "no truck", retryable=False))
    asked = [c.index for c in decision.commands if isinstance(c, StartCompensation)]
    assert asked == [2, 1]
    # A child past its pivot: that iteration's compensation fails for good (and its place
    # goes to the next), the others go on, and the run is stuck once they are done.
    failed = CompensationFailed("pays", 1, "the child run has passed its pivot", False, 2)
    decision = run.apply(failed)
    assert run.iteration(2).status == "compensation_failed"
    assert [c.index for c in decision.commands if isinstance(c, StartCompensation)] == [0]
    run.apply(CompensationSucceeded("pays", 1, 1))
    run.apply(CompensationSucceeded("pays", 1, 0))
    assert run.state.steps["pays"].status == "compensation_failed"
    assert run.state.status == "stuck"


def test_the_simulation_runs_a_child_saga_map() -> None:
    definition = definition_from_spec(SPEC)
    happy = simulate(definition, input={"lines": [1, 2, 3]})
    assert happy.state.status == "completed"
    failing = simulate(definition, "pays", input={"lines": [1, 2, 3]})
    assert failing.state.status == "compensated"


def test_an_iteration_given_up_on_after_its_worker_was_lost_has_its_child_undone() -> None:
    # Iteration 1's worker may have started its child before it was lost: the attempt
    # times out, and with no attempt left the iteration fails unsure of what it began.
    # Its child is asked to undo itself with the others', highest index first.
    once = copy.deepcopy(SPEC)
    once["steps"][0]["do"]["retry"] = {"max_attempts": 1}
    run = Run(3, once)
    run.complete(0, {"charge": "c-0"})
    run.apply(StepTimedOut("pays", 1, 1))
    assert run.iteration(1).status == "failed" and run.iteration(1).outcome_unknown
    decision = run.complete(2, {"charge": "c-2"})
    assert run.state.status == "compensating"
    assert [c.index for c in decision.commands if isinstance(c, StartCompensation)] == [2, 1]
    decision = run.apply(CompensationSucceeded("pays", 1, 2))
    assert [c.index for c in decision.commands if isinstance(c, StartCompensation)] == [0]
    run.apply(CompensationSucceeded("pays", 1, 1))  # found no child, or undid it
    assert run.iteration(1).status == "compensated"
    assert run.state.steps["pays"].status == "compensating"
    run.apply(CompensationSucceeded("pays", 1, 0))
    assert run.state.steps["pays"].status == "compensated"
    assert run.state.status == "compensated"


def test_an_iteration_whose_child_was_compensated_owes_nothing_more() -> None:
    run = Run(2)
    run.complete(0, {"charge": "c-0"})
    run.apply(StepWaiting("pays", 1, 1))
    error = "the child run was compensated"
    decision = run.apply(CallbackCompleted("pays", 1, False, error=error, retryable=False, index=1))
    assert not run.iteration(1).outcome_unknown
    assert [c.index for c in decision.commands if isinstance(c, StartCompensation)] == [0]

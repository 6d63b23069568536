"""What is due, as the reconciler asks the kernel: timers, deadlines, lost messages, and a
run's progress deadline; and what delivering each does."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from types import MappingProxyType

from saga import (
    AttemptLost,
    RunDeadlinePassed,
    RunStarted,
    RunState,
    StartStep,
    StepState,
    decide,
    definition_from_spec,
    due_happenings,
    initial_state,
)
from saga.due import LOST_AFTER_S

T0 = 1_700_000_000.0
SPEC = {
    "format": "sagaboard/v1",
    "deadline_s": 600,
    "steps": [{"id": "a", "type": "task", "action": {"name": "demo.noop"}, "timeout_s": 3600}],
}


def started() -> RunState:
    return decide(initial_state(definition_from_spec(SPEC)), RunStarted(), now=T0).state


def with_step(state: RunState, **changes: object) -> RunState:
    steps = dict(state.steps)
    steps["a"] = dataclasses.replace(steps["a"], **changes)
    return dataclasses.replace(state, steps=MappingProxyType(steps))


def test_a_new_attempt_is_unclaimed_and_stamped_and_the_run_has_a_progress_deadline() -> None:
    state = started()
    assert state.steps["a"].claimed_at is None and state.steps["a"].changed_at == T0
    assert state.deadline_at == T0 + 600


def test_an_unclaimed_attempt_is_lost_only_once_it_has_waited_long_enough() -> None:
    state = started()
    assert due_happenings(state, T0 + LOST_AFTER_S - 1) == []
    assert due_happenings(state, T0 + LOST_AFTER_S) == [AttemptLost("a", 1, False, None)]


def test_a_claimed_attempt_is_never_lost_unless_its_worker_is_known_to_be_gone() -> None:
    state = with_step(started(), claimed_at=T0 + 1)
    assert due_happenings(state, T0 + 100) == []
    # A single-process install restarted: every claim before its start is a gone worker's.
    lost = due_happenings(state, T0 + 100, held_before=T0 + 50)
    assert lost == [AttemptLost("a", 1, False, T0 + 1)]


def test_a_lost_attempt_is_sent_again_unchanged_and_its_claim_released() -> None:
    state = with_step(started(), claimed_at=T0 + 1)
    decision = decide(state, AttemptLost("a", 1, False, T0 + 1), now=T0 + 100)
    assert not decision.ignored and decision.events == ()
    assert decision.commands == (StartStep("a", 1, T0 + 3600),)
    step = decision.state.steps["a"]
    assert (step.status, step.attempt, step.claimed_at, step.changed_at) == (
        "running",
        1,
        None,
        T0 + 100,
    )
    # A resend is no progress: the run's deadline stands.
    assert decision.state.deadline_at == state.deadline_at


def test_a_claim_taken_since_the_reconciler_looked_is_left_alone() -> None:
    state = with_step(started(), claimed_at=T0 + 90)
    assert decide(state, AttemptLost("a", 1, False, None), now=T0 + 100).ignored
    assert decide(state, AttemptLost("a", 2, False, T0 + 90), now=T0 + 100).ignored


def test_the_progress_deadline_makes_a_moving_run_stuck() -> None:
    state = with_step(started(), claimed_at=T0 + 1)
    assert RunDeadlinePassed() not in due_happenings(state, T0 + 599)
    assert RunDeadlinePassed() in due_happenings(state, T0 + 600)
    decision = decide(state, RunDeadlinePassed(), now=T0 + 600)
    assert decision.state.status == "stuck" and decision.state.stuck_since == T0 + 600
    assert decision.state.deadline_at is None
    assert RunDeadlinePassed() not in due_happenings(decision.state, T0 + 10_000)


def test_the_kernel_imports_only_the_standard_library_and_the_expression_library() -> None:
    import ast

    root = Path(__file__).resolve().parents[2] / "saga"
    outside = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            outside |= {
                name.split(".")[0]
                for name in names
                if name.split(".")[0] not in sys.stdlib_module_names | {"saga", "cel"}
            }
    assert outside == set()


def test_step_state_keeps_what_the_reconciler_needs() -> None:
    assert {"changed_at", "claimed_at"} <= {f.name for f in dataclasses.fields(StepState)}

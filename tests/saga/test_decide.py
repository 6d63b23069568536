"""The saga kernel's decide, move by move: no Django, no database, no clock."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from saga import (
    RUN_MOVES,
    STEP_MOVES,
    TERMINAL,
    ActNotAllowed,
    ApprovalDecided,
    CallbackCompleted,
    CancelRun,
    CompensateRun,
    CompensationFailed,
    CompensationSucceeded,
    CompensationTimedOut,
    Decision,
    Definition,
    DefinitionError,
    Emit,
    EventType,
    Happening,
    Jitter,
    OnTimeout,
    RetryPolicy,
    RetryStep,
    RunDeadlinePassed,
    RunStarted,
    RunState,
    RunStatus,
    ScheduleCompensationRetry,
    ScheduleRetry,
    SkipStep,
    StartCompensation,
    StartStep,
    StartTimer,
    StepDef,
    StepFailed,
    StepStatus,
    StepSucceeded,
    StepTimedOut,
    StepWaiting,
    TimerFired,
    UnknownStep,
    WaitForApproval,
    act_allowed,
    decide,
    definition_from_spec,
    due_happenings,
    initial_state,
    simulate,
)

T0 = 1_700_000_000.0


# --------------------------------------------------------------------------- helpers


def step(
    step_id: str,
    *after: str,
    type: str = "task",
    comp: bool = True,
    pivot: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    raw: dict[str, Any] = {"id": step_id, "type": type, "after": list(after)}
    if type == "task":
        raw["action"] = {"name": f"demo.{step_id}"}
        if comp:
            raw["compensation"] = {"name": f"demo.undo_{step_id}"}
    if pivot:
        raw["pivot"] = True
    raw.update(extra)
    return raw


def define(*steps: dict[str, Any], **spec: Any) -> Definition:
    return definition_from_spec({"format": "sagaboard/v1", "steps": list(steps), **spec})


class Run:
    """A run driven by hand: keeps the state, the clock and the whole event log."""

    def __init__(self, definition: Definition, *, start: bool = True) -> None:
        self.state: RunState = initial_state(definition)
        self.now = T0
        self.log: list[Emit] = []
        self.last = Decision(self.state)
        if start:
            self(RunStarted())

    def __call__(self, happening: Happening, *, jitter: float = 1.0, after: float = 0) -> Decision:
        self.now += after
        decision = decide(self.state, happening, now=self.now, jitter=jitter)
        self.state = decision.state
        self.log.extend(decision.events)
        self.last = decision
        return decision

    @property
    def status(self) -> RunStatus:
        return self.state.status

    def step(self, step_id: str) -> StepStatus:
        return self.state.steps[step_id].status

    def attempt(self, step_id: str) -> int:
        return self.state.steps[step_id].attempt

    def succeed(self, *step_ids: str) -> Decision:
        for step_id in step_ids:
            self(StepSucceeded(step_id, self.attempt(step_id), {"id": step_id}))
        return self.last

    def fail(self, step_id: str, retryable: bool = False) -> Decision:
        return self(StepFailed(step_id, self.attempt(step_id), "boom", retryable))

    def compensated(self, *step_ids: str) -> Decision:
        for step_id in step_ids:
            attempt = self.state.steps[step_id].compensation_attempt
            self(CompensationSucceeded(step_id, attempt))
        return self.last


def started(decision: Decision) -> list[str]:
    return [c.step for c in decision.commands if isinstance(c, StartStep)]


def compensations(decision: Decision) -> list[str]:
    return [c.step for c in decision.commands if isinstance(c, StartCompensation)]


def others(decision: Decision) -> list[Any]:
    return [c for c in decision.commands if not isinstance(c, Emit)]


def events(decision_or_log: Decision | list[Emit]) -> list[tuple[str, str | None, str]]:
    log = decision_or_log.events if isinstance(decision_or_log, Decision) else decision_or_log
    return [(e.event_type.value, e.step, e.status) for e in log]


def ignored(run: Run, happening: Happening) -> None:
    before = run.state
    decision = run(happening)
    assert decision.ignored
    assert decision.commands == ()
    assert decision.state is before


# The order saga: reserve, then hold credit and book a courier in parallel, then
# charge (the pivot), then ship.
ORDER = (
    step("reserve"),
    step("hold_credit", "reserve"),
    step("book_courier", "reserve"),
    step("charge", "hold_credit", "book_courier", pivot=True, comp=False),
    step("ship", "charge", comp=False),
)


# --------------------------------------------------------------------------- definitions


def test_built_in_defaults_apply_when_the_spec_has_none() -> None:
    d = define(step("a"))
    a = d.step("a")
    assert a.retry == RetryPolicy(3, 1.0, 2.0, 60.0, Jitter.FULL)
    assert a.timeout_s == 30.0
    assert a.has_compensation and not a.pivot and a.type == "task"


def test_spec_defaults_fill_what_a_step_leaves_out_field_by_field() -> None:
    d = define(
        step("a"),
        step("b", "a", timeout_s=5, retry={"max_attempts": 7}),
        defaults={"timeout_s": 12, "retry": {"backoff": 3, "jitter": "equal", "max_attempts": 4}},
    )
    assert d.step("a").timeout_s == 12.0
    assert d.step("a").retry == RetryPolicy(4, 1.0, 3.0, 60.0, Jitter.EQUAL)
    assert d.step("b").timeout_s == 5.0
    assert d.step("b").retry == RetryPolicy(7, 1.0, 3.0, 60.0, Jitter.EQUAL)


def test_approval_and_delay_steps_take_their_settings_from_the_action() -> None:
    d = define(
        step(
            "ok", type="approval", action={"group": "m", "timeout_s": 600, "on_timeout": "approve"}
        ),
        step("later", "ok", type="delay", action={"seconds": 90}),
        step("open", type="approval", action={"group": "m"}),
        defaults={"retry": {"max_attempts": 5}},
    )
    ok, later, open_ = d.step("ok"), d.step("later"), d.step("open")
    assert (ok.timeout_s, ok.on_timeout, ok.retry.max_attempts) == (600.0, OnTimeout.APPROVE, 1)
    assert (open_.timeout_s, open_.on_timeout) == (None, OnTimeout.REJECT)
    assert (later.delay_s, later.timeout_s) == (90.0, None)


def test_graph_order_is_topological_with_ties_broken_by_position() -> None:
    d = define(step("z"), step("y", "x"), step("x"), step("w", "z"))
    assert d.order == ("z", "x", "y", "w")
    assert d.descendants("z") == {"w"}
    assert d.ancestors("y") == {"x"}
    assert define(*ORDER, deadline_s=3600).deadline_s == 3600.0


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ((step("a", "b"), step("b", "a")), "cycle"),
        ((step("a", "nope"),), "after names no step 'nope'"),
        ((step("a"), step("a")), "used twice"),
    ],
)
def test_broken_graphs_are_refused(steps: tuple[dict[str, Any], ...], message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        define(*steps)


@pytest.mark.parametrize(
    ("jitter_kind", "n", "jitter", "expected"),
    [
        (Jitter.NONE, 1, 0.5, 1.0),
        (Jitter.NONE, 2, 0.5, 2.0),
        (Jitter.NONE, 3, 0.5, 4.0),
        (Jitter.NONE, 9, 0.5, 60.0),  # capped at max_delay_s
        (Jitter.FULL, 3, 0.25, 1.0),
        (Jitter.FULL, 3, 0.0, 0.0),
        (Jitter.EQUAL, 3, 0.0, 2.0),
        (Jitter.EQUAL, 3, 0.5, 3.0),
        (Jitter.NONE, 10_000, 0.5, 60.0),  # no overflow on absurd rounds
    ],
)
def test_retry_delay(jitter_kind: Jitter, n: int, jitter: float, expected: float) -> None:
    assert RetryPolicy(jitter=jitter_kind).delay_s(n, jitter) == pytest.approx(expected)


def test_statuses_and_moves_are_written_down_once_and_completely() -> None:
    assert set(RUN_MOVES) == set(RunStatus)
    assert set(STEP_MOVES) == set(StepStatus)
    # A completed run leaves its status only when its parent compensates it (a child run).
    assert {s for s in RunStatus if not RUN_MOVES[s]} == TERMINAL - {RunStatus.COMPLETED}
    assert RUN_MOVES[RunStatus.COMPLETED] == {RunStatus.COMPENSATING}
    assert RunStatus.STUCK not in TERMINAL
    assert [s.value for s in RunStatus] == [
        "pending", "running", "waiting", "compensating",
        "completed", "compensated", "stuck", "cancelled",
    ]  # fmt: skip
    assert [s.value for s in StepStatus] == [
        "pending", "running", "retrying", "waiting", "succeeded", "failed",
        "skipped", "compensating", "compensated", "compensation_failed",
    ]  # fmt: skip
    assert {e.value for e in EventType} == {
        "run.started", "run.completed", "run.compensating", "run.compensated",
        "run.stuck", "run.cancelled", "step.started", "step.succeeded", "step.failed",
        "step.retry_scheduled", "step.waiting", "step.skipped",
        "step.compensation_started", "step.compensated", "step.compensation_failed",
        "act.retry", "act.skip", "act.compensate", "act.cancel", "act.approve", "act.reject",
    }  # fmt: skip


# --------------------------------------------------------------------------- the happy path


def test_happy_path_runs_parallel_branches_and_completes() -> None:
    run = Run(define(*ORDER, defaults={"timeout_s": 10}))
    first = run.last
    assert run.status is RunStatus.RUNNING
    assert others(first) == [StartStep("reserve", 1, T0 + 10)]
    assert events(first) == [
        ("run.started", None, "running"),
        ("step.started", "reserve", "running"),
    ]

    assert started(run.succeed("reserve")) == ["hold_credit", "book_courier"]
    assert started(run.succeed("hold_credit")) == []  # charge waits for both branches
    assert started(run.succeed("book_courier")) == ["charge"]
    assert started(run.succeed("charge")) == ["ship"]
    last = run.succeed("ship")

    assert run.status is RunStatus.COMPLETED and run.state.terminal
    assert events(last)[-1] == ("run.completed", None, "completed")
    assert all(run.attempt(s) == 1 for s in run.state.steps)
    assert run.state.steps["reserve"].output == {"id": "reserve"}
    assert [e.event_type.value for e in run.log].count("step.started") == 5


def test_step_events_carry_attempt_and_latency() -> None:
    run = Run(define(step("a")))
    decision = run(StepSucceeded("a", 1, "out"), after=2.5)
    succeeded = decision.events[0]
    assert (succeeded.event_type, succeeded.attempt) == (EventType.STEP_SUCCEEDED, 1)
    assert succeeded.data["latency_ms"] == 2500


def test_a_run_starts_once() -> None:
    run = Run(define(step("a")))
    ignored(run, RunStarted())


# --------------------------------------------------------------------------- retries


def test_retryable_failures_back_off_then_fail_for_good() -> None:
    policy = {"max_attempts": 3, "initial_delay_s": 2, "backoff": 3, "jitter": "full"}
    run = Run(define(step("a", retry=policy), step("b", "a")))

    decision = run(StepFailed("a", 1, "503", True), jitter=0.5)
    assert run.step("a") is StepStatus.RETRYING and run.status is RunStatus.RUNNING
    assert others(decision) == [ScheduleRetry("a", 1, run.now + 1.0)]  # 2 s, half of it
    assert events(decision) == [("step.retry_scheduled", "a", "retrying")]
    assert decision.events[0].error == "503"

    assert others(run(TimerFired("a", 1), after=1)) == [StartStep("a", 2, run.now + 30)]
    decision = run(StepFailed("a", 2, "503", True), jitter=0.5)
    assert others(decision) == [ScheduleRetry("a", 2, run.now + 3.0)]  # 2 * 3, half of it

    run(TimerFired("a", 2), after=3)
    decision = run(StepFailed("a", 3, "503 again", True))
    assert run.step("a") is StepStatus.FAILED  # three attempts: the round is over
    assert not [c for c in others(decision) if isinstance(c, ScheduleRetry)]
    assert events(decision)[0] == ("step.failed", "a", "failed")
    # Retryable in kind, but out of attempts: the error says so, and what the last was.
    assert decision.events[0].error == "gave up after 3 attempts; the last: 503 again"
    assert run.status is RunStatus.COMPENSATED  # nothing had succeeded, nothing to undo
    assert run.step("b") is StepStatus.PENDING


@pytest.mark.parametrize(("kind", "expected"), [("full", 2.0), ("equal", 3.0), ("none", 4.0)])
def test_jitter_kinds_spread_the_delay(kind: str, expected: float) -> None:
    policy = {"initial_delay_s": 4, "jitter": kind}
    run = Run(define(step("a", retry=policy)))
    decision = run(StepFailed("a", 1, "x", True), jitter=0.5)
    assert others(decision) == [ScheduleRetry("a", 1, run.now + expected)]
    assert decision.events[0].data["delay_s"] == expected


def test_a_permanent_error_is_not_retried() -> None:
    run = Run(define(step("a"), step("b", "a")))
    run.succeed("a")
    decision = run(StepFailed("b", 1, "402 payment required", retryable=False))
    assert run.step("b") is StepStatus.FAILED
    assert decision.events[0].error == "402 payment required"
    assert not any(isinstance(c, ScheduleRetry) for c in decision.commands)
    assert decision.events[0].data["retryable"] is False


def test_a_timeout_is_a_retryable_failure() -> None:
    run = Run(define(step("a", timeout_s=10)))
    assert others(run.last) == [StartStep("a", 1, T0 + 10)]
    decision = run(StepTimedOut("a", 1), after=10)
    assert run.step("a") is StepStatus.RETRYING
    assert "timed out" in (decision.events[0].error or "")
    run(TimerFired("a", 1), after=1)
    assert run.attempt("a") == 2 and run.step("a") is StepStatus.RUNNING


# --------------------------------------------------------------------------- compensation


def test_compensation_runs_in_reverse_graph_order_across_parallel_branches() -> None:
    run = Run(define(step("a"), step("b", "a"), step("c", "a"), step("d", "b", "c")))
    run.succeed("a", "b", "c")
    decision = run.fail("d")
    assert events(decision)[:2] == [
        ("step.failed", "d", "failed"),
        ("run.compensating", None, "compensating"),
    ]
    assert compensations(decision) == ["c", "b"]  # both branches at once, in reverse order
    assert run.status is RunStatus.COMPENSATING
    assert compensations(run.compensated("b")) == []  # a waits for c as well
    assert compensations(run.compensated("c")) == ["a"]
    decision = run.compensated("a")
    assert run.status is RunStatus.COMPENSATED
    assert events(decision)[-1] == ("run.compensated", None, "compensated")
    assert {s: run.step(s) for s in "abcd"} == {
        "a": StepStatus.COMPENSATED,
        "b": StepStatus.COMPENSATED,
        "c": StepStatus.COMPENSATED,
        "d": StepStatus.FAILED,
    }


def test_a_step_without_compensation_is_left_succeeded_and_does_not_block() -> None:
    run = Run(define(step("a"), step("x", "a", comp=False), step("y", "x"), step("z", "y")))
    run.succeed("a", "x", "y")
    assert compensations(run.fail("z")) == ["y"]
    assert compensations(run.compensated("y")) == ["a"]
    run.compensated("a")
    assert run.status is RunStatus.COMPENSATED
    assert run.step("x") is StepStatus.SUCCEEDED


def test_compensation_waits_for_steps_in_flight_and_undoes_them_if_they_succeed() -> None:
    run = Run(define(step("a"), step("b", "a"), step("c", "a")))
    run.succeed("a")
    assert compensations(run.fail("b")) == []  # c is still running
    assert run.status is RunStatus.COMPENSATING
    assert compensations(run.succeed("c")) == ["c"]
    assert compensations(run.compensated("c")) == ["a"]


def test_a_step_in_flight_that_fails_is_not_compensated_and_not_retried() -> None:
    run = Run(define(step("a"), step("b", "a"), step("c", "a")))
    run.succeed("a")
    run.fail("b")
    decision = run(StepFailed("c", 1, "503", retryable=True))
    assert run.step("c") is StepStatus.FAILED
    assert others(decision) == [StartCompensation("a", 1, run.now + 30)]


def test_retrying_and_waiting_steps_are_abandoned_and_pending_ones_never_start() -> None:
    run = Run(
        define(
            step("a"),
            step("b", "a"),
            step("c", "a"),
            step("ok", "a", type="approval", action={"group": "m"}),
            step("pause", "a", type="delay", action={"seconds": 60}),
            step("d", "c"),
        )
    )
    run.succeed("a")
    run(StepFailed("c", 1, "503", True))
    decision = run.fail("b")
    abandoned = [
        (e.step, e.error) for e in decision.events if e.event_type is EventType.STEP_FAILED
    ]
    assert abandoned[1:] == [
        ("c", "abandoned: the run is compensating"),
        ("ok", "abandoned: the run is compensating"),
        ("pause", "abandoned: the run is compensating"),
    ]
    assert compensations(decision) == ["a"]
    ignored(run, TimerFired("c", 1))
    ignored(run, TimerFired("pause", 1))
    with pytest.raises(ActNotAllowed, match="ok has failed; only a waiting approval"):
        run(ApprovalDecided("ok", True, by="maria"))
    run.compensated("a")
    assert run.status is RunStatus.COMPENSATED
    assert run.step("d") is StepStatus.PENDING


def test_a_waiting_callback_whose_call_was_made_is_compensated() -> None:
    callback = step(
        "cb", "a", type="callback", compensation={"method": "DELETE", "url": "http://x"}
    )
    run = Run(define(step("a"), callback, step("b", "a"), step("plain", "a", type="callback")))
    run.succeed("a")
    run(StepWaiting("cb", 1))
    run(StepWaiting("plain", 1))
    decision = run.fail("b")
    assert ("step.failed", "plain", "failed") in events(decision)
    assert compensations(decision) == ["cb"]
    ignored(run, CallbackCompleted("cb", 1, True))  # too late: its compensation has begun
    assert compensations(run.compensated("cb")) == ["a"]


def test_compensations_retry_with_the_step_policy_then_get_stuck() -> None:
    run = Run(define(step("a", retry={"max_attempts": 2, "jitter": "none"}), step("b", "a")))
    run.succeed("a")
    run.fail("b")
    decision = run(CompensationFailed("a", 1, "503", True))
    assert others(decision) == [ScheduleCompensationRetry("a", 1, run.now + 1)]
    assert events(decision) == [("step.retry_scheduled", "a", "compensating")]
    ignored(run, TimerFired("a", 1))  # a step timer, not the compensation's
    decision = run(TimerFired("a", 1, compensation=True), after=1)
    assert others(decision) == [StartCompensation("a", 2, run.now + 30)]
    decision = run(CompensationTimedOut("a", 2))
    assert run.step("a") is StepStatus.COMPENSATION_FAILED
    assert run.status is RunStatus.STUCK and not run.state.terminal
    assert events(decision)[-1] == ("run.stuck", None, "stuck")

    decision = run(RetryStep("a", by="olga", reason="refunds are back"))
    assert events(decision)[:2] == [
        ("act.retry", "a", "compensating"),
        ("step.compensation_started", "a", "compensating"),
    ]
    assert run.state.steps["a"].compensation_round_start == 3
    run.compensated("a")
    assert run.status is RunStatus.COMPENSATED


def test_skipping_a_failed_compensation_lets_compensation_go_on() -> None:
    run = Run(define(step("a"), step("b", "a"), step("c", "b")))
    run.succeed("a", "b")
    run.fail("c")
    run(CompensationFailed("b", 1, "404", retryable=False))
    assert run.status is RunStatus.STUCK
    decision = run(SkipStep("b", by="olga", reason="already gone"))
    assert events(decision)[:3] == [
        ("act.skip", "b", "compensating"),
        ("step.skipped", "b", "skipped"),
        ("step.compensation_started", "a", "compensating"),
    ]
    run.compensated("a")
    assert run.status is RunStatus.COMPENSATED


def test_a_workflow_without_a_pivot_compensates_at_its_last_step() -> None:
    run = Run(define(step("a"), step("b", "a"), step("c", "b", comp=False)))
    run.succeed("a", "b")
    assert compensations(run.fail("c")) == ["b"]


# --------------------------------------------------------------------------- pivot


def test_after_the_pivot_a_failure_leaves_the_run_stuck_until_retried() -> None:
    run = Run(define(*ORDER))
    run.succeed("reserve", "hold_credit", "book_courier", "charge")
    decision = run(StepFailed("ship", 1, "410 gone", retryable=False))
    assert run.status is RunStatus.STUCK
    assert compensations(decision) == []
    assert events(decision) == [("step.failed", "ship", "failed"), ("run.stuck", None, "stuck")]
    with pytest.raises(ActNotAllowed) as refused:
        run(CompensateRun(by="olga"))
    assert refused.value.message == "the pivot charge has succeeded; the run can only move forward"

    decision = run(RetryStep("ship", by="olga", reason="courier is back"))
    assert others(decision) == [StartStep("ship", 2, run.now + 30)]
    assert events(decision)[0] == ("act.retry", "ship", "running")
    assert decision.events[0].data == {"actor": "olga", "reason": "courier is back"}
    assert run.state.steps["ship"].round_start == 2
    run.succeed("ship")
    assert run.status is RunStatus.COMPLETED


def test_other_branches_go_on_after_the_pivot_while_one_is_stuck() -> None:
    run = Run(
        define(step("p", pivot=True, comp=False), step("x", "p"), step("y", "p"), step("z", "y"))
    )
    run.succeed("p")
    run.fail("x")
    assert run.status is RunStatus.STUCK
    assert started(run.succeed("y")) == ["z"]
    run.succeed("z")
    assert run.status is RunStatus.STUCK
    run(SkipStep("x", by="olga", reason="done by hand"))
    assert run.status is RunStatus.COMPLETED


def test_a_pivot_that_succeeds_while_compensation_waits_sends_the_run_forward() -> None:
    run = Run(
        define(step("a"), step("p", "a", pivot=True, comp=False), step("b", "a"), step("q", "p"))
    )
    run.succeed("a")
    run.fail("b")
    assert run.status is RunStatus.COMPENSATING  # waiting for p, still in flight
    decision = run.succeed("p")
    assert started(decision) == ["q"] and compensations(decision) == []
    assert run.status is RunStatus.STUCK and not run.state.compensating
    run.succeed("q")
    run(RetryStep("b", by="olga"))
    run.succeed("b")
    assert run.status is RunStatus.COMPLETED


def test_a_skipped_pivot_counts_as_passed() -> None:
    run = Run(define(step("a"), step("p", "a", pivot=True, comp=False), step("b", "p")))
    run.succeed("a")
    run(StepFailed("p", 1, "503", True))
    run(SkipStep("p", by="olga", reason="charged by phone"))
    assert run.state.pivot_passed == "p"
    with pytest.raises(
        ActNotAllowed, match="the pivot p was skipped; the run can only move forward"
    ):
        run(CompensateRun(by="olga"))


# ---------------------------------------------------------------- approval, delay, callback


def approval_run(**action: Any) -> Run:
    ok = step("ok", "a", type="approval", action={"group": "managers", **action})
    return Run(define(step("a"), ok, step("b", "ok")))


def test_an_approved_step_succeeds_and_the_run_goes_on() -> None:
    run = approval_run(timeout_s=600)
    decision = run.succeed("a")
    assert others(decision) == [WaitForApproval("ok", run.now + 600, 1)]
    assert events(decision)[-1] == ("step.waiting", "ok", "waiting")
    assert run.status is RunStatus.WAITING
    decision = run(ApprovalDecided("ok", True, by="maria", comment="fine"))
    assert events(decision)[:2] == [
        ("act.approve", "ok", "running"),
        ("step.succeeded", "ok", "succeeded"),
    ]
    assert decision.events[0].data == {"actor": "maria", "reason": "fine"}
    assert started(decision) == ["b"]


def test_a_rejected_step_fails_for_good_and_compensates() -> None:
    run = approval_run()
    run.succeed("a")
    decision = run(ApprovalDecided("ok", False, by="maria", comment="too big"))
    assert events(decision)[:3] == [
        ("act.reject", "ok", "compensating"),
        ("step.failed", "ok", "failed"),
        ("run.compensating", None, "compensating"),
    ]
    assert decision.events[1].error == "rejected by maria: too big"
    assert compensations(decision) == ["a"]


@pytest.mark.parametrize(
    ("on_timeout", "outcome"), [("approve", StepStatus.SUCCEEDED), ("reject", StepStatus.FAILED)]
)
def test_an_approval_nobody_decides_follows_on_timeout(
    on_timeout: str, outcome: StepStatus
) -> None:
    run = approval_run(timeout_s=60, on_timeout=on_timeout)
    run.succeed("a")
    assert due_happenings(run.state, run.now + 59) == []
    assert due_happenings(run.state, run.now + 60) == [StepTimedOut("ok", 1)]
    decision = run(StepTimedOut("ok", 1), after=60)
    assert run.step("ok") is outcome
    assert not any(isinstance(c, ScheduleRetry) for c in decision.commands)  # never retried


def test_deciding_what_is_not_a_waiting_approval_is_refused() -> None:
    run = approval_run()
    with pytest.raises(ActNotAllowed, match="step ok has not started; only a waiting approval"):
        run(ApprovalDecided("ok", True, by="maria"))
    with pytest.raises(ActNotAllowed, match="step a is not an approval"):
        run(ApprovalDecided("a", True, by="maria"))
    run.succeed("a")
    run(ApprovalDecided("ok", True, by="maria"))
    with pytest.raises(ActNotAllowed, match="step ok has succeeded"):
        run(ApprovalDecided("ok", False, by="ivan"))


def test_a_delay_waits_on_a_timer() -> None:
    run = Run(define(step("pause", type="delay", action={"seconds": 90}), step("b", "pause")))
    assert others(run.last) == [StartTimer("pause", T0 + 90, 1)]
    assert run.status is RunStatus.WAITING and run.step("pause") is StepStatus.WAITING
    ignored(run, StepTimedOut("pause", 1))
    assert due_happenings(run.state, T0 + 90) == [TimerFired("pause", 1)]
    decision = run(TimerFired("pause", 1), after=90)
    assert events(decision)[0] == ("step.succeeded", "pause", "succeeded")
    assert started(decision) == ["b"]
    ignored(run, TimerFired("pause", 1))


def test_a_callback_waits_for_its_participant() -> None:
    run = Run(define(step("cb", type="callback", timeout_s=300), step("b", "cb")))
    assert others(run.last) == [StartStep("cb", 1, T0 + 300)]
    decision = run(StepWaiting("cb", 1))
    assert events(decision) == [("step.waiting", "cb", "waiting")]
    assert run.status is RunStatus.WAITING
    decision = run(CallbackCompleted("cb", 1, True, output={"tracking": "X1"}))
    assert run.state.steps["cb"].output == {"tracking": "X1"}
    assert started(decision) == ["b"]


def test_a_callback_that_times_out_is_retried_and_its_late_answer_ignored() -> None:
    run = Run(define(step("cb", type="callback", timeout_s=300)))
    run(StepWaiting("cb", 1))
    run(StepTimedOut("cb", 1), after=300)
    assert run.step("cb") is StepStatus.RETRYING
    run(TimerFired("cb", 1), after=1)
    ignored(run, CallbackCompleted("cb", 1, True))
    run(CallbackCompleted("cb", 2, False, error="declined"))
    assert run.step("cb") is StepStatus.RETRYING


def test_a_callback_answered_before_its_wait_was_recorded_counts() -> None:
    run = Run(define(step("cb", type="callback")))
    run(CallbackCompleted("cb", 1, True))
    assert run.status is RunStatus.COMPLETED
    ignored(run, StepWaiting("cb", 1))


# --------------------------------------------------------------------------- fencing


def test_duplicate_and_late_happenings_change_nothing() -> None:
    run = Run(define(step("a"), step("b", "a"), step("c", "b")))
    run(StepFailed("a", 1, "503", True))
    ignored(run, StepFailed("a", 1, "503", True))  # duplicate
    ignored(run, StepSucceeded("a", 1))  # the first attempt, answering too late
    ignored(run, TimerFired("a", 2))  # no such timer yet
    run(TimerFired("a", 1))
    ignored(run, TimerFired("a", 1))  # redelivered
    ignored(run, StepTimedOut("a", 1))
    run.succeed("a")
    ignored(run, StepSucceeded("a", 2))
    ignored(run, StepWaiting("b", 1))  # a task step never waits
    ignored(run, CompensationSucceeded("a", 1))
    ignored(run, CallbackCompleted("b", 1, True))  # not a callback
    run.succeed("b")
    run.fail("c")
    ignored(run, CompensationSucceeded("b", 2))
    run.compensated("b")
    ignored(run, CompensationSucceeded("b", 1))
    ignored(run, CompensationFailed("b", 1, "x"))


def test_happenings_about_unknown_steps_are_refused() -> None:
    run = Run(define(step("a")))
    with pytest.raises(UnknownStep):
        run(StepSucceeded("nope", 1))


# --------------------------------------------------------------------------- acts


def test_retry_runs_a_retrying_step_now_with_a_fresh_round() -> None:
    run = Run(define(step("a", retry={"max_attempts": 2})))
    run(StepFailed("a", 1, "503", True))
    decision = run(RetryStep("a", by="olga", reason="now"))
    assert started(decision) == ["a"] and run.attempt("a") == 2
    assert run.state.steps["a"].round_start == 2
    ignored(run, TimerFired("a", 1))  # the old timer fires for nothing
    run(StepFailed("a", 2, "503", True))
    assert run.step("a") is StepStatus.RETRYING  # a fresh round: two more attempts


@pytest.mark.parametrize(
    ("act", "message"),
    [
        (RetryStep("a", by="o"), "step a has succeeded; only a failed step can be retried"),
        (RetryStep("b", by="o"), "step b is running; only a failed step can be retried"),
        (SkipStep("a", by="o"), "step a has succeeded; only a failed, retrying, waiting"),
        (SkipStep("b", by="o"), "step b is running; wait for its attempt to finish"),
        (SkipStep("c", by="o"), "step c has not started; only a step blocked by a failed one"),
    ],
)
def test_acts_the_state_does_not_allow_are_refused_with_a_reason(
    act: RetryStep | SkipStep, message: str
) -> None:
    run = Run(define(step("a"), step("b", "a"), step("c", "b")))
    run.succeed("a")
    before = run.state
    with pytest.raises(ActNotAllowed, match=message):
        run(act)
    assert run.state is before
    assert not act_allowed(run.state, act)


def test_skip_lets_dependents_run_and_unblocks_pending_steps() -> None:
    run = Run(
        define(
            step("p", pivot=True, comp=False),
            step("x", "p"),
            step("y", "x"),
            step("z", "y"),
            step("r", "p"),
            step("q", "r"),
        )
    )
    run.succeed("p")
    run.fail("x")
    assert act_allowed(run.state, SkipStep("y", by="o"))  # blocked by x
    assert act_allowed(run.state, SkipStep("z", by="o"))  # blocked by x, through y
    assert not act_allowed(run.state, SkipStep("q", by="o"))  # only waits for r
    decision = run(SkipStep("y", by="olga", reason="not needed"))
    assert events(decision) == [
        ("act.skip", "y", "stuck"),
        ("step.skipped", "y", "skipped"),
        ("step.started", "z", "running"),
    ]
    run.succeed("z", "r", "q")
    decision = run(SkipStep("x", by="olga", reason="done by hand"))
    assert run.status is RunStatus.COMPLETED


def test_skip_a_waiting_approval() -> None:
    run = approval_run()
    run.succeed("a")
    decision = run(SkipStep("ok", by="olga", reason="approved on the phone"))
    assert started(decision) == ["b"]


def test_compensate_is_allowed_before_the_pivot_only_and_once() -> None:
    run = Run(define(*ORDER))
    run.succeed("reserve", "hold_credit")
    decision = run(CompensateRun(by="olga", reason="customer called"))
    assert events(decision)[:2] == [
        ("act.compensate", None, "compensating"),
        ("run.compensating", None, "compensating"),
    ]
    assert compensations(decision) == []  # book_courier is in flight
    with pytest.raises(ActNotAllowed, match="already compensating"):
        run(CompensateRun(by="olga"))
    with pytest.raises(ActNotAllowed, match="only a failed compensation can be retried"):
        run(RetryStep("book_courier", by="olga"))
    assert compensations(run.succeed("book_courier")) == ["book_courier", "hold_credit"]
    run.compensated("book_courier", "hold_credit", "reserve")
    assert run.status is RunStatus.COMPENSATED
    with pytest.raises(
        ActNotAllowed, match="the run has been compensated; it cannot be compensated"
    ):
        run(CompensateRun(by="olga"))


def test_acts_on_a_finished_or_unstarted_run_are_refused() -> None:
    run = Run(define(step("a")), start=False)
    with pytest.raises(ActNotAllowed, match="the run has not started"):
        run(RetryStep("a", by="o"))
    run(RunStarted())
    run.succeed("a")
    for act in (
        RetryStep("a", by="o"),
        SkipStep("a", by="o"),
        CompensateRun(by="o"),
        CancelRun(by="o"),
    ):
        with pytest.raises(ActNotAllowed, match="the run has completed"):
            run(act)


def test_cancel_records_in_flight_answers_and_starts_nothing() -> None:
    run = Run(define(step("a"), step("b", "a"), step("c", "a"), step("d", "b", "c")))
    run.succeed("a")
    run(StepFailed("c", 1, "503", True))
    decision = run(CancelRun(by="olga", reason="duplicate order"))
    assert events(decision) == [
        ("act.cancel", None, "cancelled"),
        ("step.failed", "c", "failed"),
        ("run.cancelled", None, "cancelled"),
    ]
    assert decision.events[0].data == {"actor": "olga", "reason": "duplicate order"}
    assert others(decision) == []
    decision = run.succeed("b")  # recorded, but d does not start
    assert run.step("b") is StepStatus.SUCCEEDED and others(decision) == []
    assert run.status is RunStatus.CANCELLED
    ignored(run, TimerFired("c", 1))
    with pytest.raises(ActNotAllowed, match="was cancelled"):
        run(CancelRun(by="olga"))


def test_cancel_while_compensating_records_the_compensation_in_flight() -> None:
    run = Run(define(step("a"), step("b", "a")))
    run.succeed("a")
    run.fail("b")
    run(CancelRun(by="olga"))
    decision = run.compensated("a")
    assert run.step("a") is StepStatus.COMPENSATED
    assert others(decision) == [] and run.status is RunStatus.CANCELLED


# --------------------------------------------------------------------------- deadline


def test_a_run_past_its_deadline_is_stuck_until_an_operator_retries() -> None:
    run = Run(define(step("a"), step("b", "a")))
    run(StepFailed("a", 1, "503", True))  # and the retry timer is lost
    decision = run(RunDeadlinePassed(), after=3600)
    assert events(decision) == [("run.stuck", None, "stuck")]
    assert run.status is RunStatus.STUCK
    ignored(run, RunDeadlinePassed())
    decision = run(RetryStep("a", by="olga", reason="kick"))
    assert run.status is RunStatus.RUNNING
    assert events(decision)[0] == ("act.retry", "a", "running")
    run.succeed("a", "b")
    assert run.status is RunStatus.COMPLETED
    ignored(run, RunDeadlinePassed())


def test_progress_after_the_deadline_unsticks_the_run() -> None:
    run = Run(define(step("a"), step("b", "a")))
    run(RunDeadlinePassed())
    run.succeed("a")
    assert run.status is RunStatus.RUNNING


# --------------------------------------------------------------------------- helpers


def test_due_happenings_names_overdue_work() -> None:
    run = Run(define(step("a", timeout_s=10), step("b", timeout_s=10)))
    run(StepFailed("b", 1, "x", True), jitter=0.5)  # due half a second later
    assert due_happenings(run.state, T0 + 1) == [TimerFired("b", 1)]
    # An attempt's timeout counts from its claim: one still queued is not late.
    assert due_happenings(run.state, T0 + 10) == [TimerFired("b", 1)]
    a = dataclasses.replace(run.state.steps["a"], claimed_at=T0 + 4)
    claimed = dataclasses.replace(run.state, steps={**run.state.steps, "a": a})
    assert due_happenings(claimed, T0 + 13) == [TimerFired("b", 1)]
    assert due_happenings(claimed, T0 + 14) == [StepTimedOut("a", 1), TimerFired("b", 1)]


def test_simulate_shows_the_happy_path() -> None:
    result = simulate(define(*ORDER))
    assert result.state.status is RunStatus.COMPLETED
    assert [e.event_type.value for e in result.events][-1] == "run.completed"


def test_simulate_shows_the_compensation_path() -> None:
    result = simulate(define(*ORDER), fail_step="book_courier")
    assert result.state.status is RunStatus.COMPENSATED
    undone = [e.step for e in result.events if e.event_type is EventType.STEP_COMPENSATED]
    assert undone == ["hold_credit", "reserve"]
    assert result.state.steps["book_courier"].status is StepStatus.FAILED
    assert result.state.steps["charge"].status is StepStatus.PENDING


def test_simulate_shows_a_failure_after_the_pivot_leaves_the_run_stuck() -> None:
    result = simulate(define(*ORDER), fail_step="ship")
    assert result.state.status is RunStatus.STUCK
    assert not any(e.event_type is EventType.STEP_COMPENSATION_STARTED for e in result.events)


def test_simulate_refuses_what_cannot_fail() -> None:
    with pytest.raises(UnknownStep):
        simulate(define(step("a")), fail_step="nope")
    with pytest.raises(ValueError, match="delay"):
        simulate(define(step("d", type="delay", action={"seconds": 1})), fail_step="d")


def test_the_core_can_be_built_from_dataclasses_directly() -> None:
    definition = Definition(steps=(StepDef("a", "task"), StepDef("b", "task", ("a",))))
    assert simulate(definition).state.status is RunStatus.COMPLETED


def test_jitter_outside_its_range_is_refused() -> None:
    with pytest.raises(ValueError, match="jitter"):
        decide(initial_state(define(step("a"))), RunStarted(), now=T0, jitter=1.5)

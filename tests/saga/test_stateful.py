"""The pure core under random interleavings, against a model of the outside world.

Hypothesis draws small random workflows (with and without a pivot, with and
without compensations) and then drives one run through any order of
participant answers, failures, duplicate and late deliveries, lost messages
and the reconciler that recovers them, dead workers, approvals and operator
acts. A participant ledger records what actually took effect, keyed as the
participants key it (``<run>:<step>``, ``<run>:<step>:compensate``), so the
checks are about what a participant would see, not about the core's own view.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from types import MappingProxyType
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

from saga import (
    RUN_MOVES,
    STEP_MOVES,
    ActNotAllowed,
    ApprovalDecided,
    AttemptLost,
    CallbackCompleted,
    CancelRun,
    Command,
    CompensateRun,
    CompensationFailed,
    CompensationSucceeded,
    CompensationTimedOut,
    Decision,
    Definition,
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
    StepWaiting,
    TimerFired,
    WaitForApproval,
    decide,
    due_happenings,
    initial_state,
)

STARTS = (StartStep, StartCompensation, ScheduleRetry, ScheduleCompensationRetry, StartTimer)
FORWARD = (StartStep, ScheduleRetry, StartTimer, WaitForApproval)
ACTS = (ApprovalDecided, RetryStep, SkipStep, CompensateRun, CancelRun)
OUTCOMES = ("ok",) * 6 + ("retryable", "retryable", "permanent", "die_before", "die_after")
# Hypothesis leans towards the first of a choice: make it the one that moves things on.
TROUBLE = ("reconcile",) * 4 + ("lose",) * 3 + ("redeliver",) * 3 + ("deadline",) * 2
TROUBLE += ("retry",) * 3 + ("skip",) * 3 + ("compensate", "cancel")
WAITS = (3600.0, 60.0, 6.0, 0.0)
OWED = {StepStatus.SUCCEEDED, StepStatus.WAITING, StepStatus.COMPENSATING}
OWED |= {StepStatus.COMPENSATION_FAILED}


@st.composite
def definitions(draw: st.DrawFn) -> Definition:
    """A small random DAG; compensations only where validation allows them."""
    n = draw(st.integers(min_value=2, max_value=6))
    ids = [f"s{i}" for i in range(n)]
    # A pivot late in the graph leaves room for compensations before it.
    pivot = draw(st.none() | st.sampled_from(ids[n // 2 :]))
    compensate = draw(st.integers(0, 4)) > 0
    kinds = st.sampled_from(["task", "task", "task", "http", "callback"] + ["approval", "delay"])
    steps: list[StepDef] = []
    for i, step_id in enumerate(ids):
        after = (
            tuple(draw(st.lists(st.sampled_from(ids[:i]), unique=True, max_size=2))) if i else ()
        )
        kind = draw(kinds)
        retry = RetryPolicy(
            max_attempts=1 if kind == "approval" else draw(st.integers(1, 3)),
            jitter=draw(st.sampled_from(list(Jitter))),
        )
        steps.append(
            StepDef(
                id=step_id,
                type=kind,
                after=after,
                pivot=step_id == pivot,
                has_compensation=compensate
                and kind in ("task", "http", "callback")
                and draw(st.integers(0, 4)) > 0,
                retry=retry,
                timeout_s=(
                    None
                    if kind == "delay"
                    else draw(st.sampled_from([None, 50.0]))
                    if kind == "approval"
                    else 10.0
                ),
                on_timeout=draw(st.sampled_from(list(OnTimeout))),
                delay_s=5.0 if kind == "delay" else 0.0,
            )
        )
    draft = Definition(steps=tuple(steps))
    if pivot is None:
        return draft
    # Validation refuses a compensation on the pivot or anything after it.
    no_comp = draft.descendants(pivot) | {pivot}
    return Definition(
        steps=tuple(
            StepDef(
                **{**s.__dict__, "has_compensation": s.has_compensation and s.id not in no_comp}
            )
            for s in steps
        )
    )


def stale_attempt(state: RunState, happening: Happening) -> bool:
    """Whether ``happening`` names an attempt that is not the step's current one."""
    attempt, step_id = getattr(happening, "attempt", None), getattr(happening, "step", None)
    if attempt is None or step_id is None:
        return False
    step = state.steps[step_id]
    compensation = isinstance(happening, (CompensationSucceeded, CompensationFailed))
    compensation |= isinstance(happening, CompensationTimedOut)
    compensation |= isinstance(happening, TimerFired) and happening.compensation
    compensation |= isinstance(happening, AttemptLost) and happening.compensation
    return attempt != (step.compensation_attempt if compensation else step.attempt)


def past_a_pivot(state: RunState) -> bool:
    return any(
        state.steps[s.id].status in (StepStatus.SUCCEEDED, StepStatus.SKIPPED)
        for s in state.definition.steps
        if s.pivot
    )


def closure(moves: Any) -> dict[Any, set[Any]]:
    """Every status reachable from each status through the legal moves."""
    reach: dict[Any, set[Any]] = {}
    for source in moves:
        seen, frontier = {source}, [source]
        while frontier:
            for nxt in moves[frontier.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
        reach[source] = seen
    return reach


RUN_REACH = closure(RUN_MOVES)


def check_decision(before: RunState, happening: Happening, decision: Decision, now: float) -> None:
    """What must hold of any decision, whatever the world around the run."""
    after = decision.state
    stale = stale_attempt(before, happening)
    assert decision.ignored or not stale, f"{happening} belongs to another attempt"
    if decision.ignored:
        assert decision.state is before and decision.commands == ()
        return
    # AttemptLost sends the attempt again each time, harmlessly: the claim fences it.
    if not isinstance(happening, (*ACTS, AttemptLost)):
        again = decide(after, happening, now=now)
        assert again.ignored, f"{happening} delivered twice changed the run twice"
    starts = [c for c in decision.commands if isinstance(c, STARTS)]
    if before.terminal or after.terminal:
        assert starts == [], f"work started in a finished run: {starts}"
    forward = [c for c in decision.commands if isinstance(c, FORWARD)]
    # A finished run records late answers; its compensating flag means nothing any more.
    if after.compensating and not after.terminal:
        # A lost message of an attempt still in flight is sent again: no step forward.
        if not isinstance(happening, AttemptLost):
            assert forward == [], f"a compensating run moved forward: {forward}"
        assert not past_a_pivot(after), "compensating past a pivot"
    if past_a_pivot(after):
        assert not any(isinstance(c, StartCompensation) for c in decision.commands)
    for step_id, step in after.steps.items():
        policy = after.definition.step(step_id).retry
        assert step.attempt - step.round_start + 1 <= policy.max_attempts
        n = step.compensation_attempt - step.compensation_round_start + 1
        assert n <= policy.max_attempts
    assert after.status in RUN_REACH[before.status], (before.status, after.status)
    run_events = {e.status for e in decision.events if e.event_type.startswith("run.")}
    if after.status is not before.status and after.status not in (
        RunStatus.RUNNING,
        RunStatus.WAITING,
    ):
        assert after.status in run_events, f"no event for the run becoming {after.status}"
    # Each step's events, in order, walk a legal path from its old status to its new one.
    step_events = [e for e in decision.events if not e.event_type.startswith("act.")]
    for step_id in after.steps:
        old, new = before.steps[step_id], after.steps[step_id]
        status = old.status
        for emitted in step_events:
            if emitted.step == step_id:
                target = StepStatus(emitted.status)
                assert target is status or target in STEP_MOVES[status], (step_id, emitted)
                status = target
        assert status is new.status, f"{step_id} became {new.status} without an event"
        assert new.attempt >= old.attempt
        assert new.compensation_attempt >= old.compensation_attempt
    for command in decision.commands:
        if isinstance(command, StartStep):
            step = after.steps[command.step]
            assert step.status is StepStatus.RUNNING and step.attempt == command.attempt
            if not isinstance(happening, AttemptLost):  # which sends the same one again
                assert command.attempt > before.steps[command.step].attempt
        elif isinstance(command, StartCompensation):
            step = after.steps[command.step]
            assert step.status is StepStatus.COMPENSATING
            assert step.compensation_attempt == command.attempt
            assert after.definition.step(command.step).has_compensation
            # Reverse graph order, and only once nothing runs any more.
            for later in after.definition.descendants(command.step):
                if after.definition.step(later).has_compensation:
                    assert after.steps[later].status not in OWED, (command, later)
            assert all(s.status is not StepStatus.RUNNING for s in after.steps.values())


def drive_to_the_end(state: RunState, now: float, *, doom_one: bool = False) -> RunState:
    """Answer everything with success, retry what failed for good; must reach an end.

    With ``doom_one``, the first attempt in flight after something undoable
    succeeded fails for good instead, to walk the compensation path from here.
    """
    bound = 20 * len(state.steps) + 20
    for _ in range(bound):
        if state.terminal:
            return state
        happening = next_good_move(state)
        doomed = doomed_attempt(state) if doom_one else None
        if doomed is not None:
            happening, doom_one = doomed, False
        decision = decide(state, happening, now=now)
        check_decision(state, happening, decision, now)
        state = decision.state
        now += 1.0
    raise AssertionError(f"no end after {bound} moves: {state}")


def doomed_attempt(state: RunState) -> StepFailed | None:
    for step_id in reversed(state.definition.order):
        step, sdef = state.steps[step_id], state.definition.step(step_id)
        if step.status is not StepStatus.RUNNING or sdef.type == "callback":
            continue
        undoable = [
            a
            for a in state.definition.ancestors(step_id)
            if state.definition.step(a).has_compensation
            and state.steps[a].status is StepStatus.SUCCEEDED
        ]
        if undoable:
            return StepFailed(step_id, step.attempt, "doomed", retryable=False)
    return None


def next_good_move(state: RunState) -> Happening:
    if state.status is RunStatus.PENDING:
        return RunStarted()
    for step_id in state.definition.order:
        step, kind = state.steps[step_id], state.definition.step(step_id).type
        match step.status:
            case StepStatus.RUNNING if kind == "callback":
                return CallbackCompleted(step_id, step.attempt, True)
            case StepStatus.RUNNING:
                return StepSucceeded(step_id, step.attempt)
            case StepStatus.WAITING if kind == "approval":
                return ApprovalDecided(step_id, True, by="driver")
            case StepStatus.WAITING if kind == "callback":
                return CallbackCompleted(step_id, step.attempt, True)
            case StepStatus.WAITING | StepStatus.RETRYING:
                return TimerFired(step_id, step.attempt)
            case StepStatus.COMPENSATING if step.due_at is not None:
                return TimerFired(step_id, step.compensation_attempt, compensation=True)
            case StepStatus.COMPENSATING:
                return CompensationSucceeded(step_id, step.compensation_attempt)
    # Nothing in flight: the run is stuck on something that failed for good.
    for step_id in state.definition.order:
        if state.steps[step_id].status in (StepStatus.FAILED, StepStatus.COMPENSATION_FAILED):
            act = RetryStep(step_id, by="driver", reason="liveness")
            try:
                decide(state, act, now=0.0)
            except ActNotAllowed:
                continue
            return act
    raise AssertionError(f"nothing to do, yet the run has not ended: {state}")


class SagaRuns(RuleBasedStateMachine):
    """Runs of random workflows, one after the other, and the world around them."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 1_000.0
        self.runs = 0
        self.definitions: list[Definition] = []
        self.driven: RunState | None = None

    @initialize(workflows=st.lists(definitions(), min_size=1, max_size=3))
    def create(self, workflows: list[Definition]) -> None:
        self.definitions = workflows
        self.start_a_run()

    def start_a_run(self) -> None:
        self.definition = self.definitions[self.runs % len(self.definitions)]
        self.runs += 1
        self.run_id = f"run-{self.runs}"
        self.state = initial_state(self.definition)
        self.outbox: list[Command] = []  # work sent to workers and timers, not yet carried out
        self.inbox: list[Happening] = []  # answers on their way back to the engine
        self.history: list[Happening] = []  # everything delivered, for replaying duplicates
        self.callbacks: list[tuple[str, int]] = []  # calls made whose participant may answer
        self.applied: Counter[str] = Counter()  # the ledger: effects by idempotency key
        self.succeeded_ever: set[str] = set()
        self.compensation_started_ever: set[str] = set()
        self.compensation_skipped: set[str] = set()
        self.pivot_passed = False
        self.apply(RunStarted())

    def key(self, step_id: str, compensation: bool = False) -> str:
        return f"{self.run_id}:{step_id}" + (":compensate" if compensation else "")

    @rule()
    def the_next_run_starts(self) -> None:
        """Once a run has ended, the next one begins (a short run wastes no example)."""
        if self.state.terminal:
            self.note_where_the_run_ended()
            self.start_a_run()

    # ------------------------------------------------------------------ the engine

    def apply(self, happening: Happening, jitter: float = 0.5) -> Decision:
        before = self.state
        decision = decide(before, happening, now=self.now, jitter=jitter)
        check_decision(before, happening, decision, self.now)
        self.state = decision.state
        if not isinstance(happening, ACTS):
            self.history.append(happening)
        for command in decision.commands:
            if isinstance(command, Emit):
                self.record(command)
            elif not isinstance(command, WaitForApproval):
                self.outbox.append(command)
        return decision

    def act(self, act: Any) -> None:
        try:
            self.apply(act)
        except ActNotAllowed as refused:
            assert refused.message

    def record(self, event: Emit) -> None:
        if event.step is None:
            return
        pivot = self.definition.step(event.step).pivot
        if event.event_type is EventType.STEP_SUCCEEDED:
            self.succeeded_ever.add(event.step)
        if pivot and event.event_type in (EventType.STEP_SUCCEEDED, EventType.STEP_SKIPPED):
            assert not self.compensation_started_ever, "a pivot passed after compensation began"
            self.pivot_passed = True
        elif event.event_type is EventType.STEP_COMPENSATION_STARTED:
            assert not self.pivot_passed, f"{event.step} compensated after the pivot"
            self.compensation_started_ever.add(event.step)
        elif event.event_type is EventType.STEP_SKIPPED and event.data.get("compensation"):
            self.compensation_skipped.add(event.step)

    # ------------------------------------------------------------------ the world

    def take_effect(self, key: str) -> None:
        self.applied[key] = 1  # a participant applies an idempotency key once

    @rule(pick=st.integers(0, 10_000), outcome=st.sampled_from(OUTCOMES), later=st.booleans())
    def carry_out_a_command(self, pick: int, outcome: str, later: bool) -> None:
        """A worker or a timer does its job; its answer arrives at once, or ``later``."""
        if not self.outbox:
            return
        command = self.outbox.pop(pick % len(self.outbox))
        answers = len(self.inbox)
        if isinstance(command, (ScheduleRetry, StartTimer)):
            self.now = max(self.now, command.at)
            self.inbox.append(TimerFired(command.step, command.attempt))
        elif isinstance(command, ScheduleCompensationRetry):
            self.now = max(self.now, command.at)
            self.inbox.append(TimerFired(command.step, command.attempt, compensation=True))
        elif isinstance(command, StartStep):
            self.run_attempt(command, outcome)
        elif isinstance(command, StartCompensation):
            self.run_compensation(command, outcome)
        if not later and len(self.inbox) > answers:
            self.apply(self.inbox.pop())

    def run_attempt(self, command: StartStep, outcome: str) -> None:
        step_id, attempt = command.step, command.attempt
        current = self.state.steps[step_id]
        # The worker claims the step with (status, attempt) as fencing token.
        if current.status is not StepStatus.RUNNING or current.attempt != attempt:
            return
        self.claim(step_id)
        assert not self.applied[self.key(step_id, True)], f"{step_id} ran after its undoing"
        callback = self.definition.step(step_id).type == "callback"
        if outcome in ("ok", "die_after"):
            self.take_effect(self.key(step_id))
            if callback:
                self.callbacks.append((step_id, attempt))
        if outcome == "ok":
            self.inbox.append(
                StepWaiting(step_id, attempt) if callback else StepSucceeded(step_id, attempt)
            )
        elif outcome in ("retryable", "permanent"):
            self.inbox.append(StepFailed(step_id, attempt, outcome, outcome == "retryable"))

    def claim(self, step_id: str) -> None:
        """What the shell writes as a worker claims an attempt: its claim's time (an
        attempt's timeout counts from it)."""
        step = dataclasses.replace(self.state.steps[step_id], claimed_at=self.now)
        steps = MappingProxyType({**self.state.steps, step_id: step})
        self.state = dataclasses.replace(self.state, steps=steps)

    def run_compensation(self, command: StartCompensation, outcome: str) -> None:
        step_id, attempt = command.step, command.attempt
        current = self.state.steps[step_id]
        if (
            current.status is not StepStatus.COMPENSATING
            or current.compensation_attempt != attempt
            or current.due_at is not None
        ):
            return
        self.claim(step_id)
        if outcome in ("ok", "die_after"):
            self.check_compensation_may_take_effect(step_id)
            self.take_effect(self.key(step_id, True))
        if outcome == "ok":
            self.inbox.append(CompensationSucceeded(step_id, attempt))
        elif outcome in ("retryable", "permanent"):
            self.inbox.append(CompensationFailed(step_id, attempt, outcome, outcome == "retryable"))

    def check_compensation_may_take_effect(self, step_id: str) -> None:
        # Only what took effect is undone...
        assert self.applied[self.key(step_id)], f"{step_id} undone but never done"
        # ... once nothing is in flight any more ...
        running = [s for s, v in self.state.steps.items() if v.status is StepStatus.RUNNING]
        assert not running, f"{step_id} undone while {running} still run"
        # ... and in reverse graph order: whatever depends on it is undone first.
        for later in self.definition.descendants(step_id):
            if not self.definition.step(later).has_compensation:
                continue
            if later in self.succeeded_ever or later in self.compensation_started_ever:
                done = self.applied[self.key(later, True)]
                assert done or later in self.compensation_skipped, (
                    f"{step_id} undone before {later}, which depends on it"
                )

    @rule(n=st.integers(1, 8), then=st.sampled_from(["fail", "retry, fail", "nothing"]))
    def the_workers_catch_up(self, n: int, then: str) -> None:
        """A stretch of good weather: the oldest work is done and answered, in order.

        ``then`` the saga's interesting path: an attempt fails for good after some
        steps were done (and, before it, another fails and waits to be retried).
        """
        for _ in range(n):
            if self.callbacks:
                self.a_participant_answers_a_callback(0, True)
                self.deliver_an_answer(len(self.inbox) - 1, 0.5)
            elif self.outbox:
                self.carry_out_a_command(0, "ok", False)
        for outcome in then.split(", "):
            attempts = [i for i, c in enumerate(self.outbox) if isinstance(c, StartStep)]
            if outcome != "nothing" and attempts:
                kind = "retryable" if outcome == "retry" else "permanent"
                self.carry_out_a_command(attempts[0], kind, False)

    @rule(pick=st.integers(0, 10_000), outcome=st.sampled_from(OUTCOMES[:9]))
    def a_slow_worker_answers_after_its_retry_began(self, pick: int, outcome: str) -> None:
        """The classic late answer: the attempt times out, the retry starts, then it answers."""
        work = [c for c in self.outbox if isinstance(c, (StartStep, StartCompensation))]
        if not work:
            return
        command = work[pick % len(work)]
        self.outbox.remove(command)
        answers = len(self.inbox)
        if isinstance(command, StartStep):
            self.run_attempt(command, outcome)
        else:
            self.run_compensation(command, outcome)
        late = self.inbox[answers:]
        del self.inbox[answers:]
        for _ in range(2):  # first the timeout, then the retry's timer
            due = [s.deadline_at or 0.0 for s in self.state.steps.values()]
            due += [s.due_at or 0.0 for s in self.state.steps.values()]
            self.now = max([self.now, *due])
            for happening in due_happenings(self.state, self.now):
                self.apply(happening)
        for happening in late:
            self.apply(happening)

    @rule(pick=st.integers(0, 10_000), ok=st.booleans())
    def a_participant_answers_a_callback(self, pick: int, ok: bool) -> None:
        if not self.callbacks:
            return
        step_id, attempt = self.callbacks.pop(pick % len(self.callbacks))
        self.inbox.append(CallbackCompleted(step_id, attempt, ok, error=None if ok else "declined"))

    @rule(pick=st.integers(0, 10_000), jitter=st.floats(0.0, 0.999))
    def deliver_an_answer(self, pick: int, jitter: float) -> None:
        if not self.inbox:
            return
        self.apply(self.inbox.pop(pick % len(self.inbox)), jitter)

    @rule(pick=st.integers(0, 10_000), approved=st.booleans())
    def someone_decides_an_approval(self, pick: int, approved: bool) -> None:
        approvals = [s.id for s in self.definition.steps if s.type == "approval"]
        if not approvals:
            return
        step_id = approvals[pick % len(approvals)]
        waiting = self.state.steps[step_id].status is StepStatus.WAITING
        try:
            self.apply(ApprovalDecided(step_id, approved, by="maria", comment="ok"))
        except ActNotAllowed:
            assert not waiting or self.state.terminal
        else:
            assert waiting

    # Trouble of every kind is one rule, so that it does not crowd out progress.
    @rule(
        kind=st.sampled_from(TROUBLE),
        pick=st.integers(0, 10_000),
        wait=st.sampled_from(WAITS),
    )
    def trouble(self, kind: str, pick: int, wait: float) -> None:
        step_id = self.definition.order[pick % len(self.definition.order)]
        if kind == "lose" and (self.inbox or self.outbox):
            queue = self.inbox if self.inbox and (pick % 2 or not self.outbox) else self.outbox
            queue.pop(pick % len(queue))
        elif kind == "redeliver":
            # Every message the run ever got comes again: duplicates, and late ones by now.
            for happening in list(self.history):
                self.apply(happening)
        elif kind == "reconcile":
            self.now += wait
            for happening in due_happenings(self.state, self.now):
                self.apply(happening)
        elif kind == "deadline":
            self.apply(RunDeadlinePassed())
        elif kind == "retry":
            self.act(RetryStep(step_id, by="olga", reason="r"))
        elif kind == "skip":
            self.act(SkipStep(step_id, by="olga", reason="s"))
        elif kind == "compensate":
            self.act(CompensateRun(by="olga", reason="c"))
        elif kind == "cancel":
            self.act(CancelRun(by="olga", reason="x"))

    # ------------------------------------------------------------------ invariants

    @invariant()
    def every_key_takes_effect_at_most_once(self) -> None:
        assert all(count <= 1 for count in getattr(self, "applied", Counter()).values())

    @invariant()
    def a_compensated_run_owes_nothing(self) -> None:
        if not self.runs or self.state.status is not RunStatus.COMPENSATED:
            return
        for step_id, step in self.state.steps.items():
            if self.definition.step(step_id).has_compensation:
                assert step.status not in OWED, f"{step_id} is still owed a compensation"
            if step.status is StepStatus.COMPENSATED:
                assert self.applied[self.key(step_id, True)]
        assert not any(s.status is StepStatus.RUNNING for s in self.state.steps.values())

    @invariant()
    def a_completed_run_did_every_step(self) -> None:
        if not self.runs or self.state.status is not RunStatus.COMPLETED:
            return
        for step_id, step in self.state.steps.items():
            assert step.status in (StepStatus.SUCCEEDED, StepStatus.SKIPPED)
            if step.status is StepStatus.SUCCEEDED and self.definition.step(step_id).type in (
                "task",
                "http",
                "callback",
            ):
                assert self.applied[self.key(step_id)], f"{step_id} succeeded without effect"

    @invariant()
    def the_run_can_always_be_brought_to_an_end(self) -> None:
        # A rule that changed nothing leaves the very same state: no need to drive it again.
        if self.runs and self.state is not self.driven:
            drive_to_the_end(self.state, self.now)
            drive_to_the_end(self.state, self.now, doom_one=True)
            self.driven = self.state

    def note_where_the_run_ended(self) -> None:
        # Shown by --hypothesis-show-statistics: where the random runs ended up.
        event(f"a run ended {self.state.status}")
        undone = sum(1 for key, n in self.applied.items() if n and key.endswith(":compensate"))
        if undone:
            event(f"a run undid {min(undone, 3)}{'+' if undone >= 3 else ''} steps")

    def teardown(self) -> None:
        if self.runs:
            self.note_where_the_run_ended()
            event(f"runs per example: {min(self.runs, 5)}{'+' if self.runs >= 5 else ''}")


SagaRuns.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestSagaRuns = SagaRuns.TestCase

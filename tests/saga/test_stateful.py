"""The pure core under random interleavings, against a model of the outside world.

Hypothesis draws small random workflows (with and without a pivot, with and
without compensations) and then drives one run through any order of
participant answers, failures, duplicate and late deliveries, lost messages
and the reconciler that recovers them, dead workers, approvals and operator
acts. A participant ledger records what actually took effect, keyed as the
participants key it (``<run>:<step>``, ``<run>:<step>:compensate``), so the
checks are about what a participant would see, not about the core's own view.

Steps may carry a condition (``when``) over the run's input, true, false or failing
to evaluate for the input a run is given, in shapes of their own beside the random
ones: the optional step (``s0 -> s1 -> s2`` plus ``s0 -> s2``), two branches and
their join, a pivot on a branch. The model answers the kernel's ``EvaluateCondition``
as the engine's shell does, at once, and knows what each condition should come to
without asking CEL; the event log must say the same, and the happenings recorded
rebuild the run without evaluating anything again.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterator
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
    ConditionEvaluated,
    Decision,
    Definition,
    Emit,
    EvaluateCondition,
    EventType,
    Happening,
    Jitter,
    OnTimeout,
    ParentCompensates,
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
    act_allowed,
    decide,
    due_happenings,
    initial_state,
)
from saga.expressions import ExpressionError, activation, condition
from saga.history import happening_from_json, happening_json
from saga.vocabulary import DONE

STARTS = (StartStep, StartCompensation, ScheduleRetry, ScheduleCompensationRetry, StartTimer)
FORWARD = (StartStep, ScheduleRetry, StartTimer, WaitForApproval, EvaluateCondition)
ACTS = (ApprovalDecided, RetryStep, SkipStep, CompensateRun, CancelRun)
OUTCOMES = ("ok",) * 6 + ("retryable", "retryable", "permanent", "die_before", "die_after")
# Hypothesis leans towards the first of a choice: make it the one that moves things on.
TROUBLE = ("reconcile",) * 4 + ("lose",) * 3 + ("redeliver",) * 3 + ("deadline",) * 2
TROUBLE += ("retry",) * 3 + ("skip",) * 3 + ("compensate", "cancel")
WAITS = (3600.0, 60.0, 6.0, 0.0)
OWED = {StepStatus.SUCCEEDED, StepStatus.WAITING, StepStatus.COMPENSATING}
OWED |= {StepStatus.COMPENSATION_FAILED}


ERROR = "error"
#: Conditions over a run's input, each with what it comes to for an input, worked out
#: here rather than by CEL: true, false, or an error (a missing field, a type error).
CONDITIONS: dict[str, Callable[[dict[str, Any]], bool | str]] = {
    "input.amount > 10000": lambda i: i["amount"] > 10000,
    "input.amount <= 10000": lambda i: i["amount"] <= 10000,
    "input.vip": lambda i: i["vip"],
    "!input.vip": lambda i: not i["vip"],
    "input.country == 'NL'": lambda i: i["country"] == "NL",
    "input.country != 'NL'": lambda i: i["country"] != "NL",
    "input.coupon > 0": lambda i: ERROR,
    "input.country > 3": lambda i: ERROR,
}
#: Pairs of conditions of which exactly one holds: two branches, one taken.
EITHER_OR = (
    ("input.amount > 10000", "input.amount <= 10000"),
    ("input.vip", "!input.vip"),
    ("input.country == 'NL'", "input.country != 'NL'"),
)
SHAPES = ("random", "optional", "branches")


def run_inputs() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "amount": st.sampled_from([500, 20_000]),
            "vip": st.booleans(),
            "country": st.sampled_from(["NL", "DE"]),
        }
    )


@st.composite
def definitions(draw: st.DrawFn) -> Definition:
    """A small random DAG; compensations only where validation allows them.

    Some steps have a condition. Besides random graphs, a definition may start with
    the optional step (``s0 -> s1 -> s2`` plus ``s0 -> s2``, ``s1`` conditional) or with
    two branches of which one is taken and their join (``s0 -> s1 | s2 -> s3``), its
    pivot then maybe on a branch.
    """
    shape = draw(st.sampled_from(SHAPES))
    fixed = {"random": 0, "optional": 3, "branches": 4}[shape]
    n = draw(st.integers(min_value=max(2, fixed), max_value=6))
    ids = [f"s{i}" for i in range(n)]
    whens: list[str | None] = [None] * n
    afters: list[tuple[str, ...]] = [()] * n
    if shape == "optional":
        afters[1:3] = [("s0",), ("s0", "s1")]
        whens[1] = draw(st.sampled_from(sorted(CONDITIONS)))
    elif shape == "branches":
        afters[1:4] = [("s0",), ("s0",), ("s1", "s2")]
        whens[1], whens[2] = draw(st.sampled_from(EITHER_OR))
    for i in range(fixed, n):
        if i:
            afters[i] = tuple(draw(st.lists(st.sampled_from(ids[:i]), unique=True, max_size=2)))
        if draw(st.integers(0, 3)) == 0:
            whens[i] = draw(st.sampled_from(sorted(CONDITIONS)))
    # A pivot late in the graph leaves room for compensations before it; one on a branch
    # may be on the branch not taken.
    pivot = draw(st.none() | st.sampled_from(ids[n // 2 :] if shape == "random" else ids[1:]))
    compensate = draw(st.integers(0, 4)) > 0
    kinds = st.sampled_from(["task", "task", "task", "http", "callback"] + ["approval", "delay"])
    steps: list[StepDef] = []
    for i, step_id in enumerate(ids):
        kind = draw(kinds)
        retry = RetryPolicy(
            max_attempts=1 if kind == "approval" else draw(st.integers(1, 3)),
            jitter=draw(st.sampled_from(list(Jitter))),
        )
        steps.append(
            StepDef(
                id=step_id,
                type=kind,
                after=afters[i],
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
                when=whens[i],
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
    """A pivot succeeded, or an operator skipped it; one on a branch not taken is none."""
    return any(
        state.steps[s.id].status in (StepStatus.SUCCEEDED, StepStatus.SKIPPED)
        and not state.steps[s.id].skipped_by_condition
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
    # A completed child run goes back when its parent compensates the step that started it.
    if (before.terminal and not isinstance(happening, ParentCompensates)) or after.terminal:
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


def check_conditions(before: RunState, happening: Happening, decision: Decision) -> None:
    """What conditions and dead-path elimination promise, of any decision."""
    if decision.ignored:
        return
    after, definition = decision.state, before.definition

    def ran(step_id: str) -> bool:
        return not after.steps[step_id].skipped_by_condition

    for command in decision.commands:
        if isinstance(command, EvaluateCondition):
            sdef = definition.step(command.step)
            assert command.expression == sdef.when
            assert after.steps[command.step].status is StepStatus.PENDING
            assert not after.compensating and not after.terminal
            assert all(after.steps[a].status in DONE for a in sdef.after)
            # Dead-path elimination: a step none of whose after steps ran is not evaluated.
            assert not sdef.after or any(map(ran, sdef.after)), f"{command.step} evaluated"
    for emitted in decision.events:
        if emitted.step is None or emitted.event_type.is_act:
            continue
        old, new = before.steps[emitted.step], after.steps[emitted.step]
        sdef = definition.step(emitted.step)
        # A step not taken is never started, compensated or touched again.
        assert not old.skipped_by_condition, f"{emitted.step}, not taken, got {emitted}"
        if old.status is not StepStatus.PENDING:
            continue
        if emitted.data.get("reason") == "condition" and emitted.status == StepStatus.SKIPPED:
            assert new.skipped_by_condition
            if emitted.data.get("dead_path"):
                assert sdef.after and not any(map(ran, sdef.after)), emitted
            else:  # the outcome of its condition, recorded as the event says
                assert happening == ConditionEvaluated(emitted.step, False), emitted
                assert emitted.data.get("condition") is False
        elif emitted.event_type in (EventType.STEP_STARTED, EventType.STEP_WAITING):
            # A join runs once every step before it has settled and at least one ran.
            assert all(after.steps[a].status in DONE for a in sdef.after), emitted
            assert not sdef.after or any(map(ran, sdef.after)), f"{emitted.step} on a dead path"
            if sdef.when is not None:
                assert happening == ConditionEvaluated(emitted.step, True), emitted
                assert emitted.data.get("condition") is True
        elif emitted.event_type is EventType.STEP_FAILED:
            # Before any attempt: its condition failed to evaluate, for good, saying why.
            assert isinstance(happening, ConditionEvaluated) and happening.error, emitted
            assert emitted.data.get("reason") == "condition"
            assert happening.error in (emitted.error or "") and happening.error in (new.error or "")
            assert new.status is StepStatus.FAILED and new.attempt == 0
            assert not act_allowed(after, RetryStep(emitted.step, by="olga", reason="again"))
    if isinstance(happening, ConditionEvaluated):
        new = after.steps[happening.step]
        if happening.error is not None:
            assert new.status is StepStatus.FAILED
        elif happening.value:
            assert new.status in (StepStatus.RUNNING, StepStatus.WAITING)
        else:
            assert new.status is StepStatus.SKIPPED and new.skipped_by_condition
    # A failure for good turns the run back unless a pivot really passed: one on a branch
    # not taken does not count.
    failed = [e for e in decision.events if e.event_type is EventType.STEP_FAILED]
    if failed and not (before.compensating or before.terminal or after.terminal):
        if not past_a_pivot(before):
            assert after.compensating, f"{failed} did not turn the run back"


def evaluated(ask: EvaluateCondition, run_input: dict[str, Any], state: RunState) -> Happening:
    """The shell's answer to ``ask``: the condition evaluated over the run's input."""
    try:
        value = condition(ask.expression, activation(run_input, state.steps))
    except ExpressionError as exc:
        outcome: bool | str = ERROR
        answer = ConditionEvaluated(ask.step, error=str(exc))
    else:
        outcome, answer = value, ConditionEvaluated(ask.step, value)
    assert outcome == CONDITIONS[ask.expression](run_input), (ask, run_input)
    return answer


def answered(
    state: RunState, happening: Happening, *, now: float, jitter: float, run_input: dict[str, Any]
) -> Iterator[tuple[RunState, Happening, Decision]]:
    """``decide``, each decision checked, with the conditions it asks for answered at once,
    one at a time (the next decision asks again for any other), as the engine's shell
    does in the same transaction."""
    while True:
        decision = decide(state, happening, now=now, jitter=jitter)
        check_decision(state, happening, decision, now)
        check_conditions(state, happening, decision)
        yield state, happening, decision
        asks = [c for c in decision.commands if isinstance(c, EvaluateCondition)]
        if not asks:
            return
        state = decision.state
        happening = evaluated(asks[0], run_input, state)


def drive_to_the_end(
    state: RunState, now: float, run_input: dict[str, Any], *, doom_one: bool = False
) -> RunState:
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
        for _, _, decision in answered(state, happening, now=now, jitter=1.0, run_input=run_input):
            state = decision.state
        now += 1.0
    raise AssertionError(f"no end after {bound} moves: {state}")


def claimed(state: RunState, step_id: str, now: float) -> RunState:
    """What the shell writes as a worker claims an attempt: its claim's time."""
    step = dataclasses.replace(state.steps[step_id], claimed_at=now)
    return dataclasses.replace(state, steps=MappingProxyType({**state.steps, step_id: step}))


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
    # Nothing in flight: the run is stuck on something that failed for good. Retry it, or
    # skip it where a retry would fail again (a condition that failed to evaluate).
    stuck = [
        step_id
        for step_id in state.definition.order
        if state.steps[step_id].status in (StepStatus.FAILED, StepStatus.COMPENSATION_FAILED)
    ]
    for act in [RetryStep(s, by="driver", reason="liveness") for s in stuck] + [
        SkipStep(s, by="driver", reason="liveness") for s in stuck
    ]:
        if act_allowed(state, act):
            return act
    raise AssertionError(f"nothing to do, yet the run has not ended: {state}")


class SagaRuns(RuleBasedStateMachine):
    """Runs of random workflows, one after the other, and the world around them."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 1_000.0
        self.runs = 0
        self.definitions: list[Definition] = []
        self.inputs: list[dict[str, Any]] = []
        self.driven: RunState | None = None

    @initialize(
        workflows=st.lists(definitions(), min_size=1, max_size=3),
        inputs=st.lists(run_inputs(), min_size=1, max_size=3),
    )
    def create(self, workflows: list[Definition], inputs: list[dict[str, Any]]) -> None:
        self.definitions = workflows
        self.inputs = inputs
        self.start_a_run()

    def start_a_run(self) -> None:
        self.definition = self.definitions[self.runs % len(self.definitions)]
        self.input = self.inputs[self.runs % len(self.inputs)]
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
        self.started_ever: set[str] = set()
        self.not_taken: set[str] = set()  # skipped by a condition, or on a dead path
        self.evaluated: dict[str, bool | str] = {}  # each condition's outcome, as answered
        self.events: list[Emit] = []  # the run's event log
        # What changed the run, in order: decided happenings, and the shell's claims.
        self.log: list[tuple[Happening, float, float] | tuple[str, float]] = []
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
        """Decide ``happening``, the conditions it asks for answered at once; the first
        decision (the one about ``happening`` itself) is returned."""
        decisions = []
        for before, decided, decision in answered(
            self.state, happening, now=self.now, jitter=jitter, run_input=self.input
        ):
            assert before is self.state
            decisions.append(decision)
            self.state = decision.state
            if not decision.ignored:
                self.log.append((decided, self.now, jitter))
            if isinstance(decided, ConditionEvaluated) and not decision.ignored:
                assert decided.step not in self.evaluated, f"{decided.step} evaluated twice"
                self.evaluated[decided.step] = decided.value if decided.error is None else ERROR
            if not isinstance(decided, ACTS):
                self.history.append(decided)
            for command in decision.commands:
                if isinstance(command, Emit):
                    self.record(command)
                elif not isinstance(command, WaitForApproval | EvaluateCondition):
                    self.outbox.append(command)
        return decisions[0]

    def act(self, act: Any) -> None:
        try:
            self.apply(act)
        except ActNotAllowed as refused:
            assert refused.message

    def record(self, event: Emit) -> None:
        self.events.append(event)
        if event.step is None:
            return
        pivot = self.definition.step(event.step).pivot
        by_condition = event.data.get("reason") == "condition"
        if event.event_type is EventType.STEP_SUCCEEDED:
            self.succeeded_ever.add(event.step)
        elif event.event_type is EventType.STEP_STARTED:
            self.started_ever.add(event.step)
        elif event.event_type is EventType.STEP_SKIPPED and by_condition:
            self.not_taken.add(event.step)
        if event.step in self.not_taken:
            # Never started, never compensated: nothing of it happens at all.
            assert event.step not in self.started_ever | self.compensation_started_ever
            assert not self.applied[self.key(event.step)]
        if by_condition:
            return  # a pivot on a branch not taken is no pivot passed
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
        self.state = claimed(self.state, step_id, self.now)
        self.log.append((step_id, self.now))

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
            drive_to_the_end(self.state, self.now, self.input)
            drive_to_the_end(self.state, self.now, self.input, doom_one=True)
            self.driven = self.state

    @invariant()
    def conditions_decide_what_runs(self) -> None:
        if not self.runs:
            return
        state, definition = self.state, self.definition
        steps = state.steps
        if not state.compensating and not state.terminal:
            for step_id in definition.order:
                after = definition.step(step_id).after
                if after and all(steps[a].skipped_by_condition for a in after):
                    assert steps[step_id].skipped_by_condition, f"{step_id} on a dead path"
                if steps[step_id].status is StepStatus.PENDING:
                    # Whatever is ready has begun (or was decided not to) by now.
                    assert not all(steps[a].status in DONE for a in after), f"{step_id} idle"
        for step_id, step in steps.items():
            if step.status is StepStatus.FAILED and step.attempt == 0:
                # Its condition failed to evaluate: for good, no retry brings it back.
                assert not act_allowed(state, RetryStep(step_id, by="olga", reason="again"))
        for step_id in self.not_taken:
            assert not self.applied[self.key(step_id)] and not self.applied[self.key(step_id, True)]
        # A pivot on a branch not taken does not keep an operator from compensating.
        may_compensate = (
            not (state.terminal or state.compensating or past_a_pivot(state))
            and state.status is not RunStatus.PENDING
        )
        assert act_allowed(state, CompensateRun(by="olga", reason="c")) == may_compensate

    def check_the_log(self) -> None:
        """The event log says what each condition came to (or that it was on a dead path,
        never evaluated), and the happenings recorded rebuild the run without evaluating
        a condition again."""
        found: dict[str, bool | str] = {}
        dead: set[str] = set()
        for emitted in self.events:
            if emitted.step is None or emitted.event_type.is_act:
                continue
            if emitted.data.get("dead_path"):
                dead.add(emitted.step)
            elif emitted.data.get("reason") == "condition":
                outcome = ERROR if emitted.event_type is EventType.STEP_FAILED else False
                assert found.setdefault(emitted.step, outcome) == outcome, emitted
            elif emitted.data.get("condition") is True:
                assert found.setdefault(emitted.step, True) is True, emitted
        assert found == self.evaluated
        assert found == {s: CONDITIONS[self.definition.step(s).when](self.input) for s in found}  # type: ignore[index]
        assert not dead & set(self.evaluated), "a step on a dead path was evaluated"
        assert dead | {s for s, v in found.items() if v is False} == self.not_taken
        state = initial_state(self.definition)
        for entry in self.log:
            if len(entry) == 2:
                state = claimed(state, *entry)  # type: ignore[arg-type]
                continue
            happening, now, jitter = entry  # type: ignore[misc]
            # As a history keeps it, and no EvaluateCondition asked on the way is answered.
            recorded = happening_from_json(happening_json(happening))
            state = decide(state, recorded, now=now, jitter=jitter).state
        assert state == self.state, "the recorded happenings rebuild another run"

    def note_where_the_run_ended(self) -> None:
        self.check_the_log()
        # Shown by --hypothesis-show-statistics: where the random runs ended up.
        event(f"a run ended {self.state.status}")
        if self.not_taken or self.evaluated:
            taken = sum(1 for v in self.evaluated.values() if v is True)
            failed = sum(1 for v in self.evaluated.values() if v == ERROR)
            event(f"conditions: {taken} taken, {len(self.not_taken)} not, {failed} failed")
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

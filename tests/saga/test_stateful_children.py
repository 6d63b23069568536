"""A parent run with a child saga step and its child run, both driven by the pure kernel.

Hypothesis draws a parent workflow (``book -> pay``, ``pay`` a child saga step, maybe a
step ``side`` beside it and a step ``ship`` after it, a pivot nowhere, before ``pay`` or
after it) and a child workflow (``c1 -> c2 -> c3``, a pivot maybe), and drives both runs
through any order of answers, failures, worker deaths, duplicate and late deliveries,
lost messages, the reconciler and operator acts on either run.

The model plays the engine's shell for the child saga step as engine/children.py
does: its worker starts the child (once: the child's idempotency key is the parent's
run and step) and waits, or finds it ended; compensating the step sends the child
``ParentCompensates``; the child's end reaches the parent as ``child_ended`` turns it
(``CallbackCompleted`` going forward, ``CompensationSucceeded`` or
``CompensationFailed`` going back), read from both runs when the message arrives; the
reconciler tells a waiting parent again (``tell_waiting_parents``) and asks a child
again (``ask_again``). Those messages are lost, duplicated, delayed and reordered.
A ledger of effects keyed as participants key them holds the checks to what a
participant would see.

What must hold: the step succeeds only on a completed child, with its output; a child
compensated or cancelled fails it for good; when the parent compensates, its child is
undone before anything the parent did before starting it; a child past its own pivot
is never compensated, and its parent's step then ends compensation_failed; only the
parent makes a completed child compensate; each effect takes place at most once; and
from anywhere, both runs can be brought to an end.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from saga import (
    ActNotAllowed,
    CallbackCompleted,
    CancelRun,
    Command,
    CompensateRun,
    CompensationFailed,
    CompensationSucceeded,
    Decision,
    Definition,
    Emit,
    EventType,
    Happening,
    ParentCompensates,
    RetryStep,
    RunStarted,
    RunState,
    RunStatus,
    ScheduleCompensationRetry,
    ScheduleRetry,
    SkipStep,
    StartCompensation,
    StartStep,
    StepFailed,
    StepStatus,
    StepSucceeded,
    StepWaiting,
    TimerFired,
    act_allowed,
    decide,
    definition_from_spec,
    due_happenings,
    initial_state,
)
from saga.vocabulary import TERMINAL
from tests.saga.test_stateful import check_decision, claimed, past_a_pivot

S, R = StepStatus, RunStatus
ACTS = (RetryStep, SkipStep, CompensateRun, CancelRun)
OUTCOMES = ("ok",) * 5 + ("retryable", "permanent", "die_before", "die_after")
TROUBLE = ("reconcile",) * 4 + ("lose",) * 3 + ("redeliver",) * 2
TROUBLE += ("retry", "skip", "skip", "compensate", "cancel")
WAITS = (3600.0, 60.0, 16.0, 0.0)
SIDES = ("parent", "child")


def task(step_id: str, after: list[str], attempts: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": step_id,
        "type": "task",
        "after": after,
        "action": {"name": "demo.noop"},
        "retry": {"max_attempts": attempts, "jitter": "none"},
        "timeout_s": 10,
        **extra,
    }


UNDO = {"compensation": {"name": "demo.noop"}}


@st.composite
def workflows(draw: st.DrawFn) -> tuple[Definition, Definition]:
    """A parent with a child saga step, and the child workflow it runs."""
    attempts = st.integers(1, 3)
    pivot = draw(st.sampled_from(["none", "after", "before"]))
    parent = [
        task(
            "book",
            [],
            draw(attempts),
            pivot=pivot == "before",
            **({} if pivot == "before" else UNDO),
        ),
        {
            "id": "pay",
            "type": "subsaga",
            "after": ["book"],
            "action": {"workflow": "payment"},
            "retry": {"max_attempts": draw(attempts), "jitter": "none"},
            "timeout_s": 10,
        },
    ]
    if draw(st.booleans()):  # beside the child: may fail while it runs
        parent.append(task("side", ["book"], draw(attempts), **({} if pivot == "before" else UNDO)))
    if pivot == "after" or draw(st.booleans()):
        undo = UNDO if pivot == "none" else {}
        parent.append(task("ship", ["pay"], draw(attempts), pivot=pivot == "after", **undo))
    child_pivot = draw(st.sampled_from(["none", "c2", "c3"]))
    child = [task("c1", [], draw(attempts), **UNDO)]
    child.append(
        task(
            "c2",
            ["c1"],
            draw(attempts),
            pivot=child_pivot == "c2",
            **({} if child_pivot == "c2" else UNDO),
        )
    )
    if child_pivot == "c3" or draw(st.booleans()):
        undo = UNDO if child_pivot == "none" else {}
        child.append(task("c3", ["c2"], draw(attempts), pivot=child_pivot == "c3", **undo))
    return (
        definition_from_spec({"format": "sagaboard/v1", "steps": parent}),
        definition_from_spec({"format": "sagaboard/v1", "steps": child}),
    )


@dataclass
class Side:
    """One run and its world: work sent and not yet done, answers on their way back,
    everything it was ever told (to tell it again), its event log."""

    name: str
    state: RunState
    outbox: list[Command] = field(default_factory=list)
    inbox: list[Happening] = field(default_factory=list)
    history: list[Happening] = field(default_factory=list)
    events: list[Emit] = field(default_factory=list)

    def copy(self) -> Side:
        return Side(
            self.name,
            self.state,
            list(self.outbox),
            list(self.inbox),
            list(self.history),
            list(self.events),
        )

    def step(self, step_id: str) -> Any:
        return self.state.steps[step_id]


class ParentAndChild(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 1_000.0

    @initialize(drawn=workflows())
    def start(self, drawn: tuple[Definition, Definition]) -> None:
        self.parent_definition, self.child_definition = drawn
        self.pairs = 0
        self.start_a_pair()

    def start_a_pair(self) -> None:
        self.pairs += 1
        self.parent = Side(f"parent-{self.pairs}", initial_state(self.parent_definition))
        self.child: Side | None = None
        self.nudges: list[str] = []  # "the child ended" messages on their way to the parent
        self.applied: Counter[str] = Counter()  # the ledger: effects by idempotency key
        self.child_output: Any = None  # the child's output, saved as it completes
        self.operator_on_pay = False  # an operator skipped the child saga step (or its undoing)
        self.apply(self.parent, RunStarted())

    @rule()
    def the_next_pair_starts(self) -> None:
        """Once both runs have ended, a new parent starts (a short pair wastes no example)."""
        if self.parent.state.terminal and (self.child is None or self.child.state.terminal):
            self.teardown()
            self.start_a_pair()

    def sides(self) -> list[Side]:
        return [self.parent] + ([self.child] if self.child is not None else [])

    def side(self, name: str) -> Side:
        if name.startswith("child") and self.child is not None:
            return self.child
        return self.parent

    # ------------------------------------------------------------------ the engine

    def apply(self, side: Side, happening: Happening) -> Decision:
        before = side.state
        decision = decide(before, happening, now=self.now, jitter=0.5)
        check_decision(before, happening, decision, self.now)
        if decision.ignored:
            return decision
        side.state = after = decision.state
        if not isinstance(happening, ACTS):
            side.history.append(happening)
        for command in decision.commands:
            if isinstance(command, Emit):
                side.events.append(command)
            else:
                side.outbox.append(command)
        if side is self.parent:
            self.check_parent(before, happening, decision)
        else:
            self.check_child(before, happening, decision)
            if after.status is R.COMPLETED and before.status is not R.COMPLETED:
                self.child_output = {"paid": sorted(s for s, v in after.steps.items() if v.output)}
            if after.terminal and not before.terminal:
                self.nudges.append("ended")  # sent on commit, and maybe lost
        return decision

    def act(self, side: Side, act: Any) -> None:
        completed = side.state.status is R.COMPLETED
        try:
            self.apply(side, act)
        except ActNotAllowed as refused:
            assert refused.message
        else:
            # Only its parent makes a completed child compensate: no operator act does.
            assert not completed, f"{act} changed a completed run"

    def check_parent(self, before: RunState, happening: Happening, decision: Decision) -> None:
        after = decision.state
        pay_before, pay = before.steps["pay"], after.steps["pay"]
        child = self.child.state if self.child is not None else None
        if pay.status is S.SUCCEEDED and pay_before.status is not S.SUCCEEDED:
            # Only a child that completed makes its step succeed, with the child's output.
            assert child is not None and child.status is R.COMPLETED, happening
            assert pay.output == self.child_output
        if isinstance(happening, CallbackCompleted) and not happening.succeeded:
            # A child compensated or cancelled fails its step for good.
            assert pay.status is S.FAILED, pay
        if pay.status is S.COMPENSATED and pay_before.status is not S.COMPENSATED:
            assert child is None or child.status is R.COMPENSATED, child
        for emitted in decision.events:
            if emitted.step == "pay" and emitted.event_type is EventType.STEP_SKIPPED:
                self.operator_on_pay |= emitted.data.get("reason") != "condition"
            if (
                emitted.event_type is EventType.STEP_COMPENSATION_STARTED
                and emitted.step in after.definition.ancestors("pay")
                and not self.operator_on_pay
            ):
                # Reverse order across the two runs: the child is undone before whatever
                # the parent did before starting it (unless an operator stopped the child).
                assert child is None or child.status in (R.COMPENSATED, R.CANCELLED), (
                    f"{emitted.step} compensated while the child run is {child.status}"
                )

    def check_child(self, before: RunState, happening: Happening, decision: Decision) -> None:
        after = decision.state
        if before.status is R.COMPLETED:
            assert isinstance(happening, ParentCompensates), happening
        if isinstance(happening, ParentCompensates):
            assert not past_a_pivot(before), "a child past its pivot was made to compensate"
        for emitted in decision.events:
            if emitted.event_type is EventType.STEP_COMPENSATION_STARTED:
                assert not past_a_pivot(after), f"{emitted.step} compensated past the pivot"

    # ------------------------------------------------------------------ the world

    def key(self, side: Side, step_id: str, compensation: bool = False) -> str:
        return f"{side.name}:{step_id}" + (":compensate" if compensation else "")

    def take_effect(self, key: str) -> None:
        if key.endswith(":compensate"):
            assert self.applied[key.removesuffix(":compensate")], f"{key}: undone but never done"
        else:
            assert not self.applied[key + ":compensate"], f"{key} done after its undoing"
        self.applied[key] = 1  # a participant applies a key once

    @rule(
        name=st.sampled_from(SIDES),
        pick=st.integers(0, 1000),
        outcome=st.sampled_from(OUTCOMES),
        later=st.booleans(),
    )
    def a_worker_carries_out_a_command(
        self, name: str, pick: int, outcome: str, later: bool
    ) -> None:
        side = self.side(name)
        if not side.outbox:
            return
        command = side.outbox.pop(pick % len(side.outbox))
        answer: Happening | None = None
        if isinstance(command, ScheduleRetry):
            self.now = max(self.now, command.at)
            answer = TimerFired(command.step, command.attempt)
        elif isinstance(command, ScheduleCompensationRetry):
            self.now = max(self.now, command.at)
            answer = TimerFired(command.step, command.attempt, compensation=True)
        elif isinstance(command, StartStep | StartCompensation):
            undo = isinstance(command, StartCompensation)
            step = side.step(command.step)
            attempt = step.compensation_attempt if undo else step.attempt
            wanted = S.COMPENSATING if undo else S.RUNNING
            if step.status is not wanted or attempt != command.attempt or step.due_at is not None:
                return  # the claim finds nothing: a duplicate, or the step moved on
            side.state = claimed(side.state, command.step, self.now)
            if side is self.parent and command.step == "pay":
                answer = (self.compensate_child if undo else self.start_child)(command, outcome)
            else:
                answer = self.run_task(side, command, undo, outcome)
        if answer is None:
            return
        if later:
            side.inbox.append(answer)
        else:
            self.apply(side, answer)

    def run_task(self, side: Side, command: Any, undo: bool, outcome: str) -> Happening | None:
        key = self.key(side, command.step, undo)
        if outcome in ("ok", "die_after"):
            self.take_effect(key)
        if outcome == "ok":
            if undo:
                return CompensationSucceeded(command.step, command.attempt)
            return StepSucceeded(command.step, command.attempt, {"id": key})
        if outcome in ("retryable", "permanent"):
            cls = CompensationFailed if undo else StepFailed
            return cls(command.step, command.attempt, outcome, outcome == "retryable")  # type: ignore[operator]
        return None  # the worker died

    def start_child(self, command: StartStep, outcome: str) -> Happening | None:
        """engine.children.start_child: start the child (or find it), then wait for its end,
        or answer with it when it has ended."""
        if outcome == "die_before":
            return None
        if outcome == "retryable":  # the database was away: nothing started
            return StepFailed("pay", command.attempt, "could not start the child", True)
        if self.child is None:
            self.child = Side(f"child-{self.pairs}", initial_state(self.child_definition))
            self.apply(self.child, RunStarted())
        if outcome == "die_after":
            return None
        child = self.child.state
        if child.status is R.COMPLETED:
            return StepSucceeded("pay", command.attempt, self.child_output)
        if child.terminal:
            error = f"the child run was {child.status}"
            return StepFailed("pay", command.attempt, error, retryable=False)
        return StepWaiting("pay", command.attempt)

    def compensate_child(self, command: StartCompensation, outcome: str) -> Happening | None:
        """engine.children.compensate_child: have the child compensated, and wait for it."""
        if outcome == "die_before":
            return None
        attempt = command.attempt
        if self.child is None or self.child.state.status is R.COMPENSATED:
            return CompensationSucceeded("pay", attempt)  # nothing done, or undone already
        try:
            self.apply(self.child, ParentCompensates(parent=self.parent.name))
        except ActNotAllowed as exc:
            assert past_a_pivot(self.child.state)
            answer: Happening | None = CompensationFailed("pay", attempt, str(exc), False)
        else:
            status = self.child.state.status
            answer = None  # it compensates: its end is heard later
            if status is R.COMPENSATED:
                answer = CompensationSucceeded("pay", attempt)
            elif status is R.CANCELLED:
                answer = CompensationFailed("pay", attempt, "the child was cancelled", False)
        return None if outcome == "die_after" else answer

    def child_ended(self) -> None:
        """engine.children.child_ended: what the child's end comes to, read from both runs
        as the message arrives."""
        if self.child is None or not self.child.state.terminal:
            return
        child, pay = self.child.state, self.parent.step("pay")
        happening: Happening | None = None
        if pay.status in (S.RUNNING, S.WAITING):
            ok = child.status is R.COMPLETED
            error = None if ok else f"the child run was {child.status}"
            output = self.child_output if ok else None
            happening = CallbackCompleted("pay", pay.attempt, ok, output, error, retryable=False)
        elif pay.status is S.COMPENSATING and pay.due_at is None:
            attempt = pay.compensation_attempt
            if child.status is R.COMPENSATED:
                happening = CompensationSucceeded("pay", attempt)
            elif child.status is R.CANCELLED:
                error = "the child run was cancelled before it was undone"
                happening = CompensationFailed("pay", attempt, error, retryable=False)
        if happening is not None:
            self.apply(self.parent, happening)

    def reconcile(self, wait: float) -> None:
        """A pass of the reconciler: what is due in each run, then the parents told again
        and the children asked again (engine.children.tell_waiting_parents)."""
        self.now += wait
        for side in self.sides():
            for happening in due_happenings(side.state, self.now):
                self.apply(side, happening)
        if self.child is None or self.parent.state.terminal:
            return
        pay = self.parent.step("pay")
        if self.child.state.terminal and pay.status in (S.RUNNING, S.WAITING, S.COMPENSATING):
            self.child_ended()
        pay, child = self.parent.step("pay"), self.child.state
        if (
            pay.status is S.COMPENSATING
            and pay.due_at is None
            and child.status not in TERMINAL - {R.COMPLETED}
            and not child.compensating
        ):
            try:
                self.apply(self.child, ParentCompensates(parent=self.parent.name))
            except ActNotAllowed as exc:
                attempt = pay.compensation_attempt
                self.apply(self.parent, CompensationFailed("pay", attempt, str(exc), False))

    @rule(name=st.sampled_from(SIDES), pick=st.integers(0, 1000))
    def an_answer_arrives(self, name: str, pick: int) -> None:
        side = self.side(name)
        if side.inbox:
            self.apply(side, side.inbox.pop(pick % len(side.inbox)))

    @rule(pick=st.integers(0, 1000), fate=st.sampled_from(["arrives", "twice", "lost"]))
    def the_child_ended_message(self, pick: int, fate: str) -> None:
        """Delivered in any order, late, twice, or never (the reconciler then tells)."""
        if not self.nudges:
            return
        self.nudges.pop(pick % len(self.nudges))
        if fate != "lost":
            self.child_ended()
        if fate == "twice":
            self.nudges.append("ended")

    @rule(n=st.integers(1, 10))
    def good_weather(self, n: int) -> None:
        """A stretch where work is done and answered in order, in both runs."""
        for _ in range(n):
            if self.nudges:
                self.the_child_ended_message(0, "arrives")
            for side in self.sides():
                if side.inbox:
                    self.apply(side, side.inbox.pop(0))
                elif side.outbox:
                    self.a_worker_carries_out_a_command(side.name, 0, "ok", False)

    @rule(
        kind=st.sampled_from(TROUBLE),
        name=st.sampled_from(SIDES),
        pick=st.integers(0, 1000),
        wait=st.sampled_from(WAITS),
    )
    def trouble(self, kind: str, name: str, pick: int, wait: float) -> None:
        side = self.side(name)
        order = side.state.definition.order
        step_id = order[pick % len(order)]
        if kind == "lose" and (side.inbox or side.outbox):
            queue = side.inbox if side.inbox and (pick % 2 or not side.outbox) else side.outbox
            queue.pop(pick % len(queue))
        elif kind == "redeliver":
            for happening in list(side.history):
                if not isinstance(happening, ParentCompensates):  # a call, not a message
                    self.apply(side, happening)
        elif kind == "reconcile":
            self.reconcile(wait)
        elif kind == "retry":
            self.act(side, RetryStep(step_id, by="olga", reason="r"))
        elif kind == "skip":
            self.act(side, SkipStep(step_id, by="olga", reason="s"))
        elif kind == "compensate":
            self.act(side, CompensateRun(by="olga", reason="c"))
        elif kind == "cancel" and pick % 3 == 0:
            self.act(side, CancelRun(by="olga", reason="x"))

    # ------------------------------------------------------------------ invariants

    @invariant()
    def the_step_stands_as_its_child(self) -> None:
        assert all(n <= 1 for n in self.applied.values())
        pay = self.parent.step("pay")
        child = self.child.state if self.child is not None else None
        if pay.status is S.SUCCEEDED:
            assert child is not None and child.status is R.COMPLETED
            assert pay.output == self.child_output
        if child is not None and child.status is R.COMPLETED:
            # Only its parent may undo a completed child: no operator act may.
            assert not act_allowed(child, CompensateRun(by="olga", reason="c"))
            assert not act_allowed(child, CancelRun(by="olga", reason="x"))

    @invariant()
    def both_runs_can_be_brought_to_an_end(self) -> None:
        for doom in ("none", "parent", "child"):
            saved = self.snapshot()
            self.drive(doom)
            self.restore(saved)

    def snapshot(self) -> tuple[Any, ...]:
        return (
            self.now,
            self.parent.copy(),
            self.child.copy() if self.child is not None else None,
            list(self.nudges),
            Counter(self.applied),
            self.child_output,
            self.operator_on_pay,
        )

    def restore(self, saved: tuple[Any, ...]) -> None:
        (
            self.now,
            self.parent,
            self.child,
            self.nudges,
            self.applied,
            self.child_output,
            self.operator_on_pay,
        ) = saved

    def drive(self, doom: str) -> None:
        """Good weather from here, the reconciler passing now and then, and an operator
        retrying, then skipping, what failed for good: both runs must end. ``doom`` fails
        one attempt for good first (of the parent beside or after its child, or of the
        child after its first step), to walk the way back from here."""
        undone_past_pivot = False
        retried: set[tuple[str, str]] = set()
        for _ in range(300):
            if self.parent.state.terminal and (self.child is None or self.child.state.terminal):
                break
            if self.nudges:
                self.the_child_ended_message(0, "arrives")
                continue
            side = next((s for s in self.sides() if s.inbox or s.outbox), None)
            if side is not None:
                if side.inbox:
                    self.apply(side, side.inbox.pop(0))
                    continue
                side.outbox = list(dict.fromkeys(side.outbox))  # the same message is one
                first = side.outbox[0]
                doomed = (
                    side.name.startswith(doom)
                    and isinstance(first, StartStep)
                    and first.step not in ("book", "pay", "c1")
                )
                doom = "none" if doomed else doom
                outcome = "permanent" if doomed else "ok"
                self.a_worker_carries_out_a_command(side.name, 0, outcome, False)
                continue
            before = (self.parent.state, self.child.state if self.child else None)
            self.reconcile(100.0)
            if before != (self.parent.state, self.child.state if self.child else None):
                continue
            undone_past_pivot |= self.operator_acts(retried)
        else:
            raise AssertionError(f"no end: {self.parent.state} {self.child}")
        if undone_past_pivot:
            event("driven: the parent could not undo a child past its pivot")
        pay = self.parent.step("pay")
        event(
            f"driven ({doom}): parent {self.parent.state.status}, pay {pay.status}, "
            f"child {self.child.state.status if self.child else None}"
        )

    def operator_acts(self, retried: set[tuple[str, str]]) -> bool:
        """Nothing moves: an operator retries what failed for good (once), or skips it.
        Whether they skipped the undoing of a child past its pivot."""
        for side in self.sides():
            failed = [
                s
                for s in side.state.definition.order
                if side.step(s).status in (S.FAILED, S.COMPENSATION_FAILED)
            ]
            retries = [
                RetryStep(s, "driver", "go") for s in failed if (side.name, s) not in retried
            ]
            for act in retries + [SkipStep(s, "driver", "go") for s in failed]:
                if not act_allowed(side.state, act):
                    continue
                if isinstance(act, RetryStep):
                    retried.add((side.name, act.step))
                past_pivot = (
                    side is self.parent
                    and act.step == "pay"
                    and side.step("pay").status is S.COMPENSATION_FAILED
                )
                if past_pivot:
                    # A child past its own pivot cannot be undone: the parent's step ended
                    # compensation_failed, and only then an operator skips it.
                    assert self.child is not None and past_a_pivot(self.child.state)
                    assert self.child.state.status is not R.COMPENSATED
                self.act(side, act)
                return past_pivot
        raise AssertionError(
            f"nothing moves either run: {self.parent.state} {self.child and self.child.state}"
        )

    def teardown(self) -> None:
        if hasattr(self, "parent"):
            child = self.child.state.status if self.child is not None else "not started"
            event(f"parent {self.parent.state.status}, child {child}")


ParentAndChild.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestParentAndChild = ParentAndChild.TestCase

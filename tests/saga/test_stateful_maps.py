"""Maps under random interleavings, with the shell's partial loading of iterations.

Hypothesis draws small workflows around one map (a step before it, maybe one after,
a pivot before, after or nowhere, compensations where validation allows them) and
drives a run through any order of iteration answers, failures, duplicate and late
deliveries, lost messages and the reconciler, operator acts on iterations, on the
map and on the run. Like the engine's store, the model keeps every iteration and
hands ``decide`` only those the kernel says a change needs
(:func:`saga.fan.needs_every_iteration`); what comes back is merged into what it
keeps. A ledger of effects keyed as participants key them
(``<run>:<step>:<index>``) holds the checks to what a participant would see.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from types import MappingProxyType
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from saga import (
    ActNotAllowed,
    AttemptLost,
    CancelRun,
    CompensateRun,
    CompensationFailed,
    CompensationSucceeded,
    Decision,
    Definition,
    EvaluateItems,
    Fan,
    Happening,
    ItemsEvaluated,
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
    StepState,
    StepStatus,
    StepSucceeded,
    TimerFired,
    decide,
    definition_from_spec,
    due_happenings,
    initial_state,
)
from saga.fan import needs_every_iteration
from saga.vocabulary import AT_REST

S = StepStatus
MOVING = (S.RUNNING, S.RETRYING, S.WAITING)
OUTCOMES = ("ok",) * 5 + ("retryable", "permanent", "die_before", "die_after")
TROUBLE = ("reconcile",) * 3 + ("lose",) * 2 + ("redeliver",) * 2
TROUBLE += ("retry", "retry_map", "skip", "compensate", "cancel")


@st.composite
def specs(draw: st.DrawFn) -> tuple[dict[str, Any], int]:
    """A workflow around one map, and how many items its runs get."""
    pivot = draw(st.sampled_from(["none", "before", "after"]))
    undo = {"name": "demo.noop"}
    do: dict[str, Any] = {
        "type": "task",
        "action": {"name": "demo.noop"},
        "retry": {"max_attempts": draw(st.integers(1, 3)), "jitter": "none"},
        "timeout_s": 10,
    }
    if pivot != "before" and draw(st.integers(0, 3)):
        do["compensation"] = undo
    first: dict[str, Any] = {"id": "first", "type": "task", "action": {"name": "demo.noop"}}
    if pivot == "before":
        first["pivot"] = True
    else:
        first["compensation"] = undo
    steps = [
        first,
        {
            "id": "lines",
            "type": "map",
            "after": ["first"],
            "items": "input.lines",
            "max_concurrency": draw(st.integers(1, 3)),
            "do": do,
        },
    ]
    if pivot == "after" or draw(st.booleans()):
        steps.append(
            {
                "id": "last",
                "type": "task",
                "after": ["lines"],
                "action": {"name": "demo.noop"},
                "pivot": pivot == "after",
            }
        )
    return {"format": "sagaboard/v1", "steps": steps}, draw(st.integers(0, 6))


def loaded_view(full: RunState, happening: Happening | None) -> RunState:
    """What the shell hands ``decide``: of each map, only the iterations the change needs."""
    steps = dict(full.steps)
    for sid in full.definition.maps:
        step = full.steps[sid]
        if step.fan is None:
            continue
        fan = step.fan
        if needs_every_iteration(
            happening,
            run_status=full.status,
            compensating=full.compensating,
            map_status=step.status,
            counts=fan.counts,
        ):
            top = sorted((i for i, it in fan.iterations.items() if it.status is S.SUCCEEDED))
            top = top[-full.definition.step(sid).max_concurrency :]
            keep = {i for i, it in fan.iterations.items() if it.status not in AT_REST}
            keep |= set(top)
        else:
            keep = set()
        if (
            getattr(happening, "step", None) == sid
            and getattr(happening, "index", None) is not None
        ):
            keep.add(happening.index)  # type: ignore[union-attr]
        iterations = {i: it for i, it in fan.iterations.items() if i in keep}
        steps[sid] = dataclasses.replace(
            step, fan=dataclasses.replace(fan, iterations=MappingProxyType(iterations))
        )
    return dataclasses.replace(full, steps=MappingProxyType(steps))


def merged(full: RunState, decided: RunState) -> RunState:
    """What the store holds after writing a decision: every iteration it had, changed by
    the ones the decision holds."""
    steps = dict(decided.steps)
    for sid in decided.definition.maps:
        new, old = decided.steps[sid].fan, full.steps[sid].fan
        if new is None:
            continue
        iterations = dict(old.iterations) if old is not None else {}
        iterations.update(new.iterations)
        steps[sid] = dataclasses.replace(
            decided.steps[sid],
            fan=dataclasses.replace(new, iterations=MappingProxyType(iterations)),
        )
    return dataclasses.replace(decided, steps=MappingProxyType(steps))


class MapRuns(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 1_000.0

    @initialize(drawn=specs())
    def start(self, drawn: tuple[dict[str, Any], int]) -> None:
        spec, self.items = drawn
        self.definition: Definition = definition_from_spec(spec)
        self.state = initial_state(self.definition)
        self.outbox: list[Any] = []
        self.history: list[Happening] = []
        self.applied: Counter[str] = Counter()
        self.apply(RunStarted())

    # ------------------------------------------------------------------ the shell

    def apply(self, happening: Happening) -> Decision:
        view = loaded_view(self.state, happening)
        before = self.state
        decision = decide(view, happening, now=self.now, jitter=0.5)
        if decision.ignored:
            return decision
        self.state = merged(before, decision.state)
        self.check(before, happening, decision)
        if not isinstance(happening, RetryStep | SkipStep | CompensateRun | CancelRun):
            self.history.append(happening)
        for command in decision.commands:
            if isinstance(command, EvaluateItems):
                self.apply(ItemsEvaluated(command.step, self.items))
            elif isinstance(command, StartStep | StartCompensation | ScheduleRetry):
                self.outbox.append(command)
            elif isinstance(command, ScheduleCompensationRetry):
                self.outbox.append(command)
        return decision

    def act(self, happening: Happening) -> None:
        try:
            self.apply(happening)
        except ActNotAllowed as refused:
            assert refused.message

    def fan(self) -> Fan | None:
        return self.state.steps["lines"].fan

    def key(self, command: Any, compensation: bool) -> str:
        index = f":{command.index}" if command.index is not None else ""
        return f"run:{command.step}{index}" + (":compensate" if compensation else "")

    def current(self, command: Any) -> StepState:
        if command.index is None:
            return self.state.steps[command.step]
        fan = self.state.steps[command.step].fan
        assert fan is not None
        return fan.iterations.get(command.index, StepState())

    def check(self, before: RunState, happening: Happening, decision: Decision) -> None:
        fan = self.fan()
        for command in decision.commands:
            if isinstance(command, StartCompensation) and command.index is not None:
                assert fan is not None
                # Highest index first: nothing above it is still waiting to be undone.
                above = [
                    i
                    for i, it in fan.iterations.items()
                    if i > command.index and it.status is S.SUCCEEDED
                ]
                assert not above, f"{command.index} compensated before {above}"
                running = [i for i, it in fan.iterations.items() if it.status is S.RUNNING]
                assert not running, f"compensating while iterations {running} run"
            if isinstance(command, StartStep) and command.index is not None:
                # (a lost message of one in flight is sent again: it does not begin)
                if not isinstance(happening, AttemptLost):
                    assert not self.state.compensating, "an iteration began in a compensating run"

    # ------------------------------------------------------------------ the world

    @rule(pick=st.integers(0, 1000), outcome=st.sampled_from(OUTCOMES), later=st.booleans())
    def a_worker_carries_out_a_command(self, pick: int, outcome: str, later: bool) -> None:
        if not self.outbox:
            return
        command = self.outbox.pop(pick % len(self.outbox))
        answer: Happening | None = None
        if isinstance(command, ScheduleRetry):
            self.now = max(self.now, command.at)
            answer = TimerFired(command.step, command.attempt, False, command.index)
        elif isinstance(command, ScheduleCompensationRetry):
            self.now = max(self.now, command.at)
            answer = TimerFired(command.step, command.attempt, True, command.index)
        else:
            compensation = isinstance(command, StartCompensation)
            step = self.current(command)
            wanted = S.COMPENSATING if compensation else S.RUNNING
            attempt = step.compensation_attempt if compensation else step.attempt
            if step.status is not wanted or attempt != command.attempt:
                return  # the claim finds nothing: a duplicate, or the step moved on
            if outcome in ("ok", "die_after"):
                if compensation:
                    assert self.applied[self.key(command, False)], "undone but never done"
                self.applied[self.key(command, compensation)] = 1
            if outcome == "ok":
                answer = (
                    CompensationSucceeded(command.step, command.attempt, command.index)
                    if compensation
                    else StepSucceeded(command.step, command.attempt, {}, command.index)
                )
            elif outcome in ("retryable", "permanent"):
                cls = CompensationFailed if compensation else StepFailed
                answer = cls(  # type: ignore[operator]
                    command.step, command.attempt, outcome, outcome == "retryable", command.index
                )
        if answer is not None:
            if later:
                self.history.append(answer)  # it arrives when everything comes again
            else:
                self.apply(answer)

    @rule(kind=st.sampled_from(TROUBLE), pick=st.integers(0, 1000))
    def trouble(self, kind: str, pick: int) -> None:
        fan = self.fan()
        index = pick % fan.total if fan is not None and fan.total else None
        if kind == "lose" and self.outbox:
            self.outbox.pop(pick % len(self.outbox))
        elif kind == "redeliver":
            for happening in list(self.history):
                self.apply(happening)
        elif kind == "reconcile":
            self.now += 20.0
            for happening in due_happenings(loaded_view(self.state, None), self.now):
                self.apply(happening)
        elif kind in ("retry", "skip") and index is not None:
            cls = RetryStep if kind == "retry" else SkipStep
            self.act(cls("lines", "olga", "r", index=index))
        elif kind == "retry_map":
            self.act(RetryStep("lines", "olga", "r"))
        elif kind == "compensate":
            self.act(CompensateRun("olga", "c"))
        elif kind == "cancel" and pick % 4 == 0:
            self.act(CancelRun("olga", "x"))

    # ------------------------------------------------------------------ invariants

    @invariant()
    def the_counts_are_the_iterations(self) -> None:
        fan = self.fan()
        if fan is None:
            return
        assert set(fan.iterations) == set(range(fan.started)), "begun out of index order"
        actual = Counter(it.status for it in fan.iterations.values())
        assert {s: n for s, n in fan.counts.items() if n} == dict(actual)

    @invariant()
    def at_most_max_concurrency_in_flight(self) -> None:
        fan = self.fan()
        if fan is None:
            return
        limit = self.definition.step("lines").max_concurrency
        assert fan.count(*MOVING) <= limit
        assert fan.count(S.COMPENSATING) <= limit

    @invariant()
    def each_key_takes_effect_once_and_an_ended_run_owes_nothing(self) -> None:
        assert all(n <= 1 for n in self.applied.values())
        fan = self.fan()
        if self.state.status is RunStatus.COMPLETED and fan is not None:
            assert fan.count(S.SUCCEEDED, S.SKIPPED) == fan.total == self.items
        if self.state.status is RunStatus.COMPENSATED and fan is not None:
            if self.definition.step("lines").has_compensation:
                assert fan.count(S.SUCCEEDED) == 0, "a compensated run kept an effect"

    @invariant()
    def the_run_can_be_brought_to_an_end(self) -> None:
        # As it is, and with the next iteration failing for good after another succeeded,
        # to walk the compensation of iterations from here.
        for doom in (False, True):
            saved = (self.state, list(self.outbox), list(self.history), Counter(self.applied))
            self.drive(doom=doom)
            fan = self.fan()
            undone = fan.count(S.COMPENSATED) if fan is not None else 0
            event(f"driven to {self.state.status}; {min(undone, 3)} iterations compensated")
            self.state, self.outbox, self.history, self.applied = saved

    def drive(self, *, doom: bool) -> None:
        for _ in range(400):
            if self.state.terminal:
                break
            # A message sent again (the reconciler, redeliveries) is the same message: a
            # worker claims its attempt once.
            self.outbox = list(dict.fromkeys(self.outbox))
            if self.outbox:
                fan = self.fan()
                first = self.outbox[0]
                doomed = (
                    doom
                    and isinstance(first, StartStep)
                    and first.index is not None
                    and fan is not None
                    and fan.count(S.SUCCEEDED) > 0
                )
                self.a_worker_carries_out_a_command(0, "permanent" if doomed else "ok", False)
                doom = doom and not doomed
                continue
            self.now += 100.0
            due = due_happenings(loaded_view(self.state, None), self.now)
            for happening in due:
                self.apply(happening)
            if due:
                continue
            acts = [RetryStep("lines", "driver", "go")] + [
                RetryStep(sid, "driver", "go") for sid in self.definition.order
            ]
            fan = self.fan()
            if fan is not None:
                acts += [
                    SkipStep("lines", "driver", "go", index=i)
                    for i, it in fan.iterations.items()
                    if it.status in (S.FAILED, S.COMPENSATION_FAILED)
                ]
            acts += [SkipStep(sid, "driver", "go") for sid in self.definition.order]
            for act in acts:
                try:
                    self.apply(act)
                    break
                except ActNotAllowed:
                    continue
            else:
                raise AssertionError(f"nothing moves the run on: {self.state}")
        assert self.state.terminal, f"no end: {self.state}"

    def teardown(self) -> None:
        # Shown by --hypothesis-show-statistics: where the random runs stood.
        fan = self.fan() if hasattr(self, "state") else None
        if fan is not None:
            undone = fan.count(S.COMPENSATED)
            event(f"the run {self.state.status}; {min(undone, 3)} iterations compensated")


MapRuns.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestMapRuns = MapRuns.TestCase

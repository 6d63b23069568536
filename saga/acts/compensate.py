"""``compensate``: the run is turned around and undone (only before a pivot has passed)."""

from __future__ import annotations

from saga.acts.base import ActNotAllowed, RunAct, require_open
from saga.compensation import begin_compensation
from saga.draft import Draft
from saga.happenings import Act, CompensateRun
from saga.state import pivot_passed
from saga.vocabulary import EventType, StepStatus


class Compensate(RunAct):
    summary = (
        "The run is turned around and its succeeded steps compensated, in reverse graph "
        "order (only before a pivot has passed)."
    )
    name = "compensate"
    event = EventType.ACT_COMPENSATE
    on_step = False

    def make(self, *, step: str | None, by: str, reason: str) -> Act:
        return CompensateRun(by, reason)

    def apply(self, d: Draft, h: Act) -> None:
        assert isinstance(h, CompensateRun)
        require_open(d, "it cannot be compensated")
        pivot = pivot_passed(d.definition, d.steps)
        if pivot is not None:
            passed = d.steps[pivot].status is StepStatus.SUCCEEDED
            verb = "has succeeded" if passed else "was skipped"
            raise ActNotAllowed(f"the pivot {pivot} {verb}; the run can only move forward")
        if d.compensating:
            raise ActNotAllowed("the run is already compensating")
        d.act(EventType.ACT_COMPENSATE, None, h.by, h.reason)
        begin_compensation(d)


ACT = Compensate()

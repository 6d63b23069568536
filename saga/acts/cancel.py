"""``cancel``: the run stops where it stands; answers in flight are recorded, nothing starts."""

from __future__ import annotations

from saga.acts.base import ActNotAllowed, RunAct
from saga.draft import ABANDONED_CANCELLED, Draft
from saga.happenings import Act, CancelRun
from saga.vocabulary import RUN_PHRASES, EventType, RunStatus, StepStatus

S = StepStatus


class Cancel(RunAct):
    summary = "The run stops where it stands, without compensating; answers in flight are recorded."
    name = "cancel"
    event = EventType.ACT_CANCEL
    on_step = False

    def make(self, *, step: str | None, by: str, reason: str) -> Act:
        return CancelRun(by, reason)

    def apply(self, d: Draft, h: Act) -> None:
        assert isinstance(h, CancelRun)
        if d.terminal:
            raise ActNotAllowed(
                f"the run {RUN_PHRASES[d.status]}; only a run still going can be cancelled"
            )
        d.act(EventType.ACT_CANCEL, None, h.by, h.reason)
        for step_id in d.definition.order:
            step = d.steps[step_id]
            if step.status in (S.RETRYING, S.WAITING):
                d.fail(step_id, ABANDONED_CANCELLED, abandoned=True)
            elif step.status is S.COMPENSATING and step.due_at is not None:
                d.move(step_id, S.COMPENSATION_FAILED, error=ABANDONED_CANCELLED, due_at=None)
                d.emit(
                    EventType.STEP_COMPENSATION_FAILED,
                    step_id,
                    S.COMPENSATION_FAILED,
                    step.compensation_attempt,
                    ABANDONED_CANCELLED,
                    abandoned=True,
                )
        d.run_status(RunStatus.CANCELLED)


ACT = Cancel()

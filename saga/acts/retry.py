"""``retry``: a failed step (or failed compensation) gets a fresh round of its retry policy."""

from __future__ import annotations

from saga.acts.base import ActNotAllowed, RunAct, require_open
from saga.compensation import start_compensation
from saga.draft import Draft
from saga.forward import start_attempt
from saga.happenings import Act, RetryStep
from saga.vocabulary import STEP_PHRASES, EventType, StepStatus

S = StepStatus


class Retry(RunAct):
    summary = "A failed step (or a failed compensation) gets a fresh round of its retry policy."
    name = "retry"
    event = EventType.ACT_RETRY
    on_step = True

    def make(self, *, step: str | None, by: str, reason: str) -> Act:
        assert step is not None
        return RetryStep(step, by, reason)

    def apply(self, d: Draft, h: Act) -> None:
        assert isinstance(h, RetryStep)
        require_open(d, "no step can be retried")
        step = d.steps[h.step]
        phrase = STEP_PHRASES[step.status]
        if d.compensating:
            if step.status is S.COMPENSATION_FAILED or (
                step.status is S.COMPENSATING and step.due_at is not None
            ):
                d.act(EventType.ACT_RETRY, h.step, h.by, h.reason)
                start_compensation(d, h.step, step.compensation_attempt + 1, new_round=True)
                return
            raise ActNotAllowed(
                f"step {h.step} {phrase}; while the run compensates, only a failed compensation "
                "can be retried"
            )
        if step.status is S.FAILED and step.attempt == 0:
            raise ActNotAllowed(
                f"step {h.step} failed on its condition, which would fail again; skip it instead"
            )
        if step.status in (S.FAILED, S.RETRYING):
            d.act(EventType.ACT_RETRY, h.step, h.by, h.reason)
            start_attempt(d, h.step, step.attempt + 1, new_round=True)
            return
        raise ActNotAllowed(f"step {h.step} {phrase}; only a failed step can be retried")


ACT = Retry()

"""``skip``: a step (or its compensation) is recorded as skipped, and the run goes on."""

from __future__ import annotations

from saga.acts.base import ActNotAllowed, RunAct, require_open
from saga.compensation import owes_compensation
from saga.draft import Draft, key_of
from saga.happenings import Act, SkipStep
from saga.vocabulary import STEP_PHRASES, EventType, StepStatus

S = StepStatus


class Skip(RunAct):
    summary = "A step (or its compensation) is recorded as skipped, and the run goes on."
    name = "skip"
    event = EventType.ACT_SKIP
    on_step = True
    on_iteration = True

    def make(self, *, step: str | None, by: str, reason: str) -> Act:
        assert step is not None
        return SkipStep(step, by, reason)

    def apply(self, d: Draft, h: Act) -> None:
        assert isinstance(h, SkipStep)
        require_open(d, "no step can be skipped")
        if d.compensating:
            _skip_compensation(d, h)
        else:
            _skip_forward(d, h)


def _skip_compensation(d: Draft, h: SkipStep) -> None:
    key = key_of(h.step, h.index)
    step = d.steps[key]
    # Only what is owed and not in flight: an attempt running may still take effect.
    in_flight = step.status is S.COMPENSATING and step.due_at is None
    whole_map = d.sdef(h.step).fans_out and h.index is None
    if not owes_compensation(d, key) or in_flight or (whole_map and step.status is S.COMPENSATING):
        raise ActNotAllowed(
            f"step {_named(h)} {STEP_PHRASES[step.status]}; while the run compensates, only a "
            "compensation not yet done and not in flight can be skipped"
        )
    d.act(EventType.ACT_SKIP, key, h.by, h.reason)
    d.move(key, S.SKIPPED, deadline_at=None, due_at=None, finished_at=d.now)
    d.emit(
        EventType.STEP_SKIPPED,
        key,
        S.SKIPPED,
        step.compensation_attempt,
        reason=h.reason,
        compensation=True,
    )


def _named(h: SkipStep) -> str:
    return h.step if h.index is None else f"{h.step}[{h.index}]"


def _skip_forward(d: Draft, h: SkipStep) -> None:
    key = key_of(h.step, h.index)
    step = d.steps[key]
    blocked = (
        h.index is None
        and step.status is S.PENDING
        and any(d.steps[a].status is S.FAILED for a in d.definition.ancestors(h.step))
    )
    if step.status not in (S.FAILED, S.RETRYING, S.WAITING) and not blocked:
        if step.status is S.RUNNING:
            reason = "wait for its attempt to finish or time out"
        elif step.status is S.PENDING:
            reason = "only a step blocked by a failed one can be skipped before it starts"
        else:
            reason = "only a failed, retrying, waiting or blocked step can be skipped"
        raise ActNotAllowed(f"step {_named(h)} {STEP_PHRASES[step.status]}; {reason}")
    d.act(EventType.ACT_SKIP, key, h.by, h.reason)
    d.move(key, S.SKIPPED, deadline_at=None, due_at=None, finished_at=d.now)
    d.emit(EventType.STEP_SKIPPED, key, S.SKIPPED, step.attempt, reason=h.reason)


ACT = Skip()

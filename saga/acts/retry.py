"""``retry``: a failed step (or failed compensation) gets a fresh round of its retry policy."""

from __future__ import annotations

from saga.acts.base import ActNotAllowed, RunAct, require_open
from saga.compensation import start_compensation
from saga.draft import Draft, key_of
from saga.forward import start_attempt
from saga.happenings import Act, RetryStep
from saga.vocabulary import STEP_PHRASES, EventType, StepStatus

S = StepStatus


class Retry(RunAct):
    summary = "A failed step (or a failed compensation) gets a fresh round of its retry policy."
    name = "retry"
    event = EventType.ACT_RETRY
    on_step = True
    on_iteration = True

    def make(self, *, step: str | None, by: str, reason: str) -> Act:
        assert step is not None
        return RetryStep(step, by, reason)

    def apply(self, d: Draft, h: Act) -> None:
        assert isinstance(h, RetryStep)
        require_open(d, "no step can be retried")
        key = key_of(h.step, h.index)
        named = h.step if h.index is None else f"{h.step}[{h.index}]"
        step = d.steps[key]
        phrase = STEP_PHRASES[step.status]
        if d.sdef(h.step).fans_out and h.index is None:
            _retry_map(d, h, phrase)
            return
        if d.compensating:
            if step.status is S.COMPENSATION_FAILED or (
                step.status is S.COMPENSATING and step.due_at is not None
            ):
                d.act(EventType.ACT_RETRY, key, h.by, h.reason)
                start_compensation(d, key, step.compensation_attempt + 1, new_round=True)
                return
            raise ActNotAllowed(
                f"step {named} {phrase}; while the run compensates, only a failed compensation "
                "can be retried"
            )
        if step.status is S.FAILED and step.attempt == 0:
            raise ActNotAllowed(
                f"step {named} failed on its condition, which would fail again; skip it instead"
            )
        if step.status in (S.FAILED, S.RETRYING):
            d.act(EventType.ACT_RETRY, key, h.by, h.reason)
            start_attempt(d, key, step.attempt + 1, new_round=True)
            return
        raise ActNotAllowed(f"step {named} {phrase}; only a failed step can be retried")


def _retry_map(d: Draft, h: RetryStep, phrase: str) -> None:
    """Retry a whole map: each of its iterations that failed (or failed to compensate)
    gets a fresh round, and the map goes on."""
    step = d.steps[h.step]
    if step.status is S.FAILED and step.attempt == 0:
        raise ActNotAllowed(
            f"step {h.step} failed before it began (its condition or its items), which "
            "would fail again; skip it instead"
        )
    wanted = S.COMPENSATION_FAILED if d.compensating else S.FAILED
    iterations = d.fan(h.step).iterations if step.fan is not None else {}
    failed = sorted(i for i, it in iterations.items() if it.status is wanted)
    if not failed:
        what = "a failed compensation" if d.compensating else "a failed iteration"
        raise ActNotAllowed(f"step {h.step} {phrase}; a map is retried when it has {what}")
    d.act(EventType.ACT_RETRY, h.step, h.by, h.reason)
    for index in failed:
        it = iterations[index]
        if d.compensating:
            start_compensation(d, (h.step, index), it.compensation_attempt + 1, new_round=True)
        else:
            start_attempt(d, (h.step, index), it.attempt + 1, new_round=True)


ACT = Retry()

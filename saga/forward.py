"""The rules of a run going forward: attempts begin, succeed, fail, retry, time out, wait."""

from __future__ import annotations

import dataclasses
from typing import Any

from saga.commands import EvaluateCondition, EvaluateItems, ScheduleRetry
from saga.compensation import begin_compensation
from saga.draft import ABANDONED_CANCELLED, ABANDONED_COMPENSATING, Draft, key_of, split
from saga.happenings import CallbackCompleted, ConditionEvaluated, ItemsEvaluated
from saga.state import Key, pivot_passed
from saga.vocabulary import DONE, EventType, StepStatus

__all__ = [
    "after_failure",
    "attempt_failed",
    "is_current",
    "on_callback",
    "on_condition",
    "on_items",
    "on_timed_out",
    "on_timer",
    "on_waiting",
    "start_attempt",
    "skip_by_condition",
    "start_ready",
]

S = StepStatus


def is_current(d: Draft, key: Key, attempt: int, *statuses: StepStatus) -> bool:
    step = d.steps[key]
    return step.attempt == attempt and step.status in statuses


def start_attempt(d: Draft, step_id: Key, attempt: int, *, new_round: bool, **data: Any) -> None:
    """Begin attempt ``attempt`` of the step (or iteration), as its kind begins one; ``data``
    joins the event's."""
    sdef = d.sdef(step_id)
    current = d.steps[step_id]
    begin = d.kind(step_id).begin(sdef, attempt, d.now)
    d.move(
        step_id,
        begin.status,
        attempt=attempt,
        round_start=attempt if new_round else current.round_start,
        started_at=d.now,
        finished_at=None,
        output=None,
        error=None,
        deadline_at=begin.deadline_at,
        due_at=begin.due_at,
        outcome_unknown=False,
    )
    d.emit(begin.event, step_id, begin.status, attempt, **begin.data, **data)
    if begin.command is not None:
        index = split(step_id)[1]
        command = begin.command
        if index is not None:
            command = dataclasses.replace(command, index=index)  # type: ignore[arg-type]
        d.commands.append(command)


def is_ready(d: Draft, step_id: str) -> bool:
    """A pending step whose ``after`` steps have all settled (succeeded or skipped)."""
    return d.steps[step_id].status is S.PENDING and all(
        d.steps[a].status in DONE for a in d.sdef(step_id).after
    )


def start_ready(d: Draft) -> None:
    """Begin every ready step: skip it when every step before it was not taken (dead-path
    elimination), ask for its condition when it has one, start it otherwise."""
    for step_id in d.definition.order:
        if not is_ready(d, step_id):
            continue
        sdef = d.sdef(step_id)
        if sdef.after and all(d.steps[a].skipped_by_condition for a in sdef.after):
            skip_by_condition(d, step_id, dead_path=True)
        elif sdef.when is not None:
            d.commands.append(EvaluateCondition(step_id, sdef.when))
        else:
            _begin(d, step_id)


def _begin(d: Draft, step_id: str, **data: Any) -> None:
    """Start a ready step whose condition (if any) held; a map first asks for its items."""
    sdef = d.sdef(step_id)
    if sdef.items is not None:
        d.commands.append(EvaluateItems(step_id, sdef.items))
    else:
        start_attempt(d, step_id, d.steps[step_id].attempt + 1, new_round=True, **data)


def on_items(d: Draft, h: ItemsEvaluated) -> bool:
    """The shell evaluated a ready map step's items: start it, or fail it for good."""
    sdef = d.sdef(h.step)
    if sdef.items is None or not is_ready(d, h.step) or d.compensating or d.terminal:
        return False
    if h.error is not None:
        _fail_unstarted(d, h.step, f"its items could not be had: {h.error}", "items")
        return True
    data: dict[str, Any] = {"items": h.count}
    if sdef.when is not None:
        data["condition"] = True
    start_attempt(d, h.step, d.steps[h.step].attempt + 1, new_round=True, **data)
    d.fan(h.step).total = h.count
    return True


def _fail_unstarted(d: Draft, step_id: str, error: str, reason: str) -> None:
    """A ready step fails for good before any attempt: what it needed could not be had."""
    d.move(step_id, S.FAILED, error=error, finished_at=d.now)
    d.emit(EventType.STEP_FAILED, step_id, S.FAILED, None, error, retryable=False, reason=reason)
    after_failure(d)


def on_condition(d: Draft, h: ConditionEvaluated) -> bool:
    """The shell evaluated a ready step's condition: take it, skip it, or fail it for good."""
    if d.sdef(h.step).when is None or not is_ready(d, h.step) or d.compensating or d.terminal:
        return False
    if h.error is not None:
        _fail_unstarted(d, h.step, f"its condition failed: {h.error}", "condition")
    elif h.value:
        _begin(d, h.step, condition=True)
    else:
        skip_by_condition(d, h.step)
    return True


def skip_by_condition(d: Draft, step_id: str, *, dead_path: bool = False) -> None:
    """The step is not taken: never called, never compensated."""
    d.move(step_id, S.SKIPPED, skipped_by_condition=True, finished_at=d.now)
    detail: dict[str, Any] = {"dead_path": True} if dead_path else {"condition": False}
    d.emit(EventType.STEP_SKIPPED, step_id, S.SKIPPED, None, reason="condition", **detail)


def attempt_failed(d: Draft, step_id: Key, error: str, retryable: bool) -> None:
    """The current attempt failed: retry it, or fail the step for good and say what follows
    (an iteration that fails for good fails its map once the others in flight settle)."""
    sdef = d.sdef(step_id)
    step = d.steps[step_id]
    n = step.attempt - step.round_start + 1
    if retryable and not d.terminal and not d.compensating and n < sdef.retry.max_attempts:
        delay = sdef.retry.delay_s(n, d.jitter)
        at = d.now + delay
        d.move(step_id, S.RETRYING, error=error, deadline_at=None, due_at=at, finished_at=d.now)
        d.emit(
            EventType.STEP_RETRY_SCHEDULED,
            step_id,
            S.RETRYING,
            step.attempt,
            error,
            at=at,
            delay_s=delay,
        )
        sid, index = split(step_id)
        d.commands.append(ScheduleRetry(sid, step.attempt, at, index))
        return
    if retryable and n >= sdef.retry.max_attempts:
        # Retryable in kind, but no attempt is left: say so, not only the last error.
        error = f"gave up after {n} attempt{'s' if n > 1 else ''}; the last: {error}"
    d.fail(step_id, error, unsure=retryable, retryable=retryable, latency_ms=d.latency_ms(step))
    if not isinstance(step_id, tuple):
        after_failure(d)


def after_failure(d: Draft) -> None:
    """A step failed for good: before any pivot has passed, the run turns to compensate."""
    # In a compensating or finished run a failure changes nothing more: "if they fail, nothing".
    if not d.terminal and not d.compensating and pivot_passed(d.definition, d.steps) is None:
        begin_compensation(d)


def on_timed_out(d: Draft, step_id: Key, attempt: int) -> bool:
    """An attempt, or a wait, passed its deadline (or its worker died)."""
    if not is_current(d, step_id, attempt, S.RUNNING, S.WAITING):
        return False
    if d.steps[step_id].status is S.WAITING:
        verdict = d.kind(step_id).wait_expired(d.sdef(step_id), compensating=d.compensating)
        if verdict.kind == "ignore":
            return False
        if verdict.kind == "succeed":
            d.succeed(step_id, None, **verdict.data)
            return True
        if verdict.kind == "fail":
            attempt_failed(d, step_id, verdict.error, False)
            return True
    attempt_failed(d, step_id, f"attempt {attempt} timed out or its worker was lost", True)
    return True


def on_waiting(d: Draft, step_id: Key, attempt: int) -> bool:
    """A participant that answers later was called; the step now waits for its answer."""
    sdef = d.sdef(step_id)
    if not d.kind(step_id).answers_later or not is_current(d, step_id, attempt, S.RUNNING):
        return False
    if d.terminal:
        d.fail(step_id, ABANDONED_CANCELLED, abandoned=True)
    elif d.compensating and not sdef.has_compensation:
        d.fail(step_id, ABANDONED_COMPENSATING, abandoned=True)
    else:
        # In a compensating run, a step with a compensation waits for its turn to be undone.
        unbounded = d.kind(step_id).waits_unbounded
        d.move(step_id, S.WAITING, **({"deadline_at": None} if unbounded else {}))
        d.emit(
            EventType.STEP_WAITING,
            step_id,
            S.WAITING,
            attempt,
            deadline_at=d.steps[step_id].deadline_at,
        )
    return True


def on_timer(d: Draft, step_id: Key, attempt: int) -> bool:
    """A retry is due, or a wait its kind ends by a timer is over."""
    if is_current(d, step_id, attempt, S.RETRYING) and not d.terminal:
        start_attempt(d, step_id, attempt + 1, new_round=False)
        return True
    if d.kind(step_id).timer_ends_wait and is_current(d, step_id, attempt, S.WAITING):
        d.succeed(step_id, None)
        return True
    return False


def on_callback(d: Draft, h: CallbackCompleted) -> bool:
    """The participant of a step (or iteration) that answers later posted its result."""
    key = key_of(h.step, h.index)
    # A quick participant may answer before the worker has recorded that the call was made.
    if not d.kind(key).answers_later or not is_current(d, key, h.attempt, S.RUNNING, S.WAITING):
        return False
    if h.succeeded:
        d.succeed(key, h.output)
    else:
        attempt_failed(d, key, h.error or "the participant reported a failure", h.retryable)
    return True

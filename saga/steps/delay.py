"""``delay``: waits ``seconds``, durably: a timer, not a sleeping worker."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from saga.commands import Command, StartTimer
from saga.definition import RetryPolicy, StepDef
from saga.happenings import Happening, TimerFired
from saga.steps.base import Begin, StepKind, Verdict
from saga.vocabulary import EventType, StepStatus


class Delay(StepKind):
    name = "delay"
    label = "delay"
    summary = "Wait a fixed time, durably"
    schema_defs = {
        "delay_action": {
            "type": "object",
            "additionalProperties": False,
            "required": ["seconds"],
            "properties": {"seconds": {"type": "number", "minimum": 0, "maximum": 2678400}},
        }
    }
    action_def = "delay_action"
    timer_ends_wait = True
    can_fail = False

    def settings(
        self, action: Mapping[str, Any], *, timeout_s: float | None, retry: RetryPolicy
    ) -> dict[str, Any]:
        return {"timeout_s": None, "retry": retry, "delay_s": float(action.get("seconds", 0))}

    def begin(self, step: StepDef, attempt: int, now: float) -> Begin:
        at = now + step.delay_s
        return Begin(
            StepStatus.WAITING,
            EventType.STEP_WAITING,
            StartTimer(step.id, at, attempt),
            due_at=at,
            data={"until": at},
        )

    def wait_expired(self, step: StepDef, *, compensating: bool) -> Verdict:
        return Verdict("ignore")  # a delay has no deadline; its timer ends it

    def simulated_answers(self, step: StepDef, command: Command, *, fail: bool) -> list[Happening]:
        if isinstance(command, StartTimer):
            return [TimerFired(step.id, command.attempt)]
        return []


KIND = Delay()

"""``callback``: for participants that answer later, with a one-time token.

The attempt makes an optional HTTP call carrying the token, then waits until
the participant posts its result (``CallbackCompleted``) or ``timeout_s``
passes, a failure retried as any other. Its compensation is an HTTP call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from saga.commands import Command, StartStep
from saga.definition import StepDef
from saga.happenings import CallbackCompleted, Happening, StepFailed, StepWaiting
from saga.issues import Catalog
from saga.steps.base import WAITING, Outcome, Participants, StepKind, Verdict, Waiting, Work

#: The longest the outgoing call that hands out the token may take.
CALL_TIMEOUT_S = 30.0


class Callback(StepKind):
    name = "callback"
    label = "callback"
    summary = "Wait for a participant's answer"
    schema_defs = {
        "callback_action": {
            "description": "The optional outgoing call that hands the participant its "
            "one-time token.",
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "method": {"$ref": "#/$defs/method"},
                "url": {"$ref": "#/$defs/url"},
                "headers": {"$ref": "#/$defs/headers"},
                "body": True,
            },
        }
    }
    action_def = "callback_action"
    compensation_def = "http_action"
    action_required = False
    answers_later = True

    def side_effects(self, action: Mapping[str, Any], catalog: Catalog) -> bool:
        return "url" in action

    def waits_through_compensation(self, step: StepDef) -> bool:
        return step.has_compensation

    def wait_expired(self, step: StepDef, *, compensating: bool) -> Verdict:
        if compensating and step.has_compensation:
            return Verdict("ignore")  # its compensation comes in its turn, whatever it answers
        return Verdict("time_out")

    def simulated_answers(self, step: StepDef, command: Command, *, fail: bool) -> list[Happening]:
        if not isinstance(command, StartStep):
            return []
        if fail:
            return [StepFailed(step.id, command.attempt, "simulated failure", retryable=False)]
        return [
            StepWaiting(step.id, command.attempt),
            CallbackCompleted(step.id, command.attempt, True),
        ]

    def perform(self, work: Work, participants: Participants) -> Outcome | Waiting:
        if work.compensation:
            return participants.call_http(work.action, work, timeout_s=work.step.timeout_s)
        token, url = participants.callback_token(work)
        action = work.action
        if action.get("url"):
            body = action.get("body")
            body = (
                {**body}
                if isinstance(body, dict)
                else ({"payload": body} if body is not None else {})
            )
            body.update({"callback_url": url, "callback_token": token})
            outcome = participants.call_http(
                {**action, "body": body, "method": action.get("method", "POST")},
                work,
                timeout_s=min(work.step.timeout_s or CALL_TIMEOUT_S, CALL_TIMEOUT_S),
                headers={"X-Callback-Token": token},
            )
            if not outcome.ok:
                return outcome
        return WAITING


KIND = Callback()

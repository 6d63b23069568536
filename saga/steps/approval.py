"""``approval``: a human gate; the run waits until a member of ``group`` decides."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from saga.commands import Command, WaitForApproval
from saga.definition import OnTimeout, RetryPolicy, StepDef
from saga.happenings import ApprovalDecided, Happening
from saga.issues import Catalog, Issue
from saga.steps.base import Begin, StepKind, Verdict
from saga.vocabulary import EventType, StepStatus

#: The error of an approval nobody decided before its deadline, when it rejects then.
UNDECIDED = "nobody decided the approval in time"


class Approval(StepKind):
    name = "approval"
    label = "approval"
    summary = "Wait for a person to decide"
    schema_defs = {
        "approval_action": {
            "type": "object",
            "additionalProperties": False,
            "required": ["group"],
            "properties": {
                "group": {"type": "string", "maxLength": 150},
                "instructions": {"type": "string"},
                "timeout_s": {"$ref": "#/$defs/duration"},
                "on_timeout": {"enum": [str(o) for o in OnTimeout]},
            },
        }
    }
    action_def = "approval_action"
    decided_by_people = True

    def settings(
        self, action: Mapping[str, Any], *, timeout_s: float | None, retry: RetryPolicy
    ) -> dict[str, Any]:
        timeout = action.get("timeout_s")
        return {
            "timeout_s": None if timeout is None else float(timeout),
            "on_timeout": OnTimeout(action.get("on_timeout", OnTimeout.REJECT)),
            # A person's decision is final; the engine does not ask again on its own.
            "retry": dataclasses.replace(retry, max_attempts=1),
        }

    def issues(self, step_id: str, step: Mapping[str, Any], catalog: Catalog) -> Iterable[Issue]:
        if not step["action"]["group"].strip():
            yield Issue(step_id, "action.group", "approval group must not be empty")

    def approvers(self, step: StepDef) -> str | None:
        return str(step.action.get("group"))

    def begin(self, step: StepDef, attempt: int, now: float) -> Begin:
        deadline = None if step.timeout_s is None else now + step.timeout_s
        return Begin(
            StepStatus.WAITING,
            EventType.STEP_WAITING,
            WaitForApproval(step.id, deadline, attempt),
            deadline_at=deadline,
            data={"deadline_at": deadline},
        )

    def wait_expired(self, step: StepDef, *, compensating: bool) -> Verdict:
        if step.on_timeout is OnTimeout.APPROVE:
            return Verdict("succeed", data={"decided_by": "timeout"})
        return Verdict("fail", error=UNDECIDED)

    def simulated_answers(self, step: StepDef, command: Command, *, fail: bool) -> list[Happening]:
        if isinstance(command, WaitForApproval):
            return [ApprovalDecided(step.id, not fail, by="simulation")]
        return []


KIND = Approval()

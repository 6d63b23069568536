"""``task``: a Python activity registered in code, run by a worker."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from saga.issues import Catalog, Issue, did_you_mean
from saga.steps.base import Outcome, Participants, StepKind, Work


class Task(StepKind):
    name = "task"
    label = "task"
    summary = "Run a registered activity"
    schema_defs = {
        "task_action": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 200},
                "args": {"type": "object"},
            },
        }
    }
    action_def = "task_action"
    compensation_def = "task_action"

    def issues(self, step_id: str, step: Mapping[str, Any], catalog: Catalog) -> Iterable[Issue]:
        for part in ("action", "compensation"):
            action = step.get(part)
            if not isinstance(action, Mapping):
                continue
            name = action["name"]
            if name not in catalog.activities:
                hint = did_you_mean(name, sorted(catalog.activities))
                yield Issue(step_id, f"{part}.name", f"unknown task activity {name!r}{hint}")

    def side_effects(self, action: Mapping[str, Any], catalog: Catalog) -> bool:
        # An unknown activity is an error already; guessing its effects would only add noise.
        return catalog.activities.get(action["name"], False)

    def perform(self, work: Work, participants: Participants) -> Outcome:
        return participants.call_task(work.action, work)


KIND = Task()

"""``http``: calls a participant service over HTTP, its compensation too."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from saga.issues import Catalog
from saga.steps.base import Outcome, Participants, StepKind, Work


class Http(StepKind):
    name = "http"
    label = "HTTP"
    title = "HTTP call"
    summary = "Call a participant service"
    action_def = "http_action"
    compensation_def = "http_action"

    def side_effects(self, action: Mapping[str, Any], catalog: Catalog) -> bool:
        return action["method"] not in ("GET", "HEAD")

    def perform(self, work: Work, participants: Participants) -> Outcome:
        return participants.call_http(work.action, work, timeout_s=work.step.timeout_s)


KIND = Http()

"""``map``: one iteration of an inner step (``do``) per item of a list.

``items`` is a CEL expression giving the list; at most ``max_concurrency``
iterations are in flight at once, each with its own attempts, retry policy and
idempotency key (``<run id>:<step id>:<index>``), and ``{{ item.x }}`` and
``{{ index }}`` in the templates of ``do``. The map itself is never sent to a
worker: its iterations are, as steps of ``do``'s kind (a child saga's iteration starts
a child run of its own, answered by that run's end). What the map's status becomes is
:mod:`saga.fan`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

from saga.definition import RetryPolicy, StepDef
from saga.issues import Catalog, Issue
from saga.steps import http, subsaga, task
from saga.steps.base import Begin, StepKind, kind_rule
from saga.vocabulary import EventType, StepStatus

#: The kinds an iteration may be.
INNER: Mapping[str, StepKind] = MappingProxyType(
    {k.name: k for k in (task.KIND, http.KIND, subsaga.KIND)}
)
#: The most iterations a map may keep in flight, and the most items it may have.
MAX_CONCURRENCY = 1000
MAX_ITEMS = 10_000
DEFAULT_CONCURRENCY = 10


class Map(StepKind):
    name = "map"
    label = "map"
    summary = "Run a step for each item of a list"
    schema_defs = {
        "no_action": {"description": "A map has no action of its own: see do.", "not": {}},
        "map_do": {
            "description": "The step each iteration runs; its templates may read "
            "{{ item.<path> }} and {{ index }}.",
            "type": "object",
            "additionalProperties": False,
            "required": ["type", "action"],
            "properties": {
                "type": {"enum": list(INNER)},
                "action": {"type": "object"},
                "compensation": {"type": "object"},
                "timeout_s": {"$ref": "#/$defs/duration"},
                "retry": {"$ref": "#/$defs/retry"},
            },
            "allOf": [kind_rule(k, ()) for k in INNER.values()],
        },
    }
    action_def = "no_action"
    action_required = False
    own_fields = {
        "items": {
            "description": "A CEL expression: the list to run an iteration for each item of.",
            "type": "string",
            "minLength": 1,
            "maxLength": 2000,
        },
        "max_concurrency": {"type": "integer", "minimum": 1, "maximum": MAX_CONCURRENCY},
        "do": {"$ref": "#/$defs/map_do"},
    }
    own_required = ("items", "do")

    def settings(
        self, action: Mapping[str, Any], *, timeout_s: float | None, retry: RetryPolicy
    ) -> dict[str, Any]:
        return {"timeout_s": None, "retry": retry}

    def nested(
        self, raw: Mapping[str, Any], read: Callable[[Mapping[str, Any]], StepDef]
    ) -> dict[str, Any]:
        step_id = raw["id"]
        do = read({**raw["do"], "id": step_id, "name": raw.get("name") or step_id})
        return {
            "items": raw["items"],
            "max_concurrency": int(raw.get("max_concurrency", DEFAULT_CONCURRENCY)),
            "do": do,
            "has_compensation": do.has_compensation,
        }

    def issues(self, step_id: str, step: Mapping[str, Any], catalog: Catalog) -> Iterable[Issue]:
        do = step.get("do")
        if not isinstance(do, Mapping) or do.get("type") not in INNER:
            return
        for issue in INNER[do["type"]].issues(step_id, do, catalog):
            yield Issue(issue.step, f"do.{issue.field}", issue.message)

    def doubts(
        self, step_id: str, step: Mapping[str, Any], catalog: Catalog, *, undoable: bool
    ) -> Iterable[Issue]:
        do = step.get("do")
        if not isinstance(do, Mapping) or do.get("type") not in INNER:
            return
        for issue in INNER[do["type"]].doubts(step_id, do, catalog, undoable=undoable):
            yield Issue(issue.step, f"do.{issue.field}", issue.message)

    def begin(self, step: StepDef, attempt: int, now: float) -> Begin:
        # Its iterations begin as there is room for them (saga.fan).
        return Begin(StepStatus.RUNNING, EventType.STEP_STARTED, None)


KIND = Map()

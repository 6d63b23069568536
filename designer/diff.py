"""Structural diff between two specs: steps added, removed and changed, field by field.

Layout is not part of a spec, so moving a box never shows here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from saga.graph import spec_steps

MISSING: Any = None


def _normalised(step: Mapping[str, Any]) -> dict[str, Any]:
    step = {k: v for k, v in step.items() if k != "id"}
    # The order of `after` carries no meaning; neither does an empty list vs none.
    step["after"] = sorted(step.get("after") or [])
    step.setdefault("pivot", False)
    return step


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Objects become dotted paths; lists and scalars are leaves compared whole."""
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key in value:
            flat.update(flatten(value[key], f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def _field_changes(old: Any, new: Any) -> dict[str, dict[str, Any]]:
    old_flat, new_flat = flatten(old), flatten(new)
    changes = {}
    for name in sorted(old_flat.keys() | new_flat.keys()):
        before, after = old_flat.get(name, MISSING), new_flat.get(name, MISSING)
        if before != after:
            changes[name] = {"old": before, "new": after}
    return changes


def spec_diff(old: Any, new: Any) -> dict[str, Any]:
    """What changed from ``old`` to ``new``.

    Returns ``{"added": [ids], "removed": [ids], "changed": [{"step", "fields"}],
    "workflow": {field: {"old", "new"}}}``, where ``workflow`` holds changes outside
    the steps (description, input schema, defaults). Ids keep the order of the
    spec they come from.
    """
    old_steps, new_steps = spec_steps(old), spec_steps(new)
    added = [sid for sid in new_steps if sid not in old_steps]
    removed = [sid for sid in old_steps if sid not in new_steps]
    changed = []
    for sid, step in new_steps.items():
        if sid in old_steps:
            fields = _field_changes(_normalised(old_steps[sid]), _normalised(step))
            if fields:
                changed.append({"step": sid, "fields": fields})
    outside = {
        "old": {k: v for k, v in (old or {}).items() if k != "steps"},
        "new": {k: v for k, v in (new or {}).items() if k != "steps"},
    }
    return {
        "added": added,
        "removed": removed,
        "changed": changed,
        "workflow": _field_changes(outside["old"], outside["new"]),
    }


def diff_is_empty(diff: dict[str, Any]) -> bool:
    return not (diff["added"] or diff["removed"] or diff["changed"] or diff["workflow"])

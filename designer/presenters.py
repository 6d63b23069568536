"""Presentation helpers for the designer pages: model data shaped for the templates."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from django.contrib import messages
from django.http import HttpRequest

from common.errors import Conflict, InvalidInput
from designer.diff import spec_diff
from designer.models import ROLE_PERMS

PERM_ROLES = {perm: role for role, perm in ROLE_PERMS.items()}

# The order people read a spec in; the database keeps JSON keys in its own order.
KEY_ORDER = {
    key: rank
    for rank, key in enumerate(
        [
            "format", "description", "id", "name", "type", "after", "pivot",
            "method", "url", "group", "instructions", "seconds", "args", "headers", "body",
            "action", "compensation", "timeout_s", "on_timeout", "retry",
            "input_schema", "search", "defaults", "steps",
        ]
    )
}  # fmt: skip


def reading_order(value: Any) -> Any:
    if isinstance(value, dict):
        ordered = sorted(value, key=lambda key: KEY_ORDER.get(key, len(KEY_ORDER)))
        return {key: reading_order(value[key]) for key in ordered}
    if isinstance(value, list):
        return [reading_order(item) for item in value]
    return value


def pretty_json(value: Any) -> str:
    return json.dumps(reading_order(value), indent=2, ensure_ascii=False)


def compact_json(value: Any, limit: int | None = None) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def issue_text(issue: Mapping[str, Any]) -> str:
    where = [f"{key} {issue[key]}" for key in ("step", "field") if issue.get(key)]
    return f"{', '.join(where)}: {issue['message']}" if where else str(issue["message"])


def report_refusal(request: HttpRequest, exc: Conflict | InvalidInput) -> None:
    if isinstance(exc, InvalidInput):
        messages.error(request, exc.detail)
        for issue in exc.errors:
            messages.error(request, issue_text(issue))
    else:
        messages.error(request, str(exc))


def report_warnings(request: HttpRequest, result: Any) -> None:
    for issue in getattr(result, "warnings", None) or []:
        messages.warning(request, "Warning: " + issue_text(issue.as_dict()))


def step_rows(spec: Any) -> list[dict[str, Any]]:
    steps = spec.get("steps") if isinstance(spec, dict) else None
    rows = []
    for step in steps if isinstance(steps, list) else []:
        if isinstance(step, dict):
            after = step.get("after") or []
            rows.append(
                {
                    "id": step.get("id", ""),
                    "name": step.get("name", ""),
                    "type": step.get("type", ""),
                    "after": after if isinstance(after, list) else [after],
                    "pivot": bool(step.get("pivot")),
                    "compensation": bool(step.get("compensation")),
                }
            )
    return rows


def step_names(*specs: Any) -> dict[str, str]:
    return {row["id"]: row["name"] for spec in specs for row in step_rows(spec)}


def diff_value(value: Any) -> str:
    # The diff marks a field that is absent on one side as None.
    return "—" if value is None else compact_json(value)


def diff_view(old_spec: Any, new_spec: Any) -> dict[str, Any]:
    """The structural diff, with step names and values as compact JSON."""
    diff = spec_diff(old_spec, new_spec)
    names = step_names(old_spec, new_spec)

    def fields(changes: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str, str]]:
        return [
            (field, diff_value(values.get("old")), diff_value(values.get("new")))
            for field, values in changes.items()
        ]

    changed = [
        {
            "step": item["step"],
            "name": names.get(item["step"], ""),
            "fields": fields(item["fields"]),
        }
        for item in diff["changed"]
    ]
    outside = fields(diff.get("workflow") or {})
    return {
        "added": [(step, names.get(step, "")) for step in diff["added"]],
        "removed": [(step, names.get(step, "")) for step in diff["removed"]],
        "changed": changed,
        "workflow": outside,
        "empty": not (diff["added"] or diff["removed"] or changed or outside),
    }


def roles_text(perms: Any) -> str:
    roles = [PERM_ROLES.get(p, p) for p in perms or []]
    return ", ".join(roles) or "—"


def permission_lines(before: Any, after: Any) -> Iterator[tuple[str, str, str]]:
    for key, kind in (("users", "user"), ("groups", "group")):
        old = (before or {}).get(key) or {}
        new = (after or {}).get(key) or {}
        for name in sorted(set(old) | set(new)):
            if sorted(old.get(name, [])) != sorted(new.get(name, [])):
                yield f"{kind} {name}", roles_text(old.get(name)), roles_text(new.get(name))


def change_lines(changes: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    """An audit entry's ``{field: [old, new]}`` as readable (field, old, new) lines."""

    def show(field: str, value: Any) -> str:
        if value is None:
            return "—"
        if field == "content_hash" and isinstance(value, str):
            return value[:12]
        return value if isinstance(value, str) else compact_json(value, limit=160)

    for field, value in changes.items():
        if field == "permissions" and isinstance(value, list) and len(value) == 2:
            yield from permission_lines(*value)
        elif isinstance(value, list) and len(value) == 2:
            # A field set for the first time shows only its new value.
            old = "" if value[0] is None else show(field, value[0])
            yield field, old, show(field, value[1])
        else:
            yield field, "", show(field, value)


def example_input(schema: Any) -> Any:
    """A run input of the shape ``schema`` asks for, to fill in: the schema's own example,
    default or first choice where it has one; a required value without one is ``null``,
    which the schema refuses until it is filled in (a blank "" or 0 could pass for a
    value); an optional one without one is left out. ``{}`` without a schema."""
    example = _example(schema, 0)
    return {} if example is _UNKNOWN or example is None else example


_UNKNOWN = object()  # nothing the schema says to put there


def _example(schema: Any, depth: int) -> Any:
    if not isinstance(schema, dict) or depth > 8:
        return _UNKNOWN
    for key in ("examples", "enum"):
        if isinstance(schema.get(key), list) and schema[key]:
            return schema[key][0]
    if "default" in schema:
        return schema["default"]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    properties = schema.get("properties")
    if kind == "object" or (kind is None and isinstance(properties, dict)):
        properties = properties if isinstance(properties, dict) else {}
        required = [k for k in schema.get("required", []) if isinstance(k, str)]
        shaped: dict[str, Any] = {}
        for name in dict.fromkeys([*required, *properties]):
            value = _example(properties.get(name, {}), depth + 1)
            if value is not _UNKNOWN:
                shaped[name] = value
            elif name in required:
                shaped[name] = None
        return shaped
    return _UNKNOWN

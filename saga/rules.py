"""The rules of a ``sagaboard/v1`` spec that no schema can say: ids, ``after``, cycles,
pivots, templates, and what each step's kind checks of its own.

Validation (``designer.validation``) checks a spec's shape against
:data:`saga.schema.SCHEMA` first; these rules then speak of the graph. They
take a :class:`~saga.issues.Catalog` of what the installation knows (the
task activities registered in code), so that they stay pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from saga.expressions import compile_error
from saga.expressions import references as expression_references
from saga.graph import Graph
from saga.issues import Catalog, Issue, did_you_mean
from saga.schema import SCHEMA
from saga.search import search_issues
from saga.steps import KINDS
from saga.templates import (
    ITERATION_ROOTS,
    RUN_FIELDS,
    TemplateSyntaxError,
    find_references,
    iter_strings,
)

__all__ = ["STEP_ID", "dotted", "graph_issues", "issues_beside_shape", "wiring"]

STEP_ID = re.compile(SCHEMA["$defs"]["step"]["properties"]["id"]["pattern"][1:-1])
# Past this many, further cycles are reported once the first ones are fixed.
_MAX_CYCLES = 10


def dotted(path: tuple[Any, ...]) -> str:
    """A path into a spec as validation writes fields: ``action.headers.x``, ``steps[2]``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def wiring(steps: list[Any]) -> tuple[list[Issue], Graph]:
    """Duplicate ids, ``after`` names that are no step, and cycles; and the graph.

    Steps without a well-formed id, and ``after`` entries that are no well-formed id,
    are passed over: the shape check speaks of them.
    """
    errors: list[Issue] = []
    first: dict[str, int] = {}
    named: list[tuple[str, dict[str, Any]]] = []
    for i, step in enumerate(steps):
        sid = step.get("id") if isinstance(step, dict) else None
        if not isinstance(sid, str) or not STEP_ID.fullmatch(sid):
            continue
        if sid in first:
            errors.append(
                Issue(sid, "id", f"duplicate step id {sid!r}: steps[{first[sid]}] and steps[{i}]")
            )
        first.setdefault(sid, i)
        named.append((sid, step))
    preds: dict[str, list[str]] = {sid: [] for sid in first}
    for sid, step in named:
        after = step.get("after", [])
        for name in after if isinstance(after, list) else []:
            if not isinstance(name, str) or not STEP_ID.fullmatch(name):
                continue
            if name == sid:
                errors.append(Issue(sid, "after", f"step {sid} lists itself in after"))
            elif name not in first:
                hint = did_you_mean(name, list(first))
                errors.append(
                    Issue(sid, "after", f"after names {name!r}, which is not a step{hint}")
                )
            elif name not in preds[sid]:
                preds[sid].append(name)
    graph = Graph.of(preds.items())
    for cycle in graph.cycles(limit=_MAX_CYCLES):
        errors.extend(Issue(sid, "after", "cycle: " + " -> ".join(cycle)) for sid in cycle[:-1])
    return errors, graph


def issues_beside_shape(
    spec: Mapping[str, Any], malformed: set[str | None], catalog: Catalog
) -> list[Issue]:
    """Beside shape errors, what can already be told: the graph's wiring, and what the
    kinds check of the steps the shape check found whole."""
    steps = spec.get("steps")
    if not isinstance(steps, list):
        return []
    errors, _ = wiring(steps)
    for step in steps:
        sid = step.get("id") if isinstance(step, dict) else None
        if not isinstance(sid, str) or sid in malformed or step.get("type") not in KINDS:
            continue
        errors.extend(KINDS[step["type"]].issues(sid, step, catalog))
    return errors


def graph_issues(spec: Mapping[str, Any], catalog: Catalog) -> tuple[list[Issue], list[Issue]]:
    """The rules of a spec whose shape is right: errors and warnings."""
    steps: list[dict[str, Any]] = spec["steps"]
    warnings: list[Issue] = []
    errors, graph = wiring(steps)
    ancestors = graph.ancestors
    pivots = list(dict.fromkeys(s["id"] for s in steps if s.get("pivot") is True))
    for step in steps:
        sid, kind = step["id"], KINDS[step["type"]]
        errors.extend(kind.issues(sid, step, catalog))
        # A map's effects and compensation are those of the step it runs for each item.
        inner: dict[str, Any] = step.get("do") or step
        prefix = "do." if "do" in step else ""
        action: dict[str, Any] = inner.get("action", {})
        compensation: dict[str, Any] | None = inner.get("compensation")
        effects_of = KINDS[inner["type"]]
        # In a cycle, "after a pivot" means nothing until the cycle is fixed: judge
        # such a step by its own pivot flag alone, and do not warn about it.
        in_cycle = sid in ancestors[sid]
        pivot = next(
            (p for p in pivots if p == sid or (not in_cycle and p in ancestors[sid])), None
        )
        if compensation is not None and pivot is not None:
            where = "is a pivot" if pivot == sid else f"runs after pivot {pivot}"
            errors.append(
                Issue(
                    sid,
                    f"{prefix}compensation",
                    f"step {sid} {where}: it cannot have a compensation, "
                    "as nothing is compensated once a pivot has succeeded",
                )
            )
        if not in_cycle:
            warnings.extend(kind.doubts(sid, step, catalog, undoable=pivot is None))
        for field in ("when", "items"):
            if isinstance(step.get(field), str):
                found, doubts = _condition_issues(
                    sid, step[field], ancestors[sid], graph, spec, field=field
                )
                errors.extend(found)
                warnings.extend(doubts)
        # A step reads the output of its ancestors; its compensation, also its own.
        in_map = inner is not step
        errors.extend(
            _template_issues(sid, f"{prefix}action", action, ancestors[sid], graph, in_map)
        )
        if compensation is not None:
            mine = ancestors[sid] | {sid}
            errors.extend(
                _template_issues(sid, f"{prefix}compensation", compensation, mine, graph, in_map)
            )
        if (
            not in_cycle
            and pivot is None
            and compensation is None
            and effects_of.side_effects(action, catalog)
        ):
            warnings.append(
                Issue(
                    sid,
                    f"{prefix}compensation",
                    f"step {sid} has side effects but no compensation: "
                    "if a later step fails, its effect stays",
                )
            )
    found, doubts = search_issues(spec.get("search"), spec.get("input_schema"))
    errors.extend(found)
    warnings.extend(doubts)
    if "output" in spec:
        everything = frozenset(graph.preds)
        errors.extend(
            Issue(None, issue.field, issue.message)
            for issue in _template_issues("", "output", spec["output"], everything, graph)
        )
    return errors, warnings


def _condition_issues(
    sid: str,
    text: str,
    available: frozenset[str],
    graph: Graph,
    spec: Mapping[str, Any],
    *,
    field: str = "when",
) -> tuple[list[Issue], list[Issue]]:
    """An expression (a condition, a map's items) that does not compile, names what it
    cannot know, or an input field the input schema does not declare (an error where the
    schema allows no other field)."""
    problem = compile_error(text)
    if problem is not None:
        return [Issue(sid, field, f"does not compile: {problem}")], []
    errors: list[Issue] = []
    warnings: list[Issue] = []
    schema = spec.get("input_schema")
    declared = schema.get("properties") if isinstance(schema, Mapping) else None
    for path in expression_references(text):
        written = ".".join(path)
        if path[0] in ITERATION_ROOTS:
            where = (
                "a map's items come before its iterations"
                if field == "items"
                else "item and index exist only in a map"
            )
            errors.append(Issue(sid, field, f"{written}: {where}"))
        elif path[0] == "steps":
            message = _step_reference(sid, path, available, graph)
            if message:
                errors.append(Issue(sid, field, f"{written}: {message}"))
        elif len(path) > 1 and isinstance(declared, Mapping) and path[1] not in declared:
            closed = isinstance(schema, Mapping) and schema.get("additionalProperties") is False
            message = f"{written}: the input schema declares no field {path[1]!r}"
            (errors if closed else warnings).append(Issue(sid, field, message))
    return errors, warnings


def _step_reference(
    sid: str, path: tuple[str, ...], available: frozenset[str], graph: Graph
) -> str:
    if len(path) < 3 or path[2] != "output":
        return "a step is read as steps.<id>.output"
    if path[1] not in graph:
        return f"there is no step {path[1]!r}"
    if path[1] not in available:
        return (
            f"step {path[1]} does not run before step {sid}, so its output is not known when "
            f"{sid}'s condition is evaluated (list it in after, directly or through another step)"
        )
    return ""


def _template_issues(
    sid: str,
    part: str,
    value: Any,
    available: frozenset[str],
    graph: Graph,
    in_map: bool = False,
) -> Iterator[Issue]:
    """Malformed templates, references to output that ``sid`` cannot have yet, and to an
    item outside a map."""
    when = "runs" if part.endswith("action") else "is compensated"
    for location, text in iter_strings(value):
        where = dotted((part, *location))
        try:
            references = find_references(text)
        except TemplateSyntaxError as exc:
            yield Issue(sid, where, str(exc))
            continue
        for ref in references:
            if ref.root in ITERATION_ROOTS and not in_map:
                yield Issue(
                    sid,
                    where,
                    f"{ref.text}: item and index exist only in the step a map runs for each item",
                )
            elif ref.root == "index" and len(ref.parts) > 1:
                yield Issue(sid, where, f"{ref.text}: an index is a number, it has no fields")
            elif ref.root == "run" and len(ref.parts) > 1 and ref.parts[1] not in RUN_FIELDS:
                fields = ", ".join(sorted(RUN_FIELDS))
                yield Issue(
                    sid, where, f"{ref.text}: a run has no field {ref.parts[1]!r} (it has {fields})"
                )
            elif ref.step is not None and ref.step not in graph:
                yield Issue(sid, where, f"{ref.text}: there is no step {ref.step!r}")
            elif ref.step is not None and ref.step not in available:
                detail = (
                    "a step's own output is only available to its compensation"
                    if ref.step == sid
                    else f"step {ref.step} does not run before step {sid}, so its output is "
                    f"not available when {sid} {when} (list it in after, directly or through "
                    "another step)"
                )
                yield Issue(sid, where, f"{ref.text}: {detail}")

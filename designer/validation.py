"""Validation of ``sagaboard/v1`` specs, as the designer, the API and import use it.

``validate_spec`` never raises: whatever it is given, it returns a
``ValidationResult`` whose issues each name the step and field. It checks in
this order, stopping after the first stage that finds errors:

1. limits (encoded size, number of steps) and plain JSON-ness (no NaN, no
   non-string keys, no cycles, bounded nesting), so that later stages only
   ever see small, plain JSON;
2. the shape, against ``schema/sagaboard-v1.schema.json`` (also shipped to the
   front end), plus ``input_schema`` against the JSON Schema metaschema;
3. the graph rules: ids, ``after``, cycles, activities, pivots, templates.

Warnings (a compensable step with side effects and no compensation) come from
stage 3 and never make a spec invalid.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, ValidationError, validators

from engine.activities import all_activities, get_activity
from engine.templating import RUN_FIELDS, TemplateSyntaxError, find_references, iter_strings

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_STEPS",
    "SCHEMA",
    "STEP_TYPES",
    "Issue",
    "SpecParseError",
    "ValidationResult",
    "parse_spec_text",
    "validate_spec",
]

SCHEMA_PATH = Path(__file__).parent / "schema" / "sagaboard-v1.schema.json"
SCHEMA: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
STEP_TYPES: tuple[str, ...] = tuple(SCHEMA["$defs"]["step"]["properties"]["type"]["enum"])
MAX_BYTES = 1024 * 1024
MAX_STEPS = 500
# Deep enough for any real request body, shallow enough that no later stage
# (jsonschema, templates, the engine) can run out of stack.
MAX_DEPTH = 64
# Past this many, further cycles are reported once the first ones are fixed.
_MAX_CYCLES = 10

_STEP_ID = re.compile(SCHEMA["$defs"]["step"]["properties"]["id"]["pattern"][1:-1])
_PATTERN_MESSAGES = {
    SCHEMA["$defs"]["step"]["properties"]["id"]["pattern"]: (
        "must start with a letter and hold only letters, digits, '_' and '-' "
        "(at most 64 characters)"
    ),
    SCHEMA["$defs"]["url"]["pattern"]: "must start with http:// or https:// (or a template)",
}
_TYPE_NAMES = {
    "object": "an object",
    "array": "an array",
    "string": "a string",
    "number": "a number",
    "integer": "an integer",
    "boolean": "true or false",
    "null": "null",
}
_DAY = 86400


@dataclass(frozen=True)
class Issue:
    """One error or warning: ``step`` is a step id (or ``steps[i]``), ``field`` a
    dotted path inside the step (or inside the spec when ``step`` is None)."""

    step: str | None
    field: str | None
    message: str

    def as_dict(self) -> dict[str, str | None]:
        return {"step": self.step, "field": self.field, "message": self.message}


@dataclass(frozen=True)
class ValidationResult:
    """``valid`` is true when there are no errors; warnings never make a spec invalid."""

    valid: bool
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "errors": [issue.as_dict() for issue in self.errors],
            "warnings": [issue.as_dict() for issue in self.warnings],
        }


class SpecParseError(ValueError):
    """Spec text that is neither valid JSON nor valid YAML; the message gives the position."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.line = line
        self.column = column


# --- parsing -----------------------------------------------------------------


class _SpecLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing duplicate keys and keeping dates as text."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        # A repeated key would silently drop half of a step; merge keys (<<) may
        # legitimately be overridden, so only explicit keys are compared.
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = (key_node.tag, key_node.value)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key_node.value!r}", key_node.start_mark
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]


# A date is not JSON; keep `2024-01-01` as the string the author wrote.
_SpecLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_spec_text(text: str) -> object:
    """Parse spec text: JSON when it starts with ``{`` or ``[``, YAML otherwise.

    YAML is read with PyYAML's safe loader only. Raises ``SpecParseError``
    with the line and column of the problem.
    """
    if not isinstance(text, str):
        raise SpecParseError(f"spec text must be a string, not {type(text).__name__}")
    body = text.removeprefix("\ufeff")
    if not body.strip():
        raise SpecParseError("the spec is empty")
    if body.lstrip()[:1] in ("{", "["):
        return _parse_json(body)
    return _parse_yaml(body)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise SpecParseError(f"invalid JSON: duplicate key {key!r}")
        result[key] = value
    return result


def _parse_json(body: str) -> object:
    try:
        return json.loads(body, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise SpecParseError(
            f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
            line=exc.lineno,
            column=exc.colno,
        ) from None
    except SpecParseError:
        raise
    except RecursionError:
        raise SpecParseError("invalid JSON: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer too long to convert
        raise SpecParseError(f"invalid JSON: {exc}") from None


def _parse_yaml(body: str) -> object:
    try:
        # _SpecLoader is a yaml.SafeLoader: it builds plain data only, as safe_load does.
        return yaml.load(body, Loader=_SpecLoader)  # noqa: S506
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "malformed"
        if mark is None:
            raise SpecParseError(f"invalid YAML: {problem}") from None
        raise SpecParseError(
            f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}",
            line=mark.line + 1,
            column=mark.column + 1,
        ) from None
    except yaml.YAMLError as exc:
        raise SpecParseError(f"invalid YAML: {exc}") from None
    except RecursionError:
        raise SpecParseError("invalid YAML: nested too deeply") from None
    except ValueError as exc:
        raise SpecParseError(f"invalid YAML: {exc}") from None


# --- validation ----------------------------------------------------------------


def validate_spec(
    spec: object, *, max_steps: int = MAX_STEPS, max_bytes: int = MAX_BYTES
) -> ValidationResult:
    """Check a parsed spec against the ``sagaboard/v1`` format and its graph rules.

    Never raises: any value, however malformed, gives a ``ValidationResult``.
    """
    try:
        errors, warnings = _issues(spec, max_steps=max_steps, max_bytes=max_bytes)
    except RecursionError:
        # Depth is bounded before any recursive stage runs; this is a last guard.
        errors, warnings = [Issue(None, None, "spec is nested too deeply")], []
    order = _step_order(spec)
    return ValidationResult(
        valid=not errors, errors=_tidy(errors, order), warnings=_tidy(warnings, order)
    )


def _issues(spec: object, *, max_steps: int, max_bytes: int) -> tuple[list[Issue], list[Issue]]:
    # Scanning a little past the limit gives the exact size of a spec that is
    # slightly too big, and bounds the cost of one that is hugely so.
    cap = max_bytes * 4
    problems, overflow = _scan(spec, budget=cap)
    limits: list[Issue] = []
    limit = _bytes(max_bytes)
    size = None if overflow else _encoded_size(spec)
    if overflow:
        limits.append(Issue(None, None, f"spec is more than {_bytes(cap)}; the limit is {limit}"))
    elif size is not None and size > max_bytes:
        limits.append(Issue(None, None, f"spec is {size} bytes; the limit is {limit}"))
    steps = spec.get("steps") if isinstance(spec, dict) else None
    if isinstance(steps, list) and len(steps) > max_steps:
        limits.append(
            Issue(None, "steps", f"spec has {len(steps)} steps; the limit is {max_steps}")
        )
    if limits:
        return limits, []
    if problems:
        return [Issue(*_locate(spec, path), message) for path, message in problems], []
    if not isinstance(spec, dict):
        return [Issue(None, None, f"spec must be a JSON object, not {_actual(spec)}")], []
    shape = _shape_issues(spec)
    if shape:
        # Beside what is malformed, what can already be told of the rest, so that
        # fixing one error does not only reveal the next.
        return shape + _issues_beside_shape(spec, shape), []
    return _graph_issues(spec)


_JSONPath = tuple[str | int, ...]


def _scan(spec: object, *, budget: int) -> tuple[list[tuple[_JSONPath, str]], bool]:
    """What keeps ``spec`` from being plain JSON, and whether it is surely over ``budget`` bytes.

    Counts a lower bound of the encoded size as it goes and stops past the
    budget, so that shared references (YAML aliases), cycles and deep nesting
    cost no more than a spec of the allowed size.
    """
    problems: list[tuple[_JSONPath, str]] = []
    if not isinstance(spec, dict | list):
        problem = _scalar_problem(spec)
        return ([((), problem)] if problem else []), False
    open_containers: set[int] = set()
    stack: list[tuple[Any, _JSONPath, bool]] = [(spec, (), False)]
    used = 0
    while stack:
        value, path, leaving = stack.pop()
        if leaving:
            open_containers.discard(id(value))
            continue
        if id(value) in open_containers:
            problems.append((path, "contains itself"))
            continue
        if len(path) >= MAX_DEPTH:
            problems.append((path, f"is nested more than {MAX_DEPTH} levels deep"))
            continue
        open_containers.add(id(value))
        stack.append((value, path, True))
        is_dict = isinstance(value, dict)
        nested: list[tuple[Any, _JSONPath, bool]] = []
        used += 2
        for key, item in value.items() if is_dict else enumerate(value):
            if is_dict and not isinstance(key, str):
                problems.append((path, f"field names must be strings, not {_short(repr(key), 40)}"))
                continue
            if is_dict:
                used += len(str(key)) + 3  # "key":
            if isinstance(item, str):
                used += len(item) + 2
            elif isinstance(item, dict | list):
                nested.append((item, (*path, key), False))
            else:
                used += 1
                problem = _scalar_problem(item)
                if problem:
                    problems.append(((*path, key), problem))
            if used > budget:
                return problems, True
        stack.extend(reversed(nested))
    return problems, False


def _scalar_problem(value: object) -> str | None:
    if value is None or isinstance(value, str | bool):
        return None
    if isinstance(value, float):
        return (
            None
            if math.isfinite(value)
            else "must be a finite number (NaN and Infinity are not JSON)"
        )
    if isinstance(value, int):
        return None if _printable(value) else "is too large a number"
    return f"is not a JSON value ({type(value).__name__})"


def _printable(number: int) -> bool:
    if number.bit_length() < 10000:
        return True
    try:
        str(number)
    except ValueError:  # over Python's limit on digits for int-to-str conversion
        return False
    return True


def _encoded_size(spec: object) -> int | None:
    """UTF-8 size of ``spec`` as compact JSON; None when it cannot be encoded at all."""
    try:
        text = json.dumps(
            spec, ensure_ascii=False, separators=(",", ":"), skipkeys=True, default=lambda _: None
        )
    except (ValueError, TypeError, RecursionError):
        return None
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _shape_issues(spec: dict[str, Any]) -> list[Issue]:
    issues = [
        issue for error in _SPEC_VALIDATOR.iter_errors(spec) for issue in _describe(spec, error)
    ]
    input_schema = spec.get("input_schema")
    if isinstance(input_schema, dict):
        issues.extend(_input_schema_issues(input_schema))
    return issues


def _input_schema_issues(schema: dict[str, Any]) -> list[Issue]:
    cls: Any = Draft202012Validator
    declared = schema.get("$schema")
    if isinstance(declared, str):
        cls = validators.validator_for(schema, default=None)  # type: ignore[arg-type]
        if cls is None:
            return [
                Issue(None, "input_schema.$schema", f"unknown JSON Schema version {declared!r}")
            ]
    meta = cls(cls.META_SCHEMA, format_checker=cls.FORMAT_CHECKER)
    return [
        Issue(
            None,
            _dotted(("input_schema", *error.absolute_path)),
            f"not a valid JSON Schema: {_short(error.message, 200)}",
        )
        for error in meta.iter_errors(schema)
    ]


def _describe(spec: dict[str, Any], error: ValidationError) -> list[Issue]:
    """Turn one jsonschema error into issues worded for an author."""
    path = tuple(error.absolute_path)
    keyword, expected, instance = error.validator, error.validator_value, error.instance

    def at(where: tuple[Any, ...], message: str) -> Issue:
        return Issue(*_locate(spec, where), message)

    if keyword == "required":
        return [
            at((*path, name), f"'{name}' is required") for name in expected if name not in instance
        ]
    if keyword == "additionalProperties":
        known = list(error.schema.get("properties", {}))
        return [
            at((*path, name), f"unknown field {name!r}{_did_you_mean(name, known)}")
            for name in instance
            if name not in known
        ]
    if "propertyNames" in error.relative_schema_path:
        return [at(path, f"{instance!r} is not a valid header name")]
    if keyword == "not":  # `"not": {}` marks a field this step type does not take
        owner = _get(spec, path[:-1]) if path else None
        kind = owner.get("type") if isinstance(owner, dict) else None
        article = "an" if str(kind)[:1] in "aeiou" else "a"
        return [
            at(path, f"{article} {kind} step takes no {path[-1]}" if kind else "is not allowed")
        ]
    return [at(path, _wording(keyword, expected, instance, path) or _short(error.message, 200))]


def _wording(keyword: str, expected: Any, instance: Any, path: tuple[Any, ...]) -> str | None:
    if keyword == "type":
        wanted = expected if isinstance(expected, list) else [expected]
        return f"must be {' or '.join(_TYPE_NAMES[t] for t in wanted)}, not {_actual(instance)}"
    if keyword == "enum":
        return "must be one of " + ", ".join(str(option) for option in expected)
    if keyword == "const":
        return f"must be {expected!r}"
    limits = {
        "minimum": "at least",
        "maximum": "at most",
        "exclusiveMinimum": "more than",
        "exclusiveMaximum": "less than",
    }
    if keyword in limits:
        days = ""
        if path and str(path[-1]).endswith(("_s", "seconds")) and expected >= _DAY:
            days = f" ({expected / _DAY:g} days)"
        return f"must be {limits[keyword]} {expected}{days}"
    if keyword == "minLength":
        return "must not be empty" if expected == 1 else f"must be at least {expected} characters"
    if keyword == "maxLength":
        return f"must be at most {expected} characters"
    if keyword == "minItems":
        return (
            "must have at least one step"
            if path == ("steps",)
            else (f"must have at least {expected} items")
        )
    if keyword == "maxItems":
        return f"must have at most {expected} items"
    if keyword == "uniqueItems":
        seen: set[str] = set()
        for item in instance:
            key = json.dumps(item, sort_keys=True)
            if key in seen:
                return f"lists {item!r} more than once"
            seen.add(key)
    if keyword == "pattern":
        return _PATTERN_MESSAGES.get(expected, f"must match the pattern {expected}")
    return None


def _wiring(steps: list[Any]) -> tuple[list[Issue], dict[str, set[str]], list[str]]:
    """Duplicate ids, ``after`` names that are no step, and cycles; the graph, as each
    step's predecessors, and an order fit for propagation.

    Steps without a well-formed id, and ``after`` entries that are no well-formed id,
    are passed over: the shape check speaks of them.
    """
    errors: list[Issue] = []
    first: dict[str, int] = {}
    named: list[tuple[str, dict[str, Any]]] = []
    for i, step in enumerate(steps):
        sid = step.get("id") if isinstance(step, dict) else None
        if not isinstance(sid, str) or not _STEP_ID.fullmatch(sid):
            continue
        if sid in first:
            errors.append(
                Issue(sid, "id", f"duplicate step id {sid!r}: steps[{first[sid]}] and steps[{i}]")
            )
        first.setdefault(sid, i)
        named.append((sid, step))
    preds: dict[str, set[str]] = {sid: set() for sid in first}
    for sid, step in named:
        after = step.get("after", [])
        for name in after if isinstance(after, list) else []:
            if not isinstance(name, str) or not _STEP_ID.fullmatch(name):
                continue
            if name == sid:
                errors.append(Issue(sid, "after", f"step {sid} lists itself in after"))
            elif name not in first:
                hint = _did_you_mean(name, list(first))
                errors.append(
                    Issue(sid, "after", f"after names {name!r}, which is not a step{hint}")
                )
            else:
                preds[sid].add(name)
    cycles, order = _cycles(preds)
    for cycle in cycles:
        errors.extend(Issue(sid, "after", "cycle: " + " -> ".join(cycle)) for sid in cycle[:-1])
    return errors, preds, order


def _issues_beside_shape(spec: dict[str, Any], shape: list[Issue]) -> list[Issue]:
    """The graph's wiring, and unknown activities of steps the shape check found whole."""
    steps = spec.get("steps")
    if not isinstance(steps, list):
        return []
    errors, _, _ = _wiring(steps)
    malformed = {issue.step for issue in shape}
    for step in steps:
        sid = step.get("id") if isinstance(step, dict) else None
        if not isinstance(sid, str) or sid in malformed or step.get("type") != "task":
            continue
        errors.extend(_activity_issues(sid, "action", step["action"]))
        if isinstance(step.get("compensation"), dict):
            errors.extend(_activity_issues(sid, "compensation", step["compensation"]))
    return errors


def _graph_issues(spec: dict[str, Any]) -> tuple[list[Issue], list[Issue]]:
    """The rules a schema cannot say: ids, after, cycles, activities, pivots, templates."""
    steps: list[dict[str, Any]] = spec["steps"]
    warnings: list[Issue] = []
    errors, preds, order = _wiring(steps)
    index, ancestors = _ancestors(preds, order)
    pivots = list(dict.fromkeys(s["id"] for s in steps if s.get("pivot") is True))

    for step in steps:
        sid, kind = step["id"], step["type"]
        action: dict[str, Any] = step.get("action", {})
        compensation: dict[str, Any] | None = step.get("compensation")
        if kind == "task":
            errors.extend(_activity_issues(sid, "action", action))
            if compensation is not None:
                errors.extend(_activity_issues(sid, "compensation", compensation))
        if kind == "approval" and not action["group"].strip():
            errors.append(Issue(sid, "action.group", "approval group must not be empty"))
        # In a cycle, "after a pivot" means nothing until the cycle is fixed: judge
        # such a step by its own pivot flag alone, and do not warn about it.
        in_cycle = bool(ancestors[sid] >> index[sid] & 1)
        pivot = next(
            (p for p in pivots if p == sid or (not in_cycle and ancestors[sid] >> index[p] & 1)),
            None,
        )
        if compensation is not None and pivot is not None:
            where = "is a pivot" if pivot == sid else f"runs after pivot {pivot}"
            errors.append(
                Issue(
                    sid,
                    "compensation",
                    f"step {sid} {where}: it cannot have a compensation, "
                    "as nothing is compensated once a pivot has succeeded",
                )
            )
        # A step reads the output of its ancestors; its compensation, also its own.
        earlier = _Earlier(index, ancestors[sid])
        errors.extend(_template_issues(sid, "action", action, earlier))
        if compensation is not None:
            earlier_or_self = _Earlier(index, ancestors[sid] | 1 << index[sid])
            errors.extend(_template_issues(sid, "compensation", compensation, earlier_or_self))
        if (
            not in_cycle
            and pivot is None
            and compensation is None
            and _has_side_effects(kind, action)
        ):
            warnings.append(
                Issue(
                    sid,
                    "compensation",
                    f"step {sid} has side effects but no compensation: "
                    "if a later step fails, its effect stays",
                )
            )
    return errors, warnings


def _cycles(preds: dict[str, set[str]]) -> tuple[list[list[str]], list[str]]:
    """The cycles of the graph, each as a -> b -> a, and an order fit for propagation."""
    position = {sid: i for i, sid in enumerate(preds)}
    remaining = {sid: set(p) for sid, p in preds.items()}
    cycles: list[list[str]] = []
    order: list[str] = []
    while len(cycles) < _MAX_CYCLES:
        try:
            order = list(TopologicalSorter(remaining).static_order())
            break
        except CycleError as exc:
            ring: list[str] = list(exc.args[1][:-1])
            start = min(range(len(ring)), key=lambda i: position[ring[i]])
            ring = ring[start:] + ring[:start]
            cycles.append([*ring, ring[0]])
            # Drop the ring so the next pass finds the next cycle, not this one again.
            remaining = {s: p - set(ring) for s, p in remaining.items() if s not in ring}
    placed = set(order)
    return cycles, order + [sid for sid in preds if sid not in placed]


def _ancestors(
    preds: dict[str, set[str]], order: list[str]
) -> tuple[dict[str, int], dict[str, int]]:
    """Every step's ancestors as a bit mask over ``index``.

    In topological order one pass suffices; steps left in cycles need a few more.
    """
    index = {sid: i for i, sid in enumerate(preds)}
    masks = dict.fromkeys(preds, 0)
    for _ in range(len(preds) + 1):
        changed = False
        for sid in order:
            mask = masks[sid]
            for p in preds[sid]:
                mask |= masks[p] | 1 << index[p]
            if mask != masks[sid]:
                masks[sid], changed = mask, True
        if not changed:
            break
    return index, masks


def _activity_issues(sid: str, part: str, action: dict[str, Any]) -> list[Issue]:
    name = action["name"]
    if get_activity(name) is not None:
        return []
    hint = _did_you_mean(name, [a.name for a in all_activities()])
    return [Issue(sid, f"{part}.name", f"unknown task activity {name!r}{hint}")]


@dataclass(frozen=True)
class _Earlier:
    """The steps whose output is available, as a bit mask over ``index``."""

    index: dict[str, int]
    mask: int

    def __contains__(self, sid: object) -> bool:
        return isinstance(sid, str) and sid in self.index and bool(self.mask >> self.index[sid] & 1)


def _template_issues(sid: str, part: str, value: Any, available: _Earlier) -> Iterator[Issue]:
    """Malformed templates, and references to output that ``sid`` cannot have yet."""
    when = "runs" if part == "action" else "is compensated"
    for location, text in iter_strings(value):
        where = _dotted((part, *location))
        try:
            references = find_references(text)
        except TemplateSyntaxError as exc:
            yield Issue(sid, where, str(exc))
            continue
        for ref in references:
            if ref.root == "run" and len(ref.parts) > 1 and ref.parts[1] not in RUN_FIELDS:
                fields = ", ".join(sorted(RUN_FIELDS))
                yield Issue(
                    sid, where, f"{ref.text}: a run has no field {ref.parts[1]!r} (it has {fields})"
                )
            elif ref.step is not None and ref.step not in available.index:
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


def _has_side_effects(kind: str, action: dict[str, Any]) -> bool:
    if kind == "http":
        return action["method"] not in ("GET", "HEAD")
    if kind == "task":
        activity = get_activity(action["name"])
        # An unknown activity is an error already; guessing its effects would only add noise.
        return activity is not None and activity.side_effects
    if kind == "callback":
        return "url" in action
    return False


# --- helpers -----------------------------------------------------------------


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _ecma_regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@lru_cache(maxsize=64)
def _ecma_regex(pattern: str) -> re.Pattern[str]:
    # In ECMA-262, as JSON Schema means it, a final `$` matches only at the very end;
    # in Python it also matches before a trailing newline, which would let "id\n" through.
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


_SPEC_VALIDATOR = validators.extend(Draft202012Validator, {"pattern": _pattern})(SCHEMA)


def _locate(spec: Any, path: tuple[Any, ...]) -> tuple[str | None, str | None]:
    if len(path) >= 2 and path[0] == "steps" and isinstance(path[1], int):
        return _step_label(spec, path[1]), _dotted(path[2:]) or None
    return None, _dotted(path) or None


def _step_label(spec: Any, i: int) -> str:
    step = spec["steps"][i]
    sid = step.get("id") if isinstance(step, dict) else None
    return sid if isinstance(sid, str) and _STEP_ID.fullmatch(sid) else f"steps[{i}]"


def _step_order(spec: object) -> dict[str, int]:
    steps = spec.get("steps") if isinstance(spec, dict) else None
    order: dict[str, int] = {}
    if isinstance(steps, list):
        for i in range(len(steps)):
            order.setdefault(_step_label(spec, i), i)
    return order


def _tidy(issues: list[Issue], order: dict[str, int]) -> list[Issue]:
    """Drop repeats and sort: spec-level issues first, then by step position, field, message."""
    unique = list(dict.fromkeys(issues))
    return sorted(
        unique,
        key=lambda i: (
            -1 if i.step is None else order.get(i.step, len(order)),
            i.step or "",
            i.field or "",
            i.message,
        ),
    )


def _get(spec: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        spec = spec[key]
    return spec


def _dotted(path: tuple[Any, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _actual(value: Any) -> str:
    if isinstance(value, str):
        return f"the string {_short(value, 40)!r}"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return _short(json.dumps(value), 40)


def _did_you_mean(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _bytes(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):g} MB"
    if n >= 1024:
        return f"{n / 1024:g} KB"
    return f"{n} bytes"

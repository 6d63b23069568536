"""Validation of ``sagaboard/v1`` specs, as the designer, the API and import use it.

``validate_spec`` never raises: whatever it is given, it returns a
``ValidationResult`` whose issues each name the step and field. It checks in
this order, stopping after the first stage that finds errors:

1. limits (encoded size, number of steps) and plain JSON-ness (no NaN, no
   non-string keys, no cycles, bounded nesting), so that later stages only
   ever see small, plain JSON;
2. the shape, against :data:`saga.schema.SCHEMA` (also shipped to the front
   end), plus ``input_schema`` against the JSON Schema metaschema;
3. the graph rules of :mod:`saga.rules`: ids, ``after``, cycles, pivots,
   templates, and what each step's kind checks of its own (activities).

Warnings (a compensable step with side effects and no compensation) come from
stage 3 and never make a spec invalid.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator, ValidationError, validators

from common.activities import all_activities
from designer.models import Version, VersionStatus
from saga.issues import Catalog, Issue, Published, did_you_mean
from saga.rules import STEP_ID, dotted, graph_issues, issues_beside_shape
from saga.schema import SCHEMA

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_STEPS",
    "Issue",
    "ValidationResult",
    "catalog",
    "validate_spec",
]

MAX_BYTES = 1024 * 1024
MAX_STEPS = 500
# Deep enough for any real request body, shallow enough that no later stage
# (jsonschema, templates, the engine) can run out of stack.
MAX_DEPTH = 64

_PATTERN_MESSAGES = {
    SCHEMA["$defs"]["step"]["properties"]["id"]["pattern"]: (
        "must start with a letter and hold only letters, digits, '_' and '-' "
        "(at most 64 characters)"
    ),
    SCHEMA["$defs"]["url"]["pattern"]: "must start with http:// or https:// (or a template)",
}
SEARCH_NAME_MESSAGE = (
    "a search attribute's name starts with a lowercase letter and holds only lowercase "
    "letters, digits and '_' (at most 32 characters)"
)
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


def validate_spec(
    spec: object,
    *,
    max_steps: int = MAX_STEPS,
    max_bytes: int = MAX_BYTES,
    workflow: str | None = None,
) -> ValidationResult:
    """Check a parsed spec (of ``workflow``, when it is one's) against the
    ``sagaboard/v1`` format and its graph rules.

    Never raises: any value, however malformed, gives a ``ValidationResult``.
    """
    try:
        errors, warnings = _issues(
            spec, max_steps=max_steps, max_bytes=max_bytes, known=catalog(workflow)
        )
    except RecursionError:
        # Depth is bounded before any recursive stage runs; this is a last guard.
        errors, warnings = [Issue(None, None, "spec is nested too deeply")], []
    order = _step_order(spec)
    return ValidationResult(
        valid=not errors, errors=_tidy(errors, order), warnings=_tidy(warnings, order)
    )


def _issues(
    spec: object, *, max_steps: int, max_bytes: int, known: Catalog
) -> tuple[list[Issue], list[Issue]]:
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
        malformed = {issue.step for issue in shape}
        return shape + issues_beside_shape(spec, malformed, known), []
    return graph_issues(spec, known)


def catalog(workflow: str | None = None) -> Catalog:
    """What specs may refer to in this installation: its registered task activities and
    the workflows a child saga may run (those with a published version, read only when a
    spec has a child saga); ``workflow``: the one the spec is a version of."""
    return Catalog(
        {a.name: a.side_effects for a in all_activities()},
        workflows=PublishedWorkflows(),
        workflow=workflow,
    )


class PublishedWorkflows(Mapping[str, Published]):
    """Every workflow with a published version, by slug: whether it has a pivot, and what
    it calls. Read from the database on first use."""

    def __init__(self) -> None:
        self._found: dict[str, Published] | None = None

    def _all(self) -> dict[str, Published]:
        if self._found is None:
            found: dict[str, Published] = {}
            rows = Version.objects.filter(status=VersionStatus.PUBLISHED).values_list(
                "workflow__slug", "spec"
            )
            for slug, spec in rows:
                steps = [s for s in (spec or {}).get("steps", []) if isinstance(s, dict)]
                # A map calls what its do does, for each item.
                runs = [s.get("do") if s.get("type") == "map" else s for s in steps]
                calls = frozenset(
                    str((s.get("action") or {}).get("workflow"))
                    for s in runs
                    if isinstance(s, dict) and s.get("type") == "subsaga"
                )
                found[slug] = Published(pivot=any(s.get("pivot") for s in steps), calls=calls)
            self._found = found
        return self._found

    def __getitem__(self, slug: str) -> Published:
        return self._all()[slug]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


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
            dotted(("input_schema", *error.absolute_path)),
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
            at((*path, name), f"unknown field {name!r}{did_you_mean(name, known)}")
            for name in instance
            if name not in known
        ]
    if "propertyNames" in error.relative_schema_path:
        if path == ("search",):
            return [at((*path, instance), SEARCH_NAME_MESSAGE)]
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
    if keyword == "maxProperties":
        return f"must have at most {expected} entries"
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
        return _step_label(spec, path[1]), dotted(path[2:]) or None
    return None, dotted(path) or None


def _step_label(spec: Any, i: int) -> str:
    step = spec["steps"][i]
    sid = step.get("id") if isinstance(step, dict) else None
    return sid if isinstance(sid, str) and STEP_ID.fullmatch(sid) else f"steps[{i}]"


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


def _actual(value: Any) -> str:
    if isinstance(value, str):
        return f"the string {_short(value, 40)!r}"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return _short(json.dumps(value), 40)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _bytes(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):g} MB"
    if n >= 1024:
        return f"{n / 1024:g} KB"
    return f"{n} bytes"

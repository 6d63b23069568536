"""The template language of ``sagaboard/v1`` specs.

A template is ``{{ <root>.<path> }}`` inside a string of a step's action or
compensation:

- ``{{ input.order_id }}``, ``{{ input.lines.0.sku }}``: the run's input;
- ``{{ steps.reserve_stock.output.id }}``: the output of an earlier step;
- ``{{ run.id }}``: the run itself;
- ``{{ item.sku }}``, ``{{ index }}``: in the step a map runs for each item, the item
  and its index.

It is deliberately tiny: a path walks dict keys and list indexes and nothing
else, so a spec can never reach a Python attribute, call anything or loop.
Whitespace inside the braces is optional. Every ``{{`` starts a template.

A string that is exactly one template renders to the referenced value with its
JSON type kept (a number stays a number, an object an object); templates
embedded in longer text are written as JSON-ish text (``true``, ``null``,
compact JSON for objects and lists). A path that does not resolve is an error
that names the path, never an empty string.

Pure: no Django, no I/O.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = [
    "ITERATION_ROOTS",
    "ROOTS",
    "RUN_FIELDS",
    "Reference",
    "TemplateError",
    "TemplateSyntaxError",
    "find_references",
    "iter_strings",
    "render",
]

ROOTS: tuple[str, ...] = ("input", "steps", "run", "item", "index")
#: The roots only the step a map runs for each item may read.
ITERATION_ROOTS: frozenset[str] = frozenset({"item", "index"})
# What the engine puts under ``run`` in the render context.
RUN_FIELDS: frozenset[str] = frozenset({"id"})

_SEGMENT = re.compile(r"[\w-]+")
_INDEX = re.compile(r"[0-9]+")

Location = tuple[str | int, ...]


class TemplateError(ValueError):
    """A template that cannot be rendered: the message names the path."""


class TemplateSyntaxError(TemplateError):
    """A malformed template: unclosed braces, unknown root, empty path, ...

    ``template`` is the offending text; ``location`` the keys and indexes
    leading to the string inside the value given to ``find_references``.
    """

    def __init__(self, message: str, *, template: str, location: Location = ()) -> None:
        super().__init__(message)
        self.template = template
        self.location = location


@dataclass(frozen=True)
class Reference:
    """One ``{{ ... }}`` found in a value.

    ``path`` is the full dotted path (``steps.reserve_stock.output.id``),
    ``step`` the step id for ``steps`` references, ``location`` the keys and
    indexes leading to the string that holds it.
    """

    root: str
    step: str | None
    path: str
    parts: tuple[str, ...]
    location: Location = ()

    @property
    def text(self) -> str:
        """The reference written the canonical way, as error messages show it."""
        return "{{ " + self.path + " }}"


def find_references(value: Any) -> list[Reference]:
    """Every template reference in ``value``, in document order.

    Walks strings inside dicts and lists; dict keys are never templated.
    Raises ``TemplateSyntaxError`` (with ``location`` set) on the first
    malformed template.
    """
    found: list[Reference] = []
    for location, text in iter_strings(value):
        try:
            pieces = _parse(text)
        except TemplateSyntaxError as exc:
            raise TemplateSyntaxError(str(exc), template=exc.template, location=location) from None
        for piece in pieces:
            if isinstance(piece, Reference):
                found.append(Reference(piece.root, piece.step, piece.path, piece.parts, location))
    return found


def render(value: Any, context: Mapping[str, Any]) -> Any:
    """``value`` with every template replaced from ``context``.

    ``context`` is ``{"input": ..., "steps": {id: {"output": ...}}, "run":
    {"id": ...}}``. Returns a new value; neither argument is changed. Raises
    ``TemplateSyntaxError`` for a malformed template and ``TemplateError`` for
    a path that does not resolve.
    """
    if isinstance(value, str):
        return _render_string(value, context)
    if isinstance(value, dict):
        return {key: render(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, context) for item in value]
    return value


def iter_strings(value: Any) -> Iterator[tuple[Location, str]]:
    """Every string in ``value`` (not dict keys) with the keys and indexes leading to it."""
    # Iterative, so that a deeply nested value cannot exhaust the stack.
    stack: list[tuple[Location, Any]] = [((), value)]
    while stack:
        location, item = stack.pop()
        if isinstance(item, str):
            yield location, item
        elif isinstance(item, dict):
            stack.extend((location + (key,), item[key]) for key in reversed(list(item)))
        elif isinstance(item, list):
            stack.extend((location + (i,), item[i]) for i in reversed(range(len(item))))


@lru_cache(maxsize=4096)
def _parse(text: str) -> tuple[str | Reference, ...]:
    """Split ``text`` into literal pieces and references."""
    pieces: list[str | Reference] = []
    pos = 0
    while True:
        start = text.find("{{", pos)
        if start < 0:
            if pos < len(text):
                pieces.append(text[pos:])
            return tuple(pieces)
        end = text.find("}}", start + 2)
        nested = text.find("{{", start + 2)
        if end < 0 or 0 <= nested < end:
            snippet = text[start : start + 40]
            raise TemplateSyntaxError(
                f"unclosed '{{{{' at character {start + 1}: {snippet!r}", template=text
            )
        if start > pos:
            pieces.append(text[pos:start])
        pieces.append(_parse_expression(text[start + 2 : end].strip(), text[start : end + 2]))
        pos = end + 2


def _parse_expression(expr: str, written: str) -> Reference:
    if not expr:
        raise TemplateSyntaxError(f"empty template {written!r}", template=written)
    parts = tuple(expr.split("."))
    if any(not part for part in parts):
        raise TemplateSyntaxError(f"{written}: empty path segment", template=written)
    for part in parts:
        if not _SEGMENT.fullmatch(part):
            raise TemplateSyntaxError(
                f"{written}: {part!r} is not a valid path segment "
                "(letters, digits, '_' and '-' only)",
                template=written,
            )
    root = parts[0]
    if root not in ROOTS:
        raise TemplateSyntaxError(
            f"{written}: unknown root {root!r} (use input, steps, run, or in a map item and index)",
            template=written,
        )
    step = None
    if root == "steps":
        if len(parts) < 3 or parts[2] != "output":
            raise TemplateSyntaxError(
                f"{written}: a step reference reads steps.<id>.output[.<path>]",
                template=written,
            )
        step = parts[1]
    return Reference(root=root, step=step, path=expr, parts=parts)


def _render_string(text: str, context: Mapping[str, Any]) -> Any:
    pieces = _parse(text)
    if len(pieces) == 1 and isinstance(pieces[0], Reference):
        # A copy, so that changing the rendered value never changes the context.
        return copy.deepcopy(_resolve(pieces[0], context))
    out: list[str] = []
    for piece in pieces:
        if isinstance(piece, Reference):
            out.append(_to_text(_resolve(piece, context), piece))
        else:
            out.append(piece)
    return "".join(out)


def _resolve(ref: Reference, context: Mapping[str, Any]) -> Any:
    if ref.root == "steps":
        steps = context.get("steps")
        entry = steps.get(ref.step) if isinstance(steps, Mapping) else None
        if not isinstance(entry, Mapping) or "output" not in entry:
            raise TemplateError(f"{ref.text}: step {ref.step} has no output (it has not succeeded)")
        current, where, rest = entry["output"], f"the output of step {ref.step}", ref.parts[3:]
    else:
        if ref.root not in context:
            raise TemplateError(f"{ref.text}: there is no {ref.root} to read from")
        current, where, rest = context[ref.root], f"the {ref.root}", ref.parts[1:]
    for i, segment in enumerate(rest):
        at = f" at '{'.'.join(rest[:i])}'" if i else ""
        if isinstance(current, dict):
            if segment not in current:
                raise TemplateError(f"{ref.text}: {segment!r} not found in {where}{at}")
            current = current[segment]
        elif isinstance(current, list):
            if not _INDEX.fullmatch(segment):
                raise TemplateError(
                    f"{ref.text}: {segment!r} not found in {where}{at}: it is a list, "
                    "index it with a number"
                )
            if int(segment) >= len(current):
                raise TemplateError(
                    f"{ref.text}: index {segment} not found in {where}{at}: "
                    f"the list has {len(current)} items"
                )
            current = current[int(segment)]
        else:
            raise TemplateError(
                f"{ref.text}: {segment!r} not found in {where}{at}: "
                f"it is {_kind(current)}, not an object or list"
            )
    return current


def _to_text(value: Any, ref: Reference) -> str:
    if isinstance(value, str):
        return value

    def refuse(item: Any) -> Any:
        raise TemplateError(f"{ref.text}: {type(item).__name__} is not a JSON value")

    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=refuse)
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, TemplateError):
            raise
        raise TemplateError(f"{ref.text}: cannot be written as text ({exc})") from None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return f"a {type(value).__name__}"

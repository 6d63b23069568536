"""Search attributes: what a definition names a run by, so that people find it again.

A spec's ``search`` maps a name to a template over the run's input:
``{"order_id": "{{ input.order_id }}", "customer": "{{ input.email }}"}``. They are
evaluated once, when the run starts, into strings the engine stores and indexes.
Only ``input`` may be read: nothing else is known when a run starts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from saga.issues import Issue
from saga.templates import TemplateError, TemplateSyntaxError, find_references, render

__all__ = [
    "MAX_ATTRIBUTES",
    "MAX_VALUE_CHARS",
    "NAME_PATTERN",
    "SearchValueTooLong",
    "search_issues",
    "search_values",
]

#: At most this many attributes a definition.
MAX_ATTRIBUTES = 10
#: An attribute's name: what ``attr.<name>=`` filters by.
NAME_PATTERN = "^[a-z][a-z0-9_]{0,31}$"
NAME = re.compile(NAME_PATTERN[1:-1])
#: The longest value stored; a longer one refuses the start (it is no identifier).
MAX_VALUE_CHARS = 200


class SearchValueTooLong(ValueError):
    """An attribute's value is longer than :data:`MAX_VALUE_CHARS`."""

    def __init__(self, name: str, length: int) -> None:
        super().__init__(
            f"search attribute {name} would be {length} characters long; "
            f"at most {MAX_VALUE_CHARS} are stored"
        )
        self.name = name
        self.length = length


def search_issues(search: Any, input_schema: Any = None) -> tuple[list[Issue], list[Issue]]:
    """Errors and warnings of a spec's ``search`` (its shape checked by the schema): a
    malformed template, or one that reads anything but ``input``. Each names the attribute
    as its field (``search.order_id``). An input field the input schema does not declare
    is a warning, or an error where the schema allows no other field."""
    errors: list[Issue] = []
    warnings: list[Issue] = []
    if not isinstance(search, Mapping):
        return errors, warnings
    declared = input_schema.get("properties") if isinstance(input_schema, Mapping) else None
    closed = isinstance(input_schema, Mapping) and input_schema.get("additionalProperties") is False
    for name, template in search.items():
        field = f"search.{name}"
        for problem, hard in _template_problems(template, declared, closed):
            (errors if hard else warnings).append(Issue(None, field, problem))
    return errors, warnings


def _template_problems(template: Any, declared: Any, closed: bool) -> Iterator[tuple[str, bool]]:
    try:
        references = find_references(template)
    except TemplateSyntaxError as exc:
        yield str(exc), True
        return
    for ref in references:
        if ref.root != "input":
            yield (
                f"{ref.text}: a search attribute may read only the input "
                "({{ input.x }}): nothing else is known when a run starts",
                True,
            )
        elif len(ref.parts) > 1 and isinstance(declared, Mapping) and ref.parts[1] not in declared:
            yield f"{ref.text}: the input schema declares no field {ref.parts[1]!r}", closed


def search_values(search: Mapping[str, Any] | None, input: Any) -> dict[str, str]:
    """The attributes of a run started with ``input``, as strings.

    Numbers and booleans are written as JSON writes them (``42``, ``true``), objects and
    lists as compact JSON. A value that is missing (its input field is absent), null or
    empty leaves its attribute out. Raises :class:`SearchValueTooLong` for a value over
    :data:`MAX_VALUE_CHARS` characters.
    """
    values: dict[str, str] = {}
    for name, template in (search or {}).items():
        try:
            value = render(template, {"input": input})
        except TemplateError:
            continue
        if value is None:
            continue
        text = (
            value
            if isinstance(value, str)
            else json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        )
        if not text:
            continue
        if len(text) > MAX_VALUE_CHARS:
            raise SearchValueTooLong(name, len(text))
        values[name] = text
    return values

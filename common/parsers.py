"""The API's JSON parser: DRF's, with a limit on how deep a body may nest.

Its own module: the settings name it, and DRF reads them while ``rest_framework.views``
is still being imported, so it cannot live beside the views.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, parsers

#: How deep a request's JSON may nest. A spec or a run input needs a handful of levels;
#: far deeper data only exhausts the recursion of what reads it next (a 500).
MAX_JSON_DEPTH = 64


def nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` holds a list or object nested more than ``limit`` levels deep."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, dict | list):
            continue
        if depth > limit:
            return True
        stack.extend(
            (child, depth + 1) for child in (item.values() if isinstance(item, dict) else item)
        )
    return False


class JSONParser(parsers.JSONParser):
    """DRF's, refusing with a 400 what is nested deeper than ``MAX_JSON_DEPTH`` (DRF's
    own lets the parser's RecursionError through as a 500)."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        too_deep = f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels"
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError(too_deep) from None
        if nested_deeper_than(data, MAX_JSON_DEPTH):
            raise exceptions.ParseError(too_deep)
        return data

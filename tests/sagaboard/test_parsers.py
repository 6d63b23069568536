"""The API's JSON parser: nesting up to the limit is fine, past it a 400."""

from __future__ import annotations

import io

import pytest
from rest_framework.exceptions import ParseError

from common.parsers import MAX_JSON_DEPTH, JSONParser, nested_deeper_than


def nested(levels: int) -> str:
    return "[" * (levels - 1) + '{"a": 1}' + "]" * (levels - 1)


def parse(text: str) -> object:
    return JSONParser().parse(io.BytesIO(text.encode()), "application/json", {})


def test_nesting_up_to_the_limit_parses_and_past_it_is_refused() -> None:
    assert parse(nested(MAX_JSON_DEPTH))
    for levels in (MAX_JSON_DEPTH + 1, 100_000):
        with pytest.raises(ParseError, match=f"nested deeper than {MAX_JSON_DEPTH} levels"):
            parse(nested(levels))


@pytest.mark.parametrize(
    ("value", "limit", "deeper"),
    [
        ({"a": [1, {"b": 2}]}, 3, False),
        ({"a": [1, {"b": []}]}, 3, True),
        ("a string is no level", 0, False),
        ([], 0, True),
        ([[], [[]]], 2, True),
    ],
)
def test_depth_counts_lists_and_objects(value: object, limit: int, deeper: bool) -> None:
    assert nested_deeper_than(value, limit) is deeper

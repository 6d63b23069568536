"""Search attributes in the kernel: read with the definition, evaluated from the input as
strings, and what validation says of them."""

from __future__ import annotations

from typing import Any

import pytest

from saga import definition_from_spec
from saga.search import MAX_VALUE_CHARS, SearchValueTooLong, search_issues, search_values

SEARCH = {
    "order_id": "{{ input.order_id }}",
    "customer": "{{ input.customer.email }}",
    "label": "order {{ input.order_id }} of {{ input.customer.email }}",
}


def test_the_definition_carries_its_search_attributes():
    spec = {
        "format": "sagaboard/v1",
        "search": SEARCH,
        "steps": [{"id": "a", "type": "task", "action": {"name": "demo.noop"}}],
    }

    assert dict(definition_from_spec(spec).search) == SEARCH
    del spec["search"]
    assert dict(definition_from_spec(spec).search) == {}


def test_values_are_strings_numbers_and_booleans_written_as_json_writes_them():
    search = {
        "n": "{{ input.n }}",
        "f": "{{ input.f }}",
        "b": "{{ input.b }}",
        "o": "{{ input.o }}",
    }
    values = search_values(search, {"n": 42, "f": 2.5, "b": False, "o": {"a": [1, "é"]}})

    assert values == {"n": "42", "f": "2.5", "b": "false", "o": '{"a":[1,"é"]}'}


def test_templates_fill_in_text_and_paths():
    values = search_values(SEARCH, {"order_id": "A-1", "customer": {"email": "ann@example.com"}})

    assert values == {
        "order_id": "A-1",
        "customer": "ann@example.com",
        "label": "order A-1 of ann@example.com",
    }


@pytest.mark.parametrize("input", [{}, {"order_id": None}, {"order_id": ""}, [], "text"])
def test_a_missing_null_or_empty_value_leaves_its_attribute_out(input: Any):
    assert search_values({"order_id": "{{ input.order_id }}"}, input) == {}


def test_a_value_over_the_limit_is_refused_naming_its_attribute():
    assert search_values({"k": "{{ input.k }}"}, {"k": "x" * MAX_VALUE_CHARS}) == {
        "k": "x" * MAX_VALUE_CHARS
    }
    with pytest.raises(SearchValueTooLong) as raised:
        search_values({"k": "{{ input.k }}"}, {"k": "x" * (MAX_VALUE_CHARS + 1)})

    assert raised.value.name == "k"
    assert "200" in str(raised.value)


@pytest.mark.parametrize(
    "template",
    ["{{ run.id }}", "{{ steps.a.output.id }}", "{{ item.sku }}", "{{ index }}", "x {{ run.id }}"],
)
def test_a_template_may_read_only_the_input(template: str):
    errors, warnings = search_issues({"k": template})

    assert [(e.step, e.field) for e in errors] == [(None, "search.k")]
    assert "only the input" in errors[0].message
    assert warnings == []


def test_a_malformed_template_is_an_error_of_its_attribute():
    errors, _ = search_issues({"ok": "{{ input.a }}", "bad": "{{ input.a"})

    assert [e.field for e in errors] == ["search.bad"]


def test_an_input_field_the_schema_does_not_declare_is_a_warning_or_an_error_when_closed():
    schema: dict[str, Any] = {"type": "object", "properties": {"a": {"type": "string"}}}
    errors, warnings = search_issues({"k": "{{ input.b }}", "a": "{{ input.a }}"}, schema)
    assert errors == []
    assert [w.field for w in warnings] == ["search.k"]

    errors, warnings = search_issues(
        {"k": "{{ input.b }}"}, {**schema, "additionalProperties": False}
    )
    assert [e.field for e in errors] == ["search.k"]
    assert warnings == []

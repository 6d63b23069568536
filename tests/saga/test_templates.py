"""The template language: references, syntax errors and rendering."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saga.templates import (
    Reference,
    TemplateError,
    TemplateSyntaxError,
    find_references,
    iter_strings,
    render,
)

CONTEXT: dict[str, Any] = {
    "input": {
        "order_id": "o-1",
        "amount": 1250,
        "rate": 0.5,
        "express": True,
        "note": None,
        "lines": [{"sku": "A-1", "qty": 2}, {"sku": "B-7", "qty": 1}],
        "address": {"city": "Zürich", "zip": "8001"},
    },
    "steps": {
        "reserve_stock": {"output": {"reservation": {"id": "r-9", "items": [3, 4]}}},
        "quote": {"output": 42},
    },
    "run": {"id": "run-123"},
}


# --- find_references ------------------------------------------------------------


def test_find_references_walks_nested_values_in_document_order() -> None:
    value = {
        "url": "http://x/{{ input.order_id }}",
        "body": {"lines": ["{{steps.reserve_stock.output.reservation.id}}", 5, None]},
        "trace": "{{ run.id }}",
    }

    refs = find_references(value)

    assert [(r.root, r.step, r.path, r.location) for r in refs] == [
        ("input", None, "input.order_id", ("url",)),
        (
            "steps",
            "reserve_stock",
            "steps.reserve_stock.output.reservation.id",
            ("body", "lines", 0),
        ),
        ("run", None, "run.id", ("trace",)),
    ]
    assert refs[1].parts == ("steps", "reserve_stock", "output", "reservation", "id")
    assert refs[1].text == "{{ steps.reserve_stock.output.reservation.id }}"


def test_find_references_ignores_dict_keys() -> None:
    assert find_references({"{{ input.x }}": "plain", "{{ broken": 1}) == []


def test_find_references_finds_several_in_one_string() -> None:
    refs = find_references("{{ input.a }}-{{input.b.0}}/{{   run.id   }}")

    assert [r.path for r in refs] == ["input.a", "input.b.0", "run.id"]


def test_find_references_on_plain_values_is_empty() -> None:
    assert find_references({"a": [1, 2.5, True, None, "no template here, not even }}"]}) == []


def test_whole_input_and_whole_output_are_references() -> None:
    refs = find_references(["{{ input }}", "{{ steps.quote.output }}"])

    assert [(r.root, r.step, r.parts) for r in refs] == [
        ("input", None, ("input",)),
        ("steps", "quote", ("steps", "quote", "output")),
    ]


def test_iter_strings_gives_locations_of_strings_only() -> None:
    assert list(iter_strings({"k": ["a", 1, {"b": "c"}]})) == [
        (("k", 0), "a"),
        (("k", 2, "b"), "c"),
    ]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("http://x/{{ input.order_id", "unclosed '{{'"),
        ("{{ input.a {{ input.b }}", "unclosed '{{'"),
        ("{{ }}", "empty template"),
        ("{{}}", "empty template"),
        ("{{ input. }}", "empty path segment"),
        ("{{ input..a }}", "empty path segment"),
        ("{{ .input }}", "empty path segment"),
        (
            "{{ secrets.token }}",
            "unknown root 'secrets' (use input, steps, run, or in a map item and index)",
        ),
        ("{{ settings.SECRET_KEY }}", "unknown root 'settings'"),
        ("{{ steps }}", "steps.<id>.output"),
        ("{{ steps.reserve_stock }}", "steps.<id>.output"),
        ("{{ steps.reserve_stock.result.id }}", "steps.<id>.output"),
        ("{{ input.a b }}", "is not a valid path segment"),
        ("{{ input.a[0] }}", "is not a valid path segment"),
        ("{{ input.__class__() }}", "is not a valid path segment"),
    ],
)
def test_malformed_templates_raise_syntax_errors(text: str, fragment: str) -> None:
    with pytest.raises(TemplateSyntaxError) as caught:
        find_references({"body": [text]})

    assert fragment in str(caught.value)
    assert caught.value.location == ("body", 0)
    assert isinstance(caught.value, TemplateError)
    assert isinstance(caught.value, ValueError)


def test_render_raises_syntax_errors_too() -> None:
    with pytest.raises(TemplateSyntaxError, match="unknown root 'env'"):
        render("{{ env.HOME }}", CONTEXT)


# --- render: types ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ input.amount }}", 1250),
        ("{{ input.rate }}", 0.5),
        ("{{ input.express }}", True),
        ("{{ input.note }}", None),
        ("{{ input.address }}", {"city": "Zürich", "zip": "8001"}),
        ("{{ input.lines.1 }}", {"sku": "B-7", "qty": 1}),
        ("{{ input.lines.0.qty }}", 2),
        ("{{ steps.reserve_stock.output.reservation.items }}", [3, 4]),
        ("{{ steps.quote.output }}", 42),
        ("{{run.id}}", "run-123"),
    ],
)
def test_a_string_that_is_one_template_keeps_the_json_type(template: str, expected: Any) -> None:
    assert render(template, CONTEXT) == expected
    assert type(render(template, CONTEXT)) is type(expected)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("order {{ input.order_id }}", "order o-1"),
        ("{{ input.amount }} cents", "1250 cents"),
        ("rate={{ input.rate }}", "rate=0.5"),
        ("express={{ input.express }}", "express=true"),
        ("note={{ input.note }}", "note=null"),
        ("at {{ input.address }}", 'at {"city":"Zürich","zip":"8001"}'),
        ("ids {{ steps.reserve_stock.output.reservation.items }}", "ids [3,4]"),
        ("{{ run.id }}:{{ input.order_id }}", "run-123:o-1"),
        (" {{ input.amount }}", " 1250"),
    ],
)
def test_templates_inside_longer_text_become_json_ish_text(template: str, expected: str) -> None:
    assert render(template, CONTEXT) == expected


def test_render_walks_dicts_and_lists_and_leaves_keys_and_other_values_alone() -> None:
    value = {
        "{{ input.order_id }}": "{{ input.order_id }}",
        "n": [1, 2.5, None, False, "{{ input.lines.0.sku }}"],
    }

    assert render(value, CONTEXT) == {
        "{{ input.order_id }}": "o-1",
        "n": [1, 2.5, None, False, "A-1"],
    }


def test_strings_without_templates_are_unchanged() -> None:
    assert render("plain }} text {", CONTEXT) == "plain }} text {"


def test_render_returns_a_copy_of_referenced_objects() -> None:
    rendered = render({"a": "{{ input.address }}"}, CONTEXT)
    rendered["a"]["city"] = "Bern"

    assert CONTEXT["input"]["address"]["city"] == "Zürich"


def test_render_does_not_change_the_template_value() -> None:
    value = {"x": ["{{ input.amount }}"]}

    render(value, CONTEXT)

    assert value == {"x": ["{{ input.amount }}"]}


# --- render: paths that do not resolve ---------------------------------------------


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (
            "{{ steps.reserve_stock.output.id }}",
            "{{ steps.reserve_stock.output.id }}: 'id' not found in the output of step "
            "reserve_stock",
        ),
        (
            "http://x/{{steps.reserve_stock.output.reservation.code}}",
            "{{ steps.reserve_stock.output.reservation.code }}: 'code' not found in the output of "
            "step reserve_stock at 'reservation'",
        ),
        ("{{ input.missing }}", "{{ input.missing }}: 'missing' not found in the input"),
        ("{{ run.workflow }}", "{{ run.workflow }}: 'workflow' not found in the run"),
        (
            "{{ steps.charge.output.id }}",
            "{{ steps.charge.output.id }}: step charge has no output (it has not succeeded)",
        ),
        (
            "{{ input.lines.5.sku }}",
            "{{ input.lines.5.sku }}: index 5 not found in the input at 'lines': the list has "
            "2 items",
        ),
        (
            "{{ input.lines.first }}",
            "{{ input.lines.first }}: 'first' not found in the input at 'lines': it is a list",
        ),
        (
            "{{ input.amount.value }}",
            "{{ input.amount.value }}: 'value' not found in the input at 'amount': it is a "
            "number, not an object or list",
        ),
        (
            "{{ steps.quote.output.total }}",
            "{{ steps.quote.output.total }}: 'total' not found in the output of step quote: it "
            "is a number",
        ),
    ],
)
def test_a_path_that_does_not_resolve_names_the_path(template: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render({"body": template}, CONTEXT)

    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert not isinstance(caught.value, TemplateSyntaxError)


def test_missing_roots_in_the_context_are_errors() -> None:
    with pytest.raises(TemplateError, match=r"\{\{ input.a \}\}: there is no input"):
        render("{{ input.a }}", {"steps": {}, "run": {"id": "r"}})
    with pytest.raises(TemplateError, match="step a has no output"):
        render("{{ steps.a.output }}", {"input": {}})


class _Secretive:
    token = "s3cret"

    def __getitem__(self, key: str) -> str:
        return "s3cret"


@pytest.mark.parametrize("value", [_Secretive(), ("a", "b")])
def test_only_dict_keys_and_list_indexes_are_followed(value: object) -> None:
    context = {"input": {"obj": value}}

    with pytest.raises(TemplateError, match="not found in the input at 'obj'"):
        render("{{ input.obj.token }}", context)
    with pytest.raises(TemplateError, match="not found in the input at 'obj'"):
        render("{{ input.obj.0 }}", context)


def test_dunder_names_are_plain_keys() -> None:
    with pytest.raises(TemplateError, match="'__class__' not found in the input"):
        render("{{ input.__class__ }}", {"input": {}})
    assert render("{{ input.__class__ }}", {"input": {"__class__": 1}}) == 1


def test_embedding_a_value_that_is_not_json_is_an_error() -> None:
    with pytest.raises(TemplateError, match="not a JSON value"):
        render("x {{ input.when }}", {"input": {"when": {1, 2}}})


def test_render_output_can_be_used_for_an_http_call() -> None:
    action = {
        "method": "DELETE",
        "url": "http://inv.local/reservations/{{ steps.reserve_stock.output.reservation.id }}",
        "body": {"order": "{{ input.order_id }}", "qty": "{{ input.lines.0.qty }}"},
    }

    assert render(action, CONTEXT) == {
        "method": "DELETE",
        "url": "http://inv.local/reservations/r-9",
        "body": {"order": "o-1", "qty": 2},
    }


# --- properties -------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("{} .ainpusteorx0_-\n")), max_size=40))
def test_any_text_either_parses_or_raises_a_syntax_error(text: str) -> None:
    try:
        refs = find_references(text)
    except TemplateSyntaxError:
        return
    assert all(isinstance(ref, Reference) for ref in refs)
    try:
        render(text, CONTEXT)
    except TemplateError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.text().filter(lambda t: "{{" not in t))
def test_text_without_templates_renders_to_itself(text: str) -> None:
    assert render(text, CONTEXT) == text
    assert find_references(text) == []

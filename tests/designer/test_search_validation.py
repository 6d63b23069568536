"""A spec's search attributes as validation, the diff and export see them."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from rest_framework.test import APIClient

from designer.diff import spec_diff
from designer.validation import validate_spec
from tests.factories import UserFactory

SPEC: dict[str, Any] = {
    "format": "sagaboard/v1",
    "search": {"order_id": "{{ input.order_id }}", "customer": "{{ input.email }}"},
    "steps": [{"id": "a", "type": "task", "action": {"name": "demo.noop"}}],
}


def issues(search: Any) -> list[tuple[str | None, str | None, str]]:
    result = validate_spec({**SPEC, "search": search})
    assert result.valid == (not result.errors)
    return [(e.step, e.field, e.message) for e in result.errors]


def test_search_attributes_over_the_input_are_valid():
    assert validate_spec(SPEC).valid


@pytest.mark.parametrize(
    ("search", "field", "says"),
    [
        ({"Order": "{{ input.x }}"}, "search.Order", "lowercase letter"),
        ({"1st": "{{ input.x }}"}, "search.1st", "lowercase letter"),
        ({"a" * 33: "{{ input.x }}"}, "search." + "a" * 33, "at most 32"),
        ({"order id": "{{ input.x }}"}, "search.order id", "lowercase letter"),
        ({f"a{i}": "{{ input.x }}" for i in range(11)}, "search", "at most 10"),
        ({"k": 7}, "search.k", "must be a string"),
        ({"k": ""}, "search.k", "must not be empty"),
        ({"k": "{{ run.id }}"}, "search.k", "only the input"),
        ({"k": "{{ steps.a.output.id }}"}, "search.k", "only the input"),
        (["order_id"], "search", "must be an object"),
    ],
)
def test_validation_refuses_a_bad_search_attribute_naming_it(search, field, says):
    found = issues(search)

    assert [(step, where) for step, where, _ in found] == [(None, field)]
    assert says in found[0][2]


def test_the_diff_shows_a_changed_search_attribute():
    new = copy.deepcopy(SPEC)
    new["search"]["customer"] = "{{ input.customer_email }}"
    del new["search"]["order_id"]

    assert spec_diff(SPEC, new)["workflow"] == {
        "search.customer": {"old": "{{ input.email }}", "new": "{{ input.customer_email }}"},
        "search.order_id": {"old": "{{ input.order_id }}", "new": None},
    }


@pytest.mark.django_db
@pytest.mark.parametrize("format", ["json", "yaml"])
def test_export_and_import_keep_the_search_attributes(format):
    client = APIClient()
    client.force_authenticate(UserFactory())
    text = client.post("/api/convert/", {"spec": SPEC, "format": format}, format="json")
    back = client.post("/api/convert/", {"spec": text.json()["text"]}, format="json")

    assert back.json()["spec"]["search"] == SPEC["search"]

"""Validation of sagaboard/v1 specs: what an author sees for each rule."""

from __future__ import annotations

import copy
import datetime
import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from common import activities
from common.activities import activity
from designer.spec_text import SpecParseError, parse_spec_text
from designer.validation import Issue, ValidationResult, validate_spec
from saga.schema import SCHEMA, SCHEMA_PATH
from saga.steps import KINDS

# The example of DESIGN.md, "Definition format sagaboard/v1".
DESIGN_EXAMPLE: dict[str, Any] = {
    "format": "sagaboard/v1",
    "description": "Take an order from payment to shipping",
    "input_schema": {
        "type": "object",
        "required": ["order_id"],
        "properties": {"order_id": {"type": "string"}},
    },
    "defaults": {
        "timeout_s": 30,
        "retry": {
            "max_attempts": 3,
            "initial_delay_s": 1,
            "backoff": 2.0,
            "max_delay_s": 60,
            "jitter": "full",
        },
    },
    "steps": [
        {
            "id": "reserve_stock",
            "name": "Reserve stock",
            "type": "http",
            "after": [],
            "action": {
                "method": "POST",
                "url": "http://inventory.local/reservations",
                "body": {"order": "{{ input.order_id }}"},
            },
            "compensation": {
                "method": "DELETE",
                "url": "http://inventory.local/reservations/{{ steps.reserve_stock.output.id }}",
            },
            "timeout_s": 10,
        },
        {
            "id": "manager_ok",
            "name": "Manager approval",
            "type": "approval",
            "after": ["reserve_stock"],
            "action": {
                "group": "managers",
                "instructions": "Orders over 10k",
                "timeout_s": 86400,
                "on_timeout": "reject",
            },
        },
        {
            "id": "charge",
            "name": "Charge card",
            "type": "task",
            "after": ["manager_ok"],
            "action": {"name": "demo.payments.charge", "args": {"order": "{{ input.order_id }}"}},
            "pivot": True,
        },
        {
            "id": "ship",
            "name": "Ship",
            "type": "http",
            "after": ["charge"],
            "action": {"method": "POST", "url": "http://shipping.local/shipments"},
        },
    ],
}


@pytest.fixture(autouse=True)
def registered_activities(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Activities the specs below use, registered for one test and gone after it."""
    monkeypatch.setattr(activities, "_registry", dict(activities._registry))
    for name, side_effects in [
        ("demo.payments.charge", True),
        ("demo.payments.refund", True),
        ("test.lookup", False),
    ]:
        activity(name, description=name, side_effects=side_effects)(lambda inp: None)
    yield


# --- helpers -------------------------------------------------------------------


def spec(*steps: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"format": "sagaboard/v1", **top, "steps": list(steps)}


def http(sid: str, *, method: str = "GET", url: str = "http://svc.local/x", **fields: Any):
    return {"id": sid, "type": "http", "action": {"method": method, "url": url}, **fields}


def task(
    sid: str, name: str = "test.lookup", args: dict[str, Any] | None = None, **fields: Any
) -> dict[str, Any]:
    action: dict[str, Any] = {"name": name} if args is None else {"name": name, "args": args}
    return {"id": sid, "type": "task", "action": action, **fields}


def delay(sid: str, **fields: Any) -> dict[str, Any]:
    return {"id": sid, "type": "delay", "action": {"seconds": 1}, **fields}


def issues(result: ValidationResult, kind: str = "errors") -> list[tuple[Any, Any, str]]:
    return [(i.step, i.field, i.message) for i in getattr(result, kind)]


def has(result: ValidationResult, step: str | None, field: str | None, text: str) -> bool:
    return any(i.step == step and i.field == field and text in i.message for i in result.errors)


def assert_error(value: object, step: str | None, field: str | None, text: str) -> None:
    result = validate_spec(value)
    assert not result.valid
    assert has(result, step, field, text), issues(result)


def assert_only_error(value: object, step: str | None, field: str | None, text: str) -> None:
    result = validate_spec(value)
    assert not result.valid
    assert len(result.errors) == 1, issues(result)
    assert has(result, step, field, text), issues(result)


# --- the contract --------------------------------------------------------------


def test_the_design_example_is_valid_without_warnings() -> None:
    result = validate_spec(copy.deepcopy(DESIGN_EXAMPLE))

    assert result == ValidationResult(valid=True, errors=[], warnings=[])
    assert result.as_dict() == {"valid": True, "errors": [], "warnings": []}


def test_the_design_example_needs_its_activity() -> None:
    del activities._registry["demo.payments.charge"]

    assert_only_error(
        copy.deepcopy(DESIGN_EXAMPLE),
        "charge",
        "action.name",
        "unknown task activity 'demo.payments.charge'",
    )


def test_issue_and_result_as_dict() -> None:
    result = validate_spec(spec(http("a", after=["zz"])))

    assert result.as_dict() == {
        "valid": False,
        "errors": [
            {"step": "a", "field": "after", "message": "after names 'zz', which is not a step"}
        ],
        "warnings": [],
    }
    assert Issue(None, None, "m").as_dict() == {"step": None, "field": None, "message": "m"}


def test_the_schema_is_shipped_as_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)

    assert json.loads(SCHEMA_PATH.read_text(encoding="utf-8")) == SCHEMA
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert tuple(KINDS) == ("http", "task", "approval", "delay", "callback", "map", "subsaga")


def test_the_schema_alone_accepts_the_design_example() -> None:
    assert list(Draft202012Validator(SCHEMA).iter_errors(DESIGN_EXAMPLE)) == []


# --- limits ----------------------------------------------------------------------


def test_more_than_500_steps_is_one_error() -> None:
    too_many = spec(*(delay(f"s{i}") for i in range(501)))

    result = validate_spec(too_many)

    assert issues(result) == [(None, "steps", "spec has 501 steps; the limit is 500")]


def test_500_steps_are_fine_and_the_step_limit_can_be_set() -> None:
    many = spec(*(delay(f"s{i}", after=[f"s{i - 1}"] if i else []) for i in range(500)))

    assert validate_spec(many).valid
    assert issues(validate_spec(many, max_steps=10)) == [
        (None, "steps", "spec has 500 steps; the limit is 10")
    ]


def test_a_spec_over_1_mb_is_one_error_with_its_size() -> None:
    big = spec(delay("a"), description="x" * (1024 * 1024))
    size = len(json.dumps(big, separators=(",", ":")).encode())

    result = validate_spec(big)

    assert issues(result) == [(None, None, f"spec is {size} bytes; the limit is 1 MB")]


def test_size_counts_utf8_bytes_and_the_limit_can_be_set() -> None:
    small = spec(delay("a"), description="é" * 600)

    assert validate_spec(small).valid
    assert issues(validate_spec(small, max_bytes=1024))[0][2].endswith("bytes; the limit is 1 KB")


def test_a_hugely_oversized_spec_is_refused_without_measuring_it_all() -> None:
    assert issues(validate_spec(spec(delay("a"), description="x" * 20_000_000))) == [
        (None, None, "spec is more than 4 MB; the limit is 1 MB")
    ]


def test_a_yaml_alias_bomb_is_refused_by_size_without_expanding_it() -> None:
    levels = ["l0: &l0 [lol, lol, lol, lol]"]
    levels += [f"l{i}: &l{i} [*l{i - 1}, *l{i - 1}, *l{i - 1}, *l{i - 1}]" for i in range(1, 40)]
    text = "format: sagaboard/v1\ninput_schema:\n" + "".join(f"  {line}\n" for line in levels)
    text += "steps: [{id: a, type: delay, action: {seconds: 1}}]\n"

    result = validate_spec(parse_spec_text(text), max_bytes=64 * 1024)

    assert issues(result) == [(None, None, "spec is more than 256 KB; the limit is 64 KB")]


# --- not JSON, not an object -------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "spec must be a JSON object, not null"),
        ([], "spec must be a JSON object, not an array"),
        ("format: sagaboard/v1", "spec must be a JSON object, not the string"),
        (5, "spec must be a JSON object, not 5"),
        (True, "spec must be a JSON object, not true"),
    ],
)
def test_a_spec_that_is_not_an_object(value: object, text: str) -> None:
    assert_only_error(value, None, None, text)


@pytest.mark.parametrize(
    ("bad", "text"),
    [
        (float("nan"), "must be a finite number (NaN and Infinity are not JSON)"),
        (float("inf"), "must be a finite number"),
        (-math.inf, "must be a finite number"),
        ({1, 2}, "is not a JSON value (set)"),
        (b"10", "is not a JSON value (bytes)"),
        (object(), "is not a JSON value (object)"),
        (10**5000, "is too large a number"),
    ],
    ids=["nan", "inf", "-inf", "set", "bytes", "object", "huge-int"],
)
def test_values_that_are_not_json_are_named_where_they_are(bad: object, text: str) -> None:
    assert_only_error(spec(delay("wait", timeout_s=bad)), "wait", "timeout_s", text)


def test_non_string_keys_and_self_references_are_not_json() -> None:
    looped: dict[str, Any] = {"type": "object"}
    looped["properties"] = looped

    assert_only_error(
        spec(delay("a"), defaults={1: 2}), None, "defaults", "field names must be strings, not 1"
    )
    assert_only_error(
        spec(delay("a"), input_schema=looped), None, "input_schema.properties", "contains itself"
    )


def test_nesting_is_bounded() -> None:
    deep: list[Any] = []
    inner = deep
    for _ in range(10_000):
        inner.append([])
        inner = inner[0]
    body_spec = spec(
        {"id": "a", "type": "http", "action": {"method": "POST", "url": "http://x", "body": deep}}
    )

    result = validate_spec(body_spec)

    assert not result.valid
    assert result.errors[0].step == "a"
    assert result.errors[0].message == "is nested more than 64 levels deep"


GARBAGE: list[object] = [
    None,
    0,
    -1,
    10**400,
    float("nan"),
    "",
    "x" * 1000,
    [],
    [None],
    {},
    {"steps": None},
    {"steps": "abc"},
    {"steps": [None, 1, "a", [], {}]},
    {"format": "sagaboard/v1", "steps": [{"id": None, "type": None, "after": None}]},
    {"format": "sagaboard/v1", "steps": [{"id": ["a"], "type": {}, "after": 5, "action": []}]},
    {"format": "sagaboard/v1", "steps": [{"id": "a", "type": "http", "action": None}]},
    {
        "format": "sagaboard/v1",
        "steps": [
            {"id": "a", "type": "http", "action": {"method": None, "url": [1], "headers": []}}
        ],
    },
    {"format": "sagaboard/v1", "steps": [{"id": "a", "type": "task", "action": {"name": 5}}]},
    {"format": "sagaboard/v1", "steps": [{"id": "a", "type": "approval", "action": {"group": 1}}]},
    {"format": "sagaboard/v1", "steps": [{"id": "a", "type": "delay", "action": {"seconds": "1"}}]},
    {"format": "sagaboard/v1", "steps": [delay("a", after=[1, {}, [], None, 1])]},
    {"format": "sagaboard/v1", "steps": [delay("a", retry={"max_attempts": 10**400})]},
    {"format": "sagaboard/v1", "steps": [delay("a", timeout_s=1e308, pivot="yes")]},
    {"format": "sagaboard/v1", "input_schema": {"$schema": 5}, "steps": [delay("a")]},
    {"format": "sagaboard/v1", "input_schema": {"$schema": ["x"]}, "steps": [delay("a")]},
    {"format": ["sagaboard/v1"], "steps": {"a": 1}, "defaults": [], "deadline_s": None},
    ("format", "steps"),
    {"format": "sagaboard/v1", "steps": [http("a", url="{{ input.x }}{{")]},
]


@pytest.mark.parametrize("value", GARBAGE, ids=range(len(GARBAGE)))
def test_garbage_gives_errors_never_an_exception(value: object) -> None:
    result = validate_spec(value)

    assert isinstance(result, ValidationResult)
    assert not result.valid
    assert all(isinstance(i, Issue) and i.message for i in result.errors)
    json.dumps(result.as_dict())


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=10),
    st.sampled_from(["sagaboard/v1", "http", "task", "approval", "delay", "callback", "GET"]),
    st.sampled_from(["{{ input.x }}", "{{ steps.a.output }}", "{{", "a", "b", "pivot"]),
)
_keys = st.sampled_from(
    [
        "format",
        "steps",
        "id",
        "type",
        "after",
        "action",
        "compensation",
        "pivot",
        "retry",
        "timeout_s",
        "method",
        "url",
        "name",
        "group",
        "seconds",
        "body",
        "headers",
        "args",
        "input_schema",
        "defaults",
        "x",
    ]
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_values)
def test_any_value_gives_a_result(value: object) -> None:
    result = validate_spec(value)

    assert isinstance(result, ValidationResult)
    assert result.valid == (not result.errors)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.dictionaries(_keys, _values, max_size=6), min_size=1, max_size=4))
def test_any_list_of_steps_gives_a_result(steps: list[dict[str, Any]]) -> None:
    result = validate_spec({"format": "sagaboard/v1", "steps": steps})

    assert isinstance(result, ValidationResult)


# --- shape: top level ----------------------------------------------------------------


def test_top_level_required_fields() -> None:
    result = validate_spec({})

    assert issues(result) == [
        (None, "format", "'format' is required"),
        (None, "steps", "'steps' is required"),
    ]


@pytest.mark.parametrize(
    ("top", "field", "text"),
    [
        ({"format": "sagaboard/v2"}, "format", "must be 'sagaboard/v1'"),
        ({"foo": 1}, "foo", "unknown field 'foo'"),
        (
            {"descripton": "x"},
            "descripton",
            "unknown field 'descripton' (did you mean 'description'?)",
        ),
        ({"description": 5}, "description", "must be a string, not 5"),
        ({"input_schema": []}, "input_schema", "must be an object, not an array"),
        ({"deadline_s": 0}, "deadline_s", "must be more than 0"),
        ({"deadline_s": 31 * 86400 + 1}, "deadline_s", "must be at most 2678400 (31 days)"),
        ({"deadline_s": "1h"}, "deadline_s", "must be a number, not the string '1h'"),
        ({"defaults": []}, "defaults", "must be an object, not an array"),
        ({"defaults": {"timeout": 3}}, "defaults.timeout", "unknown field 'timeout'"),
        ({"defaults": {"timeout_s": 0}}, "defaults.timeout_s", "must be more than 0"),
        (
            {"defaults": {"retry": {"max_attempts": 0}}},
            "defaults.retry.max_attempts",
            "must be at least 1",
        ),
        ({"defaults": {"retry": {"tries": 3}}}, "defaults.retry.tries", "unknown field 'tries'"),
    ],
)
def test_top_level_shape(top: dict[str, Any], field: str, text: str) -> None:
    assert_only_error(spec(delay("a"), **top), None, field, text)


def test_steps_must_be_a_non_empty_array() -> None:
    assert_only_error(spec(), None, "steps", "must have at least one step")
    assert_only_error({"format": "sagaboard/v1", "steps": {}}, None, "steps", "must be an array")


def test_input_schema_must_itself_be_a_json_schema() -> None:
    bad = {"type": "objekt", "properties": {"n": {"minimum": "1"}}, "pattern": "("}

    result = validate_spec(spec(delay("a"), input_schema=bad))

    fields = {i.field for i in result.errors}
    assert fields == {
        "input_schema.type",
        "input_schema.properties.n.minimum",
        "input_schema.pattern",
    }
    assert all(i.message.startswith("not a valid JSON Schema: ") for i in result.errors)


def test_input_schema_may_name_a_known_draft_but_not_an_unknown_one() -> None:
    draft7 = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"}

    assert validate_spec(spec(delay("a"), input_schema=draft7)).valid
    assert_only_error(
        spec(delay("a"), input_schema={"$schema": "http://example.invalid/s"}),
        None,
        "input_schema.$schema",
        "unknown JSON Schema version 'http://example.invalid/s'",
    )


# --- shape: steps --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field", "text"),
    [
        ({"name": 5}, "name", "must be a string, not 5"),
        ({"name": "n" * 201}, "name", "must be at most 200 characters"),
        ({"description": ["x"]}, "description", "must be a string, not an array"),
        ({"after": "b"}, "after", "must be an array, not the string 'b'"),
        ({"after": [1]}, "after[0]", "must be a string, not 1"),
        ({"timeout_s": 0}, "timeout_s", "must be more than 0"),
        ({"timeout_s": -5}, "timeout_s", "must be more than 0"),
        ({"timeout_s": 2678401}, "timeout_s", "must be at most 2678400 (31 days)"),
        ({"timeout_s": True}, "timeout_s", "must be a number, not true"),
        ({"pivot": "yes"}, "pivot", "must be true or false, not the string 'yes'"),
        ({"retry": 3}, "retry", "must be an object, not 3"),
        ({"retry": {"max_attempts": 0}}, "retry.max_attempts", "must be at least 1"),
        ({"retry": {"max_attempts": 101}}, "retry.max_attempts", "must be at most 100"),
        ({"retry": {"max_attempts": 2.5}}, "retry.max_attempts", "must be an integer, not 2.5"),
        ({"retry": {"initial_delay_s": -1}}, "retry.initial_delay_s", "must be at least 0"),
        ({"retry": {"backoff": 0.5}}, "retry.backoff", "must be at least 1"),
        ({"retry": {"max_delay_s": -1}}, "retry.max_delay_s", "must be at least 0"),
        ({"retry": {"jitter": "some"}}, "retry.jitter", "must be one of full, equal, none"),
        ({"retry": {"max_attempt": 2}}, "retry.max_attempt", "(did you mean 'max_attempts'?)"),
        (
            {"compensate": {}},
            "compensate",
            "unknown field 'compensate' (did you mean 'compensation'?)",
        ),
        ({"foo": 1}, "foo", "unknown field 'foo'"),
    ],
)
def test_step_fields(fields: dict[str, Any], field: str, text: str) -> None:
    assert_only_error(spec(delay("wait", **fields), delay("b")), "wait", field, text)


def test_after_lists_each_step_once() -> None:
    assert_only_error(
        spec(delay("a"), delay("b", after=["a", "a"])), "b", "after", "lists 'a' more than once"
    )


@pytest.mark.parametrize("sid", ["1st", "_a", "a b", "a.b", "", "a" * 65, "a\n", "ä"])
def test_step_ids_are_checked_and_bad_ones_are_reported_by_position(sid: str) -> None:
    assert_only_error(spec(delay("ok"), delay(sid)), "steps[1]", "id", "must start with a letter")


def test_a_64_character_id_is_fine() -> None:
    assert validate_spec(spec(delay("a" + "b" * 63))).valid


def test_a_step_that_is_not_an_object() -> None:
    assert_only_error(
        spec(delay("a"), "b"), "steps[1]", None, "must be an object, not the string 'b'"
    )


def test_step_id_and_type_are_required() -> None:
    result = validate_spec(spec({"action": {"seconds": 1}}))

    assert issues(result) == [
        ("steps[0]", "id", "'id' is required"),
        ("steps[0]", "type", "'type' is required"),
    ]


def test_an_unknown_step_type() -> None:
    assert_only_error(
        spec({"id": "a", "type": "email", "action": {}}),
        "a",
        "type",
        "must be one of http, task, approval, delay, callback, map, subsaga",
    )


# --- shape: actions and compensations per type -------------------------------------------


@pytest.mark.parametrize(
    ("step", "field", "text"),
    [
        ({"id": "s", "type": "http"}, "action", "'action' is required"),
        (
            {"id": "s", "type": "http", "action": "GET /"},
            "action",
            "must be an object, not the string",
        ),
        (
            {"id": "s", "type": "http", "action": {"url": "http://x"}},
            "action.method",
            "'method' is required",
        ),
        (
            {"id": "s", "type": "http", "action": {"method": "GET"}},
            "action.url",
            "'url' is required",
        ),
        (
            {"id": "s", "type": "http", "action": {"method": "FETCH", "url": "http://x"}},
            "action.method",
            "must be one of GET, POST, PUT, PATCH, DELETE, HEAD",
        ),
        (
            {"id": "s", "type": "http", "action": {"method": "get", "url": "http://x"}},
            "action.method",
            "must be one of GET, POST",
        ),
        (
            {"id": "s", "type": "http", "action": {"method": "GET", "url": "file:///etc/passwd"}},
            "action.url",
            "must start with http:// or https:// (or a template)",
        ),
        (
            {"id": "s", "type": "http", "action": {"method": "GET", "url": ""}},
            "action.url",
            "must start with http:// or https://",
        ),
        (
            {
                "id": "s",
                "type": "http",
                "action": {"method": "GET", "url": "http://x", "headers": {"A": 1}},
            },
            "action.headers.A",
            "must be a string, not 1",
        ),
        (
            {
                "id": "s",
                "type": "http",
                "action": {"method": "GET", "url": "http://x", "headers": {"A B": "1"}},
            },
            "action.headers",
            "'A B' is not a valid header name",
        ),
        (
            {
                "id": "s",
                "type": "http",
                "action": {"method": "GET", "url": "http://x", "timeout": 1},
            },
            "action.timeout",
            "unknown field 'timeout'",
        ),
        ({"id": "s", "type": "task", "action": {}}, "action.name", "'name' is required"),
        ({"id": "s", "type": "task", "action": {"name": ""}}, "action.name", "must not be empty"),
        (
            {"id": "s", "type": "task", "action": {"name": "test.lookup", "args": []}},
            "action.args",
            "must be an object",
        ),
        (
            {"id": "s", "type": "task", "action": {"name": "test.lookup", "kwargs": {}}},
            "action.kwargs",
            "unknown field 'kwargs'",
        ),
        ({"id": "s", "type": "task"}, "action", "'action' is required"),
        ({"id": "s", "type": "approval", "action": {}}, "action.group", "'group' is required"),
        (
            {"id": "s", "type": "approval", "action": {"group": "g", "on_timeout": "escalate"}},
            "action.on_timeout",
            "must be one of reject, approve",
        ),
        (
            {"id": "s", "type": "approval", "action": {"group": "g", "timeout_s": 0}},
            "action.timeout_s",
            "must be more than 0",
        ),
        (
            {"id": "s", "type": "approval", "action": {"group": "g", "users": []}},
            "action.users",
            "unknown field 'users'",
        ),
        ({"id": "s", "type": "delay", "action": {}}, "action.seconds", "'seconds' is required"),
        (
            {"id": "s", "type": "delay", "action": {"seconds": -1}},
            "action.seconds",
            "must be at least 0",
        ),
        (
            {"id": "s", "type": "delay", "action": {"seconds": 2678401}},
            "action.seconds",
            "must be at most 2678400 (31 days)",
        ),
        (
            {"id": "s", "type": "delay", "action": {"seconds": "5m"}},
            "action.seconds",
            "must be a number",
        ),
        (
            {"id": "s", "type": "callback", "action": {"token": "x"}},
            "action.token",
            "unknown field 'token'",
        ),
        (
            {"id": "s", "type": "callback", "action": {"url": "ftp://x"}},
            "action.url",
            "must start with http://",
        ),
        (
            {"id": "s", "type": "callback", "action": {"method": "SEND"}},
            "action.method",
            "must be one of GET",
        ),
    ],
)
def test_action_shape_per_type(step: dict[str, Any], field: str, text: str) -> None:
    assert_only_error(spec(step), "s", field, text)


@pytest.mark.parametrize(
    ("step", "field", "text"),
    [
        (http("s", compensation={"method": "DELETE"}), "compensation.url", "'url' is required"),
        (
            http("s", compensation={"name": "demo.payments.refund"}),
            "compensation.name",
            "unknown field 'name'",
        ),
        (
            task("s", compensation={"method": "DELETE", "url": "http://x"}),
            "compensation.name",
            "'name' is required",
        ),
        (
            {"id": "s", "type": "callback", "compensation": {"url": "http://x"}},
            "compensation.method",
            "'method' is required",
        ),
        (
            delay("s", compensation={"seconds": 1}),
            "compensation",
            "a delay step takes no compensation",
        ),
        (
            {"id": "s", "type": "approval", "action": {"group": "g"}, "compensation": {}},
            "compensation",
            "an approval step takes no compensation",
        ),
        (http("s", compensation="undo"), "compensation", "must be an object"),
    ],
)
def test_compensation_shape_per_type(step: dict[str, Any], field: str, text: str) -> None:
    assert_error(spec(step), "s", field, text)


def test_every_step_type_in_its_fullest_valid_form() -> None:
    full = spec(
        {
            "id": "call",
            "type": "http",
            "action": {
                "method": "PUT",
                "url": "https://svc.local/{{ input.id }}",
                "headers": {"X-Tenant": "{{ input.tenant }}"},
                "body": [1, None, {"deep": "{{ input.lines.0 }}"}],
            },
            "compensation": {
                "method": "DELETE",
                "url": "https://svc.local/{{ input.id }}",
                "headers": {},
            },
            "retry": {
                "max_attempts": 5,
                "initial_delay_s": 0,
                "backoff": 1,
                "max_delay_s": 0,
                "jitter": "none",
            },
            "timeout_s": 0.5,
            "name": "Call",
            "description": "Calls",
        },
        task(
            "work",
            "demo.payments.charge",
            after=["call"],
            compensation={
                "name": "demo.payments.refund",
                "args": {"x": "{{ steps.work.output.id }}"},
            },
        ),
        {
            "id": "gate",
            "type": "approval",
            "after": ["work"],
            "action": {
                "group": "ops",
                "instructions": "ok?",
                "timeout_s": 60,
                "on_timeout": "approve",
            },
        },
        {"id": "nap", "type": "delay", "after": ["gate"], "action": {"seconds": 0}},
        {
            "id": "wait",
            "type": "callback",
            "after": ["nap"],
            "action": {"method": "POST", "url": "http://p.local/{{ run.id }}", "body": {"a": [1]}},
            "compensation": {"method": "POST", "url": "http://p.local/undo"},
        },
        {"id": "listen", "type": "callback", "after": ["nap"]},
        {"id": "listen2", "type": "callback", "action": {}, "pivot": False},
        deadline_s=3600,
    )

    result = validate_spec(full)

    assert result.valid, issues(result)
    assert result.warnings == []


def test_all_shape_errors_are_reported_once_and_in_order() -> None:
    value = {
        "format": "nope",
        "zz": 1,
        "steps": [
            {"id": "b", "type": "http", "action": "x"},
            {"id": "a", "type": "delay", "action": {"seconds": -1}, "extra": 1},
        ],
    }

    result = validate_spec(value)

    assert issues(result) == [
        (None, "format", "must be 'sagaboard/v1'"),
        (None, "zz", "unknown field 'zz'"),
        ("b", "action", "must be an object, not the string 'x'"),
        ("a", "action.seconds", "must be at least 0"),
        ("a", "extra", "unknown field 'extra'"),
    ]


def test_the_wiring_and_activities_are_checked_beside_shape_errors() -> None:
    # All at once, not in rounds: a malformed step does not hide the rest.
    value = spec(
        delay("a"),
        delay("a", after=["ghost"]),
        delay("c", timeout_s=0),
        {"id": "d", "type": "bogus", "action": {}},
        task("e", "test.nope", after=["d"]),
    )

    assert issues(validate_spec(value)) == [
        ("a", "after", "after names 'ghost', which is not a step"),
        ("a", "id", "duplicate step id 'a': steps[0] and steps[1]"),
        ("c", "timeout_s", "must be more than 0"),
        ("d", "type", "must be one of http, task, approval, delay, callback, map, subsaga"),
        ("e", "action.name", "unknown task activity 'test.nope'"),
    ]


def test_rules_that_need_a_whole_step_wait_for_its_shape() -> None:
    # Templates and pivots read the whole step: a malformed one is judged once it is fixed.
    value = spec(
        task("a", args={"x": "{{ steps.b.output.id }}"}, timeout_s=0),
        task("b", "test.nope", after=["a"], timeout_s=0),
    )

    assert issues(validate_spec(value)) == [
        ("a", "timeout_s", "must be more than 0"),
        ("b", "timeout_s", "must be more than 0"),
    ]


# --- graph rules -------------------------------------------------------------------------


def test_duplicate_ids() -> None:
    assert_only_error(
        spec(delay("a"), delay("b"), delay("a")),
        "a",
        "id",
        "duplicate step id 'a': steps[0] and steps[2]",
    )


def test_after_naming_no_step() -> None:
    assert_only_error(
        spec(delay("charge"), delay("ship", after=["chrage"])),
        "ship",
        "after",
        "after names 'chrage', which is not a step (did you mean 'charge'?)",
    )


def test_a_step_naming_itself_in_after() -> None:
    assert_only_error(spec(delay("a", after=["a"])), "a", "after", "step a lists itself in after")


def test_a_two_step_cycle_is_reported_on_both_steps() -> None:
    result = validate_spec(spec(delay("a", after=["b"]), delay("b", after=["a"])))

    assert issues(result) == [
        ("a", "after", "cycle: a -> b -> a"),
        ("b", "after", "cycle: a -> b -> a"),
    ]


def test_a_longer_cycle_names_its_steps_in_order() -> None:
    value = spec(
        delay("start"),
        delay("a", after=["start", "c"]),
        delay("b", after=["a"]),
        delay("c", after=["b"]),
        delay("end", after=["c"]),
    )

    result = validate_spec(value)

    assert issues(result) == [
        ("a", "after", "cycle: a -> b -> c -> a"),
        ("b", "after", "cycle: a -> b -> c -> a"),
        ("c", "after", "cycle: a -> b -> c -> a"),
    ]


def test_a_cycle_through_a_pivot_is_reported_as_a_cycle_only() -> None:
    undo = {"method": "DELETE", "url": "http://x"}
    value = spec(
        http("reserve", method="POST", after=["ship"], compensation=undo),
        http("ship", method="POST", after=["reserve"], pivot=True),
    )

    result = validate_spec(value)

    assert {i.message for i in result.errors} == {"cycle: reserve -> ship -> reserve"}
    assert result.warnings == []


def test_separate_cycles_are_all_reported() -> None:
    value = spec(
        delay("a", after=["b"]),
        delay("b", after=["a"]),
        delay("x", after=["y"]),
        delay("y", after=["x"]),
    )

    messages = {i.message for i in validate_spec(value).errors}

    assert messages == {"cycle: a -> b -> a", "cycle: x -> y -> x"}


def test_unknown_task_activity_in_action_and_compensation() -> None:
    result = validate_spec(
        spec(task("pay", "demo.payments.chrage", compensation={"name": "demo.refund.nope"}))
    )

    assert has(
        result,
        "pay",
        "action.name",
        "unknown task activity 'demo.payments.chrage' (did you mean 'demo.payments.charge'?)",
    )
    assert has(result, "pay", "compensation.name", "unknown task activity 'demo.refund.nope'")
    assert len(result.errors) == 2


def test_a_pivot_cannot_have_a_compensation() -> None:
    assert_only_error(
        spec(
            task(
                "charge",
                "demo.payments.charge",
                pivot=True,
                compensation={"name": "demo.payments.refund"},
            )
        ),
        "charge",
        "compensation",
        "step charge is a pivot: it cannot have a compensation",
    )


def test_a_step_after_a_pivot_cannot_have_a_compensation() -> None:
    value = spec(
        task("charge", "demo.payments.charge", pivot=True),
        delay("pause", after=["charge"]),
        http(
            "ship",
            method="POST",
            after=["pause"],
            compensation={"method": "DELETE", "url": "http://x"},
        ),
    )

    assert_only_error(
        value,
        "ship",
        "compensation",
        "step ship runs after pivot charge: it cannot have a compensation",
    )


def test_steps_before_or_beside_a_pivot_keep_their_compensation() -> None:
    undo = {"method": "DELETE", "url": "http://x"}
    value = spec(
        http("reserve", method="POST", compensation=undo),
        task("charge", "demo.payments.charge", after=["reserve"], pivot=True),
        http("notify", method="POST", after=["reserve"], compensation=undo),
    )

    assert validate_spec(value).valid


@pytest.mark.parametrize("group", ["", "   "])
def test_an_approval_group_must_not_be_empty(group: str) -> None:
    assert_only_error(
        spec({"id": "ok", "type": "approval", "action": {"group": group}}),
        "ok",
        "action.group",
        "approval group must not be empty",
    )


# --- templates -----------------------------------------------------------------------------


def body_step(sid: str, body: Any, **fields: Any) -> dict[str, Any]:
    return {
        "id": sid,
        "type": "http",
        "action": {"method": "GET", "url": "http://x", "body": body},
        **fields,
    }


@pytest.mark.parametrize(
    ("template", "text"),
    [
        ("{{ input.order_id", "unclosed '{{'"),
        ("{{ }}", "empty template"),
        ("{{ input. }}", "empty path segment"),
        ("{{ secrets.key }}", "unknown root 'secrets'"),
        ("{{ steps.a }}", "steps.<id>.output"),
        ("{{ steps.a.result }}", "steps.<id>.output"),
    ],
)
def test_malformed_templates(template: str, text: str) -> None:
    value = spec(delay("a"), body_step("b", {"x": [template]}, after=["a"]))

    assert_only_error(value, "b", "action.body.x[0]", text)


def test_every_malformed_template_is_reported() -> None:
    value = spec(body_step("b", {"x": "{{ nope.a }}", "y": "{{"}))

    assert {i.field for i in validate_spec(value).errors} == {"action.body.x", "action.body.y"}


def test_a_reference_to_a_step_that_does_not_exist() -> None:
    assert_only_error(
        spec(body_step("b", "{{ steps.ghost.output.id }}")),
        "b",
        "action.body",
        "{{ steps.ghost.output.id }}: there is no step 'ghost'",
    )


def test_an_action_may_only_read_the_output_of_ancestors() -> None:
    value = spec(
        delay("a"),
        delay("side"),
        delay("mid", after=["a"]),
        body_step("b", ["{{ steps.a.output.x }}", "{{ steps.side.output.x }}"], after=["mid"]),
    )

    result = validate_spec(value)

    assert issues(result) == [
        (
            "b",
            "action.body[1]",
            "{{ steps.side.output.x }}: step side does not run before step b, so its output is "
            "not available when b runs (list it in after, directly or through another step)",
        )
    ]


def test_an_action_cannot_read_its_own_output() -> None:
    assert_only_error(
        spec(body_step("b", "{{ steps.b.output.id }}")),
        "b",
        "action.body",
        "{{ steps.b.output.id }}: a step's own output is only available to its compensation",
    )


def test_a_compensation_may_read_its_own_step_and_ancestors_only() -> None:
    undo = {
        "method": "DELETE",
        "url": "http://x/{{ steps.b.output.id }}/{{ steps.a.output.id }}",
        "body": "{{ steps.later.output.id }}",
    }
    value = spec(
        delay("a"),
        http("b", method="POST", after=["a"], compensation=undo),
        delay("later", after=["b"]),
    )

    assert_only_error(
        value,
        "b",
        "compensation.body",
        "step later does not run before step b, so its output is not available when b is "
        "compensated",
    )


def test_input_and_run_id_references_are_fine_but_unknown_run_fields_are_not() -> None:
    ok = spec(body_step("b", {"o": "{{ input.anything.0.deep }}", "r": "{{ run.id }}"}))

    assert validate_spec(ok).valid
    assert_only_error(
        spec(body_step("b", "{{ run.secret }}")),
        "b",
        "action.body",
        "{{ run.secret }}: a run has no field 'secret'",
    )


def test_templates_are_checked_in_every_part_of_an_action() -> None:
    value = spec(
        {
            "id": "b",
            "type": "http",
            "action": {
                "method": "GET",
                "url": "http://x/{{ steps.q.output }}",
                "headers": {"X-A": "{{ x.y }}"},
            },
        },
        task("t", args={"k": ["{{ steps.zz.output }}"]}),
        {"id": "g", "type": "approval", "action": {"group": "ops", "instructions": "{{ input."}},
    )

    result = validate_spec(value)

    assert {(i.step, i.field) for i in result.errors} == {
        ("b", "action.url"),
        ("b", "action.headers.X-A"),
        ("t", "action.args.k[0]"),
        ("g", "action.instructions"),
    }


# --- warnings ------------------------------------------------------------------------------


NO_COMPENSATION = "has side effects but no compensation: if a later step fails, its effect stays"


@pytest.mark.parametrize(
    "step",
    [
        http("s", method="POST"),
        http("s", method="PUT"),
        http("s", method="PATCH"),
        http("s", method="DELETE"),
        task("s", "demo.payments.charge"),
        {"id": "s", "type": "callback", "action": {"url": "http://x"}},
    ],
)
def test_a_compensable_step_with_side_effects_and_no_compensation_warns(
    step: dict[str, Any],
) -> None:
    result = validate_spec(spec(step))

    assert result.valid
    assert result.errors == []
    assert issues(result, "warnings") == [("s", "compensation", f"step s {NO_COMPENSATION}")]


@pytest.mark.parametrize(
    "step",
    [
        http("s", method="GET"),
        http("s", method="HEAD"),
        task("s", "test.lookup"),
        {"id": "s", "type": "callback", "action": {"method": "POST"}},
        {"id": "s", "type": "callback"},
        {"id": "s", "type": "approval", "action": {"group": "g"}},
        delay("s"),
        http("s", method="POST", compensation={"method": "DELETE", "url": "http://x"}),
    ],
)
def test_steps_without_side_effects_or_with_a_compensation_do_not_warn(
    step: dict[str, Any],
) -> None:
    result = validate_spec(spec(step))

    assert result.valid
    assert result.warnings == []


def test_no_warning_at_or_after_a_pivot_where_nothing_is_compensated() -> None:
    value = spec(
        http("reserve", method="POST"),
        task("charge", "demo.payments.charge", after=["reserve"], pivot=True),
        http("ship", method="POST", after=["charge"]),
    )

    result = validate_spec(value)

    assert result.valid
    assert issues(result, "warnings") == [
        ("reserve", "compensation", f"step reserve {NO_COMPENSATION}")
    ]


def test_an_unknown_activity_is_an_error_not_a_warning() -> None:
    result = validate_spec(spec(task("s", "nope.nothing")))

    assert not result.valid
    assert result.warnings == []


# --- parsing text ------------------------------------------------------------------------------


def test_parse_json_and_yaml_give_the_same_spec() -> None:
    as_json = json.dumps(DESIGN_EXAMPLE, indent=2)
    as_yaml = yaml.safe_dump(DESIGN_EXAMPLE, sort_keys=False)

    assert parse_spec_text(as_json) == DESIGN_EXAMPLE
    assert parse_spec_text(as_yaml) == DESIGN_EXAMPLE
    assert validate_spec(parse_spec_text(as_yaml)).valid


def test_hand_written_yaml() -> None:
    text = """
format: sagaboard/v1
defaults: &defaults
  timeout_s: 30
steps:
  - id: reserve
    type: http
    action: {method: POST, url: "http://inventory.local/r"}
    compensation:
      method: DELETE
      url: "http://inventory.local/r/{{ steps.reserve.output.id }}"
  - id: nap
    type: delay
    after: [reserve]
    action: {seconds: 5}
    description: "since 2024-01-01"
    <<: {timeout_s: 9}
"""
    value = parse_spec_text(text)

    assert value["steps"][1]["timeout_s"] == 9
    assert validate_spec(value).valid


def test_yaml_dates_stay_text() -> None:
    assert parse_spec_text("when: 2024-01-01\n") == {"when": "2024-01-01"}
    # ...without changing how yaml.safe_load reads dates for everyone else.
    assert isinstance(yaml.safe_load("when: 2024-01-01\n")["when"], datetime.date)


@pytest.mark.parametrize(
    ("text", "fragment", "line", "column"),
    [
        (
            '{\n  "format": "sagaboard/v1",\n  "steps": [,]\n}',
            "invalid JSON at line 3, column 13",
            3,
            13,
        ),
        ('{"format": "sagaboard/v1"', "invalid JSON at line 1, column 26", 1, 26),
        ("[1, 2", "invalid JSON at line 1", 1, 6),
        (
            "format: sagaboard/v1\nsteps:\n  - id: a\n   type: http\n",
            "invalid YAML at line 4, column 4",
            4,
            4,
        ),
        ("steps: [a, b\n", "invalid YAML at line 2, column 1", 2, 1),
        ("a: 1\na: 2\n", "invalid YAML at line 2, column 1: duplicate key 'a'", 2, 1),
        ("a: 1\n---\nb: 2\n", "invalid YAML at line 2", 2, 1),
        ("key: @value\n", "invalid YAML at line 1, column 6", 1, 6),
    ],
)
def test_malformed_text_names_the_position(
    text: str, fragment: str, line: int, column: int
) -> None:
    with pytest.raises(SpecParseError) as caught:
        parse_spec_text(text)

    assert fragment in str(caught.value)
    assert (caught.value.line, caught.value.column) == (line, column)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "the spec is empty"),
        ("  \n ", "the spec is empty"),
        ('{"a": 1, "a": 2}', "duplicate key 'a'"),
        ("[" * 100_000, "invalid JSON"),
        ("a: !!python/object:os.system {}\n", "invalid YAML at line 1"),
    ],
)
def test_other_unreadable_text(text: str, fragment: str) -> None:
    with pytest.raises(SpecParseError, match=None) as caught:
        parse_spec_text(text)

    assert fragment in str(caught.value)


def test_parse_refuses_what_is_not_text() -> None:
    with pytest.raises(SpecParseError, match="must be a string"):
        parse_spec_text(b"{}")  # type: ignore[arg-type]


def test_a_byte_order_mark_and_scalars_are_accepted() -> None:
    assert parse_spec_text('\ufeff{"a": 1}') == {"a": 1}
    assert parse_spec_text("just text") == "just text"


def test_what_json_and_yaml_let_through_the_validator_refuses() -> None:
    nan_json = parse_spec_text(
        '{"format": "sagaboard/v1", "steps": [{"id": "a", "type": "delay", '
        '"action": {"seconds": NaN}}]}'
    )
    yaml_oddities = parse_spec_text(
        "format: sagaboard/v1\nsteps:\n  - id: |\n      a\n"
        "    type: delay\n    action: {seconds: .inf}\n"
    )

    assert_only_error(nan_json, "a", "action.seconds", "must be a finite number")
    result = validate_spec(yaml_oddities)
    assert has(result, "steps[0]", "action.seconds", "must be a finite number")


_ids = st.sampled_from(["a", "b", "c", "d", "e"])
_graph_steps = st.lists(
    st.builds(
        lambda sid, after, pivot, ref, undo: {
            "id": sid,
            "type": "http",
            "after": sorted(set(after)),
            "pivot": pivot,
            "action": {"method": "POST", "url": f"http://x/{{{{ steps.{ref}.output.id }}}}"},
            **({"compensation": {"method": "DELETE", "url": "http://x"}} if undo else {}),
        },
        _ids,
        st.lists(_ids, max_size=3),
        st.booleans(),
        _ids,
        st.booleans(),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_graph_steps)
def test_any_graph_gives_issues_on_its_own_steps(steps: list[dict[str, Any]]) -> None:
    result = validate_spec(spec(*steps))

    ids = {s["id"] for s in steps}
    assert {i.step for i in result.errors + result.warnings} <= ids
    assert all(i.field for i in result.errors + result.warnings)
    has_cycle = any(i.message.startswith("cycle: ") for i in result.errors)
    assert has_cycle == _has_cycle(steps)


def _has_cycle(steps: list[dict[str, Any]]) -> bool:
    preds: dict[str, set[str]] = {}
    for s in steps:
        preds.setdefault(s["id"], set()).update(a for a in s["after"] if a != s["id"])
    ids = set(preds)
    remaining = {k: {p for p in v if p in ids} for k, v in preds.items()}
    while remaining:
        ready = [k for k, v in remaining.items() if not v]
        if not ready:
            return True
        for k in ready:
            del remaining[k]
        for v in remaining.values():
            v.difference_update(ready)
    return False

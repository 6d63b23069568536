"""POST /api/simulate/ with a sample input: which branches run, how many iterations a map
runs, and which compensations a failure would run, iteration by iteration."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

# reserve -> gate (only for big orders) -> lines (a map) -> charge, with the direct edge
# reserve -> lines beside the gate: the gate is optional.
SPEC: dict[str, Any] = {
    "format": "sagaboard/v1",
    "steps": [
        {
            "id": "reserve",
            "type": "task",
            "action": {"name": "demo.inventory.reserve"},
            "compensation": {"name": "demo.inventory.release"},
        },
        {
            "id": "gate",
            "type": "task",
            "after": ["reserve"],
            "when": "input.amount > 10000",
            "action": {"name": "demo.noop"},
        },
        {
            "id": "lines",
            "type": "map",
            "after": ["reserve", "gate"],
            "items": "input.lines",
            "max_concurrency": 2,
            "do": {
                "type": "task",
                "action": {"name": "demo.inventory.reserve", "args": {"sku": "{{ item.sku }}"}},
                "compensation": {"name": "demo.inventory.release"},
            },
        },
        {
            "id": "charge",
            "type": "task",
            "after": ["lines"],
            "action": {"name": "demo.payments.charge"},
        },
    ],
}

SMALL = {"amount": 5, "lines": [{"sku": "a"}, {"sku": "b"}, {"sku": "c"}]}
BIG = {"amount": 20000, "lines": [{"sku": "a"}]}


@pytest.fixture
def api() -> APIClient:
    client = APIClient()
    client.force_authenticate(UserFactory(username="ada"))
    return client


def simulate(api: APIClient, **body: Any) -> dict[str, Any]:
    response = api.post("/api/simulate/", {"spec": copy.deepcopy(SPEC), **body}, format="json")
    assert response.status_code == 200, response.json()
    return dict(response.json())


def test_a_false_condition_leaves_its_step_not_taken_and_the_join_runs(api: APIClient) -> None:
    body = simulate(api, input=SMALL)
    assert body["status"] == "completed"
    assert body["steps"]["gate"] == "skipped"
    assert body["not_taken"] == ["gate"]
    assert "gate" not in body["path"]
    assert body["path"] == ["reserve", "lines", "charge"]
    assert body["iterations"] == {"lines": 3}


def test_a_true_condition_runs_its_step(api: APIClient) -> None:
    body = simulate(api, input=BIG)
    assert body["status"] == "completed"
    assert body["steps"]["gate"] == "succeeded"
    assert body["not_taken"] == []
    assert body["path"] == ["reserve", "gate", "lines", "charge"]
    assert body["iterations"] == {"lines": 1}


def test_a_failure_compensates_each_iteration_last_first(api: APIClient) -> None:
    body = simulate(api, input=SMALL, fail_step="charge")
    assert body["status"] == "compensated"
    assert body["compensation_order"] == ["lines", "reserve"]
    assert body["compensations"] == [
        {"step": "lines", "index": 2},
        {"step": "lines", "index": 1},
        {"step": "lines", "index": 0},
        {"step": "reserve", "index": None},
    ]


def test_each_step_in_turn_takes_the_input_too(api: APIClient) -> None:
    response = api.post(
        "/api/simulate/",
        {"spec": copy.deepcopy(SPEC), "fail_each": True, "input": SMALL},
        format="json",
    )
    assert response.status_code == 200, response.json()
    scenarios = {s["fail_step"]: s for s in response.json()["scenarios"]}
    assert scenarios["charge"]["iterations"] == {"lines": 3}
    assert scenarios["charge"]["not_taken"] == ["gate"]


def test_without_an_input_a_condition_cannot_be_evaluated(api: APIClient) -> None:
    """No sample: the input is empty, as a run's is by default, so the condition reads a
    field that is not there and the step fails for good with CEL's words, as in a run."""
    body = simulate(api)
    assert body["status"] == "compensated"
    assert body["steps"]["gate"] == "failed"
    failed = [e for e in body["events"] if e["event"] == "step.failed" and e["step"] == "gate"]
    assert failed and "amount" in failed[0]["error"]

"""Maps through the real engine: a worker process, PostgreSQL, Redis. Each iteration is
claimed, run and recorded on its own; the map's output is every iteration's, in item
order; a failure compensates the succeeded iterations, highest index first."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client

from demo.models import LedgerEntry
from engine.models import Event, Iteration, StepRun
from tests.sagas import TERMINAL, publish, saga, start, task, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def lines_saga(*, concurrency: int = 2, pivot_first: bool = False) -> dict[str, Any]:
    reserve_lines = {
        "id": "reserve_lines",
        "type": "map",
        "after": ["charge"] if pivot_first else [],
        "items": "input.lines",
        "max_concurrency": concurrency,
        "retry": {"max_attempts": 2, "initial_delay_s": 0.05, "jitter": "none"},
        "do": {
            "type": "task",
            "action": {
                "name": "demo.inventory.reserve",
                "args": {"sku": "{{ item.sku }}", "line": "{{ index }}", "fail": "{{ item.fail }}"},
            },
        },
    }
    if not pivot_first:
        reserve_lines["do"]["compensation"] = {
            "name": "demo.inventory.release",
            # An iteration's compensation reads its own output as its step's.
            "args": {"sku": "{{ item.sku }}", "id": "{{ steps.reserve_lines.output.id }}"},
        }
    steps = [reserve_lines, task("ship", "demo.shipping.ship", ["reserve_lines"])]
    if pivot_first:
        steps.insert(0, {**task("charge", "demo.payments.charge"), "pivot": True})
    spec = saga(*steps)
    spec["input_schema"]["properties"]["lines"] = {"type": "array"}
    return spec


def lines(n: int, failing: int | None = None) -> list[dict[str, str]]:
    return [{"sku": f"sku-{i}", "fail": "permanent" if i == failing else ""} for i in range(n)]


def test_a_map_runs_an_iteration_per_item_and_gathers_their_output(worker, operator) -> None:
    _, client = publish(lines_saga(), operator)
    run_id = start(client, input={"order_id": "o-1", "lines": lines(5)})["id"]
    run = wait_for(client, run_id, TERMINAL)
    assert run["status"] == "completed"
    output = StepRun.objects.get(run_id=run_id, step_id="reserve_lines").output
    assert [o["id"] for o in output] == [
        LedgerEntry.objects.get(idempotency_key=f"{run_id}:reserve_lines:{i}").result["id"]
        for i in range(5)
    ]
    assert set(Iteration.objects.filter(run_id=run_id).values_list("status", flat=True)) == {
        "succeeded"
    }
    started = Event.objects.filter(run_id=run_id, type="step.started", step_id="reserve_lines")
    assert sorted(e.data.get("index", -1) for e in started) == [-1, 0, 1, 2, 3, 4]
    assert started.get(data__items=5)


def test_at_most_max_concurrency_iterations_are_in_flight(worker, operator) -> None:
    _, client = publish(lines_saga(concurrency=2), operator)
    run_id = start(client, input={"order_id": "o-2", "lines": lines(6)})["id"]
    wait_for(client, run_id, TERMINAL)
    in_flight = peak = 0
    for event in Event.objects.filter(run_id=run_id, step_id="reserve_lines").order_by("seq"):
        if "index" not in event.data:
            continue
        if event.type == "step.started":
            in_flight += 1
        elif event.type in ("step.succeeded", "step.failed"):
            in_flight -= 1
        peak = max(peak, in_flight)
    assert peak == 2


def test_a_failed_iteration_compensates_the_others_highest_index_first(worker, operator) -> None:
    _, client = publish(lines_saga(concurrency=1), operator)
    run_id = start(client, input={"order_id": "o-3", "lines": lines(4, failing=3)})["id"]
    run = wait_for(client, run_id, TERMINAL)
    assert run["status"] == "compensated"
    step = {s["id"]: s for s in run["steps"]}["reserve_lines"]
    assert step["status"] == "compensated"
    compensated = Event.objects.filter(
        run_id=run_id, type="step.compensation_started", step_id="reserve_lines"
    ).order_by("seq")
    assert [e.data.get("index") for e in compensated] == [None, 2, 1, 0]
    released = LedgerEntry.objects.filter(activity="demo.inventory.release", run_id=run_id)
    assert sorted(e.idempotency_key for e in released) == [
        f"{run_id}:reserve_lines:{i}:compensate" for i in range(3)
    ]
    assert all(e.applied == 1 for e in released)
    for entry in released:  # each undid its own iteration's reservation
        done = entry.idempotency_key.removesuffix(":compensate")
        assert entry.result["undone"] == LedgerEntry.objects.get(idempotency_key=done).result["id"]
    failed = Event.objects.get(
        run_id=run_id, type="step.failed", step_id="reserve_lines", data__iteration=3
    )
    assert failed.error.startswith("iteration 3 failed: ")


def test_past_the_pivot_an_operator_skips_the_failed_iteration(worker, operator) -> None:
    _, client = publish(lines_saga(pivot_first=True), operator)
    run_id = start(client, input={"order_id": "o-4", "lines": lines(3, failing=1)})["id"]
    run = wait_for(client, run_id, {"stuck"})
    assert {s["id"]: s["status"] for s in run["steps"]}["reserve_lines"] == "failed"
    response = client.post(
        f"/api/runs/{run_id}/steps/reserve_lines/iterations/1/skip/",
        {"reason": "reserved by hand"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    run = wait_for(client, run_id, TERMINAL)
    assert run["status"] == "completed"
    output = StepRun.objects.get(run_id=run_id, step_id="reserve_lines").output
    assert output[1] is None and output[0] and output[2]
    act = Event.objects.get(run_id=run_id, type="act.skip")
    assert act.data["index"] == 1 and act.actor == operator.username


def test_an_iteration_that_is_no_iteration_is_not_found(worker, operator) -> None:
    _, client = publish(lines_saga(pivot_first=True), operator)
    run_id = start(client, input={"order_id": "o-5", "lines": lines(2, failing=0)})["id"]
    wait_for(client, run_id, {"stuck"})
    response = client.post(
        f"/api/runs/{run_id}/steps/reserve_lines/iterations/7/retry/",
        {"reason": "x"},
        format="json",
    )
    assert response.status_code == 404
    response = client.post(
        f"/api/runs/{run_id}/steps/ship/iterations/0/retry/", {"reason": "x"}, format="json"
    )
    assert response.status_code == 404


def test_the_api_shows_a_maps_progress_and_its_iterations_a_page_at_a_time(
    worker, operator
) -> None:
    _, client = publish(lines_saga(concurrency=3), operator)
    run_id = start(client, input={"order_id": "o-6", "lines": lines(5, failing=4)})["id"]
    run = wait_for(client, run_id, TERMINAL)
    step = {s["id"]: s for s in run["steps"]}["reserve_lines"]
    assert step["iterations"]["total"] == 5 and step["iterations"]["started"] == 5
    assert step["iterations"]["counts"] == {"compensated": 4, "failed": 1}
    assert {s["id"]: s["iterations"] for s in run["steps"]}["ship"] is None
    url = f"/api/runs/{run_id}/steps/reserve_lines/iterations/"
    first = client.get(url, {"limit": 2}).json()
    assert [i["index"] for i in first["results"]] == [0, 1] and first["next"] == 1
    assert first["results"][0]["item"] == {"sku": "sku-0", "fail": ""}
    rest = client.get(url, {"limit": 200, "after": first["next"]}).json()
    assert [i["index"] for i in rest["results"]] == [2, 3, 4] and rest["next"] is None
    failed = client.get(url, {"status": "failed"}).json()["results"]
    assert [(i["index"], i["status"]) for i in failed] == [(4, "failed")]
    assert "refused" in failed[0]["error"]
    assert client.get(url, {"status": "nope"}).status_code == 400
    assert client.get(f"/api/runs/{run_id}/steps/ship/iterations/").status_code == 404


def test_the_run_page_and_the_log_api_can_leave_the_iterations_out(worker, operator) -> None:
    _, client = publish(lines_saga(concurrency=3), operator)
    run_id = start(client, input={"order_id": "o-7", "lines": lines(6)})["id"]
    run = wait_for(client, run_id, TERMINAL)
    every = client.get(f"/api/runs/{run_id}/events/").json()
    steps_only = client.get(f"/api/runs/{run_id}/events/", {"iterations": "false"}).json()
    assert len([e for e in every if "index" in e["data"]]) == 12  # started, succeeded: 6 each
    assert [e for e in every if "index" not in e["data"]] == steps_only
    browser = Client()
    browser.force_login(operator)
    page = browser.get(f"/runs/{run_id}/")
    assert page.status_code == 200
    config = json.loads(
        re.search(
            r'<script id="run-config" type="application/json">(.*?)</script>', page.text, re.S
        )[1]
    )
    assert [e["seq"] for e in config["events"]] == [e["seq"] for e in steps_only]
    assert config["events_through"] == run["last_seq"]

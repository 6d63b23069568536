"""Conditions through the real engine: a worker process, PostgreSQL, Redis. The shell
evaluates a condition in the transaction that made its step ready."""

from __future__ import annotations

import pytest

from engine.models import Event, StepRun
from tests.sagas import TERMINAL, approval, publish, saga, start, task, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def gated() -> dict:
    gate = {**approval("manager_ok", ["reserve"]), "when": "input.amount > 10000"}
    return saga(
        task("reserve", "demo.inventory.reserve", [], "demo.inventory.release"),
        gate,
        task("charge", "demo.payments.charge", ["reserve", "manager_ok"]),
    )


def test_a_small_order_skips_the_gate_and_completes(worker, operator) -> None:
    _, client = publish(gated(), operator)
    run_id = start(client, input={"order_id": "o-1", "amount": 40})["id"]
    run = wait_for(client, run_id, TERMINAL)
    assert run["status"] == "completed"
    assert {s["id"]: s["status"] for s in run["steps"]} == {
        "reserve": "succeeded",
        "manager_ok": "skipped",
        "charge": "succeeded",
    }
    skipped = Event.objects.get(run_id=run_id, type="step.skipped", step_id="manager_ok")
    assert skipped.data == {"reason": "condition", "condition": False}
    assert StepRun.objects.get(run_id=run_id, step_id="manager_ok").core["skipped_by_condition"]
    events = client.get(f"/api/runs/{run_id}/events/").json()
    assert not any(e["step"] == "manager_ok" and e["event"] == "step.waiting" for e in events)


def test_a_big_order_waits_at_the_gate(worker, operator) -> None:
    _, client = publish(gated(), operator)
    run_id = start(client, input={"order_id": "o-2", "amount": 20000})["id"]
    run = wait_for(client, run_id, {"waiting"})
    assert {s["id"]: s["status"] for s in run["steps"]}["manager_ok"] == "waiting"
    waiting = Event.objects.get(run_id=run_id, type="step.waiting", step_id="manager_ok")
    assert waiting.data["condition"] is True


def test_a_condition_that_fails_compensates_the_run(worker, operator) -> None:
    _, client = publish(gated(), operator)
    run_id = start(client, input={"order_id": "o-3"})["id"]
    run = wait_for(client, run_id, TERMINAL)
    assert run["status"] == "compensated"
    gate = {s["id"]: s for s in run["steps"]}["manager_ok"]
    assert gate["status"] == "failed" and "no such field 'amount'" in gate["error"]


def test_a_completed_run_has_its_output_filled_in(worker, operator) -> None:
    spec = gated()
    spec["output"] = {
        "order": "{{ input.order_id }}",
        "reservation": "{{ steps.reserve.output.id }}",
        "summary": "order {{ input.order_id }} done",
    }
    _, client = publish(spec, operator)
    run_id = start(client, input={"order_id": "o-9", "amount": 1})["id"]
    run = wait_for(client, run_id, TERMINAL)
    reservation = {s["id"]: s for s in run["steps"]}["reserve"]["output"]["id"]
    assert run["output"] == {
        "order": "o-9",
        "reservation": reservation,
        "summary": "order o-9 done",
    }
    assert run["output_error"] == ""


def test_an_output_naming_a_step_not_taken_says_so(worker, operator) -> None:
    spec = gated()
    spec["output"] = {"approved_by": "{{ steps.manager_ok.output.by }}"}
    _, client = publish(spec, operator)
    run_id = start(client, input={"order_id": "o-10", "amount": 1})["id"]
    run = wait_for(client, run_id, TERMINAL)
    assert run["status"] == "completed" and run["output"] is None
    assert "manager_ok" in run["output_error"]

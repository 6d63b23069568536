"""Sagas end to end: the API, a real Celery worker process, Redis and PostgreSQL."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from demo.models import LedgerEntry
from engine.models import Event, Run
from engine.tasks import reconcile
from tests.factories import UserFactory, grant
from tests.sagas import TERMINAL, events, ledger, publish, saga, start, task, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_five_step_saga_completes(worker, operator):
    spec = saga(
        task("reserve", "demo.inventory.reserve", comp="demo.inventory.release"),
        task("charge", "demo.payments.charge", ["reserve"], comp="demo.payments.refund"),
        task("pack", "demo.noop", ["reserve"]),
        task("ship", "demo.shipping.ship", ["charge", "pack"], comp="demo.shipping.cancel"),
        task("notify", "demo.noop", ["ship"]),
    )
    _, client = publish(spec, operator)
    run = wait_for(client, start(client)["id"], TERMINAL)
    assert run["status"] == "completed"
    assert {s["id"]: s["status"] for s in run["steps"]} == dict.fromkeys(
        ["reserve", "charge", "pack", "ship", "notify"], "succeeded"
    )
    assert all(s["attempts"] == 1 and s["latency_ms"] is not None for s in run["steps"])
    assert run["steps"][0]["output"]["id"].startswith("res-")
    entries = ledger(client, run["id"])
    assert {e["activity"] for e in entries} >= {"demo.inventory.reserve", "demo.payments.charge"}
    assert all(e["applied"] == 1 for e in entries)
    kinds = [t for t, _ in events(run["id"])]
    assert kinds[0] == "run.started" and kinds[-1] == "run.completed"
    assert kinds.count("step.succeeded") == 5


def test_permanent_failure_compensates_succeeded_steps_in_reverse_order(worker, operator):
    spec = saga(
        task("reserve", "demo.inventory.reserve", comp="demo.inventory.release"),
        task("charge", "demo.payments.charge", ["reserve"], comp="demo.payments.refund"),
        task("label", "demo.noop", ["reserve"]),
        task(
            "ship",
            "demo.shipping.ship",
            ["charge", "label"],
            comp="demo.shipping.cancel",
            fail="permanent",
        ),
    )
    _, client = publish(spec, operator)
    run = wait_for(client, start(client)["id"], TERMINAL)
    assert run["status"] == "compensated"
    statuses = {s["id"]: s["status"] for s in run["steps"]}
    assert statuses == {
        "reserve": "compensated",
        "charge": "compensated",
        "label": "succeeded",  # nothing to undo
        "ship": "failed",
    }
    compensated = [sid for kind, sid in events(run["id"]) if kind == "step.compensated"]
    assert compensated == ["charge", "reserve"]
    entries = {(e["activity"], e["step"]): e for e in ledger(client, run["id"])}
    assert entries[("demo.payments.refund", "charge")]["applied"] == 1
    assert entries[("demo.inventory.release", "reserve")]["applied"] == 1
    assert entries[("demo.shipping.ship", "ship")]["applied"] == 0
    assert ("demo.shipping.cancel", "ship") not in entries


def test_failure_after_pivot_is_retried_and_never_compensates(worker, operator):
    spec = saga(
        task("reserve", "demo.inventory.reserve", comp="demo.inventory.release"),
        {**task("charge", "demo.payments.charge", ["reserve"]), "pivot": True},
        task("ship", "demo.shipping.ship", ["charge"], fail_attempts=2),
        task("invoice", "demo.noop", ["ship"], fail="permanent"),
    )
    _, client = publish(spec, operator)
    run_id = start(client)["id"]
    run = wait_for(client, run_id, {"stuck"} | TERMINAL)
    steps = {s["id"]: s for s in run["steps"]}
    # Retried until it succeeded, within its policy.
    assert steps["ship"]["status"] == "succeeded" and steps["ship"]["attempts"] == 3
    # After the pivot a permanent failure leaves the run stuck, nothing compensated.
    assert run["status"] == "stuck" and steps["invoice"]["status"] == "failed"
    assert steps["reserve"]["status"] == "succeeded"
    assert "retry" in run["acts"]["steps"]["invoice"]
    assert "compensate" not in run["acts"]["run"]
    response = client.post(f"/api/runs/{run_id}/compensate/", {"reason": "undo"}, format="json")
    assert response.status_code == 409 and "pivot" in response.json()["detail"]

    # The operator skips the failed step, with a reason, and the run completes.
    response = client.post(f"/api/runs/{run_id}/steps/invoice/skip/", {}, format="json")
    assert response.status_code == 400  # a reason is required
    response = client.post(
        f"/api/runs/{run_id}/steps/invoice/skip/", {"reason": "invoiced by hand"}, format="json"
    )
    assert response.status_code == 200, response.json()
    run = wait_for(client, run_id, TERMINAL)
    assert run["status"] == "completed"
    act = Event.objects.get(run_id=run_id, type="act.skip")
    assert act.actor == "olga" and act.data["reason"] == "invoiced by hand"


def test_stuck_step_retried_by_operator_completes(worker, operator):
    spec = saga(
        {**task("charge", "demo.payments.charge"), "pivot": True},
        task("ship", "demo.shipping.ship", ["charge"], fail_attempts=3),
    )
    _, client = publish(spec, operator)
    run_id = start(client)["id"]
    run = wait_for(client, run_id, {"stuck"} | TERMINAL)
    assert run["status"] == "stuck"
    response = client.post(
        f"/api/runs/{run_id}/steps/ship/retry/", {"reason": "shipping is back"}, format="json"
    )
    assert response.status_code == 200, response.json()
    run = wait_for(client, run_id, TERMINAL)
    assert run["status"] == "completed"
    assert {s["id"]: s["attempts"] for s in run["steps"]}["ship"] == 4
    # Retrying a succeeded step is refused with why.
    response = client.post(
        f"/api/runs/{run_id}/steps/ship/retry/", {"reason": "again"}, format="json"
    )
    assert response.status_code == 409


def approval_spec() -> dict[str, Any]:
    return saga(
        task("reserve", "demo.inventory.reserve", comp="demo.inventory.release"),
        {
            "id": "manager_ok",
            "name": "Manager approval",
            "type": "approval",
            "after": ["reserve"],
            "action": {"group": "managers", "instructions": "Check it", "timeout_s": 3600},
        },
        task("charge", "demo.payments.charge", ["manager_ok"]),
    )


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_approval_gate(worker, operator, decision):
    _, client = publish(approval_spec(), operator)
    run_id = start(client)["id"]
    run = wait_for(client, run_id, {"waiting"})
    assert {s["id"]: s["status"] for s in run["steps"]}["manager_ok"] == "waiting"
    time.sleep(0.5)
    assert client.get(f"/api/runs/{run_id}/").json()["status"] == "waiting"

    # The operator is no manager: the gate is not theirs to decide.
    response = client.post(f"/api/runs/{run_id}/steps/manager_ok/{decision}/", {}, format="json")
    assert response.status_code == 403
    manager = UserFactory(username="maria")
    manager.groups.add(Group.objects.create(name="managers"))
    grant(manager, Run.objects.get(pk=run_id).workflow, "view_workflow")
    manager_client = APIClient()
    manager_client.force_authenticate(manager)
    assert manager_client.get(f"/api/runs/{run_id}/").json()["acts"]["steps"]["manager_ok"] == [
        "approve",
        "reject",
    ]
    response = manager_client.post(
        f"/api/runs/{run_id}/steps/manager_ok/{decision}/", {"comment": "fine by me"}, format="json"
    )
    assert response.status_code == 200, response.json()
    run = wait_for(client, run_id, TERMINAL)
    if decision == "approve":
        assert run["status"] == "completed"
    else:
        assert run["status"] == "compensated"
        assert {s["id"]: s["status"] for s in run["steps"]}["reserve"] == "compensated"
    act = Event.objects.get(run_id=run_id, type=f"act.{decision}")
    assert act.actor == "maria"


def test_callback_step_completes_when_the_participant_posts(worker, operator, live_server):
    spec = saga(
        {
            "id": "kyc",
            "name": "Check identity",
            "type": "callback",
            "action": {
                "method": "POST",
                "url": f"{live_server.url}/demo/api/noop/",
                "body": {"order": "{{ input.order_id }}"},
            },
            "timeout_s": 60,
        },
        task("charge", "demo.payments.charge", ["kyc"]),
    )
    _, client = publish(spec, operator)
    run_id = start(client)["id"]
    run = wait_for(client, run_id, {"waiting"})
    entry = LedgerEntry.objects.get(run_id=run_id, step_id="kyc")
    callback_url = entry.args["callback_url"]
    assert callback_url.startswith(live_server.url) and entry.args["order"] == "o-1"

    anonymous = APIClient()
    response = anonymous.post(
        callback_url, {"status": "succeeded", "output": {"score": 7}}, format="json"
    )
    assert response.status_code == 200, response.content
    run = wait_for(client, run_id, TERMINAL)
    assert run["status"] == "completed"
    assert {s["id"]: s["output"] for s in run["steps"]}["kyc"] == {"score": 7}
    # The token was for one use.
    again = anonymous.post(callback_url, {"status": "succeeded"}, format="json")
    assert again.status_code == 404


def test_worker_killed_mid_step_does_not_lose_the_run(worker, operator):
    spec = saga(
        task("reserve", "demo.inventory.reserve", comp="demo.inventory.release"),
        {**task("charge", "demo.payments.charge", ["reserve"], latency_ms=2500), "timeout_s": 4},
    )
    _, client = publish(spec, operator)
    run_id = start(client)["id"]
    deadline = time.monotonic() + 30
    # Kill it while the participant is at work on the charge.
    while not LedgerEntry.objects.filter(run_id=run_id, step_id="charge", calls=1).exists():
        assert time.monotonic() < deadline, "the charge step never started"
        time.sleep(0.05)
    worker.kill()
    assert Run.objects.get(pk=run_id).status == "running"
    worker.start()
    # The reconciler finds the attempt past its deadline and hands the step back.
    deadline = time.monotonic() + 60
    while Run.objects.get(pk=run_id).status not in TERMINAL:
        assert time.monotonic() < deadline, "the run was lost"
        reconcile()
        time.sleep(0.5)
    run = wait_for(client, run_id, TERMINAL)
    assert run["status"] == "completed"
    charge = {s["id"]: s for s in run["steps"]}["charge"]
    assert charge["attempts"] == 2
    entry = LedgerEntry.objects.get(run_id=run_id, activity="demo.payments.charge")
    assert entry.applied == 1 and entry.calls == 2


def test_used_idempotency_key_returns_the_same_run(worker, operator):
    _, client = publish(saga(task("a", "demo.noop")), operator)
    first = client.post(
        "/api/workflows/orders/runs/",
        {"input": {"order_id": "o-9"}, "idempotency_key": "order-9"},
        format="json",
    )
    again = client.post(
        "/api/workflows/orders/runs/",
        {"input": {"order_id": "o-9"}, "idempotency_key": "order-9"},
        format="json",
    )
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    assert Run.objects.count() == 1
    other = client.post(
        "/api/workflows/orders/runs/",
        {"input": {"order_id": "o-9"}, "idempotency_key": "order-10"},
        format="json",
    )
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]

"""The run API and the engine end to end: HTTP participants, timers, acts, permissions, reconciler.

Tests that need steps carried out use the real Celery worker process (``worker``); the
others drive runs through services and approval gates, which need no worker.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db import OperationalError, transaction
from django.db.models import F
from rest_framework.test import APIClient

from demo.models import LedgerEntry
from engine import services
from engine.models import Event, Run, StepRun
from engine.tasks import reconcile
from tests.factories import UserFactory, grant, make_published, make_workflow
from tests.sagas import (
    RETRY,
    TERMINAL,
    approval,
    client_for,
    events,
    ledger,
    publish,
    saga,
    start,
    task,
    title,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)


# ----------------------------------------------------------------------- spec helpers


def http(
    sid: str,
    url: str,
    after: list[str] | None = None,
    comp: str | None = None,
    comp_method: str = "POST",
    **knobs: Any,
) -> dict[str, Any]:
    step: dict[str, Any] = {
        "id": sid,
        "name": title(sid),
        "type": "http",
        "after": after or [],
        "action": {
            "method": "POST",
            "url": url,
            "body": {"order": "{{ input.order_id }}", **knobs},
        },
        "timeout_s": 10,
        "retry": RETRY,
    }
    if comp:
        step["compensation"] = {
            "method": comp_method,
            "url": comp,
            "body": {"id": f"{{{{ steps.{sid}.output.id }}}}"},
        }
    return step


def steps_of(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in run["steps"]}


def manager():
    user = UserFactory(username="maria")
    user.groups.add(Group.objects.get_or_create(name="managers")[0])
    return user


def waiting_run(operator, spec: dict[str, Any] | None = None) -> tuple[Run, APIClient]:
    """A run held at an approval gate before anything else: no worker needed."""
    workflow, client = publish(
        spec or saga(approval("manager_ok"), task("charge", "demo.noop", ["manager_ok"])), operator
    )
    run, _ = services.run_start(workflow=workflow, by=operator, input={"order_id": "o-1"})
    assert run.status == "waiting"
    return run, client


# ----------------------------------------------------------------------- http sagas


def test_http_saga_completes_through_the_demo_participants(worker, operator, live_server):
    api = f"{live_server.url}/demo/api"
    spec = saga(
        http("reserve", f"{api}/inventory/reserve/", comp=f"{api}/inventory/release/"),
        http("charge", f"{api}/payments/charge/", ["reserve"], comp=f"{api}/payments/refund/"),
        http("ship", f"{api}/shipping/ship/", ["charge"]),
    )
    _, client = publish(spec, operator)
    run = wait_for(client, start(client)["id"], TERMINAL)
    assert run["status"] == "completed"
    steps = steps_of(run)
    assert {sid: s["status"] for sid, s in steps.items()} == dict.fromkeys(
        ["reserve", "charge", "ship"], "succeeded"
    )
    # The participant's JSON answer is the step's output.
    assert steps["reserve"]["output"]["id"].startswith("res-")
    assert steps["reserve"]["output"]["order"] == "o-1"
    assert steps["charge"]["output"]["id"].startswith("pay-")
    # Found by the run's correlation id, keyed by run and step, each applied once.
    entries = ledger(client, run["id"])
    assert [(e["activity"], e["idempotency_key"], e["applied"], e["calls"]) for e in entries] == [
        ("demo.inventory.reserve", f"{run['id']}:reserve", 1, 1),
        ("demo.payments.charge", f"{run['id']}:charge", 1, 1),
        ("demo.shipping.ship", f"{run['id']}:ship", 1, 1),
    ]


def test_http_permanent_failure_compensates_over_http(worker, operator, live_server):
    api = f"{live_server.url}/demo/api"
    spec = saga(
        http(
            "reserve",
            f"{api}/inventory/reserve/",
            comp=f"{api}/inventory/release/",
            comp_method="DELETE",
        ),
        http("charge", f"{api}/payments/charge/", ["reserve"], comp=f"{api}/payments/refund/"),
        http("ship", f"{api}/shipping/ship/", ["charge"], fail="permanent"),
    )
    _, client = publish(spec, operator)
    run_id = start(client)["id"]
    run = wait_for(client, run_id, TERMINAL)
    assert run["status"] == "compensated"
    steps = steps_of(run)
    assert {sid: s["status"] for sid, s in steps.items()} == {
        "reserve": "compensated",
        "charge": "compensated",
        "ship": "failed",
    }
    # A 422 is not retried.
    assert steps["ship"]["attempts"] == 1
    assert "422" in steps["ship"]["error"] and "permanent" in steps["ship"]["error"]
    compensated = [sid for kind, sid in events(run_id) if kind == "step.compensated"]
    assert compensated == ["charge", "reserve"]
    entries = {e["activity"]: e for e in ledger(client, run_id)}
    assert set(entries) == {
        "demo.inventory.reserve",
        "demo.payments.charge",
        "demo.shipping.ship",
        "demo.payments.refund",
        "demo.inventory.release",
    }
    assert entries["demo.shipping.ship"]["applied"] == 0
    for name in ("demo.inventory.reserve", "demo.payments.charge"):
        assert entries[name]["applied"] == 1 and entries[name]["calls"] == 1
    for name, step in (("demo.payments.refund", "charge"), ("demo.inventory.release", "reserve")):
        entry = entries[name]
        assert entry["idempotency_key"] == f"{run_id}:{step}:compensate"
        assert entry["step"] == step and entry["applied"] == 1 and entry["calls"] == 1
    # The compensation was given what the step's output said.
    release = LedgerEntry.objects.get(run_id=run_id, activity="demo.inventory.release")
    assert release.args["id"] == steps["reserve"]["output"]["id"]


class Participant(ThreadingHTTPServer):
    """A participant answering every POST with ``body``."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, body: bytes, status: int = 200) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}/"
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()


@pytest.fixture
def binary_participant() -> Iterator[Participant]:
    server = Participant(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00")
    yield server
    server.shutdown()
    server.server_close()


def test_http_step_with_a_binary_answer_succeeds_at_once(worker, operator, binary_participant):
    spec = saga({**http("label", binary_participant.url), "timeout_s": 3})
    _, client = publish(spec, operator)
    run = wait_for(client, start(client)["id"], TERMINAL | {"stuck"}, timeout=25)
    label = steps_of(run)["label"]
    assert (run["status"], label["attempts"]) == ("completed", 1), label
    assert "PNG" in label["output"]["text"]


def test_http_step_with_a_url_the_input_breaks_fails_at_once_naming_why(worker, operator):
    spec = saga(
        {**http("lookup", "http://127.0.0.1:9/orders/{{ input.order_id }}"), "timeout_s": 3}
    )
    _, client = publish(spec, operator)
    started = time.monotonic()
    run_id = start(client, input={"order_id": "o-1\r\nX-Injected: yes"})["id"]
    run = wait_for(client, run_id, TERMINAL | {"stuck"}, timeout=25)
    lookup = steps_of(run)["lookup"]
    assert run["status"] == "compensated" and lookup["status"] == "failed"
    assert lookup["attempts"] == 1 and "timed out" not in lookup["error"]
    assert "URL" in lookup["error"]
    assert time.monotonic() - started < 2.5  # not after the attempt's timeout


# ----------------------------------------------------------------------- delay, templates


def delay_saga(seconds: float) -> dict[str, Any]:
    return saga(
        task("reserve", "demo.noop"),
        {
            "id": "cool_down",
            "name": "Cool down",
            "type": "delay",
            "after": ["reserve"],
            "action": {"seconds": seconds},
        },
        task("ship", "demo.noop", ["cool_down"]),
    )


def test_delay_step_waits_then_completes(worker, operator):
    _, client = publish(delay_saga(1), operator)
    run_id = start(client)["id"]
    run = wait_for(client, run_id, {"waiting"} | TERMINAL)
    assert run["status"] == "waiting"
    assert steps_of(run)["ship"]["status"] == "pending"
    run = wait_for(client, run_id, TERMINAL)
    assert run["status"] == "completed"
    at = dict(Event.objects.filter(run_id=run_id, step_id="cool_down").values_list("type", "at"))
    assert set(at) == {"step.waiting", "step.succeeded"}
    waited = (at["step.succeeded"] - at["step.waiting"]).total_seconds()
    assert 0.95 <= waited < 3, waited


def test_delays_hold_no_worker(worker, operator):
    # As many delays as the worker has processes (2): a sleeping worker would leave none
    # free for the quick run until a delay ended.
    _, client = publish(delay_saga(3), operator)
    quick_workflow = make_workflow("quick")
    make_published(quick_workflow, saga(task("a", "demo.noop"), task("b", "demo.noop", ["a"])))
    grant(operator, quick_workflow, "run_workflow")
    delayed = [start(client, input={"order_id": f"o-{i}"})["id"] for i in range(2)]
    for run_id in delayed:
        assert wait_for(client, run_id, {"waiting"} | TERMINAL)["status"] == "waiting"
    quick = wait_for(client, start(client, "quick")["id"], TERMINAL, timeout=10)
    assert quick["status"] == "completed"
    assert [client.get(f"/api/runs/{r}/").json()["status"] for r in delayed] == ["waiting"] * 2
    for run_id in delayed:
        assert wait_for(client, run_id, TERMINAL)["status"] == "completed"


def test_template_path_that_does_not_resolve_fails_the_step_naming_it(worker, operator):
    charge = task("charge", "demo.payments.charge", ["reserve"])
    charge["action"]["args"]["reservation"] = "{{ steps.reserve.output.reservation_id }}"
    spec = saga(task("reserve", "demo.inventory.reserve", comp="demo.inventory.release"), charge)
    _, client = publish(spec, operator)
    run_id = start(client)["id"]
    run = wait_for(client, run_id, TERMINAL | {"stuck"})
    steps = steps_of(run)
    assert run["status"] == "compensated"
    assert steps["charge"]["status"] == "failed" and steps["charge"]["attempts"] == 1
    assert "steps.reserve.output.reservation_id" in steps["charge"]["error"]
    assert "reservation_id" in steps["charge"]["error"]
    assert ("step.retry_scheduled", "charge") not in events(run_id)
    # The participant was never called with a half-rendered request.
    assert not LedgerEntry.objects.filter(run_id=run_id, step_id="charge").exists()


# ----------------------------------------------------------------------- starting


def test_input_that_breaks_the_schema_is_refused_and_nothing_stored(operator):
    _, client = publish(saga(task("a", "demo.noop")), operator)
    response = client.post("/api/workflows/orders/runs/", {"input": {}}, format="json")
    assert response.status_code == 400
    assert any("order_id" in e["message"] for e in response.json()["errors"])
    response = client.post(
        "/api/workflows/orders/runs/",
        {"input": {"order_id": "o-1", "amount": "ten"}},
        format="json",
    )
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["input.amount"]
    assert Run.objects.count() == 0 and StepRun.objects.count() == 0


def test_a_database_gone_under_a_request_answers_503_to_try_again(operator, monkeypatch):
    _, client = publish(saga(task("a", "demo.noop")), operator)

    def gone(**kwargs: Any) -> None:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(services, "run_start", gone)
    response = client.post(
        "/api/workflows/orders/runs/", {"input": {"order_id": "o-1"}}, format="json"
    )
    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert "try again" in response.json()["detail"] and response.json()["errors"] == []
    monkeypatch.undo()
    assert start(client)["status"] in ("pending", "running", "completed")


def test_starting_a_workflow_without_a_published_version_is_a_conflict(operator):
    workflow = make_workflow("drafts")
    grant(operator, workflow, "run_workflow")
    response = client_for(operator).post(
        "/api/workflows/drafts/runs/", {"input": {"order_id": "o-1"}}, format="json"
    )
    assert response.status_code == 409
    assert "published" in response.json()["detail"]
    assert Run.objects.count() == 0


# ----------------------------------------------------------------------- permissions


def test_run_endpoints_show_and_act_only_with_the_matching_permission(operator):
    run, operator_client = waiting_run(operator)
    workflow = run.workflow
    outsider = client_for(UserFactory(username="otto"))
    viewer = client_for(grant(UserFactory(username="vera"), workflow, "view_workflow"))
    runner = client_for(grant(UserFactory(username="rudi"), workflow, "run_workflow"))
    base = f"/api/runs/{run.pk}"
    acts = [
        f"{base}/cancel/",
        f"{base}/compensate/",
        f"{base}/steps/manager_ok/retry/",
        f"{base}/steps/manager_ok/skip/",
    ]

    # Not seeing the workflow: the run does not exist, whatever is asked.
    for path in (f"{base}/", f"{base}/events/"):
        assert outsider.get(path).status_code == 404
    for path in [*acts, f"{base}/steps/manager_ok/approve/", f"{base}/steps/manager_ok/reject/"]:
        assert outsider.post(path, {"reason": "x"}, format="json").status_code == 404, path
    assert outsider.get("/api/runs/").json()["results"] == []
    assert outsider.post("/api/workflows/orders/runs/", {}, format="json").status_code == 404

    # Seeing it is not acting on it.
    body = viewer.get(f"{base}/").json()
    assert body["id"] == str(run.pk) and body["status"] == "waiting"
    assert body["acts"] == {"run": [], "steps": {}}
    assert viewer.get(f"{base}/events/").status_code == 200
    for path in acts:
        assert viewer.post(path, {"reason": "x"}, format="json").status_code == 403, path
    response = viewer.post(
        "/api/workflows/orders/runs/", {"input": {"order_id": "o-2"}}, format="json"
    )
    assert response.status_code == 403

    # A runner starts runs, and does not operate them.
    response = runner.post(
        "/api/workflows/orders/runs/", {"input": {"order_id": "o-2"}}, format="json"
    )
    assert response.status_code == 201
    assert Run.objects.get(pk=response.json()["id"]).started_by.username == "rudi"
    assert runner.post(acts[0], {"reason": "x"}, format="json").status_code == 403

    # Nothing they tried changed the run; the operator still may.
    assert Run.objects.get(pk=run.pk).status == "waiting"
    assert not Event.objects.filter(run=run, type__startswith="act.").exists()
    assert operator_client.get(f"{base}/").json()["acts"]["run"] == ["compensate", "cancel"]

    assert operator_client.get("/api/runs/not-a-uuid/").status_code == 404
    assert operator_client.get(f"/api/runs/{uuid.uuid4()}/").status_code == 404


def test_run_list_filters_and_shows_only_visible_workflows_newest_first(operator):
    orders, _ = publish(saga(approval("manager_ok")), operator)
    refunds, _ = publish(saga(approval("manager_ok")), operator, slug="refunds")
    viewer = grant(UserFactory(username="vera"), orders, "view_workflow")

    def run_in(workflow):
        return str(
            services.run_start(workflow=workflow, by=operator, input={"order_id": "o"})[0].pk
        )

    first, second = run_in(orders), run_in(refunds)
    third = run_in(orders)
    services.run_cancel(run=Run.objects.get(pk=third), by=operator, reason="duplicate order")
    fourth = run_in(orders)

    def listed(client: APIClient, query: str = "") -> list[str]:
        response = client.get(f"/api/runs/{query}")
        assert response.status_code == 200
        return [r["id"] for r in response.json()["results"]]

    vera = client_for(viewer)
    assert listed(vera) == [fourth, third, first]
    assert listed(vera, "?status=waiting") == [fourth, first]
    assert listed(vera, "?status=cancelled") == [third]
    assert listed(vera, "?status=cancelled,waiting&workflow=orders") == [fourth, third, first]
    assert listed(vera, "?workflow=refunds") == []
    olga = client_for(operator)
    assert listed(olga, "?workflow=refunds") == [second]
    assert listed(olga) == [fourth, third, second, first]
    row = vera.get("/api/runs/?status=cancelled").json()["results"][0]
    assert (row["workflow"], row["status"], row["started_by"]) == ("orders", "cancelled", "olga")


def test_events_after_a_seq_are_the_later_ones_in_order(operator):
    run, client = waiting_run(operator)
    services.run_cancel(run=run, by=operator, reason="customer called")
    all_events = client.get(f"/api/runs/{run.pk}/events/").json()
    assert [e["seq"] for e in all_events] == list(range(1, len(all_events) + 1))
    assert [(e["event"], e["step"], e["status"]) for e in all_events] == [
        ("run.started", None, "waiting"),
        ("step.waiting", "manager_ok", "waiting"),
        ("act.cancel", None, "cancelled"),
        ("step.failed", "manager_ok", "failed"),
        ("run.cancelled", None, "cancelled"),
    ]
    assert all_events[2]["actor"] == "olga"
    assert all_events[2]["data"]["reason"] == "customer called"
    later = client.get(f"/api/runs/{run.pk}/events/?after=2").json()
    assert later == all_events[2:]
    assert client.get(f"/api/runs/{run.pk}/events/?after=5").json() == []
    response = client.get(f"/api/runs/{run.pk}/events/?after=two")
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "after"


# ----------------------------------------------------------------------- operator acts


def test_cancel_a_waiting_run_and_nothing_runs_after(worker, operator):
    spec = saga(
        task("reserve", "demo.inventory.reserve", comp="demo.inventory.release"),
        approval("manager_ok", ["reserve"]),
        task("charge", "demo.payments.charge", ["manager_ok"]),
    )
    _, client = publish(spec, operator)
    run_id = start(client)["id"]
    wait_for(client, run_id, {"waiting"})
    response = client.post(
        f"/api/runs/{run_id}/cancel/", {"reason": "customer withdrew"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "cancelled"
    assert response.json()["acts"] == {"run": [], "steps": {}}
    seen = events(run_id)
    assert seen[-3:] == [("act.cancel", ""), ("step.failed", "manager_ok"), ("run.cancelled", "")]

    # A decision that comes too late is refused; nothing starts, nothing is undone.
    approver = client_for(grant(manager(), Run.objects.get(pk=run_id).workflow, "view_workflow"))
    response = approver.post(f"/api/runs/{run_id}/steps/manager_ok/approve/", {}, format="json")
    assert response.status_code == 409 and "cancelled" in response.json()["detail"]
    time.sleep(1)
    run = client.get(f"/api/runs/{run_id}/").json()
    assert run["status"] == "cancelled"
    assert {sid: s["status"] for sid, s in steps_of(run).items()} == {
        "reserve": "succeeded",
        "manager_ok": "failed",
        "charge": "pending",
    }
    assert events(run_id) == seen
    assert [e["activity"] for e in ledger(client, run_id)] == ["demo.inventory.reserve"]


def test_compensate_a_running_run_before_the_pivot(worker, operator):
    spec = saga(
        task("reserve", "demo.inventory.reserve", comp="demo.inventory.release"),
        task(
            "charge",
            "demo.payments.charge",
            ["reserve"],
            comp="demo.payments.refund",
            latency_ms=800,
        ),
        {**task("ship", "demo.shipping.ship", ["charge"]), "pivot": True},
    )
    _, client = publish(spec, operator)
    run_id = start(client)["id"]
    deadline = time.monotonic() + 20
    while not LedgerEntry.objects.filter(run_id=run_id, step_id="charge").exists():
        assert time.monotonic() < deadline, "the charge never started"
        time.sleep(0.02)
    response = client.post(
        f"/api/runs/{run_id}/compensate/", {"reason": "fraud suspected"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "compensating"
    run = wait_for(client, run_id, TERMINAL | {"stuck"})
    assert run["status"] == "compensated"
    # The charge in flight finished, and was undone too; the pivot never started.
    assert {sid: s["status"] for sid, s in steps_of(run).items()} == {
        "reserve": "compensated",
        "charge": "compensated",
        "ship": "pending",
    }
    act = Event.objects.get(run_id=run_id, type="act.compensate")
    assert act.actor == "olga" and act.data["reason"] == "fraud suspected"
    applied = {e["activity"]: e["applied"] for e in ledger(client, run_id)}
    assert applied == {
        "demo.inventory.reserve": 1,
        "demo.payments.charge": 1,
        "demo.payments.refund": 1,
        "demo.inventory.release": 1,
    }


def test_acts_a_completed_run_does_not_allow_are_conflicts_saying_why(operator):
    run, client = waiting_run(operator, saga(approval("manager_ok")))
    services.run_step_decide(run=run, step="manager_ok", by=manager(), approved=True)
    run.refresh_from_db()
    assert run.status == "completed"
    base = f"/api/runs/{run.pk}"
    response = client.post(f"{base}/compensate/", {"reason": "undo"}, format="json")
    assert response.status_code == 409
    assert response.json()["detail"] == "The run has completed; it cannot be compensated."
    for path in (f"{base}/cancel/", f"{base}/steps/manager_ok/retry/"):
        response = client.post(path, {"reason": "again"}, format="json")
        assert response.status_code == 409 and "completed" in response.json()["detail"]
    assert Run.objects.get(pk=run.pk).status == "completed"


def test_retrying_a_succeeded_step_is_a_conflict(operator):
    run, client = waiting_run(operator, saga(approval("first"), approval("second", ["first"])))
    services.run_step_decide(run=run, step="first", by=manager(), approved=True)
    response = client.post(
        f"/api/runs/{run.pk}/steps/first/retry/", {"reason": "again"}, format="json"
    )
    assert response.status_code == 409
    assert "first has succeeded" in response.json()["detail"]
    assert "skip" not in client.get(f"/api/runs/{run.pk}/").json()["acts"]["steps"].get("first", [])
    response = client.post(
        f"/api/runs/{run.pk}/steps/nowhere/retry/", {"reason": "x"}, format="json"
    )
    assert response.status_code == 404


def test_acts_without_a_reason_are_refused(operator):
    run, client = waiting_run(operator)
    base = f"/api/runs/{run.pk}"
    for body in ({}, {"reason": ""}, {"reason": "   "}):
        for path in (
            f"{base}/cancel/",
            f"{base}/compensate/",
            f"{base}/steps/manager_ok/skip/",
            f"{base}/steps/manager_ok/retry/",
        ):
            response = client.post(path, body, format="json")
            assert response.status_code == 400, (path, body)
            assert response.json()["errors"][0]["field"] == "reason"
    assert Run.objects.get(pk=run.pk).status == "waiting"
    assert not Event.objects.filter(run=run, type__startswith="act.").exists()


def test_input_with_a_nul_character_is_refused_not_a_server_error(operator):
    _, client = publish(saga(task("a", "demo.noop")), operator)
    client.raise_request_exception = False
    response = client.post(
        "/api/workflows/orders/runs/", {"input": {"order_id": "o-\u0000"}}, format="json"
    )
    assert response.status_code == 400, response.status_code
    assert Run.objects.count() == 0


# ----------------------------------------------------------------------- the reconciler


def test_reconciler_resends_a_lost_start_and_the_run_completes(worker, operator, monkeypatch):
    spec = saga(task("reserve", "demo.inventory.reserve"), task("ship", "demo.noop", ["reserve"]))
    workflow, client = publish(spec, operator)
    lost: list[tuple[str, list[Any]]] = []
    monkeypatch.setattr(
        "engine.dispatch.dispatch", lambda run_id, commands: lost.append((run_id, list(commands)))
    )
    run_id = start(client)["id"]
    monkeypatch.undo()
    assert [type(c).__name__ for _, commands in lost for c in commands] == ["StartStep"]
    time.sleep(0.3)
    row = StepRun.objects.get(run_id=run_id, step_id="reserve")
    assert (row.status, row.attempt, row.claimed_at) == ("running", 1, None)
    assert not LedgerEntry.objects.filter(run_id=run_id).exists()

    # A pass before the message counts as lost sends nothing.
    assert reconcile()["resent"] == 0
    with transaction.atomic():
        StepRun.objects.filter(pk=row.pk).update(updated_at=F("updated_at") - timedelta(seconds=20))
        assert reconcile()["resent"] == 1
    run = wait_for(client, run_id, TERMINAL)
    assert run["status"] == "completed"
    assert steps_of(run)["reserve"]["attempts"] == 1
    [entry] = LedgerEntry.objects.filter(run_id=run_id, step_id="reserve")
    assert (entry.applied, entry.calls) == (1, 1)


def test_reconciler_marks_a_run_stuck_past_its_deadline(operator):
    run, client = waiting_run(operator, saga(approval("manager_ok"), deadline_s=1))
    reconcile()
    assert Run.objects.get(pk=run.pk).status == "waiting"
    time.sleep(1.1)
    reconcile()
    body = client.get(f"/api/runs/{run.pk}/").json()
    assert body["status"] == "stuck" and body["stuck_since"] is not None
    assert events(str(run.pk))[-1] == ("run.stuck", "")
    assert Event.objects.filter(run=run, type="run.stuck").count() == 1
    # Stuck, not lost: the gate can still be decided and the run goes on.
    services.run_step_decide(run=run, step="manager_ok", by=manager(), approved=True)
    run.refresh_from_db()
    assert run.status == "completed" and run.stuck_since is None


def test_every_act_of_the_kernel_has_its_route() -> None:
    from django.urls import reverse

    import saga

    for name, act in saga.ACTS.items():
        if act.on_step:
            url = reverse(f"api:step-{name}", args=["r", "s"])
            assert url == f"/api/runs/r/steps/s/{name}/"
        else:
            assert reverse(f"api:run-{name}", args=["r"]) == f"/api/runs/r/{name}/"


def test_a_time_with_an_offset_postgresql_does_not_take_is_read_in_utc(operator) -> None:
    from tests.sagas import client_for

    client = client_for(operator)
    answer = client.get("/api/runs/", {"since": "0115-10-16T17:26:31.8+18:30"})
    assert answer.status_code == 200, answer.content
    far = client.get("/api/runs/", {"since": "0001-01-01T00:00:00+18:00"})
    assert far.status_code == 400 and far.json()["errors"][0]["field"] == "since"

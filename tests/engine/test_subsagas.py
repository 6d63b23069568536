"""Child sagas through the real engine: a worker process, PostgreSQL, Redis. A subsaga
step starts a run of another workflow, idempotently and linked both ways; the child's end
is its answer; compensating the step compensates the child, unless it passed its pivot."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone

import saga as kernel
from common.errors import InvalidInput
from demo.models import LedgerEntry
from designer import services as designer
from designer.models import Workflow
from engine import children, services
from engine.models import Event, Run, StepRun
from tests.factories import UserFactory, grant, make_published, make_workflow
from tests.sagas import TERMINAL, client_for, publish, saga, start, task, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def payment(*, pivot: bool = False, fail: str = "") -> dict[str, Any]:
    charge = task("charge", "demo.payments.charge", [], None if pivot else "demo.payments.refund")
    charge["action"]["args"]["fail"] = fail
    if pivot:
        charge["pivot"] = True
    return saga(charge, output={"charge": "{{ steps.charge.output.id }}"})


def orders(*, ship_fails: bool = False) -> dict[str, Any]:
    pay = {
        "id": "pay",
        "name": "Pay",
        "type": "subsaga",
        "after": ["reserve"],
        "action": {"workflow": "payment", "input": {"order_id": "{{ input.order_id }}"}},
    }
    ship = task("ship", "demo.shipping.ship", ["pay"])
    if ship_fails:
        ship["action"]["args"]["fail"] = "permanent"
    return saga(task("reserve", "demo.inventory.reserve", [], "demo.inventory.release"), pay, ship)


def child_of(run_id: str) -> Run:
    return Run.objects.get(parent_run_id=run_id, parent_step="pay")


def test_a_child_saga_completes_and_its_output_is_the_steps(worker, operator) -> None:
    make_published(make_workflow("payment"), payment())
    _, client = publish(orders(), operator)
    run_id = start(client)["id"]
    run = wait_for(client, run_id, TERMINAL)
    assert run["status"] == "completed"
    child = child_of(run_id)
    assert child.status == "completed" and child.idempotency_key == f"{run_id}:pay"
    step = {s["id"]: s for s in run["steps"]}["pay"]
    assert step["output"] == child.output == {"charge": child.output["charge"]}
    assert run["children"] == [
        {"run": str(child.pk), "step": "pay", "workflow": "payment", "status": "completed"}
    ]
    assert client.get(f"/api/runs/{child.pk}/").json()["parent"] == {
        "run": run_id,
        "step": "pay",
        "index": None,
    }


def test_compensating_the_step_compensates_the_completed_child(worker, operator) -> None:
    make_published(make_workflow("payment"), payment())
    _, client = publish(orders(ship_fails=True), operator)
    run_id = start(client)["id"]
    run = wait_for(client, run_id, TERMINAL)
    assert run["status"] == "compensated"
    assert {s["id"]: s["status"] for s in run["steps"]} == {
        "reserve": "compensated",
        "pay": "compensated",
        "ship": "failed",
    }
    child = child_of(run_id)
    assert child.status == "compensated"
    refund = LedgerEntry.objects.get(run_id=child.pk, activity="demo.payments.refund")
    assert refund.applied == 1
    act = Event.objects.get(run_id=child.pk, type="act.compensate")
    assert act.actor == f"run {run_id}"
    # The parent's step was undone before the reservation before it.
    order = list(
        Event.objects.filter(run_id=run_id, type="step.compensated").values_list(
            "step_id", flat=True
        )
    )
    assert order == ["pay", "reserve"]


def test_a_child_past_its_pivot_cannot_be_undone_and_the_parent_is_stuck(worker, operator) -> None:
    make_published(make_workflow("payment"), payment(pivot=True))
    _, client = publish(orders(ship_fails=True), operator)
    run_id = start(client)["id"]
    run = wait_for(client, run_id, {"stuck"})
    pay = {s["id"]: s for s in run["steps"]}["pay"]
    assert pay["status"] == "compensation_failed"
    assert "passed its pivot charge" in pay["error"]
    assert child_of(run_id).status == "completed"


def test_a_child_that_compensates_fails_the_step_for_good(worker, operator) -> None:
    make_published(make_workflow("payment"), payment(fail="permanent"))
    _, client = publish(orders(), operator)
    run_id = start(client)["id"]
    run = wait_for(client, run_id, TERMINAL)
    assert run["status"] == "compensated"
    pay = {s["id"]: s for s in run["steps"]}["pay"]
    assert pay["status"] == "failed" and "was compensated" in pay["error"]
    assert StepRun.objects.get(run_id=run_id, step_id="reserve").status == "compensated"


def test_whoever_sees_the_parent_sees_the_child_but_acts_on_it_only_with_its_role(
    worker, operator
) -> None:
    make_published(make_workflow("payment"), payment(pivot=True))
    orders_workflow, client = publish(orders(ship_fails=True), operator)
    run_id = start(client)["id"]
    wait_for(client, run_id, {"stuck"})
    child = child_of(run_id)
    viewer = client_for(grant(UserFactory(), orders_workflow, "view_workflow", "operate_workflow"))
    assert viewer.get(f"/api/runs/{child.pk}/").status_code == 200
    refused = viewer.post(f"/api/runs/{child.pk}/cancel/", {"reason": "x"}, format="json")
    assert refused.status_code == 403
    stranger = client_for(UserFactory())
    assert stranger.get(f"/api/runs/{child.pk}/").status_code == 404


def test_workflows_may_not_call_each_other_in_a_cycle() -> None:
    payment_workflow = make_workflow("payment")
    make_published(payment_workflow, payment())
    make_published(make_workflow("orders"), orders())
    calls_back = payment()
    calls_back["steps"].append(
        {"id": "again", "type": "subsaga", "after": ["charge"], "action": {"workflow": "orders"}}
    )
    with pytest.raises(InvalidInput) as refused, transaction.atomic():
        designer.version_create(
            workflow=payment_workflow, by=payment_workflow.created_by, spec=calls_back
        )
    assert any(
        "call each other in a cycle: payment -> orders -> payment" in e["message"]
        for e in refused.value.errors
    )


def test_a_child_with_a_pivot_before_the_parents_is_warned_of() -> None:
    make_published(make_workflow("payment"), payment(pivot=True))
    workflow = make_workflow("orders")
    _, result = designer.version_create(workflow=workflow, by=workflow.created_by, spec=orders())
    assert any(w.step == "pay" and "has a pivot" in w.message for w in result.warnings)


def test_a_lost_request_to_compensate_the_child_is_made_again(monkeypatch) -> None:
    """The worker that was to ask the child to compensate died: the reconciler asks."""
    # No worker takes part here (one left by another test must not either).
    monkeypatch.setattr("engine.dispatch.dispatch", lambda run_id, commands: None)
    make_published(make_workflow("payment"), payment())
    orders_workflow = make_workflow("orders")
    make_published(orders_workflow, orders())
    parent, _ = services.run_start(workflow=orders_workflow, by=None, input={"order_id": "o-1"})
    child, _ = services.run_start(
        workflow=Workflow.objects.get(slug="payment"),
        by=None,
        input={"order_id": "o-1"},
        parent=(parent.pk, "pay"),
    )
    services.run_apply(child.pk, kernel.StepSucceeded("charge", 1, {"id": "pay-1"}))
    assert Run.objects.get(pk=child.pk).status == "completed"
    # The parent compensates its step; the attempt's worker is gone, the child not asked.
    StepRun.objects.filter(run=parent, step_id="pay").update(
        status="compensating", compensation_attempt=1, claimed_at=timezone.now()
    )
    Run.objects.filter(pk=parent.pk).update(status="compensating", core={"compensating": True})
    assert children.ask_again() == 1
    child.refresh_from_db()
    assert child.status == "compensating"
    assert Event.objects.get(run_id=child.pk, type="act.compensate").actor == f"run {parent.pk}"
    assert children.ask_again() == 0  # asked once


def test_only_starting_a_child_has_a_deadline() -> None:
    spec = orders()
    spec["steps"] = spec["steps"][1:2]
    spec["steps"][0]["after"] = []
    definition = kernel.definition_from_spec(spec)
    state = kernel.decide(kernel.initial_state(definition), kernel.RunStarted(), now=100.0).state
    assert state.steps["pay"].deadline_at == 100.0 + 30  # the default timeout_s
    state = kernel.decide(state, kernel.StepWaiting("pay", 1), now=101.0).state
    assert state.steps["pay"].status == "waiting" and state.steps["pay"].deadline_at is None
    assert kernel.due_happenings(state, 10_000_000.0) == []


def test_the_run_list_shows_child_runs_with_their_parent_unless_asked_not_to(
    worker, operator
) -> None:
    make_published(make_workflow("payment"), payment())
    orders_workflow, client = publish(orders(), operator)
    grant(operator, Workflow.objects.get(slug="payment"), "view_workflow")
    run_id = start(client)["id"]
    wait_for(client, run_id, TERMINAL)
    child = child_of(run_id)
    listed = {r["id"]: r for r in client.get("/api/runs/").json()["results"]}
    assert listed[str(child.pk)]["parent"] == {"run": run_id, "step": "pay", "index": None}
    assert listed[run_id]["parent"] is None
    without = client.get("/api/runs/", {"children": "false"}).json()["results"]
    assert [r["id"] for r in without] == [run_id]
    assert client.get("/api/runs/", {"children": "maybe"}).status_code == 400
    browser = Client()
    browser.force_login(operator)
    board = browser.get("/runs/", {"children": "false"})
    assert board.status_code == 200 and 'id="f-children"' in board.text
    assert str(child.pk) not in board.text and run_id in board.text

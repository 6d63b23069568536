"""A map whose ``do`` is a child saga, through the real engine: a worker process,
PostgreSQL, Redis. Each iteration starts its own child run (key ``<run id>:<step id>:
<index>``), linked to the iteration; the child's end answers the iteration; compensating
the map compensates each succeeded iteration's child, highest index first; a lost message
either way is made good by the reconciler."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction

import saga as kernel
from common.errors import InvalidInput
from demo.models import LedgerEntry
from designer import services as designer
from designer.models import Workflow
from engine import children, services
from engine.models import Event, Iteration, Run, StepRun
from tests.factories import make_published, make_workflow
from tests.sagas import TERMINAL, publish, saga, start, task, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def payment(*, pivot: bool = False) -> dict[str, Any]:
    """A child saga charging for one line: it fails for good when its input says so."""
    charge = task("charge", "demo.payments.charge", [], None if pivot else "demo.payments.refund")
    charge["action"]["args"]["fail"] = "{{ input.fail }}"
    if pivot:
        charge["pivot"] = True
    return saga(
        charge, output={"charge": "{{ steps.charge.output.id }}", "line": "{{ input.line }}"}
    )


def orders(*, concurrency: int = 2, ship_fails: bool = False) -> dict[str, Any]:
    """Pay for each line of the order with a child run, then ship."""
    pays = {
        "id": "pays",
        "name": "Pay each line",
        "type": "map",
        "items": "input.lines",
        "max_concurrency": concurrency,
        "do": {
            "type": "subsaga",
            "action": {
                "workflow": "payment",
                "input": {
                    "order_id": "{{ input.order_id }}",
                    "line": "{{ index }}",
                    "fail": "{{ item.fail }}",
                },
            },
        },
    }
    ship = task("ship", "demo.shipping.ship", ["pays"])
    if ship_fails:
        ship["action"]["args"]["fail"] = "permanent"
    spec = saga(pays, ship)
    spec["input_schema"]["properties"]["lines"] = {"type": "array"}
    return spec


def lines(n: int, failing: int | None = None) -> list[dict[str, str]]:
    return [{"sku": f"sku-{i}", "fail": "permanent" if i == failing else ""} for i in range(n)]


def children_of(run_id: Any) -> list[Run]:
    """The run's map children, in index order."""
    return list(
        Run.objects.filter(parent_run_id=run_id, parent_step="pays").order_by("parent_index")
    )


def test_each_item_runs_a_child_saga_and_the_map_gathers_their_outputs(worker, operator) -> None:
    make_published(make_workflow("payment"), payment())
    _, client = publish(orders(), operator)
    run_id = start(client, input={"order_id": "o-1", "lines": lines(3)})["id"]
    run = wait_for(client, run_id, TERMINAL)
    assert run["status"] == "completed"
    found = children_of(run_id)
    assert [c.parent_index for c in found] == [0, 1, 2]
    assert [c.idempotency_key for c in found] == [f"{run_id}:pays:{i}" for i in range(3)]
    assert all(c.status == "completed" for c in found)
    # The map's output is the children's, in item order; each child read its item and index.
    output = StepRun.objects.get(run_id=run_id, step_id="pays").output
    assert output == [c.output for c in found]
    assert [o["line"] for o in output] == [0, 1, 2]
    # The API links each iteration to its child, and each child to its iteration.
    page = client.get(f"/api/runs/{run_id}/steps/pays/iterations/").json()["results"]
    assert [it["child"] for it in page] == [str(c.pk) for c in found]
    parent = client.get(f"/api/runs/{found[1].pk}/").json()["parent"]
    assert parent == {"run": run_id, "step": "pays", "index": 1}
    # A map's children are with its iterations, not in the run's own list of children.
    assert run["children"] == []


def test_a_compensated_child_fails_the_map_and_the_others_are_compensated_highest_first(
    worker, operator
) -> None:
    make_published(make_workflow("payment"), payment())
    _, client = publish(orders(concurrency=1), operator)
    run_id = start(client, input={"order_id": "o-2", "lines": lines(4, failing=3)})["id"]
    run = wait_for(client, run_id, TERMINAL)
    assert run["status"] == "compensated"
    pays = {s["id"]: s for s in run["steps"]}["pays"]
    assert pays["status"] == "compensated"
    failed = Event.objects.get(run_id=run_id, type="step.failed", step_id="pays", data__index=3)
    assert "was compensated" in failed.error
    found = children_of(run_id)
    assert [c.status for c in found] == ["compensated"] * 4
    started = Event.objects.filter(
        run_id=run_id, type="step.compensation_started", step_id="pays"
    ).order_by("seq")
    assert [e.data.get("index") for e in started] == [None, 2, 1, 0]
    # Each succeeded child was asked by its parent, and undid its charge, highest first.
    asked = [Event.objects.get(run_id=c.pk, type="act.compensate") for c in found[:3]]
    assert all(a.actor == f"run {run_id}" for a in asked)
    assert asked[2].at < asked[1].at < asked[0].at
    for child in found[:3]:
        refund = LedgerEntry.objects.get(run_id=child.pk, activity="demo.payments.refund")
        assert refund.applied == 1
    assert not Event.objects.filter(run_id=found[3].pk, type="act.compensate").exists()


def test_a_child_past_its_pivot_fails_its_iterations_compensation(worker, operator) -> None:
    make_published(make_workflow("payment"), payment(pivot=True))
    _, client = publish(orders(ship_fails=True), operator)
    run_id = start(client, input={"order_id": "o-3", "lines": lines(2)})["id"]
    run = wait_for(client, run_id, {"stuck"})
    pays = {s["id"]: s for s in run["steps"]}["pays"]
    assert pays["status"] == "compensation_failed"
    assert pays["error"].startswith("iteration ") and "passed its pivot charge" in pays["error"]
    statuses = set(Iteration.objects.filter(run_id=run_id).values_list("status", flat=True))
    assert statuses == {"compensation_failed"}
    assert [c.status for c in children_of(run_id)] == ["completed", "completed"]


def _by_hand(monkeypatch) -> Run:
    """A run of orders over 2 lines, with no worker and no message sent: each iteration's
    child started (as its attempt's worker would) and the iteration waiting for it."""
    monkeypatch.setattr("engine.dispatch.dispatch", lambda run_id, commands: None)
    monkeypatch.setattr("engine.dispatch.child_ended", lambda run_id: None)  # every one lost
    make_published(make_workflow("payment"), payment())
    orders_workflow = make_workflow("orders")
    make_published(orders_workflow, orders())
    parent, _ = services.run_start(
        workflow=orders_workflow, by=None, input={"order_id": "o-4", "lines": lines(2)}
    )
    for index in range(2):
        services.run_start(
            workflow=Workflow.objects.get(slug="payment"),
            by=None,
            input={"order_id": "o-4", "line": index, "fail": ""},
            idempotency_key=f"{parent.pk}:pays:{index}",
            parent=(parent.pk, "pays"),
            parent_index=index,
        )
        services.run_apply(parent.pk, kernel.StepWaiting("pays", 1, index))
    return parent


def test_a_lost_child_ended_message_is_made_good_by_the_reconciler(monkeypatch) -> None:
    parent = _by_hand(monkeypatch)
    assert children.tell_waiting_parents() == 0  # nothing has ended
    found = children_of(parent.pk)
    for child in reversed(found):
        services.run_apply(child.pk, kernel.StepSucceeded("charge", 1, {"id": f"c-{child.pk}"}))
    assert Iteration.objects.filter(run=parent, status="waiting").count() == 2
    assert children.tell_waiting_parents() == 2
    assert children.tell_waiting_parents() == 0  # told once
    found = children_of(parent.pk)
    assert StepRun.objects.get(run=parent, step_id="pays").output == [c.output for c in found]
    assert StepRun.objects.get(run=parent, step_id="ship").status == "running"


def test_a_lost_request_to_compensate_an_iterations_child_is_made_again(monkeypatch) -> None:
    parent = _by_hand(monkeypatch)
    found = children_of(parent.pk)
    for child in found:
        services.run_apply(child.pk, kernel.StepSucceeded("charge", 1, {"id": f"c-{child.pk}"}))
    children.tell_waiting_parents()
    # Shipping fails for good: the run compensates its map, both iterations at once (two
    # may be in flight); their requests to the children are lost with their worker.
    services.run_apply(parent.pk, kernel.StepFailed("ship", 1, "no truck", retryable=False))
    statuses = Iteration.objects.filter(run=parent).values_list("status", flat=True)
    assert list(statuses) == ["compensating", "compensating"]
    assert [c.status for c in children_of(parent.pk)] == ["completed", "completed"]
    assert children.tell_waiting_parents() == 2  # asked again
    assert [c.status for c in children_of(parent.pk)] == ["compensating", "compensating"]
    for child in found:
        act = Event.objects.get(run_id=child.pk, type="act.compensate")
        assert act.actor == f"run {parent.pk}"
    assert children.tell_waiting_parents() == 0  # asked once
    # The children are undone; the messages saying so are lost too: the parent is told.
    for child in found:
        services.run_apply(child.pk, kernel.CompensationSucceeded("charge", 1))
    assert children.tell_waiting_parents() == 2
    assert set(statuses.all()) == {"compensated"}
    assert Run.objects.get(pk=parent.pk).status == "compensated"


def test_workflows_may_not_call_each_other_in_a_cycle_through_a_map() -> None:
    payment_workflow = make_workflow("payment")
    make_published(payment_workflow, payment())
    make_published(make_workflow("orders"), orders())
    calls_back = payment()
    calls_back["steps"].append(
        {
            "id": "again",
            "type": "map",
            "after": ["charge"],
            "items": "input.lines",
            "do": {"type": "subsaga", "action": {"workflow": "orders"}},
        }
    )
    with pytest.raises(InvalidInput) as refused, transaction.atomic():
        designer.version_create(
            workflow=payment_workflow, by=payment_workflow.created_by, spec=calls_back
        )
    assert any(
        e["step"] == "again"
        and e["field"] == "do.action.workflow"
        and "call each other in a cycle: payment -> orders -> payment" in e["message"]
        for e in refused.value.errors
    )


def test_a_child_with_a_pivot_in_a_map_before_the_parents_pivot_is_warned_of() -> None:
    make_published(make_workflow("payment"), payment(pivot=True))
    workflow = make_workflow("orders")
    _, result = designer.version_create(workflow=workflow, by=workflow.created_by, spec=orders())
    assert any(
        w.step == "pays" and w.field == "do.action.workflow" and "has a pivot" in w.message
        for w in result.warnings
    )

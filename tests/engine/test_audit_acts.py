"""Every act on a run is an entry in the audit log, written with the act: a retry, a skip,
an approval, a rejection, an act on one iteration of a map; a refused act writes none.

Runs are moved through the engine's services, without a worker: in these tests nothing
is committed, so nothing is sent to the broker."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from rest_framework.test import APIClient

import saga
from designer.models import AuditEntry
from engine import services
from engine.models import Run
from tests.factories import GroupFactory, UserFactory, grant, make_published, make_workflow

pytestmark = pytest.mark.django_db

SPEC: dict[str, Any] = {
    "format": "sagaboard/v1",
    "steps": [
        {"id": "reserve", "type": "task", "action": {"name": "demo.noop"}},
        {
            "id": "manager_ok",
            "type": "approval",
            "after": ["reserve"],
            "action": {"group": "managers"},
        },
        {
            "id": "charge",
            "type": "task",
            "after": ["manager_ok"],
            "action": {"name": "demo.noop"},
            "pivot": True,
        },
        {"id": "ship", "type": "task", "after": ["charge"], "action": {"name": "demo.noop"}},
        {
            "id": "pack",
            "type": "map",
            "after": ["ship"],
            "items": "[1, 2]",
            "do": {"type": "task", "action": {"name": "demo.noop"}},
        },
    ],
}


def _succeed(run: Run) -> None:
    row = Run.objects.get(pk=run.pk).steps.get(status="running")
    services.run_apply(run.pk, saga.StepSucceeded(row.step_id, row.attempt, {}))


def _fail(run: Run, step: str) -> None:
    row = Run.objects.get(pk=run.pk).steps.get(step_id=step)
    services.run_apply(run.pk, saga.StepFailed(step, row.attempt, "down", retryable=False))


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def world():
    managers = GroupFactory(name="managers")
    workflow = make_workflow("orders")
    make_published(workflow, copy.deepcopy(SPEC))
    operator = grant(UserFactory(username="olga"), workflow, "operate_workflow")
    approver = grant(UserFactory(username="abe"), workflow, "view_workflow")
    approver.groups.add(managers)
    return {"workflow": workflow, "operator": operator, "approver": approver}


def start(world) -> Run:
    run, _ = services.run_start(workflow=world["workflow"], by=None, input={})
    _succeed(run)  # reserve; the run waits at the gate
    return run


def stuck_at_ship(world) -> Run:
    run = start(world)
    services.run_apply(run.pk, saga.ApprovalDecided("manager_ok", True, "a manager"))
    _succeed(run)  # charge, the pivot
    _fail(run, "ship")
    assert Run.objects.get(pk=run.pk).status == "stuck"
    return run


def only_entry(**where: Any) -> AuditEntry:
    entries = list(AuditEntry.objects.filter(run__isnull=False, **where))
    assert len(entries) == 1, entries
    return entries[0]


def test_an_approval_and_a_rejection_are_entries_with_the_comment(world):
    approver = client_for(world["approver"])
    run = start(world)
    response = approver.post(
        f"/api/runs/{run.pk}/steps/manager_ok/approve/", {"comment": "fine by me"}, format="json"
    )
    assert response.status_code == 200, response.json()
    entry = only_entry(act="act.approve")
    assert entry.run == run.pk and entry.workflow == world["workflow"]
    assert entry.actor == world["approver"] and entry.actor_name == "abe"
    assert entry.reason == "fine by me" and entry.detail == {"step": "manager_ok"}
    assert entry.version is None and entry.bulk is None

    other = start(world)
    approver.post(f"/api/runs/{other.pk}/steps/manager_ok/reject/", {}, format="json")
    rejected = only_entry(act="act.reject")
    assert rejected.run == other.pk and rejected.reason == ""


def test_a_retry_then_a_skip_are_entries_with_the_reason(world):
    operator = client_for(world["operator"])
    run = stuck_at_ship(world)
    response = operator.post(
        f"/api/runs/{run.pk}/steps/ship/retry/", {"reason": "shipping is back"}, format="json"
    )
    assert response.status_code == 200, response.json()
    retry = only_entry(act="act.retry")
    assert (retry.run, retry.actor_name, retry.reason) == (run.pk, "olga", "shipping is back")
    assert retry.detail == {"step": "ship"}

    _fail(run, "ship")
    operator.post(
        f"/api/runs/{run.pk}/steps/ship/skip/", {"reason": "shipped by hand"}, format="json"
    )
    skip = only_entry(act="act.skip")
    assert (skip.reason, skip.detail) == ("shipped by hand", {"step": "ship"})
    # Newest first, as the log lists them.
    assert list(AuditEntry.objects.filter(run=run.pk).values_list("act", flat=True)) == [
        "act.skip",
        "act.retry",
    ]


def test_an_act_on_one_iteration_names_it(world):
    run = stuck_at_ship(world)
    services.run_act(run=run, act="retry", step="ship", by=world["operator"], reason="again")
    _succeed(run)  # ship; the map starts its iterations
    services.run_apply(run.pk, saga.StepFailed("pack", 1, "down", False, index=0))
    services.run_apply(run.pk, saga.StepSucceeded("pack", 1, {}, index=1))
    url = f"/api/runs/{run.pk}/steps/pack/iterations/0/skip/"
    response = client_for(world["operator"]).post(url, {"reason": "line 0 gone"}, format="json")
    assert response.status_code == 200, response.json()
    entry = only_entry(act="act.skip")
    assert entry.detail == {"step": "pack", "index": 0} and entry.reason == "line 0 gone"


def test_a_refused_act_writes_no_entry(world):
    run = start(world)  # waiting at the gate: nothing failed to retry
    response = client_for(world["operator"]).post(
        f"/api/runs/{run.pk}/steps/reserve/retry/", {"reason": "why not"}, format="json"
    )
    assert response.status_code == 409
    assert not AuditEntry.objects.filter(run=run.pk).exists()

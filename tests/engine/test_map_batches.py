"""A worker records the outcomes of several iterations of a map together, in one
transaction, so a map's iterations are not held to one at a time by its run's row lock.
Each outcome is still decided on its own, in turn; a duplicate among them changes
nothing; each iteration's effect happens once."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

import saga
from demo.models import LedgerEntry
from engine import dispatch
from engine.models import Event, Iteration, Run, StepRun
from engine.services import run_apply_all
from tests.sagas import TERMINAL, publish, start, task, wait_for
from tests.sagas import saga as saga_spec

pytestmark = pytest.mark.django_db(transaction=True)


def each_line(concurrency: int) -> dict[str, Any]:
    spec = saga_spec(
        {
            "id": "reserve_lines",
            "type": "map",
            "items": "input.lines",
            "max_concurrency": concurrency,
            "do": {
                "type": "task",
                "action": {"name": "demo.inventory.reserve", "args": {"sku": "{{ item }}"}},
            },
        },
        task("ship", "demo.shipping.ship", ["reserve_lines"]),
    )
    spec["input_schema"]["properties"]["lines"] = {"type": "array"}
    return spec


def test_outcomes_applied_together_are_each_decided_in_turn(operator, monkeypatch) -> None:
    # Nothing is sent to a worker (one may be running for other tests): the iterations
    # wait, and their outcomes are handed in here, two at a time, each decided on what
    # the one before it left.
    monkeypatch.setattr(dispatch, "dispatch", lambda run_id, commands: None)
    _, client = publish(each_line(concurrency=2), operator)
    run_id = start(client, input={"order_id": "o-1", "lines": ["a", "b", "c"]})["id"]
    succeeded = [saga.StepSucceeded("reserve_lines", 1, {"n": i}, i) for i in range(3)]

    # The first success lets the third iteration begin: the worker asked to carry on
    # gets it, claimed, and no message is sent for it.
    decisions, following, _ = run_apply_all(
        run_id, [succeeded[0], succeeded[0]], claim_next="w1", claim_iterations=5
    )
    assert [d.ignored for d in decisions] == [False, True]
    assert [(c.step, c.index) for c in following] == [("reserve_lines", 2)]
    assert Iteration.objects.get(run_id=run_id, index=2).claimed_by == "w1"

    decisions, following, _ = run_apply_all(run_id, [succeeded[1], succeeded[2]])
    assert [d.ignored for d in decisions] == [False, False]
    assert following == []  # nobody asked to carry on
    step = StepRun.objects.get(run_id=run_id, step_id="reserve_lines")
    assert step.status == "succeeded"
    assert step.output == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert StepRun.objects.get(run_id=run_id, step_id="ship").status == "running"
    assert set(Iteration.objects.filter(run_id=run_id).values_list("status", flat=True)) == {
        "succeeded"
    }
    log = list(Event.objects.filter(run_id=run_id).order_by("seq").values_list("seq", "type"))
    assert [seq for seq, _ in log] == list(range(1, len(log) + 1))
    ended = Event.objects.filter(run_id=run_id, type="step.succeeded", step_id="reserve_lines")
    assert Counter(e.data.get("index") for e in ended) == {0: 1, 1: 1, 2: 1, None: 1}
    assert Run.objects.get(pk=run_id).last_seq == len(log)


def test_a_worker_records_a_maps_iterations_in_batches(worker, operator) -> None:
    _, client = publish(each_line(concurrency=20), operator)
    n = 200
    run_id = start(client, input={"order_id": "o-2", "lines": [f"sku-{i}" for i in range(n)]})["id"]
    assert wait_for(client, run_id, TERMINAL)["status"] == "completed"

    keys = LedgerEntry.objects.filter(idempotency_key__startswith=f"{run_id}:reserve_lines:")
    assert Counter(keys.values_list("idempotency_key", flat=True)) == {
        f"{run_id}:reserve_lines:{i}": 1 for i in range(n)
    }
    output = StepRun.objects.get(run_id=run_id, step_id="reserve_lines").output
    assert [o["id"] for o in output] == [
        keys.get(idempotency_key=f"{run_id}:reserve_lines:{i}").result["id"] for i in range(n)
    ]
    ended = Event.objects.filter(run_id=run_id, type="step.succeeded", data__has_key="index")
    assert sorted(ended.values_list("data__index", flat=True)) == list(range(n))
    # One commit stamps its events with one time: most commits held several outcomes.
    per_commit = Counter(ended.values_list("at", flat=True))
    assert len(per_commit) < n / 2, per_commit

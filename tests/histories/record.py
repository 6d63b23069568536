"""Records the replay corpus: real runs of every step kind and every operator act.

    scripts/test.sh tests/histories/record.py      # then commit tests/histories/*.jsonl.gz

Each scenario below runs a saga on a real Celery worker process against PostgreSQL
and Redis, with the engine recording every decision it takes
(``SAGABOARD_RECORD_HISTORIES``), and keeps the run's history here under the
scenario's name. Histories of demo traffic and of the chaos run join them with
``--histories``-style recording too: ``bench/chaos.py --record-histories DIR``
(then ``tests/histories/keep.py DIR N`` keeps N of them, the most varied).

Not collected by ``make test`` (its name does not start with ``test_``); the
replay test, tests/saga/test_replay.py, reads what this wrote.
"""

from __future__ import annotations

import gzip
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from demo.models import LedgerEntry
from engine import services
from engine.models import Run
from engine.tasks import reconcile
from tests.factories import UserFactory, make_published, make_workflow
from tests.sagas import RETRY, TERMINAL, approval, publish, saga, start, task, wait_for

HERE = Path(__file__).resolve().parent
RECORDING = Path(tempfile.mkdtemp(prefix="sagaboard-histories-"))
# Set before the session's worker starts, so that it records too.
os.environ["SAGABOARD_RECORD_HISTORIES"] = str(RECORDING)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _recording(settings: Any) -> None:
    settings.SAGABOARD_RECORD_HISTORIES = str(RECORDING)


def keep(run_id: str, name: str) -> None:
    """The run's history, as the corpus entry ``name``."""
    source = RECORDING / f"{run_id}.jsonl"
    deadline = time.monotonic() + 5
    while not source.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # the last commit's line is written on commit
    # mtime=0: the same history gives the same bytes.
    (HERE / f"{name}.jsonl.gz").write_bytes(gzip.compress(source.read_bytes(), mtime=0))


def wait_step(client: APIClient, run_id: str, step: str, status: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        steps = {s["id"]: s["status"] for s in client.get(f"/api/runs/{run_id}/").json()["steps"]}
        if steps[step] == status:
            return
        assert time.monotonic() < deadline, steps
        time.sleep(0.05)


def http(sid: str, operation: str, live_url: str, after: list[str] | None = None, **knobs: Any):
    service, verb = operation.split(".")[1:]
    step: dict[str, Any] = {
        "id": sid,
        "name": sid.capitalize(),
        "type": "http",
        "after": after or [],
        "action": {
            "method": "POST",
            "url": f"{live_url}/demo/api/{service}/{verb}/",
            "body": {"order": "{{ input.order_id }}", **knobs},
        },
        "timeout_s": 10,
        "retry": RETRY,
    }
    return step


def test_every_kind_of_step_completes(worker, operator, live_server) -> None:
    spec = saga(
        http("reserve", "demo.inventory.reserve", live_server.url),
        task("charge", "demo.payments.charge", ["reserve"], "demo.payments.refund"),
        {"id": "cool_off", "type": "delay", "after": ["charge"], "action": {"seconds": 0.5}},
        approval("manager_ok", ["cool_off"]),
        {
            "id": "kyc",
            "type": "callback",
            "after": ["manager_ok"],
            "action": {"method": "POST", "url": f"{live_server.url}/demo/api/noop/"},
            "timeout_s": 60,
        },
        task("ship", "demo.shipping.ship", ["kyc"]),
    )
    _, client = publish(spec, operator)
    run_id = start(client)["id"]
    wait_step(client, run_id, "manager_ok", "waiting")
    manager = UserFactory(username="mia", is_staff=True)
    run = Run.objects.get(pk=run_id)
    services.run_step_decide(run=run, step="manager_ok", by=manager, approved=True, comment="ok")
    deadline = time.monotonic() + 20
    while not LedgerEntry.objects.filter(run_id=run_id, step_id="kyc").exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    wait_step(client, run_id, "kyc", "waiting")
    callback_url = LedgerEntry.objects.get(run_id=run_id, step_id="kyc").args["callback_url"]
    answer = APIClient().post(callback_url, {"status": "succeeded", "output": {}}, format="json")
    assert answer.status_code == 200
    assert wait_for(client, run_id, TERMINAL)["status"] == "completed"
    keep(run_id, "every-kind-completes")


def test_retried_attempts_then_success(worker, operator) -> None:
    spec = saga(task("reserve", "demo.inventory.reserve", fail_attempts=2))
    _, client = publish(spec, operator)
    run_id = start(client)["id"]
    assert wait_for(client, run_id, TERMINAL)["status"] == "completed"
    keep(run_id, "retried-then-completed")


def test_a_permanent_failure_compensates_in_reverse(worker, operator) -> None:
    spec = saga(
        task("reserve", "demo.inventory.reserve", [], "demo.inventory.release"),
        task("charge", "demo.payments.charge", ["reserve"], "demo.payments.refund"),
        task("ship", "demo.shipping.ship", ["charge"], fail="permanent"),
    )
    _, client = publish(spec, operator)
    run_id = start(client)["id"]
    assert wait_for(client, run_id, TERMINAL)["status"] == "compensated"
    keep(run_id, "failure-compensates-in-reverse")


def test_stuck_after_the_pivot_then_retried_by_an_operator(worker, operator) -> None:
    spec = saga(
        task("charge", "demo.payments.charge"),
        task("ship", "demo.shipping.ship", ["charge"], fail_attempts=3),
    )
    spec["steps"][0]["pivot"] = True
    _, client = publish(spec, operator)
    run_id = start(client)["id"]
    wait_for(client, run_id, {"stuck"})
    services.run_step_retry(run=Run.objects.get(pk=run_id), step="ship", by=operator, reason="up")
    assert wait_for(client, run_id, TERMINAL)["status"] == "completed"
    keep(run_id, "stuck-after-pivot-then-retried")


def test_a_stuck_step_skipped_by_an_operator(worker, operator) -> None:
    spec = saga(
        task("charge", "demo.payments.charge"),
        task("ship", "demo.shipping.ship", ["charge"], fail="permanent"),
        task("notify", "demo.noop", ["ship"]),
    )
    spec["steps"][0]["pivot"] = True
    _, client = publish(spec, operator)
    run_id = start(client)["id"]
    wait_for(client, run_id, {"stuck"})
    services.run_step_skip(
        run=Run.objects.get(pk=run_id), step="ship", by=operator, reason="shipped by hand"
    )
    assert wait_for(client, run_id, TERMINAL)["status"] == "completed"
    keep(run_id, "stuck-step-skipped")


def test_an_operator_compensates_a_waiting_run(worker, operator) -> None:
    spec = saga(
        task("reserve", "demo.inventory.reserve", [], "demo.inventory.release"),
        approval("manager_ok", ["reserve"]),
    )
    _, client = publish(spec, operator)
    run_id = start(client)["id"]
    wait_step(client, run_id, "manager_ok", "waiting")
    services.run_compensate(run=Run.objects.get(pk=run_id), by=operator, reason="order withdrawn")
    assert wait_for(client, run_id, TERMINAL)["status"] == "compensated"
    keep(run_id, "operator-compensates")


def test_an_operator_cancels_a_waiting_run(worker, operator) -> None:
    spec = saga(approval("manager_ok"), task("charge", "demo.payments.charge", ["manager_ok"]))
    _, client = publish(spec, operator)
    run_id = start(client)["id"]
    wait_for(client, run_id, {"waiting"})
    services.run_cancel(run=Run.objects.get(pk=run_id), by=operator, reason="not needed")
    assert wait_for(client, run_id, TERMINAL)["status"] == "cancelled"
    keep(run_id, "operator-cancels")


def test_an_approver_rejects(worker, operator) -> None:
    spec = saga(
        task("reserve", "demo.inventory.reserve", [], "demo.inventory.release"),
        approval("manager_ok", ["reserve"]),
        task("charge", "demo.payments.charge", ["manager_ok"]),
    )
    _, client = publish(spec, operator)
    run_id = start(client)["id"]
    wait_step(client, run_id, "manager_ok", "waiting")
    boss = UserFactory(username="boss", is_staff=True)
    services.run_step_decide(
        run=Run.objects.get(pk=run_id), step="manager_ok", by=boss, approved=False, comment="no"
    )
    assert wait_for(client, run_id, TERMINAL)["status"] == "compensated"
    keep(run_id, "approver-rejects")


def test_a_failed_compensation_is_skipped_by_an_operator(worker, operator) -> None:
    spec = saga(
        task("reserve", "demo.inventory.reserve", [], "demo.inventory.release"),
        task("charge", "demo.payments.charge", ["reserve"], fail="permanent"),
    )
    spec["steps"][0]["compensation"]["args"]["fail"] = "permanent"
    _, client = publish(spec, operator)
    run_id = start(client)["id"]
    wait_for(client, run_id, {"stuck"})
    services.run_step_skip(
        run=Run.objects.get(pk=run_id), step="reserve", by=operator, reason="released by hand"
    )
    assert wait_for(client, run_id, TERMINAL)["status"] == "compensated"
    keep(run_id, "failed-compensation-skipped")


def test_a_run_left_stuck(worker, operator) -> None:
    spec = saga(
        task("charge", "demo.payments.charge"),
        task("ship", "demo.shipping.ship", ["charge"], fail="retryable"),
    )
    spec["steps"][0]["pivot"] = True
    _, client = publish(spec, operator)
    run_id = start(client)["id"]
    wait_for(client, run_id, {"stuck"})
    time.sleep(0.5)
    keep(run_id, "left-stuck")


def test_an_attempt_past_its_deadline_and_a_lost_message(worker, operator) -> None:
    spec = saga(
        task("slow", "demo.noop", latency_ms=2500),
        task("next", "demo.noop", ["slow"]),
    )
    spec["steps"][0]["timeout_s"] = 1
    _, client = publish(spec, operator)
    run_id = start(client)["id"]
    time.sleep(1.2)
    reconcile()  # the attempt is past its deadline: timed out, retried
    run = wait_for(client, run_id, TERMINAL | {"stuck"})
    keep(run_id, "attempt-timed-out")
    assert run["status"] in ("completed", "stuck")


def test_conditions_take_and_skip_branches(worker, operator) -> None:
    gate = {**approval("manager_ok", ["reserve"]), "when": "input.amount > 10000"}
    audit = task("audit", "demo.noop", ["manager_ok"])
    spec = saga(
        task("reserve", "demo.inventory.reserve", [], "demo.inventory.release"),
        gate,
        audit,
        task("charge", "demo.payments.charge", ["reserve", "audit"]),
    )
    _, client = publish(spec, operator)
    small = start(client, input={"order_id": "o-1", "amount": 40})["id"]
    assert wait_for(client, small, TERMINAL)["status"] == "completed"
    keep(small, "condition-false-dead-path-join")
    failing = start(client, input={"order_id": "o-2"})["id"]
    assert wait_for(client, failing, TERMINAL)["status"] == "compensated"
    keep(failing, "condition-fails")
    big = start(client, input={"order_id": "o-3", "amount": 20000})["id"]
    wait_step(client, big, "manager_ok", "waiting")
    boss = UserFactory(username="gatekeeper", is_staff=True)
    services.run_step_decide(
        run=Run.objects.get(pk=big), step="manager_ok", by=boss, approved=True, comment="big"
    )
    assert wait_for(client, big, TERMINAL)["status"] == "completed"
    keep(big, "condition-true")


def test_demo_traffic(worker, operator) -> None:
    """A minute of the demo's own traffic: its order saga and trip booking, with faults."""
    from demo import traffic
    from demo.loader import load_demo

    load_demo()
    boss = UserFactory(username="traffic-boss", is_staff=True, is_superuser=True)
    traffic.traffic_update(by=boss, enabled=True, rate_per_min=120, fail_rate=0.4)
    started: list[str] = []
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and len(started) < 12:
        traffic.traffic_tick()
        started = list(
            Run.objects.filter(idempotency_key__startswith=traffic.KEY_PREFIX).values_list(
                "id", flat=True
            )
        )
        time.sleep(1)
    settle = time.monotonic() + 60
    while Run.objects.filter(id__in=started).exclude(status__in=TERMINAL).exists():
        if time.monotonic() > settle:
            break
        traffic.traffic_tick()
        time.sleep(1)
    for i, run_id in enumerate(started[:8]):
        keep(str(run_id), f"demo-traffic-{i}")


def test_a_map_whose_iteration_fails_compensates_the_others(worker, operator) -> None:
    spec = saga(
        task("reserve", "demo.inventory.reserve", [], "demo.inventory.release"),
        {
            "id": "lines",
            "type": "map",
            "after": ["reserve"],
            "items": "input.lines",
            "max_concurrency": 2,
            "do": {
                "type": "task",
                "action": {
                    "name": "demo.inventory.reserve",
                    "args": {"sku": "{{ item.sku }}", "fail": "{{ item.fail }}"},
                },
                "compensation": {"name": "demo.inventory.release"},
            },
        },
    )
    spec["input_schema"]["properties"]["lines"] = {"type": "array"}
    _, client = publish(spec, operator)
    lines = [{"sku": f"s{i}", "fail": "permanent" if i == 3 else ""} for i in range(5)]
    run_id = start(client, input={"order_id": "o-1", "lines": lines})["id"]
    assert wait_for(client, run_id, TERMINAL)["status"] == "compensated"
    keep(run_id, "map-iteration-fails-compensates")


def test_a_child_saga_compensated_with_its_parent(worker, operator) -> None:
    make_published(
        make_workflow("payment"),
        saga(task("charge", "demo.payments.charge", [], "demo.payments.refund")),
    )
    spec = saga(
        task("reserve", "demo.inventory.reserve", [], "demo.inventory.release"),
        {
            "id": "pay",
            "type": "subsaga",
            "after": ["reserve"],
            "action": {"workflow": "payment", "input": {"order_id": "{{ input.order_id }}"}},
        },
        task("ship", "demo.shipping.ship", ["pay"], fail="permanent"),
    )
    _, client = publish(spec, operator)
    run_id = start(client)["id"]
    assert wait_for(client, run_id, TERMINAL)["status"] == "compensated"
    keep(run_id, "subsaga-compensated-with-its-parent")

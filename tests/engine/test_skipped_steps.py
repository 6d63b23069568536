"""A skipped step, as the run's API says it: what was skipped (the step, or its
compensation), and the latency of its last attempt, not of the time it stood stuck
until someone skipped it. A real Celery worker process, PostgreSQL and Redis."""

from __future__ import annotations

import time

import pytest

from tests.sagas import publish, saga, start, task, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

#: How long each test's run stands stuck before the operator skips.
STUCK_S = 1.5


def step(run: dict, sid: str) -> dict:
    return next(s for s in run["steps"] if s["id"] == sid)


def skip(client, run_id: str, sid: str) -> dict:
    response = client.post(
        f"/api/runs/{run_id}/steps/{sid}/skip/", {"reason": "done by hand"}, format="json"
    )
    assert response.status_code == 200, response.json()
    return response.json()


def test_a_skipped_step_s_latency_is_its_attempt_s_not_the_time_it_stood_stuck(worker, operator):
    spec = saga(
        {**task("charge", "demo.payments.charge"), "pivot": True},
        task(
            "ship",
            "demo.shipping.ship",
            ["charge"],
            fail="permanent",
            latency_ms=100,
            retry={"max_attempts": 1},
        ),
        task("notify", "demo.noop", ["ship"]),
    )
    _, client = publish(spec, operator)
    run_id = start(client)["id"]
    stuck = wait_for(client, run_id, {"stuck"})
    attempt = step(stuck, "ship")["latency_ms"]
    assert attempt is not None and attempt < STUCK_S * 1000
    assert step(stuck, "ship")["skip"] is None
    time.sleep(STUCK_S)

    skip(client, run_id, "ship")
    done = wait_for(client, run_id, {"completed"})
    ship = step(done, "ship")
    assert ship["status"] == "skipped" and ship["skip"] == "step"
    assert ship["latency_ms"] == pytest.approx(attempt, abs=1)
    assert ship["finished_at"] > stuck["stuck_since"]  # it ended when it was skipped
    assert step(done, "notify")["skip"] is None


def test_a_step_whose_compensation_was_skipped_says_so(worker, operator):
    reserve = task(
        "reserve",
        "demo.inventory.reserve",
        comp="demo.inventory.release",
        retry={"max_attempts": 1},
    )
    reserve["compensation"]["args"]["fail"] = "permanent"
    spec = saga(
        reserve,
        task("charge", "demo.payments.charge", ["reserve"], fail="permanent"),
    )
    _, client = publish(spec, operator)
    run_id = start(client)["id"]
    stuck = wait_for(client, run_id, {"stuck"})
    assert step(stuck, "reserve")["status"] == "compensation_failed"
    time.sleep(STUCK_S)

    skip(client, run_id, "reserve")
    done = wait_for(client, run_id, {"compensated"})
    reserve_row = step(done, "reserve")
    assert reserve_row["status"] == "skipped" and reserve_row["skip"] == "compensation"
    # The step's own attempt, which succeeded, not the run from it until the skip.
    assert reserve_row["latency_ms"] is not None
    assert reserve_row["latency_ms"] < STUCK_S * 1000
    assert step(done, "charge")["skip"] is None

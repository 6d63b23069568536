"""A run's page read at a glance, on a laptop and a phone, as the issue "Stuck runs must
read at a glance" asks: each test is one thing a reader of the page relies on.

Chromium (headless) against uvicorn serving ``sagaboard.asgi``, a real Celery worker
process, PostgreSQL and Redis, as in test_live.py.
"""

from __future__ import annotations

import re
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from django.db.models import F
from playwright.sync_api import expect

from engine.models import Event, Run, StepRun
from tests import sagas
from tests.browser.conftest import PageErrors
from tests.browser.live_server import Live
from tests.engine.conftest import Worker
from tests.factories import UserFactory, grant, make_published, make_workflow
from tests.sagas import client_for, saga, start, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

# Three attempts, each failing: a run that is stuck at its third.
task = partial(sagas.task, retry={**sagas.RETRY, "max_attempts": 3})
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
STAMP = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}"


def publish(slug: str, spec: dict[str, Any]):
    workflow = make_workflow(slug)
    make_published(workflow, spec)
    return workflow


def age(run_id: str, by: timedelta) -> None:
    """Every time of the run moved back by ``by``: as if it had got stuck that long ago."""
    Run.objects.filter(pk=run_id).update(
        created_at=F("created_at") - by, stuck_since=F("stuck_since") - by
    )
    StepRun.objects.filter(run_id=run_id).update(
        started_at=F("started_at") - by, finished_at=F("finished_at") - by
    )
    Event.objects.filter(run_id=run_id).update(at=F("at") - by)


def stuck_for_18_minutes(attempts: int = 3) -> tuple[str, Any]:
    """A run of "orders" stuck after its pivot at "ship" (``attempts`` failed attempts) for
    18 minutes, "notify" after it; and an operator of it."""
    orders = publish(
        "orders",
        saga(
            {**task("charge", "demo.payments.charge", latency_ms=150), "pivot": True},
            task(
                "ship",
                "demo.shipping.ship",
                ["charge"],
                fail="retryable",
                latency_ms=200,
                retry={**sagas.RETRY, "max_attempts": attempts},
            ),
            task("notify", "demo.noop", ["ship"]),
        ),
    )
    olga = grant(
        UserFactory(username="olga"), orders, "view_workflow", "run_workflow", "operate_workflow"
    )
    client = client_for(olga)
    run_id = start(client, "orders", input={"order_id": "o-1", "amount": 12500})["id"]
    wait_for(client, run_id, {"stuck"})
    age(run_id, timedelta(minutes=18))
    return run_id, olga


# ----------------------------------------------------------------------------- tests


def test_a_stuck_run_s_head_says_stuck_since_when_and_at_which_step(
    live: Live, worker: Worker, page_errors: PageErrors
) -> None:
    run_id, olga = stuck_for_18_minutes()
    live.sign_in(olga)
    live.page.set_viewport_size(LAPTOP)
    live.open(f"/runs/{run_id}/")
    page = live.page

    tile = page.locator('[data-testid="run-stuck"]')
    expect(tile).to_be_visible()
    expect(tile.locator(".stat-label")).to_have_text("Stuck since")
    stuck_since = Run.objects.get(pk=run_id).stuck_since
    assert stuck_since is not None
    expect(tile.locator("time")).to_have_text(stuck_since.strftime("%Y-%m-%d %H:%M:%S"))
    expect(tile).to_contain_text(re.compile(r"for 18 min \d+ s, at step Ship ship"))
    expect(page.locator(".stats")).not_to_contain_text("Running for")
    assert page_errors == []

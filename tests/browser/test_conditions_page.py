"""A step not taken, on the run page: it says why, its condition's value or the branch it
was on. Chromium (headless) against uvicorn, a real Celery worker process, PostgreSQL and
Redis, as in test_live.py."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PageErrors
from tests.browser.live_server import Live
from tests.engine.conftest import Worker
from tests.factories import UserFactory, grant, make_published, make_workflow
from tests.sagas import client_for, saga, start, task, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_step_not_taken_says_why(live: Live, worker: Worker, page_errors: PageErrors) -> None:
    gate = {**task("check", "demo.noop", ["reserve"]), "when": "input.amount > 10000"}
    orders = make_workflow("orders")
    make_published(
        orders,
        saga(
            task("reserve", "demo.inventory.reserve"),
            gate,
            task("report", "demo.noop", ["check"]),  # on the gate's branch alone
            task("charge", "demo.payments.charge", ["reserve", "check"]),
        ),
    )
    olga = grant(UserFactory(username="olga"), orders, "view_workflow", "run_workflow")
    client = client_for(olga)
    run_id = start(client, "orders", input={"order_id": "o-1", "amount": 40})["id"]
    assert wait_for(client, run_id, {"completed"})["status"] == "completed"

    live.sign_in(olga)
    live.open(f"/runs/{run_id}/")
    page = live.page
    expect(page.locator('[data-not-taken="check"]')).to_have_text(
        "not taken: input.amount > 10000 was false"
    )
    expect(page.locator('[data-not-taken="report"]')).to_have_text(
        "not taken: no step before it ran"
    )
    expect(page.locator('[data-not-taken="charge"]')).to_have_count(0)
    assert page_errors == []

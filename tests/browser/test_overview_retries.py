"""A workflow's overview counts every attempt of a step, retries included, and says how
many were retried: a step that fails twice before it succeeds is three attempts, not one.

Chromium (headless) against uvicorn serving ``sagaboard.asgi``, a real Celery worker
process, PostgreSQL and Redis, as in test_live.py.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests import sagas
from tests.browser.conftest import PageErrors
from tests.browser.live_server import Live
from tests.engine.conftest import Worker
from tests.factories import UserFactory, grant, make_published, make_workflow
from tests.sagas import client_for, saga, start, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_overview_counts_retried_attempts_and_their_rate(
    live: Live, worker: Worker, page_errors: PageErrors
) -> None:
    orders = make_workflow("orders")
    make_published(
        orders,
        saga(
            sagas.task("charge", "demo.payments.charge"),
            sagas.task("ship", "demo.shipping.ship", ["charge"], fail_attempts=2),
        ),
    )
    vera = grant(UserFactory(username="vera"), orders, "view_workflow", "run_workflow")
    client = client_for(vera)
    run = wait_for(client, start(client, "orders")["id"], {"completed"})
    assert [s["attempts"] for s in run["steps"]] == [1, 3]
    live.sign_in(vera)
    live.open("/workflows/orders/overview/")
    page = live.page

    ship = page.locator('.latency-table tr[data-step="ship"]')
    expect(ship.locator('[data-col="attempts"]')).to_have_text("3")
    expect(ship.locator('[data-col="retried"]')).to_have_text("2 (67%)")
    expect(ship.locator('[data-col="failed"]')).to_have_text("0")
    charge = page.locator('.latency-table tr[data-step="charge"]')
    expect(charge.locator('[data-col="attempts"]')).to_have_text("1")
    expect(charge.locator('[data-col="retried"]')).to_have_text("0")
    expect(page.locator('[data-testid="retried-total"]')).to_have_text(
        "4 attempts, 2 retried (50%)"
    )
    assert page_errors == []

"""A child saga on the run pages: the parent's step links to its child run, and the child's
page names its parent, for whoever may see the parent. Chromium (headless) against
uvicorn, a real Celery worker process, PostgreSQL and Redis, as in test_live.py."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from engine.models import Run
from tests.browser.conftest import PageErrors
from tests.browser.live_server import Live
from tests.engine.conftest import Worker
from tests.factories import UserFactory, grant, make_published, make_workflow
from tests.sagas import client_for, saga, start, task, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_parent_links_its_child_run_and_the_child_names_its_parent(
    live: Live, worker: Worker, page_errors: PageErrors
) -> None:
    make_published(make_workflow("payment"), saga(task("charge", "demo.payments.charge")))
    orders = make_workflow("orders")
    pay = {
        "id": "pay",
        "name": "Pay",
        "type": "subsaga",
        "action": {"workflow": "payment", "input": {"order_id": "{{ input.order_id }}"}},
    }
    make_published(orders, saga(pay))
    # Olga may see the orders, not the payments: she sees the child through its parent.
    olga = grant(UserFactory(username="olga"), orders, "view_workflow", "run_workflow")
    run_id = start(client_for(olga), "orders")["id"]
    wait_for(client_for(olga), run_id, {"completed"})
    child = Run.objects.get(parent_run_id=run_id)

    live.sign_in(olga)
    live.open(f"/runs/{run_id}/")
    link = live.page.locator(f'.steps-table tr[data-step="pay"] [data-child="{child.pk}"]')
    expect(link).to_contain_text("child run")
    expect(link).to_contain_text("payment")
    expect(link).to_contain_text("completed")
    link.get_by_role("link").click()
    live.page.wait_for_url(f"**/runs/{child.pk}/")
    parent = live.page.locator(f'[data-parent="{run_id}"]')
    expect(parent).to_contain_text("A child run, started by step pay of run")
    expect(parent.get_by_role("link")).to_have_attribute("href", f"/runs/{run_id}/")
    assert page_errors == []

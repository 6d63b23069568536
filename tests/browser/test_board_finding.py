"""Finding runs on the board: the search filters (a workflow's search attributes, Find,
step, error) kept in the address, a refused filter said by its field, the runs' search
attributes as columns, and saved views listed, saved, opened by their link and deleted,
with the keyboard; axe-core at a laptop's and a phone's width.

Chromium (headless) against uvicorn, a real Celery worker process, PostgreSQL and Redis,
as in test_live.py. Set SAGABOARD_SCREENSHOTS to a folder to keep the board as seen.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, Page, expect

from engine import services
from engine.models import SavedView
from tests.browser.conftest import PageErrors
from tests.browser.live_server import SLOW, AsgiServer, Live
from tests.browser.test_accessibility import FAILING, WIDTHS, axe
from tests.engine.conftest import Worker
from tests.factories import UserFactory, grant, make_published, make_workflow
from tests.sagas import saga, task

pytestmark = pytest.mark.django_db(transaction=True)

SHOTS = os.environ.get("SAGABOARD_SCREENSHOTS")
ROWS = 'table[data-testid="runs"] tbody tr'
SEARCH = {"order_id": "{{ input.order_id }}", "customer": "{{ input.email }}"}


def world() -> tuple[User, dict[str, str]]:
    """Olga sees "orders" (searched by order_id and customer) and "trips" (no attributes),
    with two runs of the one and one of the other; and "payments", which she may not see."""
    orders = make_workflow("orders")
    make_published(orders, saga(task("reserve", "demo.noop"), search=SEARCH))
    trips = make_workflow("trips")
    make_published(trips, saga(task("book", "demo.noop")))
    payments = make_workflow("payments")
    make_published(payments, saga(task("charge", "demo.noop"), search=SEARCH))
    olga = grant(UserFactory(username="olga"), orders, "view_workflow", "run_workflow")
    grant(olga, trips, "view_workflow", "run_workflow")
    runs: dict[str, str] = {}
    for workflow, order, email in [
        (orders, "ORD-100", "ann@example.com"),
        (orders, "ORD-200", "bob@example.com"),
        (trips, "TRIP-1", ""),
        (payments, "ORD-100", "bob@example.com"),
    ]:
        data: dict[str, Any] = {"order_id": order} | ({"email": email} if email else {})
        run, _ = services.run_start(workflow=workflow, by=orders.created_by, input=data)
        runs[f"{workflow.slug}:{order}"] = str(run.pk)
    return olga, runs


def shown(page: Page) -> list[str]:
    return page.locator(ROWS).evaluate_all("rows => rows.map(r => r.dataset.run)")


def query_of(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


def test_filters_by_attribute_and_find_are_links_and_a_refused_one_is_said_by_its_field(
    live: Live, worker: Worker, page_errors: PageErrors
) -> None:
    olga, runs = world()
    live.sign_in(olga)
    page = live.page
    live.open("/runs/")
    # Every workflow she sees: the attributes in one column, as "name: value".
    expect(page.locator(ROWS)).to_have_count(3)
    expect(page.locator('table[data-testid="runs"] thead')).to_contain_text("Search attributes")
    ann = page.locator(f'{ROWS}[data-run="{runs["orders:ORD-100"]}"]')
    expect(ann.locator(".search-list")).to_contain_text("customer: ann@example.com")
    expect(ann.locator(".search-list")).to_contain_text("order_id: ORD-100")
    # No attribute inputs until one workflow is chosen.
    expect(page.locator('input[name^="attr."]')).to_have_count(0)

    # One workflow: an input and a column for each of its attributes.
    page.locator("#f-workflow").select_option("orders")
    page.wait_for_url("**/runs/?workflow=orders")
    expect(page.locator(ROWS)).to_have_count(2)
    expect(page.get_by_label("customer")).to_be_visible()
    expect(page.get_by_label("order_id")).to_be_visible()
    headers = page.locator('table[data-testid="runs"] thead th[data-attr]')
    expect(headers).to_have_text(["customer", "order_id"])

    # By an attribute, with the keyboard: the address says it, so it is a link.
    page.get_by_label("customer").fill("bob@example.com")
    page.get_by_label("customer").press("Enter")
    page.wait_for_url(re.compile(r"attr\.customer=bob%40example\.com"))
    assert query_of(page) == {"workflow": ["orders"], "attr.customer": ["bob@example.com"]}
    expect(page.locator(ROWS)).to_have_count(1)
    assert shown(page) == [runs["orders:ORD-200"]]
    bob = page.locator(f'{ROWS}[data-run="{runs["orders:ORD-200"]}"]')
    expect(bob.locator('td[data-attr="customer"]')).to_have_text("bob@example.com")
    expect(bob.locator('td[data-attr="order_id"]')).to_have_text("ORD-200")
    shot(page, "board-finding-1280")
    # The link, opened afresh, is the same board.
    live.open(urlsplit(page.url).path + "?" + urlsplit(page.url).query)
    expect(page.get_by_label("customer")).to_have_value("bob@example.com")
    assert shown(page) == [runs["orders:ORD-200"]]

    # Find, over every workflow she sees: never the payments run of the same order.
    page.get_by_role("link", name="Clear").click()
    page.wait_for_url("**/runs/")
    page.get_by_label("Find").fill("ORD-100")
    page.get_by_label("Find").press("Enter")
    page.wait_for_url("**/runs/?q=ORD-100")
    expect(page.locator(ROWS)).to_have_count(1)
    assert shown(page) == [runs["orders:ORD-100"]]

    # A step id no step can have: said by the step field, and the board is not blank.
    live.open("/runs/?step=no+such+step")
    step = page.get_by_label("Failing at step")
    expect(step).to_have_value("no such step")
    expect(step).to_have_attribute("aria-invalid", "true")
    error = page.locator("#f-step-error")
    expect(error).to_have_text("not a step id")
    assert step.get_attribute("aria-describedby") == "f-step-error"
    expect(page.locator("#filters-problem")).to_contain_text("The filters were not applied")
    expect(page.locator(ROWS)).to_have_count(3)
    # Nor a view made of them.
    expect(page.locator(".view-save")).to_contain_text("Fix the filters above")
    # Words of an error need a word.
    live.open("/runs/?error=%21%21")
    expect(page.locator("#f-error-error")).to_have_text("give words of the error")
    refused = [
        e
        for e in page_errors
        if not re.search(r"GET \S+/runs/\?\S+: 400$|status of 400 \(Bad Request\)", e)
    ]
    assert refused == []


def test_save_a_view_see_it_listed_open_it_by_its_link_and_delete_it(
    live: Live, worker: Worker, page_errors: PageErrors
) -> None:
    olga, runs = world()
    mine = SavedView.objects.create(owner=olga, name="All trips", filter={"workflow": "trips"})
    live.sign_in(olga)
    page = live.page
    live.open("/runs/?workflow=orders&attr.customer=bob%40example.com")
    views = page.locator(".views-list li")
    expect(views).to_have_count(1)
    expect(views.first).to_contain_text("All trips")
    expect(views.first.locator(".badge")).to_have_text("private")

    # Saved from the keyboard, shared: listed, and the focus on its link.
    page.get_by_label("Name", exact=True).fill("Bob's orders")
    page.get_by_label("Share with everyone who may see its workflows").check()
    page.get_by_label("Name", exact=True).press("Enter")
    saved = page.locator(".view-item", has_text="Bob's orders")
    expect(saved).to_be_visible()
    expect(saved.locator(".badge")).to_have_text("shared by olga")
    expect(saved.get_by_role("link", name="Bob's orders")).to_be_focused()
    expect(page.get_by_role("status").filter(has_text="Saved the view")).to_be_attached()
    expect(views).to_have_count(2)
    expect(page.get_by_label("Name", exact=True)).to_have_value("")
    view = SavedView.objects.get(name="Bob's orders")
    assert view.shared and view.filter == {"workflow": "orders", "attr.customer": "bob@example.com"}

    # The same name again: refused by the name field, which gets the focus.
    page.get_by_label("Name", exact=True).fill("Bob's orders")
    page.get_by_role("button", name="Save view").click()
    name_error = page.locator("#view-name-error")
    expect(name_error).to_contain_text("you have a view called")
    expect(page.get_by_label("Name", exact=True)).to_be_focused()
    expect(page.get_by_label("Name", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(views).to_have_count(2)

    # Opened by its link: the board it keeps.
    page.get_by_role("link", name="All trips").click()
    page.wait_for_url("**/runs/?workflow=trips")
    expect(page.locator(ROWS)).to_have_count(1)
    assert shown(page) == [runs["trips:TRIP-1"]]
    saved.get_by_role("link").click()
    page.wait_for_url(re.compile(r"/runs/\?attr\.customer=bob%40example\.com&workflow=orders$"))
    assert shown(page) == [runs["orders:ORD-200"]]
    expect(saved.get_by_role("link")).to_have_attribute("aria-current", "page")

    # Deleted with a confirmation: Escape keeps it, Delete deletes it.
    delete = page.get_by_role("button", name="Delete the view Bob's orders")
    delete.focus()
    page.keyboard.press("Enter")
    keep = saved.get_by_role("button", name="Keep")
    expect(keep).to_be_focused()
    page.keyboard.press("Escape")
    expect(delete).to_be_focused()
    assert SavedView.objects.filter(pk=view.pk).exists()
    page.keyboard.press("Enter")
    saved.get_by_role("button", name="Delete", exact=True).click()
    expect(saved).to_have_count(0)
    expect(page.get_by_role("status").filter(has_text="Deleted the view")).to_be_attached()
    # The focus goes to the view that took its place.
    expect(page.get_by_role("link", name="All trips")).to_be_focused()
    assert not SavedView.objects.filter(pk=view.pk).exists()

    # The last one: the focus goes to the list's heading.
    page.get_by_role("button", name="Delete the view All trips").click()
    page.get_by_role("button", name="Delete", exact=True).click()
    expect(page.locator("#views-title")).to_be_focused()
    expect(page.locator(".views-card")).to_contain_text("No saved views yet")
    assert not SavedView.objects.filter(pk=mine.pk).exists()
    # Only the refused name, answered 400 (and reported so by the browser).
    assert len(page_errors) == 2 and "/api/views/: 400" in page_errors[0], page_errors


@pytest.mark.parametrize("width", list(WIDTHS))
def test_the_board_with_its_filters_and_views_passes_axe_and_fits(
    browser: Browser, asgi_server: AsgiServer, worker: Worker, width: str
) -> None:
    olga, _ = world()
    SavedView.objects.create(
        owner=olga, name="Bob's orders", filter={"workflow": "orders"}, shared=True
    )
    # The CSP would refuse the injected axe-core.
    context = browser.new_context(viewport=WIDTHS[width], bypass_csp=True)
    context.set_default_timeout(SLOW)
    live = Live(context.new_page(), asgi_server.url)
    live.sign_in(olga)
    page = live.page
    found: list[dict[str, Any]] = []
    for path, name in [
        ("/runs/", "all"),
        ("/runs/?workflow=orders&attr.customer=bob%40example.com", "orders"),
        ("/runs/?workflow=orders&step=no+such+step", "refused"),
    ]:
        live.open(path)
        expect(page.locator(".views-list li")).to_have_count(1)
        if name != "refused":
            expect(page.locator(ROWS).first).to_be_visible()
        page.wait_for_timeout(300)
        found += [v for v in axe(page) if v["impact"] in FAILING]
        shot(page, f"board-{name}-{WIDTHS[width]['width']}")
        # As wide as the screen, whatever the runs' attributes hold.
        assert page.evaluate("document.documentElement.scrollWidth") <= WIDTHS[width]["width"]
    # The confirmation of a delete, too.
    page.get_by_role("button", name="Delete the view Bob's orders").click()
    expect(page.get_by_role("button", name="Keep")).to_be_focused()
    found += [v for v in axe(page) if v["impact"] in FAILING]
    context.close()
    assert found == [], found


def test_the_run_page_says_what_finds_the_run_and_links_to_those_runs(
    live: Live, worker: Worker, page_errors: PageErrors
) -> None:
    olga, runs = world()
    live.sign_in(olga)
    page = live.page
    live.open(f"/runs/{runs['orders:ORD-200']}/")
    found = page.get_by_test_id("run-search")
    expect(found).to_contain_text("Found by")
    expect(found.locator("dt")).to_have_text(["customer", "order_id"])
    expect(found.locator("dd")).to_have_text(["bob@example.com", "ORD-200"])
    # Each value is the board of the runs of this workflow that share it.
    found.get_by_role("link", name="ORD-200").click()
    page.wait_for_url(re.compile(r"/runs/\?"))
    assert query_of(page) == {"workflow": ["orders"], "attr.order_id": ["ORD-200"]}
    assert shown(page) == [runs["orders:ORD-200"]]
    # A run whose workflow declares no search attributes has no such tile.
    live.open(f"/runs/{runs['trips:TRIP-1']}/")
    expect(page.get_by_test_id("run-steps")).to_be_visible()
    expect(page.get_by_test_id("run-search")).to_have_count(0)

"""The audit log page: a viewer of one workflow sees its acts (and no other workflow's),
links to the run and the version, narrows the list with the filters using the keyboard
alone, loads more, exports what the filters match, and the page passes axe-core and fits
a phone's width.

Chromium (headless) against pytest-django's live server, as in test_designer.py. Set
SAGABOARD_SCREENSHOTS to a folder to keep the page as seen at each width.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, Page, expect

from designer.audit import record
from tests.browser.conftest import PASSWORD, PageErrors
from tests.browser.test_accessibility import FAILING, axe
from tests.factories import UserFactory, grant, make_published, make_workflow

pytestmark = pytest.mark.django_db(transaction=True)

SPEC = {
    "format": "sagaboard/v1",
    "steps": [{"id": "wait", "name": "Wait", "type": "delay", "action": {"seconds": 1}}],
}
RUN = "5b0c8e1e-0d7a-4f0e-9a31-5a1f6c2d9e01"
SHOTS = os.environ.get("SAGABOARD_SCREENSHOTS")


def world() -> User:
    """ "orders" published (its submit, review and publish are entries), a retry and a skip
    on one of its runs, and a cancel on "payments", which the viewer may not see."""
    orders = make_workflow("orders")
    make_published(orders, SPEC)
    olga = UserFactory(username="olga")
    record(
        act="act.retry",
        by=olga,
        workflow=orders,
        run=RUN,
        reason="shipping is back",
        detail={"step": "ship"},
    )
    record(
        act="act.skip",
        by=olga,
        workflow=orders,
        run=RUN,
        reason="packed by hand",
        detail={"step": "pack", "index": 2},
    )
    record(act="act.cancel", by=None, workflow=make_workflow("payments"), reason="secret")
    return grant(UserFactory(username="vera"), orders, "view_workflow")


def rows(page: Page):
    return page.locator('[data-testid="audit"] tbody tr')


@pytest.mark.parametrize("width", [1280, 390])
def test_a_viewer_lists_the_acts_and_filters_them_with_the_keyboard(
    page: Page,
    live_server,
    sign_in: Callable[[User | str], Page],
    page_errors: PageErrors,
    width: int,
) -> None:
    vera = world()
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(vera)
    page.get_by_role("link", name="Audit log").click()
    page.wait_for_url("**/audit/")
    expect(rows(page)).to_have_count(5)
    expect(rows(page).first).to_contain_text("act.skip")
    expect(rows(page).first).to_contain_text("packed by hand")
    expect(rows(page).first).to_contain_text("step pack, item 2")
    expect(page.locator("#audit-root")).not_to_contain_text("secret")
    run_link = rows(page).first.get_by_role("link", name=f"run {RUN[:8]}")
    expect(run_link).to_have_attribute("href", f"/runs/{RUN}/")
    publish = page.locator('tr[data-act="version.publish"]')
    expect(publish.get_by_role("link", name="v1")).to_have_attribute(
        "href", "/workflows/orders/versions/1/"
    )
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{SHOTS}/audit-{width}.png", full_page=True)
    # As wide as the screen, whatever it holds.
    assert page.evaluate("document.documentElement.scrollWidth") <= width

    # The act filter, by keyboard: focus it, pick act.retry, Tab on to Apply, Enter.
    page.locator("#f-act").focus()
    page.locator("#f-act").select_option("act.retry")
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Apply":
            break
    page.keyboard.press("Enter")
    page.wait_for_url("**/audit/?act=act.retry")
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text("shipping is back")
    expect(page.locator("#f-act")).to_have_value("act.retry")
    expect(page.get_by_role("link", name="Export CSV")).to_have_attribute(
        "href", "/api/audit/csv/?act=act.retry"
    )

    # The export holds what the filters match.
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    lines = Path(download.value.path()).read_text().splitlines()
    assert len(lines) == 2 and lines[0].startswith("at,actor,act,")
    assert ",olga,act.retry,orders," in lines[1] and "shipping is back" in lines[1]

    page.fill("#f-actor", "nobody")
    page.locator("#f-actor").press("Enter")
    expect(page.locator("#audit-root")).to_contain_text("No entries match these filters.")
    assert page_errors == []


def test_load_more_adds_the_next_page_and_moves_the_focus_to_it(
    page: Page, live_server, sign_in: Callable[[User | str], Page], page_errors: PageErrors
) -> None:
    orders = make_workflow("orders")
    for n in range(55):
        record(act="act.cancel", by=orders.created_by, workflow=orders, reason=f"reason {n}")
    sign_in(orders.created_by)
    page.goto(f"{live_server.url}/audit/")
    expect(rows(page)).to_have_count(50)
    page.get_by_role("button", name="Load more").click()
    expect(rows(page)).to_have_count(55)
    expect(rows(page).nth(50)).to_be_focused()
    expect(rows(page).nth(54)).to_contain_text("reason 0")
    expect(page.get_by_role("status").filter(has_text="5 more entries shown.")).to_be_attached()
    expect(page.get_by_role("button", name="Load more")).to_have_count(0)
    expect(page.locator("#audit-root")).to_contain_text("That is every entry.")
    assert page_errors == []


@pytest.mark.parametrize("width", [1280, 390])
def test_the_page_passes_axe(browser: Browser, live_server, width: int) -> None:
    vera = world()
    context = browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=True)
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/login/?next=/audit/")
        page.fill("#id_username", vera.get_username())
        page.fill("#id_password", PASSWORD)
        page.click("form.form button[type=submit]")
        expect(rows(page)).to_have_count(5)
        found = [v for v in axe(page) if v["impact"] in FAILING]
        assert found == [], found
    finally:
        context.close()

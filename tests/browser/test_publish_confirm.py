"""Publishing from a version's page asks first, naming the version it retires, and is
done with the keyboard alone: Tab to "Publish…", Enter, and Enter again on the question,
whose button has the focus; "Back" leaves everything as it was.

Chromium (headless) against pytest-django's live server, as in test_designer.py.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from designer import services
from designer.models import Version, VersionStatus
from tests.browser.conftest import PageErrors
from tests.factories import UserFactory, grant, make_published, make_workflow

pytestmark = pytest.mark.django_db(transaction=True)

SPEC = {
    "format": "sagaboard/v1",
    "steps": [{"id": "wait", "name": "Wait", "type": "delay", "action": {"seconds": 1}}],
}


def tab_to(page: Page, name: str, most: int = 40) -> None:
    """Tab until the link or button named ``name`` has the focus."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == name:
            return
    raise AssertionError(f"{name!r} was not reached with Tab")


@pytest.mark.parametrize("width", [1280, 390])
def test_a_publisher_confirms_with_the_keyboard_what_publishing_retires(
    page: Page,
    live_server,
    sign_in: Callable[[User | str], Page],
    page_errors: PageErrors,
    width: int,
) -> None:
    orders = make_workflow("orders")
    make_published(orders, SPEC)
    author = orders.created_by
    draft, _ = services.version_create(workflow=orders, by=author, spec=SPEC)
    services.version_submit(version=draft, by=author)
    reviewer = grant(UserFactory(username="rosa"), orders, "view_workflow", "review_workflow")
    services.version_review(version=draft, by=reviewer, decision="approve")
    pia = grant(UserFactory(username="pia"), orders, "view_workflow", "publish_workflow")
    page.set_viewport_size({"width": width, "height": 800})
    sign_in(pia)
    page.goto(f"{live_server.url}/workflows/orders/versions/2/")

    # Back first: nothing is published.
    tab_to(page, "Publish…")
    page.keyboard.press("Enter")
    page.wait_for_url("**/versions/2/publish/")
    dialog = page.locator(".confirm-publish")
    expect(dialog.locator("h1")).to_have_text("Publish version 2?")
    expect(dialog.locator(".confirm-retires")).to_have_text(
        "Version 1, published now, will be retired."
    )
    dialog.get_by_role("link", name="Back").click()
    page.wait_for_url("**/versions/2/")
    assert Version.objects.get(workflow=orders, number=2).status == VersionStatus.APPROVED

    tab_to(page, "Publish…")
    page.keyboard.press("Enter")
    page.wait_for_url("**/versions/2/publish/")
    publish = page.get_by_role("button", name="Publish version 2")
    expect(publish).to_be_focused()
    box, card = publish.bounding_box(), dialog.bounding_box()
    assert box is not None and card is not None
    assert box["x"] + box["width"] <= card["x"] + card["width"]
    page.keyboard.press("Enter")
    page.wait_for_url("**/versions/2/")
    expect(page.locator(".messages")).to_contain_text("Version 2 published.")
    statuses = dict(Version.objects.filter(workflow=orders).values_list("number", "status"))
    assert statuses == {1: VersionStatus.RETIRED, 2: VersionStatus.PUBLISHED}
    assert page_errors == []

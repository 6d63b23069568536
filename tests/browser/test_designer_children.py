"""Child sagas in the designer: one from the palette runs another published workflow,
picked with the keyboard, its input written with templates, saved as a draft the server
accepts; a workflow that would call this one back is refused under the field."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from designer.models import Version, Workflow
from tests.browser import test_designer_branches as branches
from tests.browser.conftest import PageErrors
from tests.browser.test_designer_branches import assert_accessible, open_designer, shots
from tests.factories import UserFactory, make_published, make_workflow

pytestmark = pytest.mark.django_db(transaction=True)

#: The branches tests' page, which lets axe-core in (the CSP would refuse it): sign_in
#: signs in on it.
page = branches.page

ORDERS: dict[str, Any] = {
    "format": "sagaboard/v1",
    "steps": [
        {
            "id": "reserve",
            "type": "task",
            "action": {"name": "demo.inventory.reserve"},
            "compensation": {"name": "demo.inventory.release"},
        },
    ],
}

PLAIN: dict[str, Any] = {
    "format": "sagaboard/v1",
    "steps": [{"id": "charge", "type": "task", "action": {"name": "demo.noop"}}],
}

#: payment's published version, in the cycle test: it runs orders as a child saga.
CALLS_ORDERS: dict[str, Any] = {
    "format": "sagaboard/v1",
    "steps": [
        {"id": "back", "type": "subsaga", "action": {"workflow": "orders", "input": {}}},
    ],
}


@pytest.fixture
def author() -> Any:
    return UserFactory(username="ada")


def workflow(author: Any, slug: str, spec: dict[str, Any] | None, name: str = "") -> Workflow:
    """A workflow of ``author``'s, published with ``spec`` unless that is None."""
    made = make_workflow(slug, owner=author)
    if name:
        # No service renames a workflow; its name is only shown.
        Workflow.objects.filter(pk=made.pk).update(name=name)
    if spec is not None:
        make_published(made, spec)
    return made


def add_child(page: Page) -> tuple[Locator, Locator]:
    """A child saga from the palette: its box, and its panel's workflow field."""
    page.locator('.palette-item[data-type="subsaga"]').click()
    node = page.locator('.react-flow__node[data-id="subsaga"]')
    expect(node).to_be_visible()
    panel = page.locator('.designer-panel [data-panel="step"][data-step="subsaga"]')
    expect(panel).to_be_visible()
    return node, panel.locator('[data-field="action.workflow"]')


def lay_out(page: Page) -> None:
    """Auto-layout and fit: the new box, put at the canvas's centre, moves off the one under it."""
    page.get_by_role("button", name="Auto-layout").click()
    expect(page.locator(".designer")).to_have_attribute("data-layouts", "2")
    page.get_by_role("button", name="Fit", exact=True).click()
    page.wait_for_timeout(400)  # the fit's animation, for the screenshots


def test_a_child_saga_from_the_palette_runs_a_published_workflow_picked_with_the_keyboard(
    sign_in: Any, live_server: Any, author: Any, page_errors: PageErrors
) -> None:
    orders = workflow(author, "orders", ORDERS)
    workflow(author, "billing", PLAIN)
    workflow(author, "payment", PLAIN, name="Card payment")
    workflow(author, "refunds", None)  # no published version: nothing to run
    page = sign_in(author)
    canvas = open_designer(page, live_server.url)
    node, field = add_child(page)

    # A valid skeleton: the first published workflow but this one, and an empty input.
    choice = canvas.panel.get_by_label("Workflow", exact=True)
    expect(choice).to_have_value("billing")
    expect(choice.locator("option")).to_have_text(["Billing (billing)", "Card payment (payment)"])
    expect(canvas.panel.get_by_label("Input (JSON object)")).to_have_value("{}")
    canvas.expect_valid()
    expect(node.locator(".step-summary").first).to_have_text("runs billing")

    # The keyboard picks: arrow keys move a closed select from one workflow to the next.
    choice.focus()
    page.keyboard.press("ArrowDown")
    expect(choice).to_have_value("payment")
    expect(choice).to_be_focused()
    expect(field).to_contain_text("Runs its published version, v1, as a child run")
    link = field.get_by_role("link", name=re.compile("^Open workflow"))
    expect(link).to_have_attribute("href", "/workflows/payment/")
    canvas.panel.get_by_label("Input (JSON object)").fill('{"amount": "{{ input.amount }}"}')
    # Only starting the child has a deadline; the wait for it has none.
    canvas.panel.get_by_label("Time to start it (s)").fill("30")
    canvas.panel.get_by_label("Add a step it runs after").select_option("reserve")
    canvas.field("after").get_by_role("button", name="Add").click()
    expect(node.locator(".step-summary").first).to_have_text("runs payment")
    expect(node.locator(".step-child")).to_have_text("↳Card payment")
    canvas.expect_valid()
    lay_out(page)
    shots(page, "children-panel", field)
    assert_accessible(page)

    page.get_by_role("button", name="Save as draft").click()
    expect(page).to_have_url(re.compile(r"/workflows/orders/versions/2/designer/$"))
    expect(canvas.root).to_have_attribute("data-dirty", "false")
    canvas.expect_valid()
    expect(page.locator(".step-issue")).to_have_count(0)
    saved = {s["id"]: s for s in Version.objects.get(workflow=orders, number=2).spec["steps"]}
    assert saved["subsaga"] == {
        "id": "subsaga",
        "name": "New child saga",
        "type": "subsaga",
        "after": ["reserve"],
        "action": {"workflow": "payment", "input": {"amount": "{{ input.amount }}"}},
        "timeout_s": 30,
    }
    # Opened again, the box still names the workflow it runs.
    page.reload()
    expect(canvas.node("subsaga").locator(".step-summary").first).to_have_text("runs payment")
    expect(canvas.node("subsaga").locator(".step-child")).to_have_text("↳Card payment")
    assert page_errors == []


def test_a_workflow_that_would_call_this_one_back_is_refused_under_the_field(
    sign_in: Any, live_server: Any, author: Any, page_errors: PageErrors
) -> None:
    workflow(author, "orders", ORDERS)
    workflow(author, "billing", PLAIN)
    workflow(author, "payment", CALLS_ORDERS)
    page = sign_in(author)
    canvas = open_designer(page, live_server.url)
    node, field = add_child(page)
    choice = canvas.panel.get_by_label("Workflow", exact=True)
    expect(choice).to_have_value("billing")
    canvas.expect_valid()

    choice.focus()
    page.keyboard.press("ArrowDown")
    expect(choice).to_have_value("payment")
    expect(canvas.root).to_have_attribute("data-validation", "invalid")
    expect(field.locator(".field-issue")).to_have_text(
        "workflows call each other in a cycle: orders -> payment -> orders"
    )
    expect(choice).to_have_attribute("aria-invalid", "true")
    expect(node.locator(".step-issue")).to_contain_text("action.workflow")
    expect(page.get_by_role("button", name="Save as draft")).to_be_disabled()
    lay_out(page)
    shots(page, "children-cycle", field)
    assert_accessible(page)

    # Back to one that does not call it: accepted again.
    choice.focus()
    page.keyboard.press("ArrowUp")
    expect(choice).to_have_value("billing")
    canvas.expect_valid()
    expect(field.locator(".field-issue")).to_have_count(0)
    assert page_errors == []


def test_with_no_other_workflow_published_the_field_is_empty_and_says_why(
    sign_in: Any, live_server: Any, author: Any, page_errors: PageErrors
) -> None:
    workflow(author, "orders", ORDERS)
    workflow(author, "refunds", None)
    page = sign_in(author)
    canvas = open_designer(page, live_server.url)
    node, field = add_child(page)
    expect(canvas.panel.get_by_label("Workflow", exact=True)).to_have_value("")
    expect(field).to_contain_text("No other workflow you may see has a published version yet")
    expect(canvas.root).to_have_attribute("data-validation", "invalid")
    expect(field.locator(".field-issue.is-error")).to_have_count(1)
    expect(node.locator(".step-summary").first).to_have_text("no workflow yet")
    expect(field.get_by_role("link")).to_have_count(0)
    assert page_errors == []

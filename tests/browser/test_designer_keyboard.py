"""The designer without a mouse, seen whole at fit zoom, and on a phone."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from designer.models import Workflow
from tests.browser.conftest import PageErrors
from tests.browser.test_designer import SHOTS, Canvas, shot
from tests.factories import GroupFactory, UserFactory, make_published, make_workflow

pytestmark = pytest.mark.django_db(transaction=True)

#: What a step's name must measure on screen, px, at the zoom Fit chooses.
READABLE_PX = 11


@pytest.fixture
def author() -> Any:
    return UserFactory(username="ada")


@pytest.fixture
def workflow(author: Any) -> Workflow:
    """Orders, with v1 published: reserve (compensated) -> wait -> ship (pivot)."""
    GroupFactory(name="managers")
    workflow = make_workflow("orders", owner=author)
    make_published(workflow)
    return workflow


def chain(length: int) -> dict[str, Any]:
    """A spec of ``length`` no-op tasks, each after the one before: the widest graph."""
    steps = [
        {
            "id": f"step_{i}",
            "name": f"Step number {i}",
            "type": "task",
            "after": [f"step_{i - 1}"] if i else [],
            "action": {"name": "demo.noop", "args": {}},
        }
        for i in range(length)
    ]
    return {"format": "sagaboard/v1", "steps": steps}


def name_px(page: Page) -> list[float]:
    """The on-screen height of the font of each step's name drawn on the canvas, px."""
    return page.locator(".react-flow__node :is(.step-name, .step-far-name)").evaluate_all(
        """names => names.map(e => parseFloat(getComputedStyle(e).fontSize)
                                   * e.getBoundingClientRect().height / e.offsetHeight)"""
    )


def test_a_dependency_is_added_and_removed_with_the_keyboard_alone(
    sign_in: Any, live_server: Any, author: Any, workflow: Workflow, page_errors: PageErrors
) -> None:
    page = sign_in(author)
    page.goto(f"{live_server.url}/workflows/orders/designer/")
    canvas = Canvas(page)
    expect(canvas.root).to_have_attribute("data-layouts", "1")
    expect(page.locator(".react-flow__edge")).to_have_count(2)
    canvas.select("ship")
    after = canvas.field("after")
    expect(after.locator(".after-chip")).to_have_text(["wait×"])

    # The picker offers the steps "ship" may follow: not itself, not "wait" (there already).
    picker = after.get_by_label("Add a step it runs after")
    options = picker.locator("option:not([value=''])")
    expect(options).to_have_text(["Reserve stock (reserve)"])
    picker.focus()
    page.keyboard.press("ArrowDown")  # choosing is not adding: arrows only browse
    expect(after.locator(".after-chip")).to_have_count(1)
    page.keyboard.press("Tab")
    add = after.get_by_role("button", name="Add")
    expect(add).to_be_focused()
    page.keyboard.press("Enter")
    expect(after.locator(".after-chip")).to_have_text(["wait×", "reserve×"])
    expect(page.locator('.react-flow__edge[data-id="reserve->ship"]')).to_have_count(1)
    expect(options).to_have_count(0)
    canvas.expect_valid()
    shot(page, "designer-after-added")

    # A step that runs after "ship" is never offered: it would make a cycle.
    canvas.select("reserve")
    reserve_options = canvas.field("after").locator("select option:not([value=''])")
    expect(reserve_options).to_have_count(0)
    expect(canvas.field("after")).to_contain_text("No other step can come before it")

    # Removing one is a button in the chip, reached with Tab.
    canvas.select("ship")
    remove = canvas.field("after").get_by_role("button", name="Remove reserve from after")
    remove.focus()
    page.keyboard.press("Enter")
    expect(canvas.field("after").locator(".after-chip")).to_have_text(["wait×"])
    expect(page.locator('.react-flow__edge[data-id="reserve->ship"]')).to_have_count(0)
    page.keyboard.press("Control+z")
    expect(page.locator('.react-flow__edge[data-id="reserve->ship"]')).to_have_count(1)
    assert page_errors == []


@pytest.mark.parametrize("length", [10, 20])
def test_fit_keeps_the_step_names_readable(
    sign_in: Any,
    live_server: Any,
    author: Any,
    workflow: Workflow,
    page_errors: PageErrors,
    length: int,
) -> None:
    from designer import services

    draft, _ = services.version_create(workflow=workflow, by=author, spec=chain(length))
    page = sign_in(author)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}/workflows/orders/versions/{draft.number}/designer/")
    canvas = Canvas(page)
    expect(canvas.root).to_have_attribute("data-layouts", "1")
    expect(page.locator(".react-flow__node")).to_have_count(length)
    page.wait_for_timeout(300)
    shot(page, f"designer-fit-{length}-opened")
    sizes = name_px(page)
    assert sizes and min(sizes) >= READABLE_PX, sizes

    # Zoomed out by hand, then Fit: readable again, and the graph's start in view.
    for _ in range(6):
        page.locator(".react-flow__controls-zoomout").click()
    page.get_by_role("button", name="Fit", exact=True).click()
    page.wait_for_timeout(400)
    sizes = name_px(page)
    assert sizes and min(sizes) >= READABLE_PX, sizes
    pane = canvas.pane.bounding_box()
    first = canvas.node("step_0").bounding_box()
    assert pane is not None and first is not None
    assert pane["x"] <= first["x"] and first["x"] + first["width"] <= pane["x"] + pane["width"]
    assert pane["y"] <= first["y"] and first["y"] + first["height"] <= pane["y"] + pane["height"]
    expect(page.locator(".react-flow__minimap")).to_be_visible()
    shot(page, f"designer-fit-{length}")
    assert page_errors == []


def outside_the_screen(page: Page) -> list[str]:
    """The header's elements drawn past either edge of a 390 px screen."""
    return page.evaluate(
        """() => [...document.querySelectorAll('.designer-header *')]
             .filter(e => e.checkVisibility())
             .filter(e => { const r = e.getBoundingClientRect();
                            return r.width && (r.left < 0 || r.right > 391); })
             .map(e => `${e.tagName}.${e.className}: ${e.getBoundingClientRect().right}`)"""
    )


@pytest.mark.parametrize("which", ["draft", "read-only"])
def test_on_a_phone_the_toolbar_fits_and_the_canvas_shows(
    sign_in: Any,
    live_server: Any,
    author: Any,
    workflow: Workflow,
    page_errors: PageErrors,
    which: str,
) -> None:
    page = sign_in(author)
    page.set_viewport_size({"width": 390, "height": 844})
    path = "designer/" if which == "draft" else "versions/1/designer/"
    page.goto(f"{live_server.url}/workflows/orders/{path}")
    canvas = Canvas(page)
    expect(page.locator(".react-flow__node")).to_have_count(3)
    page.wait_for_timeout(300)
    shot(page, f"designer-phone-{which}")

    pane = canvas.pane.bounding_box()
    assert pane is not None and pane["height"] > 200, pane
    assert pane["x"] >= 0 and pane["x"] + pane["width"] <= 391, pane
    assert outside_the_screen(page) == []
    # The import / export menu opens within the screen too.
    menu = page.locator(".tool-menu-button")
    menu.click()
    expect(page.get_by_role("button", name="Export JSON")).to_be_visible()
    assert outside_the_screen(page) == []
    menu.click()
    assert page.evaluate("document.documentElement.scrollWidth") <= 391
    # Every act of the toolbar is there to use.
    for name in ("Fit", "Simulate"):
        expect(page.get_by_role("button", name=name, exact=True)).to_be_visible()
    if which == "draft":
        expect(page.get_by_role("button", name="Submit for review")).to_be_visible()
        # A step is picked and edited from the panel under the canvas.
        canvas.select("ship")
        picker = canvas.field("after").get_by_label("Add a step it runs after")
        picker.scroll_into_view_if_needed()
        expect(picker).to_be_visible()
        box = picker.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 391, box
        if SHOTS:
            page.screenshot(path=f"{SHOTS}/designer-phone-step-panel.png", full_page=True)
    assert page_errors == []

"""Branches and maps in the designer: a step's condition checked as it is typed and
previewed against the sample input, a map from the palette, "optional" steps, and the
simulation of a sample input (steps not taken, a map's iterations, compensations)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Locator, Page, Response, expect

from designer.models import Version, Workflow
from tests.browser.conftest import PageErrors
from tests.browser.test_accessibility import FAILING, axe
from tests.browser.test_designer import Canvas, shot
from tests.factories import UserFactory, make_published, make_workflow

pytestmark = pytest.mark.django_db(transaction=True)

#: The sizes the screenshots are taken at (SAGABOARD_SCREENSHOTS), and the tests' own.
SIZES = {"1280": {"width": 1280, "height": 800}, "390": {"width": 390, "height": 844}}
VIEWPORT = {"width": 1440, "height": 900}

#: reserve -> gate (a condition) -> lines (a map over the order's lines) -> charge, with the
#: direct edge reserve -> lines beside the gate: the gate is optional.
BRANCHED: dict[str, Any] = {
    "format": "sagaboard/v1",
    "steps": [
        {
            "id": "reserve",
            "name": "Reserve stock",
            "type": "task",
            "action": {"name": "demo.inventory.reserve"},
            "compensation": {"name": "demo.inventory.release"},
        },
        {
            "id": "gate",
            "name": "Manager check",
            "type": "task",
            "after": ["reserve"],
            "when": "input.amount > 10000",
            "action": {"name": "demo.noop"},
        },
        {
            "id": "lines",
            "name": "Reserve each line",
            "type": "map",
            "after": ["reserve", "gate"],
            "items": "input.lines",
            "max_concurrency": 2,
            "do": {
                "type": "task",
                "action": {"name": "demo.inventory.reserve", "args": {"sku": "{{ item.sku }}"}},
                "compensation": {"name": "demo.inventory.release"},
            },
        },
        {
            "id": "charge",
            "name": "Charge card",
            "type": "task",
            "after": ["lines"],
            "action": {"name": "demo.payments.charge"},
        },
    ],
}

#: reserve -> gate -> charge, nothing optional yet.
CHAIN: dict[str, Any] = {
    "format": "sagaboard/v1",
    "steps": [
        {
            "id": "reserve",
            "type": "task",
            "action": {"name": "demo.inventory.reserve"},
            "compensation": {"name": "demo.inventory.release"},
        },
        {"id": "gate", "type": "task", "after": ["reserve"], "action": {"name": "demo.noop"}},
        {"id": "charge", "type": "task", "after": ["gate"], "action": {"name": "demo.noop"}},
    ],
}


@pytest.fixture
def page(browser: Browser, page_errors: PageErrors) -> Iterator[Page]:
    """conftest's page, in a context that lets axe-core be injected (the CSP would refuse it)."""
    context = browser.new_context(viewport=VIEWPORT, bypass_csp=True)
    context.set_default_timeout(10_000)
    page = context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            page_errors.append(message.text)

    def on_response(response: Response) -> None:
        if response.status >= 400:
            page_errors.append(f"{response.request.method} {response.url}: {response.status}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    page.on("response", on_response)
    yield page
    context.close()


def assert_accessible(page: Page) -> None:
    """No serious or critical finding of axe-core on the designer as it is now."""
    found = [v for v in axe(page) if v["impact"] in FAILING]
    assert not found, found


@pytest.fixture
def author() -> Any:
    return UserFactory(username="ada")


def published(author: Any, spec: dict[str, Any]) -> Workflow:
    workflow = make_workflow("orders", owner=author)
    make_published(workflow, spec)
    return workflow


def open_designer(page: Page, url: str) -> Canvas:
    page.goto(f"{url}/workflows/orders/designer/")
    canvas = Canvas(page)
    expect(canvas.root).to_have_attribute("data-layouts", "1")
    canvas.expect_valid()
    return canvas


def shots(page: Page, name: str, focus: Locator) -> None:
    """Screenshots at a laptop's and a phone's width, ``focus`` scrolled into view."""
    for width, size in SIZES.items():
        page.set_viewport_size(size)
        focus.scroll_into_view_if_needed()
        shot(page, f"{name}-{width}")
    page.set_viewport_size(VIEWPORT)


def set_sample(page: Page, text: str) -> None:
    """Writes the sample input in the Simulate tab, then goes back to the step."""
    page.get_by_role("tab", name="Simulate").click()
    page.get_by_label("Sample input (JSON)").fill(text)
    page.get_by_role("tab", name="Step").click()


def test_a_condition_is_checked_as_it_is_typed_and_previewed_against_the_sample(
    sign_in: Any, live_server: Any, author: Any, page_errors: PageErrors
) -> None:
    published(author, CHAIN)
    page = sign_in(author)
    canvas = open_designer(page, live_server.url)
    canvas.select("gate")
    set_sample(page, '{"amount": 20000, "lines": []}')

    condition = canvas.panel.get_by_label("Runs only when")
    field = canvas.field("when")
    check = field.locator('[data-cel="check"]')
    condition.fill("input.amount >")
    # Said at once, in the browser, before the server has been asked.
    expect(check).to_contain_text("Syntax error")
    expect(check).to_contain_text("line 1, column 15")
    expect(condition).to_have_attribute("aria-invalid", "true")
    described = condition.get_attribute("aria-describedby") or ""
    assert check.get_attribute("id") in described.split()
    expect(check).to_have_attribute("aria-live", "polite")
    # The server says so too, under the field and on the node.
    expect(canvas.root).to_have_attribute("data-validation", "invalid")
    expect(field.locator(".field-issue")).to_contain_text("does not compile")
    expect(canvas.node("gate").locator(".step-issue")).to_contain_text("when")
    shots(page, "branches-condition-error", field)
    assert_accessible(page)

    condition.fill("input.amount > 10000")
    expect(check).to_have_text("CEL: parses.")
    expect(condition).not_to_have_attribute("aria-invalid", "true")
    preview = field.locator(".cel-result")
    expect(preview).to_have_attribute("data-value", "true")
    expect(preview).to_contain_text("the step runs")
    canvas.expect_valid()
    expect(canvas.node("gate").locator(".flag-when")).to_have_text("if input.amount > 10000")

    # Another sample: the same condition is false, and the step is not taken.
    set_sample(page, '{"amount": 500, "lines": []}')
    expect(preview).to_have_attribute("data-value", "false")
    expect(preview).to_contain_text("skipped (not taken)")
    # A field the sample does not have: evaluating fails, as it would in a run.
    condition.fill("input.total > 1")
    expect(preview).to_have_attribute("data-value", "error")
    assert page_errors == []


def test_a_map_from_the_palette_is_saved_and_accepted_by_the_server(
    sign_in: Any, live_server: Any, author: Any, page_errors: PageErrors
) -> None:
    workflow = published(author, CHAIN)
    page = sign_in(author)
    canvas = open_designer(page, live_server.url)
    page.locator('.palette-item[data-type="map"]').click()
    node = canvas.node("map")
    expect(node).to_be_visible()
    # A valid skeleton: for each input.items, a task.
    canvas.expect_valid()
    expect(node.locator(".step-summary").first).to_have_text("for each input.items")
    expect(node.locator(".step-do-badge")).to_have_text("TASK")

    canvas.rename("lines")
    items = canvas.panel.get_by_label("Items (a CEL list)")
    items.fill("input.lines.filter(l, ")
    expect(canvas.field("items").locator('[data-cel="check"]')).to_contain_text("Syntax error")
    items.fill("input.lines")
    expect(canvas.field("items").locator('[data-cel="check"]')).to_have_text("CEL: parses.")
    canvas.panel.get_by_label("At most in flight").fill("1001")
    expect(canvas.field("max_concurrency")).to_contain_text("1 to 1000")
    canvas.panel.get_by_label("At most in flight").fill("4")
    expect(canvas.panel.get_by_label("Each iteration runs")).to_have_value("task")
    canvas.field("do.action.name").locator("select").select_option("demo.inventory.reserve")
    canvas.field("do.action.args").locator("textarea").fill('{"sku": "{{ item.sku }}"}')
    canvas.panel.locator('input[name="has-compensation"]').check()
    canvas.field("do.compensation.name").locator("select").select_option("demo.inventory.release")
    canvas.panel.get_by_label("Add a step it runs after").select_option("reserve")
    canvas.field("after").get_by_role("button", name="Add").click()
    node = canvas.node("lines")
    expect(node.locator(".step-summary").first).to_have_text("for each input.lines")
    expect(node.locator(".step-do")).to_contain_text("demo.inventory.reserve")
    canvas.expect_valid()
    shots(page, "branches-map", canvas.field("items"))
    assert_accessible(page)

    page.get_by_role("button", name="Save as draft").click()
    expect(page).to_have_url(re.compile(r"/workflows/orders/versions/2/designer/$"))
    expect(canvas.root).to_have_attribute("data-dirty", "false")
    canvas.expect_valid()
    expect(page.locator(".step-issue")).to_have_count(0)
    saved = {s["id"]: s for s in Version.objects.get(workflow=workflow, number=2).spec["steps"]}
    assert saved["lines"] == {
        "id": "lines",
        "name": "New map",
        "type": "map",
        "after": ["reserve"],
        "items": "input.lines",
        "max_concurrency": 4,
        "do": {
            "type": "task",
            "action": {"name": "demo.inventory.reserve", "args": {"sku": "{{ item.sku }}"}},
            "compensation": {"name": "demo.inventory.release"},
        },
    }
    # Switching the iteration to an HTTP call gives it an HTTP call's fields.
    canvas.select("lines")
    canvas.panel.get_by_label("Each iteration runs").select_option("http")
    expect(canvas.field("do.action.url").locator("input")).to_have_value("")
    canvas.field("do.action.url").locator("input").fill("http://127.0.0.1/lines/{{ item.sku }}")
    expect(canvas.node("lines").locator(".step-do-badge")).to_have_text("HTTP")
    expect(canvas.node("lines").locator(".step-do")).to_contain_text("POST 127.0.0.1/lines/")
    canvas.expect_valid()
    assert page_errors == []


def test_simulating_a_sample_input_shows_the_steps_not_taken_and_the_iterations(
    sign_in: Any, live_server: Any, author: Any, page_errors: PageErrors
) -> None:
    published(author, BRANCHED)
    page = sign_in(author)
    canvas = open_designer(page, live_server.url)
    page.get_by_role("tab", name="Simulate").click()
    simulate = page.locator('[data-panel="simulate"]')
    sample = simulate.get_by_label("Sample input (JSON)")
    sample.fill('{"amount": 5, "lines": [')
    expect(simulate).to_contain_text("Not valid JSON yet")
    expect(simulate.get_by_role("button", name="Simulate", exact=True)).to_be_disabled()
    sample.fill('{"amount": 5, "lines": [{"sku": "a"}, {"sku": "b"}, {"sku": "c"}]}')
    simulate.locator("#sim-fail-step").select_option("charge")
    simulate.get_by_role("button", name="Simulate", exact=True).click()

    result = simulate.locator(".sim-result")
    expect(result).to_have_attribute("data-sim-status", "compensated")
    gate = canvas.node("gate").locator(".step-node")
    expect(gate).to_have_attribute("data-taken", "false")
    expect(gate.locator(".step-sim")).to_have_text("not taken")
    expect(simulate.locator(".sim-not-taken li")).to_have_text(
        ["gate skipped: input.amount > 10000 is false"]
    )
    lines = canvas.node("lines").locator(".step-node")
    expect(lines.locator(".step-sim")).to_contain_text("3 iterations")
    expect(simulate.locator('.sim-path li[data-step="lines"] .sim-iterations')).to_have_text(
        " · 3 iterations"
    )
    # Every iteration is undone, the last first, then reserve.
    expect(simulate.locator(".sim-compensations li")).to_have_text(
        ["lines iteration 2", "lines iteration 1", "lines iteration 0", "reserve"]
    )
    shots(page, "branches-simulate", simulate.locator(".sim-outcome"))
    assert_accessible(page)

    # A big order: the gate runs; the sample is kept for this workflow across a reload.
    sample.fill('{"amount": 20000, "lines": [{"sku": "a"}]}')
    expect(result).to_have_count(0)  # the shown simulation was of another sample
    simulate.get_by_role("button", name="Simulate", exact=True).click()
    expect(gate).to_have_attribute("data-taken", "true")
    expect(lines.locator(".step-sim")).to_contain_text("1 iteration")
    page.reload()
    page.get_by_role("tab", name="Simulate").click()
    expect(page.get_by_label("Sample input (JSON)")).to_have_value(
        '{"amount": 20000, "lines": [{"sku": "a"}]}'
    )
    assert page_errors == []


def test_making_a_step_optional_wires_the_steps_after_it(
    sign_in: Any, live_server: Any, author: Any, page_errors: PageErrors
) -> None:
    workflow = published(author, CHAIN)
    page = sign_in(author)
    canvas = open_designer(page, live_server.url)
    canvas.select("reserve")
    optional = canvas.panel.get_by_label(re.compile("^Optional"))
    expect(optional).to_be_disabled()  # the first step: nothing to go round it from
    canvas.select("gate")
    optional = canvas.panel.get_by_label(re.compile("^Optional"))
    expect(canvas.field("optional")).to_contain_text(
        "Makes charge also run after reserve, beside the path through this step."
    )
    expect(page.locator(".react-flow__edge")).to_have_count(2)
    optional.check()
    # The condition is what it waits for: the field has the focus.
    expect(canvas.panel.get_by_label("Runs only when")).to_be_focused()
    expect(canvas.field("optional")).to_contain_text("Give it a condition")
    page.keyboard.type("input.amount > 10000")
    expect(page.locator(".react-flow__edge")).to_have_count(3)
    expect(page.locator('.react-flow__edge[data-id="reserve->charge"]')).to_have_count(1)
    canvas.expect_valid()

    page.get_by_role("button", name="Save as draft").click()
    expect(canvas.root).to_have_attribute("data-dirty", "false")
    saved = {s["id"]: s for s in Version.objects.get(workflow=workflow, number=2).spec["steps"]}
    assert saved["charge"]["after"] == ["gate", "reserve"]
    assert saved["gate"]["after"] == ["reserve"]
    assert saved["gate"]["when"] == "input.amount > 10000"

    # Not optional any more: the edge beside it goes.
    canvas.select("gate")
    canvas.panel.get_by_label(re.compile("^Optional")).uncheck()
    expect(page.locator(".react-flow__edge")).to_have_count(2)
    page.get_by_role("button", name="Undo").click()
    expect(page.locator(".react-flow__edge")).to_have_count(3)
    assert page_errors == []

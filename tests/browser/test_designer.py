"""The visual designer, driven with the mouse and keyboard as an author would."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from designer.models import Version, VersionStatus, Workflow
from tests.browser.conftest import PageErrors
from tests.browser.live_server import docs_shot
from tests.browser.test_live import blank_under_heading
from tests.factories import GroupFactory, UserFactory, make_published, make_workflow

pytestmark = pytest.mark.django_db(transaction=True)

SHOTS = os.environ.get("SAGABOARD_SCREENSHOTS")


def shot(page: Page, name: str) -> None:
    """Saves a screenshot when SAGABOARD_SCREENSHOTS names a folder (to look at the pages)."""
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"))


def centre(locator: Locator) -> tuple[float, float]:
    box = locator.bounding_box()
    assert box is not None, locator
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


class Canvas:
    """The designer page, in the words of someone using it."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.root = page.locator(".designer")
        self.pane = page.locator(".designer-canvas")
        self.panel = page.locator(".designer-panel")

    def node(self, step_id: str) -> Locator:
        return self.page.locator(f'.react-flow__node[data-id="{step_id}"]')

    def field(self, key: str) -> Locator:
        return self.panel.locator(f'[data-field="{key}"]')

    def drop(self, step_type: str, x: float, y: float) -> None:
        """Drags a step type from the palette to (x, y) inside the canvas, with the mouse."""
        item = self.page.locator(f'.palette-item[data-type="{step_type}"]')
        box = self.pane.bounding_box()
        assert box is not None
        before = self.page.locator(".react-flow__node").count()
        self.page.mouse.move(*centre(item))
        self.page.mouse.down()
        self.page.mouse.move(box["x"] + x, box["y"] + y, steps=12)
        self.page.mouse.up()
        expect(self.page.locator(".react-flow__node")).to_have_count(before + 1)

    def connect(self, source: str, target: str) -> None:
        """Drags from the source step's right handle to the target step's left handle."""
        start = self.node(source).locator(".react-flow__handle.source")
        end = self.node(target).locator(".react-flow__handle.target")
        self.page.mouse.move(*centre(start))
        self.page.mouse.down()
        x, y = centre(end)
        self.page.mouse.move(x - 20, y, steps=8)
        self.page.mouse.move(x, y, steps=4)
        self.page.mouse.up()

    def rename(self, step_id: str) -> None:
        """Renames the selected step through the side panel's id field."""
        box = self.field("id").locator("input")
        box.fill(step_id)
        box.press("Enter")
        expect(self.node(step_id)).to_be_visible()

    def select(self, step_id: str) -> None:
        self.node(step_id).locator(".step-name").click()
        expect(self.panel.locator(f'[data-panel="step"][data-step="{step_id}"]')).to_be_visible()

    def click_empty_canvas(self) -> None:
        box = self.pane.bounding_box()
        assert box is not None
        self.page.mouse.click(box["x"] + box["width"] - 60, box["y"] + 40)

    def expect_valid(self) -> None:
        expect(self.root).to_have_attribute("data-validation", "valid")

    def flow_positions(self) -> dict[str, tuple[float, float]]:
        """Where the boxes are on the canvas itself, whatever the zoom and pan."""
        found = {}
        for node in self.page.locator(".react-flow__node").all():
            style = node.get_attribute("style") or ""
            match = re.search(r"translate\((-?[\d.]+)px, *(-?[\d.]+)px\)", style)
            assert match, style
            found[node.get_attribute("data-id") or ""] = (float(match[1]), float(match[2]))
        return found

    def positions(self) -> dict[str, tuple[float, float]]:
        found = {}
        for node in self.page.locator(".react-flow__node").all():
            box = node.bounding_box()
            assert box is not None
            found[node.get_attribute("data-id") or ""] = (box["x"], box["y"])
        return found


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


def test_draw_save_reload_submit_review_and_simulate(
    sign_in: Any, live_server: Any, author: Any, workflow: Workflow, page_errors: PageErrors
) -> None:
    page = sign_in(author)
    page.goto(f"{live_server.url}/workflows/orders/designer/?from=empty")
    canvas = Canvas(page)
    expect(page.locator(".canvas-empty")).to_be_visible()
    expect(page.locator(".react-flow__node")).to_have_count(0)

    # Four steps, dragged from the palette.
    canvas.drop("task", 200, 160)
    canvas.rename("reserve")
    canvas.field("action.name").locator("select").select_option("demo.inventory.reserve")
    canvas.panel.locator('input[name="has-compensation"]').check()
    canvas.field("compensation.name").locator("select").select_option("demo.inventory.release")
    expect(canvas.node("reserve").locator(".flag-comp")).to_be_visible()

    canvas.drop("approval", 500, 160)
    canvas.rename("manager_ok")
    expect(canvas.field("action.group").locator("input")).to_have_value("managers")

    canvas.drop("task", 350, 400)
    canvas.rename("charge")
    canvas.field("action.name").locator("select").select_option("demo.payments.charge")
    canvas.panel.locator('input[name="pivot"]').check()
    expect(canvas.node("charge").locator(".flag-pivot")).to_be_visible()

    canvas.drop("http", 650, 400)
    canvas.rename("ship")
    canvas.field("action.url").locator("input").fill("http://127.0.0.1/shipments")

    # Connected by the handles: each runs after the one before.
    canvas.connect("reserve", "manager_ok")
    canvas.connect("manager_ok", "charge")
    canvas.connect("charge", "ship")
    expect(page.locator(".react-flow__edge")).to_have_count(3)
    canvas.expect_valid()
    # Compensation coverage at a glance: before the pivot, the pivot, after it.
    zone = "data-zone"
    expect(canvas.node("reserve").locator(".step-node")).to_have_attribute(zone, "compensable")
    expect(canvas.node("charge").locator(".step-node")).to_have_attribute("data-zone", "pivot")
    expect(canvas.node("ship").locator(".step-node")).to_have_attribute("data-zone", "forward")
    shot(page, "designer-drawn")
    docs_shot(page, "designer")

    # A cycle is refused by the server's validator, on the nodes it concerns.
    canvas.connect("ship", "reserve")
    expect(canvas.root).to_have_attribute("data-validation", "invalid")
    issue = canvas.node("reserve").locator(".step-issue")
    expect(issue).to_contain_text("cycle: ")
    expect(canvas.node("ship").locator(".step-issue")).to_contain_text("cycle: ")
    # On a cycle "after the pivot" means nothing yet, as for the validator.
    expect(canvas.node("reserve").locator(".step-node")).to_have_attribute(zone, "compensable")
    expect(page.get_by_role("button", name="Submit for review")).to_be_disabled()
    expect(page.get_by_role("button", name="Save as draft")).to_be_disabled()
    shot(page, "designer-cycle")
    canvas.click_empty_canvas()
    page.keyboard.press("Control+z")
    expect(page.locator(".react-flow__edge")).to_have_count(3)
    canvas.expect_valid()
    expect(page.locator(".step-issue")).to_have_count(0)

    # Save: a new draft, v2.
    page.get_by_role("button", name="Save as draft").click()
    expect(page.get_by_test_id("version-status")).to_have_text("draft")
    expect(page).to_have_url(re.compile(r"/workflows/orders/versions/2/designer/$"))
    expect(canvas.root).to_have_attribute("data-dirty", "false")
    before = canvas.positions()

    saved = Version.objects.get(workflow=workflow, number=2)
    steps = {s["id"]: s for s in saved.spec["steps"]}
    assert list(steps) == ["reserve", "manager_ok", "charge", "ship"]
    assert steps["reserve"]["compensation"] == {"name": "demo.inventory.release"}
    assert steps["charge"]["pivot"] is True
    assert steps["ship"]["after"] == ["charge"]
    assert set(saved.layout) == set(steps)
    assert all("x" in p and "y" in p for p in saved.layout.values())

    # Reload: the same drawing.
    page.reload()
    expect(page.locator(".react-flow__node")).to_have_count(4)
    expect(page.locator(".react-flow__edge")).to_have_count(3)
    canvas.expect_valid()
    expect(canvas.root).to_have_attribute("data-dirty", "false")
    after = canvas.positions()
    assert set(after) == set(before)
    # The view is fitted anew, so compare where the boxes sit relative to the first one.
    (bx, by), (ax, ay) = before["reserve"], after["reserve"]
    for step_id, (x, y) in before.items():
        moved = (after[step_id][0] - ax) - (x - bx), (after[step_id][1] - ay) - (y - by)
        assert abs(moved[0]) < 3 and abs(moved[1]) < 3, (step_id, moved)
    canvas.select("reserve")
    expect(canvas.panel.locator('input[name="has-compensation"]')).to_be_checked()
    expect(canvas.field("compensation.name").locator("select")).to_have_value(
        "demo.inventory.release"
    )
    canvas.select("charge")
    expect(canvas.panel.locator('input[name="pivot"]')).to_be_checked()

    # Submit for review.
    page.get_by_role("button", name="Submit for review").click()
    expect(page.get_by_test_id("version-status")).to_have_text("in review")
    expect(page.locator(".designer-toast")).to_contain_text("in review")
    saved.refresh_from_db()
    assert saved.status == VersionStatus.IN_REVIEW
    expect(page.locator(".palette-item")).to_have_count(0)  # read-only now

    # The review page: the visual diff against the published v1, beside the structural one.
    page.goto(f"{live_server.url}/workflows/orders/versions/2/review/")
    diff = page.locator(".review-diff")
    expect(diff).to_have_attribute("data-ready", "true")

    def marked(kind: str) -> set[str]:
        return {
            n.get_attribute("data-step") or ""
            for n in diff.locator(f'.step-node[data-diff="{kind}"]').all()
        }

    assert marked("added") == {"manager_ok", "charge"}
    assert marked("removed") == {"wait"}
    assert marked("changed") == {"reserve", "ship"}
    diff.locator('.react-flow__node[data-id="reserve"]').click()
    detail = page.locator('[data-detail="changed"][data-step="reserve"]')
    type_row = detail.locator("tr", has=page.locator("code", has_text=re.compile("^type$")))
    expect(type_row.locator(".diff-old")).to_have_text("http")
    expect(type_row.locator(".diff-new")).to_have_text("task")
    expect(page.locator(".diff-table").first).to_be_visible()
    shot(page, "review-diff")

    # Simulate: the pivot fails, so reserve is compensated; after the pivot, the run is stuck.
    page.goto(f"{live_server.url}/workflows/orders/versions/2/designer/")
    canvas.expect_valid()
    page.get_by_role("tab", name="Simulate").click()
    simulate = page.locator('[data-panel="simulate"]')
    simulate.locator("#sim-fail-step").select_option("charge")
    simulate.get_by_role("button", name="Simulate", exact=True).click()
    expect(simulate.locator(".sim-result")).to_have_attribute("data-sim-status", "compensated")
    expect(canvas.node("charge").locator(".step-node")).to_have_attribute("data-sim", "failed")
    expect(canvas.node("reserve").locator(".step-node")).to_have_attribute(
        "data-sim", "compensated"
    )
    expect(canvas.node("manager_ok").locator(".step-node")).to_have_attribute(
        "data-sim", "succeeded"
    )
    expect(canvas.node("ship").locator(".step-node")).to_have_attribute("data-sim", "pending")
    expect(canvas.node("reserve").locator(".sim-order")).to_have_text("↩ 1")
    expect(simulate.locator(".sim-compensations li")).to_have_text(["reserve"])
    shot(page, "designer-simulate")

    simulate.locator("#sim-fail-step").select_option("ship")
    simulate.get_by_role("button", name="Simulate", exact=True).click()
    expect(simulate.locator(".sim-result")).to_have_attribute("data-sim-status", "stuck")
    expect(canvas.node("reserve").locator(".step-node")).to_have_attribute("data-sim", "succeeded")
    expect(simulate.locator(".sim-compensations li")).to_have_count(0)
    assert page_errors == []


def test_keyboard_delete_undo_redo_copy_paste_and_fit(
    sign_in: Any, live_server: Any, author: Any, workflow: Workflow, page_errors: PageErrors
) -> None:
    page = sign_in(author)
    # A new draft starts from the published version; it has no layout, so the server lays it out.
    page.goto(f"{live_server.url}/workflows/orders/designer/")
    canvas = Canvas(page)
    expect(page.locator(".designer-title h1")).to_contain_text("from v1")
    expect(canvas.root).to_have_attribute("data-layouts", "1")
    expect(page.locator(".react-flow__node")).to_have_count(3)
    expect(page.locator(".react-flow__edge")).to_have_count(2)
    xs = {step: canvas.positions()[step][0] for step in ("reserve", "wait", "ship")}
    assert xs["reserve"] < xs["wait"] < xs["ship"]

    canvas.select("wait")
    page.keyboard.press("Delete")
    expect(page.locator(".react-flow__node")).to_have_count(2)
    expect(page.locator(".react-flow__edge")).to_have_count(0)
    page.keyboard.press("Control+z")
    expect(page.locator(".react-flow__node")).to_have_count(3)
    expect(page.locator(".react-flow__edge")).to_have_count(2)
    page.keyboard.press("Control+Shift+z")
    expect(page.locator(".react-flow__node")).to_have_count(2)
    page.keyboard.press("Control+z")
    expect(page.locator(".react-flow__node")).to_have_count(3)
    page.get_by_role("button", name="Redo").click()
    expect(page.locator(".react-flow__node")).to_have_count(2)
    page.get_by_role("button", name="Undo").click()
    expect(page.locator(".react-flow__node")).to_have_count(3)
    page.keyboard.press("Control+y")
    expect(page.locator(".react-flow__node")).to_have_count(2)
    page.keyboard.press("Control+z")
    expect(page.locator(".react-flow__edge")).to_have_count(2)

    # A selected edge is deleted with the Delete button.
    page.locator('.react-flow__edge[data-id="reserve->wait"]').click(force=True)
    page.get_by_role("button", name="Delete", exact=True).first.click()
    expect(page.locator(".react-flow__edge")).to_have_count(1)
    page.keyboard.press("Control+z")
    expect(page.locator(".react-flow__edge")).to_have_count(2)

    # Copy and paste: the copy gets a fresh id and keeps its compensation.
    canvas.select("reserve")
    page.keyboard.press("Control+c")
    page.keyboard.press("Control+v")
    expect(canvas.node("reserve_copy")).to_be_visible()
    expect(canvas.node("reserve_copy").locator(".flag-comp")).to_be_visible()
    expect(canvas.panel.locator('[data-panel="many"], [data-panel="step"]')).to_be_visible()
    page.keyboard.press("Control+v")
    expect(canvas.node("reserve_copy_2")).to_be_visible()
    expect(page.locator(".react-flow__node")).to_have_count(5)

    # Moving a box is an undoable change of the layout, not of the spec.
    box = canvas.node("ship").locator(".step-name")
    x, y = centre(box)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 40, y + 120, steps=10)
    page.mouse.up()
    moved = canvas.positions()["ship"]
    page.keyboard.press("Control+z")
    expect(canvas.node("ship")).not_to_have_attribute("style", re.compile(r"^$"))
    assert canvas.positions()["ship"] != moved

    # Zoom in, then F fits everything back into view.
    for _ in range(4):
        page.locator(".react-flow__controls-zoomin").click()
    pane = canvas.pane.bounding_box()
    assert pane is not None
    page.keyboard.press("f")
    page.wait_for_timeout(400)
    for step_id, (nx, ny) in canvas.positions().items():
        assert pane["x"] <= nx <= pane["x"] + pane["width"], step_id
        assert pane["y"] <= ny <= pane["y"] + pane["height"], step_id
    expect(page.locator(".react-flow__minimap")).to_be_visible()
    assert page_errors == []


def test_auto_layout_lays_the_graph_out_left_to_right(
    sign_in: Any, live_server: Any, author: Any, workflow: Workflow, page_errors: PageErrors
) -> None:
    page = sign_in(author)
    page.goto(f"{live_server.url}/workflows/orders/designer/?from=empty")
    canvas = Canvas(page)
    # Dropped right to left: the layout puts them back in the order they run.
    canvas.drop("delay", 650, 380)
    canvas.rename("third")
    canvas.drop("delay", 420, 160)
    canvas.rename("second")
    canvas.drop("delay", 250, 380)
    canvas.rename("first")
    canvas.connect("third", "first")
    canvas.connect("first", "second")
    expect(page.locator(".react-flow__edge")).to_have_count(2)
    canvas.click_empty_canvas()
    before = canvas.flow_positions()
    assert before["third"][0] > before["first"][0]
    page.get_by_role("button", name="Auto-layout").click()
    expect(canvas.root).to_have_attribute("data-layouts", "1")
    after = canvas.flow_positions()
    assert after["third"][0] < after["first"][0] < after["second"][0]
    assert after["third"][1] == after["first"][1] == after["second"][1]  # one row
    page.keyboard.press("Control+z")  # the layout is one undoable change
    expect(canvas.node("third")).to_have_attribute(
        "style", re.compile(rf"translate\({before['third'][0]:g}px")
    )
    assert canvas.flow_positions() == before
    assert page_errors == []


def test_import_yaml_and_export_json_and_yaml(
    sign_in: Any, live_server: Any, author: Any, workflow: Workflow, page_errors: PageErrors
) -> None:
    import json

    import yaml

    page = sign_in(author)
    page.goto(f"{live_server.url}/workflows/orders/designer/?from=empty")
    canvas = Canvas(page)
    text = (
        "format: sagaboard/v1\n"
        "steps:\n"
        "  - id: hold\n    type: task\n"
        "    action: {name: demo.inventory.reserve}\n"
        "    compensation: {name: demo.inventory.release}\n"
        "  - id: pay\n    type: task\n    after: [hold]\n    pivot: true\n"
        "    action: {name: demo.payments.charge}\n"
    )
    page.get_by_test_id("import-file").set_input_files(
        files=[{"name": "orders.yaml", "mimeType": "application/yaml", "buffer": text.encode()}]
    )
    expect(page.locator(".react-flow__node")).to_have_count(2)
    expect(page.locator(".react-flow__edge")).to_have_count(1)
    canvas.expect_valid()
    expect(canvas.node("pay").locator(".step-node")).to_have_attribute("data-zone", "pivot")

    page.locator(".tool-menu summary").click()
    with page.expect_download() as download:
        page.get_by_role("button", name="Export YAML").click()
    exported = yaml.safe_load(Path(download.value.path()).read_text())
    assert [s["id"] for s in exported["steps"]] == ["hold", "pay"]
    assert exported["steps"][0]["compensation"] == {"name": "demo.inventory.release"}
    assert download.value.suggested_filename == "orders-draft.yaml"

    with page.expect_download() as download:
        page.get_by_role("button", name="Export JSON").click()
    assert json.loads(Path(download.value.path()).read_text()) == exported

    # Text that is not a spec is refused with the parser's words; the canvas stays as it was.
    page.get_by_test_id("import-file").set_input_files(
        files=[{"name": "bad.yaml", "mimeType": "application/yaml", "buffer": b"steps: [a, b"}]
    )
    expect(page.locator(".designer-toast")).to_contain_text("Not imported")
    expect(page.locator(".react-flow__node")).to_have_count(2)
    assert page_errors and all("400" in error for error in page_errors)  # only that refusal


def test_simulate_a_failure_at_each_step_in_turn(
    sign_in: Any, live_server: Any, author: Any, workflow: Workflow, page_errors: PageErrors
) -> None:
    page = sign_in(author)
    page.goto(f"{live_server.url}/workflows/orders/versions/1/designer/")
    canvas = Canvas(page)
    canvas.expect_valid()
    page.get_by_role("button", name="Simulate", exact=True).first.click()
    page.get_by_role("button", name="Fail each step in turn").click()
    rows = page.locator(".sim-table tbody tr")
    # The delay cannot fail; reserve failing leaves nothing to undo; ship failing undoes reserve.
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("reserve")
    expect(rows.nth(0)).to_contain_text("compensated")
    expect(rows.nth(1)).to_contain_text("ship")
    expect(rows.nth(1).locator("td").nth(2)).to_have_text("reserve")
    rows.nth(1).click()
    expect(canvas.node("ship").locator(".step-node")).to_have_attribute("data-sim", "failed")
    expect(canvas.node("reserve").locator(".step-node")).to_have_attribute(
        "data-sim", "compensated"
    )
    assert page_errors == []


def test_read_only_versions_new_drafts_and_saving_the_open_draft(
    sign_in: Any, live_server: Any, author: Any, workflow: Workflow, page_errors: PageErrors
) -> None:
    page = sign_in(author)
    page.goto(f"{live_server.url}/workflows/orders/versions/1/designer/")
    canvas = Canvas(page)
    expect(page.locator(".designer-readonly")).to_contain_text("v1 is published")
    expect(page.locator(".palette-item")).to_have_count(0)
    expect(page.get_by_role("button", name="Save draft")).to_have_count(0)
    canvas.select("ship")
    expect(canvas.field("name").locator("input")).to_be_disabled()

    page.get_by_role("link", name="New draft from v1").click()
    expect(page).to_have_url(re.compile(r"/workflows/orders/designer/\?from=1$"))
    expect(page.locator(".react-flow__node")).to_have_count(3)
    canvas.select("ship")
    canvas.field("name").locator("input").fill("Ship the parcel")
    expect(canvas.node("ship").locator(".step-name")).to_have_text("Ship the parcel")
    canvas.expect_valid()
    page.keyboard.press("Control+s")
    expect(page.get_by_test_id("version-status")).to_have_text("draft")
    expect(canvas.root).to_have_attribute("data-version", "2")

    # The open draft is changed in place (PATCH), not copied into a new version.
    canvas.field("name").locator("input").fill("Ship it")
    canvas.expect_valid()
    page.get_by_role("button", name="Save draft").click()
    expect(canvas.root).to_have_attribute("data-dirty", "false")
    assert workflow.versions.count() == 2
    draft = Version.objects.get(workflow=workflow, number=2)
    assert next(s for s in draft.spec["steps"] if s["id"] == "ship")["name"] == "Ship it"
    assert draft.layout  # positions are saved beside the spec
    assert "layout" not in json_keys(draft.spec)

    # Someone who may only look sees the draft read-only, and may not start one.
    viewer = UserFactory(username="vic")
    from tests.factories import grant

    grant(viewer, workflow, "view_workflow")
    page.context.clear_cookies()
    sign_in(viewer)
    page.goto(f"{live_server.url}/workflows/orders/versions/2/designer/")
    expect(page.locator(".designer-readonly")).to_be_visible()
    expect(page.get_by_role("link", name="New draft from v2")).to_have_count(0)
    response = page.goto(f"{live_server.url}/workflows/orders/designer/")
    assert response is not None and response.status == 403
    assert all("403" in error for error in page_errors)


def json_keys(value: Any) -> set[str]:
    """Every key anywhere in a JSON value."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in json_keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in json_keys(v)}
    return set()


def test_long_names_wrap_and_phones_never_scroll_sideways(
    sign_in: Any, live_server: Any, author: Any, workflow: Workflow, page_errors: PageErrors
) -> None:
    slug = "fulfil-orders-for-the-northern-warehouses-and-their-many-regional-hubs-x"
    long = make_workflow(
        slug,
        owner=author,
        description="Reserves stock, charges the card, books a courier and ships. " * 6,
    )
    make_published(long)
    page = sign_in(author)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/workflows/")
    # The list fits its card: the slug wraps instead of pushing the last column out.
    table = page.locator("table.table").first
    expect(table.locator(f'code:text-is("{slug}")')).to_be_visible()
    fits = table.evaluate("t => t.scrollWidth <= t.parentElement.clientWidth")
    assert fits, "the workflow list is wider than its card"
    # The title and description get the width, not a narrow column beside the buttons.
    page.goto(f"{live_server.url}/workflows/{slug}/")
    title = page.locator(".page-head > :first-child").bounding_box()
    assert title is not None and title["width"] >= 420, title

    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/workflows/", f"/workflows/{slug}/", "/workflows/orders/versions/1/"):
        page.goto(f"{live_server.url}{path}")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 391, f"{path} is {width} px wide"  # one over: fractional widths
        assert blank_under_heading(page) < 40, path
        for link in page.locator(".mainnav a").all():
            box = link.bounding_box()
            assert box is not None and 0 <= box["x"] and box["x"] + box["width"] <= 390, box
    assert page_errors == []


# What this browser keeps of unsaved designer work (localStorage keys).
UNSAVED_KEYS = "Object.keys(localStorage).filter(k => k.startsWith('sagaboard:designer:'))"


def test_unsaved_work_is_kept_in_the_browser_and_offered_back(
    sign_in: Any, live_server: Any, author: Any, workflow: Workflow, page_errors: PageErrors
) -> None:
    page = sign_in(author)
    page.on("dialog", lambda dialog: dialog.accept())  # the unload warning, on reload
    page.goto(f"{live_server.url}/workflows/orders/designer/")
    canvas = Canvas(page)
    expect(page.locator(".react-flow__node")).to_have_count(3)
    restore = page.get_by_test_id("unsaved-restore")
    expect(restore).to_have_count(0)

    # A fresh HTTP step has no URL: the server would refuse it, so it cannot be saved...
    canvas.drop("http", 300, 380)
    expect(canvas.root).to_have_attribute("data-validation", "invalid")
    save = page.get_by_role("button", name="Save as draft")
    expect(save).to_be_disabled()
    # ...and the page says why, and that the work is not lost meanwhile.
    expect(page.get_by_test_id("save-state")).to_have_text("Unsaved · kept in this browser")
    expect(save).to_have_attribute("title", re.compile(r"fix 1 error.*kept in this browser"))

    # Reloaded, the designer shows the server's copy and offers the unsaved one back.
    page.reload()
    expect(restore).to_contain_text("Unsaved changes to a new draft from v1")
    expect(page.locator(".react-flow__node")).to_have_count(3)
    restore.get_by_role("button", name="Restore").click()
    expect(restore).to_have_count(0)
    expect(canvas.node("http")).to_be_visible()
    expect(page.locator(".react-flow__node")).to_have_count(4)
    expect(canvas.root).to_have_attribute("data-validation", "invalid")

    # Fixed and saved: the server has it, the browser's copy goes.
    canvas.select("http")
    canvas.field("action.url").locator("input").fill("http://127.0.0.1/labels")
    canvas.expect_valid()
    save.click()
    expect(page.get_by_test_id("version-status")).to_have_text("draft")
    expect(canvas.root).to_have_attribute("data-dirty", "false")
    page.wait_for_timeout(600)  # longer than the delay before the browser keeps a change
    assert page.evaluate(UNSAVED_KEYS) == []
    page.reload()
    expect(page.locator(".react-flow__node")).to_have_count(4)
    canvas.expect_valid()
    expect(restore).to_have_count(0)

    # The saved draft's own unsaved changes, offered back and discarded.
    canvas.drop("http", 500, 420)
    expect(canvas.root).to_have_attribute("data-validation", "invalid")
    expect(page.get_by_test_id("save-state")).to_have_text("Unsaved · kept in this browser")
    page.reload()
    expect(restore).to_contain_text("Unsaved changes to v2")
    restore.get_by_role("button", name="Discard").click()
    expect(restore).to_have_count(0)
    expect(page.locator(".react-flow__node")).to_have_count(4)
    expect(canvas.node("http_2")).to_have_count(0)
    page.wait_for_timeout(600)
    assert page.evaluate(UNSAVED_KEYS) == []
    page.reload()
    canvas.expect_valid()
    expect(restore).to_have_count(0)
    assert page_errors == []


def unclipped(locator: Locator) -> bool:
    """Whether an element shows all its text (nothing cut off with an ellipsis)."""
    return locator.evaluate("e => e.scrollWidth <= e.clientWidth")


def test_header_shows_a_workflow_name_whole_and_a_very_long_one_on_one_line(
    sign_in: Any, live_server: Any, author: Any, page_errors: PageErrors
) -> None:
    from designer import services

    trip = services.workflow_create(by=author, slug="trip", name="Trip booking")
    make_published(trip)
    long_name = "Fulfil orders for the northern warehouses and their many regional hubs, " * 2
    long = services.workflow_create(by=author, slug="long", name=long_name.strip())
    make_published(long)
    page = sign_in(author)
    for width in (1400, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}/workflows/trip/designer/")  # a new draft from v1
        canvas = Canvas(page)
        canvas.expect_valid()
        name = page.locator(".designer-title h1 .designer-workflow")
        expect(name).to_have_text("Trip booking")
        expect(page.locator(".designer-title h1 .title-from")).to_have_text("from v1")
        header = page.locator(".designer-header-row")
        for part in header.locator(".designer-title h1 > *, .designer-crumbs > *").all():
            assert unclipped(part), (width, part.text_content())

    # A very long name is cut short on one line, and said whole in its tooltip.
    page.goto(f"{live_server.url}/workflows/long/designer/")
    Canvas(page).expect_valid()
    name = page.locator(".designer-title h1 .designer-workflow")
    expect(name).to_have_attribute("title", long.name)
    assert not unclipped(name)
    crumbs = page.locator(".designer-crumbs")
    line = crumbs.evaluate("e => parseFloat(getComputedStyle(e).lineHeight) || 20")
    box = crumbs.bounding_box()
    assert box is not None and box["height"] < 1.5 * line, box
    expect(crumbs.get_by_role("link", name=long.name)).to_have_attribute("title", long.name)
    title = page.locator(".designer-title").bounding_box()
    assert title is not None and title["height"] < 64, title
    assert page_errors == []


def test_review_diff_is_drawn_large_enough_to_read(
    sign_in: Any, live_server: Any, author: Any, workflow: Workflow, page_errors: PageErrors
) -> None:
    import copy

    from designer import services

    spec = copy.deepcopy(Version.objects.get(workflow=workflow, number=1).spec)
    ship = spec["steps"].pop()
    spec["steps"] += [
        {"id": "pack", "type": "delay", "after": ["wait"], "action": {"seconds": 1}},
        {"id": "label", "type": "delay", "after": ["pack"], "action": {"seconds": 1}},
        {**ship, "after": ["label"]},
    ]
    draft, _ = services.version_create(workflow=workflow, by=author, spec=spec)
    services.version_submit(version=draft, by=author)
    page = sign_in(author)
    page.goto(f"{live_server.url}/workflows/orders/versions/2/review/")
    diff = page.locator(".review-diff")
    expect(diff).to_have_attribute("data-ready", "true")
    nodes = diff.locator(".react-flow__node")
    expect(nodes).to_have_count(5)

    # The canvas takes the card's width, and every step's name is at least 10 px high on screen.
    pane = diff.locator(".review-diff-canvas").bounding_box()
    card = page.locator(".card", has=diff).bounding_box()
    assert pane is not None and card is not None
    assert pane["width"] >= card["width"] - 4, (pane, card)
    sizes = diff.locator(".step-name").evaluate_all(
        "names => names.map(e => parseFloat(getComputedStyle(e).fontSize)"
        " * e.getBoundingClientRect().height / e.offsetHeight)"
    )
    assert len(sizes) == 5 and min(sizes) >= 10, sizes
    # A five-step graph fits whole at that size.
    for node in nodes.all():
        box = node.bounding_box()
        assert box is not None
        assert pane["x"] <= box["x"] and box["x"] + box["width"] <= pane["x"] + pane["width"]
        assert pane["y"] <= box["y"] and box["y"] + box["height"] <= pane["y"] + pane["height"]
    diff.locator('.react-flow__node[data-id="pack"]').click()
    expect(page.locator('[data-detail="added"][data-step="pack"]')).to_be_visible()
    assert page_errors == []


def overlap(a: dict[str, float] | None, b: dict[str, float] | None) -> bool:
    assert a is not None and b is not None
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def test_toast_covers_no_control_and_is_dismissed(
    sign_in: Any, live_server: Any, author: Any, workflow: Workflow, page_errors: PageErrors
) -> None:
    from designer import services

    spec = Version.objects.get(workflow=workflow, number=1).spec
    services.version_create(workflow=workflow, by=author, spec=spec)
    page = sign_in(author)
    page.goto(f"{live_server.url}/workflows/orders/versions/2/designer/")
    Canvas(page).expect_valid()
    page.get_by_role("button", name="Submit for review").click()
    toast = page.locator(".designer-toast")
    expect(toast).to_contain_text("v2 is in review")
    expect(toast.get_by_role("link", name="Open the review page")).to_be_visible()
    box = toast.bounding_box()
    for tab in page.locator(".panel-tabs [role=tab]").all():
        assert not overlap(box, tab.bounding_box()), tab.text_content()
    for control in page.locator(
        ".designer-header button, .designer-header a, .designer-header summary, "
        ".react-flow__controls, .react-flow__minimap"
    ).all():
        if control.is_visible() and not control.evaluate("e => !!e.closest('.designer-toast')"):
            assert not overlap(box, control.bounding_box()), control.text_content()
    # Over the canvas, clear of the palette and the side panel.
    pane = page.locator(".designer-canvas").bounding_box()
    assert pane is not None and box is not None
    assert pane["x"] <= box["x"] and box["x"] + box["width"] <= pane["x"] + pane["width"]
    toast.get_by_role("button", name="Dismiss").click()
    expect(toast).to_have_count(0)

    # Escape dismisses one too.
    Canvas(page).select("ship")
    page.keyboard.press("Control+c")
    expect(toast).to_contain_text("Copied 1 step")
    page.keyboard.press("Escape")
    expect(toast).to_have_count(0)
    assert page_errors == []

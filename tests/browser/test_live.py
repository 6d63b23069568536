"""The live pages in a browser: the board, a run, a workflow's overview.

Chromium (headless) against uvicorn serving ``sagaboard.asgi`` (HTTP and the
WebSockets; pytest-django's live server speaks only WSGI), a real Celery worker
process, PostgreSQL and the Redis channel layer. Runs are started through the
API, as a script would; what the tests look at is what an operator sees.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from tests import sagas
from tests.browser.conftest import PageErrors
from tests.browser.live_server import SLOW, AsgiServer, Live
from tests.engine.conftest import Worker
from tests.factories import UserFactory, grant, make_published, make_workflow
from tests.sagas import approval, client_for, saga, start, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

# Two attempts: a step that fails twice is stuck, for an operator to retry.
task = partial(sagas.task, retry={**sagas.RETRY, "max_attempts": 2})


def publish(slug: str, spec: dict[str, Any]):
    workflow = make_workflow(slug)
    make_published(workflow, spec)
    return workflow


# ----------------------------------------------------------------------------- tests


def test_a_run_started_through_the_api_appears_on_the_board_and_its_steps_change_colour(
    live: Live, worker: Worker, page_errors: PageErrors
) -> None:
    orders = publish(
        "orders",
        saga(
            task("reserve", "demo.inventory.reserve", comp="demo.inventory.release"),
            approval("manager_ok", ["reserve"], name="Manager approval"),
            task("ship", "demo.shipping.ship", ["manager_ok"], latency_ms=300),
        ),
    )
    rita = grant(UserFactory(username="rita"), orders, "view_workflow", "run_workflow")
    rita.groups.add(Group.objects.get_or_create(name="managers")[0])
    client = client_for(rita)
    live.sign_in(rita)
    live.open("/runs/")
    page = live.page

    run_id = start(client, "orders")["id"]
    row = page.locator(f'table[data-testid="runs"] tr[data-run="{run_id}"]')
    expect(row).to_be_visible(timeout=SLOW)
    expect(row.locator(".badge")).to_have_text("waiting", timeout=SLOW)
    live.still_same_page()

    row.locator("a.mono").click()
    page.wait_for_url(f"**/runs/{run_id}/")
    expect(page.locator(".live-badge")).to_have_attribute("data-state", "live", timeout=SLOW)
    page.evaluate("window.__samePage = true")
    expect(live.node("reserve")).to_have_attribute("data-status", "succeeded")
    expect(live.node("manager_ok")).to_have_attribute("data-status", "waiting")
    expect(live.node("ship")).to_have_attribute("data-status", "pending")
    waiting_colour = live.node("manager_ok").evaluate("e => getComputedStyle(e).backgroundColor")
    expect(live.node("reserve")).to_have_css("background-color", "rgb(227, 245, 234)")

    response = client.post(
        f"/api/runs/{run_id}/steps/manager_ok/approve/", {"comment": "fine"}, format="json"
    )
    assert response.status_code == 200, response.json()

    expect(live.node("manager_ok")).to_have_attribute("data-status", "succeeded", timeout=SLOW)
    expect(live.node("ship")).to_have_attribute("data-status", "succeeded", timeout=SLOW)
    expect(live.run_status()).to_have_text("completed", timeout=SLOW)
    assert live.node("manager_ok").evaluate("e => getComputedStyle(e).backgroundColor") != (
        waiting_colour
    )
    expect(live.node("manager_ok")).to_have_css("background-color", "rgb(227, 245, 234)")
    log = page.locator(".event-log")
    expect(log.locator('tr[data-event="act.approve"]')).to_contain_text("by rita")
    expect(log.locator('tr[data-event="run.completed"]')).to_be_visible()
    expect(page.locator('.timeline-bar[data-step="ship"][data-kind="attempt"]')).to_have_attribute(
        "data-outcome", "succeeded"
    )
    expect(page.locator('.timeline-bar[data-step="manager_ok"][data-kind="wait"]')).to_be_visible()
    live.still_same_page()
    assert page_errors == []


def test_the_board_follows_a_run_into_waiting_from_its_events_without_reading_the_list(
    live: Live, worker: Worker, page_errors: PageErrors
) -> None:
    """A step event moves its run from running to waiting with no run event of its own;
    the live event says the run's status, so the board does not read its lists again
    for it (a board open on a busy system would otherwise read them every second)."""
    orders = publish(
        "orders",
        saga(
            task("reserve", "demo.inventory.reserve", latency_ms=4000),
            approval("manager_ok", ["reserve"], name="Manager approval"),
        ),
    )
    rita = grant(UserFactory(username="rita"), orders, "view_workflow", "run_workflow")
    client = client_for(rita)
    live.sign_in(rita)
    page = live.page
    reads: list[str] = []
    page.on("request", lambda r: "/api/runs/" in r.url and reads.append(r.url))
    live.open("/runs/")

    run_id = start(client, "orders")["id"]
    row = page.locator(f'table[data-testid="runs"] tr[data-run="{run_id}"]')
    expect(row.locator(".badge")).to_have_text("running", timeout=SLOW)
    # Whichever read brought the new run (the page's first, or one its first events
    # asked for) has been made. (Playwright hands over the page's events while it
    # waits, not in time.sleep.)
    page.wait_for_timeout(1500)
    before = len(reads)
    assert before > 0
    assert wait_for(client, run_id, {"waiting"}, timeout=30)["status"] == "waiting"
    expect(row.locator(".badge")).to_have_text("waiting", timeout=SLOW)
    page.wait_for_timeout(1500)
    assert reads[before:] == []
    live.still_same_page()


def test_a_compensation_appears_on_the_timeline(
    live: Live, worker: Worker, page_errors: PageErrors
) -> None:
    trips = publish(
        "trips",
        saga(
            task(
                "reserve", "demo.inventory.reserve", comp="demo.inventory.release", latency_ms=400
            ),
            task(
                "charge",
                "demo.payments.charge",
                ["reserve"],
                comp="demo.payments.refund",
                latency_ms=200,
            ),
            task(
                "ship",
                "demo.shipping.ship",
                ["reserve"],
                comp="demo.shipping.cancel",
                fail="permanent",
                latency_ms=600,
            ),
        ),
    )
    olga = grant(
        UserFactory(username="olga"), trips, "view_workflow", "run_workflow", "operate_workflow"
    )
    client = client_for(olga)
    live.sign_in(olga)
    run_id = start(client, "trips")["id"]
    live.open(f"/runs/{run_id}/")
    page = live.page

    expect(live.run_status()).to_have_text("compensated", timeout=SLOW)
    # What the steps came to, in words that are true of a compensated run.
    steps_tile = page.locator('[data-testid="run-steps"]')
    expect(steps_tile).to_contain_text("3 of 3 ran")
    expect(steps_tile).to_contain_text("2 compensated · 1 failed")
    comp = page.locator('.timeline-bar[data-kind="compensation"][data-step="reserve"]')
    expect(comp).to_have_attribute("data-outcome", "compensated", timeout=SLOW)
    expect(
        page.locator('.timeline-bar[data-kind="compensation"][data-step="charge"]')
    ).to_be_visible()
    failed = page.locator('.timeline-bar[data-kind="attempt"][data-step="ship"]')
    expect(failed.last).to_have_attribute("data-outcome", "failed")
    # The error of the failed attempt, as text beside the chart.
    expect(page.locator('.timeline-failures li[data-step="ship"]')).to_contain_text("permanent")
    expect(live.node("reserve")).to_have_attribute("data-status", "compensated")
    expect(live.node("ship")).to_have_attribute("data-status", "failed")
    comp.click()
    expect(page.locator(".timeline-detail")).to_contain_text("reserve: compensation")
    live.shot("run")
    assert page_errors == []


def test_an_operator_retries_a_stuck_step_from_the_page_and_the_run_completes(
    live: Live, worker: Worker, page_errors: PageErrors
) -> None:
    orders = publish(
        "orders",
        saga(
            {**task("charge", "demo.payments.charge", latency_ms=100), "pivot": True},
            task("ship", "demo.shipping.ship", ["charge"], fail_attempts=2),
        ),
    )
    olga = grant(
        UserFactory(username="olga"), orders, "view_workflow", "run_workflow", "operate_workflow"
    )
    client = client_for(olga)
    done = start(client, "orders", input={"order_id": "o-0"})["id"]
    wait_for(client, done, {"stuck"})
    response = client.post(f"/api/runs/{done}/cancel/", {"reason": "a test order"}, format="json")
    assert response.status_code == 200, response.json()
    live.sign_in(olga)
    live.open("/runs/")
    page = live.page

    run_id = start(client, "orders")["id"]
    stuck_row = page.locator(f'.stuck-table tr[data-run="{run_id}"]')
    expect(stuck_row).to_be_visible(timeout=SLOW)
    expect(stuck_row).to_contain_text("ship")
    expect(stuck_row.locator(".stuck-for")).to_have_text(re.compile(r"^\d+(\.\d)? s$"))
    expect(page.locator(f'table[data-testid="runs"] tr[data-run="{run_id}"] .badge')).to_have_text(
        "stuck"
    )
    live.still_same_page()
    live.shot("board")

    stuck_row.locator("a").click()
    page.wait_for_url(f"**/runs/{run_id}/")
    expect(page.locator(".live-badge")).to_have_attribute("data-state", "live", timeout=SLOW)
    expect(page.locator(".stuck-alert")).to_contain_text("ship")
    expect(live.node("ship")).to_have_attribute("data-status", "failed")
    # Past its pivot the run only moves forward: the banner offers what the buttons offer.
    expect(page.locator(".stuck-alert [data-stuck-acts]")).to_have_text(
        "You may retry or skip step ship, or cancel the run."
    )
    expect(page.locator(".stuck-alert")).not_to_contain_text("compensate")
    expect(page.locator('button[data-act="compensate"]')).to_have_count(0)
    expect(page.locator('#run-head-actions button[data-act="cancel"]')).to_be_visible()
    # The acts it names are buttons right there, as in the steps table and the header.
    banner_acts = page.locator(".stuck-alert button[data-act]")
    expect(banner_acts).to_have_text(["Retry…", "Skip…", "Cancel run…"])
    expect(page.locator('.steps-table button[data-act="retry"][data-step="ship"]')).to_be_visible()

    page.locator('.stuck-alert button[data-act="retry"][data-step="ship"]').click()
    dialog = page.locator("dialog.act-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("h2")).to_have_text("Retry step Ship")
    expect(dialog.locator(".act-step")).to_have_text("step ship")
    expect(dialog.locator("textarea")).to_have_attribute("maxlength", "2000")
    expect(dialog.locator(".reason-left")).to_have_text("2,000 characters left")
    dialog.locator("textarea").fill("shipping is back")
    expect(dialog.locator(".reason-left")).to_have_text("1,984 characters left")
    dialog.locator("button[type=submit]").click()
    expect(dialog).to_be_hidden()

    expect(live.run_status()).to_have_text("completed", timeout=SLOW)
    expect(live.node("ship")).to_have_attribute("data-status", "succeeded")
    expect(page.locator(".stuck-alert")).to_have_count(0)
    expect(page.locator("button[data-act]")).to_have_count(0)
    act = page.locator('.event-log tr[data-event="act.retry"]')
    expect(act).to_contain_text("by olga")
    expect(act).to_contain_text("shipping is back", timeout=SLOW)
    assert wait_for(client, run_id, {"completed"})["steps"][1]["attempts"] == 3

    # The overview counts it, drawn by uPlot.
    page.goto(f"{live.url}/workflows/orders/overview/")
    expect(page.locator('[data-tile="started"] .tile-value')).to_have_text("2")
    expect(page.locator('[data-tile="completed"] .tile-value')).to_have_text("50%")
    expect(page.locator(".uplot canvas")).to_have_count(2)
    expect(page.locator('.latency-table tr[data-step="ship"]')).to_be_visible()
    # The legends say values before anyone hovers: the last whole minute, the slowest step.
    legends = page.locator(".u-legend")
    expect(legends).to_have_count(2)
    for value in legends.locator(".u-value").all():
        expect(value).not_to_have_text(re.compile(r"^(--|—)?$"))
    expect(legends.first.locator(".u-series").first.locator(".u-value")).to_have_text(
        re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$")
    )
    expect(legends.last.locator(".u-series").first.locator(".u-value")).to_have_text(
        re.compile(r"^(charge|ship)$")
    )
    expect(page.locator('[data-tile="rpm"]')).to_contain_text("whole min")
    live.shot("overview")
    assert page_errors == []


def test_a_user_without_permission_sees_nothing_of_that_workflow(
    live: Live, page_errors: PageErrors
) -> None:
    public = publish("public", saga(approval("gate")))
    publish("hidden", saga(approval("gate")))
    boss = UserFactory(username="boss", is_staff=True)
    boss_api = client_for(boss)
    mallory = grant(UserFactory(username="mallory"), public, "view_workflow")
    hidden_run = start(boss_api, "hidden")["id"]
    public_run = start(boss_api, "public")["id"]

    live.sign_in(mallory)
    live.open("/runs/")
    page = live.page
    runs = page.locator('table[data-testid="runs"]')
    expect(runs.locator(f'tr[data-run="{public_run}"]')).to_be_visible()
    expect(runs.locator("tbody tr")).to_have_count(1)
    assert page.locator("#f-workflow option").all_inner_texts() == ["All workflows", "Public"]

    # Live: a hidden run started before a public one never shows; the public one does.
    later_hidden = start(boss_api, "hidden")["id"]
    later_public = start(boss_api, "public")["id"]
    expect(runs.locator(f'tr[data-run="{later_public}"]')).to_be_visible(timeout=SLOW)
    expect(runs.locator("tbody tr")).to_have_count(2)
    for run in (hidden_run, later_hidden):
        expect(page.locator(f'[data-run="{run}"]')).to_have_count(0)
    assert "Hidden" not in page.content() and "hidden" not in page.inner_text("body")

    # Nor its pages, nor its stream.
    for path in (f"/runs/{hidden_run}/", "/workflows/hidden/overview/", "/workflows/hidden/"):
        response = page.goto(f"{live.url}{path}")
        assert response is not None and response.status == 404, path
        expect(page.locator("h1")).to_have_text("Not found")
    page.goto(f"{live.url}/runs/{public_run}/")
    closed = page.evaluate(
        """(url) => new Promise((resolve) => {
             const ws = new WebSocket(url);
             ws.onclose = (e) => resolve(e.code);
           })""",
        f"{live.url.replace('http', 'ws')}/ws/runs/{hidden_run}/",
    )
    assert closed == 4403
    page_errors[:] = [e for e in page_errors if "404" not in e]
    assert page_errors == []


def test_a_run_page_shows_a_drop_and_catches_up_when_the_server_is_back(
    live: Live, asgi_server: AsgiServer, page_errors: PageErrors
) -> None:
    publish("orders", saga(approval("first"), approval("second", ["first"])))
    boss = UserFactory(username="boss", is_staff=True)
    client = client_for(boss)
    run_id = start(client, "orders")["id"]
    live.sign_in(boss)
    live.open(f"/runs/{run_id}/")
    page = live.page
    expect(live.node("first")).to_have_attribute("data-status", "waiting")

    asgi_server.stop()
    expect(page.locator(".live-badge")).to_have_attribute("data-state", "reconnecting")
    expect(page.locator("[data-live-banner]")).to_contain_text("Disconnected")
    # What happens meanwhile is in the log; the page asks for what follows its last seq.
    response = client.post(f"/api/runs/{run_id}/steps/first/approve/", {}, format="json")
    assert response.status_code == 200, response.json()
    asgi_server.start()

    expect(page.locator(".live-badge")).to_have_attribute("data-state", "live", timeout=SLOW)
    expect(page.locator("[data-live-banner]")).to_have_count(0)
    expect(live.node("first")).to_have_attribute("data-status", "succeeded")
    expect(live.node("second")).to_have_attribute("data-status", "waiting")
    log = page.locator(".event-log tbody tr")
    seqs = [int(s) for s in log.evaluate_all("rows => rows.map(r => r.dataset.seq)")]
    assert seqs == list(range(1, len(seqs) + 1)), "a gap or a duplicate in the log"
    expect(page.locator('.event-log tr[data-event="act.approve"]')).to_have_count(1)
    live.still_same_page()
    # The browser reports the refused connections while the server was down.
    page_errors[:] = [e for e in page_errors if "WebSocket" not in e]
    assert page_errors == []


def test_an_approver_decides_a_gate_from_its_instructions_with_a_reason_cut_to_fit(
    live: Live, worker: Worker, page_errors: PageErrors
) -> None:
    """The approver reads the gate's instructions and group where they decide; the
    comment stops at what the server keeps, saying how much is left; and a long one
    stays a few lines in the log until asked for whole."""
    gate = approval("manager_ok", name="Manager approval")
    gate["action"]["instructions"] = "Orders over 10k only.\nCall the customer first."
    orders = publish("orders", saga(gate, task("ship", "demo.shipping.ship", ["manager_ok"])))
    rita = grant(UserFactory(username="rita"), orders, "view_workflow", "run_workflow")
    rita.groups.add(Group.objects.get_or_create(name="managers")[0])
    run_id = start(client_for(rita), "orders")["id"]
    live.sign_in(rita)
    live.open(f"/runs/{run_id}/")
    page = live.page

    # In the steps table, and above it where the decision is asked for.
    row = page.locator('.steps-table tr[data-step="manager_ok"]')
    expect(row.locator(".step-gate")).to_contain_text("group managers")
    expect(row.locator(".step-gate")).to_contain_text("Call the customer first.")
    callout = page.locator('.gate-alert[data-gate="manager_ok"]')
    expect(callout).to_contain_text("Waiting for approval: Manager approval")
    expect(callout.locator(".gate-note")).to_contain_text("Decided by the group managers")
    expect(callout.locator(".gate-instructions")).to_have_text(
        "Orders over 10k only.\nCall the customer first."
    )

    callout.locator('button[data-act="approve"]').click()
    dialog = page.locator("dialog.act-dialog")
    expect(dialog.locator("h2")).to_have_text("Approve Manager approval")
    expect(dialog.locator(".gate-note")).to_contain_text("Decided by the group managers")
    expect(dialog.locator(".gate-instructions")).to_contain_text("Orders over 10k only.")
    textarea = dialog.locator("textarea")
    textarea.fill("x" * 1950)
    expect(dialog.locator(".reason-left")).to_have_text("50 characters left")
    textarea.press_sequentially("y" * 60)  # typed past the limit: the last ten go nowhere
    assert len(textarea.input_value()) == 2000
    expect(dialog.locator(".reason-left")).to_have_text("0 characters left")
    dialog.locator("button[type=submit]").click()
    expect(dialog).to_be_hidden()

    expect(live.node("manager_ok")).to_have_attribute("data-status", "succeeded", timeout=SLOW)
    act = page.locator('.event-log tr[data-event="act.approve"]')
    expect(act).to_contain_text("by rita")
    toggle = act.locator(".clamped-toggle")
    expect(toggle).to_have_text("Show all (2,002 characters)", timeout=SLOW)
    short = act.bounding_box()
    assert short is not None and short["height"] < 120, short
    toggle.click()
    expect(act.locator(".clamped")).to_have_attribute("data-clamped", "open")
    tall = act.bounding_box()
    assert tall is not None and tall["height"] > short["height"] * 2, (short, tall)
    assert page_errors == []


def test_times_are_utc_24_hour_and_iso_ordered_whatever_the_browsers_locale(
    browser, asgi_server: AsgiServer, worker: Worker, page_errors: PageErrors
) -> None:
    """As the server-rendered pages write them (2026-11-26 10:28), not 11/26/2026 or 9:40am:
    a browser in New York with US English shows the server's UTC times."""
    publish("orders", saga(task("reserve", "demo.inventory.reserve")))
    boss = UserFactory(username="boss", is_staff=True)
    run = wait_for(client_for(boss), start(client_for(boss), "orders")["id"], {"completed"})
    created = datetime.fromisoformat(run["created_at"]).astimezone(UTC)
    context = browser.new_context(locale="en-US", timezone_id="America/New_York")
    try:
        live = Live(context.new_page(), asgi_server.url)
        live.page.on("pageerror", lambda error: page_errors.append(str(error)))
        live.page.set_default_timeout(SLOW)
        live.sign_in(boss)
        expected = created.strftime("%Y-%m-%d %H:%M:%S")
        live.open("/runs/")
        started = live.page.locator(f'tr[data-run="{run["id"]}"] time').first
        expect(started).to_have_text(expected)
        expect(started).to_have_attribute("title", f"{expected} UTC")
        live.open(f"/runs/{run['id']}/")
        stamps = live.page.locator(".stats time, .steps-table time")
        expect(stamps.first).to_have_text(expected)
        for text in stamps.all_inner_texts():
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", text), text
        for text in live.page.locator(".event-log time").all_inner_texts():
            assert re.fullmatch(r"\d{2}:\d{2}:\d{2}", text), text
    finally:
        context.close()
    assert page_errors == []


def blank_under_heading(page: Any) -> float:
    """The empty height, px, between a page's heading block's content and its bottom
    (margins make a few; a flex basis turned into a height made hundreds)."""
    return page.evaluate(
        """() => {
             const head = document.querySelector(".page-head > :first-child");
             const bottoms = [...head.children].map((e) => e.getBoundingClientRect().bottom);
             const bottom = Math.max(...bottoms);
             return head.getBoundingClientRect().bottom - bottom;
           }"""
    )


def wider_than(page: Any, px: int) -> list[str]:
    """The elements that reach past ``px``, to say what widened the page."""
    return page.evaluate(
        """(px) => [...document.querySelectorAll("body *")]
             .filter((e) => e.getBoundingClientRect().right > px)
             .slice(0, 8)
             .map((e) => `${e.tagName}.${e.className} ${e.getBoundingClientRect().right}`)""",
        px,
    )


@pytest.mark.parametrize("where", ["board", "run"])
def test_a_phone_wide_screen_never_scrolls_the_page_sideways(
    live: Live, worker: Worker, page_errors: PageErrors, where: str
) -> None:
    """At 390 px the nav wraps, and the wide tables scroll inside their cards."""
    orders = publish(
        "orders",
        saga(
            {**task("charge", "demo.payments.charge"), "pivot": True},
            task("ship", "demo.shipping.ship", ["charge"], fail="permanent"),
        ),
    )
    olga = grant(
        UserFactory(username="olga-with-a-rather-long-name", is_staff=True),
        orders,
        "view_workflow",
        "run_workflow",
        "operate_workflow",
    )
    client = client_for(olga)
    run_id = start(client, "orders")["id"]
    wait_for(client, run_id, {"stuck"})
    live.page.set_viewport_size({"width": 390, "height": 844})
    live.sign_in(olga)
    live.open("/runs/" if where == "board" else f"/runs/{run_id}/")
    page = live.page
    if where == "board":
        expect(page.locator(f'.stuck-table tr[data-run="{run_id}"]')).to_be_visible()
    else:
        expect(page.locator(".stuck-alert")).to_be_visible()
        expect(page.locator('.event-log tr[data-event="run.stuck"]')).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    # One pixel over is the rounding of fractional widths, not a page to scroll.
    assert width <= 391, f"the page is {width} px wide: {wider_than(page, 390)}"
    assert blank_under_heading(page) < 40
    # Every link of the nav is on the screen.
    for link in page.locator(".mainnav a").all():
        box = link.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    # The error reads as words, not a few letters a line.
    cell = page.locator(
        ".stuck-table .error-text" if where == "board" else ".steps-table .error-text"
    )
    box = cell.first.bounding_box()
    assert box is not None and box["width"] >= 150, box
    assert page_errors == []


def test_a_long_rejection_folds_on_the_timeline_too(
    live: Live, worker: Worker, page_errors: PageErrors
) -> None:
    orders = publish("orders", saga(approval("manager_ok")))
    rita = grant(UserFactory(username="rita"), orders, "view_workflow", "run_workflow")
    rita.groups.add(Group.objects.get_or_create(name="managers")[0])
    client = client_for(rita)
    run_id = start(client, "orders")["id"]
    wait_for(client, run_id, {"waiting"})
    reason = "Not this one. " * 140
    response = client.post(
        f"/api/runs/{run_id}/steps/manager_ok/reject/", {"comment": reason}, format="json"
    )
    assert response.status_code == 200, response.json()
    live.sign_in(rita)
    live.open(f"/runs/{run_id}/")
    failure = live.page.locator('.timeline-failures li[data-step="manager_ok"]')
    expect(failure.locator(".clamped-toggle")).to_contain_text("Show all")
    box = failure.bounding_box()
    assert box is not None and box["height"] < 120, box
    assert page_errors == []

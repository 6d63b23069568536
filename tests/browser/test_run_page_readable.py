"""A run's page read at a glance, on a laptop and a phone, as the issue "Stuck runs must
read at a glance" asks: each test is one thing a reader of the page relies on.

Chromium (headless) against uvicorn serving ``sagaboard.asgi``, a real Celery worker
process, PostgreSQL and Redis, as in test_live.py.
"""

from __future__ import annotations

import re
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db.models import F
from playwright.sync_api import Locator, Page, expect

from engine.models import Event, Run, StepRun
from tests import sagas
from tests.browser.conftest import PageErrors
from tests.browser.live_server import SLOW, Live
from tests.engine.conftest import Worker
from tests.factories import UserFactory, grant, make_published, make_workflow
from tests.sagas import approval, client_for, saga, start, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

# Three attempts, each failing: a run that is stuck at its third.
task = partial(sagas.task, retry={**sagas.RETRY, "max_attempts": 3})
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
STAMP = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}"


def publish(slug: str, spec: dict[str, Any]):
    workflow = make_workflow(slug)
    make_published(workflow, spec)
    return workflow


def age(run_id: str, by: timedelta) -> None:
    """Every time of the run moved back by ``by``: as if it had got stuck that long ago."""
    Run.objects.filter(pk=run_id).update(
        created_at=F("created_at") - by, stuck_since=F("stuck_since") - by
    )
    StepRun.objects.filter(run_id=run_id).update(
        started_at=F("started_at") - by, finished_at=F("finished_at") - by
    )
    Event.objects.filter(run_id=run_id).update(at=F("at") - by)


def stuck_for_18_minutes(attempts: int = 3) -> tuple[str, Any]:
    """A run of "orders" stuck after its pivot at "ship" (``attempts`` failed attempts) for
    18 minutes, "notify" after it; and an operator of it."""
    orders = publish(
        "orders",
        saga(
            {**task("charge", "demo.payments.charge", latency_ms=150), "pivot": True},
            task(
                "ship",
                "demo.shipping.ship",
                ["charge"],
                fail="retryable",
                latency_ms=200,
                retry={**sagas.RETRY, "max_attempts": attempts},
            ),
            task("notify", "demo.noop", ["ship"]),
        ),
    )
    olga = grant(
        UserFactory(username="olga"), orders, "view_workflow", "run_workflow", "operate_workflow"
    )
    client = client_for(olga)
    run_id = start(client, "orders", input={"order_id": "o-1", "amount": 12500})["id"]
    wait_for(client, run_id, {"stuck"})
    age(run_id, timedelta(minutes=18))
    return run_id, olga


def inside(box: dict[str, float] | None, outer: dict[str, float] | None) -> bool:
    assert box is not None and outer is not None
    return (
        box["x"] >= outer["x"] - 0.5
        and box["x"] + box["width"] <= outer["x"] + outer["width"] + 0.5
        and box["y"] >= outer["y"] - 0.5
        and box["y"] + box["height"] <= outer["y"] + outer["height"] + 0.5
    )


def card_of(page: Page, inner: str) -> Locator:
    return page.locator("section.card").filter(has=page.locator(inner))


# ----------------------------------------------------------------------------- tests


def test_a_stuck_run_s_head_says_stuck_since_when_and_at_which_step(
    live: Live, worker: Worker, page_errors: PageErrors
) -> None:
    run_id, olga = stuck_for_18_minutes()
    live.sign_in(olga)
    live.page.set_viewport_size(LAPTOP)
    live.open(f"/runs/{run_id}/")
    page = live.page

    tile = page.locator('[data-testid="run-stuck"]')
    expect(tile).to_be_visible()
    expect(tile.locator(".stat-label")).to_have_text("Stuck since")
    stuck_since = Run.objects.get(pk=run_id).stuck_since
    assert stuck_since is not None
    expect(tile.locator("time")).to_have_text(stuck_since.strftime("%Y-%m-%d %H:%M:%S"))
    expect(tile).to_contain_text(re.compile(r"for 18 min \d+ s, at step Ship ship"))
    expect(page.locator(".stats")).not_to_contain_text("Running for")
    assert page_errors == []


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["laptop", "phone"])
def test_a_failed_step_s_acts_lie_within_its_card(
    live: Live, worker: Worker, page_errors: PageErrors, viewport: dict[str, int]
) -> None:
    run_id, olga = stuck_for_18_minutes()
    live.sign_in(olga)
    live.page.set_viewport_size(viewport)
    live.open(f"/runs/{run_id}/")
    page = live.page

    expect(page.locator('.steps-table tr[data-step="ship"] .error-text')).to_be_visible()
    card = card_of(page, ".steps-table")
    buttons = page.locator(".steps-table button[data-act]")
    # Retry and skip the failed step; skip the one it blocks.
    expect(buttons).to_have_text(["Retry…", "Skip…", "Skip…"])
    for button in buttons.all():
        assert inside(button.bounding_box(), card.bounding_box()), (
            f"{button.get_attribute('data-act')} of {button.get_attribute('data-step')} "
            f"at {button.bounding_box()}, the card at {card.bounding_box()}"
        )
    # And they work from there.
    page.locator('.steps-table button[data-act="retry"][data-step="ship"]').click()
    expect(page.locator("dialog.act-dialog h2")).to_have_text("Retry step Ship")
    assert page_errors == []


def test_the_event_log_opens_at_its_first_row_below_its_header(
    live: Live, worker: Worker, page_errors: PageErrors
) -> None:
    run_id, olga = stuck_for_18_minutes(attempts=8)
    live.sign_in(olga)
    live.page.set_viewport_size(PHONE)
    live.open(f"/runs/{run_id}/")
    page = live.page

    log = page.locator(".event-log")
    expect(log.locator('tr[data-event="run.stuck"]')).to_have_count(1)
    # Longer than its box, so that where it opens matters.
    assert log.evaluate("e => e.scrollHeight > e.clientHeight + 100")
    first = log.locator('tbody tr[data-seq="1"]')
    head = log.locator("thead")
    first_box, head_box, log_box = first.bounding_box(), head.bounding_box(), log.bounding_box()
    assert first_box is not None and head_box is not None and log_box is not None
    assert first_box["y"] >= head_box["y"] + head_box["height"] - 1, (first_box, head_box)
    assert first_box["y"] + first_box["height"] <= log_box["y"] + log_box["height"], log_box
    assert log.evaluate("e => e.scrollTop") == 0
    assert page_errors == []


def test_a_finished_run_s_steps_say_what_became_of_them(
    live: Live, worker: Worker, page_errors: PageErrors
) -> None:
    """A step the run never reached is not "pending"; a skipped compensation says so."""
    reserve = sagas.task(
        "reserve",
        "demo.inventory.reserve",
        comp="demo.inventory.release",
        retry={"max_attempts": 1},
    )
    reserve["compensation"]["args"]["fail"] = "permanent"
    orders = publish(
        "orders",
        saga(
            reserve,
            sagas.task(
                "charge", "demo.payments.charge", ["reserve"], fail="permanent", latency_ms=50
            ),
            sagas.task("ship", "demo.shipping.ship", ["charge"]),
        ),
    )
    olga = grant(
        UserFactory(username="olga"), orders, "view_workflow", "run_workflow", "operate_workflow"
    )
    client = client_for(olga)
    run_id = start(client, "orders")["id"]
    assert wait_for(client, run_id, {"stuck"})["steps"][0]["status"] == "compensation_failed"
    response = client.post(
        f"/api/runs/{run_id}/steps/reserve/skip/", {"reason": "released by hand"}, format="json"
    )
    assert response.status_code == 200, response.json()
    wait_for(client, run_id, {"compensated"})
    live.sign_in(olga)
    live.open(f"/runs/{run_id}/")
    page = live.page

    expect(live.run_status()).to_have_text("compensated")
    rows = page.locator(".steps-table")
    expect(rows.locator('tr[data-step="reserve"] .badge')).to_have_text("compensation skipped")
    expect(rows.locator('tr[data-step="charge"] .badge')).to_have_text("failed")
    expect(rows.locator('tr[data-step="ship"] .badge')).to_have_text("not reached")
    expect(page.locator('[data-testid="run-steps"]')).to_contain_text("1 not reached")
    expect(page.locator('[data-testid="run-steps"]')).not_to_contain_text("pending")
    expect(live.node("reserve").locator(".run-node-status")).to_have_text("compensation skipped")
    expect(live.node("ship").locator(".run-node-status")).to_have_text("not reached")
    assert page_errors == []


def test_the_approver_sees_the_run_s_input_beside_the_decision(
    live: Live, worker: Worker, page_errors: PageErrors
) -> None:
    gate = approval("manager_ok", name="Manager approval")
    gate["action"]["instructions"] = "Check the amount: orders over 10,000 need a call."
    orders = publish("orders", saga(gate, task("ship", "demo.shipping.ship", ["manager_ok"])))
    rita = grant(UserFactory(username="rita"), orders, "view_workflow", "run_workflow")
    rita.groups.add(Group.objects.get_or_create(name="managers")[0])
    client = client_for(rita)
    run_id = start(client, "orders", input={"order_id": "o-7", "amount": 12500})["id"]
    wait_for(client, run_id, {"waiting"})
    live.sign_in(rita)
    live.open(f"/runs/{run_id}/")
    page = live.page

    callout = page.locator('.gate-alert[data-gate="manager_ok"]')
    expect(callout.locator(".gate-instructions")).to_contain_text("Check the amount")
    expect(callout.locator("[data-gate-input]")).to_contain_text('"amount": 12500')
    expect(callout.locator("[data-gate-input]")).to_contain_text('"order_id": "o-7"')
    # Beside the buttons that decide, not elsewhere on the page.
    decide = callout.locator('button[data-act="approve"]').bounding_box()
    shown = callout.locator("[data-gate-input] pre").bounding_box()
    assert decide is not None and shown is not None
    assert abs(decide["y"] - shown["y"]) < 200, (decide, shown)

    callout.locator('button[data-act="approve"]').click()
    dialog = page.locator("dialog.act-dialog")
    expect(dialog.locator("h2")).to_have_text("Approve Manager approval")
    expect(dialog.locator("[data-gate-input]")).to_contain_text('"amount": 12500')
    dialog.locator("button[type=submit]").click()
    expect(live.node("manager_ok")).to_have_attribute("data-status", "succeeded", timeout=SLOW)
    assert page_errors == []


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["laptop", "phone"])
def test_a_long_stuck_run_s_timeline_keeps_its_attempts_apart_and_its_stuck_time_short(
    live: Live, worker: Worker, page_errors: PageErrors, viewport: dict[str, int]
) -> None:
    """Three attempts in a second or two, then 18 minutes stuck: drawn to scale, the
    attempts were slivers on top of each other; the stuck stretch is a labelled gap."""
    run_id, olga = stuck_for_18_minutes()
    live.sign_in(olga)
    live.page.set_viewport_size(viewport)
    live.open(f"/runs/{run_id}/")
    page = live.page

    timeline = page.locator(".timeline")
    expect(timeline.locator('.timeline-gap-label[data-gap="stuck"]')).to_have_text("stuck 18 min")
    expect(timeline.locator('.timeline-gaps [data-gap="stuck"]')).to_contain_text(
        re.compile(r"stuck for 18 min \d+ s, from \d{2}:\d{2}:\d{2} to now")
    )
    row = timeline.locator('.timeline-row[data-step="ship"]')
    track, band = row.locator(".timeline-track").bounding_box(), row.locator(".timeline-gap")
    gap = band.bounding_box()
    assert track is not None and gap is not None
    assert gap["width"] < 0.15 * track["width"], (gap, track)
    bars = row.locator('.timeline-bar[data-kind="attempt"]')
    expect(bars).to_have_count(3)
    boxes = [bar.bounding_box() for bar in bars.all()]
    for box in boxes:
        assert box is not None and box["width"] >= 12, boxes
        assert box["x"] + box["width"] <= gap["x"] + 1, (box, gap)
    for before, after in zip(boxes, boxes[1:], strict=False):
        assert before is not None and after is not None
        assert after["x"] >= before["x"] + before["width"] - 1, boxes
    # Each is a target of its own: a click pins that attempt's details.
    for n, bar in enumerate(bars.all(), start=1):
        bar.click()
        expect(page.locator(".timeline-detail")).to_contain_text(f"ship: attempt {n} failed")

    # The reader zooms in (the chart scrolls sideways), and out again.
    width = boxes[0]["width"] if boxes[0] else 0
    timeline.get_by_role("button", name="Zoom in").click()
    expect(timeline).to_have_attribute("data-zoom", "2")
    wider = bars.first.bounding_box()
    assert wider is not None and wider["width"] > 1.6 * width, (width, wider)
    timeline.get_by_role("button", name="Zoom out").click()
    expect(timeline).to_have_attribute("data-zoom", "1")
    # And may draw the idle time to scale: no gap then, the attempts squeezed at the start.
    timeline.get_by_label("Idle time to scale").check()
    expect(timeline.locator(".timeline-gap")).to_have_count(0)
    squeezed = bars.first.bounding_box()
    assert squeezed is not None and squeezed["width"] < width / 4, (width, squeezed)
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"] + 1
    assert page_errors == []

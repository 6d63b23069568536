"""A map on the run page: its progress on its node and in its row, the list of its
iterations with their errors, an iteration skipped from there, and a log that leaves the
iterations out. Chromium (headless) against uvicorn, a real Celery worker process,
PostgreSQL and Redis, as in test_live.py."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import expect

from engine.models import Event
from tests.browser.conftest import PageErrors
from tests.browser.live_server import Live
from tests.engine.conftest import Worker
from tests.factories import UserFactory, grant, make_published, make_workflow
from tests.sagas import client_for, saga, start, task, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def packed(items: int, failing: int) -> dict[str, Any]:
    """A charge (the pivot), then a map packing each item, one of which is refused."""
    spec = saga(
        {**task("charge", "demo.payments.charge"), "pivot": True},
        {
            "id": "pack",
            "name": "Pack each item",
            "type": "map",
            "after": ["charge"],
            "items": "input.items",
            "max_concurrency": 4,
            "do": {
                "type": "task",
                "action": {
                    "name": "demo.inventory.reserve",
                    "args": {"sku": "{{ item.sku }}", "fail": "{{ item.fail }}"},
                },
            },
        },
    )
    spec["input_schema"]["properties"]["items"] = {"type": "array"}
    return spec


def test_a_map_shows_its_progress_and_an_operator_skips_its_failed_iteration(
    live: Live, worker: Worker, page_errors: PageErrors
) -> None:
    orders = make_workflow("orders")
    make_published(orders, packed(12, 7))
    olga = grant(
        UserFactory(username="olga"), orders, "view_workflow", "run_workflow", "operate_workflow"
    )
    client = client_for(olga)
    items = [{"sku": f"sku-{i}", "fail": "permanent" if i == 7 else ""} for i in range(12)]
    run_id = start(client, "orders", input={"order_id": "o-1", "items": items})["id"]
    body = wait_for(client, run_id, {"stuck"})
    # Once an iteration failed for good, the map began no more: it waits for an operator.
    progress = {s["id"]: s for s in body["steps"]}["pack"]["iterations"]
    done = progress["counts"]["succeeded"]
    assert progress["counts"]["failed"] == 1 and done < 11

    live.sign_in(olga)
    live.open(f"/runs/{run_id}/")
    page = live.page
    row = page.locator('.steps-table [data-map-progress="pack"]')
    expect(row).to_contain_text(f"{done} of 12 done · 1 failed")
    # The whole map may be retried (its failed iterations) or skipped, from its row.
    acts = page.locator('.steps-table tr[data-step="pack"] .step-acts button')
    expect(acts).to_have_text(["Retry…", "Skip…"])
    expect(page.locator('.run-node [data-map-progress="pack"]')).to_contain_text(f"{done}/12")
    # The page's log leaves the iterations out: their 24 events would drown the map's own.
    logged = page.locator(".event-log tbody tr")
    assert (
        logged.count() == Event.objects.filter(run_id=run_id).exclude(data__has_key="index").count()
    )

    row.get_by_role("button", name="Iterations").click()
    listed = page.locator('[data-iterations="pack"] tbody tr')
    expect(listed).to_have_count(12)
    page.get_by_label("Show the iterations in status").select_option("failed")
    expect(listed).to_have_count(1)
    failed = listed.first
    expect(failed).to_have_attribute("data-index", "7")
    expect(failed).to_contain_text("refused (a permanent failure)")
    expect(failed).to_contain_text('"sku-7"')
    live.shot("run-map-iterations")

    failed.locator('button[data-act="skip"]').click()
    dialog = page.locator("dialog.act-dialog")
    expect(dialog.locator("h2")).to_have_text("Skip step Pack each item, iteration 7")
    dialog.locator("textarea").fill("packed by hand")
    dialog.get_by_role("button", name="Skip").click()
    expect(page.locator('[data-testid="run-status"]')).to_contain_text("completed")
    expect(row).to_contain_text("12 of 12 done")
    act = Event.objects.get(run_id=run_id, type="act.skip")
    assert act.data["index"] == 7 and act.actor == "olga"
    assert page_errors == []


def test_a_running_maps_progress_moves_live_without_its_iteration_events(
    live: Live, worker: Worker, page_errors: PageErrors
) -> None:
    """The stream sends the map's counts, not its iterations' events: the page's counts
    move while it runs and end right, from far fewer frames than iteration events."""
    items = 300
    slow = {"name": "demo.noop", "args": {"latency_ms": 1500}}
    noop = {"name": "demo.noop", "args": {"latency_ms": 10}}
    spec = saga(
        {"id": "prepare", "type": "task", "after": [], "action": slow},
        {
            "id": "pack",
            "name": "Pack each item",
            "type": "map",
            "after": ["prepare"],
            "items": "input.items",
            "max_concurrency": 20,
            "do": {"type": "task", "action": noop},
        },
    )
    spec["input_schema"]["properties"]["items"] = {"type": "array"}
    orders = make_workflow("orders")
    make_published(orders, spec)
    vera = grant(UserFactory(username="vera"), orders, "view_workflow", "run_workflow")
    client = client_for(vera)
    run_id = start(client, "orders", input={"order_id": "o-1", "items": list(range(items))})["id"]

    live.sign_in(vera)
    page = live.page
    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda frame: frames.append(frame)))
    live.open(f"/runs/{run_id}/")
    row = page.locator('.steps-table [data-map-progress="pack"]')
    # Seen while the map runs: some iterations done, not all (read as the page shows them).
    seen: set[int] = set()
    for _ in range(600):
        text = row.text_content() if row.count() else ""
        found = re.search(rf"(\d+) of {items} done", text or "")
        if found:
            seen.add(int(found.group(1)))
        if items in seen:
            break
        page.wait_for_timeout(50)
    assert len([n for n in seen if 0 < n < items]) >= 2, seen
    expect(row).to_contain_text(f"{items} of {items} done")
    expect(page.locator('.run-node [data-map-progress="pack"]')).to_contain_text(f"{items}/{items}")
    body = wait_for(client, run_id, {"completed"})
    assert {s["id"]: s for s in body["steps"]}["pack"]["iterations"]["counts"] == {
        "succeeded": items
    }
    iteration_events = Event.objects.filter(run_id=run_id, data__has_key="index").count()
    assert iteration_events >= 2 * items
    # What the frames carried: the run's other events and the map's progress, one at most
    # a frame, at most ten times a second; not one of the iteration events.
    carried = [json.loads(f) for f in frames if isinstance(f, str)]
    items_sent = [i for f in carried for i in (f["events"] if f["type"] == "batch" else [f])]
    assert len(items_sent) < iteration_events / 4, len(items_sent)
    assert not any("index" in i.get("data", {}) for i in items_sent)
    assert {i["type"] for i in items_sent} == {"event", "progress"}
    assert page_errors == []

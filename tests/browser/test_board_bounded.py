"""The board kept open under steady traffic: a bounded page, however long it is open.

Runs are started at 2 a second (the 120 a minute at which an open board once grew
from 73 to 455 rows in 200 s and blocked the browser's main thread about 23% of
the time) for two minutes, while the board is open on its first page. The page
keeps the newest ``PAGE`` runs; the runs beyond them are held as a count ("N newer
runs") until revealed, and a later keyset page never changes under the reader.
The cost of an event must not grow with the time the board has been open: the
main thread's long tasks (Chromium's PerformanceObserver, type ``longtask``) in
the last stretch are compared with those in the first.
"""

from __future__ import annotations

import re
import time
from functools import partial
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from engine import services
from engine.apis import RunPagination
from tests import sagas
from tests.browser.conftest import PageErrors
from tests.browser.live_server import SLOW, Live
from tests.engine.conftest import Worker
from tests.factories import UserFactory, grant, make_published, make_workflow
from tests.sagas import saga

pytestmark = pytest.mark.django_db(transaction=True)

PAGE = RunPagination.page_size
#: Runs started a second, and for how long each stretch of traffic lasts.
RATE = 2.0
STRETCH_S = 30.0

# Two attempts, a third of them failing: some runs retry, some are compensated.
task = partial(sagas.task, retry={**sagas.RETRY, "max_attempts": 2})

#: Every long task of the page from its start, as [start, duration] in ms of the page's
#: clock (performance.now()).
LONG_TASKS = """
window.__longTasks = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) window.__longTasks.push([entry.startTime, entry.duration]);
}).observe({ type: "longtask", buffered: true });
"""

ROWS = 'table[data-testid="runs"] tbody tr'


class Traffic:
    """Runs of ``workflow`` started through the service at ``RATE`` a second, while the
    page is watched (Playwright hands the page its events only while it waits)."""

    def __init__(self, page: Page, workflow: Any, by: Any) -> None:
        self.page = page
        self.workflow = workflow
        self.by = by
        self.started: list[str] = []
        self.most_rows = 0

    def rows(self) -> int:
        return self.page.locator(ROWS).count()

    def run_for(self, seconds: float) -> None:
        begun = time.monotonic()
        due = len(self.started)
        while (elapsed := time.monotonic() - begun) < seconds:
            while len(self.started) < due + int(elapsed * RATE) + 1:
                run, _ = services.run_start(
                    workflow=self.workflow,
                    by=self.by,
                    input={"order_id": f"o-{len(self.started)}"},
                )
                self.started.append(str(run.pk))
            self.most_rows = max(self.most_rows, self.rows())
            self.page.wait_for_timeout(200)

    def clock(self) -> float:
        return float(self.page.evaluate("performance.now()"))


def long_task_ms(page: Page, since: float, until: float) -> tuple[float, int]:
    """Total duration of the long tasks that began in [since, until), and how many."""
    tasks = page.evaluate("window.__longTasks")
    inside = [duration for start, duration in tasks if since <= start < until]
    return sum(inside), len(inside)


def newer_count(page: Page) -> int:
    text = page.locator("[data-newer-runs] button").inner_text()
    match = re.search(r"(\d+)", text)
    assert match, text
    return int(match.group(1))


def test_an_open_board_keeps_a_bounded_page_and_its_cost_per_event_under_steady_traffic(
    live: Live, worker: Worker, page_errors: PageErrors
) -> None:
    orders = make_workflow("orders")
    make_published(
        orders,
        saga(
            task(
                "reserve", "demo.inventory.reserve", comp="demo.inventory.release", latency_ms=150
            ),
            task("charge", "demo.payments.charge", ["reserve"], latency_ms=150, fail_rate=0.3),
        ),
    )
    # One run of it, started just before the reveal, is still running when shown.
    slow = make_workflow("slow")
    make_published(slow, saga(task("reserve", "demo.inventory.reserve", latency_ms=5000)))
    rita = grant(UserFactory(username="rita"), orders, "view_workflow", "run_workflow")
    grant(rita, slow, "view_workflow", "run_workflow")
    live.sign_in(rita)
    page = live.page
    page.add_init_script(LONG_TASKS)
    live.open("/runs/")
    traffic = Traffic(page, orders, rita)
    newer = page.locator("[data-newer-runs] button")

    # The first stretch: the page fills up to its size, then holds what comes after.
    first_from = traffic.clock()
    traffic.run_for(STRETCH_S)
    first_until = traffic.clock()
    assert traffic.rows() == PAGE
    expect(newer).to_be_visible()
    # Announced politely to screen readers as it changes.
    expect(page.locator("[data-newer-runs]")).to_have_attribute("aria-live", "polite")
    held = newer_count(page)
    assert held > 0

    traffic.run_for(STRETCH_S / 2)
    assert newer_count(page) > held, "the count of newer runs grows"

    # Revealed from the keyboard: the newest page again, the latest run on top.
    slow_run, _ = services.run_start(workflow=slow, by=rita, input={"order_id": "slow"})
    page.wait_for_timeout(100)
    newer.focus()
    page.keyboard.press("Enter")
    expect(newer).to_be_hidden()
    expect(page.locator(f'{ROWS}[data-run="{slow_run.pk}"]')).to_be_visible()
    assert traffic.rows() == PAGE
    # Focus goes to the runs' heading, not to the end of the page.
    assert page.evaluate("document.activeElement.id") == "runs-title"
    # A run on the page changes in place, from its events.
    badge = page.locator(f'{ROWS}[data-run="{slow_run.pk}"] .badge')
    expect(badge).to_have_text("running")
    expect(badge).to_have_text("completed", timeout=SLOW)

    traffic.run_for(STRETCH_S / 2)
    expect(newer).to_be_visible()
    assert newer_count(page) > 0

    # The last stretch, from a minute and a half open on: no dearer than the first.
    last_from = traffic.clock()
    traffic.run_for(STRETCH_S)
    last_until = traffic.clock()
    first_ms, first_n = long_task_ms(page, first_from, first_until)
    last_ms, last_n = long_task_ms(page, last_from, last_until)
    print(
        f"\nlong tasks: first {STRETCH_S:.0f} s {first_ms:.0f} ms ({first_n}), "
        f"last {STRETCH_S:.0f} s {last_ms:.0f} ms ({last_n}); "
        f"most rows {traffic.most_rows}, runs started {len(traffic.started)}"
    )
    assert traffic.most_rows <= PAGE
    # Measured on a two-core machine: the board that kept every run it saw (240 rows
    # by then) spent 0 ms in long tasks in the first 30 s and 1,795 ms (19 tasks) in
    # the last; the bounded page spends 0 ms in both, and, with Chromium's CPU
    # throttled 4x, 291 ms in the first (filling the page) and 51 ms in the last. The
    # bound leaves room for a machine loaded with the server, the worker, Chromium and
    # other tests, where a garbage collection or a stall turns a task or two into long
    # ones: the last stretch may take twice the first, and 200 ms (under 1% of 30 s)
    # whatever the first took, well under what the growing board took.
    assert last_ms <= max(200.0, 2 * first_ms), (first_ms, last_ms)

    # A later keyset page: new runs never reshuffle it.
    first_page = page.locator(ROWS).evaluate_all("rows => rows.map(r => r.dataset.run)")
    page.get_by_role("button", name="Older").click()
    expect(page.locator(".runs-page")).to_have_text("page 2")
    shown = page.locator(ROWS).evaluate_all("rows => rows.map(r => r.dataset.run)")
    assert shown and not set(shown) & set(first_page)
    traffic.run_for(5)
    assert page.locator(ROWS).evaluate_all("rows => rows.map(r => r.dataset.run)") == shown
    expect(newer).to_be_hidden()
    # Newer, from the second page: the first, live again, with what started meanwhile.
    page.get_by_role("button", name="Newer").click()
    expect(page.locator(f'{ROWS}[data-run="{traffic.started[-1]}"]')).to_be_visible()
    expect(page.locator(".runs-page")).to_have_text("page 1")
    assert traffic.rows() == PAGE
    live.still_same_page()
    assert page_errors == []

"""Run page benchmark: the page of a run whose map has 10,000 items, in headless Chromium.

    DATABASE_URL=postgres://... CELERY_BROKER_URL=redis://... python bench/map_page.py

Runs a saga of one map over ``--items`` no-op items (``max_concurrency`` 50) on a worker
process until it completes (about 30,000 events in its log), then serves Sagaboard under
uvicorn and opens the run's page ``--rounds`` times, printing for each:

- time to open: from navigation start until the map's progress shows on its node and in
  the steps table (the graph laid out, the log drawn);
- time to list: from a click on "Iterations" until its first page of rows is drawn.

Target: the page opens in under 1 s. Needs the front end built (`make setup`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402
from bench.designer import CHROMIUM_FLAGS, start_server  # noqa: E402
from bench.engine import setup_django, start_workers, wait_ready, wait_runs  # noqa: E402
from bench.maps import map_workflow  # noqa: E402
from bench.topology import spare_port  # noqa: E402

LISTED = "() => document.querySelectorAll('[data-iterations] tbody tr[data-index]').length >= 200"
USERNAME = "bench-map-page"
PASSWORD = "bench-map-page-pw-1"
TARGET_S = 1.0
OPENED = """() => {
  const node = document.querySelector('.run-node [data-map-progress]');
  const row = document.querySelector('.steps-table [data-map-progress]');
  return !!(node && row && document.querySelector('.event-log tbody tr'));
}"""


def big_run(items: int) -> str:
    """A completed run of a map over ``items`` items, and a user who may see it."""
    from django.contrib.auth.models import User
    from guardian.shortcuts import assign_perm

    from engine.models import Run
    from engine.services import run_start

    workflow = map_workflow(50)
    user, _ = User.objects.get_or_create(username=USERNAME)
    user.set_password(PASSWORD)
    user.save()
    assign_perm("view_workflow", user, workflow)
    key = f"bench-map-page-{items}"
    run = Run.objects.filter(workflow=workflow, idempotency_key=key, status="completed").first()
    if run is not None:
        return str(run.pk)
    procs = start_workers(1, 2, "prefork")
    try:
        wait_ready()
        run, _ = run_start(
            workflow=workflow, by=None, input={"items": list(range(items))}, idempotency_key=key
        )
        wait_runs([run.pk], timeout=1800)
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=30)
    run.refresh_from_db()
    if run.status != "completed":
        sys.exit(f"the run ended {run.status}")
    return str(run.pk)


def measure(base: str, run_id: str, rounds: int) -> tuple[list[float], list[float]]:
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    if executable is None:
        sys.exit("Install Debian's chromium.")
    opens: list[float] = []
    lists: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_FLAGS
        )
        page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
        page.goto(f"{base}/login/")
        page.fill("#id_username", USERNAME)
        page.fill("#id_password", PASSWORD)
        page.click("form.form button[type=submit]")
        page.wait_for_url(lambda u: "/login/" not in u)
        for _ in range(rounds):
            page.goto(f"{base}/runs/{run_id}/", wait_until="commit")
            page.wait_for_function(OPENED, polling="raf", timeout=60_000)
            opens.append(page.evaluate("() => performance.now()") / 1000)
            page.evaluate(
                """() => {
                  window.__listStart = performance.now();
                  document.querySelector('.steps-table [data-map-progress] button').click();
                }"""
            )
            page.wait_for_function(LISTED, polling="raf", timeout=60_000)
            lists.append(page.evaluate("() => (performance.now() - window.__listStart) / 1000"))
        browser.close()
    return opens, lists


def summary(name: str, values: list[float], target: float | None) -> str:
    rest = values[1:] or values
    verdict = ""
    if target is not None:
        verdict = f"  (target < {target:g} s: {'ok' if max(rest) < target else 'OVER TARGET'})"
    return (
        f"{name:<16} first {values[0]:.3f} s · then median {statistics.median(rest):.3f} s, "
        f"max {max(rest):.3f} s{verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    if not (ROOT / "static" / "build" / "run.js").exists():
        sys.exit("Build the front end first: make setup")
    setup_django()
    common.vacuum()
    run_id = big_run(args.items)
    from engine.models import Event

    events = Event.objects.filter(run_id=run_id).count()
    port = spare_port()
    server = start_server(port)
    try:
        opens, lists = measure(f"http://127.0.0.1:{port}", run_id, args.rounds)
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(
        f"Run page of a map of {args.items} items ({events} events in the run's log), "
        f"{args.rounds} rounds (the first with a cold cache):"
    )
    print(summary("time to open", opens, TARGET_S))
    print(summary("time to list", lists, None))


if __name__ == "__main__":
    main()

"""Run list benchmark: the board's pages with 5,000 runs, then with 100,000.

    DATABASE_URL=postgres://... python bench/board.py

Fills a database of its own (created if missing, emptied first) with runs of
20 workflows spread over 30 days (most completed, some compensated, running
and stuck), and times the run list as the board and the API serve it: the
first page, a page 50 pages deep (followed by its cursor), a workflow filter,
the stuck filter and order, for a staff user and for a viewer of 2 workflows,
and the board page itself. Each figure is the median of ``--repeat`` requests,
in process (no HTTP server), first with ``--small`` runs and then with
``--large``; keyset pagination should make the two about equal.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sagaboard.settings")

WORKFLOWS = 20
DEEP = 50


def prepare() -> tuple[Any, Any]:
    """An empty run table, the workflows, a staff user and a viewer of two workflows."""
    from django.contrib.auth.models import User
    from django.db import connection
    from guardian.shortcuts import assign_perm

    from designer import services
    from designer.models import Workflow

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE engine_event, engine_steprun, engine_run CASCADE")
    author, _ = User.objects.get_or_create(username="bench-author")
    reviewer, _ = User.objects.get_or_create(username="bench-reviewer", defaults={"is_staff": True})
    staff, _ = User.objects.get_or_create(username="bench-staff", defaults={"is_staff": True})
    viewer, _ = User.objects.get_or_create(username="bench-viewer")
    spec = {
        "format": "sagaboard/v1",
        "steps": [
            {"id": "a", "name": "A", "type": "task", "action": {"name": "demo.noop"}},
            {
                "id": "b",
                "name": "B",
                "type": "task",
                "after": ["a"],
                "action": {"name": "demo.noop"},
            },
        ],
    }
    for i in range(WORKFLOWS):
        slug = f"board-{i:02d}"
        workflow = Workflow.objects.filter(slug=slug).first()
        if workflow is None:
            workflow = services.workflow_create(by=author, slug=slug, name=f"Board {i}")
        if workflow.published_version is None:
            common.publish(workflow, spec, author=author, reviewer=reviewer)
        if i < 2:
            assign_perm("designer.view_workflow", viewer, workflow)
    return staff, viewer


def fill(total: int) -> None:
    """Add runs up to ``total``: created over 30 days, 90% completed, 5% compensated, 3%
    running, 2% stuck (each stuck one with its failed step)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM engine_run")
        have = cursor.fetchone()[0]
        if have >= total:
            return
        cursor.execute(
            """
            WITH versions AS (
                SELECT w.id AS workflow_id, v.id AS version_id,
                       row_number() OVER (ORDER BY w.slug) - 1 AS n
                FROM designer_workflow w
                JOIN designer_version v ON v.workflow_id = w.id AND v.status = 'published'
                WHERE w.slug LIKE 'board-%%'
            ),
            new AS (
                SELECT gen_random_uuid() AS id, g, random() AS r,
                       now() - random() * interval '30 days' AS created
                FROM generate_series(%s, %s - 1) AS g
            )
            INSERT INTO engine_run (id, workflow_id, version_id, status, input, correlation_id,
                                    created_at, updated_at, finished_at, stuck_since,
                                    last_seq, core)
            SELECT new.id, v.workflow_id, v.version_id,
                   CASE WHEN r < 0.90 THEN 'completed' WHEN r < 0.95 THEN 'compensated'
                        WHEN r < 0.98 THEN 'running' ELSE 'stuck' END,
                   '{}', new.id::text, created, created + interval '2 seconds',
                   CASE WHEN r < 0.95 THEN created + interval '2 seconds' END,
                   CASE WHEN r >= 0.98 THEN created + interval '1 second' END,
                   6, '{}'
            FROM new JOIN versions v ON v.n = new.g %% %s
            """,
            [have, total, WORKFLOWS],
        )
        cursor.execute(
            """
            INSERT INTO engine_steprun (run_id, step_id, position, type, status, attempt,
                                        compensation_attempt, error, claimed_by, core,
                                        updated_at)
            SELECT r.id, s.step_id, s.position, 'task',
                   CASE WHEN r.status = 'stuck' AND s.step_id = 'b' THEN 'failed'
                        ELSE 'succeeded' END,
                   1, 0,
                   CASE WHEN r.status = 'stuck' AND s.step_id = 'b'
                        THEN 'payments answered 503' ELSE '' END,
                   '', '{}', r.updated_at
            FROM engine_run r
            CROSS JOIN (VALUES ('a', 0), ('b', 1)) AS s(step_id, position)
            WHERE r.status = 'stuck'
              AND NOT EXISTS (SELECT 1 FROM engine_steprun x WHERE x.run_id = r.id)
            """
        )
        cursor.execute("ANALYZE engine_run")
        cursor.execute("ANALYZE engine_steprun")


def timed(call: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        call()
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000


def measure(staff: Any, viewer: Any, repeat: int) -> dict[str, float]:
    from django.test import Client
    from rest_framework.test import APIClient

    def api(user: Any) -> APIClient:
        client = APIClient()
        client.force_authenticate(user)
        return client

    def get(client: Any, url: str) -> Any:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return response

    def deep(client: Any, page_size: int) -> str:
        url = f"/api/runs/?page_size={page_size}"
        for _ in range(DEEP):
            url = get(client, url).json()["next"]
            assert url, "fewer runs than the deep page needs: raise --small"
        return url

    as_staff, as_viewer = api(staff), api(viewer)
    # The viewer sees a tenth of the runs: smaller pages reach as far in.
    staff_deep, viewer_deep = deep(as_staff, 50), deep(as_viewer, 5)
    board = Client()
    board.force_login(staff)
    cases = {
        "API, staff: first page": (as_staff, "/api/runs/"),
        f"API, staff: page {DEEP + 1}": (as_staff, staff_deep),
        "API, viewer of 2 workflows: first page": (as_viewer, "/api/runs/"),
        f"API, viewer of 2 workflows: page {DEEP + 1} (of 5)": (as_viewer, viewer_deep),
        "API, staff: ?workflow=board-07": (as_staff, "/api/runs/?workflow=board-07"),
        "API, staff: ?status=stuck": (as_staff, "/api/runs/?status=stuck"),
        "API, staff: ?order=stuck": (as_staff, "/api/runs/?order=stuck"),
        "API, staff: ?since=(a day ago)": (as_staff, "/api/runs/?since=" + _day_ago()),
        "board page (/runs/), staff": (board, "/runs/"),
    }
    return {
        name: timed(lambda c=client, u=url: get(c, u), repeat)
        for name, (client, url) in cases.items()
    }


def _day_ago() -> str:
    from datetime import timedelta
    from urllib.parse import quote

    from django.utils import timezone

    return quote((timezone.now() - timedelta(days=1)).isoformat())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=5_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    common.setup_django()
    from django.conf import settings

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    staff, viewer = prepare()
    figures = {}
    for total in (args.small, args.large):
        began = time.monotonic()
        fill(total)
        print(f"{total:,} runs (filled in {time.monotonic() - began:.1f} s)", flush=True)
        figures[total] = measure(staff, viewer, args.repeat)

    small, large = figures[args.small], figures[args.large]
    print(f"\nmedian of {args.repeat} requests, ms\n")
    print(f"{'':<46}{args.small:>10,}{args.large:>10,}{'ratio':>8}")
    for name in small:
        ratio = large[name] / small[name]
        print(f"{name:<46}{small[name]:>10.1f}{large[name]:>10.1f}{ratio:>7.2f}x")


if __name__ == "__main__":
    main()

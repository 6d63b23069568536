"""Finding runs benchmark: the run list's search filters with a million runs.

    DATABASE_URL=postgres://.../sagaboard_search python bench/search.py [--explain]

Fills a database of its own (created if missing; filled once, kept for the next time)
with runs of 20 workflows that declare two search attributes (order_id, customer), each
with its three step rows and its idempotency key, spread over 30 days; about 1% stuck
with an error in a step row and 0.5% retrying one. Filled with SQL (generate_series),
not the ORM. Then times the run list as the API serves it, in process (no HTTP server):
``attr.order_id=``, ``q=`` with an attribute value, an attribute prefix, a run id
prefix, an idempotency key and error words, ``step=`` and ``error=``, as a staff user and
as a viewer of 2 workflows. Each figure is the median and p99 of ``--repeat`` requests,
the value changed at every request. ``--explain`` prints the plan (EXPLAIN ANALYZE) of
one request of each kind.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sagaboard.settings")

WORKFLOWS = 20
#: Distinct customers: each has about RUNS / CUSTOMERS runs.
CUSTOMERS = 50_000
#: The errors stuck and retrying runs hold, a step's id and its order beside them.
ERRORS = [
    "payments answered 503 Service Unavailable",
    "card declined by the issuing bank (code 51)",
    "inventory timed out after 30 s",
    "shipping refused the address: no such street",
    "connection reset by peer while reading the answer",
]
TARGET_MS = 50


def prepare() -> tuple[Any, Any]:
    """The workflows (published, with search attributes), a staff user and a viewer of
    two workflows."""
    from django.contrib.auth.models import User
    from guardian.shortcuts import assign_perm

    from designer import services
    from designer.models import Workflow

    author, _ = User.objects.get_or_create(username="bench-author")
    reviewer, _ = User.objects.get_or_create(username="bench-reviewer", defaults={"is_staff": True})
    staff, _ = User.objects.get_or_create(username="bench-staff", defaults={"is_staff": True})
    viewer, _ = User.objects.get_or_create(username="bench-viewer")
    task = {"type": "task", "action": {"name": "demo.noop"}}
    spec = {
        "format": "sagaboard/v1",
        "search": {"order_id": "{{ input.order_id }}", "customer": "{{ input.customer }}"},
        "steps": [
            {"id": "reserve", **task},
            {"id": "charge", "after": ["reserve"], "pivot": True, **task},
            {"id": "ship", "after": ["charge"], **task},
        ],
    }
    for i in range(WORKFLOWS):
        slug = f"search-{i:02d}"
        workflow = Workflow.objects.filter(slug=slug).first()
        if workflow is None:
            workflow = services.workflow_create(by=author, slug=slug, name=f"Search {i}")
        if workflow.published_version is None:
            common.publish(workflow, spec, author=author, reviewer=reviewer)
        if i < 2:
            assign_perm("designer.view_workflow", viewer, workflow)
    return staff, viewer


def fill(total: int) -> None:
    """``total`` runs, each with its step rows and search attribute rows, unless the
    database holds them already."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM engine_run")
        if cursor.fetchone()[0] == total:
            return
        began = time.monotonic()
        cursor.execute(
            "TRUNCATE engine_searchattribute, engine_event, engine_iteration, engine_steprun, "
            "engine_run CASCADE"
        )
        cursor.execute(
            """
            WITH versions AS (
                SELECT w.id AS workflow_id, v.id AS version_id,
                       row_number() OVER (ORDER BY w.slug) - 1 AS n
                FROM designer_workflow w
                JOIN designer_version v ON v.workflow_id = w.id AND v.status = 'published'
                WHERE w.slug LIKE 'search-%%'
            ),
            new AS (
                SELECT gen_random_uuid() AS id, g, random() AS r,
                       'ORD-' || lpad(g::text, 7, '0') AS order_id,
                       'c' || (hashint4(g::int) & 2147483647) %% %s || '@example.com' AS customer,
                       now() - random() * interval '30 days' AS created
                FROM generate_series(0, %s - 1) AS g
            )
            INSERT INTO engine_run (id, workflow_id, version_id, status, input, correlation_id,
                                    idempotency_key, created_at, updated_at, finished_at,
                                    stuck_since, last_seq, core, search, parent_step,
                                    output_error)
            SELECT new.id, v.workflow_id, v.version_id,
                   CASE WHEN r < 0.010 THEN 'stuck' WHEN r < 0.015 THEN 'running'
                        WHEN r < 0.030 THEN 'compensated' ELSE 'completed' END,
                   jsonb_build_object('order_id', order_id, 'customer', customer),
                   new.id::text, 'checkout-' || md5(g::text), created,
                   created + interval '2 seconds',
                   CASE WHEN r >= 0.015 THEN created + interval '2 seconds' END,
                   CASE WHEN r < 0.010 THEN created + interval '1 second' END,
                   8, '{}', jsonb_build_object('order_id', order_id, 'customer', customer),
                   '', ''
            FROM new JOIN versions v ON v.n = new.g %% %s
            """,
            [CUSTOMERS, total, WORKFLOWS],
        )
        print(f"  runs: {time.monotonic() - began:.0f} s", flush=True)
        cursor.execute(
            """
            INSERT INTO engine_searchattribute (run_id, workflow_id, name, value)
            SELECT id, workflow_id, a.key, a.value
            FROM engine_run, jsonb_each_text(search) AS a
            """
        )
        print(f"  search attributes: {time.monotonic() - began:.0f} s", flush=True)
        # Stuck runs fail for good at charge or ship; running ones retry one of them.
        errors = "ARRAY[" + ", ".join(f"'{e}'" for e in ERRORS) + "]"
        cursor.execute(
            f"""
            INSERT INTO engine_steprun (run_id, step_id, position, type, status, attempt,
                                        compensation_attempt, error, claimed_by, core,
                                        updated_at)
            SELECT r.id, s.step_id, s.position, 'task',
                   CASE WHEN r.status IN ('stuck', 'running') AND s.step_id = r.failing
                        THEN CASE r.status WHEN 'stuck' THEN 'failed' ELSE 'retrying' END
                        WHEN r.status IN ('stuck', 'running') AND s.position > r.at
                        THEN 'pending'
                        WHEN r.status = 'compensated' THEN 'compensated'
                        ELSE 'succeeded' END,
                   1, 0,
                   CASE WHEN r.status IN ('stuck', 'running') AND s.step_id = r.failing
                        THEN ({errors})[1 + (hashtext(r.id::text) & 1023) % {len(ERRORS)}]
                             || ' (' || s.step_id || ', order ' || (r.search->>'order_id')
                             || ')'
                        ELSE '' END,
                   '', '{{}}', r.updated_at
            FROM (SELECT id, status, search, updated_at,
                         CASE WHEN hashtext(id::text) & 1 = 0 THEN 'charge' ELSE 'ship' END
                             AS failing,
                         CASE WHEN hashtext(id::text) & 1 = 0 THEN 1 ELSE 2 END AS at
                  FROM engine_run) AS r
            CROSS JOIN (VALUES ('reserve', 0), ('charge', 1), ('ship', 2)) AS s(step_id, position)
            """
        )
        print(f"  step rows: {time.monotonic() - began:.0f} s", flush=True)
    common.vacuum()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE engine_searchattribute")
    print(f"  vacuumed: {time.monotonic() - began:.0f} s", flush=True)


def samples(user_workflows: list[int] | None, count: int) -> list[dict[str, Any]]:
    """Runs to look for: their id, key, search attributes and error (in the workflows
    given, or any)."""
    from django.db import connection

    where = "WHERE r.workflow_id = ANY(%s)" if user_workflows else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT r.id::text, r.idempotency_key, r.search->>'order_id', r.search->>'customer'
            FROM engine_run r TABLESAMPLE SYSTEM (2) {where} LIMIT %s
            """,
            [user_workflows, count] if user_workflows else [count],
        )
        return [
            {"id": i, "key": k, "order_id": o, "customer": c} for i, k, o, c in cursor.fetchall()
        ]


def cases(picked: list[dict[str, Any]]) -> dict[str, Any]:
    """Each case: a function of the request's number giving its query."""
    words = ["declined", "timed out", "503", "refused address", "reset by peer", "issuing bank"]
    return {
        "attr.order_id=<one>": lambda n: {"attr.order_id": picked[n]["order_id"]},
        "q=<attribute value>": lambda n: {"q": picked[n]["customer"]},
        "q=<attribute prefix>": lambda n: {"q": picked[n]["order_id"][:10]},
        "q=<prefix of 100,000 values>": lambda n: {"q": f"ORD-0{n % 10}"},
        "q=<run id prefix, 8>": lambda n: {"q": picked[n]["id"][:8]},
        "q=<idempotency key>": lambda n: {"q": picked[n]["key"]},
        "q=<error words>": lambda n: {"q": words[n % len(words)]},
        "step=<step>": lambda n: {"step": ("charge", "ship")[n % 2]},
        "error=<words>": lambda n: {"error": words[n % len(words)]},
        "error=<words of one run>": lambda n: {"error": picked[n]["order_id"]},
    }


def measure(users: dict[str, Any], repeat: int, explain: bool) -> dict[str, tuple[float, float]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from guardian.shortcuts import get_objects_for_user
    from rest_framework.test import APIClient

    figures: dict[str, tuple[float, float]] = {}
    for who, user in users.items():
        client = APIClient()
        client.force_authenticate(user)
        mine = (
            None
            if user.is_staff
            else list(
                get_objects_for_user(user, "designer.view_workflow").values_list("id", flat=True)
            )
        )
        picked = samples(mine, repeat + 5)
        assert len(picked) > repeat, "too few runs sampled"
        for name, query_of in cases(picked).items():
            times = []
            for n in range(repeat + 3):
                url = "/api/runs/?" + urlencode(query_of(n))
                began = time.perf_counter()
                response = client.get(url)
                elapsed = (time.perf_counter() - began) * 1000
                assert response.status_code == 200, (url, response.status_code, response.json())
                if n >= 3:  # the first few warm the caches
                    times.append(elapsed)
            figures[f"{who}: {name}"] = (
                statistics.median(times),
                common.percentile(times, 99),
            )
            if explain:
                with CaptureQueriesContext(connection) as captured:
                    client.get("/api/runs/?" + urlencode(query_of(0)))
                listing = max(
                    (q["sql"] for q in captured.captured_queries if "ORDER BY" in q["sql"]),
                    key=len,
                )
                with connection.cursor() as cursor:
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + listing)
                    plan = "\n".join(row[0] for row in cursor.fetchall())
                print(f"\n--- {who}: {name} {query_of(0)}\n{plan}", flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()

    common.setup_django()
    from django.conf import settings

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    staff, viewer = prepare()
    print(f"filling {args.runs:,} runs", flush=True)
    fill(args.runs)
    load = os.getloadavg()[0]
    figures = measure({"staff": staff, "viewer of 2": viewer}, args.repeat, args.explain)
    print(f"\n{args.runs:,} runs; {args.repeat} requests each, ms (load average {load:.1f})\n")
    print(f"{'':<46}{'median':>10}{'p99':>10}")
    for name, (median, p99) in figures.items():
        flag = "" if p99 < TARGET_MS else f"  over {TARGET_MS} ms"
        print(f"{name:<46}{median:>10.1f}{p99:>10.1f}{flag}")


if __name__ == "__main__":
    main()

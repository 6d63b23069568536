"""What the benchmark scripts share: their database, a published workflow, and percentiles."""

from __future__ import annotations

import os
import sys


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def ensure_database() -> None:
    """Create the PostgreSQL database DATABASE_URL names, if it is missing."""
    import dj_database_url
    import psycopg2

    db = dj_database_url.parse(os.environ["DATABASE_URL"])
    conn = psycopg2.connect(
        dbname="postgres",
        user=db["USER"],
        password=db["PASSWORD"],
        host=db["HOST"],
        port=db["PORT"],
    )
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]])
            if not cur.fetchone():
                cur.execute(f'CREATE DATABASE "{db["NAME"]}"')
    finally:
        conn.close()


def setup_django(*, migrate: bool = True) -> None:
    """Django on the PostgreSQL database of DATABASE_URL: with ``migrate``, created if
    missing and migrated."""
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL database (it is created if missing).")
    if migrate:
        ensure_database()
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


def vacuum() -> None:
    """VACUUM ANALYZE the engine's tables. A saga rewrites its run row at every step; with
    autovacuum off (as on the development machine's PostgreSQL) the dead rows of earlier
    runs pile up and each run of a benchmark is slower than the one before."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE engine_run, engine_steprun, engine_iteration, engine_event")


def publish(workflow, spec: dict, *, author, reviewer) -> None:
    """Publish ``spec`` as a new version of ``workflow``: written by ``author``, approved by
    ``reviewer`` (four eyes, as for anyone)."""
    from designer import services

    version, _ = services.version_create(workflow=workflow, by=author, spec=spec)
    services.version_submit(version=version, by=author)
    services.version_review(version=version, by=reviewer, decision="approve")
    services.version_publish(version=version, by=author)

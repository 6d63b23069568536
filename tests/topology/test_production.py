"""The production topology of the Procfile on the real services, one worker killed mid-run.

PostgreSQL and Redis are those `scripts/test.sh` (or CI) names, with a database and two
Redis databases of this test's own; the processes are the Procfile's commands, configured
only by DESIGN.md's environment variables: an ASGI server, two `celery -A sagaboard
worker` processes and one `celery -A sagaboard beat`.
"""

from __future__ import annotations

import os
import secrets
import shlex
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import redis

from bench.topology import (
    Database,
    clean_env,
    demo_passwords,
    manage,
    poll,
    procfile,
    session_cookie,
    spare_port,
    with_db,
)
from tests.topology.conftest import Api, Stream

TERMINAL = {"completed", "compensated", "cancelled"}
LATENCY_MS = 1200

# Each step slow enough to be caught in flight, with a short timeout so that a step held
# by a killed worker comes back within seconds.
SPEC: dict[str, Any] = {
    "format": "sagaboard/v1",
    "description": "Reserve, charge and ship, slowly",
    "input_schema": {
        "type": "object",
        "required": ["order_id", "latency_ms", "fail_ship"],
        "properties": {
            "order_id": {"type": "string"},
            "latency_ms": {"type": "number"},
            "fail_ship": {"type": "string"},
        },
    },
    "defaults": {
        "timeout_s": 4,
        "retry": {
            "max_attempts": 5,
            "initial_delay_s": 0.2,
            "backoff": 2.0,
            "max_delay_s": 1,
            "jitter": "full",
        },
    },
    "steps": [
        {
            "id": "reserve",
            "name": "Reserve stock",
            "type": "task",
            "action": {
                "name": "demo.inventory.reserve",
                "args": {"order": "{{ input.order_id }}", "latency_ms": "{{ input.latency_ms }}"},
            },
            "compensation": {
                "name": "demo.inventory.release",
                "args": {"id": "{{ steps.reserve.output.id }}"},
            },
        },
        {
            "id": "charge",
            "name": "Charge card",
            "type": "task",
            "after": ["reserve"],
            "action": {
                "name": "demo.payments.charge",
                "args": {"order": "{{ input.order_id }}", "latency_ms": "{{ input.latency_ms }}"},
            },
            "compensation": {
                "name": "demo.payments.refund",
                "args": {"id": "{{ steps.charge.output.id }}"},
            },
        },
        {
            "id": "ship",
            "name": "Ship",
            "type": "task",
            "after": ["charge"],
            "action": {
                "name": "demo.shipping.ship",
                "args": {
                    "order": "{{ input.order_id }}",
                    "latency_ms": "{{ input.latency_ms }}",
                    "fail": "{{ input.fail_ship }}",
                },
            },
            "compensation": {
                "name": "demo.shipping.cancel",
                "args": {"id": "{{ steps.ship.output.id }}"},
            },
        },
        {
            "id": "confirm",
            "name": "Confirm",
            "type": "task",
            "after": ["ship"],
            "pivot": True,
            "action": {"name": "demo.noop", "args": {"order": "{{ input.order_id }}"}},
        },
    ],
}


@pytest.fixture
def services() -> Iterator[dict[str, str]]:
    """A database and two Redis databases of this test's own, on the suite's servers."""
    database_url = os.environ.get("DATABASE_URL", "")
    broker_url = os.environ.get("CELERY_BROKER_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")) or not broker_url.startswith(
        "redis://"
    ):
        pytest.fail("The topology test needs PostgreSQL and Redis: run it with scripts/test.sh")
    database = Database(database_url, f"sagaboard_topology_{os.getpid()}")
    database.create()
    urls = {
        "DATABASE_URL": database.url,
        # Databases no other test uses, so no other worker takes these tasks.
        "CELERY_BROKER_URL": with_db(broker_url, "12"),
        "CHANNEL_LAYER_URL": with_db(broker_url, "13"),
    }
    for key in ("CELERY_BROKER_URL", "CHANNEL_LAYER_URL"):
        redis.Redis.from_url(urls[key]).flushdb()
    try:
        yield urls
    finally:
        for key in ("CELERY_BROKER_URL", "CHANNEL_LAYER_URL"):
            redis.Redis.from_url(urls[key]).flushdb()
        database.drop()


def process_group(pid: int) -> set[int]:
    """The pids of the process group ``pid`` leads (a worker and its pool children)."""
    pids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pid:
                    pids.add(int(entry))
            except ProcessLookupError:
                continue
    return pids


def claimed_by(database_url: str, pids: set[int]) -> list[tuple[str, str]]:
    """(run, step) of the attempts in flight that one of ``pids`` has claimed.

    Test instrumentation only: which worker holds what is no part of the API.
    """
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT run_id::text, step_id, claimed_by FROM engine_steprun "
            "WHERE status = 'running' AND claimed_at IS NOT NULL"
        )
        rows = cursor.fetchall()
    connection.close()
    return [(run, step) for run, step, by in rows if int(by.rsplit(":", 1)[1]) in pids]


def test_web_two_workers_and_beat_run_sagas_through_a_worker_crash(
    processes, services, tmp_path: Path
):
    started = time.monotonic()
    port = spare_port()
    base = f"http://127.0.0.1:{port}"
    env = clean_env(
        **services,
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_DEBUG="0",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        SAGABOARD_HTTP_ALLOWED_HOSTS="127.0.0.1",
        SAGABOARD_VAR_DIR=str(tmp_path / "var"),  # beat's schedule file
    )
    manage("migrate", "--noinput", env=env)
    passwords = demo_passwords(manage("sagaboard", "demo", env=env))

    commands = procfile()
    assert set(commands) == {"web", "worker", "beat"}
    assert shlex.split(commands["worker"])[:4] == ["celery", "-A", "sagaboard", "worker"]
    assert shlex.split(commands["beat"])[:4] == ["celery", "-A", "sagaboard", "beat"]
    web = processes("web", commands["web"], {**env, "PORT": str(port)})
    workers = [
        # On one machine, each worker needs a name of its own.
        processes(f"worker-{i}", f"{commands['worker']} -n worker{i}@%h", env)
        for i in (1, 2)
    ]
    beat = processes("beat", commands["beat"], env)
    for worker in workers:
        worker.wait_for_log("ready.", timeout=60)
    beat.wait_for_log("Scheduler: Sending due task", timeout=60)
    web.wait_for_log("Application startup complete", timeout=60)

    # Through the API: the admin creates a workflow and lets the author draft it; the
    # author drafts and submits a version; the admin (not the author) approves it.
    admin = Api(base, "admin", passwords["admin"])
    author = Api(base, "author", passwords["author"])
    admin.post(
        "/api/workflows/",
        {"slug": "slow-order", "name": "Slow order", "description": "", "required_approvals": 1},
        201,
    )
    response = admin.client.put(
        "/api/workflows/slow-order/permissions/",
        json={"users": {"author": ["view_workflow", "change_workflow"]}, "groups": {}},
    )
    assert response.status_code == 200, response.text
    number = author.post("/api/workflows/slow-order/versions/", {"spec": SPEC}, 201)["number"]
    author.post(f"/api/workflows/slow-order/versions/{number}/submit/", {})
    admin.post(
        f"/api/workflows/slow-order/versions/{number}/reviews/",
        {"decision": "approve", "comment": "fine"},
        201,
    )
    admin.post(f"/api/workflows/slow-order/versions/{number}/publish/", {})

    board = Stream(base, "/ws/board/", session_cookie(base, "admin", passwords["admin"]))
    try:
        poll(lambda: board.frames_of("snapshot"), timeout=20, what="the board's snapshot")
        failing = admin.start_run(
            "slow-order", {"order_id": "o-0", "latency_ms": LATENCY_MS, "fail_ship": "permanent"}
        )
        healthy = [
            admin.start_run(
                "slow-order", {"order_id": f"o-{i}", "latency_ms": LATENCY_MS, "fail_ship": ""}
            )
            for i in range(1, 6)
        ]

        # Kill the first worker while it holds an attempt in flight.
        victim = workers[0]
        assert victim.proc is not None
        held = poll(
            lambda: claimed_by(env["DATABASE_URL"], process_group(victim.proc.pid)),  # type: ignore[union-attr]
            timeout=30,
            every=0.05,
            what="an attempt in flight on the first worker",
        )
        victim.kill()
        unfinished = [r for r in [failing, *healthy] if admin.run(r)["status"] not in TERMINAL]
        assert unfinished, "every run had finished before the kill"

        def all_finished() -> dict[str, str] | None:
            statuses = {r: admin.run(r)["status"] for r in [failing, *healthy]}
            return statuses if set(statuses.values()) <= TERMINAL else None

        statuses = poll(
            all_finished, timeout=60, every=0.5, what="every run finishing after the kill"
        )
        assert statuses[failing] == "compensated"
        assert all(statuses[r] == "completed" for r in healthy), statuses

        # The attempt the dead worker held was taken back and run again elsewhere.
        run_id, step_id = held[0]
        step = next(s for s in admin.run(run_id)["steps"] if s["id"] == step_id)
        assert step["attempts"] >= 2, step

        # Every effect once, however often it was asked for.
        for run_id in healthy:
            ledger = admin.ledger(run_id)
            applied = {(e["activity"], e["step"]): e["applied"] for e in ledger}
            assert applied == {
                ("demo.inventory.reserve", "reserve"): 1,
                ("demo.payments.charge", "charge"): 1,
                ("demo.shipping.ship", "ship"): 1,
                ("demo.noop", "confirm"): 1,
            }, ledger
        ledger = admin.ledger(failing)
        applied = {(e["activity"], e["step"]): e["applied"] for e in ledger}
        assert applied == {
            ("demo.inventory.reserve", "reserve"): 1,
            ("demo.payments.charge", "charge"): 1,
            ("demo.shipping.ship", "ship"): 0,
            ("demo.payments.refund", "charge"): 1,
            ("demo.inventory.release", "reserve"): 1,
        }, ledger

        # The board saw each run end, live, from the workers through Redis, every run's
        # events in order, none twice.
        def ended() -> bool:
            return all(
                any(e["event"] in ("run.completed", "run.compensated") for e in board.events_of(r))
                for r in [failing, *healthy]
            )

        poll(ended, timeout=20, what="each run's end on the board")
        for run_id in [failing, *healthy]:
            seqs = [e["seq"] for e in board.events_of(run_id)]
            assert seqs == sorted(set(seqs)), seqs
    finally:
        board.close()

    # A run's stream replays its whole log on connect.
    logged = admin.get(f"/api/runs/{failing}/events/?after=0")
    run_stream = Stream(
        base, f"/ws/runs/{failing}/?after=0", session_cookie(base, "admin", passwords["admin"])
    )
    try:
        poll(lambda: len(run_stream.events()) >= len(logged), timeout=20, what="the replay")
        assert [e["seq"] for e in run_stream.events()] == [e["seq"] for e in logged]
        assert [e["seq"] for e in logged] == list(range(1, len(logged) + 1))
        assert run_stream.events()[-1]["event"] == "run.compensated"
    finally:
        run_stream.close()

    # The survivors stop cleanly, as a deploy would stop them.
    assert web.alive() and workers[1].alive() and beat.alive()
    for proc in (workers[1], beat, web):
        proc.signal(signal.SIGTERM)
    assert workers[1].wait(timeout=30) == 0
    beat.wait(timeout=30)
    web.wait(timeout=30)
    print(f"topology test: {time.monotonic() - started:.1f} s")

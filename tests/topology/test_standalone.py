"""`make run`'s one process: HTTP, WebSockets, an in-process worker and beat, on SQLite.

Started as a newcomer starts it (migrate, demo, serve), on a spare port and a fresh
SAGABOARD_VAR_DIR, with no service configured.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path

import pytest

from bench.topology import (
    clean_env,
    demo_passwords,
    manage,
    poll,
    session_cookie,
    spare_port,
)
from engine import streams
from tests.topology.conftest import Api, Stream

TERMINAL = {"completed", "compensated", "cancelled"}
# An attempt this slow is in flight when the process is stopped.
SLOW_MS = 8000
#: What "stops within seconds" means here, on a loaded 2-core machine.
STOP_WITHIN_S = 10.0


@pytest.fixture
def standalone_env(tmp_path: Path) -> dict[str, str]:
    return clean_env(SAGABOARD_VAR_DIR=str(tmp_path / "var"), SAGABOARD_DEMO_RATE="30")


def serve(processes, env: dict[str, str], port: int, name: str):
    proc = processes(
        name,
        [sys.executable, "manage.py", "sagaboard", "serve", "--port", str(port)],
        env,
    )
    proc.wait_for_log("Application startup complete", timeout=90)
    return proc


def stop(proc, sig: int) -> float:
    """Send ``sig``; how long the process took to exit (it must exit with status 0)."""
    started = time.monotonic()
    proc.signal(sig)
    code = proc.wait(timeout=30)
    took = time.monotonic() - started
    assert code == 0, proc.log[-3000:]
    return took


def test_one_process_serves_runs_and_streams_and_survives_a_restart(processes, standalone_env):
    env = standalone_env
    manage("migrate", "--noinput", env=env)
    passwords = demo_passwords(manage("sagaboard", "demo", env=env))
    port = spare_port()
    base = f"http://127.0.0.1:{port}"

    first = serve(processes, env, port, "standalone-1")
    api = Api(base, "admin", passwords["admin"])
    board = Stream(base, "/ws/board/", session_cookie(base, "admin", passwords["admin"]))
    try:
        poll(lambda: board.frames_of("snapshot"), timeout=20, what="the board's snapshot")
        run_id = api.start_run("trip-booking", {"order_id": "s-1"})
        done = poll(
            lambda: [e for e in board.events_of(run_id) if e["event"] == "run.completed"],
            timeout=30,
            what="run.completed of the run on the board",
        )
        assert done[0]["status"] == "completed"
        assert api.run(run_id)["status"] == "completed"
        seqs = [e["seq"] for e in board.events_of(run_id)]
        assert seqs == list(range(1, seqs[-1] + 1))

        # The demo traffic keeps the board alive without anyone starting runs.
        poll(
            lambda: [
                e
                for e in board.events()
                if e["event"] in ("run.completed", "run.compensated") and e["run"] != run_id
            ],
            timeout=60,
            what="a demo traffic run finishing on the board",
        )

        # A run with a slow step, stopped in flight.
        slow = api.start_run(
            "trip-booking", {"order_id": "s-2", "faults": {"flight": {"latency_ms": SLOW_MS}}}
        )
        poll(
            lambda: any(
                s["id"] == "flight" and s["status"] == "running" for s in api.run(slow)["steps"]
            ),
            timeout=20,
            what="the slow step running",
        )
    finally:
        board.close()
    took = stop(first, signal.SIGINT)
    assert took < STOP_WITHIN_S, f"SIGINT took {took:.1f} s"

    # Started again: the data is there, and the unfinished run finishes.
    second = serve(processes, env, port, "standalone-2")
    api = Api(base, "admin", passwords["admin"])
    assert api.run(run_id)["status"] == "completed"
    assert api.run(slow)["status"] == "running"
    board = Stream(base, "/ws/board/", session_cookie(base, "admin", passwords["admin"]))
    try:
        poll(
            lambda: api.run(slow)["status"] in TERMINAL,
            timeout=60,
            what="the unfinished run finishing after the restart",
        )
        assert api.run(slow)["status"] == "completed"
        poll(
            lambda: any(e["event"] == "run.completed" for e in board.events_of(slow)),
            timeout=10,
            what="its completion on the board",
        )
    finally:
        board.close()
    # Each effect once, though the flight was asked for twice.
    for entry in api.ledger(slow):
        assert entry["applied"] == 1, entry
    flight = [e for e in api.ledger(slow) if e["step"] == "flight"]
    assert flight[0]["calls"] >= 2

    took = stop(second, signal.SIGTERM)
    assert took < STOP_WITHIN_S, f"SIGTERM took {took:.1f} s"


def test_a_stopped_server_loop_does_not_hold_the_exit(settings):
    """What was queued for the in-process layer when the server stopped is dropped at
    once, rather than waited for by the flush at exit."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    loop = asyncio.new_event_loop()  # the server's, no longer running
    streams.attach_loop(loop)
    try:
        streams.publish([{"run": "r", "workflow": "w", "seq": 1, "event": "run.started"}])
        assert not streams.flush(0.05)
        streams.detach_loop()
        assert streams.flush(0.05)
    finally:
        streams.detach_loop()
        # The sender task queued for the loop starts, sees it was detached, and ends.
        loop.run_until_complete(asyncio.sleep(0.01))
        loop.close()

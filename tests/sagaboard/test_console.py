"""What `make run`'s one process says on its console: the demo users' passwords in a box
once it answers, at every start; then quiet under demo traffic, refused requests and
static files, problems aside.

Started as `make run` starts it (`sagaboard serve --setup`: migrate, demo, serve), on a
spare port and a fresh SAGABOARD_VAR_DIR, with no service configured.
"""

from __future__ import annotations

import logging
import re
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.topology import (
    Api,
    Proc,
    Topology,
    clean_env,
    demo_passwords,
    manage,
    poll,
    session_cookie,
    spare_port,
)
from sagaboard.standalone import CHATTY_LOGGERS, quiet_console

#: The banner's last line, printed once the server answers.
BANNER_END = re.compile(r"^\+-+\+$", re.MULTILINE)
#: What the console of a quiet start never shows.
NOISE = [
    "run started",  # a line per run
    "Traceback",
    "Forbidden",  # the 403's line
    "Not Found",  # the 404's line
    "StreamingHttpResponse must consume synchronous iterators",
    "Task ",  # Celery's received / succeeded lines
]


@pytest.fixture
def topology(tmp_path: Path) -> Iterator[Topology]:
    logs = tmp_path / "logs"
    logs.mkdir()
    installation = Topology(logs)
    yield installation
    installation.stop_all()


def banner_passwords(log: str) -> dict[str, str]:
    return dict(re.findall(r"^\| {5}(\w+) +(\S+) +\|$", log, re.MULTILINE))


def serve(topology: Topology, env: dict[str, str], port: int, name: str) -> Proc:
    command = [sys.executable, "manage.py", "sagaboard", "serve", "--setup", "--port", str(port)]
    proc = topology.start(name, command, env)
    poll(
        lambda: proc.alive() and len(BANNER_END.findall(proc.log)) >= 2,
        timeout=90,
        what=f"the banner of {name}",
    )
    return proc


def stop(proc: Proc) -> str:
    proc.signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0, proc.log[-3000:]
    return proc.log


def test_every_start_shows_the_passwords_and_then_stays_quiet(topology, tmp_path):
    env = clean_env(SAGABOARD_VAR_DIR=str(tmp_path / "var"), SAGABOARD_DEMO_RATE="120")
    env.pop("LOG_LEVEL", None)
    port = spare_port()
    base = f"http://127.0.0.1:{port}"

    first = serve(topology, env, port, "first")
    assert f"Sagaboard is up on http://127.0.0.1:{port}/" in first.log
    passwords = banner_passwords(first.log)
    assert list(passwords) == ["admin", "author", "reviewer", "operator", "approver"]

    # Demo traffic, a refused page, a page that is not there, static files and the icon.
    api = Api(base, "admin", passwords["admin"])
    poll(
        lambda: len(api.client.get("/api/runs/?status=completed").json()["results"]) >= 3,
        timeout=60,
        what="three demo runs completed",
    )
    approver = httpx.Client(
        base_url=base,
        cookies={"sessionid": session_cookie(base, "approver", passwords["approver"])},
    )
    assert approver.get("/demo/").status_code == 403
    assert approver.get("/no-such-page/").status_code == 404
    assert approver.get("/static/css/sagaboard.css").status_code == 200
    assert approver.get("/static/build/board.js").status_code == 200
    icon = approver.get("/favicon.ico")
    assert (icon.status_code, icon.headers["content-type"]) == (200, "image/svg+xml")
    console = stop(first)
    for noise in NOISE:
        assert noise not in console, f"{noise!r} on the console:\n{console[-3000:]}"

    # A second start shows the same passwords again, and they still sign in; so does
    # `sagaboard demo`.
    assert demo_passwords(manage("sagaboard", "demo", env=env)) == passwords
    second = serve(topology, env, port, "second")
    assert banner_passwords(second.log) == passwords
    Api(base, "operator", passwords["operator"])
    stop(second)


def test_log_level_set_shows_every_line(monkeypatch):
    loggers = [logging.getLogger(name) for name in CHATTY_LOGGERS]
    before = [logger.level for logger in loggers]
    try:
        monkeypatch.setenv("LOG_LEVEL", "INFO")
        quiet_console()
        assert [logger.level for logger in loggers] == before
        monkeypatch.delenv("LOG_LEVEL")
        quiet_console()
        assert logging.getLogger("sagaboard.engine").level == logging.WARNING
        assert logging.getLogger("django.request").level == logging.ERROR
    finally:
        for logger, level in zip(loggers, before, strict=True):
            logger.setLevel(level)

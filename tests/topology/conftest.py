"""Whole installations in subprocesses: servers, workers and beat, driven like a user would.

Every process runs in a session of its own, so a signal or a kill reaches all of it, and
every one is stopped when the test ends, whatever happened.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[2]
BIN = str(Path(sys.executable).parent)
T = TypeVar("T")


def spare_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def poll(check: Callable[[], T], *, timeout: float, every: float = 0.2, what: str = "") -> T:
    """``check()`` once it returns something true; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what or check}")
        time.sleep(every)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any of Sagaboard's settings, plus ``extra``."""
    names = ("DATABASE_URL", "CELERY_BROKER_URL", "CHANNEL_LAYER_URL")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in names and not k.startswith(("DJANGO_", "SAGABOARD_"))
    }
    env["PATH"] = BIN + os.pathsep + env.get("PATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    return {**env, **extra}


def manage(*args: str, env: dict[str, str], timeout: float = 120) -> str:
    """Run ``manage.py`` to the end; its output."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def demo_passwords(output: str) -> dict[str, str]:
    """The passwords `manage.py sagaboard demo` printed, by user."""
    found = dict(re.findall(r"^ {4}(\w+) +(\S+)$", output, re.MULTILINE))
    assert {"admin", "author", "operator"} <= set(found), output
    return found


class Proc:
    """One long-running process with its output in a log file."""

    def __init__(self, name: str, command: list[str] | str, env: dict[str, str], logs: Path):
        self.name = name
        self.command = command
        self.env = env
        self.log_path = logs / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        command = self.command
        if isinstance(command, str):
            # A Procfile line, run as a process manager does: by a shell that the
            # command then replaces, so that signals reach the command itself.
            command = f"exec {command}"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                command,
                shell=isinstance(command, str),
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_for_log(self, text: str, *, timeout: float) -> None:
        def seen() -> bool:
            if not self.alive():
                raise AssertionError(f"{self.name} exited:\n{self.log[-4000:]}")
            return text in self.log

        poll(seen, timeout=timeout, what=f"{text!r} in the log of {self.name}")

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the process only (as Ctrl-C or a supervisor's stop would)."""
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL the process and all its children, as a crash would."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        """Stop every process of the group, the leader gone or not: SIGTERM, then SIGKILL."""
        if self.proc is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                self.proc.poll()  # reaps the leader, whose zombie would count as alive
                try:
                    os.killpg(self.proc.pid, 0)
                except ProcessLookupError:
                    return
                time.sleep(0.05)


@pytest.fixture
def processes(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., Proc]]:
    """``processes(name, command, env)`` starts a Proc; all are stopped at the end.

    A failing test gets the tail of every log in its report.
    """
    logs = tmp_path / "logs"
    logs.mkdir()
    started: list[Proc] = []

    def start(name: str, command: list[str] | str, env: dict[str, str]) -> Proc:
        proc = Proc(name, command, env, logs).start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        for proc in started:
            print(f"----- {proc.name} -----\n{proc.log[-3000:]}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


class Api:
    """The REST API with a token, as a script would use it."""

    def __init__(self, base: str, username: str, password: str) -> None:
        self.client = httpx.Client(base_url=base, timeout=20)
        response = self.client.post(
            "/api/auth/token/", data={"username": username, "password": password}
        )
        assert response.status_code == 200, response.text
        self.client.headers["Authorization"] = f"Token {response.json()['token']}"

    def get(self, path: str) -> Any:
        response = self.client.get(path)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
        return response.json()

    def post(self, path: str, body: Any, expect: int = 200) -> Any:
        response = self.client.post(path, json=body)
        assert response.status_code == expect, (
            f"POST {path}: {response.status_code} {response.text}"
        )
        return response.json()

    def start_run(self, slug: str, run_input: dict[str, Any]) -> str:
        return str(self.post(f"/api/workflows/{slug}/runs/", {"input": run_input}, 201)["id"])

    def run(self, run_id: str) -> dict[str, Any]:
        return self.get(f"/api/runs/{run_id}/")

    def ledger(self, run_id: str) -> list[dict[str, Any]]:
        return self.get(f"/api/demo/ledger/?run={run_id}")


def session_cookie(base: str, username: str, password: str) -> str:
    """Sign in on the login page, as a browser does; the session id."""
    with httpx.Client(base_url=base, timeout=20) as client:
        page = client.get("/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert token, page.text[:500]
        response = client.post(
            "/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": token[1]},
            headers={"Referer": f"{base}/login/"},
        )
        assert response.status_code == 302, response.text[:500]
        session = client.cookies.get("sessionid")
        assert session
        return session


class Stream:
    """A live stream's WebSocket, read by a thread into ``frames``."""

    def __init__(self, base: str, path: str, session: str) -> None:
        self.frames: list[dict[str, Any]] = []
        self.closed: BaseException | None = None
        self._url = base.replace("http://", "ws://") + path
        self._origin = base  # the server checks it against ALLOWED_HOSTS
        self._session = session
        self._lock = threading.Lock()
        self._open = threading.Event()
        self._ws: Any = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._open.wait(30) or self._ws is None:
            raise AssertionError(f"could not open {path}: {self.closed!r}")

    def _read(self) -> None:
        try:
            with connect(
                self._url,
                origin=self._origin,  # type: ignore[arg-type]
                additional_headers={"Cookie": f"sessionid={self._session}"},
                proxy=None,
                open_timeout=20,
            ) as ws:
                self._ws = ws
                self._open.set()
                for text in ws:
                    with self._lock:
                        self.frames.append(json.loads(text))
        except (ConnectionClosed, OSError, TimeoutError) as exc:
            self.closed = exc
        finally:
            self._open.set()

    def frames_of(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return [f for f in self.frames if f["type"] == kind]

    def events(self) -> list[dict[str, Any]]:
        """Every event received so far, batches unpacked, in order of arrival."""
        with self._lock:
            frames = list(self.frames)
        out: list[dict[str, Any]] = []
        for frame in frames:
            if frame["type"] == "event":
                out.append(frame)
            elif frame["type"] == "batch":
                out.extend(frame["events"])
        return out

    def events_of(self, run_id: str) -> list[dict[str, Any]]:
        return [e for e in self.events() if e["run"] == run_id]

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()
        self._reader.join(5)

"""Whole installations in subprocesses: servers, workers and beat, driven like a user would.

The processes and the API as a script drives them are bench/topology.py's (the chaos
run uses the same); here they get pytest's fixtures and answers checked as assertions.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from bench import topology
from bench.topology import Proc, Topology


@pytest.fixture
def processes(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., Proc]]:
    """``processes(name, command, env)`` starts a Proc; all are stopped at the end.

    A failing test gets the tail of every log in its report.
    """
    logs = tmp_path / "logs"
    logs.mkdir()
    installation = Topology(logs)
    yield installation.start
    installation.stop_all()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        for proc in installation.started:
            print(f"----- {proc.name} -----\n{proc.log[-3000:]}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


class Api(topology.Api):
    """The REST API with a token, each answer checked."""

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

"""Live pages in a browser: uvicorn serving ``sagaboard.asgi`` (HTTP and WebSockets;
pytest-django's live server speaks only WSGI), a real Celery worker process, and
``Live``, the pages in the words of someone using them. The fixtures are offered to
every browser test by conftest.py."""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from playwright.sync_api import Page, expect

from bench.topology import Proc, poll, spare_port, uvicorn_command
from tests.engine.conftest import Worker, _test_database_url, wait_until_settled

ROOT = Path(__file__).resolve().parents[2]
DOCS_SHOTS = ROOT / "docs" / "screenshots"
#: Set to 1 to write the README's screenshots again (`make screenshots`); the tests do
#: not touch the working tree otherwise.
WRITE_DOCS_SHOTS = os.environ.get("SAGABOARD_DOCS_SCREENSHOTS") == "1"
# Generous: a loaded two-core machine runs the server, the worker and Chromium.
SLOW = 30_000


def docs_shot(page: Page, name: str, *, full_page: bool = False) -> None:
    """The page as the README shows it, in docs/screenshots, when asked for."""
    if WRITE_DOCS_SHOTS:
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS_SHOTS / f"{name}.png"), full_page=full_page)


# ----------------------------------------------------------------------------- servers


class AsgiServer:
    """uvicorn serving sagaboard.asgi on the test database, in its own process group."""

    def __init__(self, log_path: Path) -> None:
        self.port = spare_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "DATABASE_URL": _test_database_url(), "PYTHONUNBUFFERED": "1"}
        command = uvicorn_command(self.port)
        self.process = Proc(log_path.stem, command, env, log_path.parent)

    def _answers(self) -> bool:
        if not self.process.alive():
            raise RuntimeError("uvicorn exited:\n" + self.process.log[-3000:])
        try:
            with urllib.request.urlopen(f"{self.url}/login/", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def start(self) -> None:
        self.process.start()
        try:
            poll(self._answers, timeout=60, what="uvicorn answering")
        except TimeoutError:
            # A fixture that fails to set up is not torn down: leave no server behind.
            self.process.stop()
            raise

    def stop(self) -> None:
        """SIGTERM (uvicorn finishes the requests it holds), then SIGKILL."""
        self.process.stop()


@pytest.fixture(scope="session")
def asgi_address(tmp_path_factory) -> AsgiServer:
    """Where the server listens; the same for every test, so the worker knows it."""
    if not settings.CHANNEL_LAYERS["default"]["BACKEND"].startswith("channels_redis."):
        pytest.fail("The live pages' tests need CHANNEL_LAYER_URL=redis://... (make test sets it)")
    return AsgiServer(tmp_path_factory.mktemp("asgi") / "uvicorn.log")


@pytest.fixture
def asgi_server(django_db_setup, asgi_address: AsgiServer) -> Iterator[AsgiServer]:
    """A fresh server for each test: the database is emptied after each one, and its
    content types come back with new ids that a running server would not know."""
    asgi_address.start()
    yield asgi_address
    asgi_address.stop()


# Per module: a worker left running would take the tasks of later tests, with this
# server's address as its callback base.
@pytest.fixture(scope="module")
def live_worker(django_db_setup, asgi_address, tmp_path_factory) -> Iterator[Worker]:
    redis.Redis.from_url(settings.CELERY_BROKER_URL).ping()  # fails, never skips, without it
    worker = Worker(tmp_path_factory.mktemp("live-worker") / "worker.log", asgi_address.url)
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def worker(live_worker: Worker) -> Iterator[Worker]:
    if not live_worker.alive():
        live_worker.start()
    yield live_worker
    wait_until_settled()


# ----------------------------------------------------------------------------- helpers


class Live:
    """The pages, in the words of someone using them."""

    def __init__(self, page: Page, url: str) -> None:
        self.page = page
        self.url = url

    def sign_in(self, user: Any) -> None:
        """A session for ``user``, as logging in makes, handed to the browser. (The login
        form would not do: the tests hash passwords with a hasher the server lacks.)"""
        session = import_module(settings.SESSION_ENGINE).SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.save()
        self.page.context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": session.session_key, "url": self.url}]
        )

    def open(self, path: str) -> None:
        self.page.goto(f"{self.url}{path}")
        expect(self.page.locator(".live-badge")).to_have_attribute(
            "data-state", "live", timeout=SLOW
        )
        # Gone after a reload: proves the page changed in place.
        self.page.evaluate("window.__samePage = true")

    def still_same_page(self) -> None:
        assert self.page.evaluate("window.__samePage === true"), "the page was reloaded"

    def node(self, step: str):
        return self.page.locator(f'.react-flow__node[data-id="{step}"] .run-node')

    def run_status(self):
        return self.page.locator('[data-testid="run-status"] .badge')

    def shot(self, name: str) -> None:
        docs_shot(self.page, name, full_page=True)


@pytest.fixture
def live(page: Page, asgi_server: AsgiServer) -> Live:
    page.set_default_timeout(SLOW)
    return Live(page, asgi_server.url)

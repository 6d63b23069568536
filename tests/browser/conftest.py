"""Browser tests: Playwright's sync API driving Debian's Chromium, headless, against
pytest-django's live server.

Reusable by any browser test: ``browser`` (one Chromium for the session),
``page`` (a fresh context and page per test, with console errors collected) and
``sign_in`` (log a user in through the login form).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, ConsoleMessage, Page, Response, sync_playwright

from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "pw-for-tests-1"  # what tests.factories.UserFactory sets
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1440, "height": 900}
BUNDLE = ROOT / "static" / "build" / "designer.js"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium (Playwright's own download does not work on these machines).

    One per test module, not per session: Playwright's sync API keeps its event loop
    running in the main thread until it stops, and the tests after the browser's
    (Channels consumers, async_to_sync) must not find one there."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("The browser tests need Debian's chromium: run `make setup-test`.")
    if not BUNDLE.exists():
        pytest.fail("The front end is not built: run `make setup-test` (it builds static/build/).")
    # Playwright's sync API keeps an asyncio loop registered on the main thread, which
    # Django takes for an async context and then refuses the ORM in test code.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_FLAGS
        )
        yield chromium
        chromium.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class PageErrors(list[str]):
    """Uncaught exceptions, console errors and failed requests of the page, for tests to
    assert on."""


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


@pytest.fixture
def page(browser: Browser, page_errors: PageErrors) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    context.set_default_timeout(10_000)
    page = context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            page_errors.append(message.text)

    def on_response(response: Response) -> None:
        if response.status >= 400:
            page_errors.append(f"{response.request.method} {response.url}: {response.status}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    page.on("response", on_response)
    yield page
    context.close()


@pytest.fixture
def sign_in(page: Page, live_server) -> Callable[[User | str], Page]:
    """Log a user (or a new one of that name) in through the login form; returns the page
    on the workflow list (this server speaks no WebSockets, which the board needs)."""

    def sign_in(user: User | str) -> Page:
        if isinstance(user, str):
            user = UserFactory(username=user)
        page.goto(f"{live_server.url}/login/?next=/workflows/")
        page.fill("#id_username", user.get_username())
        page.fill("#id_password", PASSWORD)
        page.click("form.form button[type=submit]")
        page.wait_for_url(lambda url: "/login/" not in url)
        return page

    return sign_in


# The live pages' server, worker and page helper, for every browser test.
from tests.browser.live_server import (  # noqa: E402, F401
    asgi_address,
    asgi_server,
    live,
    live_worker,
    worker,
)

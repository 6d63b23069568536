"""Static files under the ASGI server: streamed without Django's synchronous-iterator
warning, and /favicon.ico answered with the pages' icon."""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.test import Client

STATIC = Path(settings.BASE_DIR) / "static"


def asgi_request(path: str, *, method: str = "GET", headers: dict[str, str] | None = None):
    """(status, headers, body, warnings) of one request through a fresh ASGI handler."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1")]
        + [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    sent: list[dict[str, Any]] = []

    async def exchange() -> None:
        body_read = False

        async def receive() -> dict[str, Any]:
            nonlocal body_read
            if not body_read:
                body_read = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.Event().wait()  # the client stays connected
            raise AssertionError("unreachable")

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await ASGIHandler()(scope, receive, send)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(exchange())
    start = sent[0]
    assert start["type"] == "http.response.start"
    head = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in sent[1:])
    # A ResourceWarning is the garbage collector closing some earlier test's socket, at
    # whatever moment it runs: not this response's doing.
    mine = [w for w in caught if not issubclass(w.category, ResourceWarning)]
    return start["status"], head, body, [str(w.message) for w in mine]


def test_a_static_file_streams_whole_without_a_warning():
    status, head, body, caught = asgi_request("/static/css/sagaboard.css")
    assert status == 200
    assert head["content-type"].startswith("text/css")
    assert body == (STATIC / "css" / "sagaboard.css").read_bytes()
    assert caught == []


def test_a_revalidated_or_head_request_sends_no_body_and_no_warning():
    status, head, _, _ = asgi_request("/static/css/sagaboard.css")
    status, _, body, caught = asgi_request(
        "/static/css/sagaboard.css", headers={"If-None-Match": head["etag"]}
    )
    assert (status, body, caught) == (304, b"", [])
    status, head, body, caught = asgi_request("/static/css/sagaboard.css", method="HEAD")
    assert (status, body, caught) == (200, b"", [])
    assert int(head["content-length"]) == (STATIC / "css" / "sagaboard.css").stat().st_size


def test_favicon_ico_is_the_pages_icon():
    status, head, body, caught = asgi_request("/favicon.ico")
    assert status == 200
    assert head["content-type"] == "image/svg+xml"
    assert body == (STATIC / "img" / "logo.svg").read_bytes()
    assert caught == []
    # base.html names the same icon.
    assert (
        '{% static \'img/logo.svg\' %}" type="image/svg+xml"'
        in (Path(settings.BASE_DIR) / "templates" / "base.html").read_text()
    )


def test_favicon_ico_over_wsgi_too():
    response = Client().get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert b"".join(response.streaming_content) == (STATIC / "img" / "logo.svg").read_bytes()

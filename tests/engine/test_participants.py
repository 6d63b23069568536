"""Calling participants: http steps against a real local HTTP server, and task activities."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from common import activities
from common.activities import PermanentError, RetryableError, activity
from engine.participants import Outcome, call_http, call_task, host_allowed

KEY = "run-1:reserve"
RUN = "run-1"


@dataclass
class Seen:
    """One request as the participant received it."""

    method: str
    path: str
    headers: Message
    body: bytes


class Handler(BaseHTTPRequestHandler):
    server: Participant

    def log_message(self, *args: Any) -> None:
        pass

    def handle_one(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append(Seen(self.command, self.path, self.headers, body))
        route = self.server.routes.get(self.path.split("?")[0])
        if route is None:
            self.reply(404, {"detail": "no such route"})
        else:
            route(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_one

    def reply(self, status: int, body: Any = b"", headers: dict[str, str] | None = None) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


class Participant(ThreadingHTTPServer):
    """A participant service on 127.0.0.1 that records every request it receives."""

    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.routes: dict[str, Callable[[Handler], None]] = {}
        self.seen: list[Seen] = []
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up on a slow answer is what some tests are about


@pytest.fixture
def server() -> Iterator[Participant]:
    s = Participant()
    yield s
    s.shutdown()
    s.server_close()


@pytest.fixture
def other_server() -> Iterator[Participant]:
    s = Participant()
    yield s
    s.shutdown()
    s.server_close()


@pytest.fixture(autouse=True)
def allowed_hosts(settings) -> None:
    settings.SAGABOARD_HTTP_ALLOWED_HOSTS = ["127.0.0.1", "localhost"]


def call(url: str, *, timeout_s: float = 5, **action: Any) -> Outcome:
    return call_http(
        {"url": url, **action}, idempotency_key=KEY, correlation_id=RUN, timeout_s=timeout_s
    )


def answer(status: int, body: Any = b"", **headers: str) -> Callable[[Handler], None]:
    return lambda h: h.reply(status, body, headers)


# ----------------------------------------------------------------------- what is sent


def test_sends_idempotency_key_correlation_id_and_json_body(server):
    server.routes["/reservations"] = answer(201, {"id": "res-1"})
    outcome = call(
        server.url("/reservations"),
        method="post",
        body={"order": "o-1", "lines": [1, 2]},
        headers={"X-Tenant": "acme"},
    )
    assert outcome == Outcome(True, output={"id": "res-1"})
    [seen] = server.seen
    assert seen.method == "POST"
    assert seen.headers.get_all("Idempotency-Key") == [KEY]
    assert seen.headers.get_all("X-Correlation-ID") == [RUN]
    assert seen.headers["X-Tenant"] == "acme"
    assert seen.headers["Content-Type"] == "application/json"
    assert json.loads(seen.body) == {"order": "o-1", "lines": [1, 2]}


def test_get_sends_no_body(server):
    server.routes["/stock"] = answer(200, {"left": 3})
    outcome = call(server.url("/stock"), method="GET", body={"ignored": True})
    assert outcome.ok and outcome.output == {"left": 3}
    [seen] = server.seen
    assert seen.method == "GET" and seen.body == b""
    assert seen.headers.get_all("Idempotency-Key") == [KEY]


def test_spec_headers_cannot_replace_the_engines_idempotency_key(server):
    # The engine's key is what makes a retried attempt safe; a spec's fixed key would make
    # every run look like the same request to the participant.
    server.routes["/charges"] = answer(200, {})
    call(
        server.url("/charges"),
        body={"amount": 5},
        headers={
            "idempotency-key": "fixed",
            "x-correlation-id": "mine",
            "content-type": "application/merge-patch+json",
        },
    )
    [seen] = server.seen
    assert seen.headers.get_all("Idempotency-Key") == [KEY]
    assert seen.headers.get_all("X-Correlation-ID") == [RUN]
    # The spec may choose the content type of its body.
    assert seen.headers.get_all("Content-Type") == ["application/merge-patch+json"]


# ----------------------------------------------------------------------- what comes back


def test_json_answer_becomes_the_output(server):
    server.routes["/a"] = answer(200, [{"id": 1}, {"id": 2}])
    assert call(server.url("/a")).output == [{"id": 1}, {"id": 2}]


def test_non_json_answer_becomes_text(server):
    server.routes["/a"] = answer(200, b"<html>ok</html>", **{"Content-Type": "text/html"})
    assert call(server.url("/a")) == Outcome(True, output={"text": "<html>ok</html>"})


def test_long_non_json_answer_is_shortened(server):
    server.routes["/a"] = answer(200, b"x" * 50_000)
    outcome = call(server.url("/a"))
    assert outcome.ok and outcome.output == {"text": "x" * 2000}


def test_empty_answer_is_an_empty_output(server):
    server.routes["/a"] = answer(204)
    assert call(server.url("/a")) == Outcome(True, output={})


def storable(outcome: Outcome) -> None:
    """What the engine records must fit PostgreSQL: jsonb refuses NaN and \\u0000, text NUL."""
    text = json.dumps(outcome.output, allow_nan=False)
    assert "\\u0000" not in text
    assert "\x00" not in outcome.error


def test_binary_answer_becomes_storable_text(server):
    server.routes["/label.png"] = answer(200, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    outcome = call(server.url("/label.png"))
    assert outcome.ok and outcome.output["text"].startswith("\ufffdPNG")
    storable(outcome)


def test_json_answer_with_nul_or_nan_is_storable(server):
    server.routes["/nul"] = answer(200, b'{"name": "a\\u0000b"}')
    server.routes["/nan"] = answer(200, b'{"score": NaN}')
    for path in ("/nul", "/nan"):
        outcome = call(server.url(path))
        assert outcome.ok, outcome
        storable(outcome)


def test_json_answer_nested_too_deep_becomes_text(server):
    server.routes["/deep"] = answer(200, b"[" * 100_000 + b"]" * 100_000)
    outcome = call(server.url("/deep"))
    assert outcome.ok and outcome.output == {"text": "[" * 2000}


def test_binary_error_answer_is_storable(server):
    server.routes["/a"] = answer(500, b"\x00\x01 crashed \x00")
    outcome = call(server.url("/a"))
    assert not outcome.ok and outcome.retryable and "crashed" in outcome.error
    storable(outcome)


# ----------------------------------------------------------------------- classification


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (408, True),
        (409, True),
        (429, True),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (405, False),
        (422, False),
    ],
)
def test_error_statuses_are_classified(server, status, retryable):
    server.routes["/op"] = answer(status, {"detail": "because reasons"})
    outcome = call(server.url("/op"))
    assert not outcome.ok
    assert outcome.retryable is retryable
    assert f"answered {status}: because reasons" in outcome.error
    assert len(server.seen) == 1  # the engine retries by its policy, never on its own


def test_error_without_detail_shows_the_body(server):
    server.routes["/op"] = answer(400, b"missing field amount")
    outcome = call(server.url("/op"))
    assert not outcome.retryable and "400: missing field amount" in outcome.error


def test_timeout_is_retryable(server):
    def slow(h: Handler) -> None:
        time.sleep(1.5)
        h.reply(200, {})

    server.routes["/slow"] = slow
    started = time.monotonic()
    outcome = call(server.url("/slow"), timeout_s=0.3)
    assert time.monotonic() - started < 1.2
    assert not outcome.ok and outcome.retryable and "timed out" in outcome.error


def test_timeout_bounds_the_whole_call_not_each_read(server):
    # A participant trickling its answer must not hold a worker past the step's timeout.
    def trickle(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", "40")
        h.end_headers()
        for _ in range(40):
            h.wfile.write(b" ")
            h.wfile.flush()
            time.sleep(0.1)

    server.routes["/trickle"] = trickle
    started = time.monotonic()
    outcome = call(server.url("/trickle"), timeout_s=0.5)
    assert time.monotonic() - started < 1.5
    assert not outcome.ok and outcome.retryable and "timed out" in outcome.error


def test_connection_refused_is_retryable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    outcome = call(f"http://127.0.0.1:{port}/op")
    assert not outcome.ok and outcome.retryable
    assert "ConnectError" in outcome.error


def test_connection_dropped_without_answer_is_retryable(server):
    def hang_up(h: Handler) -> None:
        h.close_connection = True
        h.connection.shutdown(socket.SHUT_RDWR)

    server.routes["/op"] = hang_up
    outcome = call(server.url("/op"))
    assert not outcome.ok and outcome.retryable


@pytest.mark.parametrize(
    ("action", "named"),
    [
        # Templates put run input into URLs and headers: bad input must fail the step, not
        # crash the worker (which would look like a timeout, attempt after attempt).
        ({"url": "http://127.0.0.1/orders/o-1\nX-Injected: 1"}, "orders"),
        ({"url": "http://127.0.0.1:port/orders"}, "port"),
        ({"url": "http://127.0.0.1/orders", "headers": {"X-Customer": "Zoë"}}, "X-Customer"),
    ],
)
def test_malformed_request_fails_without_raising(action, named):
    outcome = call_http(action, idempotency_key=KEY, correlation_id=RUN, timeout_s=1)
    assert not outcome.ok and not outcome.retryable
    assert named in outcome.error


# ----------------------------------------------------------------------- allowed hosts


def test_host_not_allowed_is_refused_without_a_request(server, settings):
    settings.SAGABOARD_HTTP_ALLOWED_HOSTS = ["127.0.0.1"]
    server.routes["/op"] = answer(200, {})
    outcome = call(server.url("/op", host="localhost"))
    assert not outcome.ok and not outcome.retryable
    assert "not allowed" in outcome.error and "localhost" in outcome.error
    assert server.seen == []
    # The same server under an allowed name is reached: the refusal is the allow-list's doing.
    assert call(server.url("/op")).ok and len(server.seen) == 1


def test_redirect_to_a_host_not_allowed_is_refused(server, other_server, settings):
    settings.SAGABOARD_HTTP_ALLOWED_HOSTS = ["127.0.0.1"]
    other_server.routes["/metadata"] = answer(200, {"secret": "s3cr3t"})
    server.routes["/op"] = answer(302, Location=other_server.url("/metadata", host="localhost"))
    outcome = call(server.url("/op"))
    assert not outcome.ok and not outcome.retryable
    assert "not allowed" in outcome.error
    assert len(server.seen) == 1
    assert other_server.seen == []


def test_an_allowed_name_resolving_to_a_loopback_address_not_allowed_is_refused(server, settings):
    # "localhost" is an allowed name, but it leads into this machine: only the networks
    # allowed by SAGABOARD_HTTP_ALLOWED_NETWORKS may be reached that way.
    settings.SAGABOARD_HTTP_ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
    settings.SAGABOARD_HTTP_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    server.routes["/op"] = answer(200, {"secret": "s3cr3t"})
    for host in ("localhost", "127.0.0.1"):
        outcome = call(server.url("/op", host=host))
        assert not outcome.ok and not outcome.retryable
        assert "resolves to 127.0.0.1" in outcome.error
        assert "SAGABOARD_HTTP_ALLOWED_NETWORKS" in outcome.error
    assert server.seen == []

    settings.SAGABOARD_HTTP_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    assert call(server.url("/op", host="localhost")).ok and len(server.seen) == 1


def test_a_redirect_to_a_non_public_address_not_allowed_is_refused(server, other_server, settings):
    settings.SAGABOARD_HTTP_ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    settings.SAGABOARD_HTTP_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    other_server.routes["/metadata"] = answer(200, {"secret": "s3cr3t"})
    # 127.0.0.2 is loopback too, outside the one address allowed.
    server.routes["/op"] = answer(302, Location=f"http://127.0.0.2:{other_server.port}/metadata")
    settings.SAGABOARD_HTTP_ALLOWED_HOSTS.append("127.0.0.2")
    outcome = call(server.url("/op"))
    assert not outcome.ok and "resolves to 127.0.0.2" in outcome.error
    assert len(server.seen) == 1 and other_server.seen == []


def test_a_name_that_does_not_resolve_is_a_retryable_error(settings):
    settings.SAGABOARD_HTTP_ALLOWED_HOSTS = ["*.invalid"]
    outcome = call("http://participant.invalid/op")
    assert not outcome.ok and outcome.retryable
    assert "cannot resolve participant.invalid" in outcome.error


@pytest.mark.parametrize("location", ["file:///etc/passwd", "//evil.example/x", "gopher://x/"])
def test_redirect_out_of_http_or_to_another_host_is_refused(server, location):
    server.routes["/op"] = answer(301, Location=location)
    outcome = call(server.url("/op"))
    assert not outcome.ok and not outcome.retryable and "not allowed" in outcome.error


def test_redirect_within_allowed_hosts_is_followed_with_the_same_key(server, other_server):
    other_server.routes["/v2/op"] = answer(200, {"moved": True})
    server.routes["/op"] = answer(307, Location=other_server.url("/v2/op", host="localhost"))
    outcome = call(server.url("/op"), body={"order": "o-1"})
    assert outcome == Outcome(True, output={"moved": True})
    [seen] = other_server.seen
    # 307 keeps the method and the body.
    assert seen.method == "POST" and json.loads(seen.body) == {"order": "o-1"}
    assert seen.headers["Idempotency-Key"] == KEY and seen.headers["X-Correlation-ID"] == RUN


def test_redirect_to_another_host_drops_credentials(server, other_server):
    # As every HTTP client does: a participant's credentials are for that participant only.
    other_server.routes["/op"] = answer(200, {})
    server.routes["/op"] = answer(307, Location=other_server.url("/op", host="localhost"))
    server.routes["/same"] = answer(307, Location="/there")
    server.routes["/there"] = answer(200, {})
    secret = {"Authorization": "Bearer s3cr3t", "Cookie": "session=s3cr3t"}
    assert call(server.url("/op"), headers=secret).ok
    [seen] = other_server.seen
    assert seen.headers["Authorization"] is None and seen.headers["Cookie"] is None
    # On the same host they go along.
    assert call(server.url("/same"), headers=secret).ok
    assert server.seen[-1].path == "/there"
    assert server.seen[-1].headers["Authorization"] == "Bearer s3cr3t"


def test_303_is_followed_with_a_get_without_body(server):
    server.routes["/op"] = answer(303, Location="/result")
    server.routes["/result"] = answer(200, {"done": True})
    outcome = call(server.url("/op"), body={"order": "o-1"})
    assert outcome.ok and outcome.output == {"done": True}
    last = server.seen[-1]
    assert last.method == "GET" and last.body == b"" and last.headers["Content-Type"] is None


def hops(server: Participant, n: int) -> None:
    for i in range(1, n + 1):
        server.routes[f"/hop/{i}"] = answer(302, Location=f"/hop/{i - 1}")
    server.routes["/hop/0"] = answer(200, {"arrived": True})


def test_five_redirects_are_followed(server):
    hops(server, 5)
    assert call(server.url("/hop/5")) == Outcome(True, output={"arrived": True})
    assert len(server.seen) == 6


def test_more_than_five_redirects_are_refused(server):
    hops(server, 6)
    outcome = call(server.url("/hop/6"))
    assert not outcome.ok and not outcome.retryable
    assert "more than 5 redirects" in outcome.error
    assert len(server.seen) == 6  # the sixth redirect is not followed


# ----------------------------------------------------------------------- size


def test_answer_over_one_megabyte_is_cut_off(server):
    def huge(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.end_headers()  # no length: the size is only known by reading
        try:
            for _ in range(64):
                h.wfile.write(b"x" * 65536)
        except OSError:
            pass

    server.routes["/huge"] = huge
    outcome = call(server.url("/huge"))
    assert not outcome.ok and not outcome.retryable
    assert "over 1024 KB" in outcome.error and "cut off" in outcome.error


def test_answer_just_under_one_megabyte_is_read(server):
    body = json.dumps({"blob": "x" * (1024 * 1024 - 100)}).encode()
    server.routes["/big"] = answer(200, body)
    outcome = call(server.url("/big"))
    assert outcome.ok and len(outcome.output["blob"]) == 1024 * 1024 - 100


# ----------------------------------------------------------------------- host_allowed


PATTERNS = ["127.0.0.1", "localhost", "*.example.com", "API.Partner.io"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "https://localhost:8443/x",
        "http://LOCALHOST/",
        "http://localhost./",
        "http://shop.example.com/",
        "http://a.b.example.com/",
        "HTTPS://Shop.Example.COM./orders",
        "http://api.partner.io/",
        "http://user:pw@127.0.0.1/",
        "http://evil.com\\@127.0.0.1/",  # a backslash is userinfo to both parsers
    ],
)
def test_host_allowed(settings, url):
    settings.SAGABOARD_HTTP_ALLOWED_HOSTS = PATTERNS
    assert host_allowed(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/",  # the pattern names subdomains only
        "http://evilexample.com/",
        "http://example.com.evil.com/",
        "http://shop.example.com.evil.com/",
        "http://localhost.evil.com/",
        "http://127.0.0.1@evil.com/",
        "http://127.0.0.1:80@evil.com/",
        "http://a@127.0.0.1@evil.com/",
        "http://127.0.0.1%2f@evil.com/",
        "http://evil.com#@127.0.0.1/",
        "http://evil.com?@127.0.0.1/",
        "http://127.0.0.1\t.evil.com/",
        "http://127.0.0.2/",
        "http://127.1/",
        "http://2130706433/",
        "http://0.0.0.0/",
        "http://[::1]/",
        "http://partner.io/",
        "ftp://127.0.0.1/",
        "file:///etc/passwd",
        "http:///path",
        "http:127.0.0.1",
        "127.0.0.1/path",
        "",
    ],
)
def test_host_not_allowed(settings, url):
    settings.SAGABOARD_HTTP_ALLOWED_HOSTS = PATTERNS
    assert not host_allowed(url)


# ----------------------------------------------------------------------- call_task


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(activities, "_registry", dict(activities._registry))

    @activity("tests.echo")
    def echo(inp: activities.ActivityInput) -> Any:
        return {
            "run": inp.run_id,
            "step": inp.step_id,
            "attempt": inp.attempt,
            "key": inp.idempotency_key,
            "args": inp.args,
            "compensation": inp.compensation,
        }

    @activity("tests.busy")
    def busy(inp: activities.ActivityInput) -> Any:
        raise RetryableError("the ledger is busy")

    @activity("tests.refuse")
    def refuse(inp: activities.ActivityInput) -> Any:
        raise PermanentError("card declined")

    @activity("tests.bug")
    def bug(inp: activities.ActivityInput) -> Any:
        return {}["missing"]

    @activity("tests.nothing")
    def nothing(inp: activities.ActivityInput) -> Any:
        return None

    @activity("tests.returns")
    def returns(inp: activities.ActivityInput) -> Any:
        return inp.args["value"]


def task(name: str, **args: Any) -> Outcome:
    return call_task(
        {"name": name, "args": args},
        run_id=RUN,
        step_id="charge",
        attempt=2,
        idempotency_key=f"{RUN}:charge:compensate",
        compensation=True,
    )


def test_task_gets_its_input_and_its_result_is_the_output(registered):
    assert task("tests.echo", amount=5) == Outcome(
        True,
        output={
            "run": RUN,
            "step": "charge",
            "attempt": 2,
            "key": f"{RUN}:charge:compensate",
            "args": {"amount": 5},
            "compensation": True,
        },
    )


def test_task_returning_none_has_an_empty_output(registered):
    assert task("tests.nothing") == Outcome(True, output={})


def test_unknown_activity_fails_retryably_naming_it(registered):
    # Another worker, deployed with the activity, may take the retry.
    outcome = task("tests.nowhere")
    assert not outcome.ok and outcome.retryable
    assert "tests.nowhere" in outcome.error


def test_retryable_error_is_retryable(registered):
    outcome = task("tests.busy")
    assert outcome == Outcome(False, error="tests.busy: the ledger is busy", retryable=True)


def test_permanent_error_is_not_retryable(registered):
    outcome = task("tests.refuse")
    assert outcome == Outcome(False, error="tests.refuse: card declined", retryable=False)


def test_plain_exception_is_retryable_and_named(registered):
    outcome = task("tests.bug")
    assert not outcome.ok and outcome.retryable
    assert "tests.bug raised KeyError" in outcome.error and "missing" in outcome.error


@pytest.mark.parametrize("value", [{1, 2}, object(), b"bytes", float("nan"), {"x": float("inf")}])
def test_non_json_result_fails_for_good(registered, value):
    outcome = task("tests.returns", value=value)
    assert not outcome.ok and not outcome.retryable
    assert "not JSON" in outcome.error


def test_task_result_with_nul_is_storable(registered):
    outcome = task("tests.returns", value={"label": "a\x00b"})
    assert outcome.ok
    storable(outcome)


def test_the_address_checked_is_the_address_connected_to(server, settings, monkeypatch):
    """DNS rebinding: a name may answer a public address to one lookup and a loopback
    one to the next. The name is resolved once per connection, and the connection goes
    to the address that lookup answered and the check passed: no second lookup could
    answer something else."""
    settings.SAGABOARD_HTTP_ALLOWED_HOSTS = ["rebind.test"]
    settings.SAGABOARD_HTTP_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    server.routes["/op"] = answer(200, {"secret": "s3cr3t"})
    real = socket.getaddrinfo
    lookups = []
    answers = iter(["127.0.0.1", "127.0.0.1", "93.184.215.14"])

    def rebinding(host, port, *args, **kwargs):
        if host != "rebind.test":
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        address = next(answers)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    outcome = call(f"http://rebind.test:{server.port}/op")
    assert not outcome.ok and not outcome.retryable
    assert "resolves to 127.0.0.1" in outcome.error
    assert len(lookups) == 1
    assert server.seen == []

    # Allowed now: the one lookup's address is the one the request reaches.
    settings.SAGABOARD_HTTP_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    assert call(f"http://rebind.test:{server.port}/op").ok
    assert len(lookups) == 2 and len(server.seen) == 1

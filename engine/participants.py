"""Calling participants: HTTP over httpx, task activities registered in code.

Runs outside any transaction and any lock (the middle of the three phases of
an attempt). Returns an Outcome; never raises for a participant's failure.
:class:`WorkerParticipants` is what a step's kind is handed to perform an
attempt with (``saga.steps.base.Participants``).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import ipaddress
import json
import logging
import re
import secrets
import socket
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx
from django.conf import settings

from common.activities import ActivityError, ActivityInput, get_activity
from engine import children
from engine.claims import set_callback_token
from saga.steps.base import Outcome, Waiting, Work

log = logging.getLogger("sagaboard.engine")

MAX_RESPONSE_BYTES = 1024 * 1024
MAX_REDIRECTS = 5
RETRYABLE_STATUS = {408, 409, 429}
# Credentials for one participant are not handed to another on a redirect (as httpx does).
CREDENTIAL_HEADERS = ("Authorization", "Proxy-Authorization", "Cookie")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e]*")
# \u0000 in JSON text, not preceded by an escaped backslash.
_ESCAPED_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def host_allowed(url: str) -> bool:
    """Whether ``url`` names a host that SAGABOARD_HTTP_ALLOWED_HOSTS allows (no SSRF)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    host = parts.hostname.lower().rstrip(".")
    for pattern in settings.SAGABOARD_HTTP_ALLOWED_HOSTS:
        pattern = pattern.lower()
        if pattern == host or (pattern.startswith("*.") and fnmatch.fnmatch(host, pattern)):
            return True
    return False


class AddressRefused(httpcore.ConnectError):
    """The name resolved, when connecting, to an address steps may not call."""


def _checked_addresses(host: str, port: int) -> list[str]:
    """Where ``host`` resolves to, when every address may be called.

    An allowed name must not lead into the machine's own or a private network
    unless SAGABOARD_HTTP_ALLOWED_NETWORKS holds that address: a DNS entry
    pointing an allowed name at 127.0.0.1 or 10.x must not open those to steps
    (``AddressRefused``). Public addresses pass. A name that does not resolve
    raises ``ConnectError`` (retryable: DNS may come back).
    """
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
    networks = [
        ipaddress.ip_network(n, strict=False) for n in settings.SAGABOARD_HTTP_ALLOWED_NETWORKS
    ]
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        addresses.append(str(info[4][0]))
        if address.is_global and not address.is_multicast:
            continue
        if not any(address in network for network in networks):
            raise AddressRefused(
                f"{host} resolves to {address}, a non-public address that "
                "SAGABOARD_HTTP_ALLOWED_NETWORKS does not allow"
            )
    return addresses


class _CheckedBackend(httpcore.SyncBackend):
    """Connects only to the addresses it has just checked.

    The name is resolved once, here: a check made apart from the connection
    would let a name answer a public address to the check and 127.0.0.1 to the
    connection (DNS rebinding).
    """

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        addresses = _checked_addresses(host, port)
        failure: Exception = httpcore.ConnectError(f"{host} has no address")
        for address in addresses:
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                failure = exc
        raise failure


def _client() -> httpx.Client:
    global _shared_client
    if _shared_client is None:
        # One pooled client per process; redirects are followed by hand, so
        # each hop is checked against the allowed hosts.
        transport = httpx.HTTPTransport()
        # httpx takes no network backend of its own; its connection pool does.
        transport._pool._network_backend = _CheckedBackend()
        _shared_client = httpx.Client(transport=transport, follow_redirects=False, trust_env=False)
    return _shared_client


_shared_client: httpx.Client | None = None


def call_http(
    action: dict[str, Any],
    *,
    idempotency_key: str,
    correlation_id: str,
    timeout_s: float | None,
    extra_headers: dict[str, str] | None = None,
) -> Outcome:
    outcome = _call_http(
        action,
        idempotency_key=idempotency_key,
        correlation_id=correlation_id,
        timeout_s=timeout_s,
        extra_headers=extra_headers,
    )
    # The error goes into text columns, where PostgreSQL stores no NUL character.
    return dataclasses.replace(outcome, error=_text(outcome.error))


def _request_headers(
    action: dict[str, Any],
    *,
    idempotency_key: str,
    correlation_id: str,
    extra_headers: dict[str, str] | None,
) -> httpx.Headers | Outcome:
    """The request's headers, or the failure of a header that would corrupt the request."""
    spec_headers = {str(k): str(v) for k, v in (action.get("headers") or {}).items()}
    for name, value in spec_headers.items():
        # Templates put run input into headers: refuse what would corrupt the request.
        if not _TOKEN.fullmatch(name) or not _FIELD_VALUE.fullmatch(value):
            return Outcome(
                False,
                error=f"header {name!r} is not a valid HTTP header (printable ASCII only)",
                retryable=False,
            )
    headers = httpx.Headers(spec_headers)
    for name, value in (
        ("Idempotency-Key", idempotency_key),
        ("X-Correlation-ID", correlation_id),
        *(extra_headers or {}).items(),
    ):
        headers[name] = value  # replaces a spec header of the same name in any case
    return headers


class _Redirect(Exception):
    """The participant redirected: to ``url``."""

    def __init__(self, response: httpx.Response, url: str) -> None:
        super().__init__(url)
        self.response = response
        self.url = url


def _call_http(
    action: dict[str, Any],
    *,
    idempotency_key: str,
    correlation_id: str,
    timeout_s: float | None,
    extra_headers: dict[str, str] | None,
) -> Outcome:
    method = str(action.get("method", "POST")).upper()
    url = str(action.get("url", ""))
    headers = _request_headers(
        action,
        idempotency_key=idempotency_key,
        correlation_id=correlation_id,
        extra_headers=extra_headers,
    )
    if isinstance(headers, Outcome):
        return headers
    body = action.get("body")
    content = None if body is None or method in ("GET", "HEAD") else json.dumps(body).encode()
    if content is not None and "Content-Type" not in headers:
        headers["Content-Type"] = "application/json"
    # timeout_s bounds the whole call, redirects and a slowly trickling answer included,
    # not only each read.
    limit = timeout_s or 30.0
    deadline = time.monotonic() + limit
    for _hop in range(MAX_REDIRECTS + 1):
        if not host_allowed(url):
            return Outcome(
                False, error=f"host of {url} is not allowed for http steps", retryable=False
            )
        try:
            return _one_hop(method, url, headers, content, deadline, limit)
        except _Redirect as redirect:
            target = urljoin(url, redirect.url)
            if _origin(target) != _origin(url):
                for name in CREDENTIAL_HEADERS:
                    headers.pop(name, None)
            url = target
            if redirect.response.status_code == 303:
                method, content = "GET", None
                headers.pop("Content-Type", None)
    return Outcome(False, error=f"more than {MAX_REDIRECTS} redirects from {url}", retryable=False)


def _one_hop(
    method: str,
    url: str,
    headers: httpx.Headers,
    content: bytes | None,
    deadline: float,
    limit: float,
) -> Outcome:
    """One request, and what its answer comes to; :class:`_Redirect` for a redirect."""
    timed_out = f"{method} {url} timed out after {limit:g} s"
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return Outcome(False, error=timed_out, retryable=True)
    try:
        with _client().stream(
            method, url, headers=headers, content=content, timeout=httpx.Timeout(remaining)
        ) as response:
            if response.is_redirect:
                location = response.headers.get("Location")
                if not location:
                    return Outcome(
                        False, error=f"{response.status_code} without Location", retryable=False
                    )
                raise _Redirect(response, location)
            raw = b""
            for chunk in response.iter_bytes():
                raw += chunk
                if len(raw) > MAX_RESPONSE_BYTES:
                    return Outcome(
                        False,
                        error=f"response from {url} is over "
                        f"{MAX_RESPONSE_BYTES // 1024} KB; cut off",
                        retryable=False,
                    )
                if time.monotonic() > deadline:
                    return Outcome(False, error=timed_out, retryable=True)
            status = response.status_code
    except httpx.TimeoutException:
        return Outcome(False, error=timed_out, retryable=True)
    except httpx.HTTPError as exc:
        if isinstance(exc.__cause__, AddressRefused):
            return Outcome(False, error=str(exc.__cause__), retryable=False)
        return Outcome(
            False,
            error=f"{method} {url} failed: {exc.__class__.__name__}: {exc}",
            retryable=True,
        )
    except (httpx.InvalidURL, ValueError) as exc:
        # A URL that templates filled with bad input: trying again changes nothing.
        return Outcome(
            False, error=f"{method} {url!r} is not a valid request: {exc}", retryable=False
        )
    output = _decode(raw)
    if 200 <= status < 300:
        return Outcome(True, output=output)
    retryable = status >= 500 or status in RETRYABLE_STATUS
    detail = _detail(output, raw)
    return Outcome(False, error=f"{method} {url} answered {status}{detail}", retryable=retryable)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return parts.scheme.lower(), (parts.hostname or "").rstrip("."), port


def _decode(raw: bytes) -> Any:
    if not raw:
        return {}
    try:
        return _storable(json.loads(raw, parse_constant=_not_json))
    except (ValueError, RecursionError):
        return {"text": _text(raw[:2000].decode("utf-8", "replace"))}


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _text(text: str) -> str:
    return text.replace("\x00", "\ufffd")


def _storable(value: Any) -> Any:
    """``value`` as PostgreSQL's jsonb holds it: NUL characters replaced.

    Raises TypeError or ValueError for what is not JSON (NaN and Infinity included).
    """
    text = json.dumps(value, allow_nan=False)
    if "\\u0000" not in text:
        return value
    return json.loads(_ESCAPED_NUL.sub(r"\1\\ufffd", text))


def _detail(output: Any, raw: bytes) -> str:
    if isinstance(output, dict) and output.get("detail"):
        return f": {_text(str(output['detail']))[:500]}"
    return f": {_text(raw[:200].decode('utf-8', 'replace'))}" if raw else ""


def call_task(
    action: dict[str, Any],
    *,
    run_id: str,
    step_id: str,
    attempt: int,
    idempotency_key: str,
    compensation: bool,
) -> Outcome:
    name = str(action.get("name"))
    found = get_activity(name)
    if found is None:
        return Outcome(
            False, error=f"no activity {name} is registered on this worker", retryable=True
        )
    inp = ActivityInput(
        run_id=run_id,
        step_id=step_id,
        attempt=attempt,
        idempotency_key=idempotency_key,
        args=dict(action.get("args") or {}),
        compensation=compensation,
    )
    try:
        result = found.func(inp)
    except ActivityError as exc:
        return Outcome(False, error=_text(f"{name}: {exc}"), retryable=exc.retryable)
    except Exception as exc:  # an activity's bug is retried like any other failure
        log.exception("activity %s raised", name)
        return Outcome(
            False, error=_text(f"{name} raised {exc.__class__.__name__}: {exc}"), retryable=True
        )
    try:
        output = _storable(result if result is not None else {})
    except (TypeError, ValueError, RecursionError):
        return Outcome(False, error=f"{name} returned a value that is not JSON", retryable=False)
    return Outcome(True, output=output)


class WorkerParticipants:
    """The I/O a step's kind may ask for while a worker performs its attempt."""

    def call_http(
        self,
        action: Mapping[str, Any],
        work: Work,
        *,
        timeout_s: float | None,
        headers: Mapping[str, str] | None = None,
    ) -> Outcome:
        return call_http(
            dict(action),
            idempotency_key=work.idempotency_key,
            correlation_id=work.run_id,
            timeout_s=timeout_s,
            extra_headers={**work.trace_headers, **(headers or {})},
        )

    def call_task(self, action: Mapping[str, Any], work: Work) -> Outcome:
        return call_task(
            dict(action),
            run_id=work.run_id,
            step_id=work.step.id,
            attempt=work.attempt,
            idempotency_key=work.idempotency_key,
            compensation=work.compensation,
        )

    def start_child(self, action: Mapping[str, Any], work: Work) -> Outcome | Waiting:
        return children.start_child(action, work)

    def compensate_child(self, work: Work) -> Outcome | Waiting:
        return children.compensate_child(work)

    def callback_token(self, work: Work) -> tuple[str, str]:
        token = secrets.token_urlsafe(24)
        set_callback_token(work.run_id, work.step.id, work.attempt, token)
        return token, f"{settings.SAGABOARD_BASE_URL.rstrip('/')}/api/callbacks/{token}/"

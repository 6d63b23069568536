"""Errors that services raise and every interface (API, pages, commands) translates."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


class Conflict(Exception):
    """The act is not allowed in the object's current state (HTTP 409)."""


class InvalidInput(Exception):
    """The input is wrong; nothing was stored (HTTP 400).

    ``errors`` holds ``{"step", "field", "message"}`` items so a client can put
    each message beside what it concerns.
    """

    def __init__(self, detail: str, errors: Iterable[Mapping[str, Any]] = ()) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = [dict(e) for e in errors]


class NotAllowed(Exception):
    """The user may see the object but not do this to it (HTTP 403)."""

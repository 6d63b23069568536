"""Structured logs: every record carries the run, step and correlation id it concerns.

The engine wraps each piece of work on a run in :func:`log_context`; a filter on
the handlers copies those fields onto every record logged meanwhile, from any
module, so a log search for one run id finds the whole story of the run across
web and worker processes. In production the records are JSON (python-json-logger);
on a developer's terminal they are one line each, the ids appended.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

FIELDS = ("run_id", "step_id", "correlation_id")

_context: ContextVar[dict[str, str] | None] = ContextVar("sagaboard_log_context", default=None)


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Within the block, records carry these fields (those given and not empty)."""
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise TypeError(f"unknown log fields: {sorted(unknown)}")
    current = _context.get() or {}
    token = _context.set({**current, **{k: str(v) for k, v in fields.items() if v}})
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Puts the current run, step and correlation id on each record ("" when none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        current = _context.get() or {}
        for name in FIELDS:
            if not getattr(record, name, ""):
                setattr(record, name, current.get(name, ""))
        return True


class PlainFormatter(logging.Formatter):
    """One line per record, with ``run=… step=…`` appended when the record has them."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = " ".join(
            f"{name.removesuffix('_id')}={value}"
            for name in FIELDS
            if (value := getattr(record, name, "")) and name != "correlation_id"
        )
        return f"{line} [{ids}]" if ids else line

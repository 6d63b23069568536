"""Filters for the logging configuration in settings."""

from __future__ import annotations

import logging


class ClientErrorsWithoutTraceback(logging.Filter):
    """A 4xx answer logged by ``django.request`` keeps its line and loses its traceback.

    Django logs a refused request (PermissionDenied, Http404 raised by a view) with the
    exception's traceback: dozens of lines for what is the client's mistake, not a fault
    of the server. Server errors (5xx) keep theirs.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and status < 500:
            record.exc_info = None
            record.exc_text = None
        return True

"""A refused request is one log line, not a traceback; a server error keeps its traceback."""

from __future__ import annotations

import logging
import sys

import pytest
from django.test import Client

from sagaboard.logs import ClientErrorsWithoutTraceback
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_403_is_logged_in_one_line_without_its_traceback(caplog):
    client = Client()
    client.force_login(UserFactory())
    with caplog.at_level(logging.WARNING, logger="django.request"):
        # Raises PermissionDenied: only staff and operators control the demo traffic.
        response = client.get("/demo/")
    assert response.status_code == 403
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert record.getMessage() == "Forbidden (Permission denied): /demo/"
    assert record.exc_info is None
    assert "Traceback" not in caplog.text


def test_a_server_error_keeps_its_traceback():
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "django.request", logging.ERROR, __file__, 1, "Internal Server Error: /", (), exc_info
    )
    record.status_code = 500
    assert ClientErrorsWithoutTraceback().filter(record)
    assert record.exc_info == exc_info

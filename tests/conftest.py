"""Shared fixtures. The tests run on PostgreSQL and Redis, never on a stand-in."""

from __future__ import annotations

import copy
import os
import time
from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.hasplugin("django"):
        return  # the pure-core tests run without Django
    _flush_through_deadlocks()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        raise pytest.UsageError(
            "The tests run on PostgreSQL: use `make test` (it starts one), "
            "or set DATABASE_URL=postgres://..."
        )


def _flush_through_deadlocks() -> None:
    """A transactional test ends by emptying every table (TRUNCATE). A Celery worker
    still finishing an earlier test's timer or re-send can hold a row lock the TRUNCATE
    waits on while it waits on the TRUNCATE's: PostgreSQL ends the TRUNCATE, the flush
    fails, and the next test starts on this one's rows. The worker's transaction goes
    through once the TRUNCATE is gone, so the flush is tried again."""
    from django.db import OperationalError
    from django.test.testcases import TransactionTestCase

    teardown = TransactionTestCase._fixture_teardown

    def _fixture_teardown(self: TransactionTestCase) -> None:
        for attempt in range(5):
            try:
                return teardown(self)
            except Exception as exc:  # flush's CommandError, from the deadlock
                cause = exc.__cause__
                if attempt == 4 or not (
                    isinstance(cause, OperationalError) and "deadlock" in str(cause)
                ):
                    raise
                time.sleep(0.2)

    TransactionTestCase._fixture_teardown = _fixture_teardown  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> Any:
    """pytest-django's test database, with every other connection to it ended before
    it is dropped.

    Threads of this process (the live server's, channels' executor) keep their
    connections for CONN_MAX_AGE, as in production; one still open when the database
    is dropped would make the drop fail and leave the database behind.
    """
    yield
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    connection.close()


@pytest.fixture(autouse=True)
def _fast_passwords(request: pytest.FixtureRequest) -> None:
    # Django's default hasher takes a third of a second per password on purpose.
    if request.config.pluginmanager.hasplugin("django"):
        settings = request.getfixturevalue("settings")
        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


SPEC: dict[str, Any] = {
    "format": "sagaboard/v1",
    "description": "Take an order from payment to shipping",
    "steps": [
        {
            "id": "reserve",
            "name": "Reserve stock",
            "type": "http",
            "action": {"method": "POST", "url": "http://127.0.0.1/reservations"},
            "compensation": {
                "method": "DELETE",
                "url": "http://127.0.0.1/reservations/{{ steps.reserve.output.id }}",
            },
        },
        {
            "id": "wait",
            "name": "Cool down",
            "type": "delay",
            "after": ["reserve"],
            "action": {"seconds": 1},
        },
        {
            "id": "ship",
            "name": "Ship",
            "type": "http",
            "after": ["wait"],
            "pivot": True,
            "action": {"method": "POST", "url": "http://127.0.0.1/shipments"},
        },
    ],
}


@pytest.fixture
def spec() -> dict[str, Any]:
    """A small valid spec, a fresh copy for each test."""
    return copy.deepcopy(SPEC)

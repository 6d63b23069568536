"""Shared fixtures. The tests run on PostgreSQL and Redis, never on a stand-in."""

from __future__ import annotations

import copy
import os
from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.hasplugin("django"):
        return  # the pure-core tests run without Django
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        raise pytest.UsageError(
            "The tests run on PostgreSQL: use `make test` (it starts one), "
            "or set DATABASE_URL=postgres://..."
        )


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

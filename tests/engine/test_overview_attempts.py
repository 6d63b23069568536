"""The overview's attempts of a step: every attempt it started, retries included, and the
share that failed and were retried; latencies stay those of the attempts that ended it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from engine import stats
from engine.models import Event
from tests.engine.test_pages import api, gates, start
from tests.factories import UserFactory, grant, make_published, make_workflow

pytestmark = pytest.mark.django_db


@pytest.fixture
def boss():
    return UserFactory(username="boss", is_staff=True)


@pytest.fixture
def orders(boss):
    workflow = make_workflow("orders")
    make_published(workflow, gates())
    return workflow


def happened(run, seq: int, kind: str, step: str, attempt: int, latency: float | None = None):
    return Event(
        run=run,
        seq=seq,
        type=kind,
        step_id=step,
        attempt=attempt,
        at=timezone.now() - timedelta(seconds=30),
        latency_ms=latency,
        status="",
    )


def test_every_attempt_counts_and_the_retried_share_is_given(orders, boss):
    """ "check" tried three times: two failed and were retried, the third succeeded; "sign"
    is at its first attempt, which has not ended."""
    run = start(orders, boss)
    Event.objects.filter(run=run).exclude(step_id="").delete()
    Event.objects.bulk_create(
        [
            happened(run, 101, "step.started", "check", 1),
            happened(run, 102, "step.retry_scheduled", "check", 1),
            happened(run, 103, "step.started", "check", 2),
            happened(run, 104, "step.retry_scheduled", "check", 2),
            happened(run, 105, "step.started", "check", 3),
            happened(run, 106, "step.succeeded", "check", 3, latency=40.0),
            happened(run, 107, "step.started", "sign", 1),
        ]
    )
    vera = grant(UserFactory(username="vera"), orders, "view_workflow")
    data = api(vera).get("/api/workflows/orders/stats/?minutes=60").json()
    check, sign = data["steps"]
    assert check == {
        "step": "check",
        "name": "Check the order",
        "attempts": 3,
        "retried": 2,
        "retry_rate": 0.6667,
        "failed": 0,
        "p50_ms": 40.0,
        "p95_ms": 40.0,
        "p99_ms": 40.0,
    }
    assert (sign["step"], sign["attempts"], sign["retried"], sign["retry_rate"]) == (
        "sign",
        1,
        0,
        0,
    )
    assert (sign["p50_ms"], sign["p95_ms"], sign["p99_ms"]) == (None, None, None)

    # The standalone (SQLite) reading gives the same figures.
    since = timezone.now() - timedelta(hours=1)
    assert stats._latencies_python(orders, since) == stats._latencies_sql(orders, since)

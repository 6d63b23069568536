"""Prometheus metrics: read from the event log at scrape time, so what every
process committed counts, once."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import path
from django.utils import timezone
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

import saga
from engine import metrics, services
from engine.metrics import metrics_view
from engine.models import Run
from engine.tasks import reconcile
from tests.factories import UserFactory, make_published, make_workflow

pytestmark = pytest.mark.django_db(transaction=True)

urlpatterns = [path("metrics", metrics_view)]

SPEC = {
    "format": "sagaboard/v1",
    "steps": [
        {
            "id": "reserve",
            "name": "Reserve",
            "type": "task",
            "action": {"name": "demo.noop", "args": {}},
            "compensation": {"name": "demo.noop", "args": {}},
        },
        {
            "id": "charge",
            "name": "Charge",
            "type": "task",
            "after": ["reserve"],
            "action": {"name": "demo.noop", "args": {}},
            "pivot": True,
        },
        {
            "id": "ship",
            "name": "Ship",
            "type": "task",
            "after": ["charge"],
            "action": {"name": "demo.noop", "args": {}},
        },
    ],
}


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    """The test decides how each attempt went: no task reaches a Celery worker that
    other tests may have left running."""
    monkeypatch.setattr("engine.dispatch.dispatch", lambda run_id, commands: None)


@pytest.fixture(autouse=True)
def collector(monkeypatch, settings):
    """A collector of its own for each test (the tables are emptied between tests)."""
    settings.ROOT_URLCONF = __name__
    original, fresh = metrics.collector, metrics.EventCollector()
    REGISTRY.unregister(original)
    REGISTRY.register(fresh)
    monkeypatch.setattr(metrics, "collector", fresh)
    yield fresh
    REGISTRY.unregister(fresh)
    REGISTRY.register(original)


@pytest.fixture
def orders():
    workflow = make_workflow("orders")
    make_published(workflow, SPEC)
    return workflow


@pytest.fixture
def staff_client():
    client = Client()
    client.force_login(UserFactory(username="root", is_staff=True))
    return client


def running(run_id) -> tuple[str, int]:
    row = Run.objects.get(pk=run_id).steps.get(status="running")
    return row.step_id, row.attempt


def succeed(run_id) -> None:
    services.run_apply(run_id, saga.StepSucceeded(*running(run_id), {}))


def fail(run_id, *, retryable: bool) -> None:
    step, attempt = running(run_id)
    services.run_apply(run_id, saga.StepFailed(step, attempt, "boom", retryable=retryable))


def retry_now(run_id) -> None:
    row = Run.objects.get(pk=run_id).steps.get(status="retrying")
    services.run_apply(run_id, saga.TimerFired(row.step_id, row.attempt))


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: Client) -> Samples:
    """Sagaboard's samples (not the process's own), by name and labels."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.content
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        if family.name.startswith("sagaboard_")
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def named(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


def labels(**pairs: str) -> frozenset[tuple[str, str]]:
    return frozenset(pairs.items())


def test_a_run_shows_in_the_metrics(orders, staff_client):
    completed, _ = services.run_start(workflow=orders, by=None, input={})
    fail(completed.pk, retryable=True)  # reserve: attempt 1 failed, retried
    retry_now(completed.pk)
    succeed(completed.pk)  # reserve
    succeed(completed.pk)  # charge: the pivot
    fail(completed.pk, retryable=False)  # ship fails for good after the pivot: stuck

    compensated, _ = services.run_start(workflow=orders, by=None, input={})
    succeed(compensated.pk)  # reserve
    fail(compensated.pk, retryable=False)  # charge, before the pivot: compensate reserve
    row = Run.objects.get(pk=compensated.pk).steps.get(step_id="reserve")
    services.run_apply(
        compensated.pk, saga.CompensationSucceeded("reserve", row.compensation_attempt)
    )
    assert Run.objects.get(pk=compensated.pk).status == "compensated"

    metrics.observe_reconcile({"timers": 2, "timeouts": 0, "resent": 1, "deadlines": 0})
    samples = scrape(staff_client)

    assert named(samples, "sagaboard_runs_started_total") == {labels(workflow="orders"): 2}
    assert named(samples, "sagaboard_runs_finished_total") == {
        labels(workflow="orders", status="compensated"): 1
    }
    assert named(samples, "sagaboard_step_attempts_total") == {
        labels(workflow="orders", step="reserve", outcome="retried"): 1,
        labels(workflow="orders", step="reserve", outcome="succeeded"): 2,
        labels(workflow="orders", step="charge", outcome="succeeded"): 1,
        labels(workflow="orders", step="charge", outcome="failed"): 1,
        labels(workflow="orders", step="ship", outcome="failed"): 1,
    }
    assert named(samples, "sagaboard_compensations_total") == {
        labels(workflow="orders", outcome="compensated"): 1
    }
    latency = "sagaboard_step_latency_seconds"
    assert value(samples, f"{latency}_count", workflow="orders", step="reserve") == 2
    assert value(samples, f"{latency}_count", workflow="orders", step="charge") == 2
    assert value(samples, f"{latency}_bucket", workflow="orders", step="ship", le="+Inf") == 1
    assert named(samples, "sagaboard_runs_stuck") == {labels(workflow="orders"): 1}
    resends = "sagaboard_reconciler_resends_total"
    assert value(samples, resends, kind="timers") == 2
    assert value(samples, resends, kind="resent") == 1


def test_the_reconcilers_last_pass_is_a_gauge_to_alert_on(staff_client):
    before = scrape(staff_client)
    assert value(before, "sagaboard_reconciler_last_pass_timestamp_seconds") is None
    assert value(before, "sagaboard_reconciler_passes_total") == 0
    at = timezone.now() - timedelta(seconds=30)
    metrics.observe_reconcile({"timers": 0, "timeouts": 0, "resent": 0, "deadlines": 0}, at)
    reconcile()  # a pass with nothing to do still counts
    samples = scrape(staff_client)
    assert value(samples, "sagaboard_reconciler_passes_total") == 2
    last = value(samples, "sagaboard_reconciler_last_pass_timestamp_seconds")
    assert last is not None and abs(last - time.time()) < 10
    # Passes are not re-sends.
    assert named(samples, "sagaboard_reconciler_resends_total") == {}


def test_each_event_counts_once_across_scrapes(orders, staff_client):
    run, _ = services.run_start(workflow=orders, by=None, input={})
    succeed(run.pk)
    first = scrape(staff_client)
    assert scrape(staff_client) == first  # a scrape reads again what it counted: no double
    succeed(run.pk)
    services.run_start(workflow=orders, by=None, input={})
    later = scrape(staff_client)
    charged = {"workflow": "orders", "step": "charge", "outcome": "succeeded"}
    assert value(first, "sagaboard_step_attempts_total", **charged) is None
    assert value(later, "sagaboard_step_attempts_total", **charged) == 1
    assert value(later, "sagaboard_runs_started_total", workflow="orders") == 2


def test_history_and_new_events_add_up(orders, staff_client, collector):
    """A process that starts later counts the history in SQL and new events one by one,
    to the same totals as one that counted everything one by one."""
    for _ in range(3):
        run, _ = services.run_start(workflow=orders, by=None, input={})
        succeed(run.pk)
        fail(run.pk, retryable=True)
    one_by_one = scrape(staff_client)

    late = metrics.EventCollector()
    late.LAG = timedelta(0)  # everything so far is history
    late.refresh()
    run, _ = services.run_start(workflow=orders, by=None, input={})
    succeed(run.pk)
    late.refresh()
    collector.refresh()
    assert late.started == collector.started
    assert late.attempts == collector.attempts
    assert {k: (h.count, h.buckets) for k, h in late.latency.items()} == {
        k: (h.count, h.buckets) for k, h in collector.latency.items()
    }
    assert value(one_by_one, "sagaboard_runs_started_total", workflow="orders") == 3


def test_metrics_are_for_staff_or_the_token(orders, settings):
    anonymous = Client().get("/metrics")
    assert anonymous.status_code == 401
    viewer = Client()
    viewer.force_login(UserFactory(username="vera"))
    assert viewer.get("/metrics").status_code == 401
    settings.SAGABOARD_METRICS_TOKEN = "s3cret-token"
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    response = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token")
    assert response.status_code == 200
    assert re.search(r"^# TYPE sagaboard_runs_stuck gauge$", response.content.decode(), re.M)


def test_staff_may_scrape_with_their_api_token(orders):
    from rest_framework.authtoken.models import Token

    staff = Token.objects.create(user=UserFactory(username="root", is_staff=True))
    viewer = Token.objects.create(user=UserFactory(username="vera"))
    assert Client().get("/metrics", HTTP_AUTHORIZATION=f"Token {staff.key}").status_code == 200
    assert Client().get("/metrics", HTTP_AUTHORIZATION=f"Token {viewer.key}").status_code == 401
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Token not-a-key").status_code == 401

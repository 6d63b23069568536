"""``GET /healthz``: what a load balancer asks of each web process."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from engine import metrics

pytestmark = pytest.mark.django_db


def health(client: Client) -> tuple[int, dict]:
    response = client.get("/healthz")
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    return response.status_code, response.json()


def test_healthy_with_database_broker_and_layer_reachable_signed_in_or_not(client):
    status, body = health(client)
    assert status == 200
    assert body["status"] == "ok"
    assert body["checks"] == {"database": "ok", "broker": "ok", "channel_layer": "ok"}
    assert body["reconciler"] == {"last_pass": None, "age_s": None}  # never ran here


def test_an_unreachable_broker_or_layer_fails_the_check_naming_which(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    status, body = health(client)
    assert status == 503 and body["status"] == "failing"
    assert body["checks"] == {"database": "ok", "broker": "unreachable", "channel_layer": "ok"}
    assert "127.0.0.1:1" not in str(body)  # no address or error text for anyone to read

    settings.CELERY_BROKER_URL = "memory://localhost/"  # standalone: in this process
    settings.CHANNEL_LAYER_URL = "redis://127.0.0.1:1/1"
    status, body = health(client)
    assert status == 503
    assert body["checks"] == {
        "database": "ok",
        "broker": "in-process",
        "channel_layer": "unreachable",
    }


def test_a_stale_reconciler_is_reported_but_leaves_the_web_process_healthy(client):
    metrics.observe_reconcile({}, timezone.now() - timedelta(minutes=5))
    status, body = health(client)
    assert status == 200
    assert 299 < body["reconciler"]["age_s"] < 330
    assert body["reconciler"]["last_pass"].startswith(str(timezone.now().year))


def test_only_get(client):
    assert client.post("/healthz").status_code == 405

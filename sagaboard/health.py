"""``GET /healthz``: whether this web process can do its work, for load balancers and
orchestrators.

200 when the database, the Celery broker and the channel layer answer; 503, naming
which did not, otherwise. Each check is bounded by ``TIMEOUT_S``. The body also says
when the reconciler last made a pass: a stale pass (no worker consuming, or no beat)
does not make this web process unhealthy, so it does not change the status; alert
on ``sagaboard_reconciler_last_pass_timestamp_seconds`` in /metrics instead.

Open to anyone, like any health check: it names no host and no error text.
"""

from __future__ import annotations

import functools
from typing import Any

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from kombu import Connection

from engine.metrics import last_reconcile

#: Seconds each check may take.
TIMEOUT_S = 1.0


def _database() -> str:
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


@functools.cache
def _redis(url: str) -> redis.Redis:
    # One small pool per URL, kept: a probe every few seconds needs no new connection.
    return redis.Redis.from_url(url, socket_connect_timeout=TIMEOUT_S, socket_timeout=TIMEOUT_S)


def _ping(url: str) -> None:
    if url.startswith(("redis://", "rediss://", "unix://")):
        _redis(url).ping()
        return
    with Connection(url, connect_timeout=TIMEOUT_S) as broker:
        broker.ensure_connection(max_retries=1, timeout=TIMEOUT_S)


def _service(url: str) -> str:
    if not url or url.startswith("memory://"):
        return "in-process"  # standalone: nothing to reach
    _ping(url)
    return "ok"


CHECKS = {
    "database": _database,
    "broker": lambda: _service(settings.CELERY_BROKER_URL),
    "channel_layer": lambda: _service(getattr(settings, "CHANNEL_LAYER_URL", "")),
}


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            checks[name] = check()
        except Exception:
            checks[name] = "unreachable"
    healthy = all(v != "unreachable" for v in checks.values())
    body: dict[str, Any] = {"status": "ok" if healthy else "failing", "checks": checks}
    try:
        last = last_reconcile() if checks["database"] == "ok" else None
    except Exception:
        last = None  # the tables not migrated yet, say: the checks above tell what matters
    body["reconciler"] = {
        "last_pass": last.isoformat() if last else None,
        "age_s": round((timezone.now() - last).total_seconds(), 1) if last else None,
    }
    return JsonResponse(body, status=200 if healthy else 503)

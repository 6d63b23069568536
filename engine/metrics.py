"""Prometheus metrics at /metrics.

The run and step metrics are read from the event log at scrape time, not
counted in the process that made the change. Runs move in Celery workers, in
as many processes on as many machines as the load needs; counters kept in
those processes would need an exporter on every machine (prometheus_client's
multiprocess mode only merges the processes of one machine) and would vanish
with a recycled worker. The log already holds every change, committed or not
at all, so the totals read from it are right whoever wrote them, survive
restarts, and cost the workers nothing.

Reading the log is incremental: the first scrape of a process aggregates the
history in SQL, later scrapes read only the last ``LAG`` of events (by their
``at`` stamp, on the ``(type, at)`` index) and skip those already counted. An
event is therefore counted provided its transaction commits within ``LAG`` of
its stamp; the engine's transactions last milliseconds.

Every web process reports the same totals: scrape one of them, or aggregate
with ``max`` rather than ``sum``.

The reconciler's re-sends leave no event: each pass adds them to a tally in
the database (:func:`observe_reconcile`), read at scrape time like the rest.
"""

from __future__ import annotations

import hmac
import threading
from collections import defaultdict
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, F, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from designer.models import Workflow
from engine.models import Event, ReconcilerTally, Run
from saga.vocabulary import RUN_EVENTS, TERMINAL, EventType, RunStatus, StepStatus

#: Upper bounds of the step latency buckets, in seconds (approvals take hours).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600)

# Event type -> the label value it counts under (retries: see _count).
E, S = EventType, StepStatus
_ATTEMPTS: dict[str, str] = {E.STEP_SUCCEEDED: S.SUCCEEDED, E.STEP_FAILED: S.FAILED}
_COMPENSATIONS: dict[str, str] = {
    E.STEP_COMPENSATED: S.COMPENSATED,
    E.STEP_COMPENSATION_FAILED: S.FAILED,
}
_FINISHED: dict[str, str] = {RUN_EVENTS[status]: status for status in sorted(TERMINAL)}
COUNTED_TYPES = tuple(
    str(t) for t in (E.RUN_STARTED, E.STEP_RETRY_SCHEDULED, *_ATTEMPTS, *_COMPENSATIONS, *_FINISHED)
)
_TIMED_TYPES = tuple(_ATTEMPTS)


def observe_reconcile(counts: Mapping[str, int], at: datetime | None = None) -> None:
    """Count one reconciler pass, made ``at``: ``counts`` as ``engine.tasks.reconcile``
    returns them."""
    at = at or timezone.now()
    for kind, n in ((ReconcilerTally.PASSES, 1), *counts.items()):
        if n:
            tally = ReconcilerTally.objects.filter(pk=kind)
            if not tally.update(count=F("count") + n, at=at):  # one query once it exists
                ReconcilerTally.objects.get_or_create(kind=kind)
                tally.update(count=F("count") + n, at=at)


def last_reconcile() -> datetime | None:
    """When the reconciler last made a pass, if ever."""
    return (
        ReconcilerTally.objects.filter(kind=ReconcilerTally.PASSES)
        .values_list("at", flat=True)
        .first()
    )


class _Histogram:
    __slots__ = ("buckets", "count", "sum")

    def __init__(self) -> None:
        self.buckets = [0] * len(LATENCY_BUCKETS)
        self.count = 0
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.count += 1
        self.sum += seconds
        for i, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                self.buckets[i] += 1


class EventCollector(Collector):
    """The run and step metrics, read from the event log, and the stuck runs."""

    #: How late after its ``at`` stamp an event may commit and still be counted.
    LAG = timedelta(seconds=60)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._horizon: datetime | None = None
        self._seen: dict[int, datetime] = {}
        self.started: dict[tuple[str], int] = defaultdict(int)
        self.finished: dict[tuple[str, str], int] = defaultdict(int)
        self.attempts: dict[tuple[str, str, str], int] = defaultdict(int)
        self.compensations: dict[tuple[str, str], int] = defaultdict(int)
        self.latency: dict[tuple[str, str], _Histogram] = defaultdict(_Histogram)

    def _count(self, workflow: str, kind: str, step: str, status: str, n: int) -> None:
        if kind == E.RUN_STARTED:
            self.started[(workflow,)] += n
        elif kind in _FINISHED:
            self.finished[(workflow, _FINISHED[kind])] += n
        elif kind in _ATTEMPTS:
            self.attempts[(workflow, step, _ATTEMPTS[kind])] += n
        elif kind in _COMPENSATIONS:
            self.compensations[(workflow, _COMPENSATIONS[kind])] += n
        elif kind == E.STEP_RETRY_SCHEDULED:
            # A failed compensation attempt to be retried keeps its step compensating.
            if status == S.COMPENSATING:
                self.compensations[(workflow, "retried")] += n
            else:
                self.attempts[(workflow, step, "retried")] += n

    def _baseline(self, before: datetime) -> None:
        """Everything stamped before ``before``, aggregated by the database."""
        bounds = {
            f"le_{i}": Count("id", filter=Q(latency_ms__lte=bound * 1000))
            for i, bound in enumerate(LATENCY_BUCKETS)
        }
        rows = (
            Event.objects.filter(type__in=COUNTED_TYPES, at__lt=before)
            .values("run__workflow__slug", "type", "step_id", "status")
            .annotate(n=Count("id"), timed=Count("latency_ms"), ms=Sum("latency_ms"), **bounds)
            .order_by()
        )
        found: list[dict[str, Any]] = list(rows)  # type: ignore[arg-type]
        for row in found:
            workflow, kind, step = row["run__workflow__slug"], row["type"], row["step_id"]
            self._count(workflow, kind, step, row["status"], row["n"])
            if kind in _TIMED_TYPES and row["timed"]:
                hist = self.latency[(workflow, step)]
                hist.count += row["timed"]
                hist.sum += (row["ms"] or 0.0) / 1000
                for i in range(len(LATENCY_BUCKETS)):
                    hist.buckets[i] += row[f"le_{i}"]

    def refresh(self) -> None:
        """Count what was committed since the last scrape."""
        with self._lock:
            now = timezone.now()
            if self._horizon is None:
                self._baseline(now - self.LAG)
                self._horizon = now - self.LAG
            rows = (
                Event.objects.filter(type__in=COUNTED_TYPES, at__gte=self._horizon)
                .values_list(
                    "id", "at", "run__workflow__slug", "type", "step_id", "status", "latency_ms"
                )
                .order_by()
            )
            for pk, at, workflow, kind, step, status, latency_ms in rows.iterator():
                if pk in self._seen:
                    continue
                self._seen[pk] = at
                self._count(workflow, kind, step, status, 1)
                if kind in _TIMED_TYPES and latency_ms is not None:
                    self.latency[(workflow, step)].observe(latency_ms / 1000)
            # What is stamped before the new horizon is not read again: forget it.
            self._horizon = max(self._horizon, now - self.LAG)
            self._seen = {pk: at for pk, at in self._seen.items() if at >= self._horizon}

    def describe(self) -> Iterator[Metric]:
        # Registering asks for the names; without this it would collect, i.e.
        # query the database at import time.
        yield CounterMetricFamily("sagaboard_runs_started", "", labels=["workflow"])
        yield CounterMetricFamily("sagaboard_runs_finished", "", labels=["workflow", "status"])
        yield CounterMetricFamily(
            "sagaboard_step_attempts", "", labels=["workflow", "step", "outcome"]
        )
        yield HistogramMetricFamily(
            "sagaboard_step_latency_seconds", "", labels=["workflow", "step"]
        )
        yield CounterMetricFamily("sagaboard_compensations", "", labels=["workflow", "outcome"])
        yield GaugeMetricFamily("sagaboard_runs_stuck", "", labels=["workflow"])

    def collect(self) -> Iterator[Metric]:
        self.refresh()
        yield _counter(
            "sagaboard_runs_started", "Runs started.", ["workflow"], self.started.items()
        )
        yield _counter(
            "sagaboard_runs_finished",
            "Runs that ended, by final status (completed, compensated, cancelled).",
            ["workflow", "status"],
            self.finished.items(),
        )
        yield _counter(
            "sagaboard_step_attempts",
            "Step attempts, by outcome: succeeded, retried (failed, tried again), failed "
            "(for good).",
            ["workflow", "step", "outcome"],
            self.attempts.items(),
        )
        latency = HistogramMetricFamily(
            "sagaboard_step_latency_seconds",
            "Time of the attempts that ended a step, succeeded or failed.",
            labels=["workflow", "step"],
        )
        for labels, hist in self.latency.items():
            cumulative = [
                (_le(b), float(n)) for b, n in zip(LATENCY_BUCKETS, hist.buckets, strict=True)
            ]
            cumulative.append(("+Inf", float(hist.count)))
            latency.add_metric(list(labels), cumulative, hist.sum)
        yield latency
        yield _counter(
            "sagaboard_compensations",
            "Compensation attempts, by outcome: compensated, retried, failed (for good).",
            ["workflow", "outcome"],
            self.compensations.items(),
        )
        tallies = dict(ReconcilerTally.objects.values_list("kind", "count"))
        passes = tallies.pop(ReconcilerTally.PASSES, 0)
        yield _counter(
            "sagaboard_reconciler_resends",
            "What the reconciler delivered or sent again, by kind (timers, timeouts, resent, "
            "deadlines).",
            ["kind"],
            (((kind,), n) for kind, n in tallies.items()),
        )
        yield _counter("sagaboard_reconciler_passes", "Reconciler passes made.", [], [((), passes)])
        last = last_reconcile()
        if last is not None:
            # Alert on time() - this: no pass for long means no worker or no beat.
            yield GaugeMetricFamily(
                "sagaboard_reconciler_last_pass_timestamp_seconds",
                "When the reconciler last made a pass (Unix time).",
                value=last.timestamp(),
            )
        stuck = GaugeMetricFamily(
            "sagaboard_runs_stuck", "Runs stuck now, waiting for an operator.", labels=["workflow"]
        )
        for slug, n in stuck_runs().items():
            stuck.add_metric([slug], n)
        yield stuck


def stuck_runs() -> dict[str, int]:
    """Stuck runs per workflow, with a zero for every other workflow (so alerts see a series)."""
    counts = dict.fromkeys(Workflow.objects.values_list("slug", flat=True), 0)
    rows = (
        Run.objects.filter(status=RunStatus.STUCK)
        .values_list("workflow__slug")
        .annotate(n=Count("id"))
    )
    counts.update(dict(rows.order_by()))
    return counts


def _counter(name: str, doc: str, labels: list[str], values: Any) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=labels)
    for label_values, n in sorted(values):
        family.add_metric(list(label_values), n)
    return family


def _le(bound: float) -> str:
    return str(float(bound))


collector = EventCollector()
REGISTRY.register(collector)


def _may_scrape(request: HttpRequest) -> bool:
    # Workflow and step names are labels: only staff (signed in, or with their API
    # token as "Authorization: Token <key>"), or a scraper holding the metrics token
    # (SAGABOARD_METRICS_TOKEN, sent as "Authorization: Bearer <token>").
    token = getattr(settings, "SAGABOARD_METRICS_TOKEN", "")
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header[len("Bearer ") :].encode(), token.encode())
    user: Any = getattr(request, "user", None)
    if header.startswith("Token "):
        try:
            user, _ = TokenAuthentication().authenticate_credentials(header[len("Token ") :])
        except AuthenticationFailed:
            return False
    return bool(user is not None and user.is_authenticated and user.is_active and user.is_staff)


def metrics_view(request: HttpRequest) -> HttpResponse:
    """The metrics in Prometheus' text format."""
    if not _may_scrape(request):
        response = HttpResponse("Staff or a metrics token only.\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)

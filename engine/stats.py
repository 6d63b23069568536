"""A workflow's figures for its overview page, aggregated by the database.

Everything is read for a window ending now (``WINDOWS`` minutes): runs started,
finished and stuck per minute; how the runs started in the window stand now
(the completed, compensated and stuck rates); the latency percentiles of each
step's attempts; and the runs stuck now, whenever they got stuck.

Runs per minute is the rate of the last few whole minutes (``RATE_MINUTES``), not
the window's count over its length: a window of an hour that saw traffic start ten
minutes ago would say a sixth of the rate it has now. The minute still going is left
out (it has only begun to fill), and so are the minutes before the workflow's first
run, which say nothing of its traffic.

Each step's attempts are every attempt of it the window saw begin, wait or end
(an attempt is a run's, an attempt number's and a map iteration's), retries
included; ``retried`` counts those that failed and were tried again
(``step.retry_scheduled``), and ``retry_rate`` is their share.
Latencies are those of the attempts that ended a step, succeeded or failed for
good (the events that carry one), as in ``/metrics``. On PostgreSQL the
percentiles are ``percentile_cont`` in SQL; elsewhere (the standalone SQLite
file) the window's latencies are read and ranked in Python.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Min, Q, QuerySet
from django.db.models.functions import TruncMinute
from django.utils import timezone

from designer.models import Workflow
from engine.models import Event, Run
from engine.selectors import with_stuck_step
from saga.vocabulary import OPEN, TERMINAL, EventType, RunStatus

R = RunStatus

#: Seconds the figures of a one-hour window are kept, longer windows longer in
#: proportion: every overview open in a process reads them again when its stream
#: says something changed, so the process computes them once for all. (Exact
#: percentiles of a day at one run a second, 150,000 attempts, take about 0.4 s.)
CACHE_S = 2.0
#: The windows the overview offers, in minutes; the first is the default.
WINDOWS = (60, 15, 360, 1440)
#: Per-minute series longer than this are drawn in coarser buckets.
MAX_POINTS = 120
PERCENTILES = (0.5, 0.95, 0.99)
#: Events whose latency is an attempt's (see the module docstring).
TIMED_EVENTS = (str(EventType.STEP_SUCCEEDED), str(EventType.STEP_FAILED))
#: Events of an attempt besides those that end it: it began (or began waiting), or it
#: failed and is tried again.
ATTEMPT_EVENTS = (
    str(EventType.STEP_STARTED),
    str(EventType.STEP_WAITING),
    str(EventType.STEP_RETRY_SCHEDULED),
)
STUCK_LIST = 50
#: Whole minutes that runs per minute is measured over.
RATE_MINUTES = 5


def window_minutes(value: Any) -> int:
    """The window asked for if it is one of ``WINDOWS``, else the default."""
    try:
        minutes = int(value)
    except (TypeError, ValueError):
        return WINDOWS[0]
    return minutes if minutes in WINDOWS else WINDOWS[0]


def workflow_stats_cached(workflow: Workflow, *, minutes: int) -> dict:
    """:func:`workflow_stats`, at most ``CACHE_S`` old."""
    key = f"sagaboard:stats:{workflow.pk}:{minutes}"
    found = cache.get(key)
    if found is None:
        found = workflow_stats(workflow, minutes=minutes)
        cache.set(key, found, CACHE_S * max(1, minutes / 60))
    return found


def workflow_stats(workflow: Workflow, *, minutes: int, now: datetime | None = None) -> dict:
    """The overview's figures for ``workflow`` over the last ``minutes``."""
    now = now or timezone.now()
    bucket = max(1, math.ceil(minutes / MAX_POINTS))
    # Whole buckets, the last one holding now.
    end = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    since = end - timedelta(minutes=minutes)
    runs = Run.objects.filter(workflow=workflow)
    standing = dict(
        runs.filter(created_at__gte=since).values_list("status").annotate(n=Count("id")).order_by()
    )
    started = sum(standing.values())
    names = {str(s.get("id")): str(s.get("name") or "") for s in _published_steps(workflow)}
    return {
        "workflow": workflow.slug,
        "window": {
            "minutes": minutes,
            "bucket_minutes": bucket,
            "since": since.isoformat(),
            "until": now.isoformat(),
            "choices": list(WINDOWS),
        },
        **_start_rate(runs, now),
        "started": started,
        "standing": {status: standing.get(status, 0) for status in RunStatus},
        "rates": {
            status: (round(standing.get(status, 0) / started, 4) if started else None)
            for status in (R.COMPLETED, R.COMPENSATED, R.STUCK)
        },
        "active": runs.filter(status__in=OPEN).count(),
        "stuck_now": runs.filter(status=R.STUCK).count(),
        "series": _series(runs, since, end, bucket),
        "steps": [
            {"step": step, "name": names.get(step, ""), **figures}
            for step, figures in _step_latencies(workflow, since, order=list(names)).items()
        ],
        "stuck_runs": _stuck_runs(runs),
    }


def _start_rate(runs: QuerySet[Run], now: datetime) -> dict[str, Any]:
    """Runs started per minute over the last ``RATE_MINUTES`` whole minutes, or over the
    whole minutes since the workflow's first run if that is younger; ``None`` until a
    whole minute has passed since it. ``rate_minutes`` says how many minutes it is of."""
    current = now.replace(second=0, microsecond=0)
    since = current - timedelta(minutes=RATE_MINUTES)
    seen = runs.aggregate(
        first=Min("created_at"),
        recent=Count("pk", filter=Q(created_at__gte=since, created_at__lt=current)),
    )
    first = seen["first"]
    if first is None or first < since:
        minutes = RATE_MINUTES  # no run ever (a rate of 0), or runs before the last minutes
    else:
        # Only the whole minutes since the first run's; 0 while that is the current one.
        minutes = int((current - first.replace(second=0, microsecond=0)) / timedelta(minutes=1))
    return {
        "runs_per_minute": round(seen["recent"] / minutes, 3) if minutes else None,
        "rate_minutes": minutes,
    }


def _published_steps(workflow: Workflow) -> list[dict[str, Any]]:
    version = workflow.published_version
    steps = (version.spec or {}).get("steps", []) if version else []
    return [s for s in steps if isinstance(s, dict)]


def _per_minute(rows: QuerySet, field: str) -> dict[tuple[datetime, str], int]:
    counted = (
        rows.annotate(minute=TruncMinute(field))
        .values_list("minute", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {(minute, status): n for minute, status, n in counted}


def _series(runs: QuerySet[Run], since: datetime, end: datetime, bucket: int) -> dict[str, list]:
    """Per bucket (its start, epoch seconds): runs started, finished by how, and got stuck."""
    started = _per_minute(runs.filter(created_at__gte=since), "created_at")
    # A run's updated_at is stamped with its every change: what finished or got stuck
    # in the window was updated in it, which the (workflow, updated_at) index finds.
    changed = runs.filter(updated_at__gte=since)
    finished = _per_minute(
        changed.filter(finished_at__gte=since, status__in=TERMINAL), "finished_at"
    )
    stuck = _per_minute(changed.filter(stuck_since__gte=since, status=R.STUCK), "stuck_since")
    size = timedelta(minutes=bucket)
    starts = []
    at = since
    while at < end:
        starts.append(at)
        at += size
    series: dict[str, list] = {
        "t": [int(t.timestamp()) for t in starts],
        "started": [0] * len(starts),
        **{str(status): [0] * len(starts) for status in (*sorted(TERMINAL), R.STUCK)},
    }

    def add(counts: dict[tuple[datetime, str], int], name: str | None) -> None:
        for (minute, status), n in counts.items():
            index = int((minute - since) / size)
            if 0 <= index < len(starts):
                series[name or status][index] += n

    add(started, "started")
    add(finished, None)
    add(stuck, R.STUCK)
    return series


def _step_latencies(
    workflow: Workflow, since: datetime, *, order: list[str]
) -> dict[str, dict[str, Any]]:
    """Per step: its attempts, those retried and those that failed it for good, and the
    latency percentiles in ms of those that ended it."""
    if connection.vendor == "postgresql":
        found = _latencies_sql(workflow, since)
    else:
        found = _latencies_python(workflow, since)
    rank = {step: i for i, step in enumerate(order)}
    return dict(sorted(found.items(), key=lambda item: (rank.get(item[0], len(rank)), item[0])))


def _latencies_sql(workflow: Workflow, since: datetime) -> dict[str, dict[str, Any]]:
    event, run = Event._meta.db_table, Run._meta.db_table
    # An event is stamped in the commit that stamps its run's updated_at: only the runs
    # changed in the window (by the (workflow, updated_at) index) have events in it.
    sql = f"""
        SELECT e.step_id,
               count(DISTINCT (e.run_id, e.attempt, e.data ->> 'index')),
               count(*) FILTER (WHERE e.type = %s),
               count(*) FILTER (WHERE e.type = %s),
               percentile_cont(%s::float8[]) WITHIN GROUP (ORDER BY e.latency_ms)
                   FILTER (WHERE e.type IN %s AND e.latency_ms IS NOT NULL)
          FROM {run} r JOIN {event} e ON e.run_id = r.id
         WHERE r.workflow_id = %s AND r.updated_at >= %s
               AND e.type IN %s AND e.at >= %s
         GROUP BY e.step_id
    """  # noqa: S608 - table names from the models, values as parameters
    params: list[Any] = [
        str(EventType.STEP_RETRY_SCHEDULED),
        str(EventType.STEP_FAILED),
        list(PERCENTILES),
        TIMED_EVENTS,
        workflow.pk,
        since,
        (*ATTEMPT_EVENTS, *TIMED_EVENTS),
        since,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return {step: _figures(n, retried, failed, values) for step, n, retried, failed, values in rows}


def _latencies_python(workflow: Workflow, since: datetime) -> dict[str, dict[str, Any]]:
    rows = Event.objects.filter(
        run__workflow=workflow,
        run__updated_at__gte=since,
        type__in=(*ATTEMPT_EVENTS, *TIMED_EVENTS),
        at__gte=since,
    ).values_list("step_id", "type", "latency_ms", "run_id", "attempt", "data")
    by_step: dict[str, list[float]] = defaultdict(list)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    attempts: dict[str, set[tuple[Any, ...]]] = defaultdict(set)
    for step, kind, latency, run_id, attempt, data in rows.iterator():
        counts[step][kind] += 1
        index = data.get("index") if isinstance(data, dict) else None
        attempts[step].add((run_id, attempt, None if index is None else str(index)))
        if kind in TIMED_EVENTS and latency is not None:
            by_step[step].append(float(latency))
    found = {}
    for step, seen in counts.items():
        values = sorted(by_step[step])
        found[step] = _figures(
            len(attempts[step]),
            seen[EventType.STEP_RETRY_SCHEDULED],
            seen[EventType.STEP_FAILED],
            [_percentile(values, p) for p in PERCENTILES] if values else None,
        )
    return found


def _percentile(ordered: list[float], p: float) -> float:
    """Linear interpolation between the closest ranks, as PostgreSQL's percentile_cont."""
    at = p * (len(ordered) - 1)
    low = math.floor(at)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


def _figures(
    attempts: int, retried: int, failed: int, values: list[float] | None
) -> dict[str, Any]:
    """A step's figures; its percentiles are None while none of its attempts has ended."""
    p50, p95, p99 = (round(v, 1) for v in values) if values else (None, None, None)
    return {
        "attempts": attempts,
        "retried": retried,
        "retry_rate": round(retried / attempts, 4) if attempts else None,
        "failed": failed,
        "p50_ms": p50,
        "p95_ms": p95,
        "p99_ms": p99,
    }


def _stuck_runs(runs: QuerySet[Run]) -> list[dict[str, Any]]:
    """The runs stuck now, the longest stuck first, with the step that holds each up."""
    stuck = runs.filter(status=R.STUCK, stuck_since__isnull=False).select_related("version")
    rows = with_stuck_step(stuck).order_by("stuck_since", "id")[:STUCK_LIST]
    return [
        {
            "id": str(run.pk),
            "version": run.version.number,
            "created_at": run.created_at.isoformat(),
            "stuck_since": run.stuck_since.isoformat() if run.stuck_since else None,
            # with_stuck_step's annotations
            "stuck_step": run.stuck_step,  # type: ignore[attr-defined]
            "stuck_error": run.stuck_error,  # type: ignore[attr-defined]
        }
        for run in rows
    ]

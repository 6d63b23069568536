"""The event log as clients read it: one shape for an event, whoever asks.

Every event of a run is served in the shape of DESIGN.md's WebSocket message,
by the REST API (``GET /api/runs/{id}/events/``), the run page's first paint
and the live streams alike, so a client handles one kind of object. The
reads the streams replay from are here too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.db.models import Q, QuerySet
from django.utils import timezone

from engine.groups import PROGRESS_TYPE
from engine.models import Event, Run, StepRun
from saga.vocabulary import OPEN

__all__ = [
    "ITERATION",
    "Changed",
    "covering",
    "event_message",
    "events_after",
    "events_between",
    "events_lacking",
    "is_iteration",
    "map_progress",
    "run_events",
    "run_progress",
    "runs_changed",
    "runs_snapshot",
    "stream_messages",
]

#: The events of a map's iterations in the log: they carry their ``index``. An operator's
#: act on one iteration carries it too, but is no iteration event: it is an act (rare, and
#: its status is the run's, which a board follows).
ITERATION = Q(data__has_key="index") & ~Q(type__startswith="act.")


def is_iteration(event: Event) -> bool:
    """Whether ``event`` is one of a map's iteration events (:data:`ITERATION`)."""
    return "index" in event.data and not event.type.startswith("act.")


def event_message(event: Event, workflow: str, run_status: str | None = None) -> dict[str, Any]:
    """An event as DESIGN.md's WebSocket message.

    ``run_status``: the run's status once the event's transaction committed, sent
    with events as they happen (null in a replay from the log). A step event can
    move its run between running and waiting with no run event of its own; with
    this a board keeps its rows right without reading the list again.
    """
    return {
        "type": "event",
        "run": str(event.run_id),
        "workflow": workflow,
        "seq": event.seq,
        "event": event.type,
        "step": event.step_id or None,
        "status": event.status,
        "attempt": event.attempt,
        "at": event.at.isoformat(),
        "latency_ms": event.latency_ms,
        "error": event.error or None,
        "actor": event.actor or None,
        "data": event.data or {},
        "run_status": run_status,
    }


def stream_messages(
    events: Iterable[Event],
    workflow: str,
    run_status: str,
    progress: Callable[[str], dict[str, Any] | None],
) -> list[dict[str, Any]]:
    """One commit's events as the streams publish them, in ``seq`` order: each event as
    :func:`event_message`, except iteration events, each unbroken stretch of which becomes
    one ``progress`` message for the run's stream alone::

        {"type": "progress", "run", "workflow", "from": <first seq covered>,
         "seq": <last seq covered>, "maps": {<map step id>: <its progress>}}

    ``progress(step)``: a map's progress once the commit is done (``total``, ``started``,
    ``counts``: as the run's ``steps[].iterations``). Every seq from ``from`` to ``seq``
    is an iteration event, so a stream's ``seq`` cursor moves past them without reading
    the log. A map of 10,000 items logs some 30,000 iteration events; none is sent.
    """
    out: list[dict[str, Any]] = []
    stretch: dict[str, Any] | None = None
    for event in events:
        if is_iteration(event):
            if stretch is None:
                stretch = {
                    "type": PROGRESS_TYPE,
                    "run": str(event.run_id),
                    "workflow": workflow,
                    "from": event.seq,
                    "seq": event.seq,
                    "maps": {},
                }
                out.append(stretch)
            stretch["seq"] = event.seq
            stretch["maps"][event.step_id] = None
        else:
            stretch = None
            out.append(event_message(event, workflow, run_status))
    for message in out:
        if message["type"] == PROGRESS_TYPE:
            maps = message["maps"]
            for step in maps:
                maps[step] = progress(step)
    return out


def covering(
    run_id: str, workflow: str, after: int, last: int, events: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``events`` (the run's with ``after < seq <= last``, iteration events left out, in
    order) with a ``progress`` message holding no maps in each gap between them, and
    after the last up to ``last``: a stream's cursor then moves over the iteration events
    they leave out without asking the log about them again."""
    out: list[dict[str, Any]] = []
    reached = after
    for event in [*events, None]:
        upto = last if event is None else event["seq"] - 1
        if upto > reached:
            out.append(
                {
                    "type": PROGRESS_TYPE,
                    "run": run_id,
                    "workflow": workflow,
                    "from": reached + 1,
                    "seq": upto,
                    "maps": {},
                }
            )
        if event is not None:
            out.append(event)
            reached = event["seq"]
    return out


def events_after(
    run_id: str, workflow: str, after: int, limit: int, *, iterations: bool = True
) -> list[dict[str, Any]]:
    """Up to ``limit`` events of the run after ``seq`` ``after``, as stream messages;
    without ``iterations``, not those of a map's iterations (a map of 10,000 items logs
    some 30,000; its step's own events and its progress say what a page needs)."""
    rows = Event.objects.filter(run_id=run_id, seq__gt=after)
    if not iterations:
        rows = rows.exclude(ITERATION)
    return [event_message(row, workflow) for row in rows.order_by("seq")[:limit]]


def events_between(
    run_id: str,
    workflow: str,
    after: int,
    before: int,
    *,
    since: datetime | None = None,
    iterations: bool = True,
) -> list[dict[str, Any]]:
    """The run's events with ``after < seq < before`` (logged at or after ``since``, when
    given; without ``iterations``, not those of a map's iterations), as stream messages."""
    rows = Event.objects.filter(run_id=run_id, seq__gt=after, seq__lt=before).order_by("seq")
    if since is not None:
        rows = rows.filter(at__gte=since)
    if not iterations:
        rows = rows.exclude(ITERATION)
    return [event_message(row, workflow) for row in rows]


def map_progress(core: dict[str, Any] | None) -> dict[str, Any] | None:
    """A map step row's progress as the API and the streams give it (``core["fan"]``:
    ``total``, ``started``, ``counts``); None until its items are known."""
    found = (core or {}).get("fan")
    return dict(found) if found else None


def run_progress(run_id: str) -> tuple[int, dict[str, Any]]:
    """The run's last seq, and then each of its maps' progress (read after it, so at least
    as new): what a stream sends after replaying the log without the iteration events."""
    last = Run.objects.filter(pk=run_id).values_list("last_seq", flat=True).first() or 0
    rows = StepRun.objects.filter(run_id=run_id, type="map").values_list("step_id", "core")
    return last, {step: map_progress(core) for step, core in rows}


def runs_snapshot(
    runs: QuerySet[Run], *, limit: int, recent: timedelta
) -> tuple[list[dict[str, Any]], bool]:
    """The latest state of ``runs`` that are active or changed within ``recent``, newest
    first, at most ``limit``; and whether there were more."""
    fields = ("id", "workflow__slug", "status", "last_seq", "updated_at")
    # Two bounded index scans rather than one OR that could walk every run.
    active = runs.filter(status__in=OPEN).order_by("-updated_at")
    changed = runs.filter(updated_at__gte=timezone.now() - recent).order_by("-updated_at")
    rows = {row[0]: row for row in active.values_list(*fields)[: limit + 1]}
    rows.update((row[0], row) for row in changed.values_list(*fields)[: limit + 1])
    newest = sorted(rows.values(), key=lambda row: row[4], reverse=True)
    return [
        {
            "run": str(run_id),
            "workflow": slug,
            "status": status,
            "last_seq": last_seq,
            "updated_at": updated.isoformat(),
        }
        for run_id, slug, status, last_seq, updated in newest[:limit]
    ], len(newest) > limit


def run_events(
    run: Run, *, after: int = 0, limit: int = 1000, iterations: bool = True
) -> list[dict[str, Any]]:
    """Up to ``limit`` events of ``run`` after ``seq`` ``after``, in order (without
    ``iterations``, not those of a map's iterations)."""
    return events_after(str(run.pk), run.workflow.slug, after, limit, iterations=iterations)


class Changed(NamedTuple):
    """A run as the sweep sees it."""

    run: str
    workflow: str
    last_seq: int
    at: datetime


def runs_changed(since: datetime, until: datetime, limit: int) -> list[Changed]:
    """Runs last changed in ``[since, until)``, oldest change first."""
    rows = (
        Run.objects.filter(updated_at__gte=since, updated_at__lt=until)
        .order_by("updated_at")
        .values_list("id", "workflow__slug", "last_seq", "updated_at")[:limit]
    )
    return [Changed(str(run), slug, last_seq, at) for run, slug, last_seq, at in rows]


#: Runs per query when the sweep reads the events its subscribers lack.
SWEEP_CHUNK = 200


def events_lacking(wanted: dict[str, tuple[str, int, int]]) -> dict[str, list[dict[str, Any]]]:
    """For each run, ``(workflow, after, last)``: its events with ``after < seq <= last``, as
    stream messages, the iteration events left out and their seqs covered as
    :func:`covering` says. A few queries of many runs each, not a query per run."""
    found: dict[str, list[dict[str, Any]]] = {run: [] for run in wanted}
    runs = list(wanted)
    for start in range(0, len(runs), SWEEP_CHUNK):
        condition = Q()
        for run in runs[start : start + SWEEP_CHUNK]:
            _, after, last = wanted[run]
            condition |= Q(run_id=run, seq__gt=after, seq__lte=last)
        rows = Event.objects.filter(condition).exclude(ITERATION).order_by("run_id", "seq")
        for row in rows:
            run = str(row.run_id)
            found[run].append(event_message(row, wanted[run][0]))
    return {
        run: covering(run, wanted[run][0], wanted[run][1], wanted[run][2], events)
        for run, events in found.items()
    }

"""The reconciler: what is due, delivered; what was lost, sent again.

Queries only find candidate runs, each on its own index; for each run the
kernel's :func:`saga.due_happenings` says what is due (timers, attempts past
their deadline, lost messages, the run's progress deadline), and every
happening goes through the same fenced path as any other, so a repeat
changes nothing. Celery beat runs a pass every couple of seconds; a
single-process install also runs one when it starts, taking back what the
process before it held.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

import saga
from engine.children import tell_waiting_parents
from engine.metrics import observe_reconcile
from engine.models import Iteration, Run, StepRun
from engine.services import run_apply
from engine.store import read_run, run_state
from saga.due import LOST_AFTER_S
from saga.vocabulary import DEADLINED, MOVING, TERMINAL, TIMED, StepStatus

log = logging.getLogger("sagaboard.engine")

#: At most this many runs of each kind of candidate in one pass.
BATCH = 500

#: The tally each kind of happening counts under (/metrics).
_KINDS: dict[type, str] = {
    saga.TimerFired: "timers",
    saga.StepTimedOut: "timeouts",
    saga.CompensationTimedOut: "timeouts",
    saga.AttemptLost: "resent",
    saga.RunDeadlinePassed: "deadlines",
}


def reconcile_pass(*, held_before: datetime | None = None) -> dict[str, int]:
    """One pass: deliver what is due to every candidate run; the counts, by kind.

    ``held_before``: claims made before it belong to workers known to be gone
    (see :func:`saga.due_happenings`).
    """
    now = timezone.now()
    counts = dict.fromkeys(("timers", "timeouts", "resent", "deadlines"), 0)
    held = held_before.timestamp() if held_before else None
    for run_id in candidates(now, held_before=held_before):
        try:
            run, rows = read_run(run_id)
        except Run.DoesNotExist:
            continue
        due = saga.due_happenings(run_state(run, rows), now.timestamp(), held_before=held)
        for happening in due:
            counts[_KINDS[type(happening)]] += 1
            _deliver(run_id, happening)
    told = tell_waiting_parents()
    if told:
        log.info("reconciler: told %d parents that their child run had ended", told)
    if any(counts.values()):
        log.info("reconciler: %s", counts)
    observe_reconcile(counts, now)
    return counts


def candidates(now: datetime, *, held_before: datetime | None = None) -> list[Any]:
    """Runs that may have something due: a timer or a deadline passed, an attempt whose
    message may be lost (or whose worker is gone), a progress deadline."""
    open_runs = ~Q(run__status__in=TERMINAL)
    in_flight = Q(status=StepStatus.RUNNING) | Q(
        status=StepStatus.COMPENSATING, next_attempt_at__isnull=True
    )
    if held_before is None:
        lost = Q(claimed_at__isnull=True, updated_at__lte=now - timedelta(seconds=LOST_AFTER_S))
    else:
        lost = Q(claimed_at__isnull=True) | Q(claimed_at__lt=held_before)
    queries = []
    # A map's own row is never sent to a worker: its iterations are, each from its own row.
    for rows in (StepRun.objects.exclude(type="map"), Iteration.objects.all()):
        queries += [
            rows.filter(open_runs, status__in=TIMED, next_attempt_at__lte=now),
            rows.filter(
                open_runs, status__in=DEADLINED, deadline_at__lte=now, next_attempt_at__isnull=True
            ),
            rows.filter(open_runs, in_flight, lost),
        ]
    found: dict[Any, None] = {}
    for query in queries:
        found.update(dict.fromkeys(query.values_list("run_id", flat=True)[:BATCH]))
    stalled = Run.objects.filter(status__in=MOVING, progress_deadline_at__lte=now)
    found.update(dict.fromkeys(stalled.values_list("id", flat=True)[:BATCH]))
    return list(found)


def _deliver(run_id: Any, happening: saga.Happening) -> None:
    try:
        run_apply(run_id, happening)
    except Exception:
        log.exception("reconciler could not deliver %r to run %s", happening, run_id)

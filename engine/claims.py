"""Claims and tokens: a worker's claim of an attempt (the attempt number is the fencing
token), its release, and the one-time tokens of callback steps. Written outside
Django's ORM where it is the hot path, as :mod:`engine.store` is."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db import models

from engine.models import Run, StepRun
from engine.sql import convert, db, pk_value, quote, table
from saga import StepStatus

__all__ = [
    "claim_step",
    "release_claim",
    "set_callback_token",
    "spend_callback_token",
    "step_for_token",
]


def claim_step(
    run_id: Any,
    step_id: str,
    attempt: int,
    compensation: bool,
    *,
    by: str,
    fields: tuple[str, ...],
) -> tuple[Any, ...] | None:
    """Claim a step's attempt for worker ``by``: the run's ``fields`` when claimed, None when
    the attempt is not there to claim (already claimed, or the step moved on).

    The attempt number is the fencing token: a claim for an earlier attempt matches nothing.
    The claim and the read of the run are one statement on PostgreSQL.
    """
    conn = db()
    now = to_dt_prep(datetime.now(tz=UTC))
    pk = pk_value(Run, run_id)
    if compensation:
        where = f"s.status = '{StepStatus.COMPENSATING}' AND s.compensation_attempt = %s"
        where += " AND s.next_attempt_at IS NULL"
    else:
        where = f"s.status = '{StepStatus.RUNNING}' AND s.attempt = %s"
    params = [now, by, pk, step_id, attempt]
    claim = (
        f"UPDATE {table(StepRun)} AS s SET claimed_at = %s, claimed_by = %s "
        f"WHERE s.run_id = %s AND s.step_id = %s AND s.claimed_at IS NULL AND {where} "
        # A map is never performed itself: its iterations are, each claimed on its own row.
        "AND s.type <> 'map'"
    )
    run_fields = tuple(f for f in Run._meta.concrete_fields if f.attname in fields)
    run_fields = tuple(sorted(run_fields, key=lambda f: fields.index(f.attname)))
    cols = ", ".join(f"r.{quote(str(f.column))}" for f in run_fields)
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql":
            cursor.execute(
                f"WITH claimed AS ({claim} RETURNING s.run_id) "
                f"SELECT {cols} FROM {table(Run)} r JOIN claimed c ON c.run_id = r.id",
                params,
            )
            found = cursor.fetchone()
        else:
            cursor.execute(claim, params)
            if cursor.rowcount != 1:
                return None
            cursor.execute(f"SELECT {cols} FROM {table(Run)} r WHERE r.id = %s", [pk])
            found = cursor.fetchone()
    if found is None:
        return None
    return tuple(convert(run_fields, found))


def to_dt_prep(moment: datetime) -> Any:
    return models.DateTimeField().get_db_prep_save(moment, db())


def release_claim(run_id: Any, step_id: str, *, by: str) -> None:
    """Give up worker ``by``'s claim on a step's attempt, for another worker to take."""
    StepRun.objects.filter(run_id=run_id, step_id=step_id, claimed_by=by).update(
        claimed_at=None, claimed_by=""
    )


def set_callback_token(run_id: Any, step_id: str, attempt: int, token: str) -> None:
    """Hand the attempt its one-time callback token (the attempt fences it)."""
    StepRun.objects.filter(run_id=run_id, step_id=step_id, attempt=attempt).update(
        callback_token=token
    )


def step_for_token(token: str) -> StepRun | None:
    """The step a callback token was handed to, with its run."""
    return StepRun.objects.filter(callback_token=token).select_related("run").first()


def spend_callback_token(row: StepRun, token: str) -> None:
    """A callback token completes its attempt once."""
    StepRun.objects.filter(pk=row.pk, callback_token=token).update(callback_token=None)

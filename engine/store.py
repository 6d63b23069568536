"""Between the pure core and the database: a run's rows as a RunState, and back.

The step rows hold the core's StepState (with columns for what the dashboards
and the reconciler query); the run row holds the run-level facts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from django.db import connection

from engine.core import (
    Definition,
    Emit,
    RunState,
    RunStatus,
    StepState,
    StepStatus,
    definition_from_spec,
)
from engine.models import Event, Run, StepRun


def to_dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=UTC)


def to_ts(dt: datetime | None) -> float | None:
    return None if dt is None else dt.timestamp()


@lru_cache(maxsize=512)
def definition_for_version(version_id: int) -> Definition:
    """The definition of a version, built once: runs only use published versions, which never
    change (a draft's spec changes, but no run uses a draft)."""
    from designer.models import Version

    return definition_from_spec(Version.objects.values_list("spec", flat=True).get(pk=version_id))


def definition_for(run: Run) -> Definition:
    return definition_for_version(run.version_id)


@lru_cache(maxsize=512)
def workflow_slug(workflow_id: int) -> str:
    from designer.models import Workflow

    return Workflow.objects.values_list("slug", flat=True).get(pk=workflow_id)


def step_state(row: StepRun) -> StepState:
    core = row.core or {}
    return StepState(
        status=StepStatus(row.status),
        attempt=row.attempt,
        round_start=core.get("round_start", 1),
        compensation_attempt=row.compensation_attempt,
        compensation_round_start=core.get("compensation_round_start", 1),
        deadline_at=to_ts(row.deadline_at),
        due_at=to_ts(row.next_attempt_at),
        started_at=to_ts(row.started_at),
        finished_at=to_ts(row.finished_at),
        output=row.output,
        error=row.error or None,
    )


def run_state(run: Run, rows: Mapping[str, StepRun]) -> RunState:
    definition = definition_for(run)
    return RunState(
        definition=definition,
        status=RunStatus(run.status),
        steps=MappingProxyType({sid: step_state(rows[sid]) for sid in definition.order}),
        compensating=bool(run.core.get("compensating")),
        stalled=bool(run.core.get("stalled")),
    )


def new_rows(
    run: Run, definition: Definition, spec_steps: Iterable[Mapping[str, Any]]
) -> list[StepRun]:
    positions = {step["id"]: index for index, step in enumerate(spec_steps)}
    return [
        StepRun(
            run=run,
            step_id=sid,
            position=positions.get(sid, 0),
            type=str(definition.step(sid).type),
        )
        for sid in definition.order
    ]


STEP_FIELDS = [
    "status",
    "attempt",
    "compensation_attempt",
    "deadline_at",
    "next_attempt_at",
    "started_at",
    "finished_at",
    "output",
    "error",
    "core",
    "latency_ms",
    "claimed_at",
    "claimed_by",
    "callback_token",
    "updated_at",
]


def save_steps(
    rows: Mapping[str, StepRun],
    old: RunState,
    new: RunState,
    *,
    now: datetime,
    claimed: str | None = None,
    claimed_by: str = "",
) -> list[str]:
    """Write the steps whose state changed, in one statement; returns their ids.

    ``claimed`` names a step whose new attempt the caller claims in this same
    transaction (to run it at once, without a trip through the broker).
    """
    changed = []
    for sid, state in new.steps.items():
        before = old.steps[sid]
        if state == before:
            continue
        row = rows[sid]
        row.status = str(state.status)
        row.attempt = state.attempt
        row.compensation_attempt = state.compensation_attempt
        row.deadline_at = to_dt(state.deadline_at)
        row.next_attempt_at = to_dt(state.due_at)
        row.started_at = to_dt(state.started_at)
        row.finished_at = to_dt(state.finished_at)
        row.output = state.output
        row.error = state.error or ""
        row.core = {
            "round_start": state.round_start,
            "compensation_round_start": state.compensation_round_start,
        }
        if state.started_at is not None and state.finished_at is not None:
            row.latency_ms = round((state.finished_at - state.started_at) * 1000, 1)
        else:
            row.latency_ms = None
        new_attempt = (
            state.attempt != before.attempt
            or state.compensation_attempt != before.compensation_attempt
            or (state.status != before.status and state.status is StepStatus.COMPENSATING)
        )
        if new_attempt:
            # A new attempt is free for the next worker to claim...
            row.claimed_at = None
            row.claimed_by = ""
            # ...and a token handed out for an earlier attempt must not complete it.
            row.callback_token = None
        if sid == claimed:
            row.claimed_at = now
            row.claimed_by = claimed_by
        row.updated_at = now
        changed.append(sid)
    for sid in changed:
        _update_row(rows[sid])
    return changed


def _update_row(row: StepRun) -> None:
    """One plain UPDATE of a step row's state columns.

    QuerySet.bulk_update builds a CASE expression per field and row, which costs
    tens of milliseconds of CPU on this hot path; this costs a fraction of one.
    """
    fields = _step_fields()
    sql, columns = _update_sql()
    params = [f.get_db_prep_save(getattr(row, f.attname), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, row.pk])


@lru_cache(maxsize=1)
def _step_fields() -> list[Any]:
    return [StepRun._meta.get_field(name) for name in STEP_FIELDS]


@lru_cache(maxsize=4)
def _update_sql_for(vendor: str) -> tuple[str, list[str]]:
    quote = connection.ops.quote_name
    columns = [f.column for f in _step_fields()]
    assignments = ", ".join(f"{quote(c)} = %s" for c in columns)
    return f"UPDATE {quote(StepRun._meta.db_table)} SET {assignments} WHERE id = %s", columns


def _update_sql() -> tuple[str, list[str]]:
    return _update_sql_for(connection.vendor)


def append_events(run: Run, events: Iterable[Emit], *, now: datetime) -> list[Event]:
    """Append ``events`` to the run's log, numbered after its last one."""
    rows = []
    for emit in events:
        run.last_seq += 1
        data = dict(emit.data)
        latency = data.pop("latency_ms", None)
        actor = data.pop("actor", "") or ""
        rows.append(
            Event(
                run=run,
                seq=run.last_seq,
                type=str(emit.event_type),
                step_id=emit.step or "",
                status=emit.status,
                attempt=emit.attempt,
                at=now,
                latency_ms=latency,
                error=emit.error or "",
                actor=actor,
                data=_jsonable(data),
            )
        )
    return Event.objects.bulk_create(rows)


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, float) and key in ("at", "until", "deadline_at"):
            out[key] = to_dt(value).isoformat()  # type: ignore[union-attr]
        else:
            out[key] = value
    return out

"""Between the pure core and the database: a run's rows as a RunState, and back.

The step rows hold the core's StepState (with columns for what the dashboards
and the reconciler query); the run row holds the run-level facts.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, models
from django.utils.dateparse import parse_datetime

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


def insert_steps(rows: list[StepRun]) -> None:
    """INSERT a new run's step rows in one statement and set their ids.

    What ``bulk_create`` does, without compiling the statement anew for every
    run (about a millisecond of CPU here, inside every saga's latency).
    """
    conn = _db()
    if not conn.features.can_return_rows_from_bulk_insert:
        StepRun.objects.bulk_create(rows)
        return
    fields = _step_insert_fields()
    params = [f.get_db_prep_save(f.pre_save(row, True), conn) for row in rows for f in fields]
    with conn.cursor() as cursor:
        cursor.execute(
            f"{_insert_sql(StepRun, fields, len(rows))} "
            f"RETURNING {conn.ops.quote_name(StepRun._meta.pk.column)}",
            params,
        )
        ids = [found[0] for found in cursor.fetchall()]
    # In the order of VALUES, as bulk_create relies on too.
    for row, pk in zip(rows, ids, strict=True):
        row.pk = pk
        row._state.adding = False
        row._state.db = conn.alias


@lru_cache(maxsize=1)
def _step_insert_fields() -> tuple[Any, ...]:
    return tuple(f for f in StepRun._meta.concrete_fields if f is not StepRun._meta.pk)


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
    """Bring the changed step rows up to the new state; returns their ids (to write).

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
    return changed


# The hot path in plain SQL. Each step of a saga reads its run and steps and
# writes them back with its events; through the ORM that was about 8 ms of CPU
# per step on this 2-core machine (query compilation, model instances), in SQL
# it is a fraction of that, and the writes go to PostgreSQL in one round trip.

#: The run columns a change needs; the rest load on access.
RUN_COLUMNS = (
    "id",
    "workflow_id",
    "version_id",
    "status",
    "core",
    "last_seq",
    "created_at",
    "finished_at",
    "stuck_since",
    "progress_deadline_at",
)


@lru_cache(maxsize=8)
def _columns(model: type[models.Model], names: tuple[str, ...] | None) -> tuple[Any, ...]:
    fields = model._meta.concrete_fields
    if names is None:
        return tuple(fields)
    # In the model's order: Model.from_db fills the fields named in that order.
    return tuple(f for f in fields if f.attname in names)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _datetime(value: Any) -> Any:
    # SQLite holds UTC without a zone, as text or as a naive datetime.
    parsed = parse_datetime(value) if isinstance(value, str) else value
    return parsed.replace(tzinfo=UTC) if parsed and parsed.tzinfo is None else parsed


def _uuid(value: Any) -> Any:
    return uuid.UUID(value) if isinstance(value, str) else value


def _converter(field: Any, vendor: str) -> Any:
    """What turns a column's raw value into what the ORM would give (None: nothing)."""
    if isinstance(field, models.JSONField):
        return _json  # the backends hand jsonb over as text; the field decodes it
    if vendor != "postgresql":  # psycopg2 gives datetimes and UUIDs already
        if isinstance(field, models.DateTimeField):
            return _datetime
        if isinstance(field, models.UUIDField):
            return _uuid
    return None


@lru_cache(maxsize=16)
def _converters(fields: tuple[Any, ...], vendor: str) -> tuple[Any, ...]:
    return tuple(_converter(f, vendor) for f in fields)


def _convert(converters: tuple[Any, ...], values: Iterable[Any]) -> list[Any]:
    return [
        v if v is None or convert is None else convert(v)
        for convert, v in zip(converters, values, strict=True)
    ]


def _db() -> Any:
    """The default database's connection itself: ``django.db.connection`` is a proxy that
    looks it up again on every attribute, which cost the hot path most of a millisecond."""
    return connections[DEFAULT_DB_ALIAS]


@lru_cache(maxsize=4)
def _lock_sql(vendor: str) -> str:
    """Lock the run's row; then read it with its step rows, one row per step.

    Two statements sent together (one round trip on PostgreSQL). They must stay
    two: under READ COMMITTED each statement reads a snapshot taken when it
    starts, so the read that follows the lock sees every change committed by
    whoever held the lock before. A single SELECT ... JOIN ... FOR UPDATE OF r
    waits for the lock but then reads the step rows as they were before the
    wait: two parallel steps finishing together would each miss the other.
    """
    conn = _db()
    quote = conn.ops.quote_name
    run_table, step_table = quote(Run._meta.db_table), quote(StepRun._meta.db_table)
    columns = [f"r.{quote(f.column)}" for f in _run_fields()]
    columns += [f"s.{quote(f.column)}" for f in _step_all_fields()]
    read = (
        f"SELECT {', '.join(columns)} FROM {run_table} r "
        f"LEFT JOIN {step_table} s ON s.{quote('run_id')} = r.{quote('id')} "
        f"WHERE r.{quote('id')} = %s"
    )
    if not conn.features.has_select_for_update:
        return read  # SQLite: one writer at a time, the transaction is the lock
    return f"SELECT 1 FROM {run_table} WHERE {quote('id')} = %s FOR UPDATE;\n{read}"


def lock_run(run_id: Any) -> tuple[Run, dict[str, StepRun]]:
    """The run, its row locked until the transaction ends, and its step rows by step id."""
    conn = _db()
    run_fields = _run_fields()
    step_fields = _step_all_fields()
    pk = Run._meta.pk.get_db_prep_value(Run._meta.pk.to_python(run_id), conn)
    sql = _lock_sql(conn.vendor)
    with conn.cursor() as cursor:
        cursor.execute(sql, [pk] * sql.count("%s"))
        found = cursor.fetchall()
    if not found:
        raise Run.DoesNotExist(f"no run {run_id}")
    split = len(run_fields)
    alias = conn.alias
    run_values = _convert(_converters(run_fields, conn.vendor), found[0][:split])
    run = Run.from_db(alias, [f.attname for f in run_fields], run_values)
    names = [f.attname for f in step_fields]
    converters = _converters(step_fields, conn.vendor)
    rows = {}
    for values in found:
        if values[split] is None:  # a run without steps: the join's empty side
            continue
        row = StepRun.from_db(alias, names, _convert(converters, values[split:]))
        rows[row.step_id] = row
    return run, rows


def _run_fields() -> tuple[Any, ...]:
    return _columns(Run, RUN_COLUMNS)


def _step_all_fields() -> tuple[Any, ...]:
    return _columns(StepRun, None)


class Writes:
    """Statements of one change, sent together: in one round trip on PostgreSQL."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, list[Any]]] = []

    def add(self, sql: str, params: list[Any]) -> None:
        self.statements.append((sql, params))

    def execute(self) -> None:
        if not self.statements:
            return
        conn = _db()
        with conn.cursor() as cursor:
            if conn.vendor == "postgresql":
                sql = ";\n".join(statement for statement, _ in self.statements)
                cursor.execute(sql, [p for _, params in self.statements for p in params])
            else:  # SQLite runs one statement per call
                for statement, params in self.statements:
                    cursor.execute(statement, params)
        self.statements.clear()


def update_steps(writes: Writes, rows: Mapping[str, StepRun], changed: Iterable[str]) -> None:
    """One plain UPDATE of each changed step row's state columns.

    QuerySet.bulk_update builds a CASE expression per field and row, which costs
    tens of milliseconds of CPU on this hot path; this costs a fraction of one.
    """
    conn = _db()
    fields = _step_fields()
    sql = _update_sql_for(conn.vendor)
    for sid in changed:
        row = rows[sid]
        params = [f.get_db_prep_save(getattr(row, f.attname), conn) for f in fields]
        writes.add(sql, [*params, row.pk])


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
    conn = _db()
    now = models.DateTimeField().get_db_prep_save(datetime.now(tz=UTC), conn)
    pk = Run._meta.pk.get_db_prep_value(Run._meta.pk.to_python(run_id), conn)
    if compensation:
        where = "s.status = 'compensating' AND s.compensation_attempt = %s"
        where += " AND s.next_attempt_at IS NULL"
    else:
        where = "s.status = 'running' AND s.attempt = %s"
    params = [now, by, pk, step_id, attempt]
    quote = conn.ops.quote_name
    steps, runs = quote(StepRun._meta.db_table), quote(Run._meta.db_table)
    claim = (
        f"UPDATE {steps} AS s SET claimed_at = %s, claimed_by = %s "
        f"WHERE s.run_id = %s AND s.step_id = %s AND s.claimed_at IS NULL AND {where}"
    )
    run_fields = [Run._meta.get_field(name) for name in fields]
    columns = ", ".join(f"r.{quote(f.column)}" for f in run_fields)
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql":
            cursor.execute(
                f"WITH claimed AS ({claim} RETURNING s.run_id) "
                f"SELECT {columns} FROM {runs} r JOIN claimed c ON c.run_id = r.id",
                params,
            )
            found = cursor.fetchone()
        else:
            cursor.execute(claim, params)
            if cursor.rowcount != 1:
                return None
            cursor.execute(f"SELECT {columns} FROM {runs} r WHERE r.id = %s", [pk])
            found = cursor.fetchone()
    if found is None:
        return None
    return tuple(_convert(_converters(tuple(run_fields), conn.vendor), found))


@lru_cache(maxsize=1)
def _step_fields() -> list[Any]:
    return [StepRun._meta.get_field(name) for name in STEP_FIELDS]


@lru_cache(maxsize=4)
def _update_sql_for(vendor: str) -> str:
    quote = _db().ops.quote_name
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in _step_fields())
    return f"UPDATE {quote(StepRun._meta.db_table)} SET {assignments} WHERE id = %s"


RUN_STATE_COLUMNS = (
    "status",
    "core",
    "finished_at",
    "stuck_since",
    "last_seq",
    "updated_at",
    "progress_deadline_at",
)


def update_run(writes: Writes, run: Run) -> None:
    """The run row's state columns, as ``run`` holds them."""
    conn = _db()
    fields = _run_state_fields()
    params = [f.get_db_prep_save(getattr(run, f.attname), conn) for f in fields]
    pk = Run._meta.pk.get_db_prep_value(run.pk, conn)
    writes.add(_run_update_sql(conn.vendor), [*params, pk])


@lru_cache(maxsize=1)
def _run_state_fields() -> tuple[Any, ...]:
    return tuple(Run._meta.get_field(name) for name in RUN_STATE_COLUMNS)


@lru_cache(maxsize=4)
def _run_update_sql(vendor: str) -> str:
    quote = _db().ops.quote_name
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in _run_state_fields())
    return f"UPDATE {quote(Run._meta.db_table)} SET {assignments} WHERE id = %s"


EVENT_COLUMNS = (
    "run_id",
    "seq",
    "type",
    "step_id",
    "status",
    "attempt",
    "at",
    "latency_ms",
    "error",
    "actor",
    "data",
)


def append_events(
    run: Run, events: Iterable[Emit], *, now: datetime, writes: Writes | None = None
) -> list[Event]:
    """Append ``events`` to the run's log, numbered after its last one.

    With ``writes``, the INSERT joins them; otherwise it is executed at once.
    """
    rows = []
    for emit in events:
        run.last_seq += 1
        data = dict(emit.data)
        latency = data.pop("latency_ms", None)
        actor = data.pop("actor", "") or ""
        rows.append(
            Event(
                run_id=run.pk,
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
    if not rows:
        return rows
    batch = writes if writes is not None else Writes()
    conn = _db()
    fields = _event_fields()
    params = [f.get_db_prep_save(getattr(row, f.attname), conn) for row in rows for f in fields]
    batch.add(_insert_sql(Event, fields, len(rows)), params)
    if writes is None:
        batch.execute()
    return rows


@lru_cache(maxsize=1)
def _event_fields() -> tuple[Any, ...]:
    return tuple(Event._meta.get_field("run" if n == "run_id" else n) for n in EVENT_COLUMNS)


@lru_cache(maxsize=64)
def _insert_sql(model: type[models.Model], fields: tuple[Any, ...], count: int) -> str:
    """INSERT of ``count`` rows of ``fields`` into ``model``'s table, %s placeholders."""
    quote = _db().ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    one = "(" + ", ".join(["%s"] * len(fields)) + ")"
    return (
        f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES {', '.join([one] * count)}"
    )


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, float) and key in ("at", "until", "deadline_at"):
            out[key] = to_dt(value).isoformat()  # type: ignore[union-attr]
        else:
            out[key] = value
    return out

"""Between the kernel and the database: a run's rows as a RunState, and back.

The step rows hold the kernel's StepState (with columns for what the pages
and the reconciler query); the run row holds the run-level facts. The writes
the engine makes to a run's rows outside Django's ORM are here (the lock and
read, the writes of a decision, the event log) and in :mod:`engine.claims`
(the claim of an attempt, its release, the callback tokens). The statements
themselves are built from the models by :mod:`engine.sql`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from designer.models import Version, Workflow
from engine import iterations
from engine.models import Event, Iteration, Run, StepRun
from engine.sql import (
    Writes,
    columns,
    convert,
    db,
    insert_sql,
    pk_value,
    prep,
    quote,
    table,
    to_dt,
    to_ts,
    update_sql,
)
from saga import (
    Definition,
    Emit,
    Happening,
    RunState,
    RunStatus,
    StepState,
    StepStatus,
    definition_from_spec,
)
from saga.state import Key

__all__ = [
    "Writes",
    "append_events",
    "definition_for",
    "definition_for_version",
    "insert_steps",
    "lock_run",
    "new_rows",
    "read_run",
    "run_state",
    "save_decision",
    "save_output",
    "with_iterations",
    "workflow_slug",
]


@lru_cache(maxsize=512)
def definition_for_version(version_id: int) -> Definition:
    """The definition of a version, built once: runs only use published versions, which never
    change (a draft's spec changes, but no run uses a draft)."""
    return definition_from_spec(Version.objects.values_list("spec", flat=True).get(pk=version_id))


def definition_for(run: Run) -> Definition:
    return definition_for_version(run.version_id)


@lru_cache(maxsize=512)
def workflow_slug(workflow_id: int) -> str:
    return Workflow.objects.values_list("slug", flat=True).get(pk=workflow_id)


# --- rows as state, state as rows


def step_state(row: StepRun | Iteration) -> StepState:
    """The state a step row (or an iteration row) holds; a map's with the iterations
    loaded for it (:func:`engine.iterations.load`)."""
    core = row.core or {}
    loaded = getattr(row, "loaded_iterations", None)
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
        changed_at=to_ts(row.updated_at),
        claimed_at=to_ts(row.claimed_at),
        skipped_by_condition=bool(core.get("skipped_by_condition")),
        outcome_unknown=bool(core.get("outcome_unknown")),
        fan=None
        if loaded is None
        else iterations.fan_of(
            row,  # type: ignore[arg-type]
            MappingProxyType({i: step_state(it) for i, it in loaded.items()}),
        ),
    )


def run_state(run: Run, rows: Mapping[str, StepRun]) -> RunState:
    definition = definition_for(run)
    return RunState(
        definition=definition,
        status=RunStatus(run.status),
        steps=MappingProxyType({sid: step_state(rows[sid]) for sid in definition.order}),
        compensating=bool(run.core.get("compensating")),
        stalled=bool(run.core.get("stalled")),
        deadline_at=to_ts(run.progress_deadline_at),
        stuck_since=to_ts(run.stuck_since),
        finished_at=to_ts(run.finished_at),
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
    conn = db()
    if not conn.features.can_return_rows_from_bulk_insert:
        StepRun.objects.bulk_create(rows)
        return
    fields = _step_insert_fields()
    params = [f.get_db_prep_save(f.pre_save(row, True), conn) for row in rows for f in fields]
    pk_column = quote("id")
    with conn.cursor() as cursor:
        cursor.execute(f"{insert_sql(StepRun, fields, len(rows))} RETURNING {pk_column}", params)
        ids = [found[0] for found in cursor.fetchall()]
    # In the order of VALUES, as bulk_create relies on too.
    for row, pk in zip(rows, ids, strict=True):
        row.pk = pk
        row._state.adding = False
        row._state.db = conn.alias


@lru_cache(maxsize=1)
def _step_insert_fields() -> tuple[Any, ...]:
    return tuple(f for f in StepRun._meta.concrete_fields if f is not StepRun._meta.pk)


#: The columns a decision writes of a step: an iteration's, and the callback token.
STEP_FIELDS = (*iterations.FIELDS, "callback_token")
RUN_STATE_COLUMNS = (
    "status",
    "core",
    "finished_at",
    "stuck_since",
    "last_seq",
    "updated_at",
    "progress_deadline_at",
)


def _write_step(row: StepRun | Iteration, state: StepState, before: StepState) -> None:
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
    if state.skipped_by_condition:
        row.core["skipped_by_condition"] = True
    if state.outcome_unknown:
        row.core["outcome_unknown"] = True
    if state.fan is not None:
        row.core["fan"] = iterations.fan_core(state.fan)
    row.latency_ms = state.latency_ms
    row.claimed_at = to_dt(state.claimed_at)
    if state.claimed_at is None:
        row.claimed_by = ""
    if isinstance(row, StepRun) and state.new_attempt_since(before):
        # A token handed out for an earlier attempt must not complete this one.
        row.callback_token = None
    changed = to_dt(state.changed_at)
    if changed is not None:
        row.updated_at = changed


def save_decision(
    writes: Writes,
    run: Run,
    rows: Mapping[str, StepRun],
    old: RunState,
    new: RunState,
    *,
    now: datetime,
    claimed: Collection[Key] = (),
    claimed_by: str = "",
) -> None:
    """Bring the run row and its changed step (and iteration) rows up to the new state,
    into ``writes``.

    ``claimed`` names steps (or iterations) whose new attempts the caller claims in
    this same transaction (to run them itself, without a trip through the broker).
    """
    fields = _step_fields()
    sql = update_sql(StepRun, fields)
    for sid, state in new.steps.items():
        before = old.steps[sid]
        if state == before:
            continue
        row = rows[sid]
        _write_step(row, state, before)
        if sid in claimed:
            row.claimed_at = now
            row.claimed_by = claimed_by
        writes.add(sql, [*prep(fields, row), row.pk])
        if state.fan is not None:
            _write_iterations(writes, run, row, state, before, now, claimed, claimed_by)
    run.status = str(new.status)
    run.core = {"compensating": new.compensating, "stalled": new.stalled}
    run.finished_at = to_dt(new.finished_at)
    run.progress_deadline_at = to_dt(new.deadline_at)
    run.stuck_since = to_dt(new.stuck_since)
    run.updated_at = now
    run_fields = _run_state_fields()
    writes.add(update_sql(Run, run_fields), [*prep(run_fields, run), pk_value(Run, run.pk)])


def _write_iterations(
    writes: Writes,
    run: Run,
    row: StepRun,
    state: StepState,
    before: StepState,
    now: datetime,
    claimed: Collection[Key],
    claimed_by: str,
) -> None:
    assert state.fan is not None
    loaded = getattr(row, "loaded_iterations", {})
    old = before.fan.iterations if before.fan is not None else {}
    for index, iteration in state.fan.iterations.items():
        was = old.get(index, StepState())
        if iteration == was:
            continue
        it_row = loaded.get(index) or Iteration(run_id=run.pk, step_id=row.step_id, index=index)
        _write_step(it_row, iteration, was)
        if (row.step_id, index) in claimed:
            it_row.claimed_at = now
            it_row.claimed_by = claimed_by
        iterations.update(writes, run.pk, row.step_id, index, it_row)


def save_output(writes: Writes, run: Run, output: Any, error: str) -> None:
    """The run's output, filled in as it completes (or why it could not be)."""
    run.output, run.output_error = output, error
    fields = _run_output_fields()
    writes.add(update_sql(Run, fields), [*prep(fields, run), pk_value(Run, run.pk)])


@lru_cache(maxsize=1)
def _run_output_fields() -> tuple[Any, ...]:
    return (Run._meta.get_field("output"), Run._meta.get_field("output_error"))


@lru_cache(maxsize=1)
def _step_fields() -> tuple[Any, ...]:
    return tuple(StepRun._meta.get_field(name) for name in STEP_FIELDS)


@lru_cache(maxsize=1)
def _run_state_fields() -> tuple[Any, ...]:
    return tuple(Run._meta.get_field(name) for name in RUN_STATE_COLUMNS)


# --- locking and reading a run

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
    "parent_run_id",
)


@lru_cache(maxsize=4)
def _read_sql(vendor: str) -> str:
    """The run with its step rows, one row per step."""
    cols = [f"r.{quote(f.column)}" for f in _run_fields()]
    cols += [f"s.{quote(f.column)}" for f in _step_all_fields()]
    return (
        f"SELECT {', '.join(cols)} FROM {table(Run)} r "
        f"LEFT JOIN {table(StepRun)} s ON s.{quote('run_id')} = r.{quote('id')} "
        f"WHERE r.{quote('id')} = %s"
    )


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
    read = _read_sql(vendor)
    if not db().features.has_select_for_update:
        return read  # SQLite: one writer at a time, the transaction is the lock
    return f"SELECT 1 FROM {table(Run)} WHERE {quote('id')} = %s FOR UPDATE;\n{read}"


def lock_run(
    run_id: Any, *, about: Sequence[Happening] | None = None
) -> tuple[Run, dict[str, StepRun]]:
    """The run, its row locked until the transaction ends, and its step rows by step id
    (a map's with the iterations the change by the happenings ``about`` needs: see
    :func:`engine.iterations.load`)."""
    run, rows = _fetch(run_id, _lock_sql(db().vendor))
    return with_iterations(run, rows, about=about)


def read_run(run_id: Any) -> tuple[Run, dict[str, StepRun]]:
    """The run and its step rows by step id, as committed now; nothing is locked (a map's
    with every iteration a change may need: what is due, say)."""
    run, rows = _fetch(run_id, _read_sql(db().vendor))
    return with_iterations(run, rows)


def with_iterations(
    run: Run, rows: dict[str, StepRun], *, about: Sequence[Happening] | None = None
) -> tuple[Run, dict[str, StepRun]]:
    """The run's step rows, each map's with the iterations a change by the happenings
    ``about`` needs (all it may need, when ``about`` is None)."""
    definition = definition_for(run)
    if definition.maps:
        found = iterations.load(run, definition, rows, about=about)
        for sid, loaded in found.items():
            rows[sid].loaded_iterations = loaded  # type: ignore[attr-defined]
    return run, rows


def _fetch(run_id: Any, sql: str) -> tuple[Run, dict[str, StepRun]]:
    conn = db()
    run_fields = _run_fields()
    step_fields = _step_all_fields()
    pk = pk_value(Run, run_id)
    with conn.cursor() as cursor:
        cursor.execute(sql, [pk] * sql.count("%s"))
        found = cursor.fetchall()
    if not found:
        raise Run.DoesNotExist(f"no run {run_id}")
    split = len(run_fields)
    run = Run.from_db(
        conn.alias, [f.attname for f in run_fields], convert(run_fields, found[0][:split])
    )
    names = [f.attname for f in step_fields]
    rows = {}
    for values in found:
        if values[split] is None:  # a run without steps: the join's empty side
            continue
        row = StepRun.from_db(conn.alias, names, convert(step_fields, values[split:]))
        rows[row.step_id] = row
    return run, rows


def _run_fields() -> tuple[Any, ...]:
    return columns(Run, RUN_COLUMNS)


def _step_all_fields() -> tuple[Any, ...]:
    return columns(StepRun, None)


# --- the event log

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
    fields = _event_fields()
    batch.add(insert_sql(Event, fields, len(rows)), [p for row in rows for p in prep(fields, row)])
    if writes is None:
        batch.execute()
    return rows


@lru_cache(maxsize=1)
def _event_fields() -> tuple[Any, ...]:
    return tuple(Event._meta.get_field("run" if n == "run_id" else n) for n in EVENT_COLUMNS)


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, float) and key in ("at", "until", "deadline_at"):
            out[key] = to_dt(value).isoformat()  # type: ignore[union-attr]
        else:
            out[key] = value
    return out

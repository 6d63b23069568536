"""Between the kernel and the database, for the iterations of map steps.

A map step's row keeps its :class:`~saga.state.Fan`'s counts (in ``core``);
each iteration has a row of its own, made when the map's items are known,
holding its item and, as it runs, what a step row holds of a step. A change of
a run loads only the iterations not at rest (in flight, retrying, failed,
compensating) and the ``max_concurrency`` succeeded ones of highest index, the
next to be compensated: never a whole list, so a step of a map of 10,000 items
costs what a step of a small one does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from engine.models import Iteration, Run, StepRun
from engine.sql import Writes, columns, convert, db, pk_value, prep, quote, table
from saga import Definition, Happening, RunStatus, StepState, StepStatus
from saga.fan import needs_every_iteration
from saga.state import Fan
from saga.vocabulary import AT_REST

__all__ = [
    "FIELDS",
    "claim",
    "claim_waiting",
    "create",
    "fan_core",
    "fan_of",
    "gather",
    "items",
    "load",
    "release",
    "update",
]

#: The columns a decision writes of an iteration (its item is written once, at creation),
#: and of a step (:data:`engine.store.STEP_FIELDS`, which adds its callback token).
FIELDS = (
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
    "updated_at",
)

#: Where a map step row's ``core`` keeps its fan's counts.
_COUNTS = "fan"


def fan_core(fan: Fan) -> dict[str, Any]:
    counts = {str(status): n for status, n in fan.counts.items()}
    return {"total": fan.total, "started": fan.started, "counts": counts}


def fan_of(row: StepRun, loaded: Mapping[int, StepState]) -> Fan | None:
    """The fan of a map step's row, with the iterations loaded for it (None: its items are
    not known yet)."""
    counts = (row.core or {}).get(_COUNTS)
    if counts is None:
        return None
    by_status = {StepStatus(s): n for s, n in counts["counts"].items()}
    return Fan(counts["total"], counts["started"], MappingProxyType(by_status), loaded)


def create(run_id: Any, step_id: str, items: list[Any]) -> None:
    """A row for each iteration of a map whose items are now known, in one statement per
    thousand."""
    now = datetime.now(tz=UTC)
    Iteration.objects.bulk_create(
        (
            Iteration(run_id=run_id, step_id=step_id, index=i, item=item, updated_at=now)
            for i, item in enumerate(items)
        ),
        batch_size=1000,
    )


@lru_cache(maxsize=4)
def _load_sql(vendor: str) -> str:
    """The iterations of a run that are not at rest."""
    cols = ", ".join(quote(f.column) for f in _all_fields())
    rest = ", ".join(f"'{s}'" for s in sorted(AT_REST))
    return f"SELECT {cols} FROM {table(Iteration)} WHERE run_id = %s AND status NOT IN ({rest})"


@lru_cache(maxsize=16)
def _top_sql(vendor: str, maps: int) -> str:
    """For each of ``maps`` map steps, its succeeded iterations of highest index."""
    cols = ", ".join(quote(f.column) for f in _all_fields())
    index = quote("index")
    return " UNION ALL ".join(
        f"SELECT * FROM (SELECT {cols} FROM {table(Iteration)} WHERE run_id = %s "
        f"AND step_id = %s AND status = '{StepStatus.SUCCEEDED}' "
        f"ORDER BY {index} DESC LIMIT %s) AS top{i}"
        for i in range(maps)
    )


def load(
    run: Run,
    definition: Definition,
    rows: Mapping[str, StepRun],
    *,
    about: Sequence[Happening] | None,
) -> dict[str, Any]:
    """The iterations a change of the run by the happenings ``about`` (applied in turn)
    needs, as rows by map step and index; None: any change.

    A quiet change (an iteration's success in a map where nothing failed, in a run going
    forward) needs only the iteration it is about: the rules read the counts. A quiet
    change leaves the map calm, so a run of them needs only theirs. Any other needs every
    iteration not at rest, and the succeeded ones next to be compensated.
    """
    maps = [sid for sid in definition.maps if (rows[sid].core or {}).get(_COUNTS) is not None]
    found: dict[str, dict[int, Iteration]] = {sid: {} for sid in maps}
    if not maps:
        return found
    full = [
        sid
        for sid in maps
        if any(
            needs_every_iteration(
                happening,
                run_status=RunStatus(run.status),
                compensating=bool((run.core or {}).get("compensating")),
                map_status=StepStatus(rows[sid].status),
                counts={StepStatus(s): n for s, n in rows[sid].core[_COUNTS]["counts"].items()},
            )
            for happening in (about if about is not None else (None,))
        )
    ]
    pk = pk_value(Run, run.pk)
    if full:
        _read(_load_sql(db().vendor), [pk], found, full)
        params: list[Any] = []
        for sid in full:
            params += [pk, sid, definition.step(sid).max_concurrency]
        _read(_top_sql(db().vendor, len(full)), params, found, full)
    named: dict[str, list[int]] = {}
    for happening in about or ():
        step, index = getattr(happening, "step", None), getattr(happening, "index", None)
        if step in found and index is not None and index not in found[step]:
            named.setdefault(step, []).append(index)
    for step, indexes in named.items():
        _read(_some_sql(db().vendor, len(indexes)), [pk, step, *indexes], found, [step])
    return found


@lru_cache(maxsize=64)
def _some_sql(vendor: str, n: int) -> str:
    cols = ", ".join(quote(f.column) for f in _all_fields())
    return (
        f"SELECT {cols} FROM {table(Iteration)} WHERE run_id = %s AND step_id = %s "
        f"AND {quote('index')} IN ({', '.join(['%s'] * n)})"
    )


def _read(
    sql: str, params: list[Any], found: dict[str, dict[int, Iteration]], wanted: list[str]
) -> None:
    conn = db()
    fields = _all_fields()
    names = [f.attname for f in fields]
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        for values in cursor.fetchall():
            row = Iteration.from_db(conn.alias, names, convert(fields, values))
            if row.step_id in wanted:
                found[row.step_id][row.index] = row


def update(writes: Writes, run_id: Any, step_id: str, index: int, row: Iteration) -> None:
    """Write a decision's change of one iteration, by its run, step and index."""
    fields = _fields()
    writes.add(_update_sql(), [*prep(fields, row), pk_value(Run, run_id), step_id, index])


@lru_cache(maxsize=1)
def _update_sql() -> str:
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in _fields())
    return (
        f"UPDATE {table(Iteration)} SET {assignments} "
        f"WHERE run_id = %s AND step_id = %s AND {quote('index')} = %s"
    )


def gather(run_id: Any, step_id: str, newer: Mapping[int, StepState]) -> list[Any]:
    """A succeeded map's output: every iteration's output in item order (``newer`` holds
    the iterations a decision not yet written has changed)."""
    query = Iteration.objects.filter(run_id=run_id, step_id=step_id).order_by("index")
    outputs = list(query.values_list("output", flat=True))
    for index, state in newer.items():
        if index < len(outputs):
            outputs[index] = state.output
    return outputs


def claim(
    run_id: Any,
    step_id: str,
    index: int,
    attempt: int,
    compensation: bool,
    *,
    by: str,
    fields: tuple[str, ...],
) -> tuple[tuple[Any, ...], tuple[Any, Any]] | None:
    """Claim an iteration's attempt for worker ``by``: the run's ``fields`` and the
    iteration's item and output, or None when the attempt is not there to claim (see
    :func:`engine.claims.claim_step`, which this mirrors)."""
    conn = db()
    now = Iteration._meta.get_field("claimed_at").get_db_prep_save(datetime.now(tz=UTC), conn)
    pk = pk_value(Run, run_id)
    if compensation:
        where = f"i.status = '{StepStatus.COMPENSATING}' AND i.compensation_attempt = %s"
        where += " AND i.next_attempt_at IS NULL"
    else:
        where = f"i.status = '{StepStatus.RUNNING}' AND i.attempt = %s"
    claim_sql = (
        f"UPDATE {table(Iteration)} AS i SET claimed_at = %s, claimed_by = %s "
        f"WHERE i.run_id = %s AND i.step_id = %s AND i.{quote('index')} = %s "
        f"AND i.claimed_at IS NULL AND {where}"
    )
    params = [now, by, pk, step_id, index, attempt]
    run_fields = tuple(f for f in Run._meta.concrete_fields if f.attname in fields)
    run_fields = tuple(sorted(run_fields, key=lambda f: fields.index(f.attname)))
    cols = ", ".join(f"r.{quote(str(f.column))}" for f in run_fields)
    own = (Iteration._meta.get_field("item"), Iteration._meta.get_field("output"))
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql":
            cursor.execute(
                f"WITH claimed AS ({claim_sql} RETURNING i.run_id, i.item, i.output) "
                f"SELECT {cols}, c.item, c.output FROM {table(Run)} r "
                f"JOIN claimed c ON c.run_id = r.id",
                params,
            )
            found = cursor.fetchone()
        else:
            cursor.execute(claim_sql, params)
            if cursor.rowcount != 1:
                return None
            cursor.execute(
                f"SELECT {cols}, i.item, i.output FROM {table(Run)} r JOIN {table(Iteration)} i "
                f"ON i.run_id = r.id WHERE r.id = %s AND i.step_id = %s "
                f"AND i.{quote('index')} = %s",
                [pk, step_id, index],
            )
            found = cursor.fetchone()
    if found is None:
        return None
    facts = tuple(convert(run_fields, found[:-2]))
    return facts, tuple(convert(own, found[-2:]))


def claim_waiting(run_id: Any, step_id: str, *, by: str) -> tuple[int, int, Any] | None:
    """Claim for worker ``by`` another iteration of the map that has begun and waits for a
    worker (its message on its way through the broker): its index, attempt and item, or
    None when none waits. The message then finds it claimed, as a duplicate would."""
    conn = db()
    now = Iteration._meta.get_field("claimed_at").get_db_prep_save(datetime.now(tz=UTC), conn)
    pk = pk_value(Run, run_id)
    waiting = (
        f"SELECT id FROM {table(Iteration)} WHERE run_id = %s AND step_id = %s "
        f"AND status = '{StepStatus.RUNNING}' AND claimed_at IS NULL "
        f"ORDER BY {quote('index')} LIMIT 1"
    )
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql":
            # Another worker's claim, or a change of the run not yet committed, skips a row.
            cursor.execute(
                f"UPDATE {table(Iteration)} SET claimed_at = %s, claimed_by = %s "
                f"WHERE id = ({waiting} FOR UPDATE SKIP LOCKED) AND claimed_at IS NULL "
                f"RETURNING {quote('index')}, attempt, item",
                [now, by, pk, step_id],
            )
            found = cursor.fetchone()
        else:  # SQLite: one writer at a time
            cursor.execute(waiting, [pk, step_id])
            row = cursor.fetchone()
            if row is None:
                return None
            cursor.execute(
                f"UPDATE {table(Iteration)} SET claimed_at = %s, claimed_by = %s "
                f"WHERE id = %s AND claimed_at IS NULL",
                [now, by, row[0]],
            )
            if cursor.rowcount != 1:
                return None
            cursor.execute(
                f"SELECT {quote('index')}, attempt, item FROM {table(Iteration)} WHERE id = %s",
                [row[0]],
            )
            found = cursor.fetchone()
    if found is None:
        return None
    index, attempt, raw = found
    (item_value,) = convert((Iteration._meta.get_field("item"),), [raw])
    return index, attempt, item_value


def items(run_id: Any, step_id: str, indexes: list[int]) -> dict[int, tuple[Any, Any]]:
    """The items of these iterations, and their outputs (when they have succeeded)."""
    if not indexes:
        return {}
    own = (Iteration._meta.get_field("item"), Iteration._meta.get_field("output"))
    with db().cursor() as cursor:
        cursor.execute(
            _items_sql(db().vendor, len(indexes)), [pk_value(Run, run_id), step_id, *indexes]
        )
        found = cursor.fetchall()
    return {index: tuple(convert(own, values)) for index, *values in found}


@lru_cache(maxsize=64)
def _items_sql(vendor: str, n: int) -> str:
    return (
        f"SELECT {quote('index')}, item, output FROM {table(Iteration)} "
        f"WHERE run_id = %s AND step_id = %s AND {quote('index')} IN ({', '.join(['%s'] * n)})"
    )


def release(run_id: Any, step_id: str, index: int, *, by: str) -> None:
    """Give up worker ``by``'s claim on an iteration's attempt."""
    Iteration.objects.filter(run_id=run_id, step_id=step_id, index=index, claimed_by=by).update(
        claimed_at=None, claimed_by=""
    )


@lru_cache(maxsize=1)
def _fields() -> tuple[Any, ...]:
    return tuple(Iteration._meta.get_field(name) for name in FIELDS)


def _all_fields() -> tuple[Any, ...]:
    return columns(Iteration, None)

"""Plain SQL for the engine's hot path, built from the models' own fields.

Each step of a saga reads its run and steps and writes them back with its
events; through the ORM that was about 8 ms of CPU per step on a 2-core
machine (query compilation, model instances), in SQL it is a fraction of that,
and the writes go to PostgreSQL in one round trip (:class:`Writes`). Rows come
back converted as the ORM would convert them, on PostgreSQL and SQLite.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, models
from django.utils.dateparse import parse_datetime


def to_dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=UTC)


def to_ts(dt: datetime | None) -> float | None:
    return None if dt is None else dt.timestamp()


def db() -> Any:
    """The default database's connection itself: ``django.db.connection`` is a proxy that
    looks it up again on every attribute, which cost the hot path most of a millisecond."""
    return connections[DEFAULT_DB_ALIAS]


def quote(name: str) -> str:
    return str(db().ops.quote_name(name))


def table(model: type[models.Model]) -> str:
    return quote(model._meta.db_table)


@lru_cache(maxsize=8)
def columns(model: type[models.Model], names: tuple[str, ...] | None) -> tuple[Any, ...]:
    """The model's concrete fields named ``names`` (all of them for None), in the model's
    order: ``Model.from_db`` fills the fields named in that order."""
    fields = model._meta.concrete_fields
    if names is None:
        return tuple(fields)
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


def convert(fields: tuple[Any, ...], values: Iterable[Any]) -> list[Any]:
    """Raw column values of ``fields`` as the ORM gives them."""
    converters = _converters(fields, db().vendor)
    return [
        v if v is None or conv is None else conv(v)
        for conv, v in zip(converters, values, strict=True)
    ]


def prep(fields: Iterable[Any], obj: models.Model) -> list[Any]:
    """``obj``'s values of ``fields``, ready to be sent."""
    conn = db()
    return [f.get_db_prep_save(getattr(obj, f.attname), conn) for f in fields]


def pk_value(model: type[models.Model], value: Any) -> Any:
    pk = model._meta.pk
    assert pk is not None
    return pk.get_db_prep_value(pk.to_python(value), db())


@lru_cache(maxsize=64)
def insert_sql(model: type[models.Model], fields: tuple[Any, ...], count: int) -> str:
    """INSERT of ``count`` rows of ``fields`` into ``model``'s table, %s placeholders."""
    names = ", ".join(quote(f.column) for f in fields)
    one = "(" + ", ".join(["%s"] * len(fields)) + ")"
    return f"INSERT INTO {table(model)} ({names}) VALUES {', '.join([one] * count)}"


@lru_cache(maxsize=16)
def update_sql(model: type[models.Model], fields: tuple[Any, ...]) -> str:
    """UPDATE of one row's ``fields``, by id: the values, then the id."""
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    return f"UPDATE {table(model)} SET {assignments} WHERE id = %s"


class Writes:
    """Statements of one change, sent together: in one round trip on PostgreSQL."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, list[Any]]] = []

    def add(self, sql: str, params: list[Any]) -> None:
        self.statements.append((sql, params))

    def execute(self) -> None:
        if not self.statements:
            return
        conn = db()
        with conn.cursor() as cursor:
            if conn.vendor == "postgresql":
                sql = ";\n".join(statement for statement, _ in self.statements)
                cursor.execute(sql, [p for _, params in self.statements for p in params])
            else:  # SQLite runs one statement per call
                for statement, params in self.statements:
                    cursor.execute(statement, params)
        self.statements.clear()

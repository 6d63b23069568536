"""Reads of the audit log, for its API, its CSV export and its page.

What a user sees is one rule: staff see every entry; anyone else the entries of
the workflows they may view (designer/access.py). The log lists the acts of
:data:`designer.audit.AUDIT_ACTS`, newest first, an order every filter keeps on
an index (designer/models.py).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any

from django.db.models import QuerySet

from common.people import Visitor
from common.queries import bad_param, moment, split_values
from designer.access import visible_workflows
from designer.audit import AUDIT_ACTS
from designer.models import AuditEntry, Workflow

__all__ = [
    "AUDIT_ORDERING",
    "CSV_COLUMNS",
    "AuditFilters",
    "audit_entries",
    "audit_filters",
    "csv_chunks",
]

#: Newest first; the id makes the order total, so a cursor never skips or repeats one.
AUDIT_ORDERING = ("-created_at", "-id")
#: The CSV export's columns, in order.
CSV_COLUMNS = (
    "at",
    "actor",
    "act",
    "workflow",
    "run",
    "bulk",
    "version",
    "step",
    "index",
    "reason",
    "changes",
    "detail",
)
#: Entries the CSV export reads from the database at a time.
CSV_CHUNK = 500


@dataclass(frozen=True)
class AuditFilters:
    """What the audit log is narrowed to; an empty tuple means every one."""

    actors: tuple[str, ...] = ()
    acts: tuple[str, ...] = ()
    workflows: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None


def audit_filters(params: Mapping[str, str]) -> AuditFilters:
    """Parse ``actor``, ``act``, ``workflow`` (usernames, act names and workflow slugs, each
    comma-separated), ``since`` and ``until`` (ISO 8601; since inclusive, until exclusive);
    a 400 naming the field for nonsense."""
    acts = split_values(params.get("act"))
    unknown = [act for act in acts if act not in AUDIT_ACTS]
    if unknown:
        raise bad_param("act", f"no act is called {unknown[0]!r}")
    since, until = moment("since", params.get("since")), moment("until", params.get("until"))
    if since and until and since >= until:
        raise bad_param("until", "must be later than since")
    return AuditFilters(
        actors=split_values(params.get("actor")),
        acts=acts,
        workflows=split_values(params.get("workflow")),
        since=since,
        until=until,
    )


def audit_entries(user: Visitor, filters: AuditFilters) -> QuerySet[AuditEntry]:
    """The entries of the audit log ``user`` may see that match ``filters``, newest first."""
    entries = AuditEntry.objects.filter(act__in=filters.acts or AUDIT_ACTS)
    if not user.is_staff:
        entries = entries.filter(workflow__in=visible_workflows(user))
    if filters.workflows:
        entries = entries.filter(workflow__in=Workflow.objects.filter(slug__in=filters.workflows))
    if filters.actors:
        entries = entries.filter(actor_name__in=filters.actors)
    if filters.since:
        entries = entries.filter(created_at__gte=filters.since)
    if filters.until:
        entries = entries.filter(created_at__lt=filters.until)
    return entries.select_related("workflow", "version").order_by(*AUDIT_ORDERING)


def _cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text: one that starts as a formula would is quoted
    (someone's reason could read ``=HYPERLINK(...)``)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _row(entry: AuditEntry) -> list[str]:
    detail = dict(entry.detail or {})
    cells = (
        entry.created_at.isoformat(),
        entry.actor_name,
        entry.act,
        entry.workflow.slug if entry.workflow else "",
        entry.run or "",
        entry.bulk or "",
        entry.version.number if entry.version else "",
        detail.pop("step", ""),
        detail.pop("index", ""),
        entry.reason,
        json.dumps(entry.changes, sort_keys=True) if entry.changes else "",
        json.dumps(detail, sort_keys=True) if detail else "",
    )
    return [_cell(cell) for cell in cells]


class _Line:
    """What csv.writer writes to: it hands back the line instead of keeping it."""

    def write(self, line: str) -> str:
        return line


def csv_chunks(entries: QuerySet[AuditEntry]) -> Iterator[str]:
    """``entries`` as CSV, a header then a line each, in pieces of up to ``CSV_CHUNK`` lines
    read from the database as they are asked for: an export of the whole log never holds
    it in memory."""
    writer = csv.writer(_Line())
    yield writer.writerow(CSV_COLUMNS)
    rows = entries.iterator(chunk_size=CSV_CHUNK)
    while chunk := [writer.writerow(_row(entry)) for entry in islice(rows, CSV_CHUNK)]:
        yield "".join(chunk)

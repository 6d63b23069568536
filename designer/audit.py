"""The audit log: what may be recorded, and the one function that records it.

Every operator act, bulk act, review, publication and permission change is an
entry, written by :func:`record` in the transaction of the act itself, so an act
and its entry commit or roll back together. The designer writes the entries of
definitions; the engine (a floor above) those of runs.

``AUDIT_ACTS`` is the audit log's vocabulary: what ``GET /api/audit/`` lists and
its schema enumerates. A new audited act (a bulk act, a canary's move, an alert)
is a name here and one call of :func:`record` where it happens. ``TRAIL_ACTS``
are recorded the same way but only make a workflow's own history (its page's
trail, and who wrote a version, for four-eyes), not the log.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from common.people import User
from designer.models import AuditEntry, Version, Workflow
from saga.vocabulary import EventType

__all__ = ["AUDIT_ACTS", "TRAIL_ACTS", "record"]

#: The acts the audit log lists, in the order its filter offers them: every act on a
#: run (its event's name), then bulk acts, versions, permissions and alerts.
AUDIT_ACTS: tuple[str, ...] = (
    *(str(event) for event in EventType if event.is_act),
    "bulk.create",
    "bulk.approve",
    "bulk.cancel",
    "version.submit",
    "version.review",
    "version.publish",
    "version.canary_started",
    "version.promoted",
    "version.rolled_back",
    "workflow.permissions",
    "alert.fired",
    "alert.resolved",
)
#: Changes a workflow's page lists with its history, not audited acts.
TRAIL_ACTS: tuple[str, ...] = ("workflow.create", "version.create", "version.update")
_KNOWN = frozenset(AUDIT_ACTS + TRAIL_ACTS)


def record(
    *,
    act: str,
    by: User | None,
    workflow: Workflow | int,
    version: Version | None = None,
    run: uuid.UUID | str | None = None,
    bulk: uuid.UUID | str | None = None,
    reason: str = "",
    changes: Mapping[str, Any] | None = None,
    detail: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Record that ``by`` (None: Sagaboard itself) did ``act`` to ``workflow`` (its
    ``version``, its ``run``; as part of the bulk act ``bulk``), saying ``reason``.

    Call it inside the act's transaction. ``changes``: fields as ``{name: [old, new]}``;
    ``detail``: what else the act says, as JSON (the step acted on, a decision).
    """
    if act not in _KNOWN:
        raise ValueError(f"{act!r} is no act of the audit log; add it to designer/audit.py")
    return AuditEntry.objects.create(
        act=act,
        actor=by,
        actor_name=by.get_username() if by is not None else "",
        workflow_id=workflow if isinstance(workflow, int) else workflow.pk,
        version=version,
        run=run,
        bulk=bulk,
        reason=reason,
        changes=dict(changes or {}),
        detail=dict(detail or {}),
    )

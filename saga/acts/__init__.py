"""The acts, one module each; this registry is the one entry point to them.

A new act is a module beside these holding a :class:`RunAct`, its happening
in :mod:`saga.happenings`, its event in :mod:`saga.vocabulary`, and a line
in ``ACTS`` below; decide applies it, and the engine offers it, checks who
may, and routes it (``POST /api/runs/{id}/<name>/`` or ``.../steps/{step}/<name>/``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from saga.acts import approval, cancel, compensate, retry, skip
from saga.acts.base import ActNotAllowed, RunAct
from saga.happenings import Act, ApprovalDecided

__all__ = ["ACTS", "ActNotAllowed", "RunAct", "act_of"]

#: Every act, by name, in the order the pages offer them.
ACTS: Mapping[str, RunAct] = MappingProxyType(
    {
        act.name: act
        for act in (
            retry.ACT,
            skip.ACT,
            approval.APPROVE,
            approval.REJECT,
            compensate.ACT,
            cancel.ACT,
        )
    }
)
_BY_HAPPENING = {type(act.make(step="x", by="", reason="")): act for act in ACTS.values()}


def act_of(happening: Act) -> RunAct:
    """The act a happening carries."""
    if isinstance(happening, ApprovalDecided):
        return ACTS["approve" if happening.approved else "reject"]
    return _BY_HAPPENING[type(happening)]

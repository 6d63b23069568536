"""The step kinds, one module each; this registry is the one entry point to them.

A new kind is a module beside these, holding a :class:`StepKind`, named in
``KINDS`` below; the core, validation, the schema, the worker and the
pictures find it here (and the designer's palette in the generated
front-end vocabulary).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from saga.steps import approval, callback, delay, http, map, subsaga, task
from saga.steps.base import StepKind

__all__ = ["KINDS", "StepKind", "kind_of"]

#: Every kind, by the ``type`` a spec gives it, in the order the palette offers them.
KINDS: Mapping[str, StepKind] = MappingProxyType(
    {
        kind.name: kind
        for kind in (
            http.KIND,
            task.KIND,
            approval.KIND,
            delay.KIND,
            callback.KIND,
            map.KIND,
            subsaga.KIND,
        )
    }
)


def kind_of(step_type: str) -> StepKind:
    """The kind named ``step_type``; ``KeyError`` for a type no kind has."""
    return KINDS[step_type]

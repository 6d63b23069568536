"""The graph of a definition's steps: one module for every reader of ``after``.

A :class:`Graph` holds step ids in the spec's order and each step's
predecessors (its ``after``). The engine's definition, validation, the
pictures and the layout all read a spec's graph through :func:`spec_graph`
and ask this module for orders, cycles, ancestors and descendants, so "the
order of the graph" means one thing everywhere.

It tolerates what a half-drawn spec holds: ``after`` names that are no step
are dropped (validation reports them), and cycles are found rather than
assumed away.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from graphlib import CycleError, TopologicalSorter
from types import MappingProxyType
from typing import Any

__all__ = ["Graph", "spec_graph", "spec_steps"]


def spec_steps(spec: object) -> dict[str, Mapping[str, Any]]:
    """The steps of a spec that have a string id, by id, in spec order; the first of
    several steps with one id wins. Whatever else a malformed spec holds is passed over."""
    steps = spec.get("steps") if isinstance(spec, Mapping) else None
    found: dict[str, Mapping[str, Any]] = {}
    for step in steps if isinstance(steps, list) else ():
        if isinstance(step, Mapping) and isinstance(step.get("id"), str):
            found.setdefault(step["id"], step)
    return found


def step_after(step: Mapping[str, Any]) -> list[str]:
    """A step's ``after`` names, in order, each once; what is not a string is passed over."""
    after = step.get("after")
    return (
        list(dict.fromkeys(a for a in after if isinstance(a, str)))
        if isinstance(after, list)
        else []
    )


def spec_graph(spec: object) -> Graph:
    """The graph of a spec's steps (see :func:`spec_steps`)."""
    return Graph.of((sid, step_after(step)) for sid, step in spec_steps(spec).items())


@dataclass(frozen=True)
class Graph:
    """Step ids in spec order, and each one's predecessors (names that are no step, and a
    step naming itself, are left out: they are errors for validation to report)."""

    preds: Mapping[str, tuple[str, ...]]
    _position: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_position", {sid: i for i, sid in enumerate(self.preds)})

    @classmethod
    def of(cls, steps: Iterable[tuple[str, Iterable[str]]]) -> Graph:
        """A graph from ``(id, after)`` pairs in spec order; a repeated id keeps its first."""
        pairs: dict[str, list[str]] = {}
        for sid, after in steps:
            pairs.setdefault(sid, list(after))
        return cls(
            MappingProxyType(
                {
                    sid: tuple(dict.fromkeys(a for a in after if a in pairs and a != sid))
                    for sid, after in pairs.items()
                }
            )
        )

    def __contains__(self, step_id: object) -> bool:
        return step_id in self.preds

    @cached_property
    def children(self) -> Mapping[str, tuple[str, ...]]:
        """Each step's direct successors, in spec order."""
        found: dict[str, list[str]] = {sid: [] for sid in self.preds}
        for sid, preds in self.preds.items():
            for pred in preds:
                found[pred].append(sid)
        return MappingProxyType({sid: tuple(c) for sid, c in found.items()})

    def order(self) -> tuple[str, ...]:
        """A topological order, ties broken by position in the spec, so that it is the same
        on every machine and reads like the spec; steps caught in a cycle come last, in
        spec order."""
        waiting = {sid: len(preds) for sid, preds in self.preds.items()}
        ready = [(self._position[sid], sid) for sid, n in waiting.items() if n == 0]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            _, sid = heapq.heappop(ready)
            order.append(sid)
            for child in self.children[sid]:
                waiting[child] -= 1
                if waiting[child] == 0:
                    heapq.heappush(ready, (self._position[child], child))
        placed = set(order)
        return (*order, *(sid for sid in self.preds if sid not in placed))

    @property
    def acyclic(self) -> bool:
        return not self.cycles(limit=1)

    def cycles(self, *, limit: int = 10) -> list[list[str]]:
        """Up to ``limit`` cycles, each written ``a -> b -> a`` (each step runs after the one
        before it) from its earliest step in the spec; once one is found its steps are set
        aside, so the next is another."""
        remaining = {sid: set(preds) for sid, preds in self.preds.items()}
        found: list[list[str]] = []
        while len(found) < limit:
            try:
                TopologicalSorter(remaining).prepare()
                break
            except CycleError as exc:
                ring: list[str] = list(exc.args[1][:-1])
            start = min(range(len(ring)), key=lambda i: self._position[ring[i]])
            ring = ring[start:] + ring[:start]
            found.append([*ring, ring[0]])
            remaining = {s: p - set(ring) for s, p in remaining.items() if s not in ring}
        return found

    @cached_property
    def ancestors(self) -> Mapping[str, frozenset[str]]:
        """Every step each step depends on, directly or through others. In a cycle a step
        is its own ancestor."""
        found: dict[str, set[str]] = {sid: set() for sid in self.preds}
        order = self.order()
        # In topological order one pass suffices; steps caught in cycles need a few more.
        for _ in range(len(order) + 1):
            changed = False
            for sid in order:
                mine = found[sid]
                size = len(mine)
                for pred in self.preds[sid]:
                    mine.add(pred)
                    mine |= found[pred]
                changed = changed or len(mine) != size
            if not changed:
                break
        return MappingProxyType({sid: frozenset(a) for sid, a in found.items()})

    @cached_property
    def descendants(self) -> Mapping[str, frozenset[str]]:
        """Every step that depends on each step, directly or through others."""
        found: dict[str, set[str]] = {sid: set() for sid in self.preds}
        for sid, ancestors in self.ancestors.items():
            for ancestor in ancestors:
                found[ancestor].add(sid)
        return MappingProxyType({sid: frozenset(d) for sid, d in found.items()})

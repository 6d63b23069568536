"""Workflow definitions as the engine reads them.

A ``sagaboard/v1`` spec, once validated, becomes a frozen :class:`Definition`:
typed steps with the spec's defaults applied, and one deterministic graph
order (:mod:`saga.graph`) that every part of the engine agrees on. What a
step of each kind needs of its own lives with the kind (:mod:`saga.steps`);
:func:`saga.reading.definition_from_spec` asks it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from types import MappingProxyType
from typing import Any

from saga.graph import Graph

__all__ = [
    "BUILTIN_RETRY",
    "BUILTIN_TIMEOUT_S",
    "Definition",
    "DefinitionError",
    "Jitter",
    "OnTimeout",
    "RetryPolicy",
    "StepDef",
]


class DefinitionError(ValueError):
    """The spec cannot be read as a definition (the validator should have refused it)."""


class Jitter(StrEnum):
    """How a retry delay is spread: ``full`` in [0, d), ``equal`` in [d/2, d), ``none`` d."""

    FULL = "full"
    EQUAL = "equal"
    NONE = "none"


class OnTimeout(StrEnum):
    """What an approval nobody decided in time turns into."""

    REJECT = "reject"
    APPROVE = "approve"


@dataclass(frozen=True)
class RetryPolicy:
    """How the attempts of a step, and of its compensation, are retried."""

    max_attempts: int = 3
    initial_delay_s: float = 1.0
    backoff: float = 2.0
    max_delay_s: float = 60.0
    jitter: Jitter = Jitter.FULL

    def delay_s(self, n: int, jitter: float = 1.0) -> float:
        """Seconds to wait after the ``n``-th attempt of a round failed (``n`` from 1).

        The base delay is ``min(max_delay_s, initial_delay_s * backoff ** (n - 1))``;
        ``jitter`` is a number in [0, 1] drawn by the caller, so the core stays
        deterministic; 1.0 gives the full delay whatever the jitter kind.
        """
        try:
            grown = self.initial_delay_s * self.backoff ** (n - 1)
        except OverflowError:
            grown = math.inf
        base = min(self.max_delay_s, grown)
        if self.jitter is Jitter.FULL:
            return base * jitter
        if self.jitter is Jitter.EQUAL:
            return base / 2 + base / 2 * jitter
        return base


BUILTIN_RETRY = RetryPolicy()
BUILTIN_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class StepDef:
    """One step of a definition, with every default already applied.

    ``type`` names the step's kind (:mod:`saga.steps`). ``when`` is its condition (a
    CEL expression, :mod:`saga.expressions`), if it has one. ``timeout_s`` bounds one
    attempt (and one compensation attempt); ``None`` means no deadline. For an
    approval it is the time people have to decide, and ``on_timeout`` says what
    happens then; for a delay it is ``None`` and ``delay_s`` is the wait.
    """

    id: str
    type: str
    after: tuple[str, ...] = ()
    pivot: bool = False
    has_compensation: bool = False
    retry: RetryPolicy = BUILTIN_RETRY
    timeout_s: float | None = BUILTIN_TIMEOUT_S
    name: str = ""
    on_timeout: OnTimeout = OnTimeout.REJECT
    delay_s: float = 0.0
    action: Mapping[str, Any] = field(default_factory=dict, hash=False)
    compensation: Mapping[str, Any] | None = field(default=None, hash=False)
    when: str | None = None
    #: A map (:mod:`saga.steps.map`): the CEL expression of its items, how many of its
    #: iterations may be in flight at once, and the step each iteration is (with the
    #: map's id; ``has_compensation`` says whether it has one).
    items: str | None = None
    max_concurrency: int = 1
    do: StepDef | None = field(default=None, hash=False)

    @property
    def fans_out(self) -> bool:
        """Whether the step is a map, run as one iteration per item."""
        return self.do is not None


@dataclass(frozen=True)
class Definition:
    """The steps of a workflow version and their graph order.

    ``order`` is a topological order of the steps, ties broken by position in
    the spec, so "reverse graph order" means the same thing everywhere.
    Building one checks what the engine itself relies on (unique ids, known
    ``after`` names, no cycle) and raises :class:`DefinitionError` otherwise.
    """

    steps: tuple[StepDef, ...]
    deadline_s: float | None = None
    #: What the run's output is to be once it completes: a template (saga.templates).
    output: Any = field(default=None, compare=False)
    #: Search attributes: a name, and the template over the input it is evaluated from
    #: when the run starts (:mod:`saga.search`).
    search: Mapping[str, str] = field(default_factory=dict, compare=False)
    order: tuple[str, ...] = field(init=False, compare=False)
    graph: Graph = field(init=False, repr=False, compare=False)
    _by_id: Mapping[str, StepDef] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_id: dict[str, StepDef] = {}
        for step in self.steps:
            if step.id in by_id:
                raise DefinitionError(f"step {step.id}: the id is used twice")
            by_id[step.id] = step
        for step in self.steps:
            for name in step.after:
                if name not in by_id:
                    raise DefinitionError(f"step {step.id}: after names no step {name!r}")
        graph = Graph.of((s.id, s.after) for s in self.steps)
        cycles = graph.cycles(limit=1)
        if cycles:
            raise DefinitionError(f"the steps form a cycle: {' -> '.join(cycles[0])}")
        object.__setattr__(self, "graph", graph)
        object.__setattr__(self, "order", graph.order())
        object.__setattr__(self, "_by_id", MappingProxyType(by_id))

    def step(self, step_id: str) -> StepDef:
        """The step named ``step_id``; ``KeyError`` if there is none."""
        return self._by_id[step_id]

    def __contains__(self, step_id: object) -> bool:
        return step_id in self._by_id

    def descendants(self, step_id: str) -> frozenset[str]:
        """Every step that depends on ``step_id``, directly or through others."""
        return self.graph.descendants[step_id]

    def ancestors(self, step_id: str) -> frozenset[str]:
        """Every step that ``step_id`` depends on, directly or through others."""
        return self.graph.ancestors[step_id]

    @cached_property
    def maps(self) -> tuple[str, ...]:
        """The map steps, in graph order."""
        return tuple(s for s in self.order if self._by_id[s].fans_out)

    @cached_property
    def pivots(self) -> tuple[str, ...]:
        """The pivot steps, in graph order."""
        return tuple(s for s in self.order if self._by_id[s].pivot)

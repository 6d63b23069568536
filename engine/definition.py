"""Workflow definitions as the engine reads them.

A ``sagaboard/v1`` spec, once the designer has validated it, becomes a frozen
:class:`Definition`: typed steps with the spec's defaults applied, and one
deterministic graph order that every part of the engine agrees on. Standard
library only, no I/O: this module is part of the engine's pure core.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from graphlib import CycleError, TopologicalSorter
from types import MappingProxyType
from typing import Any

__all__ = [
    "BUILTIN_RETRY",
    "BUILTIN_TIMEOUT_S",
    "Definition",
    "DefinitionError",
    "Jitter",
    "OnTimeout",
    "RetryPolicy",
    "StepDef",
    "StepType",
    "definition_from_spec",
]


class DefinitionError(ValueError):
    """The spec cannot be read as a definition (the validator should have refused it)."""


class StepType(StrEnum):
    """What a step does; see DESIGN.md "Step types"."""

    HTTP = "http"
    TASK = "task"
    APPROVAL = "approval"
    DELAY = "delay"
    CALLBACK = "callback"


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

    ``timeout_s`` bounds one attempt (and one compensation attempt); ``None``
    means no deadline. For an approval it is the time people have to decide,
    and ``on_timeout`` says what happens then; for a delay it is ``None`` and
    ``delay_s`` is the wait.
    """

    id: str
    type: StepType
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
    order: tuple[str, ...] = field(init=False, compare=False)
    _by_id: Mapping[str, StepDef] = field(init=False, repr=False, compare=False)
    _descendants: Mapping[str, frozenset[str]] = field(init=False, repr=False, compare=False)
    _ancestors: Mapping[str, frozenset[str]] = field(init=False, repr=False, compare=False)

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
        order = _graph_order(self.steps)
        descendants: dict[str, frozenset[str]] = {}
        children: dict[str, list[str]] = {s.id: [] for s in self.steps}
        for step in self.steps:
            for name in step.after:
                children[name].append(step.id)
        # Walking the order backwards sees every child before its parent.
        for step_id in reversed(order):
            found: set[str] = set()
            for child in children[step_id]:
                found.add(child)
                found |= descendants[child]
            descendants[step_id] = frozenset(found)
        ancestors: dict[str, frozenset[str]] = {}
        for step_id in order:
            parents = by_id[step_id].after
            found = set(parents)
            for parent in parents:
                found |= ancestors[parent]
            ancestors[step_id] = frozenset(found)
        object.__setattr__(self, "order", order)
        object.__setattr__(self, "_by_id", MappingProxyType(by_id))
        object.__setattr__(self, "_descendants", MappingProxyType(descendants))
        object.__setattr__(self, "_ancestors", MappingProxyType(ancestors))

    def step(self, step_id: str) -> StepDef:
        """The step named ``step_id``; ``KeyError`` if there is none."""
        return self._by_id[step_id]

    def __contains__(self, step_id: object) -> bool:
        return step_id in self._by_id

    def descendants(self, step_id: str) -> frozenset[str]:
        """Every step that depends on ``step_id``, directly or through others."""
        return self._descendants[step_id]

    def ancestors(self, step_id: str) -> frozenset[str]:
        """Every step that ``step_id`` depends on, directly or through others."""
        return self._ancestors[step_id]

    @property
    def pivots(self) -> tuple[str, ...]:
        """The pivot steps, in graph order."""
        return tuple(s for s in self.order if self._by_id[s].pivot)


def _graph_order(steps: tuple[StepDef, ...]) -> tuple[str, ...]:
    position = {s.id: i for i, s in enumerate(steps)}
    sorter: TopologicalSorter[str] = TopologicalSorter({s.id: s.after for s in steps})
    try:
        sorter.prepare()
    except CycleError as err:
        cycle = err.args[1] if len(err.args) > 1 else []
        raise DefinitionError(f"the steps form a cycle: {' -> '.join(cycle)}") from err
    # Of all the steps ready at once, the earliest in the spec goes first, so the
    # order is the same on every machine and reads like the spec.
    ready: list[tuple[int, str]] = []
    order: list[str] = []
    while sorter.is_active():
        for step_id in sorter.get_ready():
            heapq.heappush(ready, (position[step_id], step_id))
        _, step_id = heapq.heappop(ready)
        order.append(step_id)
        sorter.done(step_id)
    return tuple(order)


def definition_from_spec(spec: Mapping[str, Any]) -> Definition:
    """Read a validated ``sagaboard/v1`` spec as a :class:`Definition`.

    ``spec["defaults"]`` fills what a step leaves out, field by field (a step
    setting only ``retry.max_attempts`` keeps the default backoff); what the
    defaults leave out comes from the built-in ones (3 attempts, 1 s doubling
    up to 60 s with full jitter, 30 s per attempt). Approvals take their
    timeout from ``action.timeout_s`` and are never retried; delays wait
    ``action.seconds``.
    """
    defaults = spec.get("defaults") or {}
    default_timeout = float(defaults.get("timeout_s", BUILTIN_TIMEOUT_S))
    default_retry = _retry_policy(defaults.get("retry") or {}, BUILTIN_RETRY)
    steps = tuple(_step_def(raw, default_timeout, default_retry) for raw in spec.get("steps") or ())
    deadline = spec.get("deadline_s")
    return Definition(steps=steps, deadline_s=None if deadline is None else float(deadline))


def _step_def(
    raw: Mapping[str, Any], default_timeout: float, default_retry: RetryPolicy
) -> StepDef:
    try:
        step_id = str(raw["id"])
        step_type = StepType(raw["type"])
    except (KeyError, ValueError) as err:
        raise DefinitionError(f"step {raw.get('id', '?')}: {err}") from err
    action: Mapping[str, Any] = raw.get("action") or {}
    compensation: Mapping[str, Any] | None = raw.get("compensation")
    retry = _retry_policy(raw.get("retry") or {}, default_retry)
    timeout_s: float | None = (
        float(raw["timeout_s"]) if raw.get("timeout_s") is not None else default_timeout
    )
    on_timeout = OnTimeout.REJECT
    delay_s = 0.0
    if step_type is StepType.APPROVAL:
        timeout_s = float(action["timeout_s"]) if action.get("timeout_s") is not None else None
        on_timeout = OnTimeout(action.get("on_timeout", OnTimeout.REJECT))
        # A person's decision is final; the engine does not ask again on its own.
        retry = dataclasses.replace(retry, max_attempts=1)
    elif step_type is StepType.DELAY:
        delay_s = float(action.get("seconds", 0))
        timeout_s = None
    return StepDef(
        id=step_id,
        type=step_type,
        after=tuple(str(a) for a in raw.get("after") or ()),
        pivot=bool(raw.get("pivot", False)),
        has_compensation=compensation is not None,
        retry=retry,
        timeout_s=timeout_s,
        name=str(raw.get("name") or step_id),
        on_timeout=on_timeout,
        delay_s=delay_s,
        action=action,
        compensation=compensation,
    )


def _retry_policy(raw: Mapping[str, Any], base: RetryPolicy) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=int(raw.get("max_attempts", base.max_attempts)),
        initial_delay_s=float(raw.get("initial_delay_s", base.initial_delay_s)),
        backoff=float(raw.get("backoff", base.backoff)),
        max_delay_s=float(raw.get("max_delay_s", base.max_delay_s)),
        jitter=Jitter(raw.get("jitter", base.jitter)),
    )

"""Reading a validated ``sagaboard/v1`` spec as a :class:`~saga.definition.Definition`."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from saga.definition import (
    BUILTIN_RETRY,
    BUILTIN_TIMEOUT_S,
    Definition,
    DefinitionError,
    Jitter,
    RetryPolicy,
    StepDef,
)
from saga.steps import KINDS

__all__ = ["definition_from_spec"]


def definition_from_spec(spec: Mapping[str, Any]) -> Definition:
    """Read a validated ``sagaboard/v1`` spec as a :class:`Definition`.

    ``spec["defaults"]`` fills what a step leaves out, field by field (a step
    setting only ``retry.max_attempts`` keeps the default backoff); what the
    defaults leave out comes from the built-in ones (3 attempts, 1 s doubling
    up to 60 s with full jitter, 30 s per attempt). A step's kind then sets
    what it takes from its action (an approval's timeout, a delay's wait).
    """
    defaults = spec.get("defaults") or {}
    default_timeout = float(defaults.get("timeout_s", BUILTIN_TIMEOUT_S))
    default_retry = _retry_policy(defaults.get("retry") or {}, BUILTIN_RETRY)
    steps = tuple(_step_def(raw, default_timeout, default_retry) for raw in spec.get("steps") or ())
    deadline = spec.get("deadline_s")
    return Definition(
        steps=steps,
        deadline_s=None if deadline is None else float(deadline),
        output=spec.get("output"),
        search=MappingProxyType(dict(spec.get("search") or {})),
    )


def _step_def(
    raw: Mapping[str, Any], default_timeout: float, default_retry: RetryPolicy
) -> StepDef:
    try:
        step_id = str(raw["id"])
        kind = KINDS[raw["type"]]
    except KeyError as err:
        raise DefinitionError(f"step {raw.get('id', '?')}: unknown {err}") from err
    action: Mapping[str, Any] = raw.get("action") or {}
    compensation: Mapping[str, Any] | None = raw.get("compensation")
    timeout_s = float(raw["timeout_s"]) if raw.get("timeout_s") is not None else default_timeout
    retry = _retry_policy(raw.get("retry") or {}, default_retry)
    fields: dict[str, Any] = {
        "has_compensation": compensation is not None,
        **kind.settings(action, timeout_s=timeout_s, retry=retry),
    }
    fields.update(kind.nested(raw, lambda inner: _step_def(inner, timeout_s, retry)))
    return StepDef(
        id=step_id,
        type=kind.name,
        after=tuple(str(a) for a in raw.get("after") or ()),
        pivot=bool(raw.get("pivot", False)),
        name=str(raw.get("name") or step_id),
        action=action,
        compensation=compensation,
        when=raw.get("when") or None,
        **fields,
    )


def _retry_policy(raw: Mapping[str, Any], base: RetryPolicy) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=int(raw.get("max_attempts", base.max_attempts)),
        initial_delay_s=float(raw.get("initial_delay_s", base.initial_delay_s)),
        backoff=float(raw.get("backoff", base.backoff)),
        max_delay_s=float(raw.get("max_delay_s", base.max_delay_s)),
        jitter=Jitter(raw.get("jitter", base.jitter)),
    )

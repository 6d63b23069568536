"""Task activities: Python functions registered in code and run by Celery workers.

    @activity("demo.payments.charge", description="Charge a card")
    def charge(inp: ActivityInput) -> dict: ...

An activity receives one typed input and returns a JSON-serialisable result,
which becomes the step's output. It raises ``RetryableError`` for a failure worth
retrying and ``PermanentError`` for one that is not; any other exception counts as
retryable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ActivityInput:
    run_id: str
    step_id: str
    attempt: int
    idempotency_key: str
    args: dict[str, Any] = field(default_factory=dict)
    compensation: bool = False


class ActivityError(Exception):
    retryable = True


class RetryableError(ActivityError):
    retryable = True


class PermanentError(ActivityError):
    retryable = False


ActivityFunc = Callable[[ActivityInput], Any]


@dataclass(frozen=True)
class Activity:
    name: str
    func: ActivityFunc
    description: str
    side_effects: bool


_registry: dict[str, Activity] = {}


def activity(
    name: str, *, description: str | None = None, side_effects: bool = True
) -> Callable[[ActivityFunc], ActivityFunc]:
    """Register ``func`` as the task activity ``name``."""

    def register(func: ActivityFunc) -> ActivityFunc:
        doc = (func.__doc__ or "").strip().splitlines()
        _registry[name] = Activity(
            name=name,
            func=func,
            description=description if description is not None else (doc[0] if doc else ""),
            side_effects=side_effects,
        )
        return func

    return register


def get_activity(name: str) -> Activity | None:
    return _registry.get(name)


def all_activities() -> list[Activity]:
    return sorted(_registry.values(), key=lambda a: a.name)

"""What validation says of a spec: errors and warnings, each naming the step and field."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Catalog", "Issue", "did_you_mean"]


@dataclass(frozen=True)
class Issue:
    """One error or warning: ``step`` is a step id (or ``steps[i]``), ``field`` a
    dotted path inside the step (or inside the spec when ``step`` is None)."""

    step: str | None
    field: str | None
    message: str

    def as_dict(self) -> dict[str, str | None]:
        return {"step": self.step, "field": self.field, "message": self.message}


@dataclass(frozen=True)
class Catalog:
    """What a spec may refer to beyond itself, as the installation knows it: the task
    activities registered in code, each with whether it has side effects."""

    activities: Mapping[str, bool] = field(default_factory=dict)


def did_you_mean(name: str, options: list[str]) -> str:
    """`` (did you mean 'x'?)`` for the option closest to ``name``, or nothing."""
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""

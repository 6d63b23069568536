"""What validation says of a spec: errors and warnings, each naming the step and field."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Catalog", "Issue", "Published", "did_you_mean"]


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
class Published:
    """A workflow a child saga may call: whether it has a pivot, and which workflows its
    published version calls in turn."""

    pivot: bool = False
    calls: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Catalog:
    """What a spec may refer to beyond itself, as the installation knows it: the task
    activities registered in code, each with whether it has side effects; the workflows
    with a published version, by slug; and the workflow the spec is a version of."""

    activities: Mapping[str, bool] = field(default_factory=dict)
    workflows: Mapping[str, Published] = field(default_factory=dict)
    workflow: str | None = None

    def calls_back(self, slug: str) -> list[str] | None:
        """The chain of calls from ``slug`` back to this spec's workflow, if there is one."""
        if self.workflow is None:
            return None
        seen: set[str] = set()
        paths = [[slug]]
        while paths:
            path = paths.pop()
            if path[-1] == self.workflow:
                return path
            if path[-1] in seen:
                continue
            seen.add(path[-1])
            found = self.workflows.get(path[-1])
            paths += [[*path, nxt] for nxt in sorted(found.calls)] if found else []
        return None


def did_you_mean(name: str, options: list[str]) -> str:
    """`` (did you mean 'x'?)`` for the option closest to ``name``, or nothing."""
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""

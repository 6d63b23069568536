"""Recorded histories: the decisions of a real run, as JSON, to replay through the kernel.

A history is a JSON Lines file: a first line ``{"history": 1, "run", "spec"}``,
then one line per decision the engine took for the run, in the order they
were taken: ``{"before", "happening", "now", "jitter", "after", "commands",
"ignored"}``, states and commands as :func:`state_json` and
:func:`command_json` write them. :func:`replay` takes each decision again
from its recorded state and says where the kernel now decides otherwise, so a
change to ``decide`` that alters what recorded runs did is seen at once (as
Temporal's replayer does for workflow code). Standard library only.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from saga import commands as commands_module
from saga import happenings as happenings_module
from saga.acts import ActNotAllowed
from saga.commands import Command, Decision, Emit
from saga.decide import decide
from saga.definition import Definition
from saga.happenings import Happening
from saga.reading import definition_from_spec
from saga.state import Fan, RunState, StepState
from saga.vocabulary import EventType, RunStatus, StepStatus

__all__ = [
    "HISTORY_FORMAT",
    "Mismatch",
    "command_json",
    "decision_line",
    "happening_from_json",
    "happening_json",
    "read_history",
    "replay",
    "state_from_json",
    "state_json",
]

HISTORY_FORMAT = 1

_HAPPENINGS: dict[str, type] = {
    name: getattr(happenings_module, name)
    for name in happenings_module.__all__
    if dataclasses.is_dataclass(getattr(happenings_module, name))
}
_COMMANDS: dict[str, type] = {
    name: getattr(commands_module, name)
    for name in commands_module.__all__
    if dataclasses.is_dataclass(getattr(commands_module, name)) and name != "Decision"
}


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)  # a StrEnum member as its text
    return value


def _fields(value: Any) -> dict[str, Any]:
    """A happening's or a command's fields, without an ``index`` that names no iteration
    (so the histories recorded before maps read the same)."""
    found = _plain(dataclasses.asdict(value))
    if found.get("index", 0) is None:
        del found["index"]
    return found  # type: ignore[no-any-return]


def happening_json(happening: Happening) -> dict[str, Any]:
    """A happening as JSON: its type's name and its fields."""
    return {"type": type(happening).__name__, **_fields(happening)}


def happening_from_json(data: Mapping[str, Any]) -> Happening:
    fields = dict(data)
    cls = _HAPPENINGS[fields.pop("type")]
    return cls(**fields)  # type: ignore[no-any-return]


def command_json(command: Command) -> dict[str, Any]:
    """A command as JSON: its type's name and its fields."""
    return {"type": type(command).__name__, **_fields(command)}


def _step_json(step: StepState) -> dict[str, Any]:
    found: dict[str, Any] = _plain(
        {f.name: getattr(step, f.name) for f in dataclasses.fields(step) if f.name != "fan"}
    )
    if step.fan is not None:
        fan = step.fan
        found["fan"] = {
            "total": fan.total,
            "started": fan.started,
            "counts": {str(status): n for status, n in fan.counts.items()},
            "iterations": {str(i): _step_json(it) for i, it in fan.iterations.items()},
        }
    return found


def _step_from_json(raw: Mapping[str, Any]) -> StepState:
    fields = dict(raw)
    fields["status"] = StepStatus(fields["status"])
    fan = fields.pop("fan", None)
    if fan is not None:
        iterations = {int(i): _step_from_json(it) for i, it in fan.pop("iterations").items()}
        counts = {StepStatus(s): n for s, n in fan.pop("counts").items()}
        fields["fan"] = Fan(
            **fan,
            counts=MappingProxyType(counts),
            iterations=MappingProxyType(iterations),
        )
    return StepState(**fields)


def state_json(state: RunState) -> dict[str, Any]:
    """A run's state as JSON, without its definition (the history's first line holds the spec)."""
    return {
        "status": str(state.status),
        "compensating": state.compensating,
        "stalled": state.stalled,
        "deadline_at": state.deadline_at,
        "stuck_since": state.stuck_since,
        "finished_at": state.finished_at,
        "steps": {sid: _step_json(step) for sid, step in state.steps.items()},
    }


def state_from_json(definition: Definition, data: Mapping[str, Any]) -> RunState:
    steps = {sid: _step_from_json(raw) for sid, raw in data["steps"].items()}
    return RunState(
        definition=definition,
        status=RunStatus(data["status"]),
        steps=MappingProxyType(steps),
        compensating=data["compensating"],
        stalled=data["stalled"],
        deadline_at=data["deadline_at"],
        stuck_since=data["stuck_since"],
        finished_at=data["finished_at"],
    )


def decision_line(
    before: RunState, happening: Happening, now: float, jitter: float, decision: Decision
) -> dict[str, Any]:
    """One decision as a history records it."""
    return {
        "before": state_json(before),
        "happening": happening_json(happening),
        "now": now,
        "jitter": jitter,
        "ignored": decision.ignored,
        "after": state_json(decision.state),
        "commands": [command_json(c) for c in decision.commands],
    }


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as file:
        text = file.read()
    if path.name.endswith((".jsonl", ".jsonl.gz")):
        for line in text.splitlines():
            if line.strip():
                yield json.loads(line)
    else:  # one JSON document: {"history": ..., "decisions": [...]}
        document = json.loads(text)
        decisions = document.pop("decisions")
        yield document
        yield from decisions


def read_history(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A history's head (run, spec, what it covers) and its decisions."""
    lines = iter(_lines(path))
    head = next(lines)
    if head.get("history") != HISTORY_FORMAT:
        raise ValueError(f"{path}: not a history of format {HISTORY_FORMAT}")
    return head, list(lines)


@dataclasses.dataclass(frozen=True)
class Mismatch:
    """Where replaying a history decided otherwise than the recorded run."""

    index: int
    happening: dict[str, Any]
    what: str
    recorded: Any
    replayed: Any


def replay(head: Mapping[str, Any], decisions: Iterable[Mapping[str, Any]]) -> list[Mismatch]:
    """Take every recorded decision again; the differences, none when the kernel agrees."""
    definition = definition_from_spec(head["spec"])
    found: list[Mismatch] = []
    for index, line in enumerate(decisions):
        before = state_from_json(definition, line["before"])
        happening = happening_from_json(line["happening"])
        try:
            decision = decide(before, happening, now=line["now"], jitter=line["jitter"])
        except ActNotAllowed as exc:
            found.append(Mismatch(index, line["happening"], "refused", line["commands"], str(exc)))
            continue
        replayed = {
            "ignored": decision.ignored,
            "after": state_json(decision.state),
            "commands": [command_json(c) for c in decision.commands],
        }
        # A field the kernel's state gained since the recording holds its default there.
        recorded = {**line, "after": state_json(state_from_json(definition, line["after"]))}
        for what, value in replayed.items():
            if value != recorded[what]:
                found.append(Mismatch(index, line["happening"], what, recorded[what], value))
    return found


def events_of(decisions: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The events the recorded decisions emitted, in order: the run's event log."""
    return [
        c
        for line in decisions
        for c in line["commands"]
        if c["type"] == Emit.__name__ and EventType(c["event_type"])
    ]

"""The step kinds' registry: every kind answers what the house asks of it, and the schema,
validation, the simulation and decide all find it there."""

from __future__ import annotations

from typing import Any

import pytest

from saga import (
    EvaluateItems,
    ItemsEvaluated,
    RunStarted,
    StepStatus,
    decide,
    definition_from_spec,
    initial_state,
    simulate,
)
from saga.issues import Catalog, Published
from saga.rules import graph_issues
from saga.schema import SCHEMA
from saga.steps import KINDS, StepKind, kind_of

#: One step of each kind, as an author would write it.
EXAMPLES: dict[str, dict[str, Any]] = {
    "http": {"action": {"method": "POST", "url": "https://inventory.example/reservations"}},
    "task": {"action": {"name": "demo.noop"}},
    "approval": {"action": {"group": "managers", "timeout_s": 60}},
    "delay": {"action": {"seconds": 5}},
    "callback": {"action": {"method": "POST", "url": "https://kyc.example/checks"}},
    "map": {"items": "[1, 2, 3]", "do": {"type": "task", "action": {"name": "demo.noop"}}},
    "subsaga": {"action": {"workflow": "payment", "input": {"amount": 5}}},
}
CATALOG = Catalog({"demo.noop": False}, workflows={"payment": Published()})


def spec_of(kind: str) -> dict[str, Any]:
    return {"format": "sagaboard/v1", "steps": [{"id": "only", "type": kind, **EXAMPLES[kind]}]}


def test_every_kind_is_registered_once_under_its_name() -> None:
    assert set(EXAMPLES) == set(KINDS), "a new kind needs an example here"
    for name, kind in KINDS.items():
        assert isinstance(kind, StepKind) and kind.name == name and kind_of(name) is kind
        assert kind.label and kind.summary


@pytest.mark.parametrize("name", list(KINDS))
def test_the_schema_takes_each_kind_from_its_module(name: str) -> None:
    kind = KINDS[name]
    defs = SCHEMA["$defs"]
    assert name in defs["step"]["properties"]["type"]["enum"]
    assert kind.action_def in defs and all(d in defs for d in kind.schema_defs)
    rule = next(r for r in defs["step"]["allOf"] if r["if"]["properties"]["type"]["const"] == name)
    compensation = rule["then"]["properties"]["compensation"]
    assert compensation == (
        {"$ref": f"#/$defs/{kind.compensation_def}"} if kind.compensation_def else {"not": {}}
    )


@pytest.mark.parametrize("name", list(KINDS))
def test_each_kind_validates_simulates_and_begins(name: str) -> None:
    spec = spec_of(name)
    errors, _ = graph_issues(spec, CATALOG)
    assert errors == []
    definition = definition_from_spec(spec)
    assert simulate(definition).state.status == "completed"
    decision = decide(initial_state(definition), RunStarted(), now=100.0)
    asked = [c for c in decision.commands if isinstance(c, EvaluateItems)]
    if asked:  # a map begins once the shell has its items
        decision = decide(decision.state, ItemsEvaluated("only", 3), now=100.0)
    begun = decision.state.steps["only"]
    assert begun.status in (StepStatus.RUNNING, StepStatus.WAITING) and begun.attempt == 1
    started = [c for c in decision.commands if type(c).__name__ != "Emit"]
    assert len(started) == (3 if asked else 1)  # a map of 3 starts its 3 iterations


def test_a_kind_that_cannot_fail_is_not_failed_by_the_simulation() -> None:
    for name, kind in KINDS.items():
        definition = definition_from_spec(spec_of(name))
        if kind.can_fail:
            assert simulate(definition, "only").state.status != "completed"
        else:
            with pytest.raises(ValueError, match="does not fail"):
                simulate(definition, "only")

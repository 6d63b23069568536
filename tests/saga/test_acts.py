"""The acts' registry: each act is one module, and decide, the engine's offer and the API's
routes all find it there."""

from __future__ import annotations

from saga import ACTS, ApprovalDecided, EventType, RunAct
from saga.acts import act_of


def test_every_act_names_its_event_and_says_what_it_does() -> None:
    acts_events = {str(e) for e in EventType if e.is_act}
    assert {str(act.event) for act in ACTS.values()} == acts_events
    for name, act in ACTS.items():
        assert isinstance(act, RunAct) and act.name == name and act.summary
        assert act.event == f"act.{name}"


def test_a_happening_finds_the_act_it_carries() -> None:
    for act in ACTS.values():
        happening = act.make(step="s" if act.on_step else None, by="olga", reason="why")
        assert act_of(happening) is act
    assert act_of(ApprovalDecided("gate", False, "boss")).name == "reject"


def test_who_may_and_what_they_say() -> None:
    deciders = {name for name, act in ACTS.items() if act.who == "decider"}
    assert deciders == {"approve", "reject"}
    assert all(act.says == "comment" and not act.must_say for act in map(ACTS.get, deciders))
    operators = set(ACTS) - deciders
    assert all(ACTS[n].says == "reason" and ACTS[n].must_say for n in operators)

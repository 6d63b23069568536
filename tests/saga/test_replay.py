"""Recorded histories replayed through the kernel: every decision taken again, from its
recorded state, gives the same events, commands and state.

The corpus under tests/histories/ holds histories of real runs (demo traffic, the
chaos run, every step kind, every operator act), recorded by the engine itself
(``SAGABOARD_RECORD_HISTORIES``; tests/histories/record.py says how). A change to
``decide`` that alters what a recorded run did fails here until the histories are
recorded again, on purpose.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from saga.history import events_of, read_history, replay
from saga.steps import KINDS
from saga.vocabulary import TERMINAL, EventType

CORPUS = Path(__file__).resolve().parents[1] / "histories"
HISTORIES = sorted(p for p in CORPUS.iterdir() if p.name.endswith((".jsonl", ".jsonl.gz", ".json")))


def test_the_corpus_is_there() -> None:
    assert len(HISTORIES) >= 10, f"the replay corpus in {CORPUS} is missing"


@pytest.mark.parametrize("path", HISTORIES, ids=[p.name for p in HISTORIES])
def test_a_recorded_history_replays_the_same(path: Path) -> None:
    head, decisions = read_history(path)
    assert decisions, "a history holds at least the run's start"
    mismatches = replay(head, decisions)
    assert mismatches == [], (
        f"{path.name}: the kernel now decides otherwise than the recorded run; if that is "
        "meant, record the corpus again (tests/histories/record.py)"
    )


def _covered() -> tuple[set[str], set[str], set[str], set[str]]:
    kinds: set[str] = set()
    acts: set[str] = set()
    ends: set[str] = set()
    happenings: set[str] = set()
    for path in HISTORIES:
        head, decisions = read_history(path)
        types = {step["id"]: step["type"] for step in head["spec"]["steps"]}
        for event in events_of(decisions):
            if event["event_type"] == EventType.STEP_STARTED or (
                event["event_type"] == EventType.STEP_WAITING and event["step"]
            ):
                kinds.add(types[event["step"]])
            if EventType(event["event_type"]).is_act:
                acts.add(event["event_type"])
        ends.add(decisions[-1]["after"]["status"])
        happenings |= {d["happening"]["type"] for d in decisions}
    return kinds, acts, ends, happenings


def test_the_corpus_covers_every_step_kind_every_act_and_every_ending() -> None:
    kinds, acts, ends, happenings = _covered()
    assert kinds == set(KINDS)
    assert acts == {str(e) for e in EventType if e.is_act}
    assert {str(s) for s in TERMINAL} | {"stuck"} <= ends
    # What only happens to real runs: lost messages, timeouts, conditions evaluated.
    assert {"AttemptLost", "StepTimedOut", "ConditionEvaluated"} <= happenings

"""Between the pure core and the database: a run's rows as a RunState, and back.

The step rows hold the core's StepState (with columns for what the dashboards
and the reconciler query); the run row holds the run-level facts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from engine.core import (
    Definition,
    Emit,
    RunState,
    RunStatus,
    StepState,
    StepStatus,
    definition_from_spec,
)
from engine.models import Event, Run, StepRun


def to_dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=UTC)


def to_ts(dt: datetime | None) -> float | None:
    return None if dt is None else dt.timestamp()


@lru_cache(maxsize=256)
def _definition(version_id: int, content_hash: str, spec_json: str) -> Definition:
    import json

    return definition_from_spec(json.loads(spec_json))


def definition_for(run: Run) -> Definition:
    """The run's definition, built once per published version (they never change)."""
    import json

    version = run.version
    return _definition(version.pk, version.content_hash, json.dumps(version.spec))


def step_state(row: StepRun) -> StepState:
    core = row.core or {}
    return StepState(
        status=StepStatus(row.status),
        attempt=row.attempt,
        round_start=core.get("round_start", 1),
        compensation_attempt=row.compensation_attempt,
        compensation_round_start=core.get("compensation_round_start", 1),
        deadline_at=to_ts(row.deadline_at),
        due_at=to_ts(row.next_attempt_at),
        started_at=to_ts(row.started_at),
        finished_at=to_ts(row.finished_at),
        output=row.output,
        error=row.error or None,
    )


def run_state(run: Run, rows: Mapping[str, StepRun]) -> RunState:
    definition = definition_for(run)
    return RunState(
        definition=definition,
        status=RunStatus(run.status),
        steps=MappingProxyType({sid: step_state(rows[sid]) for sid in definition.order}),
        compensating=bool(run.core.get("compensating")),
        stalled=bool(run.core.get("stalled")),
    )


def new_rows(
    run: Run, definition: Definition, spec_steps: Iterable[Mapping[str, Any]]
) -> list[StepRun]:
    positions = {step["id"]: index for index, step in enumerate(spec_steps)}
    return [
        StepRun(
            run=run,
            step_id=sid,
            position=positions.get(sid, 0),
            type=str(definition.step(sid).type),
        )
        for sid in definition.order
    ]


def save_steps(rows: Mapping[str, StepRun], old: RunState, new: RunState) -> list[str]:
    """Write the steps whose state changed; returns their ids."""
    changed = []
    for sid, state in new.steps.items():
        before = old.steps[sid]
        if state == before:
            continue
        row = rows[sid]
        fields: dict[str, Any] = {
            "status": str(state.status),
            "attempt": state.attempt,
            "compensation_attempt": state.compensation_attempt,
            "deadline_at": to_dt(state.deadline_at),
            "next_attempt_at": to_dt(state.due_at),
            "started_at": to_dt(state.started_at),
            "finished_at": to_dt(state.finished_at),
            "output": state.output,
            "error": state.error or "",
            "core": {
                "round_start": state.round_start,
                "compensation_round_start": state.compensation_round_start,
            },
        }
        if state.started_at is not None and state.finished_at is not None:
            fields["latency_ms"] = round((state.finished_at - state.started_at) * 1000, 1)
        else:
            fields["latency_ms"] = None
        new_attempt = (
            state.attempt != before.attempt
            or state.compensation_attempt != before.compensation_attempt
            or (state.status != before.status and state.status is StepStatus.COMPENSATING)
        )
        if new_attempt:
            # A new attempt is free for the next worker to claim.
            fields["claimed_at"] = None
            fields["claimed_by"] = ""
            # A token handed out for an earlier attempt must not complete this one.
            fields["callback_token"] = None
        for name, value in fields.items():
            setattr(row, name, value)
        row.save(update_fields=[*fields, "updated_at"])
        changed.append(sid)
    return changed


def append_events(run: Run, events: Iterable[Emit], *, now: datetime) -> list[Event]:
    """Append ``events`` to the run's log, numbered after its last one."""
    rows = []
    for emit in events:
        run.last_seq += 1
        data = dict(emit.data)
        latency = data.pop("latency_ms", None)
        actor = data.pop("actor", "") or ""
        rows.append(
            Event(
                run=run,
                seq=run.last_seq,
                type=str(emit.event_type),
                step_id=emit.step or "",
                status=emit.status,
                attempt=emit.attempt,
                at=now,
                latency_ms=latency,
                error=emit.error or "",
                actor=actor,
                data=_jsonable(data),
            )
        )
    return Event.objects.bulk_create(rows)


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, float) and key in ("at", "until", "deadline_at"):
            out[key] = to_dt(value).isoformat()  # type: ignore[union-attr]
        else:
            out[key] = value
    return out

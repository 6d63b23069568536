"""Specs and runs as the end-to-end tests write them: steps of the demo participants,
sagas of those steps, and a run started and followed through the API."""

from __future__ import annotations

import time
from typing import Any

from rest_framework.test import APIClient

from engine.models import Event
from tests.factories import grant, make_published, make_workflow

TERMINAL = {"completed", "compensated", "cancelled"}
RETRY = {"max_attempts": 3, "initial_delay_s": 0.1, "backoff": 2, "max_delay_s": 1}


def title(sid: str) -> str:
    return sid.replace("_", " ").capitalize()


def task(
    sid: str,
    name: str,
    after: list[str] | None = None,
    comp: str | None = None,
    *,
    retry: dict[str, Any] = RETRY,
    **knobs: Any,
) -> dict[str, Any]:
    """A task step of activity ``name``; ``knobs`` go to it (latency_ms, fail_attempts...);
    ``comp`` names its compensation, given the step's output id."""
    step: dict[str, Any] = {
        "id": sid,
        "name": title(sid),
        "type": "task",
        "after": after or [],
        "action": {"name": name, "args": {"order": "{{ input.order_id }}", **knobs}},
        "timeout_s": 10,
        "retry": retry,
    }
    if comp:
        step["compensation"] = {"name": comp, "args": {"id": f"{{{{ steps.{sid}.output.id }}}}"}}
    return step


def approval(sid: str, after: list[str] | None = None, *, name: str = "") -> dict[str, Any]:
    """An approval gate for the group "managers"."""
    return {
        "id": sid,
        "name": name or title(sid),
        "type": "approval",
        "after": after or [],
        "action": {"group": "managers", "instructions": "Check it", "timeout_s": 3600},
    }


def saga(*steps: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A spec of ``steps`` whose input needs an ``order_id``."""
    return {
        "format": "sagaboard/v1",
        "input_schema": {
            "type": "object",
            "required": ["order_id"],
            "properties": {"order_id": {"type": "string"}, "amount": {"type": "integer"}},
        },
        "steps": list(steps),
        **fields,
    }


def client_for(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def publish(spec: dict[str, Any], operator: Any, slug: str = "orders") -> tuple[Any, APIClient]:
    """The workflow ``slug`` with ``spec`` published, and an API client of ``operator``,
    who may run and operate it."""
    workflow = make_workflow(slug)
    make_published(workflow, spec)
    grant(operator, workflow, "run_workflow", "operate_workflow")
    return workflow, client_for(operator)


def start(client: APIClient, slug: str = "orders", **body: Any) -> dict[str, Any]:
    """A run of ``slug`` (input ``{"order_id": "o-1"}`` unless ``body`` says)."""
    body.setdefault("input", {"order_id": "o-1"})
    response = client.post(f"/api/workflows/{slug}/runs/", body, format="json")
    assert response.status_code in (200, 201), response.json()
    return response.json()


def wait_for(client: APIClient, run_id: str, statuses: set[str], timeout: float = 30) -> dict:
    """The run, once its status is one of ``statuses``."""
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/api/runs/{run_id}/").json()
        if body["status"] in statuses:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"run stayed {body['status']}: {body['steps']}")
        time.sleep(0.05)


def events(run_id: str) -> list[tuple[str, str]]:
    """(type, step) of the run's events, in order."""
    return list(Event.objects.filter(run_id=run_id).order_by("seq").values_list("type", "step_id"))


def ledger(client: APIClient, run_id: str) -> list[dict[str, Any]]:
    """What the demo participants did for the run."""
    return client.get(f"/api/demo/ledger/?run={run_id}").json()

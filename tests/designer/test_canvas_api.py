"""The designer's own API: layout, simulation, groups and conversion; and its pages."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.test import Client
from rest_framework.test import APIClient

from designer.models import Version
from engine.models import Run
from tests.factories import GroupFactory, UserFactory, grant, make_published, make_workflow

pytestmark = pytest.mark.django_db

SAGA: dict[str, Any] = {
    "format": "sagaboard/v1",
    "steps": [
        {
            "id": "reserve",
            "type": "task",
            "action": {"name": "demo.inventory.reserve"},
            "compensation": {"name": "demo.inventory.release"},
        },
        {"id": "approve", "type": "approval", "after": ["reserve"], "action": {"group": "ops"}},
        {
            "id": "hold",
            "type": "task",
            "after": ["reserve"],
            "action": {"name": "demo.payments.charge"},
            "compensation": {"name": "demo.payments.refund"},
        },
        {"id": "cool", "type": "delay", "after": ["approve", "hold"], "action": {"seconds": 5}},
        {
            "id": "charge",
            "type": "task",
            "after": ["cool"],
            "pivot": True,
            "action": {"name": "demo.payments.charge"},
        },
        {
            "id": "ship",
            "type": "task",
            "after": ["charge"],
            "action": {"name": "demo.shipping.ship"},
        },
    ],
}


@pytest.fixture
def api() -> APIClient:
    client = APIClient()
    client.force_authenticate(UserFactory(username="ada"))
    return client


def saga() -> dict[str, Any]:
    return copy.deepcopy(SAGA)


# --- layout -----------------------------------------------------------------------------


def test_layout_places_every_step_left_to_right_in_the_order_they_run(api: APIClient) -> None:
    response = api.post("/api/layout/", {"spec": saga()}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    positions = body["positions"]
    assert set(positions) == {s["id"] for s in SAGA["steps"]}
    x = {sid: p["x"] for sid, p in positions.items()}
    assert x["reserve"] < x["approve"] < x["cool"] < x["charge"] < x["ship"]
    assert x["approve"] == x["hold"]  # parallel branches share a rank
    assert positions["approve"]["y"] != positions["hold"]["y"]
    # Boxes (240 x 78) never overlap, and all lie inside the reported size.
    boxes = list(positions.values())
    for i, a in enumerate(boxes):
        assert 0 <= a["x"] and a["x"] + 240 <= body["width"] + 1
        assert 0 <= a["y"] and a["y"] + 78 <= body["height"] + 1
        for b in boxes[i + 1 :]:
            assert abs(a["x"] - b["x"]) >= 240 or abs(a["y"] - b["y"]) >= 78


def test_layout_takes_half_drawn_specs_cycles_and_yaml_text(api: APIClient) -> None:
    spec = {
        "steps": [
            {"id": "a", "after": ["c", "nowhere"]},
            {"id": "b", "after": ["a"]},
            {"id": "c", "after": ["b"]},
            {"type": "task"},  # no id yet: not drawn
            "not a step",
        ]
    }
    response = api.post("/api/layout/", {"spec": spec}, format="json")
    assert response.status_code == 200, response.json()
    assert set(response.json()["positions"]) == {"a", "b", "c"}

    text = "steps:\n  - id: first\n  - id: second\n    after: [first]\n"
    response = api.post("/api/layout/", {"spec": text}, format="json")
    positions = response.json()["positions"]
    assert positions["first"]["x"] < positions["second"]["x"]

    empty = api.post("/api/layout/", {"spec": {"steps": []}}, format="json").json()
    assert empty == {"positions": {}, "width": 0, "height": 0}


def test_layout_refuses_what_is_not_a_graph_or_too_big(api: APIClient, settings: Any) -> None:
    response = api.post("/api/layout/", {"spec": {"steps": "many"}}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "spec.steps"
    settings.SAGABOARD_MAX_STEPS = 3
    many = {"steps": [{"id": f"s{i}"} for i in range(4)]}
    response = api.post("/api/layout/", {"spec": many}, format="json")
    assert response.status_code == 400
    assert "limit is 3" in response.json()["errors"][0]["message"]
    response = api.post("/api/layout/", {"spec": "steps: [a"}, format="json")
    assert response.status_code == 400
    assert "line 1" in response.json()["errors"][0]["message"]


_LAYOUT_IN_A_SERVER = """
import json, signal, django
django.setup()
signal.signal(signal.SIGTERM, lambda *_: print("stopping", flush=True))
from designer.canvas import layout_positions
print(json.dumps(layout_positions({"steps": [{"id": "a"}, {"id": "b", "after": ["a"]}]})))
"""


def test_a_layout_in_flight_finishes_when_the_server_is_told_to_stop(tmp_path: Path) -> None:
    # A server stopped with SIGTERM (or Ctrl-C) to its process group finishes the
    # requests it holds; dot, its child, must not die of the same signal.
    started = tmp_path / "dot-started"
    slow_dot = tmp_path / "dot"
    slow_dot.write_text(f'#!/bin/sh\ntouch {started}\nsleep 1\nexec {shutil.which("dot")} "$@"\n')
    slow_dot.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    env.setdefault("DJANGO_SETTINGS_MODULE", "sagaboard.settings")
    server = subprocess.Popen(
        [sys.executable, "-c", _LAYOUT_IN_A_SERVER],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while not started.exists():
        assert server.poll() is None, server.communicate()
        assert time.monotonic() < deadline, "dot never started"
        time.sleep(0.02)
    os.killpg(server.pid, signal.SIGTERM)
    out, err = server.communicate(timeout=30)
    assert server.returncode == 0, err
    lines = out.splitlines()
    assert lines[0] == "stopping"
    assert set(json.loads(lines[1])["positions"]) == {"a", "b"}


# --- simulate ---------------------------------------------------------------------------


def test_simulate_with_nothing_failing_completes_every_step(api: APIClient) -> None:
    response = api.post("/api/simulate/", {"spec": saga(), "fail_step": None}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["fail_step"] is None
    assert body["status"] == "completed"
    assert set(body["steps"].values()) == {"succeeded"}
    assert body["compensation_order"] == []
    assert body["path"][0] == "reserve" and body["path"][-2:] == ["charge", "ship"]
    assert body["events"][0] == {
        "seq": 1,
        "event": "run.started",
        "step": None,
        "status": "running",
        "attempt": None,
        "error": None,
    }
    assert body["events"][-1]["event"] == "run.completed"
    assert [e["seq"] for e in body["events"]] == list(range(1, len(body["events"]) + 1))


def test_simulate_a_failing_pivot_compensates_in_reverse_graph_order(api: APIClient) -> None:
    body = api.post("/api/simulate/", {"spec": saga(), "fail_step": "charge"}, format="json").json()
    assert body["status"] == "compensated"
    assert body["steps"]["charge"] == "failed"
    assert body["steps"]["ship"] == "pending"
    # hold ran after reserve, so it is undone first; approve and cool have nothing to undo.
    assert body["compensation_order"] == ["hold", "reserve"]
    assert body["steps"]["reserve"] == body["steps"]["hold"] == "compensated"
    assert body["steps"]["approve"] == "succeeded"
    started = [e["step"] for e in body["events"] if e["event"] == "step.compensation_started"]
    assert started == ["hold", "reserve"]


def test_simulate_a_failure_after_the_pivot_leaves_the_run_stuck(api: APIClient) -> None:
    body = api.post("/api/simulate/", {"spec": saga(), "fail_step": "ship"}, format="json").json()
    assert body["status"] == "stuck"
    assert body["compensation_order"] == []
    assert body["steps"]["charge"] == "succeeded" and body["steps"]["ship"] == "failed"


def test_simulate_a_rejected_approval_and_each_step_in_turn(api: APIClient) -> None:
    body = api.post("/api/simulate/", {"spec": saga(), "fail_step": "approve"}, format="json")
    assert body.json()["status"] == "compensated"
    assert body.json()["steps"]["approve"] == "failed"

    response = api.post(
        "/api/simulate/", {"spec": saga(), "fail_step": None, "fail_each": True}, format="json"
    )
    scenarios = response.json()["scenarios"]
    # Every step but the delay, in graph order.
    assert [s["fail_step"] for s in scenarios] == ["reserve", "approve", "hold", "charge", "ship"]
    outcome = {s["fail_step"]: s["status"] for s in scenarios}
    assert outcome == {
        "reserve": "compensated",
        "approve": "compensated",
        "hold": "compensated",
        "charge": "compensated",
        "ship": "stuck",
    }
    assert scenarios[0]["compensation_order"] == []


def test_simulate_each_step_in_turn_is_bounded(api: APIClient) -> None:
    chain = {
        "format": "sagaboard/v1",
        "steps": [
            {
                "id": f"s{i}",
                "type": "task",
                "after": [f"s{i - 1}"] if i else [],
                "action": {"name": "demo.noop"},
            }
            for i in range(61)
        ],
    }
    response = api.post("/api/simulate/", {"spec": chain, "fail_each": True}, format="json")
    assert response.status_code == 400
    assert "at most 60" in response.json()["errors"][0]["message"]
    # One chosen step still simulates.
    response = api.post("/api/simulate/", {"spec": chain, "fail_step": "s60"}, format="json")
    assert response.json()["status"] == "compensated"


def test_simulate_has_no_side_effects(api: APIClient) -> None:
    runs, versions = Run.objects.count(), Version.objects.count()
    api.post("/api/simulate/", {"spec": saga(), "fail_step": "charge"}, format="json")
    api.post("/api/simulate/", {"spec": saga(), "fail_each": True}, format="json")
    assert (Run.objects.count(), Version.objects.count()) == (runs, versions)


@pytest.mark.parametrize(
    ("spec_change", "fail_step", "field", "words"),
    [
        (None, "nowhere", "fail_step", "there is no step 'nowhere'"),
        (None, "cool", "fail_step", "a delay does not fail"),
        ("cycle", None, "after", "cycle: "),
        ("unknown", None, "action.name", "unknown task activity"),
    ],
)
def test_simulate_refuses_what_cannot_run(
    api: APIClient, spec_change: str | None, fail_step: str | None, field: str, words: str
) -> None:
    spec = saga()
    if spec_change == "cycle":
        spec["steps"][0]["after"] = ["ship"]
    elif spec_change == "unknown":
        spec["steps"][0]["action"]["name"] = "demo.nope"
    response = api.post("/api/simulate/", {"spec": spec, "fail_step": fail_step}, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert any(e["field"] == field and words in e["message"] for e in errors), errors


# --- groups and conversion --------------------------------------------------------------


def test_groups_lists_the_approver_groups_by_name(api: APIClient) -> None:
    for name in ("managers", "finance", "ops"):
        GroupFactory(name=name)
    response = api.get("/api/groups/")
    assert response.status_code == 200
    assert response.json() == [{"name": "finance"}, {"name": "managers"}, {"name": "ops"}]


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/groups/"),
        ("post", "/api/layout/"),
        ("post", "/api/simulate/"),
        ("post", "/api/convert/"),
    ],
)
def test_the_designer_api_needs_a_signed_in_user(method: str, url: str) -> None:
    response = getattr(APIClient(), method)(url, {"spec": saga()}, format="json")
    assert response.status_code == 401


def test_convert_parses_yaml_and_renders_yaml_and_json(api: APIClient) -> None:
    text = yaml.safe_dump(saga(), sort_keys=True)
    response = api.post("/api/convert/", {"spec": text, "format": "json"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["spec"] == SAGA
    assert json.loads(body["text"]) == SAGA
    # Keys come out in the order people read a step, not alphabetically.
    out = body["text"]
    assert out.index('"id"') < out.index('"type"') < out.index('"action"')

    rendered = api.post("/api/convert/", {"spec": saga(), "format": "yaml"}, format="json").json()
    assert yaml.safe_load(rendered["text"]) == SAGA
    assert rendered["text"].startswith("format: sagaboard/v1\n")

    response = api.post("/api/convert/", {"spec": "steps:\n  - id: [a", "format": "json"})
    assert response.status_code == 400
    assert re.search(r"line \d+, column \d+", response.json()["errors"][0]["message"])


# --- pages ------------------------------------------------------------------------------


def config_of(html: str) -> dict[str, Any]:
    match = re.search(r'<script id="designer-config" type="application/json">(.*?)</script>', html)
    assert match, "no designer-config"
    return json.loads(match.group(1))


def test_designer_pages_hand_their_data_to_the_bundle_without_inline_script(
    client: Client,
) -> None:
    owner = UserFactory(username="ada")
    workflow = make_workflow("orders", owner=owner)
    make_published(workflow)
    client.force_login(owner)

    html = client.get("/workflows/orders/designer/").content.decode()
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert 'type="application/json"' in tag or ('src="' in tag and 'type="module"' in tag), tag
    assert 'src="/static/build/designer.js"' in html
    config = config_of(html)
    assert config["api"] == "/api/"
    assert config["version"] is None and config["start"]["from"] == 1
    assert config["start"]["spec"]["steps"][0]["id"] == "reserve"
    assert config["can_create"] is True and config["published"] == 1
    assert "csrftoken" in client.cookies

    empty = config_of(client.get("/workflows/orders/designer/?from=empty").content.decode())
    assert empty["start"] == {
        "spec": {"format": "sagaboard/v1", "steps": []},
        "layout": {},
        "from": None,
    }

    opened = config_of(client.get("/workflows/orders/versions/1/designer/").content.decode())
    assert opened["version"]["number"] == 1
    assert opened["version"]["status"] == "published"
    assert "edit" not in opened["version"]["acts"]


def test_designer_pages_follow_the_workflow_permissions(client: Client) -> None:
    owner = UserFactory(username="ada")
    workflow = make_workflow("orders", owner=owner)
    make_published(workflow)
    viewer = grant(UserFactory(username="vic"), workflow, "view_workflow")
    stranger = UserFactory(username="sam")

    client.force_login(viewer)
    assert client.get("/workflows/orders/designer/").status_code == 403
    page = client.get("/workflows/orders/versions/1/designer/")
    assert page.status_code == 200
    assert config_of(page.content.decode())["can_create"] is False

    client.force_login(stranger)
    assert client.get("/workflows/orders/versions/1/designer/").status_code == 404
    assert client.get("/workflows/orders/designer/").status_code == 404

    client.logout()
    response = client.get("/workflows/orders/designer/")
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert client.get("/workflows/orders/versions/9/designer/").status_code == 302


def test_review_page_mounts_the_visual_diff_against_its_base(client: Client) -> None:
    owner = UserFactory(username="ada")
    workflow = make_workflow("orders", owner=owner)
    published = make_published(workflow)
    from designer import services

    draft, _ = services.version_create(workflow=workflow, by=owner, spec=published.spec)
    client.force_login(owner)
    html = client.get(f"/workflows/orders/versions/{draft.number}/review/").content.decode()
    root = re.search(r'<div id="review-diff-root"[^>]*>', html)
    assert root, "no visual diff on the review page"
    assert 'data-api="/api/"' in root.group(0)
    assert f'data-number="{draft.number}"' in root.group(0) and 'data-against="1"' in root.group(0)
    assert "<script>" not in html

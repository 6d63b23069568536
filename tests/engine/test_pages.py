"""The live pages (board, run, workflow overview) and the API behind them: who sees
what, the board's filters and keyset pagination, and the overview's figures.

Runs are moved through the engine's services with approval gates, which need no
worker: a gate waits until someone decides it.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from engine import services
from engine.models import Event, Run
from engine.stats import workflow_stats
from tests.factories import UserFactory, grant, make_published, make_workflow

pytestmark = pytest.mark.django_db

ZERO_RUN = "00000000-0000-0000-0000-000000000000"


def gates(*, pivot: bool = False) -> dict[str, Any]:
    """check -> sign: two approval gates of the group "managers"; the first is the pivot
    when ``pivot``, so that a rejected second gate leaves the run stuck, not compensated."""
    first: dict[str, Any] = {
        "id": "check",
        "name": "Check the order",
        "type": "approval",
        "action": {"group": "managers", "timeout_s": 3600},
    }
    if pivot:
        first["pivot"] = True
    return {
        "format": "sagaboard/v1",
        "steps": [
            first,
            {
                "id": "sign",
                "name": "Sign off",
                "type": "approval",
                "after": ["check"],
                "action": {"group": "managers", "timeout_s": 3600},
            },
        ],
    }


@pytest.fixture
def boss():
    return UserFactory(username="boss", is_staff=True)


@pytest.fixture
def orders(boss):
    workflow = make_workflow("orders")
    make_published(workflow, gates(pivot=True))
    return workflow


@pytest.fixture
def secret(boss):
    workflow = make_workflow("secret")
    make_published(workflow, gates())
    return workflow


@pytest.fixture
def viewer(orders):
    return grant(UserFactory(username="vera"), orders, "view_workflow")


@pytest.fixture
def operator(orders):
    return grant(UserFactory(username="olga"), orders, "view_workflow", "operate_workflow")


def start(workflow, by) -> Run:
    run, _ = services.run_start(workflow=workflow, by=by, input={})
    return run


def stuck_run(workflow, boss) -> Run:
    run = start(workflow, boss)
    services.run_step_decide(run=run, step="check", by=boss, approved=True)
    services.run_step_decide(run=run, step="sign", by=boss, approved=False, comment="no budget")
    run.refresh_from_db()
    assert run.status == "stuck"
    return run


def page(user, url: str):
    client = Client()
    client.force_login(user)
    return client.get(url)


def config(response, name: str) -> dict[str, Any]:
    """The data a page hands its island, read back from the json_script block."""
    match = re.search(
        rf'<script id="{name}" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert match, f"no #{name} on the page"
    return json.loads(match[1])


def assert_no_inline_script(response) -> None:
    for tag in re.findall(r"<script\b[^>]*>", response.content.decode()):
        assert "src=" in tag or 'type="application/json"' in tag, tag


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


# ----------------------------------------------------------------------------- the board


def test_board_needs_a_login(orders):
    response = Client().get("/runs/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_board_lists_only_runs_of_visible_workflows_stuck_on_top(orders, secret, boss, viewer):
    waiting = start(orders, boss)
    stuck = stuck_run(orders, boss)
    start(secret, boss)
    response = page(viewer, "/runs/")
    assert response.status_code == 200
    assert_no_inline_script(response)
    data = config(response, "board-config")
    assert [r["id"] for r in data["runs"]["results"]] == [str(stuck.pk), str(waiting.pk)]
    assert [r["id"] for r in data["stuck"]["results"]] == [str(stuck.pk)]
    top = data["stuck"]["results"][0]
    assert top["stuck_step"] == "sign" and "no budget" in top["stuck_error"]
    assert top["stuck_since"]
    html = response.content.decode()
    assert "Secret" not in html and "secret" not in json.dumps(data)
    assert 'aria-current="page">Board</a>' in html


def test_board_filters_by_workflow_status_and_time(orders, secret, boss):
    a = start(orders, boss)
    b = stuck_run(orders, boss)
    c = start(secret, boss)
    Run.objects.filter(pk=c.pk).update(created_at=timezone.now() - timedelta(days=3))

    def ids(query: str) -> list[str]:
        response = page(boss, f"/runs/?{query}")
        assert response.status_code == 200, response.content
        return [r["id"] for r in config(response, "board-config")["runs"]["results"]]

    assert set(ids("")) == {str(a.pk), str(b.pk), str(c.pk)}
    assert ids("workflow=secret") == [str(c.pk)]
    assert ids("status=stuck") == [str(b.pk)]
    services.run_cancel(run=a, by=boss, reason="duplicate order")
    assert set(ids("status=active")) == {str(b.pk), str(c.pk)}
    assert set(ids("period=24h")) == {str(a.pk), str(b.pk)}
    assert ids("period=24h&status=cancelled") == [str(a.pk)]
    since = (timezone.now() - timedelta(days=4)).strftime("%Y-%m-%dT%H:%M")
    until = (timezone.now() - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    assert ids(f"period=custom&since={since}&until={until}") == [str(c.pk)]


def test_board_says_what_is_wrong_with_a_filter(boss, orders):
    response = page(boss, "/runs/?since=yesterday")
    assert response.status_code == 400
    html = response.content.decode()
    assert "The filters were not applied" in html
    # By its field, which shows (the range is chosen) and points to it.
    assert 'aria-describedby="f-since-error"' in html
    assert re.search(r'id="f-since-error"[^>]*>not an ISO 8601 date or date-time<', html)
    assert re.search(r'<option value="custom" selected>', html)


# ----------------------------------------------------------------------------- a run


def test_run_page_hands_the_island_the_run_its_log_and_graph(orders, boss, viewer):
    run = stuck_run(orders, boss)
    response = page(viewer, f"/runs/{run.pk}/")
    assert response.status_code == 200
    assert_no_inline_script(response)
    assert 'src="/static/build/run.js"' in response.content.decode()
    data = config(response, "run-config")
    assert data["ws"] == f"/ws/runs/{run.pk}/"
    assert data["run"]["status"] == "stuck"
    assert [s["id"] for s in data["spec"]["steps"]] == ["check", "sign"]
    assert [e["seq"] for e in data["events"]] == list(range(1, run.last_seq + 1))
    reject = next(e for e in data["events"] if e["event"] == "act.reject")
    assert reject["actor"] == "boss" and reject["data"]["reason"] == "no budget"
    # A viewer may look, not act.
    assert data["run"]["acts"] == {"run": [], "steps": {}}


def test_run_page_offers_the_acts_the_user_may_do_now(orders, boss, operator):
    run = stuck_run(orders, boss)
    acts = config(page(operator, f"/runs/{run.pk}/"), "run-config")["run"]["acts"]
    assert acts["steps"] == {"sign": ["retry", "skip"]}
    assert "cancel" in acts["run"]


def test_run_page_shows_user_text_as_text(orders, boss):
    run = start(orders, boss)
    services.run_step_decide(
        run=run, step="check", by=boss, approved=True, comment="</script><script>alert(1)"
    )
    response = page(boss, f"/runs/{run.pk}/")
    assert "</script><script>alert(1)" not in response.content.decode()
    events = config(response, "run-config")["events"]
    approve = next(e for e in events if e["event"] == "act.approve")
    assert approve["data"]["reason"] == "</script><script>alert(1)"


@pytest.mark.parametrize("path", ["/runs/{run}/", "/workflows/secret/overview/"])
def test_pages_are_404_without_view_permission(secret, boss, viewer, path):
    run = start(secret, boss)
    assert page(viewer, path.format(run=run.pk)).status_code == 404


def test_unknown_runs_are_404(viewer):
    assert page(viewer, f"/runs/{ZERO_RUN}/").status_code == 404
    assert page(viewer, "/runs/not-a-run/").status_code == 404


# ----------------------------------------------------------------------------- overview


def test_overview_page_is_linked_from_the_workflow_and_hands_over_its_figures(orders, viewer):
    detail = page(viewer, "/workflows/orders/").content.decode()
    assert 'href="/workflows/orders/overview/"' in detail
    response = page(viewer, "/workflows/orders/overview/?minutes=15")
    assert response.status_code == 200
    assert_no_inline_script(response)
    data = config(response, "overview-config")
    assert data["ws"] == "/ws/workflows/orders/"
    assert data["stats"]["window"]["minutes"] == 15


def test_overview_page_is_in_the_workflows_section_of_the_nav(orders, viewer):
    """Its breadcrumb says Workflows, and so does the top bar; the board is another page."""
    html = page(viewer, "/workflows/orders/overview/").content.decode()
    assert 'aria-current="page">Workflows</a>' in html
    assert 'aria-current="page">Board</a>' not in html


def test_stats_rates_latencies_and_stuck_runs(orders, boss, viewer):
    completed = start(orders, boss)
    for step in ("check", "sign"):
        services.run_step_decide(run=completed, step=step, by=boss, approved=True)
    stuck = stuck_run(orders, boss)
    start(orders, boss)
    start(orders, boss)
    old = start(orders, boss)
    Run.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=2))
    # Latencies of "check": 0..100 ms, whose percentiles fall on whole values, each its
    # own attempt (beside the five runs' first attempts at it, which waited).
    Event.objects.filter(type__in=["step.succeeded", "step.failed"]).delete()
    now = timezone.now()
    Event.objects.bulk_create(
        Event(
            run=completed,
            seq=1000 + i,
            type="step.succeeded",
            step_id="check",
            attempt=i + 2,
            at=now,
            latency_ms=float(i),
            status="succeeded",
        )
        for i in range(101)
    )
    Event.objects.create(
        run=stuck,
        seq=2000,
        type="step.failed",
        step_id="sign",
        attempt=1,
        at=now,
        latency_ms=7.0,
        status="failed",
    )
    response = api(viewer).get("/api/workflows/orders/stats/?minutes=60")
    assert response.status_code == 200
    data = response.json()
    assert data["started"] == 4
    assert data["standing"]["completed"] == 1 and data["standing"]["stuck"] == 1
    assert data["rates"] == {"completed": 0.25, "compensated": 0.0, "stuck": 0.25}
    # The four started in the minute still going, which is not counted yet; the workflow
    # ran before (two hours ago), so the last five whole minutes count, and had none.
    assert (data["runs_per_minute"], data["rate_minutes"]) == (0.0, 5)
    assert data["stuck_now"] == 1 and data["active"] == 4
    check, sign = data["steps"]
    assert (check["step"], check["name"], check["attempts"], check["failed"]) == (
        "check",
        "Check the order",
        106,
        0,
    )
    assert (check["p50_ms"], check["p95_ms"], check["p99_ms"]) == (50.0, 95.0, 99.0)
    # Two runs reached "sign": the completed one, and the stuck one, where it failed.
    assert (sign["step"], sign["attempts"], sign["failed"], sign["p99_ms"]) == ("sign", 2, 1, 7.0)
    assert sum(data["series"]["started"]) == 4
    assert sum(data["series"]["completed"]) == 1 and sum(data["series"]["stuck"]) == 1
    assert len(data["series"]["t"]) == 60
    assert [r["id"] for r in data["stuck_runs"]] == [str(stuck.pk)]
    assert data["stuck_runs"][0]["stuck_step"] == "sign"


def _started_at(workflow, by, *times) -> None:
    for at in times:
        run = start(workflow, by)
        Run.objects.filter(pk=run.pk).update(created_at=at)


def test_runs_per_minute_is_the_rate_of_the_last_whole_minutes(orders, boss):
    """Not the window's count over its length: traffic of ten runs a minute that began three
    minutes ago reads ten a minute, not a sixth of it (30 runs over an hour's window)."""
    current = timezone.now().replace(second=0, microsecond=0)
    now = current + timedelta(seconds=30)
    minute, second = timedelta(minutes=1), timedelta(seconds=1)
    # Ten in each of the three whole minutes before the current one, two in the current.
    _started_at(
        orders, boss, *[current - k * minute + s * second for k in (1, 2, 3) for s in range(10)]
    )
    _started_at(orders, boss, current + second, current + 2 * second)
    data = workflow_stats(orders, minutes=60, now=now)
    assert data["started"] == 32
    assert (data["runs_per_minute"], data["rate_minutes"]) == (10.0, 3)

    # Once the workflow has a run older than the last five whole minutes, all five count.
    _started_at(orders, boss, current - 30 * minute)
    data = workflow_stats(orders, minutes=60, now=now)
    assert (data["runs_per_minute"], data["rate_minutes"]) == (6.0, 5)


def test_runs_per_minute_of_a_workflow_without_runs_is_zero(orders, viewer):
    data = api(viewer).get("/api/workflows/orders/stats/").json()
    assert (data["runs_per_minute"], data["rate_minutes"]) == (0.0, 5)


def test_runs_per_minute_waits_for_the_first_whole_minute(orders, boss):
    """A first run in the minute still going gives no rate yet, rather than a made-up one."""
    run = start(orders, boss)
    data = workflow_stats(orders, minutes=60, now=run.created_at)
    assert (data["runs_per_minute"], data["rate_minutes"]) == (None, 0)


def test_stats_compute_the_same_percentiles_without_postgresql(orders, boss, monkeypatch):
    run = start(orders, boss)
    now = timezone.now()
    Event.objects.bulk_create(
        Event(
            run=run,
            seq=1000 + i,
            type="step.succeeded",
            step_id="check",
            at=now,
            latency_ms=float(i * i),
            status="succeeded",
        )
        for i in range(1, 38)
    )
    in_sql = workflow_stats(orders, minutes=60)["steps"]
    from django.db import connection

    monkeypatch.setattr(connection, "vendor", "sqlite")
    assert workflow_stats(orders, minutes=60)["steps"] == in_sql


def test_stats_are_404_without_view_permission(secret, viewer):
    assert api(viewer).get("/api/workflows/secret/stats/").status_code == 404


def test_stats_fall_back_to_the_default_window(orders, viewer):
    data = api(viewer).get("/api/workflows/orders/stats/?minutes=7").json()
    assert data["window"]["minutes"] == 60


# ----------------------------------------------------------------------------- run list API


def test_run_list_keyset_pages_cover_every_run_once_newest_first(orders, boss):
    runs = [start(orders, boss) for _ in range(7)]
    # Two with the same creation time: the id breaks the tie, so no page skips one.
    same = timezone.now() - timedelta(minutes=1)
    Run.objects.filter(pk__in=[runs[2].pk, runs[3].pk]).update(created_at=same)
    client = api(boss)
    seen: list[str] = []
    url = "/api/runs/?page_size=3"
    while url:
        body = client.get(url).json()
        assert len(body["results"]) <= 3
        seen += [r["id"] for r in body["results"]]
        url = body["next"]
    expected = list(Run.objects.order_by("-created_at", "-id").values_list("id", flat=True))
    assert seen == [str(pk) for pk in expected]


def test_run_list_filters_and_stuck_order(orders, secret, boss, viewer):
    first = stuck_run(orders, boss)
    second = stuck_run(orders, boss)
    Run.objects.filter(pk=second.pk).update(stuck_since=timezone.now() - timedelta(hours=1))
    start(orders, boss)
    start(secret, boss)
    client = api(viewer)
    body = client.get("/api/runs/?order=stuck").json()
    assert [r["id"] for r in body["results"]] == [str(second.pk), str(first.pk)]
    assert body["results"][0]["stuck_step"] == "sign"
    assert body["results"][0]["workflow_name"] == "Orders"
    # The contract's filters, unchanged.
    assert len(client.get("/api/runs/?workflow=orders&status=stuck").json()["results"]) == 2
    assert len(client.get("/api/runs/?status=waiting,stuck").json()["results"]) == 3
    # Nothing of the secret workflow, however asked.
    assert client.get("/api/runs/?workflow=secret").json()["results"] == []
    until = (timezone.now() - timedelta(minutes=5)).isoformat()
    assert client.get("/api/runs/", {"until": until}).json()["results"] == []


@pytest.mark.parametrize(
    "query, field",
    [
        ("status=bogus", "status"),
        ("since=soon", "since"),
        ("order=random", "order"),
        ("since=2025-01-02&until=2025-01-01", "until"),
    ],
)
def test_run_list_refuses_bad_filters(viewer, query, field):
    response = api(viewer).get(f"/api/runs/?{query}")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field

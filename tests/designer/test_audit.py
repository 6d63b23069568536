"""The audit log: what reviews, publications and permission changes write, who sees
which entries, the filters and their refusals, the pages of ``GET /api/audit/``, the CSV
export and the page ``/audit/``. (The acts on runs: tests/engine/test_audit_acts.py.)"""

from __future__ import annotations

import copy
import csv
import io
import json
import warnings
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client
from django.utils import timezone
from rest_framework.test import APIClient

from designer import services
from designer.audit import AUDIT_ACTS, record
from designer.audit_log import CSV_CHUNK
from designer.models import AuditEntry
from tests.conftest import SPEC
from tests.factories import GroupFactory, UserFactory, grant, make_workflow

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def listed(client: APIClient, **query: Any) -> list[dict[str, Any]]:
    response = client.get("/api/audit/", query)
    assert response.status_code == 200, response.json()
    return response.json()["results"]


@pytest.fixture
def alice():
    return UserFactory(username="alice")


@pytest.fixture
def rita():
    return UserFactory(username="rita")


@pytest.fixture
def orders(alice, rita):
    workflow = make_workflow("orders", owner=alice)
    grant(rita, workflow, "review_workflow")
    return workflow


def test_a_version_s_submit_review_and_publish_are_entries(alice, rita, orders):
    version, _ = services.version_create(workflow=orders, by=alice, spec=copy.deepcopy(SPEC))
    services.version_submit(version=version, by=alice)
    services.version_review(version=version, by=rita, decision="request_changes", comment="no")
    services.version_submit(version=version, by=alice)
    services.version_review(version=version, by=rita, decision="approve", comment="good now")
    services.version_publish(version=version, by=alice)

    entries = listed(client_for(alice))
    assert [e["act"] for e in entries] == [
        "version.publish",
        "version.review",
        "version.submit",
        "version.review",
        "version.submit",
    ]
    publish, approve, submit, changes, _ = entries
    assert publish["actor"] == "alice" and publish["workflow"] == "orders"
    assert publish["version"] == 1 and publish["run"] is None and publish["bulk"] is None
    assert publish["changes"] == {"status": ["approved", "published"]}
    assert approve["actor"] == "rita" and approve["reason"] == "good now"
    assert approve["detail"] == {"decision": "approve"}
    assert approve["changes"] == {"status": ["in_review", "approved"]}
    assert changes["reason"] == "no" and changes["detail"] == {"decision": "request_changes"}
    assert changes["changes"] == {"status": ["in_review", "draft"]}
    assert submit["changes"] == {"status": ["draft", "in_review"]} and submit["reason"] == ""
    assert set(publish) == {
        "id",
        "at",
        "actor",
        "act",
        "workflow",
        "workflow_name",
        "run",
        "bulk",
        "version",
        "reason",
        "changes",
        "detail",
    }
    # Drafts made and changed are the workflow's history, not the log's.
    assert AuditEntry.objects.filter(act="version.create").exists()
    assert not listed(client_for(alice), act="version.submit", actor="nobody")


def test_a_permission_change_is_an_entry_by_api_and_by_page(alice, rita, orders):
    GroupFactory(name="managers")
    response = client_for(alice).put(
        "/api/workflows/orders/permissions/",
        {"users": {"alice": ["view_workflow"], "rita": ["view_workflow"]}, "groups": {}},
        format="json",
    )
    assert response.status_code == 200
    (entry,) = listed(client_for(alice), act="workflow.permissions")
    assert entry["actor"] == "alice" and entry["workflow"] == "orders"
    before, after = entry["changes"]["permissions"]
    assert before["users"]["rita"] == ["review_workflow"]
    assert after["users"]["rita"] == ["view_workflow"]

    page = Client()
    page.force_login(alice)
    response = page.post(
        "/workflows/orders/permissions/", {"user:alice": ["view_workflow", "change_workflow"]}
    )
    assert response.status_code == 302
    assert len(listed(client_for(alice), act="workflow.permissions")) == 2


def test_each_user_sees_the_entries_of_the_workflows_they_may_view(alice, rita, orders):
    bob = UserFactory(username="bob")
    make_workflow("payments", owner=bob)
    viewer = grant(UserFactory(username="vera"), orders, "view_workflow")
    record(act="act.cancel", by=alice, workflow=orders, reason="on orders")
    record(act="act.cancel", by=bob, workflow=orders.pk + 1, reason="on payments")

    assert [e["reason"] for e in listed(client_for(viewer))] == ["on orders"]
    assert [e["reason"] for e in listed(client_for(bob))] == ["on payments"]
    assert listed(client_for(UserFactory(username="nobody"))) == []
    staff = client_for(UserFactory(username="sam", is_staff=True))
    assert [e["reason"] for e in listed(staff)] == ["on payments", "on orders"]
    # Naming a workflow one may not see shows nothing of it.
    assert listed(client_for(viewer), workflow="payments") == []
    assert APIClient().get("/api/audit/").status_code == 401


def test_filters_narrow_the_log(alice, rita, orders):
    make_workflow("payments", owner=alice)
    old = record(act="act.retry", by=alice, workflow=orders, reason="old")
    AuditEntry.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    record(act="act.skip", by=rita, workflow=orders, reason="rita skipped")
    record(act="version.submit", by=alice, workflow=orders.pk + 1, reason="payments")
    client = client_for(alice)

    def reasons(**query: Any) -> list[str]:
        return [e["reason"] for e in listed(client, **query)]

    assert reasons(actor="rita") == ["rita skipped"]
    assert reasons(actor="alice,rita") == ["payments", "rita skipped", "old"]
    assert reasons(act="act.retry,act.skip") == ["rita skipped", "old"]
    assert reasons(workflow="payments") == ["payments"]
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert reasons(since=since) == ["payments", "rita skipped"]
    assert reasons(until=since) == ["old"]
    assert reasons(since=since, workflow="orders", act="act.skip") == ["rita skipped"]


@pytest.mark.parametrize(
    "query, field",
    [
        ({"act": "act.retry,act.dance"}, "act"),
        ({"act": "workflow.create"}, "act"),  # the workflow's history, not the log's
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-40"}, "until"),
        ({"since": "2026-01-02", "until": "2026-01-01"}, "until"),
    ],
)
def test_bad_filters_are_400_naming_the_field(alice, orders, query, field):
    for path in ("/api/audit/", "/api/audit/csv/"):
        response = client_for(alice).get(path, query)
        assert response.status_code == 400
        body = response.json()
        assert [e["field"] for e in body["errors"]] == [field] and body["detail"]


def test_a_refused_csv_export_is_json_even_when_csv_was_asked_for(alice, orders):
    query = {"since": "2026-01-02", "until": "2026-01-01"}
    client = client_for(alice)
    for asked in ({"format": "csv"}, {"HTTP_ACCEPT": "text/csv"}):
        extra = {k: v for k, v in asked.items() if k.startswith("HTTP_")}
        params = query | {k: v for k, v in asked.items() if not k.startswith("HTTP_")}
        response = client.get("/api/audit/csv/", params, **extra)
        assert response.status_code == 400
        assert response["Content-Type"].startswith("application/json")
        assert [e["field"] for e in response.json()["errors"]] == ["until"]


def test_pages_follow_by_cursor_newest_first(alice, orders):
    for n in range(5):
        record(act="act.cancel", by=alice, workflow=orders, reason=f"r{n}")
    client = client_for(alice)
    seen: list[str] = []
    url = "/api/audit/?page_size=2"
    while url:
        body = client.get(url).json()
        assert len(body["results"]) <= 2
        seen += [e["reason"] for e in body["results"]]
        url = body["next"]
    assert seen == ["r4", "r3", "r2", "r1", "r0"]


def test_the_csv_export_holds_the_filtered_entries(alice, rita, orders):
    run = "8c3f0e2a-1111-4222-8333-444455556666"
    record(
        act="act.skip",
        by=rita,
        workflow=orders,
        run=run,
        reason='=HYPERLINK("http://evil")',
        detail={"step": "pack", "index": 3},
    )
    record(act="act.retry", by=alice, workflow=orders, run=run, reason='again, "quoted"')
    response = client_for(alice).get("/api/audit/csv/", {"actor": "rita,alice"})
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="sagaboard-audit-')
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["act"] for r in rows] == ["act.retry", "act.skip"]
    retry, skip = rows
    assert retry["reason"] == 'again, "quoted"' and retry["actor"] == "alice"
    assert retry["run"] == run and retry["workflow"] == "orders" and retry["step"] == ""
    assert (skip["step"], skip["index"]) == ("pack", "3")
    # A cell a spreadsheet would take for a formula is text.
    assert skip["reason"] == '\'=HYPERLINK("http://evil")'
    assert list(rows[0]) == [
        "at",
        "actor",
        "act",
        "workflow",
        "run",
        "bulk",
        "version",
        "step",
        "index",
        "reason",
        "changes",
        "detail",
    ]
    only = client_for(alice).get("/api/audit/csv/", {"act": "act.skip"})
    lines = b"".join(only.streaming_content).decode().splitlines()
    assert len(lines) == 2 and "act.skip" in lines[1]


def test_every_act_of_the_vocabulary_can_be_recorded_and_nothing_else(alice, orders):
    for act in AUDIT_ACTS:
        record(act=act, by=None, workflow=orders)
    assert {e["act"] for e in listed(client_for(alice), page_size=100)} == set(AUDIT_ACTS)
    assert listed(client_for(alice), page_size=1)[0]["actor"] is None
    with pytest.raises(ValueError, match="no act of the audit log"):
        record(act="act.dance", by=alice, workflow=orders)


def test_the_page_shows_the_first_entries_and_the_filters(alice, rita, orders):
    record(act="act.skip", by=rita, workflow=orders, reason="skipped <b>now</b>")
    client = Client()
    client.force_login(alice)
    response = client.get("/audit/", {"act": "act.skip", "workflow": "orders"})
    assert response.status_code == 200
    page = response.content.decode()
    assert '<a href="/audit/" aria-current="page">Audit log</a>' in page
    assert 'href="/api/audit/csv/?act=act.skip&amp;workflow=orders"' in page
    assert '<option value="act.skip" selected>' in page
    assert "<b>now</b>" not in page  # the reason is data for the island, escaped
    config = json.loads(page.split('id="audit-config" type="application/json">')[1].split("<")[0])
    assert config["query"] == {"act": "act.skip", "workflow": "orders"}
    assert [e["reason"] for e in config["entries"]] == ["skipped <b>now</b>"]
    assert config["filtered"] is True and config["next"] is None

    refused = client.get("/audit/", {"since": "soon"}).content.decode()
    assert "The filters were not applied: since: not an ISO 8601" in refused
    assert Client().get("/audit/").status_code == 302  # to the sign-in page


def test_the_workflow_page_links_to_its_log_and_keeps_its_own_history(alice, orders):
    record(act="act.skip", by=alice, workflow=orders, run="8c3f0e2a-1111-4222-8333-444455556666")
    client = Client()
    client.force_login(alice)
    page = client.get("/workflows/orders/").content.decode()
    assert 'href="/audit/?workflow=orders"' in page
    assert "workflow.create" in page and "act.skip" not in page


def test_an_asgi_server_is_sent_the_csv_a_chunk_at_a_time(alice, orders):
    """Under ASGI (production), the export is an async iterator: given a plain one, Django
    would read every entry into memory before sending the first byte."""
    AuditEntry.objects.bulk_create(
        AuditEntry(act="act.cancel", actor_name="alice", workflow=orders, reason=f"r{n}")
        for n in range(CSV_CHUNK * 2 + 1)
    )
    client = AsyncClient()
    async_to_sync(client.aforce_login)(alice)

    async def export() -> tuple[Any, list[bytes]]:
        response = await client.get("/api/audit/csv/")
        return response, [chunk async for chunk in response.streaming_content]

    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="StreamingHttpResponse must consume")
        response, chunks = async_to_sync(export)()
    assert response.status_code == 200 and response.is_async
    assert len(chunks) == 4  # the header, then the entries a chunk at a time
    assert len(b"".join(chunks).decode().splitlines()) == CSV_CHUNK * 2 + 2

"""The definitions API: lifecycle, four-eyes, approvals, limits and malformed input."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from designer.models import AuditEntry, Version, VersionStatus
from tests.factories import UserFactory, grant, make_workflow

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def versions_url(slug: str = "orders", number: int | None = None, act: str = "") -> str:
    url = f"/api/workflows/{slug}/versions/"
    if number is not None:
        url += f"{number}/"
    return url + (f"{act}/" if act else "")


@pytest.fixture
def owner():
    return UserFactory(username="alice")


@pytest.fixture
def workflow(owner):
    return make_workflow("orders", owner=owner)


@pytest.fixture
def reviewer(workflow):
    return grant(UserFactory(username="rita"), workflow, "review_workflow")


def create_draft(client: APIClient, spec, slug: str = "orders") -> dict:
    response = client.post(versions_url(slug), {"spec": spec, "note": "first"}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_token_auth_and_create_workflow():
    user = UserFactory(username="staffer", is_staff=True)
    client = APIClient()
    response = client.post(
        "/api/auth/token/", {"username": "staffer", "password": "pw-for-tests-1"}, format="json"
    )
    assert response.status_code == 200
    token = response.json()["token"]
    assert Token.objects.get(user=user).key == token
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = client.post(
        "/api/workflows/",
        {"slug": "trips", "name": "Trips", "description": "Book a trip", "required_approvals": 2},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["slug"] == "trips" and body["required_approvals"] == 2
    assert body["published_version"] is None
    listed = client.get("/api/workflows/").json()
    assert [w["slug"] for w in listed["results"]] == ["trips"]


def test_anonymous_gets_401():
    assert APIClient().get("/api/workflows/").status_code == 401


def test_non_staff_without_add_permission_cannot_create_workflow():
    response = client_for(UserFactory()).post(
        "/api/workflows/", {"slug": "x", "name": "X"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["detail"]


def test_duplicate_slug_is_409(owner):
    make_workflow("orders", owner=owner)
    response = client_for(UserFactory(is_staff=True)).post(
        "/api/workflows/", {"slug": "orders", "name": "Again"}, format="json"
    )
    assert response.status_code == 409


def test_full_lifecycle(owner, reviewer, workflow, spec):
    author = client_for(owner)
    draft = create_draft(author, spec)
    assert draft["number"] == 1 and draft["status"] == "draft"
    assert len(draft["content_hash"]) == 64
    assert set(draft["acts"]) == {"edit", "submit"}

    # Only a draft changes: edit it, then submit it.
    spec["description"] = "changed"
    response = author.patch(versions_url(number=1), {"spec": spec}, format="json")
    assert response.status_code == 200
    assert response.json()["content_hash"] != draft["content_hash"]
    response = author.post(versions_url(number=1, act="submit"))
    assert response.status_code == 200 and response.json()["status"] == "in_review"
    response = author.patch(versions_url(number=1), {"note": "late edit"}, format="json")
    assert response.status_code == 409
    assert "only a draft can change" in response.json()["detail"]

    response = client_for(reviewer).post(
        versions_url(number=1, act="reviews"),
        {"decision": "approve", "comment": "ok"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert Version.objects.get(number=1).status == VersionStatus.APPROVED

    response = author.post(versions_url(number=1, act="publish"))
    assert response.status_code == 200 and response.json()["status"] == "published"
    assert author.get("/api/workflows/orders/").json()["published_version"] == 1

    # A published version is immutable.
    response = author.put(versions_url(number=1), {"spec": spec}, format="json")
    assert response.status_code == 409

    # Publishing v2 retires v1.
    draft2 = create_draft(author, spec)
    author.post(versions_url(number=draft2["number"], act="submit"))
    client_for(reviewer).post(
        versions_url(number=2, act="reviews"), {"decision": "approve"}, format="json"
    )
    author.post(versions_url(number=2, act="publish"))
    statuses = dict(Version.objects.values_list("number", "status"))
    assert statuses == {1: "retired", 2: "published"}

    acts = list(AuditEntry.objects.order_by("id").values_list("act", flat=True))
    assert acts[:6] == [
        "workflow.create",
        "version.create",
        "version.update",
        "version.submit",
        "version.review",
        "version.publish",
    ]
    published = AuditEntry.objects.get(act="version.publish", version__number=1)
    assert published.changes == {"status": ["approved", "published"]}
    assert published.actor == owner and published.actor_name == owner.username
    # Publishing v2 retired v1: one entry says both.
    second = AuditEntry.objects.get(act="version.publish", version__number=2)
    assert second.detail == {"retired": [1]}


@pytest.mark.parametrize(
    "status, act, expected",
    [
        ("draft", "publish", 409),
        ("draft", "reviews", 409),
        ("in_review", "submit", 409),
        ("in_review", "publish", 409),
        ("approved", "submit", 409),
        ("approved", "reviews", 409),
        ("published", "submit", 409),
        ("published", "publish", 409),
        ("retired", "publish", 409),
    ],
)
def test_refused_moves(owner, workflow, spec, status, act, expected):
    version = Version.objects.create(
        workflow=workflow, number=1, spec=spec, content_hash="x", author=owner, status=status
    )
    staff = client_for(UserFactory(is_staff=True))
    body = {"decision": "approve"} if act == "reviews" else {}
    response = staff.post(versions_url(number=version.number, act=act), body, format="json")
    assert response.status_code == expected
    assert status in response.json()["detail"]
    version.refresh_from_db()
    assert version.status == status


def test_four_eyes_author_never_approves_own_version(owner, workflow, spec):
    # The author holds every role, staff too, and still may not approve.
    owner.is_staff = True
    owner.save()
    author = client_for(owner)
    create_draft(author, spec)
    author.post(versions_url(number=1, act="submit"))
    response = author.post(
        versions_url(number=1, act="reviews"), {"decision": "approve"}, format="json"
    )
    assert response.status_code == 403
    assert "someone else" in response.json()["detail"]
    assert Version.objects.get(number=1).status == VersionStatus.IN_REVIEW


def test_four_eyes_covers_anyone_who_edited_the_draft(owner, workflow, spec):
    editor = grant(UserFactory(), workflow, "change_workflow", "review_workflow")
    create_draft(client_for(owner), spec)
    spec["description"] = "edited by someone else"
    assert (
        client_for(editor).put(versions_url(number=1), {"spec": spec}, format="json").status_code
        == 200
    )
    client_for(owner).post(versions_url(number=1, act="submit"))
    response = client_for(editor).post(
        versions_url(number=1, act="reviews"), {"decision": "approve"}, format="json"
    )
    assert response.status_code == 403


def test_two_approvals_needed(owner, spec):
    workflow = make_workflow("orders", owner=owner, required_approvals=2)
    first, second = (grant(UserFactory(), workflow, "review_workflow") for _ in range(2))
    author = client_for(owner)
    create_draft(author, spec)
    author.post(versions_url(number=1, act="submit"))

    approve = {"decision": "approve", "comment": "fine"}
    assert (
        client_for(first)
        .post(versions_url(number=1, act="reviews"), approve, format="json")
        .status_code
        == 201
    )
    detail = author.get(versions_url(number=1)).json()
    assert detail["status"] == "in_review" and detail["approvals"] == 1
    # The same reviewer approving twice does not count twice.
    again = client_for(first).post(versions_url(number=1, act="reviews"), approve, format="json")
    assert again.status_code == 409
    assert author.post(versions_url(number=1, act="publish")).status_code == 409
    assert (
        client_for(second)
        .post(versions_url(number=1, act="reviews"), approve, format="json")
        .status_code
        == 201
    )
    assert author.get(versions_url(number=1)).json()["status"] == "approved"


def test_request_changes_sends_back_to_draft_and_resets_approvals(owner, spec):
    workflow = make_workflow("orders", owner=owner, required_approvals=2)
    first, second = (grant(UserFactory(), workflow, "review_workflow") for _ in range(2))
    author = client_for(owner)
    create_draft(author, spec)
    author.post(versions_url(number=1, act="submit"))
    client_for(first).post(
        versions_url(number=1, act="reviews"), {"decision": "approve"}, format="json"
    )

    response = client_for(second).post(
        versions_url(number=1, act="reviews"), {"decision": "request_changes"}, format="json"
    )
    assert response.status_code == 400  # a request for changes says what should change
    response = client_for(second).post(
        versions_url(number=1, act="reviews"),
        {"decision": "request_changes", "comment": "name the steps"},
        format="json",
    )
    assert response.status_code == 201
    detail = author.get(versions_url(number=1)).json()
    assert detail["status"] == "draft"
    assert [r["comment"] for r in detail["reviews"]] == ["", "name the steps"]

    # Back in review, the earlier approval no longer counts.
    author.post(versions_url(number=1, act="submit"))
    detail = author.get(versions_url(number=1)).json()
    assert detail["review_round"] == 2 and detail["approvals"] == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_publishes_leave_exactly_one_published(owner, reviewer, workflow, spec):
    author = client_for(owner)
    for number in (1, 2):
        spec["description"] = f"v{number}"
        create_draft(author, spec)
        author.post(versions_url(number=number, act="submit"))
        client_for(reviewer).post(
            versions_url(number=number, act="reviews"), {"decision": "approve"}, format="json"
        )
    barrier = threading.Barrier(2)
    codes: list[int] = []

    def publish(number: int) -> None:
        barrier.wait()
        codes.append(client_for(owner).post(versions_url(number=number, act="publish")).status_code)
        connection.close()

    threads = [threading.Thread(target=publish, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [200, 200]
    statuses = sorted(Version.objects.values_list("status", flat=True))
    assert statuses == ["published", "retired"]


def test_invalid_spec_is_400_with_step_and_field_and_nothing_stored(owner, workflow, spec):
    spec["steps"][1]["after"] = ["nowhere"]
    response = client_for(owner).post(versions_url(), {"spec": spec}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["detail"]
    assert {"step": "wait", "field": "after"}.items() <= body["errors"][0].items()
    assert not Version.objects.exists()


def test_oversized_spec_is_400_nothing_stored(owner, workflow, spec):
    spec["description"] = "x" * (1024 * 1024 + 10)
    response = client_for(owner).post(versions_url(), {"spec": spec}, format="json")
    assert response.status_code == 400
    assert "1 MB" in json.dumps(response.json())
    assert not Version.objects.exists()


def test_too_many_steps_is_400_nothing_stored(owner, workflow):
    steps = [
        {"id": f"s{i}", "name": f"S{i}", "type": "delay", "action": {"seconds": 0}}
        for i in range(501)
    ]
    response = client_for(owner).post(
        versions_url(), {"spec": {"format": "sagaboard/v1", "steps": steps}}, format="json"
    )
    assert response.status_code == 400
    assert "500" in json.dumps(response.json())
    assert not Version.objects.exists()


def test_huge_body_is_400(owner, workflow):
    body = json.dumps({"spec": {"format": "sagaboard/v1", "description": "x" * 3_000_000}})
    response = client_for(owner).post(versions_url(), body, content_type="application/json")
    assert response.status_code == 400
    assert not Version.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "[]",
        '{"spec": 5}',
        '{"spec": "steps: [unclosed"}',
        '{"spec": {"format": "sagaboard/v1", "steps": "no"}}',
        '{"spec": {"format": "sagaboard/v1", "steps": [], "bogus": 1}}',
        '{"note": "no spec"}',
        '{"spec": {"format": "sagaboard/v1", "steps": [{"id": 7}]}, "layout": "x"}',
        # Nested past what the parser (or what reads the data next) can recurse into.
        '{"spec": ' + "[" * 5000 + "]" * 5000 + "}",
        '{"spec": {"format": "sagaboard/v1", "steps": ' + "[" * 70 + "]" * 70 + "}}",
        '{"spec": "' + "[" * 5000 + "]" * 5000 + '"}',  # as YAML text
        '{"spec": "' + "a: " * 5000 + '1"}',
    ],
)
def test_malformed_input_is_400_never_500(owner, workflow, body):
    response = client_for(owner).post(versions_url(), body, content_type="application/json")
    assert response.status_code == 400, response.content
    data = response.json()
    assert isinstance(data["detail"], str) and isinstance(data["errors"], list)
    assert not Version.objects.exists()


def test_yaml_spec_text_accepted(owner, workflow):
    text = (
        "format: sagaboard/v1\n"
        "steps:\n"
        "  - id: wait\n    name: Wait\n    type: delay\n    action: {seconds: 2}\n"
    )
    draft = create_draft(client_for(owner), text)
    assert draft["spec"]["steps"][0]["action"] == {"seconds": 2}


def test_layout_is_no_change_to_content_hash(owner, workflow, spec):
    author = client_for(owner)
    draft = create_draft(author, spec)
    response = author.patch(
        versions_url(number=1), {"layout": {"reserve": {"x": 10, "y": 20}}}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["content_hash"] == draft["content_hash"]
    assert response.json()["layout"] == {"reserve": {"x": 10, "y": 20}}


def test_validate_endpoint(owner, spec):
    client = client_for(owner)
    response = client.post("/api/validate/", {"spec": spec}, format="json")
    assert response.json() == {"valid": True, "errors": [], "warnings": response.json()["warnings"]}
    spec["steps"][0]["after"] = ["ship"]
    body = client.post("/api/validate/", {"spec": spec}, format="json").json()
    assert body["valid"] is False
    assert any("cycle" in e["message"] for e in body["errors"])


def test_diff_and_graph(owner, workflow, spec):
    author = client_for(owner)
    create_draft(author, spec)
    spec["steps"][0]["name"] = "Reserve items"
    spec["steps"].append(
        {
            "id": "notify",
            "name": "Notify",
            "type": "delay",
            "after": ["ship"],
            "action": {"seconds": 1},
        }
    )
    spec["steps"] = [s for s in spec["steps"] if s["id"] != "wait"]
    spec["steps"][1]["after"] = ["reserve"]
    create_draft(author, spec)
    diff = author.get(versions_url(number=2, act="diff") + "?against=1").json()
    assert diff["added"] == ["notify"]
    assert diff["removed"] == ["wait"]
    changed = {c["step"]: c["fields"] for c in diff["changed"]}
    assert changed["reserve"] == {"name": {"old": "Reserve stock", "new": "Reserve items"}}
    assert changed["ship"] == {"after": {"old": ["wait"], "new": ["reserve"]}}

    response = author.get(versions_url(number=2) + "graph.svg")
    assert response.status_code == 200 and response["Content-Type"] == "image/svg+xml"
    svg = response.content.decode()
    assert svg.lstrip().startswith("<?xml") and "Reserve items" in svg and "Notify" in svg
    diff_svg = author.get(versions_url(number=2) + "graph.svg?against=1").content.decode()
    assert "#16a34a" in diff_svg and "#dc2626" in diff_svg and "#d97706" in diff_svg
    assert author.get(versions_url(number=2, act="diff") + "?against=x").status_code == 400
    assert author.get(versions_url(number=2, act="diff") + "?against=9").status_code == 404


def test_activities_and_schema(owner):
    client = client_for(owner)
    assert isinstance(client.get("/api/activities/").json(), list)
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/workflows/{slug}/versions/{number}/publish/" in schema.content
    assert client.get("/api/docs/").status_code == 200

"""Each role x each definitions endpoint: allowed, 403 or 404, as DESIGN.md says."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from designer import services
from designer.models import Version
from tests.factories import UserFactory, grant, make_workflow

pytestmark = pytest.mark.django_db

ROLES = {
    "viewer": "view_workflow",
    "author": "change_workflow",
    "reviewer": "review_workflow",
    "publisher": "publish_workflow",
    "runner": "run_workflow",
    "operator": "operate_workflow",
}
ALL = set(ROLES) | {"staff", "creator"}

# endpoint: (method, path, body, state of version 1 it needs, who may)
ENDPOINTS = {
    "workflow": ("get", "/api/workflows/orders/", None, "draft", ALL),
    "versions": ("get", "/api/workflows/orders/versions/", None, "draft", ALL),
    "create_draft": (
        "post",
        "/api/workflows/orders/versions/",
        "spec",
        "draft",
        {"author", "staff", "creator"},
    ),
    "version": ("get", "/api/workflows/orders/versions/1/", None, "draft", ALL),
    "edit_draft": (
        "patch",
        "/api/workflows/orders/versions/1/",
        {"note": "n"},
        "draft",
        {"author", "staff", "creator"},
    ),
    "submit": (
        "post",
        "/api/workflows/orders/versions/1/submit/",
        None,
        "draft",
        {"author", "staff", "creator"},
    ),
    "review": (
        "post",
        "/api/workflows/orders/versions/1/reviews/",
        {"decision": "approve"},
        "in_review",
        {"reviewer", "staff"},
    ),
    "publish": (
        "post",
        "/api/workflows/orders/versions/1/publish/",
        None,
        "approved",
        {"publisher", "staff", "creator"},
    ),
    "diff": ("get", "/api/workflows/orders/versions/1/diff/?against=1", None, "draft", ALL),
    "graph": ("get", "/api/workflows/orders/versions/1/graph.svg", None, "draft", ALL),
    "permissions": ("get", "/api/workflows/orders/permissions/", None, "draft", ALL),
    "set_permissions": (
        "put",
        "/api/workflows/orders/permissions/",
        {"users": {}, "groups": {}},
        "draft",
        {"staff", "creator"},
    ),
}


def setup_state(state: str, spec: dict):
    creator = UserFactory(username="creator")
    workflow = make_workflow("orders", owner=creator)
    version, _ = services.version_create(workflow=workflow, by=creator, spec=spec)
    if state in ("in_review", "approved"):
        services.version_submit(version=version, by=creator)
    if state == "approved":
        services.version_review(
            version=version,
            by=grant(UserFactory(), workflow, "review_workflow"),
            decision="approve",
        )
    return workflow, creator


def user_in_role(role: str, workflow, creator):
    if role == "creator":
        return creator
    if role == "staff":
        return UserFactory(username="staffer", is_staff=True)
    if role == "outsider":
        # Holds every role, but on another workflow.
        other = make_workflow("elsewhere")
        return grant(UserFactory(username="outsider"), other, *ROLES.values())
    return grant(UserFactory(username=role), workflow, ROLES[role])


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
@pytest.mark.parametrize("role", sorted(ALL | {"outsider", "anonymous"}))
def test_permission_matrix(role, endpoint, spec):
    method, path, body, state, allowed = ENDPOINTS[endpoint]
    workflow, creator = setup_state(state, spec)
    client = APIClient()
    if role != "anonymous":
        client.force_authenticate(user_in_role(role, workflow, creator))
    if body == "spec":
        body = {"spec": spec}
    response = getattr(client, method)(path, body, format="json")

    if role == "anonymous":
        assert response.status_code == 401
    elif role == "outsider":
        # Existence is not leaked: 404, never 403.
        assert response.status_code == 404
    elif role in allowed:
        assert response.status_code in (200, 201), response.content
    else:
        assert response.status_code == 403, response.content
        assert response.json()["detail"]


def test_lists_show_only_visible_workflows():
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    make_workflow("mine", owner=alice)
    make_workflow("theirs", owner=bob)
    shared = make_workflow("shared", owner=bob)
    grant(alice, shared, "review_workflow")
    client = APIClient()
    client.force_authenticate(alice)
    slugs = [w["slug"] for w in client.get("/api/workflows/").json()["results"]]
    assert slugs == ["mine", "shared"]


def test_permissions_put_replaces_and_is_audited(spec):
    creator = UserFactory(username="creator")
    workflow = make_workflow("orders", owner=creator)
    UserFactory(username="rita")
    from tests.factories import GroupFactory

    GroupFactory(name="managers")
    client = APIClient()
    client.force_authenticate(creator)
    response = client.put(
        "/api/workflows/orders/permissions/",
        {
            "users": {"rita": ["review_workflow"], "creator": list(ROLES.values())},
            "groups": {"managers": ["view_workflow", "run_workflow"]},
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = client.get("/api/workflows/orders/permissions/").json()
    assert body["users"]["rita"] == ["review_workflow"]
    assert body["groups"] == {"managers": ["run_workflow", "view_workflow"]}
    assert workflow.audit_entries.filter(act="workflow.permissions").count() == 1

    # Replacing drops rita.
    client.put(
        "/api/workflows/orders/permissions/",
        {"users": {"creator": list(ROLES.values())}, "groups": {}},
        format="json",
    )
    assert "rita" not in client.get("/api/workflows/orders/permissions/").json()["users"]

    bad = client.put(
        "/api/workflows/orders/permissions/",
        {"users": {"nobody": ["view_workflow"]}, "groups": {}},
        format="json",
    )
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "users.nobody"
    bad = client.put(
        "/api/workflows/orders/permissions/",
        {"users": {"rita": ["fly"]}, "groups": {}},
        format="json",
    )
    assert bad.status_code == 400


def test_group_membership_grants_the_role(spec):
    from tests.factories import GroupFactory

    creator = UserFactory(username="creator")
    workflow = make_workflow("orders", owner=creator)
    group = GroupFactory(name="reviewers")
    from guardian.shortcuts import assign_perm

    assign_perm("designer.review_workflow", group, workflow)
    member = UserFactory(username="member")
    member.groups.add(group)
    version, _ = services.version_create(workflow=workflow, by=creator, spec=spec)
    services.version_submit(version=version, by=creator)
    client = APIClient()
    client.force_authenticate(member)
    response = client.post(
        "/api/workflows/orders/versions/1/reviews/", {"decision": "approve"}, format="json"
    )
    assert response.status_code == 201
    assert Version.objects.get().status == "approved"

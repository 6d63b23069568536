"""Saved views: a run list's filter under a name, private or shared with whoever may see
every workflow it names; only its owner (or staff) deletes it."""

from __future__ import annotations

import pytest
from django.test import Client

from engine.models import SavedView
from tests.factories import UserFactory, grant, make_workflow
from tests.sagas import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def orders():
    return make_workflow("orders")


@pytest.fixture
def payments():
    return make_workflow("payments")


@pytest.fixture
def ann(orders, payments):
    return grant(
        grant(UserFactory(username="ann"), orders, "view_workflow"), payments, "view_workflow"
    )


@pytest.fixture
def bob(orders):
    return grant(UserFactory(username="bob"), orders, "view_workflow")


@pytest.fixture
def boss():
    return UserFactory(username="boss", is_staff=True)


def save(user, name: str, filter: dict, shared: bool = False) -> dict:
    response = client_for(user).post(
        "/api/views/", {"name": name, "filter": filter, "shared": shared}, format="json"
    )
    assert response.status_code == 201, response.json()
    return response.json()


def names(user) -> list[str]:
    response = client_for(user).get("/api/views/")
    assert response.status_code == 200
    return [v["name"] for v in response.json()]


def test_a_view_is_saved_with_its_filter_and_read_back(ann):
    filter = {"workflow": "orders", "status": "stuck", "step": "charge", "attr.customer": "x@y"}
    made = save(ann, "Stuck at charge", {**filter, "q": ""})

    assert made["filter"] == filter  # blank parameters are left out
    assert made["owner"] == "ann"
    assert made["shared"] is False
    assert made["acts"] == ["delete"]
    assert client_for(ann).get(f"/api/views/{made['id']}/").json() == made
    assert names(ann) == ["Stuck at charge"]


def test_a_views_board_url_opens_the_board_with_its_filter(ann):
    filter = {"workflow": "orders", "status": "stuck", "attr.customer": "x@y", "q": "ORD-1"}
    made = save(ann, "Stuck orders", filter)
    client = Client()
    client.force_login(ann)

    response = client.get(made["board_url"])

    assert response.status_code == 200
    query = response.context["config"]["query"]
    assert {key: query[key] for key in filter} == filter


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "v", "filter": {"status": "sleeping"}}, "filter.status"),
        ({"name": "v", "filter": {"attr.Bad": "1"}}, "filter.attr.Bad"),
        ({"name": "v", "filter": {"since": "yesterday"}}, "filter.since"),
        ({"name": "v", "filter": {"cursor": "abc"}}, "filter.cursor"),
        ({"name": "v", "filter": {"status": ["stuck"]}}, "filter.status"),
        ({"name": "  ", "filter": {}}, "name"),
        ({"filter": {}}, "name"),
        ({"name": "v"}, "filter"),
    ],
)
def test_a_bad_view_is_a_400_naming_the_field(ann, body, field):
    response = client_for(ann).post("/api/views/", body, format="json")

    assert response.status_code == 400
    assert field in [e["field"] for e in response.json()["errors"]]
    assert not SavedView.objects.exists()


def test_two_views_of_one_owner_cannot_share_a_name(ann, bob):
    save(ann, "Mine", {})
    save(bob, "Mine", {})  # another owner's may

    response = client_for(ann).post("/api/views/", {"name": "Mine", "filter": {}}, format="json")

    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["name"]


def test_a_private_view_is_its_owners_alone(ann, bob, boss):
    view = save(ann, "Private", {"workflow": "orders"})

    assert names(bob) == []
    assert names(boss) == []
    for user in (bob, boss):
        client = client_for(user)
        assert client.get(f"/api/views/{view['id']}/").status_code == 404
        assert client.delete(f"/api/views/{view['id']}/").status_code == 404
    assert SavedView.objects.filter(pk=view["id"]).exists()


def test_a_shared_view_is_seen_by_whoever_may_see_every_workflow_it_names(ann, bob, boss):
    both = save(ann, "Both", {"workflow": "orders,payments"}, shared=True)
    one = save(ann, "Orders", {"workflow": "orders"}, shared=True)
    every = save(ann, "Everything stuck", {"status": "stuck"}, shared=True)
    outsider = UserFactory(username="outsider")

    assert names(bob) == ["Everything stuck", "Orders"]  # not payments'
    assert names(boss) == ["Both", "Everything stuck", "Orders"]
    assert names(outsider) == ["Everything stuck"]
    assert client_for(bob).get(f"/api/views/{both['id']}/").status_code == 404
    assert client_for(bob).get(f"/api/views/{one['id']}/").json()["acts"] == []
    assert client_for(outsider).get(f"/api/views/{one['id']}/").status_code == 404
    assert client_for(outsider).get(f"/api/views/{every['id']}/").status_code == 200


def test_only_the_owner_or_staff_deletes_a_view(ann, bob, boss):
    first = save(ann, "First", {"workflow": "orders"}, shared=True)
    second = save(ann, "Second", {"workflow": "orders"}, shared=True)

    refused = client_for(bob).delete(f"/api/views/{first['id']}/")
    assert refused.status_code == 403
    assert refused.json()["detail"]
    assert client_for(ann).delete(f"/api/views/{first['id']}/").status_code == 204
    assert client_for(boss).get(f"/api/views/{second['id']}/").json()["acts"] == ["delete"]
    assert client_for(boss).delete(f"/api/views/{second['id']}/").status_code == 204
    assert not SavedView.objects.exists()


def test_views_need_signing_in(ann):
    view = save(ann, "Mine", {})
    anonymous = client_for(None)

    assert anonymous.get("/api/views/").status_code == 401
    assert anonymous.get(f"/api/views/{view['id']}/").status_code == 401
    assert anonymous.delete(f"/api/views/{view['id']}/").status_code == 401

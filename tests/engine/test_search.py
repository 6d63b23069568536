"""Finding runs: search attributes stored when a run starts and shown with it, and the run
list's filters (attr.<name>=, q=, step=, error=), each finding what it should and not
what it should not, never a run the user may not see."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

import saga
from engine import search, services
from engine.models import Run, SearchAttribute
from tests.factories import UserFactory, grant, make_published, make_workflow
from tests.sagas import client_for

pytestmark = pytest.mark.django_db

RETRY = {"max_attempts": 3, "initial_delay_s": 60, "backoff": 1, "max_delay_s": 60}
SPEC: dict[str, Any] = {
    "format": "sagaboard/v1",
    "search": {
        "order_id": "{{ input.order_id }}",
        "customer": "{{ input.email }}",
        "amount": "{{ input.amount }}",
        "vip": "{{ input.vip }}",
    },
    "steps": [
        {"id": "reserve", "type": "task", "action": {"name": "demo.noop"}, "pivot": True},
        {
            "id": "charge",
            "type": "task",
            "after": ["reserve"],
            "action": {"name": "demo.noop"},
            "retry": RETRY,
        },
    ],
}


@pytest.fixture
def boss():
    return UserFactory(username="boss", is_staff=True)


@pytest.fixture
def orders(boss):
    workflow = make_workflow("orders")
    make_published(workflow, SPEC)
    return workflow


@pytest.fixture
def secret(boss):
    workflow = make_workflow("secret")
    make_published(workflow, SPEC)
    return workflow


@pytest.fixture
def viewer(orders):
    return grant(UserFactory(username="viewer"), orders, "view_workflow")


@pytest.fixture(params=["few", "many"])
def matches(request, monkeypatch):
    """Both ways a filter on steps or q= is run: the matches read first (few), or the newest
    runs walked and each tested (many, here past a bound of 1)."""
    if request.param == "many":
        monkeypatch.setattr(search, "FEW_MATCHES", 1)
    return request.param


def begin(workflow, key: str | None = None, **input: Any) -> Run:
    run, created = services.run_start(workflow=workflow, by=None, input=input, idempotency_key=key)
    assert created
    return run


def attempt(run: Run, step: str) -> int:
    return Run.objects.get(pk=run.pk).steps.get(step_id=step).attempt


def fail_at_charge(run: Run, error: str, *, retryable: bool = False) -> None:
    """reserve succeeds (the pivot); charge fails: for good (the run stuck), or to be
    retried."""
    services.run_apply(run.pk, saga.StepSucceeded("reserve", attempt(run, "reserve"), {}))
    services.run_apply(run.pk, saga.StepFailed("charge", attempt(run, "charge"), error, retryable))


def found(client, **query: str) -> list[str]:
    response = client.get("/api/runs/", query)
    assert response.status_code == 200, response.json()
    return [item["id"] for item in response.json()["results"]]


def ids(*runs: Run) -> list[str]:
    return sorted(str(r.pk) for r in runs)


# --- stored at start, shown with the run


def test_a_run_keeps_its_search_attributes_as_strings_and_the_api_shows_them(orders, boss):
    run = begin(orders, order_id="A-100", email="ann@example.com", amount=12, vip=True)

    expected = {"order_id": "A-100", "customer": "ann@example.com", "amount": "12", "vip": "true"}
    assert Run.objects.get(pk=run.pk).search == expected
    rows = SearchAttribute.objects.filter(run=run).values_list("workflow_id", "name", "value")
    assert sorted(rows) == sorted((orders.pk, k, v) for k, v in expected.items())
    client = client_for(boss)
    assert client.get(f"/api/runs/{run.pk}/").json()["search"] == expected
    assert client.get("/api/runs/").json()["results"][0]["search"] == expected


def test_a_missing_null_or_empty_value_leaves_its_attribute_out(orders):
    run = begin(orders, order_id="", amount=None)

    assert run.search == {}
    assert not SearchAttribute.objects.filter(run=run).exists()


def test_a_value_over_200_characters_refuses_the_start_naming_the_attribute(orders, boss):
    grant(boss, orders, "run_workflow")
    response = client_for(boss).post(
        "/api/workflows/orders/runs/", {"input": {"order_id": "x" * 201}}, format="json"
    )

    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["search.order_id"]
    assert "200" in response.json()["detail"]
    assert not Run.objects.exists()


def test_a_child_run_gets_its_attributes_as_any_run_does(orders, secret):
    parent = begin(orders, order_id="P-1")
    child, _ = services.run_start(
        workflow=secret, by=None, input={"order_id": "C-1"}, parent=(parent.pk, "charge")
    )

    assert child.search == {"order_id": "C-1"}
    assert SearchAttribute.objects.filter(run=child, workflow=secret, value="C-1").exists()


def test_the_workflow_api_names_the_search_attributes_its_published_version_declares(orders, boss):
    make_workflow("plain")
    client = client_for(boss)

    names = ["amount", "customer", "order_id", "vip"]
    assert client.get("/api/workflows/orders/").json()["search_attributes"] == names
    listed = client.get("/api/workflows/").json()["results"]
    assert {w["slug"]: w["search_attributes"] for w in listed} == {"orders": names, "plain": []}


# --- each filter


def test_attr_finds_the_exact_value_and_several_are_anded(orders, boss):
    ann = begin(orders, order_id="A-100", email="ann@example.com")
    ann_again = begin(orders, order_id="A-101", email="ann@example.com")
    begin(orders, order_id="A-1000", email="bob@example.com")
    client = client_for(boss)

    assert found(client, **{"attr.order_id": "A-100"}) == [str(ann.pk)]
    assert sorted(found(client, **{"attr.customer": "ann@example.com"})) == ids(ann, ann_again)
    both = {"attr.customer": "ann@example.com", "attr.order_id": "A-101"}
    assert found(client, **both) == [str(ann_again.pk)]
    assert found(client, **{"attr.customer": "ann@example.com", "attr.order_id": "A-1000"}) == []
    assert found(client, **{"attr.nothing": "A-100"}) == []


def test_q_finds_a_run_by_its_id_or_a_prefix_of_it(orders, boss, matches):
    run = begin(orders, order_id="A-1")
    begin(orders, order_id="A-2")
    client = client_for(boss)

    assert found(client, q=str(run.pk)) == [str(run.pk)]
    assert found(client, q=str(run.pk)[:8]) == [str(run.pk)]
    assert found(client, q=str(run.pk)[:13].upper()) == [str(run.pk)]


def test_q_finds_a_run_by_its_idempotency_key_exactly(orders, boss, matches):
    run = begin(orders, key="checkout-7781", order_id="A-1")
    begin(orders, key="checkout-77810", order_id="A-2")
    client = client_for(boss)

    assert found(client, q="checkout-7781") == [str(run.pk)]


def test_q_finds_a_value_or_a_prefix_of_three_characters_or_more(orders, boss, matches):
    short = begin(orders, order_id="Z9")
    a1 = begin(orders, order_id="ORD-551", email="carol@example.com")
    a2 = begin(orders, order_id="ORD-552")
    client = client_for(boss)

    assert found(client, q="Z9") == [str(short.pk)]  # exact, though short
    assert found(client, q="Z") == []  # too short to be a prefix
    assert sorted(found(client, q="ORD-55")) == ids(a1, a2)
    assert found(client, q="carol") == [str(a1.pk)]
    assert found(client, q="ord-55") == []  # values are matched as they are written


def test_q_and_error_find_runs_by_the_words_of_their_error(orders, boss, matches):
    declined = begin(orders, order_id="A-1")
    fail_at_charge(declined, "card declined by the issuing bank (code 51)")
    timed_out = begin(orders, order_id="A-2")
    fail_at_charge(timed_out, "payments timed out after 30 s", retryable=True)
    begin(orders, order_id="A-3")
    client = client_for(boss)

    assert found(client, q="declined") == [str(declined.pk)]
    assert found(client, error="declined bank") == [str(declined.pk)]
    assert found(client, error="DECLINED") == [str(declined.pk)]
    assert found(client, error="declined timed") == []  # every word
    assert found(client, error="timed out") == [str(timed_out.pk)]
    assert found(client, error="51") == [str(declined.pk)]


def test_step_finds_runs_failing_or_retrying_at_that_step_now(orders, boss, matches):
    stuck = begin(orders, order_id="A-1")
    fail_at_charge(stuck, "down")
    retrying = begin(orders, order_id="A-2")
    fail_at_charge(retrying, "down for now", retryable=True)
    moving = begin(orders, order_id="A-3")
    services.run_apply(moving.pk, saga.StepSucceeded("reserve", attempt(moving, "reserve"), {}))
    client = client_for(boss)

    assert Run.objects.get(pk=stuck.pk).status == "stuck"
    assert sorted(found(client, step="charge")) == ids(stuck, retrying)
    assert found(client, step="reserve") == []
    assert found(client, step="charge", status="stuck") == [str(stuck.pk)]


def test_the_board_takes_the_same_filters(orders, boss):
    run = begin(orders, order_id="A-100")
    begin(orders, order_id="B-200")
    client = Client()
    client.force_login(boss)

    response = client.get("/runs/", {"q": "A-100"})

    assert response.status_code == 200
    config = response.context["config"]
    assert [r["id"] for r in config["runs"]["results"]] == [str(run.pk)]
    assert config["query"]["q"] == "A-100"
    assert client.get("/runs/", {"attr.Bad": "x"}).status_code == 400


# --- refusals


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"attr.Order": "x"}, "attr.Order"),
        ({"attr.": "x"}, "attr."),
        ({"attr.order_id": "x" * 201}, "attr.order_id"),
        ({"q": "x" * 201}, "q"),
        ({"step": "no such step!"}, "step"),
        ({"error": "!!! ???"}, "error"),
        ({"error": "y" * 201}, "error"),
    ],
)
def test_nonsense_is_a_400_naming_the_field(boss, query, field):
    response = client_for(boss).get("/api/runs/", query)

    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == [field]


# --- what may not be seen stays unseen


def test_runs_the_user_may_not_see_are_found_by_no_filter(orders, secret, viewer, matches):
    mine = begin(orders, key="k-1", order_id="S-1", email="eve@example.com")
    fail_at_charge(mine, "vault sealed")
    hidden = begin(secret, key="k-1", order_id="S-1", email="eve@example.com")
    fail_at_charge(hidden, "vault sealed")
    client = client_for(viewer)

    for query in (
        {"attr.order_id": "S-1"},
        {"attr.customer": "eve@example.com"},
        {"q": "k-1"},
        {"q": "S-1"},
        {"q": "eve@"},
        {"q": "vault"},
        {"error": "sealed"},
        {"step": "charge"},
    ):
        assert found(client, **query) == [str(mine.pk)], query
    assert found(client, q=str(hidden.pk)[:8]) == []
    assert found(client, q=str(hidden.pk)) == []

"""The short run id the board shows (its first eight digits), pasted into the address:
the run page of the one run the user may see that starts so, else 404."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from django.test import Client

from engine import services
from engine.models import Run
from tests.engine.test_pages import gates
from tests.factories import UserFactory, grant, make_published, make_workflow

pytestmark = pytest.mark.django_db

SHARED = "3f2a9c1b"
ONE = uuid.UUID(f"{SHARED}-1111-4111-8111-111111111111")
TWO = uuid.UUID(f"{SHARED}-2222-4222-8222-222222222222")
ALONE = uuid.UUID("a0b1c2d3-4444-4444-8444-444444444444")


@pytest.fixture
def run_with_id(monkeypatch) -> Iterator[Callable[..., Run]]:
    """Starts a run of ``workflow`` with the id given (a run's id is the first uuid4 its
    start draws; the draws after are the real ones)."""
    chosen: list[uuid.UUID] = []
    real = uuid.uuid4
    monkeypatch.setattr(uuid, "uuid4", lambda: chosen.pop(0) if chosen else real())

    def start(workflow, by, run_id: uuid.UUID) -> Run:
        chosen.append(run_id)
        run, _ = services.run_start(workflow=workflow, by=by, input={})
        assert run.pk == run_id
        return run

    yield start


@pytest.fixture
def boss():
    return UserFactory(username="boss", is_staff=True)


@pytest.fixture
def orders(boss):
    workflow = make_workflow("orders")
    make_published(workflow, gates())
    return workflow


@pytest.fixture
def secret(boss):
    workflow = make_workflow("secret")
    make_published(workflow, gates())
    return workflow


def get(user, path: str):
    client = Client()
    client.force_login(user)
    return client.get(path)


def test_the_board_s_short_id_leads_to_its_run(orders, boss, run_with_id):
    run_with_id(orders, boss, ALONE)
    vera = grant(UserFactory(username="vera"), orders, "view_workflow")
    for written in ("a0b1c2d3", "A0B1C2D3", "a0b1", "a0b1c2d3-4444", str(ALONE)[:-1]):
        response = get(vera, f"/runs/{written}/")
        assert response.status_code == 302, written
        assert response["Location"] == f"/runs/{ALONE}/", written
    assert get(vera, response["Location"]).status_code == 200


def test_a_prefix_of_several_runs_or_of_none_is_not_found(orders, boss, run_with_id):
    run_with_id(orders, boss, ONE)
    run_with_id(orders, boss, TWO)
    for written in (SHARED, "3f2a", "ffffffff", "a0b", "nothex!!", "3f2a9c1b-3"):
        assert get(boss, f"/runs/{written}/").status_code == 404, written
    # One more digit tells them apart.
    assert get(boss, f"/runs/{SHARED}-1/")["Location"] == f"/runs/{ONE}/"
    assert get(boss, f"/runs/{SHARED}-2/")["Location"] == f"/runs/{TWO}/"


def test_runs_the_user_may_not_see_are_neither_found_nor_counted(orders, secret, boss, run_with_id):
    run_with_id(orders, boss, ONE)
    run_with_id(secret, boss, TWO)
    run_with_id(secret, boss, ALONE)
    vera = grant(UserFactory(username="vera"), orders, "view_workflow")
    # The hidden run that shares the prefix neither leaks nor makes it ambiguous.
    assert get(vera, f"/runs/{SHARED}/")["Location"] == f"/runs/{ONE}/"
    # A hidden run's own prefix is as unknown as one no run has.
    hidden, unknown = get(vera, "/runs/a0b1c2d3/"), get(vera, "/runs/b0b1c2d3/")
    assert hidden.status_code == unknown.status_code == 404
    for response in (hidden, unknown):
        assert "Not found" in response.content.decode()
        assert "secret" not in response.content.decode().lower()
    # Staff see both, so for them the prefix names two runs.
    assert get(boss, f"/runs/{SHARED}/").status_code == 404
    assert get(boss, "/runs/a0b1c2d3/")["Location"] == f"/runs/{ALONE}/"


def test_signing_in_comes_first(orders, boss, run_with_id):
    run_with_id(orders, boss, ALONE)
    response = Client().get("/runs/a0b1c2d3/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/runs/a0b1c2d3/")

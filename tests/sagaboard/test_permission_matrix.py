"""Every route (pages, API, admin, WebSockets) x method x principal answers as the
table in ``tests/sagaboard/matrix.py`` says, and that table covers every route.

One data set serves every case: built once for the module inside a transaction,
each case runs in a savepoint rolled back after it, and the whole set is rolled
back at the end. Runs are driven through the engine's services with dispatch
switched off, so no Celery worker moves them behind the test's back.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from asgiref.sync import async_to_sync
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.shortcuts import resolve_url
from django.test import Client, override_settings
from django.urls import resolve, reverse
from rest_framework.views import APIView

import saga
from designer import services as designer_services
from designer.models import Workflow
from engine import services as engine_services
from engine.models import Run, SavedView
from sagaboard.asgi import application
from tests.engine.test_consumers import ORIGIN
from tests.factories import GroupFactory, UserFactory, grant, make_published, make_workflow
from tests.sagaboard.matrix import (
    ACCEPT,
    ADMITTED,
    HOLDS,
    LOGIN,
    MATRIX,
    OK,
    PRINCIPALS,
    Answer,
    Route,
    all_routes,
    cases,
    entry_for,
)

SPEC: dict[str, Any] = {
    "format": "sagaboard/v1",
    "steps": [
        {
            "id": "reserve",
            "name": "Reserve stock",
            "type": "task",
            "action": {"name": "demo.noop", "args": {}},
            "compensation": {"name": "demo.noop", "args": {}},
        },
        {
            "id": "manager_ok",
            "name": "Manager approval",
            "type": "approval",
            "after": ["reserve"],
            "action": {"group": "managers", "instructions": "Orders over 10k"},
        },
        {
            "id": "charge",
            "name": "Charge card",
            "type": "task",
            "after": ["manager_ok"],
            "action": {"name": "demo.noop", "args": {}},
            "pivot": True,
        },
        {
            "id": "ship",
            "name": "Ship",
            "type": "task",
            "after": ["charge"],
            "action": {"name": "demo.noop", "args": {}},
        },
        {
            "id": "pack",
            "name": "Pack each line",
            "type": "map",
            "after": ["ship"],
            "items": "[1, 2]",
            "do": {"type": "task", "action": {"name": "demo.noop", "args": {}}},
        },
    ],
}
DRAFT_SPEC = copy.deepcopy(SPEC)
DRAFT_SPEC["description"] = "The next version"

REASON = {"reason": "checked by the permission matrix"}
COMMENT = {"comment": "fine by me"}
SPEC_BODY = {"spec": SPEC}
#: JSON bodies of API writes, by route key (and method where one route takes several).
API_BODIES: dict[str, dict[str, Any]] = {
    "api:token": {"username": "matrix-nobody", "password": "wrong"},
    "api:workflow-list": {"slug": "made-by-matrix", "name": "Made"},
    "api:workflow-permissions": {"users": {}, "groups": {}},
    "api:version-list": SPEC_BODY,
    "api:version-detail:put": {"spec": DRAFT_SPEC},
    "api:version-detail:patch": {"note": "a note"},
    "api:version-reviews": {"decision": "approve", **COMMENT},
    "api:validate": SPEC_BODY,
    "api:layout": SPEC_BODY,
    "api:simulate": SPEC_BODY,
    "api:convert": SPEC_BODY,
    "api:run-start": {"input": {"order_id": "o-2"}},
    "api:run-compensate": REASON,
    "api:run-cancel": REASON,
    "api:step-retry": REASON,
    "api:step-skip": REASON,
    "api:iteration-retry": REASON,
    "api:iteration-skip": REASON,
    "api:step-approve": COMMENT,
    "api:step-reject": COMMENT,
    "api:callback": {"status": "succeeded"},
    "api:view-list": {"name": "Made by the matrix", "filter": {"workflow": "orders"}},
}
#: Form bodies of page writes.
FORM_BODIES: dict[str, dict[str, Any]] = {
    "login": {"username": "matrix-nobody", "password": "wrong"},
    "designer:workflow-create": {"slug": "made-by-matrix", "name": "Made"},
    "designer:version-create": {"spec": json.dumps(SPEC), "note": ""},
    "engine:run-start": {"input": json.dumps({"order_id": "o-3"}), "idempotency_key": ""},
    "designer:version-edit": {"spec": json.dumps(DRAFT_SPEC), "note": ""},
    "designer:version-review": {"decision": "approve", **COMMENT},
    "demo:traffic": {"rate_per_min": "0", "fail_percent": "0"},
    "demo:participant": {},
    "demo:noop": {},
}
HEADERS: dict[str, dict[str, str]] = {
    "demo:participant": {"Idempotency-Key": "matrix:reserve"},
    "demo:noop": {"Idempotency-Key": "matrix:noop"},
}
REDIRECTS = (301, 302, 303, 307, 308)
SESSION_COOKIE = settings.SESSION_COOKIE_NAME


# --- the data -------------------------------------------------------------------------


def _running(run: Run) -> tuple[str, int]:
    row = Run.objects.get(pk=run.pk).steps.get(status="running")
    return row.step_id, row.attempt


def _succeed(run: Run) -> None:
    engine_services.run_apply(run.pk, saga.StepSucceeded(*_running(run), {}))


def build_world() -> dict[str, Any]:
    """ "orders" with a published version (with an approval gate) and a draft, a run waiting
    at the gate, a run stuck after its pivot; "elsewhere" owned by other_owner."""
    users = {
        p: UserFactory(username=f"matrix-{p}", is_staff=p == "staff")
        for p in PRINCIPALS
        if p != "anonymous"
    }
    managers = GroupFactory(name="managers")
    users["approver"].groups.add(managers)
    users["gate_member"].groups.add(managers)
    orders = make_workflow("orders", owner=users["owner"])
    make_workflow("elsewhere", owner=users["other_owner"])
    for principal, perms in HOLDS.items():
        if perms and principal not in ("owner", "staff"):  # the creator holds every role
            grant(users[principal], orders, *perms)
    published = make_published(orders, SPEC)
    draft, _ = designer_services.version_create(
        workflow=orders, by=users["owner"], spec=copy.deepcopy(DRAFT_SPEC)
    )

    waiting, _ = engine_services.run_start(workflow=orders, by=None, input={"order_id": "o-1"})
    _succeed(waiting)  # reserve; the run now waits for a manager
    stuck, _ = engine_services.run_start(workflow=orders, by=None, input={"order_id": "o-2"})
    _succeed(stuck)
    engine_services.run_apply(stuck.pk, saga.ApprovalDecided("manager_ok", True, "a manager"))
    _succeed(stuck)  # charge: the pivot
    step, attempt = _running(stuck)
    engine_services.run_apply(stuck.pk, saga.StepFailed(step, attempt, "down", retryable=False))
    assert Run.objects.get(pk=waiting.pk).steps.get(step_id="manager_ok").status == "waiting"
    assert Run.objects.get(pk=stuck.pk).status == "stuck"
    # Stuck at its map, one iteration failed for good.
    mapped, _ = engine_services.run_start(workflow=orders, by=None, input={"order_id": "o-3"})
    _succeed(mapped)
    engine_services.run_apply(mapped.pk, saga.ApprovalDecided("manager_ok", True, "a manager"))
    _succeed(mapped)  # charge
    _succeed(mapped)  # ship; the map begins its two iterations
    engine_services.run_apply(mapped.pk, saga.StepFailed("pack", 1, "down", False, index=0))
    engine_services.run_apply(mapped.pk, saga.StepSucceeded("pack", 1, {}, index=1))
    assert Run.objects.get(pk=mapped.pk).status == "stuck"
    view = SavedView.objects.create(
        owner=users["owner"], name="Stuck orders", filter={"workflow": "orders"}, shared=True
    )

    return {
        "users": {p: u.pk for p, u in users.items()},
        "values": {
            "slug": "orders",
            "number": draft.number,
            "run_id": waiting.pk,
            "run_prefix": str(waiting.pk)[:8],
            "step": "manager_ok",
            "token": "no-such-token",
            "service": "inventory",
            "operation": "reserve",
            # The admin's: what the staff gate lets through is the admin's business.
            "app_label": "designer",
            "object_id": orders.pk,
            "object_pk": orders.pk,
            "user_id": users["viewer"].pk,
            "id": users["viewer"].pk,
            "group_id": managers.pk,
            "content_type_id": ContentType.objects.get_for_model(Workflow).pk,
            "url": "no-such-page/",
            "view_id": view.pk,
        },
        # Acts that need a run in another state than waiting at its gate.
        "overrides": {
            "api:step-retry": {"run_id": stuck.pk, "step": "ship"},
            "api:step-skip": {"run_id": stuck.pk, "step": "ship"},
            "api:iteration-retry": {"run_id": mapped.pk, "step": "pack", "index": 0},
            "api:iteration-skip": {"run_id": mapped.pk, "step": "pack", "index": 0},
            "api:step-iterations": {"run_id": mapped.pk, "step": "pack"},
        },
        "query": {
            "api:version-diff": {"against": published.number},
            "api:demo-ledger": {"run": str(waiting.pk)},
        },
    }


@pytest.fixture(scope="module")
def shared_client() -> Client:
    # One client for the module: each new one loads the middleware, and WhiteNoise
    # then indexes every static file (a sixth of a second each time).
    return Client()


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, shared_client):
    hashers = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with (
        django_db_blocker.unblock(),
        override_settings(PASSWORD_HASHERS=hashers),
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setattr("engine.dispatch.dispatch", lambda run_id, commands: None)
        with transaction.atomic():
            world = build_world()
            # One session per principal, rolled back with the rest.
            world["sessions"] = {}
            for principal, pk in world["users"].items():
                shared_client.cookies = SimpleCookie()  # else signing in ends the last session
                shared_client.force_login(User.objects.get(pk=pk))
                world["sessions"][principal] = shared_client.cookies[SESSION_COOKIE].value
            yield world
            transaction.set_rollback(True)


@pytest.fixture
def client_as(shared_client: Client, world) -> Callable[[str], Client]:
    """The shared client, signed in as ``principal`` (or not at all) and nothing else."""

    def sign_in(principal: str) -> Client:
        shared_client.cookies = SimpleCookie()
        if principal != "anonymous":
            shared_client.cookies[SESSION_COOKIE] = world["sessions"][principal]
        return shared_client

    return sign_in


def path_of(route: Route, world: dict[str, Any]) -> str:
    if route.key == "ws:<any other path>":
        return "/ws/no-such-stream/"
    values = {**world["values"], **world["overrides"].get(route.key, {})}
    return route.path(values)


# --- the table covers every route -----------------------------------------------------


def test_every_route_has_an_entry_in_the_matrix():
    missing = [f"{route.key} (/{route.pattern})" for route in all_routes() if not entry_for(route)]
    assert not missing, (
        "Routes without an entry in tests/sagaboard/matrix.py MATRIX; say who may reach them:\n"
        + "\n".join(missing)
    )


def test_every_entry_of_the_matrix_names_a_route():
    routes = all_routes()
    known = {route.key for route in routes} | {f"{route.namespace}:*" for route in routes}
    stale = sorted(set(MATRIX) - known)
    assert not stale, f"MATRIX entries that name no route: {stale}"


def test_every_entry_answers_for_every_principal():
    for key, methods in MATRIX.items():
        for method, by_principal in methods.items():
            assert set(by_principal) == set(PRINCIPALS), (key, method)


def test_every_method_an_api_view_implements_is_in_the_matrix():
    wrong = []
    for route in all_routes():
        view_class = getattr(route.callback, "view_class", None)
        if view_class is None or not issubclass(view_class, APIView):
            continue
        implemented = {
            m for m in view_class.http_method_names if m not in ("options", "head")
        } & set(dir(view_class))
        listed = set(entry_for(route) or {})
        if implemented != listed:
            wrong.append(f"{route.key}: implements {sorted(implemented)}, MATRIX {sorted(listed)}")
    assert not wrong, "\n".join(wrong)


# --- HTTP -----------------------------------------------------------------------------

HTTP_CASES = [
    pytest.param(route, method, principal, id=f"{route.key}-{method}-{principal}")
    for route, method, principal in cases()
    if not route.websocket
]
WS_CASES = [
    pytest.param(route, principal, id=f"{route.key}-{principal}")
    for route, method, principal in cases()
    if route.websocket
]


def login_path(route: Route) -> str:
    return reverse("admin:login") if route.namespace == "admin" else resolve_url(settings.LOGIN_URL)


def answer_of(route: Route, path: str, response: Any) -> Answer:
    """What the response means for access (see matrix.py for the vocabulary)."""
    status = response.status_code
    if status in REDIRECTS:
        target = urlsplit(response["Location"])
        if target.path != login_path(route):
            return OK
        nexts = parse_qs(target.query).get("next")
        if nexts is None:
            return OK  # a plain link to the sign-in page (after signing out), not a refusal
        return LOGIN if nexts == [path] else f"sign-in page with next={nexts}"
    if status == 401 and route.is_api:
        return LOGIN
    if status in (401, 403, 404):
        return status
    return OK


def send(client: Client, route: Route, method: str, path: str, world: dict[str, Any]) -> Any:
    headers = HEADERS.get(route.key, {})
    if method == "get":
        return client.get(path, world["query"].get(route.key, {}), headers=headers)
    if route.is_api:
        body = API_BODIES.get(f"{route.key}:{method}", API_BODIES.get(route.key, {}))
        return getattr(client, method)(
            path, json.dumps(body), content_type="application/json", headers=headers
        )
    if route.key in HEADERS:  # the demo participants take JSON
        return client.post(path, "{}", content_type="application/json", headers=headers)
    return getattr(client, method)(path, FORM_BODIES.get(route.key, {}), headers=headers)


@pytest.mark.django_db
@pytest.mark.parametrize(("route", "method", "principal"), HTTP_CASES)
def test_http_route_answers_as_designed(
    route: Route, method: str, principal: str, world, client_as
):
    path = path_of(route, world)
    assert resolve(path).func is route.callback, f"{path} is not {route.key}"
    client = client_as(principal)

    response = send(client, route, method, path, world)

    expected = entry_for(route)[method][principal]
    got = answer_of(route, path, response)
    where = f"{method.upper()} {path} ({route.key}) as {principal}"
    if expected == ADMITTED:
        assert got != LOGIN, f"{where}: sent to sign in; staff pass the admin's gate"
        return
    assert got == expected, (
        f"{where}: got {got} (HTTP {response.status_code}), DESIGN.md says {expected}"
    )
    if route.is_api and got in (403, 404):
        assert response.json()["detail"], "errors carry a detail"


REFUSALS = (LOGIN, 401, 403, 404)
#: Known departures from the table, each to be fixed where it is named; strict, so that
#: the fix turns the case red until its entry here is removed.
#: Refusals a malformed body gets past, by (route, expected answer): each entry is a
#: strict expected failure, so fixing the route fails the test until the entry goes.
KNOWN_BAD_INPUT_DEPARTURES: dict[tuple[str, Any], str] = {}


def _refused_writes() -> list[Any]:
    out = []
    for route, method, principal in cases():
        if route.websocket or method == "get" or route.key == "api:callback":
            # The callback's 404 is its token's answer; its body is checked first for
            # every token alike, which tells nothing about any token.
            continue
        expected = entry_for(route)[method][principal]
        if expected not in REFUSALS:
            continue
        known = KNOWN_BAD_INPUT_DEPARTURES.get((route.key, expected))
        marks = [pytest.mark.xfail(reason=known, strict=True)] if known else []
        out.append(
            pytest.param(
                route, method, principal, id=f"{route.key}-{method}-{principal}", marks=marks
            )
        )
    return out


REFUSED_WRITES = _refused_writes()


@pytest.mark.django_db
@pytest.mark.parametrize(("route", "method", "principal"), REFUSED_WRITES)
def test_bad_input_does_not_get_past_a_refusal(
    route: Route, method: str, principal: str, world, client_as
):
    """Who may not do an act is told so (403), or told nothing (404), whatever they send:
    a 400 about the body would say the act was within reach."""
    path = path_of(route, world)
    client = client_as(principal)
    headers = HEADERS.get(route.key, {})
    if route.is_api:
        response = getattr(client, method)(
            path, "[1]", content_type="application/json", headers=headers
        )
    else:
        bad_form = {"spec": "{", "decision": "maybe", "slug": "", "rate_per_min": "x"}
        response = getattr(client, method)(path, bad_form, headers=headers)

    expected = entry_for(route)[method][principal]
    got = answer_of(route, path, response)
    assert got == expected, (
        f"{method.upper()} {path} ({route.key}) as {principal} with a bad body: "
        f"got {got} (HTTP {response.status_code}), DESIGN.md says {expected}"
    )


# --- WebSockets -----------------------------------------------------------------------


async def ws_answer(path: str, headers: list[tuple[bytes, bytes]]) -> Answer:
    """ACCEPT when the stream's first frame arrives, else the close code."""
    comm = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await comm.connect(timeout=5)
    # A refusal is an accept and a close, so that the browser can read why.
    assert connected, f"{path}: the handshake itself was denied"
    output = await comm.receive_output(timeout=5)
    await comm.disconnect()
    if output["type"] == "websocket.close":
        return output["code"]
    assert output["type"] == "websocket.send", output
    return ACCEPT


@pytest.mark.django_db
@pytest.mark.parametrize(("route", "principal"), WS_CASES)
def test_websocket_route_answers_as_designed(route: Route, principal: str, world, monkeypatch):
    # The consumers reach the database through channels' database_sync_to_async, which
    # runs on this thread (so on this case's transaction) but drops a connection found
    # inside a transaction; the connection is the test's to manage here.
    monkeypatch.setattr("channels.db.close_old_connections", lambda: None)
    channel_layers.backends.pop("default", None)  # a layer of this case's event loop
    path = path_of(route, world)
    headers = [ORIGIN]
    if principal != "anonymous":
        headers.append((b"cookie", f"{SESSION_COOKIE}={world['sessions'][principal]}".encode()))

    got = async_to_sync(ws_answer)(path, headers)

    expected = entry_for(route)["websocket"][principal]
    assert got == expected, f"{path} ({route.key}) as {principal}: got {got}, expected {expected}"

"""Who may reach what: DESIGN.md's "Who uses it" and "API" rules as one table.

``MATRIX`` maps every route of the URL configuration and every WebSocket route
to, per method, the answer each principal gets on the workflow "orders" and its
runs. The principals are the roles of DESIGN.md, each holding only its own
permission on "orders" (a role includes seeing the workflow), plus:

- ``anonymous``: not signed in;
- ``outsider``: signed in, no permission on anything;
- ``other_owner``: the creator (so every role) of another workflow, none on "orders";
- ``owner``: the creator of "orders" (every role; also manages its permissions);
- ``approver``: ``view_workflow`` and a member of "managers", the group of the
  run's approval gate;
- ``gate_member``: a member of "managers" without any permission on "orders": the
  group decides gates only in runs its member may see;
- ``staff``: ``is_staff``, not a superuser.

Answers:

- ``OK``: the access checks let the request through: any answer but 401, 403,
  404 or a redirect to the sign-in page (a 400 or 409 from the body or the
  object's state counts as OK: the user was allowed to ask).
- ``LOGIN``: pages redirect to the sign-in page with ``?next=`` the page (the
  admin's own sign-in page for the admin); the API answers 401 (token
  authentication comes first, so DRF answers 401 with WWW-Authenticate, never 403).
- 401, 403, 404: that status (403: visible but not yours to do; 404: not visible,
  or not there: existence is not leaked).
- ``ADMITTED``: past the admin's staff gate; what a staff user may do there
  is Django's model permissions, not this table.
- WebSockets: ``ACCEPT`` (the stream's first frame arrives) or the close code
  the consumer sends (engine/consumers.py: 4401, 4403, 4404).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

from engine.routing import websocket_urlpatterns

Answer = str | int

OK = "ok"
LOGIN = "login"
ADMITTED = "admitted"
ACCEPT = "accept"
WS_UNAUTHENTICATED = 4401
WS_FORBIDDEN = 4403
WS_NO_STREAM = 4404

PRINCIPALS = (
    "anonymous",
    "outsider",
    "other_owner",
    "owner",
    "viewer",
    "author",
    "reviewer",
    "publisher",
    "runner",
    "operator",
    "approver",
    "gate_member",
    "staff",
)
SIGNED_IN_PRINCIPALS = PRINCIPALS[1:]
EVERY_ROLE = frozenset(
    {
        "view_workflow",
        "change_workflow",
        "review_workflow",
        "publish_workflow",
        "run_workflow",
        "operate_workflow",
    }
)
#: What each principal holds on "orders" (DESIGN.md, "Who uses it").
HOLDS: dict[str, frozenset[str]] = {
    "anonymous": frozenset(),
    "outsider": frozenset(),
    "other_owner": frozenset(),
    "owner": EVERY_ROLE,
    "viewer": frozenset({"view_workflow"}),
    "author": frozenset({"change_workflow"}),
    "reviewer": frozenset({"review_workflow"}),
    "publisher": frozenset({"publish_workflow"}),
    "runner": frozenset({"run_workflow"}),
    "operator": frozenset({"operate_workflow"}),
    "approver": frozenset({"view_workflow"}),
    "gate_member": frozenset(),
    "staff": EVERY_ROLE,
}
#: Who may decide the approval gate of a run of "orders" (members of its group, and staff).
IN_GATE_GROUP = frozenset({"approver", "staff"})
#: Who operates some workflow: "orders" (operator, owner) or their own (other_owner).
OPERATES_SOMETHING = frozenset({"operator", "owner", "other_owner", "staff"})


# --- the shapes of the policy ---------------------------------------------------------


def sees(principal: str) -> bool:
    """Every role includes seeing the workflow: a reviewer must see what they review."""
    return bool(HOLDS[principal])


def answers(default: Answer, **by_principal: Answer) -> dict[str, Answer]:
    unknown = set(by_principal) - set(PRINCIPALS)
    assert not unknown, f"no such principal: {unknown}"
    return {p: by_principal.get(p, default) for p in PRINCIPALS}


def on_workflow(
    perm: str, *, allowed: Callable[[str], bool] | None = None, anonymous: Answer = LOGIN
) -> dict[str, Answer]:
    """An act on "orders" (or a run of it) needing ``perm``: OK for who holds it, 403 for who
    sees the workflow without it, 404 for who cannot see it."""
    allowed = allowed or (lambda p: perm in HOLDS[p] or (perm == "view_workflow" and sees(p)))
    out: dict[str, Answer] = {}
    for p in PRINCIPALS:
        if p == "anonymous":
            out[p] = anonymous
        elif allowed(p):
            out[p] = OK
        else:
            out[p] = 403 if sees(p) else 404
    return out


READ = on_workflow("view_workflow")
CHANGE_DRAFT = on_workflow("change_workflow")
REVIEW = on_workflow("review_workflow")
PUBLISH = on_workflow("publish_workflow")
START_RUN = on_workflow("run_workflow")
OPERATE_RUN = on_workflow("operate_workflow")
DECIDE_APPROVAL = on_workflow("view_workflow", allowed=lambda p: p in IN_GATE_GROUP)
MANAGE_PERMISSIONS = on_workflow("view_workflow", allowed=lambda p: p in {"owner", "staff"})
#: A saved view shared by "orders"' owner, naming "orders": seen by whoever sees "orders",
#: deleted by its owner and staff only.
SEE_VIEW = READ
DELETE_VIEW = on_workflow("view_workflow", allowed=lambda p: p in {"owner", "staff"})
SIGNED_IN = answers(OK, anonymous=LOGIN)
ANYONE = answers(OK)
#: Creating workflows needs staff or the global designer.add_workflow, which no role holds.
CREATE_WORKFLOW = answers(403, anonymous=LOGIN, staff=OK)
#: The demo traffic switch: staff and whoever operates some workflow.
CONTROL_TRAFFIC = {
    p: LOGIN if p == "anonymous" else OK if p in OPERATES_SOMETHING else 403 for p in PRINCIPALS
}
#: A scrape endpoint: a staff session or the metrics Bearer token; everyone else is
#: answered as a scraper without credentials.
SCRAPE = answers(401, staff=OK)
#: The Django admin: every one of its views sits behind its staff gate.
ADMIN_SITE = answers(LOGIN, staff=ADMITTED)
#: A callback's one-time token is its only credential: no session, not even staff's,
#: completes a step without it (the same 404 for everyone for an unknown token).
CALLBACK_UNKNOWN_TOKEN = answers(404)
WATCH_ALL = answers(ACCEPT, anonymous=WS_UNAUTHENTICATED)
WATCH = {
    p: WS_UNAUTHENTICATED if p == "anonymous" else ACCEPT if sees(p) else WS_FORBIDDEN
    for p in PRINCIPALS
}
NO_STREAM = answers(WS_NO_STREAM)


# --- the table ------------------------------------------------------------------------

#: Route key ("namespace:name"; "ws:<pattern>" for WebSocket routes; "namespace:*" for
#: every route of a namespace) -> method -> principal -> answer.
MATRIX: dict[str, dict[str, dict[str, Answer]]] = {
    # Site
    "home": {"get": ANYONE},  # a redirect to the board, which asks to sign in
    "login": {"get": ANYONE, "post": ANYONE},
    "logout": {"post": ANYONE},
    "metrics": {"get": SCRAPE},
    "healthz": {"get": ANYONE},
    "admin:*": {"get": ADMIN_SITE},
    "admin:login": {"get": ANYONE, "post": ANYONE},
    # Whoever is not staff is sent to the admin's index, which asks them to sign in.
    "admin:logout": {"post": ANYONE},
    # Designer pages
    "designer:workflow-list": {"get": SIGNED_IN},  # lists only what each user sees
    "designer:workflow-create": {"post": CREATE_WORKFLOW},
    "designer:workflow-detail": {"get": READ},
    "designer:workflow-permissions": {"get": READ, "post": MANAGE_PERMISSIONS},
    "designer:designer-new": {"get": CHANGE_DRAFT},
    "designer:version-create": {"post": CHANGE_DRAFT},
    "engine:run-start": {"post": START_RUN},
    "designer:version-detail": {"get": READ},
    "designer:version-edit": {"get": CHANGE_DRAFT, "post": CHANGE_DRAFT},
    "designer:version-submit": {"post": CHANGE_DRAFT},
    "designer:version-publish": {"get": PUBLISH, "post": PUBLISH},  # asks, then publishes
    "designer:version-review": {"get": READ, "post": REVIEW},
    "designer:version-diff": {"get": READ},
    "designer:designer-version": {"get": READ},
    # Live pages
    "engine:board": {"get": SIGNED_IN},  # shows only the runs of visible workflows
    "engine:run": {"get": READ},
    "engine:run-prefix": {"get": READ},  # a redirect to the run it names
    "engine:workflow-overview": {"get": READ},
    "audit": {"get": SIGNED_IN},  # the audit log: entries of visible workflows only
    # Demo
    "demo:traffic": {"get": CONTROL_TRAFFIC, "post": CONTROL_TRAFFIC},
    # The demo participants stand for outside services: they know no Sagaboard user.
    "demo:participant": {"post": ANYONE},
    "demo:noop": {"post": ANYONE},
    # API: plumbing
    "api:token": {"post": ANYONE},
    "api:schema": {"get": ANYONE},
    "api:docs": {"get": ANYONE},
    "api:demo-ledger": {"get": READ},  # a run's participant effects: as private as the run
    # API: definitions
    "api:workflow-list": {"get": SIGNED_IN, "post": CREATE_WORKFLOW},
    "api:workflow-detail": {"get": READ},
    "api:workflow-permissions": {"get": READ, "put": MANAGE_PERMISSIONS},
    "api:version-list": {"get": READ, "post": CHANGE_DRAFT},
    "api:version-detail": {"get": READ, "put": CHANGE_DRAFT, "patch": CHANGE_DRAFT},
    "api:version-submit": {"post": CHANGE_DRAFT},
    "api:version-reviews": {"post": REVIEW},
    "api:version-publish": {"post": PUBLISH},
    "api:version-diff": {"get": READ},
    "api:version-graph": {"get": READ},
    # API: the designer's helpers hold nothing of any workflow
    "api:validate": {"post": SIGNED_IN},
    "api:activity-list": {"get": SIGNED_IN},
    "api:group-list": {"get": SIGNED_IN},
    "api:layout": {"post": SIGNED_IN},
    "api:simulate": {"post": SIGNED_IN},
    "api:convert": {"post": SIGNED_IN},
    # API: runs
    "api:run-start": {"post": START_RUN},
    "api:workflow-stats": {"get": READ},
    "api:run-list": {"get": SIGNED_IN},  # lists only runs of visible workflows
    # API: the audit log lists only entries of visible workflows (staff: all)
    "api:audit": {"get": SIGNED_IN},
    "api:audit-csv": {"get": SIGNED_IN},
    "api:run-detail": {"get": READ},
    "api:run-events": {"get": READ},
    "api:run-compensate": {"post": OPERATE_RUN},
    "api:run-cancel": {"post": OPERATE_RUN},
    "api:step-retry": {"post": OPERATE_RUN},
    "api:step-skip": {"post": OPERATE_RUN},
    "api:iteration-retry": {"post": OPERATE_RUN},
    "api:iteration-skip": {"post": OPERATE_RUN},
    "api:step-iterations": {"get": READ},
    "api:step-approve": {"post": DECIDE_APPROVAL},
    "api:step-reject": {"post": DECIDE_APPROVAL},
    "api:callback": {"post": CALLBACK_UNKNOWN_TOKEN},
    # API: saved views
    "api:view-list": {"get": SIGNED_IN, "post": SIGNED_IN},  # lists only what each user sees
    "api:view-detail": {"get": SEE_VIEW, "delete": DELETE_VIEW},
    # WebSockets
    "ws:ws/board/": {"websocket": WATCH_ALL},  # carries only the runs of visible workflows
    "ws:ws/workflows/<str:slug>/": {"websocket": WATCH},
    "ws:ws/runs/<str:run_id>/": {"websocket": WATCH},
    "ws:<any other path>": {"websocket": NO_STREAM},
}

#: Entries sent as some principals only. The admin's staff gate looks at is_staff and
#: nothing else, never at a workflow role: its eighty-odd routes are sent as a user
#: without any role, one with every role, staff and nobody.
SAMPLED: dict[str, tuple[str, ...]] = {"admin:*": ("anonymous", "outsider", "owner", "staff")}


# --- the routes -----------------------------------------------------------------------

_ROUTE_PARAM = re.compile(r"<(?:\w+:)?(\w+)>")
_REGEX_PARAM = re.compile(r"\(\?P<(\w+)>[^)]*\)")


@dataclass(frozen=True)
class Route:
    key: str
    namespace: str | None
    pattern: str  # the whole path pattern, without the leading slash
    callback: Any
    websocket: bool = False

    @property
    def is_api(self) -> bool:
        return self.pattern.startswith("api/")

    def path(self, values: dict[str, Any]) -> str:
        """The route's path with each parameter taken from ``values``."""
        path = _REGEX_PARAM.sub(lambda m: str(values[m[1]]), self.pattern)
        path = _ROUTE_PARAM.sub(lambda m: str(values[m[1]]), path)
        return "/" + path.replace("^", "").replace("$", "").replace("\\", "")


def _walk(patterns: list[Any], prefix: str, namespace: str | None) -> Iterator[Route]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = namespace
            if entry.namespace:
                inner = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            pattern = prefix + str(entry.pattern)
            name = entry.name or f"<{pattern}>"
            key = f"{namespace}:{name}" if namespace else name
            yield Route(key, namespace, pattern, entry.callback)


def http_routes() -> list[Route]:
    """Every route of the URL configuration, with its namespaced name."""
    return list(_walk(get_resolver().url_patterns, "", None))


def websocket_routes() -> list[Route]:
    return [
        Route(
            f"ws:{str(entry.pattern) or '<any other path>'}",
            "ws",
            str(entry.pattern),
            entry.callback,
            websocket=True,
        )
        for entry in websocket_urlpatterns
    ]


def all_routes() -> list[Route]:
    return http_routes() + websocket_routes()


def entry_key(route: Route) -> str | None:
    for key in (route.key, f"{route.namespace}:*"):
        if key in MATRIX:
            return key
    return None


def entry_for(route: Route) -> dict[str, dict[str, Answer]] | None:
    key = entry_key(route)
    return MATRIX[key] if key else None


def cases() -> Iterator[tuple[Route, str, str]]:
    """Route x method x principal for every route the table covers."""
    for route in all_routes():
        key = entry_key(route)
        if key is None:
            continue  # test_every_route_has_an_entry_in_the_matrix names it
        for method in MATRIX[key]:
            for principal in SAMPLED.get(key, PRINCIPALS):
                yield route, method, principal

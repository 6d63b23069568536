"""Every page passes axe-core, as each role that can see it, on a wide screen and a phone.

axe-core (frontend/node_modules, a dev dependency) is injected into each page; the
browser context bypasses the Content-Security-Policy, which would refuse the injected
script. A critical or serious violation fails the test, named by rule, elements, page,
role and width; moderate and minor ones are printed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from playwright.sync_api import Browser, Page, expect

from designer import services as designer
from tests.browser.conftest import ROOT
from tests.browser.live_server import SLOW, AsgiServer, Live
from tests.engine.conftest import Worker
from tests.factories import UserFactory, grant, make_published, make_workflow
from tests.sagas import approval, client_for, saga, start, task, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

AXE = ROOT / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
FAILING = {"critical", "serious"}
#: A folder to keep each page as staff saw it (SAGABOARD_SCREENSHOTS), to look at them.
SHOTS = os.environ.get("SAGABOARD_SCREENSHOTS")
WIDTHS = {"wide": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}

# The roles of DESIGN.md's "Who uses it", as the grants on both workflows make them.
ROLE_PERMS: dict[str, tuple[str, ...]] = {
    "staff": (),
    "author": ("view_workflow", "change_workflow"),
    "reviewer": ("view_workflow", "review_workflow"),
    "viewer": ("view_workflow",),
    "operator": ("view_workflow", "run_workflow", "operate_workflow"),
    "approver": ("view_workflow",),  # and a member of the gate's group
}


@dataclass
class World:
    users: dict[str, User]
    stuck: str
    completed: str
    gate: str
    review: int  # the version in review, against v1 (retired) and v2 (published)
    draft: int  # a draft, for the edit page


@dataclass
class Target:
    """A page as axe sees it: where, for whom, and what shows it is drawn."""

    name: str
    path: str
    ready: str  # a selector visible once the page is drawn
    roles: set[str] = field(default_factory=lambda: set(ROLE_PERMS))
    live: bool = False  # a live page: waits for its socket
    # A state the page reaches once drawn (a dialog open, a step picked): what to click,
    # and what shows once it has.
    click: str | None = None
    shown: str | None = None


def pages(world: World) -> list[Target]:
    everyone = set(ROLE_PERMS)
    changers = {"staff", "author"}
    return [
        Target("board", "/runs/", f'tr[data-run="{world.stuck}"]', live=True),
        Target("run, stuck", f"/runs/{world.stuck}/", ".stuck-alert", live=True),
        Target("run, completed", f"/runs/{world.completed}/", ".event-log tr", live=True),
        Target("run, at an approval gate", f"/runs/{world.gate}/", ".gate-alert", live=True),
        Target(
            "run, stuck, retrying a step",
            f"/runs/{world.stuck}/",
            ".stuck-alert",
            {"staff", "operator"},
            live=True,
            click='.stuck-alert button[data-act="retry"]',
            shown="dialog.act-dialog",
        ),
        Target(
            "run, at an approval gate, approving",
            f"/runs/{world.gate}/",
            ".gate-alert",
            {"staff", "approver"},
            live=True,
            click='.gate-alert button[data-act="approve"]',
            shown="dialog.act-dialog",
        ),
        # Drawn once its first page of entries (the world's reviews and publications) is.
        Target("audit log", "/audit/", 'table[data-testid="audit"] tbody tr'),
        Target("workflow list", "/workflows/", "table.table"),
        Target("workflow page", "/workflows/orders/", ".page-head"),
        Target("overview", "/workflows/orders/overview/", ".page-head", live=True),
        Target("version page", "/workflows/orders/versions/1/", ".page-head"),
        Target("review page", f"/workflows/orders/versions/{world.review}/review/", "main"),
        Target("diff page", f"/workflows/orders/versions/{world.review}/diff/?against=1", "main"),
        Target("edit page", f"/workflows/orders/versions/{world.draft}/edit/", "main", changers),
        Target("designer, new draft", "/workflows/orders/designer/", ".react-flow__node", changers),
        Target(
            "designer, a step picked",
            "/workflows/orders/designer/",
            ".react-flow__node",
            changers,
            click='.react-flow__node[data-id="ship"] .step-name',
            shown='[data-panel="step"]',
        ),
        Target(
            "designer, simulating",
            "/workflows/orders/versions/1/designer/",
            ".react-flow__node",
            click='.designer-tools button:has-text("Simulate")',
            shown='[data-panel="simulate"]',
        ),
        Target(
            "designer, read-only", "/workflows/orders/versions/1/designer/", ".react-flow__node"
        ),
        Target("permissions", "/workflows/orders/permissions/", "main"),
        Target("demo page", "/demo/", "main", {"staff", "operator"}),
        Target("403", "/demo/", ".error-page", everyone - {"staff", "operator"}),
        Target("404", "/workflows/nope/", ".error-page"),
    ]


@pytest.fixture
def world(asgi_server: AsgiServer, worker: Worker) -> World:
    """Two workflows, a user of each role, and runs stuck, completed and at a gate."""
    managers, _ = Group.objects.get_or_create(name="managers")
    orders = make_workflow("orders")
    steps = [
        task("reserve", "demo.inventory.reserve", comp="demo.inventory.release"),
        approval("manager_ok", ["reserve"], name="Manager approval"),
        {**task("charge", "demo.payments.charge", ["manager_ok"]), "pivot": True},
        task("ship", "demo.shipping.ship", ["charge"], fail="permanent"),
    ]
    # v1 retired by v2, so that every status of a version is on the pages.
    make_published(orders, saga(*steps))
    make_published(orders, saga(*steps, description="Take an order from payment to shipping"))
    trips = make_workflow("trips")
    make_published(
        trips,
        saga(
            task("book_flight", "demo.noop"),
            task("book_hotel", "demo.noop", ["book_flight"]),
        ),
    )
    users: dict[str, User] = {}
    for role, perms in ROLE_PERMS.items():
        user = UserFactory(username=role, is_staff=role == "staff")
        for workflow in (orders, trips):
            grant(user, workflow, *perms)
        users[role] = user
    users["approver"].groups.add(managers)
    users["staff"].groups.add(managers)

    staff = client_for(users["staff"])
    stuck = start(staff, "orders")["id"]
    gate = start(staff, "orders", input={"order_id": "o-2"})["id"]
    completed = start(staff, "trips")["id"]
    wait_for(staff, stuck, {"waiting"})
    response = staff.post(f"/api/runs/{stuck}/steps/manager_ok/approve/", {}, format="json")
    assert response.status_code == 200, response.json()
    wait_for(staff, stuck, {"stuck"})
    wait_for(staff, gate, {"waiting"})
    wait_for(staff, completed, {"completed"})

    author = orders.created_by
    spec = orders.versions.get(number=1).spec
    spec["steps"][0]["name"] = "Reserve the stock"
    review, _ = designer.version_create(workflow=orders, by=author, spec=spec)
    designer.version_submit(version=review, by=author)
    spec["steps"][0]["timeout_s"] = 20
    draft, _ = designer.version_create(workflow=orders, by=author, spec=spec)
    return World(users, stuck, completed, gate, review.number, draft.number)


@pytest.fixture
def axe_context(browser: Browser, asgi_server: AsgiServer) -> Iterator[Callable[..., Live]]:
    """Pages whose context ignores the CSP, so that the injected axe-core may run."""
    contexts = []

    def open_context(viewport: dict[str, int]) -> Live:
        context = browser.new_context(viewport=viewport, bypass_csp=True)
        context.set_default_timeout(SLOW)
        contexts.append(context)
        return Live(context.new_page(), asgi_server.url)

    yield open_context
    for context in contexts:
        context.close()


def axe(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    return page.evaluate(
        """async () => {
             const result = await axe.run(document, {resultTypes: ["violations"]});
             return result.violations.map((v) => ({
               id: v.id,
               impact: v.impact,
               help: v.help,
               nodes: v.nodes.map((n) => ({
                 target: n.target.join(" "),
                 summary: n.failureSummary,
               })),
             }));
           }"""
    )


def visit(live: Live, target: Target) -> None:
    response = live.page.goto(f"{live.url}{target.path}")
    assert response is not None
    if target.live:
        expect(live.page.locator(".live-badge")).to_have_attribute("data-state", "live")
    expect(live.page.locator(target.ready).first).to_be_visible()
    if target.click and target.shown:
        live.page.locator(target.click).first.click()
        expect(live.page.locator(target.shown).first).to_be_visible()
    # Transitions and fades settle, so that colours are read as they end.
    live.page.wait_for_timeout(300)


def report(found: list[tuple[str, str, str, dict[str, Any]]]) -> str:
    """One entry per rule and page: the roles and widths it was seen as, and each element
    with what axe says of it."""
    grouped: dict[tuple[str, str, str], dict[str, Any]] = {}
    for where, role, width, violation in found:
        key = (violation["impact"], violation["id"], where)
        entry = grouped.setdefault(key, {"help": violation["help"], "as": [], "nodes": {}})
        if f"{role} ({width})" not in entry["as"]:
            entry["as"].append(f"{role} ({width})")
        for node in violation["nodes"]:
            entry["nodes"].setdefault(node["target"], " ".join((node["summary"] or "").split()))
    lines = []
    for (impact, rule, where), entry in grouped.items():
        lines.append(f"{impact} {rule} on {where}: {entry['help']}; as {', '.join(entry['as'])}")
        lines += [f"    {target}: {summary[:240]}" for target, summary in entry["nodes"].items()]
    return "\n".join(lines)


@pytest.mark.parametrize("width", list(WIDTHS))
def test_every_page_passes_axe_as_each_role(
    world: World, axe_context: Callable[..., Live], width: str
) -> None:
    found: list[tuple[str, str, str, dict[str, Any]]] = []
    anonymous = axe_context(WIDTHS[width])
    anonymous.page.goto(f"{anonymous.url}/login/")
    expect(anonymous.page.locator("#id_username")).to_be_visible()
    found += [("sign-in", "anonymous", width, v) for v in axe(anonymous.page)]

    for role, user in world.users.items():
        live = axe_context(WIDTHS[width])
        live.sign_in(user)
        for target in pages(world):
            if role not in target.roles:
                continue
            visit(live, target)
            found += [(target.name, role, width, v) for v in axe(live.page)]
            if SHOTS and role == "staff":
                name = re.sub(r"\W+", "-", target.name)
                live.page.screenshot(path=f"{SHOTS}/{width}-{name}.png", full_page=True)

    failing = [f for f in found if f[3]["impact"] in FAILING]
    other = [f for f in found if f[3]["impact"] not in FAILING]
    if other:
        print("Moderate and minor:\n" + report(other))
    assert not failing, "axe-core finds on Sagaboard's pages:\n" + report(failing)

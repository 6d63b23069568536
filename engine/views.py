"""The live pages: the board of runs, one run, and a workflow's overview; and starting a
run from the workflow's page.

Each is a server-rendered shell whose live part is a TypeScript island of the
front-end build (``static/build/board.js``, ``run.js``, ``overview.js``). The
view reads what the page shows first, with the same selectors and serializers
as the API, and hands it over with ``json_script``: no inline script. The
island keeps it current over one WebSocket and the REST API.

Access as everywhere else: a run or workflow the user may not view is a 404.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import connection, transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_POST
from rest_framework.request import Request

from common.errors import Conflict, InvalidInput
from common.people import signed_in
from designer.access import visible_workflows, workflow_access
from designer.forms import RunStartForm
from designer.views import page, render_workflow
from engine import services, stats
from engine.apis import RunPagination, run_body, run_list_page
from engine.eventlog import run_events
from engine.saved_views import views_visible
from engine.search import ATTR, FINDING_PARAMS, finding_query
from engine.selectors import RunFilters, run_access, run_by_prefix, run_filters
from engine.view_apis import SavedViewSerializer
from saga.vocabulary import OPEN, RunStatus

#: Events handed to the run page with its first paint; the socket replays the rest.
FIRST_EVENTS = 2000
#: Stuck runs shown above the board's list.
STUCK_ON_TOP = 20
#: The board's time filter: value, label, how far back in hours.
BOARD_PERIODS = [("1h", "Last hour", 1), ("24h", "Last 24 hours", 24), ("7d", "Last 7 days", 168)]
#: The board's "active" filter: every run not ended, in the order of the statuses.
ACTIVE_STATUSES = [str(s) for s in RunStatus if s in OPEN]
#: The filters the board's form has a field for, which says their errors.
BOARD_FIELDS = {"q", "workflow", "status", "since", "until", "step", "error"}
# Links the island fills in with a run's id or a workflow's slug.
RUN_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"
SLUG_PLACEHOLDER = "__slug__"


def _cursor(link: str | None) -> str | None:
    """The cursor of a paginator's next link: the island asks the API for that page."""
    if not link:
        return None
    return parse_qs(urlsplit(link).query).get("cursor", [None])[0]


def _page(request: HttpRequest, filters: RunFilters, size: int) -> dict[str, Any]:
    """The first page of runs for ``filters``, as the API answers it, and the cursor of
    the next one (the island asks the API for the pages after)."""
    api_request = HttpRequest()
    api_request.META = request.META
    api_request.path = reverse("api:run-list")
    page = run_list_page(Request(api_request), filters, user=request.user, page_size=size)
    return {"results": page["results"], "next": _cursor(page["next"])}


def _board_query(request: HttpRequest) -> dict[str, str]:
    """The board's query string as the API's filters: a period stands for its ``since``."""
    query = {
        key: request.GET.get(key, "")
        for key in ("workflow", "status", "since", "until", "children", *FINDING_PARAMS)
    }
    query.update({key: request.GET.get(key, "") for key in request.GET if key.startswith(ATTR)})
    hours = {value: h for value, _, h in BOARD_PERIODS}.get(request.GET.get("period", ""))
    if hours is not None:
        query["since"] = (timezone.now() - timedelta(hours=hours)).isoformat()
        query["until"] = ""
    if query["status"] == "active":
        query["status"] = ",".join(ACTIVE_STATUSES)
    return query


def _search_attributes(user: Any, slugs: list[str]) -> list[str] | None:
    """The search attributes of the one workflow ``slugs`` names, as its published version
    declares them (sorted, as the workflow API gives them); None unless exactly one."""
    if len(slugs) != 1:
        return None
    workflow = visible_workflows(user).filter(slug=slugs[0]).first()
    published = workflow.published_version if workflow else None
    search = published.spec.get("search") if published else None
    return sorted(search) if isinstance(search, dict) else []


def _attr_fields(
    attributes: list[str] | None, query: dict[str, str], errors: dict[str, str]
) -> list[dict[str, str]]:
    """An input for each search attribute of the chosen workflow, and for each ``attr.``
    filter the address holds besides (a link's), so that every filter applied is seen."""
    names = list(attributes or [])
    names += [
        key[len(ATTR) :] for key in query if key.startswith(ATTR) and key[len(ATTR) :] not in names
    ]
    return [
        {
            "key": f"{ATTR}{name}",
            "name": name,
            "id": f"f-attr-{index}",
            "value": query.get(f"{ATTR}{name}", ""),
            "error": errors.get(f"{ATTR}{name}", ""),
        }
        for index, name in enumerate(names)
    ]


@login_required
@require_GET
@ensure_csrf_cookie
def board(request: HttpRequest) -> HttpResponse:
    """Active and recent runs of every workflow the user may see; stuck runs on top.

    The filters are a plain GET form, each error shown by its field; the island keeps the
    list live and pages on, and lists the saved views and saves the filters as one."""
    problem = None
    errors: dict[str, str] = {}
    query = _board_query(request)
    try:
        filters = run_filters(query)
    except InvalidInput as exc:
        problem = exc.detail
        errors = {str(e["field"]): str(e["message"]) for e in exc.errors if e.get("field")}
        filters = RunFilters()
    workflows = list(visible_workflows(request.user).order_by("name").values("slug", "name"))
    chosen_workflows = [s for s in query["workflow"].split(",") if s.strip()]
    attributes = _search_attributes(request.user, chosen_workflows)
    stuck = RunFilters(
        workflows=filters.workflows,
        order=RunStatus.STUCK,
        children=filters.children,
        finding=filters.finding,
    )
    views = SavedViewSerializer(
        views_visible(request.user), many=True, context={"request": request}
    ).data
    config = {
        "api": reverse("api:run-list"),
        "ws": "/ws/board/",
        "run_url": reverse("engine:run", args=[RUN_PLACEHOLDER]),
        "overview_url": reverse("engine:workflow-overview", args=[SLUG_PLACEHOLDER]),
        # What the API is asked for the pages after the first: the filters as parsed.
        "query": {
            "workflow": ",".join(filters.workflows),
            "status": ",".join(filters.statuses),
            "since": filters.since.isoformat() if filters.since else "",
            "until": filters.until.isoformat() if filters.until else "",
            "children": "" if filters.children else "false",
            **finding_query(filters.finding),
        },
        # The one chosen workflow's search attributes, a column each; null: a column of all.
        "attributes": attributes,
        "page_size": RunPagination.page_size,
        "runs": _page(request, filters, RunPagination.page_size),
        "stuck": _page(request, stuck, STUCK_ON_TOP),
        "views": list(views),
        # A period is saved as the time it stands for now: the view says so.
        "period": dict((value, label) for value, label, _ in BOARD_PERIODS).get(
            request.GET.get("period", ""), ""
        ),
        "problem": bool(problem),
    }
    context = {
        "config": config,
        "problem": problem,
        "errors": errors,
        "workflows": workflows,
        "statuses": ["active", *RunStatus],
        "periods": BOARD_PERIODS,
        "chosen": {
            key: request.GET.get(key, "")
            for key in ("workflow", "status", "period", "since", "until", "children")
        }
        | {key: query[key] for key in FINDING_PARAMS},
        "attr_fields": _attr_fields(attributes, query, errors),
        # Said by its field when the form has one for it (board.html), else in the alert.
        "problem_by_field": bool(errors)
        and all(f in BOARD_FIELDS or f.startswith(ATTR) for f in errors),
        "any_chosen": any(query.values()) or bool(request.GET.get("period")),
    }
    return render(request, "engine/board.html", context, status=400 if problem else 200)


def _run_snapshot(request: HttpRequest, run: Any) -> tuple[dict[str, Any], list[Any]]:
    """The run and the start of its log, read from one snapshot so the two agree."""
    outer = connection.in_atomic_block
    with transaction.atomic():
        if connection.vendor == "postgresql" and not outer:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        body = run_body(request, run)  # type: ignore[arg-type]  # it only reads .user
        # A map's iterations are not in the page's log: their progress is on the map's
        # step, and its list of iterations is read a page at a time.
        events = run_events(run, limit=FIRST_EVENTS, iterations=False)
    return body, list(events)


@login_required
@require_GET
@ensure_csrf_cookie
def run(request: HttpRequest, run_id: str) -> HttpResponse:
    """One run: its graph, timeline, log and data, live; and the acts the user may do."""
    found = run_access(request.user, run_id)
    body, events = _run_snapshot(request, found)
    workflow = found.workflow
    version = found.version
    config = {
        "api": "/api/",
        "ws": f"/ws/runs/{found.pk}/",
        "run": body,
        "events": events,
        # Every event up to the body's is in the page (its iterations' left out on purpose):
        # the stream resumes after it. Else after the last one given.
        "events_through": body["last_seq"] if len(events) < FIRST_EVENTS else events[-1]["seq"],
        "spec": version.spec,
        "layout": version.layout or {},
        "urls": {
            "board": reverse("engine:board"),
            "workflow": reverse("designer:workflow-detail", args=[workflow.slug]),
            "overview": reverse("engine:workflow-overview", args=[workflow.slug]),
            "version": reverse("designer:version-detail", args=[workflow.slug, version.number]),
        },
        "workflow": {"slug": workflow.slug, "name": workflow.name},
    }
    context = {"run": found, "workflow": workflow, "version": version, "config": config}
    return render(request, "engine/run.html", context)


@login_required
@require_GET
def run_prefix(request: HttpRequest, run_prefix: str) -> HttpResponse:
    """A run named by the start of its id (the board's short id): its page, when exactly
    one run the user may see starts so; else 404, as for any run not to be seen."""
    run_id = run_by_prefix(request.user, run_prefix)
    if run_id is None:
        raise Http404("No run you may see has an id starting so, or more than one has.")
    return redirect("engine:run", run_id=run_id)


@login_required
@require_GET
def workflow_overview(request: HttpRequest, slug: str) -> HttpResponse:
    """A workflow's runs per minute, outcome rates, step latencies and stuck runs, live."""
    workflow = workflow_access(request.user, slug)
    minutes = stats.window_minutes(request.GET.get("minutes"))
    config = {
        "api": reverse("api:workflow-stats", args=[workflow.slug]),
        "ws": f"/ws/workflows/{workflow.slug}/",
        "run_url": reverse("engine:run", args=[RUN_PLACEHOLDER]),
        "board_url": reverse("engine:board") + f"?workflow={workflow.slug}",
        "stats": stats.workflow_stats_cached(workflow, minutes=minutes),
    }
    # A workflow's page, reached from the workflows (as its breadcrumb says), not the board.
    context = {"workflow": workflow, "config": config, "nav_section": "designer"}
    return render(request, "engine/overview.html", context)


@page
@require_POST
def run_start(request: HttpRequest, slug: str) -> HttpResponse:
    """The workflow page's "Start a run": the run page once started, else the form again."""
    workflow = workflow_access(request.user, slug, "run_workflow")
    form = RunStartForm(request.POST)
    issues: list[dict[str, Any]] = []
    if form.is_valid():
        try:
            run, created = services.run_start(
                workflow=workflow,
                by=signed_in(request.user),
                input=form.cleaned_data["input"],
                idempotency_key=form.cleaned_data["idempotency_key"] or None,
            )
        except InvalidInput as exc:
            form.add_error("input", exc.detail)
            issues = exc.errors
        except Conflict as exc:
            form.add_error(None, str(exc))
        else:
            if created:
                messages.success(request, "Run started.")
            elif run.input != form.cleaned_data["input"]:
                messages.warning(
                    request,
                    "A run with that idempotency key exists already, started with another "
                    "input: this one. The input you gave was not used.",
                )
            else:
                messages.info(request, "A run with that idempotency key exists already: this one.")
            return redirect("engine:run", run_id=run.pk)
    messages.error(request, "The run was not started; see the form below.")
    return render_workflow(request, workflow, run_form=form, run_issues=issues, status=400)

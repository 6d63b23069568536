"""The audit log's page, ``/audit/``: a server-rendered filter form (its fields are the
API's filters, so its query string is the API's) over a TypeScript island
(``static/build/audit.js``) that shows the entries and reads the pages after the
first from ``GET /api/audit/``. The CSV link carries the same filters."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET
from rest_framework.request import Request

from common.errors import InvalidInput
from designer.access import visible_workflows
from designer.audit import AUDIT_ACTS
from designer.audit_apis import AuditPagination, audit_page

FILTERS = ("actor", "act", "workflow", "since", "until")
#: The act filter's groups, by the act name's first part.
ACT_GROUPS = {
    "act": "Acts on runs",
    "bulk": "Bulk acts",
    "version": "Versions",
    "workflow": "Permissions",
    "alert": "Alerts",
}
# Links the island fills in with a run's id, a workflow's slug, a version's number.
RUN_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"
SLUG_PLACEHOLDER = "__slug__"
NUMBER_PLACEHOLDER = 999999999


def _cursor(link: str | None) -> str | None:
    if not link:
        return None
    return parse_qs(urlsplit(link).query).get("cursor", [None])[0]


def _api_request(request: HttpRequest, query: QueryDict) -> Request:
    """``GET /api/audit/?<query>`` as the page's user asks it, for the page's first entries."""
    api_request = HttpRequest()
    api_request.META = request.META
    api_request.path = reverse("api:audit")
    api_request.GET = query  # type: ignore[assignment]  # a bare request's own is mutable too
    asked = Request(api_request)
    asked.user = request.user
    return asked


@login_required
@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    """Every act on the workflows the user may see, newest first, filtered as asked."""
    chosen = {key: request.GET.get(key, "").strip() for key in FILTERS}
    query = {key: value for key, value in chosen.items() if value}
    problem = None
    filtered = QueryDict(mutable=True)
    filtered.update(query)
    try:
        first = audit_page(_api_request(request, filtered))
    except InvalidInput as exc:
        problem, query = exc.detail, {}
        first = audit_page(_api_request(request, QueryDict()))
    encoded = urlencode(query)
    groups: dict[str, list[str]] = {}
    for act in AUDIT_ACTS:
        groups.setdefault(ACT_GROUPS[act.split(".")[0]], []).append(act)
    config = {
        "api": reverse("api:audit"),
        "query": query,
        "page_size": AuditPagination.page_size,
        "entries": first["results"],
        "next": _cursor(first["next"]),
        "filtered": bool(query),
        "run_url": reverse("engine:run", args=[RUN_PLACEHOLDER]),
        "version_url": reverse(
            "designer:version-detail", args=[SLUG_PLACEHOLDER, NUMBER_PLACEHOLDER]
        ),
        "workflow_url": reverse("designer:workflow-detail", args=[SLUG_PLACEHOLDER]),
    }
    context = {
        "nav_section": "audit",
        "config": config,
        "problem": problem,
        "chosen": chosen,
        "acts": groups,
        "workflows": visible_workflows(request.user).order_by("name").values("slug", "name"),
        "csv_url": reverse("api:audit-csv") + (f"?{encoded}" if encoded else ""),
    }
    return render(request, "designer/audit.html", context)

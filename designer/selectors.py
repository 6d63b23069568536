"""Reads for pages and API: what a user sees of definitions and what they may do now."""

from __future__ import annotations

from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery
from django.http import Http404

from common.people import Visitor
from designer.access import can_manage_permissions, user_can, visible_workflows
from designer.models import AuditEntry, Version, VersionStatus, Workflow
from designer.presenters import change_lines
from designer.rules import VERSION_ACTS, version_refusal


def workflow_versions(workflow: Workflow) -> QuerySet[Version]:
    return workflow.versions.select_related("author").order_by("-number")


def version_get(workflow: Workflow, number: int) -> Version:
    try:
        return workflow.versions.select_related("author", "workflow").get(number=number)
    except Version.DoesNotExist:
        raise Http404(f"Workflow {workflow.slug} has no version {number}.") from None


def workflow_acts(user: Visitor, workflow: Workflow) -> list[str]:
    """The acts on the workflow itself that ``user`` may do now."""
    acts = []
    if user_can(user, workflow, "change_workflow"):
        acts.append("create_version")
    if user_can(user, workflow, "run_workflow") and workflow.published_version is not None:
        acts.append("start_run")
    if can_manage_permissions(user, workflow):
        acts.append("manage_permissions")
    return acts


def version_acts(user: Visitor, version: Version) -> list[str]:
    """The acts on ``version`` that ``user`` may do now, so the rules live only on the server."""
    return [act for act in VERSION_ACTS if version_refusal(user, version, act) is None]


def review_blocker(user: Visitor, version: Version) -> str | None:
    """Why ``user`` may not review ``version`` now, in words for the review page."""
    refusal = version_refusal(user, version, "request_changes")
    return None if refusal is None else str(refusal)


AUDIT_LIMIT = 50


def audit_rows(workflow: Workflow) -> list[dict[str, Any]]:
    """The workflow's own history for its page: the entries of no run (the acts on its runs
    are in the audit log, which the page links to)."""
    entries = (
        AuditEntry.objects.filter(workflow=workflow, run=None)
        .select_related("version")
        .order_by("-created_at", "-id")[:AUDIT_LIMIT]
    )
    return [
        {"entry": entry, "changes": [*change_lines(entry.changes), *change_lines(entry.detail)]}
        for entry in entries
    ]


def workflow_rows(user: Any) -> QuerySet[Workflow]:
    latest = Version.objects.filter(workflow=OuterRef("pk")).order_by("-number")
    published = Version.objects.filter(workflow=OuterRef("pk"), status=VersionStatus.PUBLISHED)
    return (
        visible_workflows(user)
        .annotate(
            latest_number=Subquery(latest.values("number")[:1]),
            latest_status=Subquery(latest.values("status")[:1]),
            published_number=Subquery(published.values("number")[:1]),
        )
        .order_by("slug")
    )


def may_create_workflows(user: Any) -> bool:
    """Staff, and users holding the global designer.add_workflow permission."""
    return bool(user.is_authenticated and (user.is_staff or user.has_perm("designer.add_workflow")))

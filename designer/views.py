"""The designer pages, server-rendered.

Each view checks access through ``designer.access``, reads through the
selectors or calls one service, and renders. What a user may do is decided by
the services and ``version_acts``/``workflow_acts``; the pages only show it.
A refusal for lack of a permission is a 403 page; one for the state of a
version (Conflict) or for bad input (InvalidInput) is a message on the page.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from common.errors import Conflict, InvalidInput, NotAllowed
from common.people import signed_in
from designer import services
from designer.access import (
    can_manage_permissions,
    user_perms,
    workflow_access,
)
from designer.forms import (
    ROLES,
    CompareForm,
    PermissionsForm,
    ReviewForm,
    RunStartForm,
    SpecForm,
    WorkflowCreateForm,
)
from designer.models import Version, VersionStatus, Workflow
from designer.presenters import (
    PERM_ROLES,
    diff_view,
    example_input,
    issue_text,
    pretty_json,
    reading_order,  # noqa: F401 - the canvas pages import it from here
    report_refusal,
    report_warnings,
    step_rows,
)
from designer.selectors import (
    audit_rows,
    may_create_workflows,
    review_blocker,
    version_acts,
    version_get,
    workflow_acts,
    workflow_rows,
    workflow_versions,
)

View = Callable[..., HttpResponse]

WORKFLOW_ACT_LABELS = {
    "create_version": "Start a new draft",
    "start_run": "Start runs",
    "manage_permissions": "Manage permissions",
}
# A spec to start from when a workflow has no version yet.
STARTER_SPEC = {
    "format": "sagaboard/v1",
    "steps": [{"id": "wait", "name": "Wait", "type": "delay", "action": {"seconds": 1}}],
}


def page(view: View) -> View:
    """Login required; a NotAllowed from access checks or services becomes the 403 page."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except NotAllowed as exc:
            raise PermissionDenied(str(exc)) from exc

    return login_required(wrapped)


def version_url(version: Version) -> str:
    return reverse("designer:version-detail", args=[version.workflow.slug, version.number])


def base_version(version: Version) -> Version | None:
    """What a review compares with: the published version, else the one before."""
    published = version.workflow.published_version
    if published is not None and published.pk != version.pk:
        return published
    return version.workflow.versions.filter(number__lt=version.number).order_by("-number").first()


# Workflows


def render_list(request: HttpRequest, form: WorkflowCreateForm, status: int = 200) -> HttpResponse:
    context = {
        "workflows": workflow_rows(request.user),
        "form": form,
        "may_create": may_create_workflows(request.user),
    }
    return render(request, "designer/workflow_list.html", context, status=status)


@page
@require_GET
def workflow_list(request: HttpRequest) -> HttpResponse:
    return render_list(request, WorkflowCreateForm())


@page
@require_POST
def workflow_create(request: HttpRequest) -> HttpResponse:
    if not may_create_workflows(request.user):
        raise PermissionDenied("You may not create workflows.")
    form = WorkflowCreateForm(request.POST)
    if form.is_valid():
        try:
            workflow = services.workflow_create(by=signed_in(request.user), **form.cleaned_data)
        except Conflict as exc:
            form.add_error("slug", str(exc))
        except InvalidInput as exc:
            form.add_error(None, [exc.detail, *map(issue_text, exc.errors)])
        else:
            messages.success(request, f"Workflow {workflow.name} created.")
            return redirect("designer:workflow-detail", slug=workflow.slug)
    messages.error(request, "The workflow was not created; see the form below.")
    return render_list(request, form, status=400)


def render_workflow(
    request: HttpRequest,
    workflow: Workflow,
    form: SpecForm | None = None,
    issues: list[dict[str, Any]] | None = None,
    status: int = 200,
    run_form: RunStartForm | None = None,
    run_issues: list[dict[str, Any]] | None = None,
) -> HttpResponse:
    versions = list(workflow_versions(workflow))
    acts = workflow_acts(request.user, workflow)
    if form is None and "create_version" in acts:
        start = next((v for v in versions if v.status == VersionStatus.PUBLISHED), None)
        start = start or (versions[0] if versions else None)
        form = SpecForm(initial={"spec": pretty_json(start.spec if start else STARTER_SPEC)})
    published = next((v for v in versions if v.status == VersionStatus.PUBLISHED), None)
    if run_form is None and "start_run" in acts and published is not None:
        example = example_input(published.spec.get("input_schema"))
        run_form = RunStartForm(initial={"input": pretty_json(example)})
    context = {
        "workflow": workflow,
        "versions": versions,
        "published": published,
        "acts": acts,
        "act_labels": [WORKFLOW_ACT_LABELS.get(act, act) for act in acts],
        "roles": [PERM_ROLES[p] for p in user_perms(request.user, workflow)],
        "form": form,
        "issues": issues or [],
        "run_form": run_form,
        "run_issues": run_issues or [],
        "audit": audit_rows(workflow),
    }
    return render(request, "designer/workflow_detail.html", context, status=status)


@page
@require_GET
def workflow_detail(request: HttpRequest, slug: str) -> HttpResponse:
    return render_workflow(request, workflow_access(request.user, slug))


@page
@require_POST
def version_create(request: HttpRequest, slug: str) -> HttpResponse:
    workflow = workflow_access(request.user, slug, "change_workflow")
    form = SpecForm(request.POST)
    issues: list[dict[str, Any]] = []
    if form.is_valid():
        try:
            version, result = services.version_create(
                workflow=workflow,
                by=signed_in(request.user),
                spec=form.cleaned_data["spec"],
                note=form.cleaned_data["note"],
            )
        except InvalidInput as exc:
            messages.error(request, exc.detail)
            issues = exc.errors
        else:
            messages.success(request, f"Draft v{version.number} created.")
            report_warnings(request, result)
            return redirect(version_url(version))
    else:
        messages.error(request, "The draft was not created; see the form below.")
    return render_workflow(request, workflow, form=form, issues=issues, status=400)


# Versions


@page
@require_GET
def version_detail(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    workflow = workflow_access(request.user, slug)
    version = version_get(workflow, number)
    others = [v.number for v in workflow_versions(workflow) if v.number != version.number]
    base = base_version(version)
    context = {
        "workflow": workflow,
        "version": version,
        "acts": version_acts(request.user, version),
        "approvals": services.approvals_count(version),
        "steps": step_rows(version.spec),
        "spec_json": pretty_json(version.spec),
        "reviews": version.reviews.select_related("reviewer"),
        "others": others,
        "default_against": base.number if base else None,
    }
    return render(request, "designer/version_detail.html", context)


@page
@require_http_methods(["GET", "POST"])
def version_edit(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    workflow = workflow_access(request.user, slug, "change_workflow")
    version = version_get(workflow, number)
    issues: list[dict[str, Any]] = []
    if request.method == "POST":
        form = SpecForm(request.POST)
        if form.is_valid():
            try:
                version, result = services.version_update(
                    version=version,
                    by=signed_in(request.user),
                    spec=form.cleaned_data["spec"],
                    note=form.cleaned_data["note"],
                )
            except Conflict as exc:
                report_refusal(request, exc)
                return redirect(version_url(version))
            except InvalidInput as exc:
                messages.error(request, exc.detail)
                issues = exc.errors
            else:
                messages.success(request, f"Draft v{version.number} saved.")
                report_warnings(request, result)
                return redirect(version_url(version))
        else:
            messages.error(request, "The draft was not saved; see the form below.")
    elif version.status != VersionStatus.DRAFT:
        messages.error(
            request, f"Version {version.number} is {version.status}; only a draft can change."
        )
        return redirect(version_url(version))
    else:
        form = SpecForm(initial={"spec": pretty_json(version.spec), "note": version.note})
    context = {"workflow": workflow, "version": version, "form": form, "issues": issues}
    return render(
        request, "designer/version_edit.html", context, status=400 if issues or form.errors else 200
    )


def version_act(
    request: HttpRequest, slug: str, number: int, perm: str, act: Callable[..., Version], done: str
) -> HttpResponse:
    workflow = workflow_access(request.user, slug, perm)
    version = version_get(workflow, number)
    try:
        version = act(version=version, by=signed_in(request.user))
    except (Conflict, InvalidInput) as exc:
        report_refusal(request, exc)
    else:
        messages.success(request, f"Version {version.number} {done}.")
    return redirect(version_url(version))


@page
@require_POST
def version_submit(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    return version_act(
        request, slug, number, "change_workflow", services.version_submit, "sent for review"
    )


#: What the confirmation of a publication posts when no version is in force to retire.
RETIRES_NONE = "none"


@page
@require_http_methods(["GET", "POST"])
def version_publish(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """Publishing asks first, naming the version in force that it retires; the form of that
    page publishes. A confirmation that named another version than the one in force now
    (someone published meanwhile) is asked again, naming the right one."""
    workflow = workflow_access(request.user, slug, "publish_workflow")
    version = version_get(workflow, number)
    in_force = workflow.published_version
    if in_force is not None and in_force.pk == version.pk:
        in_force = None
    retires = str(in_force.number) if in_force else RETIRES_NONE
    if request.method == "POST":
        confirmed = request.POST.get("retires", "")
        if confirmed == retires:
            return version_act(
                request, slug, number, "publish_workflow", services.version_publish, "published"
            )
        if confirmed:
            messages.warning(
                request,
                "The version in force changed since you were asked; "
                "confirm again, with the version this publication retires now.",
            )
    if "publish" not in version_acts(request.user, version):
        messages.error(
            request, f"Version {version.number} is {version.status}; it cannot be published."
        )
        return redirect(version_url(version))
    context = {"workflow": workflow, "version": version, "in_force": in_force, "retires": retires}
    return render(request, "designer/version_publish.html", context)


@page
@require_http_methods(["GET", "POST"])
def version_review(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    workflow = workflow_access(request.user, slug)
    version = version_get(workflow, number)
    form = ReviewForm()
    if request.method == "POST":
        workflow_access(request.user, slug, "review_workflow")
        form = ReviewForm(request.POST)
        if form.is_valid():
            try:
                review = services.version_review(
                    version=version, by=signed_in(request.user), **form.cleaned_data
                )
            except Conflict as exc:
                report_refusal(request, exc)
                return redirect(version_url(version))
            except InvalidInput as exc:
                # Beside the field it concerns, where there is one; else on top.
                on_form = [e for e in exc.errors if e.get("field") in form.fields]
                for issue in on_form:
                    form.add_error(issue["field"], issue["message"].capitalize() + ".")
                if on_form:
                    messages.error(request, exc.detail)
                else:
                    report_refusal(request, exc)
            else:
                version.refresh_from_db()
                decision = "approved" if review.decision == "approve" else "sent back for changes"
                messages.success(
                    request, f"You {decision} v{version.number}; it is now {version.status}."
                )
                return redirect(version_url(version))
        else:
            messages.error(request, "The review was not recorded; see the form below.")
    base = base_version(version)
    context = {
        "workflow": workflow,
        "version": version,
        "base": base,
        "diff": diff_view(base.spec, version.spec) if base else None,
        "spec_json": pretty_json(version.spec),
        "reviews": version.reviews.select_related("reviewer"),
        "approvals": services.approvals_count(version),
        "blocker": review_blocker(request.user, version),
        "acts": version_acts(request.user, version),
        "form": form,
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "designer/version_review.html", context, status=status)


@page
@require_GET
def version_diff(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    workflow = workflow_access(request.user, slug)
    version = version_get(workflow, number)
    numbers = [v.number for v in workflow_versions(workflow)]
    chosen = CompareForm(request.GET or None, numbers=numbers)
    against_number: int | None = None
    if chosen.is_bound and not chosen.is_valid():
        messages.error(request, "Choose two versions of this workflow to compare.")
    elif chosen.is_bound:
        against_number = chosen.cleaned_data["against"]
        other = chosen.cleaned_data["version"]
        if other is not None and other != version.number:
            url = reverse("designer:version-diff", args=[slug, other])
            return redirect(f"{url}?against={against_number}" if against_number else url)
    against = version_get(workflow, against_number) if against_number else base_version(version)
    form = CompareForm(
        initial={"version": version.number, "against": against.number if against else None},
        numbers=numbers,
    )
    context = {
        "workflow": workflow,
        "version": version,
        "against": against,
        "diff": diff_view(against.spec, version.spec) if against else None,
        "form": form,
    }
    return render(request, "designer/version_diff.html", context)


# Permissions


def permission_matrix(grants: Mapping[str, Mapping[str, list[str]]]) -> list[dict[str, Any]]:
    return [
        {
            "kind": kind,
            "name": name,
            "field": f"{kind}:{name}",
            "cells": [(role, perm, perm in perms) for role, perm in ROLES],
        }
        for key, kind in (("users", "user"), ("groups", "group"))
        for name, perms in grants.get(key, {}).items()
    ]


@page
@require_http_methods(["GET", "POST"])
def workflow_permissions(request: HttpRequest, slug: str) -> HttpResponse:
    workflow = workflow_access(request.user, slug)
    grants: Mapping[str, Mapping[str, list[str]]] = services.workflow_permissions(workflow)
    invalid = False
    if request.method == "POST":
        form = PermissionsForm(request.POST)
        if not can_manage_permissions(request.user, workflow):
            raise PermissionDenied("Only staff and the workflow's creator may change permissions.")
        if form.is_valid():
            try:
                services.workflow_permissions_set(
                    workflow=workflow,
                    by=signed_in(request.user),
                    users=form.users,
                    groups=form.groups,
                )
            except InvalidInput as exc:
                report_refusal(request, exc)
                invalid = True
            else:
                messages.success(request, "Permissions saved.")
                return redirect("designer:workflow-permissions", slug=slug)
        else:
            for error in form.errors:
                messages.error(request, error)
            invalid = True
        # Show what was posted, so a typo in one name does not lose the other changes.
        grants = {"users": form.users, "groups": form.groups}
    context = {
        "workflow": workflow,
        "roles": ROLES,
        "rows": permission_matrix(grants),
        "can_manage": can_manage_permissions(request.user, workflow),
    }
    return render(
        request, "designer/workflow_permissions.html", context, status=400 if invalid else 200
    )

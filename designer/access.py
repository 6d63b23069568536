"""One access helper for pages, API and WebSocket consumers alike.

A user who may not view a workflow gets a 404 for it and everything under it,
so its existence is not leaked; one who may view it but lacks the permission
for an act gets a 403.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404
from guardian.shortcuts import get_objects_for_user

from common.errors import NotAllowed
from common.people import Visitor
from designer.models import WORKFLOW_PERMS, Workflow


def user_can(user: Visitor, workflow: Workflow, perm: str) -> bool:
    """Whether ``user`` holds ``perm`` (a codename such as ``review_workflow``) on it."""
    if perm not in WORKFLOW_PERMS:
        raise ValueError(f"unknown workflow permission {perm!r}")
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_staff:
        return True
    if perm == "view_workflow":
        # Every role includes seeing the workflow: a reviewer must see what they review.
        return any(_holds(user, workflow, p) for p in WORKFLOW_PERMS)
    return _holds(user, workflow, perm)


def _holds(user: Visitor, workflow: Workflow, perm: str) -> bool:
    return user.has_perm(f"designer.{perm}") or user.has_perm(f"designer.{perm}", workflow)


def user_perms(user: Visitor, workflow: Workflow) -> list[str]:
    """Every workflow permission ``user`` holds on it, in the order of the roles."""
    return [perm for perm in WORKFLOW_PERMS if user_can(user, workflow, perm)]


def visible_workflows(user: Visitor) -> QuerySet[Workflow]:
    if not user.is_authenticated or not user.is_active:
        return Workflow.objects.none()
    if user.is_staff:
        return Workflow.objects.all()
    return get_objects_for_user(
        user,
        [f"designer.{perm}" for perm in WORKFLOW_PERMS],
        klass=Workflow,
        any_perm=True,
        accept_global_perms=True,
    )


def workflow_access(
    user: Visitor, slug: str, perm: str = "view_workflow", *, for_update: bool = False
) -> Workflow:
    """The workflow ``slug`` if ``user`` may ``perm`` it.

    Raises Http404 when the user may not see it (or it does not exist) and
    NotAllowed when they may see it but not do ``perm``.
    """
    qs = Workflow.objects.select_for_update() if for_update else Workflow.objects
    try:
        workflow = qs.get(slug=slug)
    except Workflow.DoesNotExist:
        raise Http404("No such workflow.") from None
    if not user_can(user, workflow, "view_workflow"):
        raise Http404("No such workflow.")
    if perm != "view_workflow" and not user_can(user, workflow, perm):
        raise NotAllowed(f"You lack the {perm} permission on workflow {slug}.")
    return workflow


def can_manage_permissions(user: Visitor, workflow: Workflow) -> bool:
    """Staff and the workflow's creator may change who holds which role."""
    return bool(
        user.is_authenticated
        and user.is_active
        and (user.is_staff or workflow.created_by_id == user.pk)
    )

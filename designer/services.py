"""Everything that writes definitions: workflows, versions, reviews, permissions.

Each service locks what it changes, checks, changes, writes the audit entry
(designer/audit.py), all in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm, get_groups_with_perms, get_users_with_perms, remove_perm

from common.errors import Conflict, InvalidInput, NotAllowed
from common.people import User
from designer.access import can_manage_permissions
from designer.audit import record
from designer.models import (
    VERSION_MOVES,
    WORKFLOW_PERMS,
    Review,
    ReviewDecision,
    Version,
    VersionStatus,
    Workflow,
    content_hash,
)
from designer.rules import version_refusal
from designer.validation import ValidationResult, validate_spec

MAX_COMMENT = 10_000
MAX_NOTE = 5_000


def spec_validate(spec: object, *, workflow: str | None = None) -> ValidationResult:
    """Validate ``spec`` (of ``workflow``, when it is one's: its child sagas may not call it
    back) within the limits set in settings."""
    return validate_spec(
        spec,
        max_steps=settings.SAGABOARD_MAX_STEPS,
        max_bytes=settings.SAGABOARD_MAX_SPEC_BYTES,
        workflow=workflow,
    )


def spec_check(spec: object, *, workflow: str | None = None) -> ValidationResult:
    """Validate ``spec``; raise InvalidInput with every error when it is refused."""
    result = spec_validate(spec, workflow=workflow)
    if not result.valid:
        count = len(result.errors)
        raise InvalidInput(
            f"The spec is invalid: {count} error{'s' if count != 1 else ''}.",
            [issue.as_dict() for issue in result.errors],
        )
    return result


def _check_move(version: Version, target: str) -> None:
    if target not in VERSION_MOVES[version.status]:
        raise Conflict(f"Version {version.number} is {version.status}; it cannot become {target}.")


def _refuse(by: User, version: Version, act: str) -> None:
    """Raise the rule's refusal of ``act``, if any (the role was checked on the way in)."""
    refusal = version_refusal(by, version, act, check_role=False)
    if refusal is not None:
        raise refusal


def _check_text(value: str, *, field: str, limit: int) -> str:
    if len(value) > limit:
        raise InvalidInput(
            f"{field} is too long.",
            [{"step": None, "field": field, "message": f"at most {limit} characters"}],
        )
    return value


# Workflows


@transaction.atomic
def workflow_create(
    *,
    by: User,
    slug: str,
    name: str,
    description: str = "",
    required_approvals: int = 1,
) -> Workflow:
    """Create a workflow; its creator holds every role on it."""
    if Workflow.objects.filter(slug=slug).exists():
        raise Conflict(f"A workflow with slug {slug!r} exists already.")
    workflow = Workflow.objects.create(
        slug=slug,
        name=name,
        description=description,
        required_approvals=required_approvals,
        created_by=by,
    )
    for perm in WORKFLOW_PERMS:
        assign_perm(f"designer.{perm}", by, workflow)
    record(
        by=by,
        act="workflow.create",
        workflow=workflow,
        changes={
            "slug": [None, slug],
            "name": [None, name],
            "required_approvals": [None, required_approvals],
        },
    )
    return workflow


def _holders(found: Any) -> list[tuple[Any, list[str]]]:
    """django-guardian's ``attach_perms=True`` answer: each holder with its permissions."""
    return list(found.items())


def workflow_permissions(workflow: Workflow) -> dict[str, dict[str, list[str]]]:
    """Who holds which role on ``workflow``, directly (not through staff or groups)."""
    users = get_users_with_perms(
        workflow, attach_perms=True, with_superusers=False, with_group_users=False
    )
    groups = get_groups_with_perms(workflow, attach_perms=True)
    return {
        "users": {
            user.get_username(): sorted(p for p in perms if p in WORKFLOW_PERMS)
            for user, perms in sorted(_holders(users), key=lambda kv: kv[0].get_username())
        },
        "groups": {
            group.name: sorted(p for p in perms if p in WORKFLOW_PERMS)
            for group, perms in sorted(_holders(groups), key=lambda kv: kv[0].name)
        },
    }


@transaction.atomic
def workflow_permissions_set(
    *,
    workflow: Workflow,
    by: User,
    users: Mapping[str, Sequence[str]],
    groups: Mapping[str, Sequence[str]],
) -> dict[str, dict[str, list[str]]]:
    """Replace who holds which role on ``workflow`` with ``users`` and ``groups``."""
    if not can_manage_permissions(by, workflow):
        raise NotAllowed("Only staff and the workflow's creator may change its permissions.")
    errors: list[dict[str, Any]] = []
    user_model = get_user_model()
    found_users = {
        u.get_username(): u
        for u in user_model.objects.filter(**{f"{user_model.USERNAME_FIELD}__in": list(users)})
    }
    found_groups = {g.name: g for g in Group.objects.filter(name__in=list(groups))}
    for kind, wanted, found in (("users", users, found_users), ("groups", groups, found_groups)):
        for name, perms in wanted.items():
            if name not in found:
                errors.append({"step": None, "field": f"{kind}.{name}", "message": "not found"})
            for perm in perms:
                if perm not in WORKFLOW_PERMS:
                    errors.append(
                        {
                            "step": None,
                            "field": f"{kind}.{name}",
                            "message": f"unknown permission {perm!r}; "
                            f"one of {', '.join(WORKFLOW_PERMS)}",
                        }
                    )
    if errors:
        raise InvalidInput("The permissions are invalid.", errors)

    workflow = Workflow.objects.select_for_update().get(pk=workflow.pk)
    before = workflow_permissions(workflow)
    for user, perms in _holders(
        get_users_with_perms(
            workflow, attach_perms=True, with_superusers=False, with_group_users=False
        )
    ):
        for perm in perms:
            if perm in WORKFLOW_PERMS:
                remove_perm(f"designer.{perm}", user, workflow)
    for group, perms in _holders(get_groups_with_perms(workflow, attach_perms=True)):
        for perm in perms:
            if perm in WORKFLOW_PERMS:
                remove_perm(f"designer.{perm}", group, workflow)
    for name, perms in users.items():
        for perm in set(perms):
            assign_perm(f"designer.{perm}", found_users[name], workflow)
    for name, perms in groups.items():
        for perm in set(perms):
            assign_perm(f"designer.{perm}", found_groups[name], workflow)
    after = workflow_permissions(workflow)
    if after != before:
        record(
            by=by,
            act="workflow.permissions",
            workflow=workflow,
            changes={"permissions": [before, after]},
        )
    return after


# Versions


@transaction.atomic
def version_create(
    *,
    workflow: Workflow,
    by: User | None,
    spec: object,
    layout: Mapping[str, Any] | None = None,
    note: str = "",
) -> tuple[Version, ValidationResult]:
    """Store a new draft with the next number. A spec with errors is refused."""
    result = spec_check(spec, workflow=workflow.slug)
    _check_text(note, field="note", limit=MAX_NOTE)
    # Lock the workflow so two concurrent drafts get distinct numbers.
    workflow = Workflow.objects.select_for_update().get(pk=workflow.pk)
    last = workflow.versions.order_by("-number").values_list("number", flat=True).first()
    version = Version.objects.create(
        workflow=workflow,
        number=(last or 0) + 1,
        spec=spec,
        layout=dict(layout or {}),
        content_hash=content_hash(spec),
        note=note,
        author=by,
    )
    record(
        by=by,
        act="version.create",
        workflow=workflow,
        version=version,
        changes={"number": [None, version.number], "content_hash": [None, version.content_hash]},
    )
    return version, result


def _locked(version: Version) -> Version:
    return Version.objects.select_for_update().select_related("workflow").get(pk=version.pk)


@transaction.atomic
def version_update(
    *,
    version: Version,
    by: User,
    spec: object | None = None,
    layout: Mapping[str, Any] | None = None,
    note: str | None = None,
) -> tuple[Version, ValidationResult | None]:
    """Change a draft's spec, layout or note. Only a draft can change."""
    version = _locked(version)
    _refuse(by, version, "edit")
    changes: dict[str, list[Any]] = {}
    result = None
    if spec is not None:
        result = spec_check(spec, workflow=version.workflow.slug)
        new_hash = content_hash(spec)
        if new_hash != version.content_hash:
            changes["content_hash"] = [version.content_hash, new_hash]
            version.spec = spec
            version.content_hash = new_hash
    if layout is not None and dict(layout) != version.layout:
        changes["layout"] = ["…", "…"]
        version.layout = dict(layout)
    if note is not None and note != version.note:
        _check_text(note, field="note", limit=MAX_NOTE)
        changes["note"] = [version.note, note]
        version.note = note
    if changes:
        version.save()
        record(
            by=by,
            act="version.update",
            workflow=version.workflow,
            version=version,
            changes=changes,
        )
    return version, result


def _move(version: Version, target: str) -> dict[str, list[str]]:
    """Move ``version`` to ``target``; the change, for the audit entry of the act that moved it."""
    old = version.status
    _check_move(version, target)
    version.status = target
    now = timezone.now()
    stamps: dict[str, str] = {
        VersionStatus.IN_REVIEW: "submitted_at",
        VersionStatus.APPROVED: "approved_at",
        VersionStatus.PUBLISHED: "published_at",
        VersionStatus.RETIRED: "retired_at",
    }
    stamp = stamps.get(target)
    if stamp:
        setattr(version, stamp, now)
    if target == VersionStatus.IN_REVIEW:
        version.review_round += 1
    version.save()
    return {"status": [old, target]}


@transaction.atomic
def version_submit(*, version: Version, by: User) -> Version:
    """Send a draft for review. Its spec is checked again first."""
    version = _locked(version)
    _refuse(by, version, "submit")
    spec_check(version.spec, workflow=version.workflow.slug)
    changes = _move(version, VersionStatus.IN_REVIEW)
    record(by=by, act="version.submit", workflow=version.workflow, version=version, changes=changes)
    return version


def approvals_count(version: Version) -> int:
    return (
        version.reviews.filter(round=version.review_round, decision=ReviewDecision.APPROVE)
        .values("reviewer")
        .distinct()
        .count()
    )


@transaction.atomic
def version_review(*, version: Version, by: User, decision: str, comment: str = "") -> Review:
    """Approve a version in review or request changes to it.

    Four-eyes: whoever wrote the version never reviews it, whatever permissions
    they hold. Enough approvals in the current round approve it; a request for
    changes sends it back to draft.
    """
    version = _locked(version)
    _check_text(comment, field="comment", limit=MAX_COMMENT)
    if decision not in ReviewDecision.values:
        raise InvalidInput(
            "Unknown decision.",
            [{"step": None, "field": "decision", "message": "approve or request_changes"}],
        )
    _refuse(by, version, "approve" if decision == ReviewDecision.APPROVE else "request_changes")
    if decision == ReviewDecision.REQUEST_CHANGES and not comment.strip():
        raise InvalidInput(
            "Say what should change.",
            [{"step": None, "field": "comment", "message": "required when requesting changes"}],
        )
    review = Review.objects.create(
        version=version,
        round=version.review_round,
        reviewer=by,
        decision=decision,
        comment=comment,
    )
    changes: dict[str, list[str]] = {}
    if decision == ReviewDecision.REQUEST_CHANGES:
        changes = _move(version, VersionStatus.DRAFT)
    elif approvals_count(version) >= version.workflow.required_approvals:
        changes = _move(version, VersionStatus.APPROVED)
    record(
        by=by,
        act="version.review",
        workflow=version.workflow,
        version=version,
        reason=comment,
        changes=changes,
        detail={"decision": decision},
    )
    return review


@transaction.atomic
def version_publish(*, version: Version, by: User) -> Version:
    """Publish an approved version; the version it replaces retires in the same transaction."""
    # Lock the workflow first: concurrent publishes of its versions queue here,
    # so exactly one version ends up published.
    Workflow.objects.select_for_update().get(pk=version.workflow_id)
    version = _locked(version)
    _refuse(by, version, "publish")
    spec_check(version.spec, workflow=version.workflow.slug)
    retired = []
    for current in Version.objects.select_for_update().filter(
        workflow_id=version.workflow_id, status=VersionStatus.PUBLISHED
    ):
        _move(current, VersionStatus.RETIRED)
        retired.append(current.number)
    try:
        with transaction.atomic():
            changes = _move(version, VersionStatus.PUBLISHED)
    except IntegrityError:  # pragma: no cover - the lock above makes this unreachable
        raise Conflict("Another version was published at the same time; try again.") from None
    record(
        by=by,
        act="version.publish",
        workflow=version.workflow,
        version=version,
        changes=changes,
        detail={"retired": retired} if retired else None,
    )
    return version

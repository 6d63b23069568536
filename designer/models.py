"""Workflows, their numbered versions, reviews and the audit log."""

from __future__ import annotations

import hashlib
import json

from django.conf import settings
from django.db import models

# The roles of DESIGN.md, as object permissions on a workflow. The first two are
# Django's default model permissions; the others are declared on the model.
ROLE_PERMS: dict[str, str] = {
    "viewer": "view_workflow",
    "author": "change_workflow",
    "reviewer": "review_workflow",
    "publisher": "publish_workflow",
    "runner": "run_workflow",
    "operator": "operate_workflow",
}
WORKFLOW_PERMS: tuple[str, ...] = tuple(ROLE_PERMS.values())


def content_hash(spec: object) -> str:
    """The sha256 of the spec in canonical JSON: equal specs hash equal, whatever their layout."""
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Workflow(models.Model):
    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=5000)
    required_approvals = models.PositiveSmallIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]
        permissions = [
            ("review_workflow", "Review versions of the workflow"),
            ("publish_workflow", "Publish approved versions of the workflow"),
            ("run_workflow", "Start runs of the workflow"),
            ("operate_workflow", "Retry, skip, compensate and cancel runs of the workflow"),
        ]

    def __str__(self) -> str:
        return self.slug

    @property
    def published_version(self) -> Version | None:
        return self.versions.filter(status=VersionStatus.PUBLISHED).first()


class VersionStatus(models.TextChoices):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    PUBLISHED = "published"
    RETIRED = "retired"


# The lifecycle, written down once: source -> the statuses it may move to.
VERSION_MOVES: dict[str, frozenset[str]] = {
    VersionStatus.DRAFT: frozenset({VersionStatus.IN_REVIEW}),
    # Request changes sends a version back to draft; enough approvals approve it.
    VersionStatus.IN_REVIEW: frozenset({VersionStatus.DRAFT, VersionStatus.APPROVED}),
    VersionStatus.APPROVED: frozenset({VersionStatus.PUBLISHED}),
    VersionStatus.PUBLISHED: frozenset({VersionStatus.RETIRED}),
    VersionStatus.RETIRED: frozenset(),
}


class Version(models.Model):
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    status = models.CharField(
        max_length=16, choices=VersionStatus.choices, default=VersionStatus.DRAFT
    )
    spec = models.JSONField()
    layout = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=64)
    note = models.TextField(blank=True, max_length=5000)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Review rounds: a submit starts a new round; only approvals of the current
    # round count, so a request for changes resets the tally.
    review_round = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["workflow", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["workflow", "number"], name="version_number_unique"),
            models.UniqueConstraint(
                fields=["workflow"],
                condition=models.Q(status="published"),
                name="one_published_version",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.workflow.slug} v{self.number}"


class ReviewDecision(models.TextChoices):
    APPROVE = "approve"
    REQUEST_CHANGES = "request_changes"


class Review(models.Model):
    version = models.ForeignKey(Version, on_delete=models.CASCADE, related_name="reviews")
    round = models.PositiveIntegerField()
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    decision = models.CharField(max_length=16, choices=ReviewDecision.choices)
    comment = models.TextField(blank=True, max_length=10000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.version} {self.decision}"


class AuditEntry(models.Model):
    """One act, by whom, when, on what, and why. Append-only: written only through
    :func:`designer.audit.record`, in the transaction of the act it records.

    ``act`` is a name of :mod:`designer.audit`'s vocabulary. ``run`` and ``bulk`` are
    ids, not foreign keys: the engine's runs live a floor above, and are archived and
    deleted while their audit entries stay. ``actor_name`` keeps who acted should the
    user be deleted; ``changes`` holds fields as ``{field: [old, new]}``, ``detail``
    what else the act says (the step, a review's decision).
    """

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True)
    act = models.CharField(max_length=64)
    workflow = models.ForeignKey(
        Workflow, null=True, on_delete=models.CASCADE, related_name="audit_entries"
    )
    version = models.ForeignKey(
        Version, null=True, on_delete=models.CASCADE, related_name="audit_entries"
    )
    run = models.UUIDField(null=True, blank=True)
    bulk = models.UUIDField(null=True, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"
        # The audit log's order (newest first) alone and under each of its filters.
        indexes = [
            models.Index(fields=["created_at", "id"], name="audit_at"),
            models.Index(fields=["workflow", "created_at", "id"], name="audit_workflow_at"),
            models.Index(fields=["actor_name", "created_at", "id"], name="audit_actor_at"),
            models.Index(fields=["act", "created_at", "id"], name="audit_act_at"),
        ]

    def __str__(self) -> str:
        return f"{self.act} by {self.actor_name or 'the system'}"

"""Translation between JSON and the services' arguments; no business rules here."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from designer.access import user_perms
from designer.models import ROLE_PERMS, Review, Version, Workflow
from designer.selectors import version_acts, workflow_acts
from designer.services import approvals_count
from designer.spec_text import SpecParseError, parse_spec_text


class WorkflowCreateSerializer(serializers.Serializer):
    slug = serializers.SlugField(max_length=80)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    required_approvals = serializers.IntegerField(min_value=1, max_value=10, default=1)


class WorkflowSerializer(serializers.ModelSerializer):
    published_version = serializers.SerializerMethodField()
    search_attributes = serializers.SerializerMethodField(
        help_text="the names of the search attributes its published version declares, "
        "sorted (the run list's attr.<name>= filters)"
    )
    perms = serializers.SerializerMethodField()
    acts = serializers.SerializerMethodField()

    class Meta:
        model = Workflow
        fields = [
            "slug",
            "name",
            "description",
            "required_approvals",
            "published_version",
            "search_attributes",
            "created_at",
            "updated_at",
            "perms",
            "acts",
        ]

    def get_published_version(self, obj: Workflow) -> int | None:
        published = obj.published_version
        return published.number if published else None

    def get_search_attributes(self, obj: Workflow) -> list[str]:
        published = obj.published_version
        search = published.spec.get("search") if published else None
        # Sorted: the spec is stored as jsonb, which keeps no order of keys.
        return sorted(search) if isinstance(search, dict) else []

    def get_perms(self, obj: Workflow) -> list[str]:
        return user_perms(self.context["request"].user, obj)

    def get_acts(self, obj: Workflow) -> list[str]:
        return workflow_acts(self.context["request"].user, obj)


class SpecField(serializers.JSONField):
    """A spec as a JSON object, or as JSON or YAML text."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str):
            try:
                return parse_spec_text(data)
            except SpecParseError as exc:
                raise serializers.ValidationError(str(exc)) from exc
        return super().to_internal_value(data)


class VersionWriteSerializer(serializers.Serializer):
    spec = SpecField()
    layout = serializers.DictField(required=False)
    note = serializers.CharField(max_length=5000, required=False, allow_blank=True)


class VersionPatchSerializer(serializers.Serializer):
    spec = SpecField(required=False)
    layout = serializers.DictField(required=False)
    note = serializers.CharField(max_length=5000, required=False, allow_blank=True)


class ReviewSerializer(serializers.ModelSerializer):
    reviewer = serializers.CharField(source="reviewer.get_username", default=None)

    class Meta:
        model = Review
        fields = ["round", "reviewer", "decision", "comment", "created_at"]


class ReviewInSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["approve", "request_changes"])
    comment = serializers.CharField(max_length=10000, required=False, allow_blank=True, default="")


class VersionSummarySerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.get_username", default=None)

    class Meta:
        model = Version
        fields = [
            "number",
            "status",
            "content_hash",
            "note",
            "author",
            "created_at",
            "updated_at",
            "submitted_at",
            "approved_at",
            "published_at",
            "retired_at",
        ]


class VersionSerializer(VersionSummarySerializer):
    workflow = serializers.CharField(source="workflow.slug")
    approvals = serializers.SerializerMethodField()
    required_approvals = serializers.IntegerField(source="workflow.required_approvals")
    reviews = ReviewSerializer(many=True)
    acts = serializers.SerializerMethodField()

    class Meta(VersionSummarySerializer.Meta):
        fields = [
            "workflow",
            *VersionSummarySerializer.Meta.fields,
            "spec",
            "layout",
            "review_round",
            "approvals",
            "required_approvals",
            "reviews",
            "acts",
        ]

    def get_approvals(self, obj: Version) -> int:
        return approvals_count(obj)

    def get_acts(self, obj: Version) -> list[str]:
        return version_acts(self.context["request"].user, obj)


class IssueSerializer(serializers.Serializer):
    step = serializers.CharField(allow_null=True)
    field = serializers.CharField(allow_null=True)
    message = serializers.CharField()


class ValidateInSerializer(serializers.Serializer):
    spec = SpecField()
    workflow = serializers.SlugField(
        required=False,
        help_text="The workflow the spec is a version of: its child sagas may not call it back.",
    )


class ValidateOutSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    # The API's field names, though a serializer has an ``errors`` of its own: this one
    # only describes the answer.
    errors = IssueSerializer(many=True)  # type: ignore[assignment]
    warnings = IssueSerializer(many=True)


class PermissionsSerializer(serializers.Serializer):
    users = serializers.DictField(
        child=serializers.ListField(
            child=serializers.ChoiceField(choices=list(ROLE_PERMS.values()))
        )
    )
    groups = serializers.DictField(
        child=serializers.ListField(
            child=serializers.ChoiceField(choices=list(ROLE_PERMS.values()))
        )
    )


class DiffChangeSerializer(serializers.Serializer):
    step = serializers.CharField()
    fields = serializers.DictField()  # type: ignore[assignment]  # the API's name


class DiffSerializer(serializers.Serializer):
    added = serializers.ListField(child=serializers.CharField())
    removed = serializers.ListField(child=serializers.CharField())
    changed = DiffChangeSerializer(many=True)


class ActivitySerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()


class VersionWrittenSerializer(VersionSerializer):
    """A version as written: with the validator's warnings about its spec."""

    warnings = IssueSerializer(many=True, read_only=True)

    class Meta(VersionSerializer.Meta):
        fields = [*VersionSerializer.Meta.fields, "warnings"]

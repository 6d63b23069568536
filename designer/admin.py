from django.contrib import admin
from guardian.admin import GuardedModelAdmin

from designer.models import AuditEntry, Review, Version, Workflow


class VersionInline(admin.TabularInline):
    model = Version
    fields = ("number", "status", "content_hash", "author", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Workflow)
class WorkflowAdmin(GuardedModelAdmin):
    """Object permissions (the roles) are granted from the "Object permissions" button."""

    list_display = ["slug", "name", "required_approvals", "created_by", "updated_at"]
    search_fields = ["slug", "name"]
    inlines = [VersionInline]


@admin.register(Version)
class VersionAdmin(admin.ModelAdmin):
    list_display = ["workflow", "number", "status", "author", "updated_at"]
    list_filter = ["status"]
    search_fields = ["workflow__slug"]
    # Versions change only through their lifecycle, never by hand.
    readonly_fields = [
        "workflow",
        "number",
        "status",
        "spec",
        "content_hash",
        "author",
        "review_round",
        "submitted_at",
        "approved_at",
        "published_at",
        "retired_at",
    ]


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ["version", "round", "reviewer", "decision", "created_at"]
    readonly_fields = ["version", "round", "reviewer", "decision", "comment"]


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor_name", "act", "workflow", "version", "run"]
    list_filter = ["act"]
    readonly_fields = [
        "actor",
        "actor_name",
        "act",
        "workflow",
        "version",
        "run",
        "bulk",
        "changes",
        "detail",
        "reason",
        "created_at",
    ]

    def has_add_permission(self, request) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False

"""The audit log's API: ``GET /api/audit/`` (a page of entries as JSON, by keyset cursor)
and ``GET /api/audit/csv/`` (every entry the same filters match, as CSV, streamed)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.pagination import CursorPagination
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import page_of
from designer.audit import AUDIT_ACTS
from designer.audit_log import AUDIT_ORDERING, audit_entries, audit_filters, csv_chunks
from designer.models import AuditEntry


class AuditEntrySerializer(serializers.ModelSerializer[AuditEntry]):
    """One act: when, who (null: Sagaboard itself), what, on which workflow (and run, bulk
    act, version), and why. ``detail`` holds what else it says: ``step`` and ``index`` of
    an act on a step or a map's iteration, a review's ``decision``, the versions a
    publication ``retired``; ``changes`` the fields it changed, ``{field: [old, new]}``."""

    at = serializers.DateTimeField(source="created_at")
    actor = serializers.SerializerMethodField()
    act = serializers.ChoiceField(choices=AUDIT_ACTS)
    workflow = serializers.SerializerMethodField()
    workflow_name = serializers.SerializerMethodField()
    version = serializers.SerializerMethodField()
    run = serializers.UUIDField(allow_null=True)
    bulk = serializers.UUIDField(allow_null=True)
    reason = serializers.CharField(allow_blank=True)
    changes = serializers.DictField()
    detail = serializers.DictField()

    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "at",
            "actor",
            "act",
            "workflow",
            "workflow_name",
            "run",
            "bulk",
            "version",
            "reason",
            "changes",
            "detail",
        ]
        read_only_fields = fields

    def get_actor(self, entry: AuditEntry) -> str | None:
        return entry.actor_name or None

    def get_workflow(self, entry: AuditEntry) -> str | None:
        return entry.workflow.slug if entry.workflow else None

    def get_workflow_name(self, entry: AuditEntry) -> str | None:
        return entry.workflow.name if entry.workflow else None

    def get_version(self, entry: AuditEntry) -> int | None:
        return entry.version.number if entry.version else None


class AuditPagination(CursorPagination):
    """Keyset pagination, as the run list's: a page costs the same however deep it is."""

    ordering = AUDIT_ORDERING
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


FILTERS = [
    OpenApiParameter("actor", OpenApiTypes.STR, description="usernames, comma-separated"),
    OpenApiParameter(
        "act",
        OpenApiTypes.STR,
        description="acts, comma-separated, each one of: " + ", ".join(AUDIT_ACTS),
    ),
    OpenApiParameter("workflow", OpenApiTypes.STR, description="slugs, comma-separated"),
    OpenApiParameter("since", OpenApiTypes.DATETIME, description="at or after"),
    OpenApiParameter("until", OpenApiTypes.DATETIME, description="before"),
]


def audit_page(request: Request, *, page_size: int | None = None) -> dict[str, Any]:
    """One page of the audit log for the request's user and filters (and cursor):
    ``{"next", "previous", "results"}``, for the API and the page."""
    entries = audit_entries(request.user, audit_filters(request.query_params))
    paginator = AuditPagination()
    if page_size is not None:
        paginator.page_size = page_size
    page = paginator.paginate_queryset(entries, request)
    return {
        "next": paginator.get_next_link(),
        "previous": paginator.get_previous_link(),
        "results": AuditEntrySerializer(page, many=True).data,
    }


class AuditListApi(APIView):
    @extend_schema(
        parameters=[
            *FILTERS,
            OpenApiParameter("page_size", OpenApiTypes.INT),
            OpenApiParameter("cursor", OpenApiTypes.STR, description="from a page's next link"),
        ],
        responses=page_of(AuditEntrySerializer, counted=False),
        operation_id="audit_list",
    )
    def get(self, request: Request) -> Response:
        """The audit log, newest first: every act on a run, bulk act, review, publication and
        permission change on the workflows you may see (staff: all)."""
        return Response(audit_page(request))


async def _one_at_a_time(chunks: Iterator[str]) -> AsyncIterator[str]:
    """``chunks`` for an ASGI server, read one at a time in the request's thread (where its
    database connection is): given a plain iterator, Django's ASGI handler would read it
    whole before sending any of it."""
    following = sync_to_async(lambda: next(chunks, None), thread_sensitive=True)
    while (chunk := await following()) is not None:
        yield chunk


class CsvRenderer(BaseRenderer):
    """Lets a client ask for ``Accept: text/csv`` (or ``?format=csv``); the view streams
    the CSV itself, and a refusal is JSON whatever was asked (see AuditCsvApi)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, media_type: Any = None, context: Any = None) -> bytes:
        return json.dumps(data).encode()


class AuditCsvApi(APIView):
    renderer_classes = [JSONRenderer, CsvRenderer]

    @extend_schema(
        parameters=FILTERS,
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="A header line, then an entry a line."
            )
        },
        operation_id="audit_csv",
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        """The audit log's entries that the filters match, all of them, newest first, as CSV
        (columns: at, actor, act, workflow, run, bulk, version, step, index, reason,
        changes, detail), streamed."""
        entries = audit_entries(request.user, audit_filters(request.query_params))
        chunks = csv_chunks(entries)
        asgi = isinstance(request._request, ASGIRequest)
        content = _one_at_a_time(chunks) if asgi else chunks
        response = StreamingHttpResponse(content, content_type="text/csv")
        name = f"sagaboard-audit-{timezone.now():%Y%m%d-%H%M%S}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    def handle_exception(self, exc: Exception) -> Response:
        # A refusal (a 400's {detail, errors}) is JSON, as the schema says, even when the
        # client asked for CSV.
        self.request.accepted_renderer = JSONRenderer()  # type: ignore[attr-defined]
        self.request.accepted_media_type = JSONRenderer.media_type  # type: ignore[attr-defined]
        return super().handle_exception(exc)

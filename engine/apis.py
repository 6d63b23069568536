"""Thin DRF views for runs: start, read, follow the log, act."""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from engine import services
from engine.models import Run
from engine.selectors import run_access, run_events, run_steps, visible_runs
from engine.serializers import (
    CallbackSerializer,
    CommentSerializer,
    EventSerializer,
    ReasonSerializer,
    RunSerializer,
    RunStartSerializer,
    RunSummarySerializer,
)
from sagaboard.access import workflow_access
from sagaboard.errors import InvalidInput


def run_body(request: Request, run: Run) -> dict[str, Any]:
    """The run with its steps, read from one snapshot so the two always agree."""
    outer = connection.in_atomic_block
    with transaction.atomic():
        if connection.vendor == "postgresql" and not outer:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        run.refresh_from_db()
        steps = run_steps(run)
        return dict(RunSerializer(run, context={"request": request, "steps": steps}).data)


class RunStartApi(APIView):
    @extend_schema(request=RunStartSerializer, responses={201: RunSerializer, 200: RunSerializer})
    def post(self, request: Request, slug: str) -> Response:
        workflow = workflow_access(request.user, slug, "run_workflow")
        serializer = RunStartSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run, created = services.run_start(
            workflow=workflow,
            by=request.user,
            input=serializer.validated_data["input"],
            idempotency_key=serializer.validated_data.get("idempotency_key") or None,
        )
        return Response(
            run_body(request, run),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class RunPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class RunListApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("workflow", OpenApiTypes.STR),
            OpenApiParameter("status", OpenApiTypes.STR),
        ],
        responses=RunSummarySerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        runs = visible_runs(request.user)
        if request.query_params.get("workflow"):
            runs = runs.filter(workflow__slug=request.query_params["workflow"])
        if request.query_params.get("status"):
            runs = runs.filter(status__in=request.query_params["status"].split(","))
        paginator = RunPagination()
        page = paginator.paginate_queryset(runs, request, view=self)
        return paginator.get_paginated_response(RunSummarySerializer(page, many=True).data)


class RunDetailApi(APIView):
    @extend_schema(responses=RunSerializer)
    def get(self, request: Request, run_id: str) -> Response:
        return Response(run_body(request, run_access(request.user, run_id)))


class RunEventsApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("after", OpenApiTypes.INT)],
        responses=EventSerializer(many=True),
    )
    def get(self, request: Request, run_id: str) -> Response:
        run = run_access(request.user, run_id)
        try:
            after = int(request.query_params.get("after", 0))
        except ValueError:
            raise InvalidInput(
                "after must be a whole number.",
                [{"step": None, "field": "after", "message": "not a whole number"}],
            ) from None
        return Response(EventSerializer(run_events(run, after=after), many=True).data)


def _reason(request: Request) -> str:
    serializer = ReasonSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data["reason"]


class StepRetryApi(APIView):
    @extend_schema(request=ReasonSerializer, responses=RunSerializer)
    def post(self, request: Request, run_id: str, step: str) -> Response:
        run = run_access(request.user, run_id, "operate_workflow")
        run = services.run_step_retry(run=run, step=step, by=request.user, reason=_reason(request))
        return Response(run_body(request, run))


class StepSkipApi(APIView):
    @extend_schema(request=ReasonSerializer, responses=RunSerializer)
    def post(self, request: Request, run_id: str, step: str) -> Response:
        run = run_access(request.user, run_id, "operate_workflow")
        run = services.run_step_skip(run=run, step=step, by=request.user, reason=_reason(request))
        return Response(run_body(request, run))


class StepDecideApi(APIView):
    approved = True

    @extend_schema(request=CommentSerializer, responses=RunSerializer)
    def post(self, request: Request, run_id: str, step: str) -> Response:
        run = run_access(request.user, run_id)
        serializer = CommentSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = services.run_step_decide(
            run=run,
            step=step,
            by=request.user,
            approved=self.approved,
            comment=serializer.validated_data["comment"],
        )
        return Response(run_body(request, run))


class StepApproveApi(StepDecideApi):
    approved = True


class StepRejectApi(StepDecideApi):
    approved = False


class RunCompensateApi(APIView):
    @extend_schema(request=ReasonSerializer, responses=RunSerializer)
    def post(self, request: Request, run_id: str) -> Response:
        run = run_access(request.user, run_id, "operate_workflow")
        run = services.run_compensate(run=run, by=request.user, reason=_reason(request))
        return Response(run_body(request, run))


class RunCancelApi(APIView):
    @extend_schema(request=ReasonSerializer, responses=RunSerializer)
    def post(self, request: Request, run_id: str) -> Response:
        run = run_access(request.user, run_id, "operate_workflow")
        run = services.run_cancel(run=run, by=request.user, reason=_reason(request))
        return Response(run_body(request, run))


class CallbackApi(APIView):
    """An outside participant completes a callback step; the one-time token is its credential."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(request=CallbackSerializer, responses={200: OpenApiTypes.OBJECT})
    def post(self, request: Request, token: str) -> Response:
        serializer = CallbackSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        run = services.callback_complete(
            token=token,
            succeeded=data["status"] == "succeeded",
            output=data.get("output"),
            error=data.get("error") or None,
        )
        return Response({"run": str(run.pk), "status": run.status})

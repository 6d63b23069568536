"""Thin DRF views for runs: start, read, follow the log, act."""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

import saga
from common.api import page_of
from common.errors import InvalidInput
from common.people import signed_in
from designer.access import workflow_access
from engine import services, stats
from engine.acts import decider_refusal
from engine.eventlog import run_events
from engine.models import Run
from engine.selectors import (
    ITERATION_PAGE,
    RUN_ORDERINGS,
    RunFilters,
    iterations_page,
    run_access,
    run_filters,
    run_skips,
    run_steps,
    runs_filtered,
)
from engine.serializers import (
    CallbackSerializer,
    CommentSerializer,
    EventSerializer,
    IterationPageSerializer,
    IterationSerializer,
    ReasonSerializer,
    RunListItemSerializer,
    RunSerializer,
    RunStartSerializer,
)
from engine.store import definition_for
from saga.vocabulary import StepStatus


def run_body(request: Request, run: Run) -> dict[str, Any]:
    """The run with its steps, read from one snapshot so the two always agree."""
    outer = connection.in_atomic_block
    with transaction.atomic():
        if connection.vendor == "postgresql" and not outer:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        run.refresh_from_db()
        steps = run_steps(run)
        context = {"request": request, "steps": steps, "skips": run_skips(run, steps)}
        return dict(RunSerializer(run, context=context).data)


class RunStartApi(APIView):
    @extend_schema(request=RunStartSerializer, responses={201: RunSerializer, 200: RunSerializer})
    def post(self, request: Request, slug: str) -> Response:
        workflow = workflow_access(request.user, slug, "run_workflow")
        serializer = RunStartSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run, created = services.run_start(
            workflow=workflow,
            by=signed_in(request.user),
            input=serializer.validated_data["input"],
            idempotency_key=serializer.validated_data.get("idempotency_key") or None,
        )
        return Response(
            run_body(request, run),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class RunPagination(CursorPagination):
    """Keyset pagination: a page costs the same however deep it is."""

    ordering = RUN_ORDERINGS["created"]
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def __init__(self, order: str = "created") -> None:
        self.ordering = RUN_ORDERINGS[order]


def run_list_page(
    request: Request, filters: RunFilters, *, user: Any, page_size: int | None = None
) -> dict[str, Any]:
    """One page of the runs ``user`` may see that match ``filters`` (the page's cursor, if
    any, from ``request``): ``{"next", "previous", "results"}``, for the API and the board."""
    paginator = RunPagination(filters.order)
    if page_size is not None:
        paginator.page_size = page_size
    page = paginator.paginate_queryset(runs_filtered(user, filters), request)
    return {
        "next": paginator.get_next_link(),
        "previous": paginator.get_previous_link(),
        "results": RunListItemSerializer(page, many=True).data,
    }


class RunListApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("workflow", OpenApiTypes.STR, description="slugs, comma-separated"),
            OpenApiParameter("status", OpenApiTypes.STR, description="statuses, comma-separated"),
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="created at or after"),
            OpenApiParameter("until", OpenApiTypes.DATETIME, description="created before"),
            OpenApiParameter(
                "children", OpenApiTypes.BOOL, description="false: leave child runs out"
            ),
            OpenApiParameter(
                "order",
                OpenApiTypes.STR,
                enum=list(RUN_ORDERINGS),
                description="created: newest first (default); stuck: only the runs stuck "
                "now, the longest stuck first",
            ),
            OpenApiParameter(
                "q",
                OpenApiTypes.STR,
                description="a run id or a prefix of one (4 hex digits or more), an "
                "idempotency key, a search attribute's value or a prefix of one (3 characters "
                "or more), or words of a step's error",
            ),
            OpenApiParameter(
                "step",
                OpenApiTypes.STR,
                description="runs with this step failed, retrying or compensation_failed now",
            ),
            OpenApiParameter(
                "error", OpenApiTypes.STR, description="words of a step's error, every one"
            ),
            OpenApiParameter("page_size", OpenApiTypes.INT),
            OpenApiParameter("cursor", OpenApiTypes.STR, description="from a page's next link"),
        ],
        responses=page_of(RunListItemSerializer, counted=False),
        operation_id="runs_list",
        description="Runs the user may see, newest first (or the stuck ones, longest stuck "
        "first). Besides the parameters below, `attr.<name>=<value>` keeps the runs whose "
        "search attribute `<name>` is exactly `<value>`; several are ANDed.",
    )
    def get(self, request: Request) -> Response:
        filters = run_filters(request.query_params)
        return Response(run_list_page(request, filters, user=request.user))


class WorkflowStatsApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("minutes", OpenApiTypes.INT, enum=list(stats.WINDOWS)),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request, slug: str) -> Response:
        """Runs per minute, completed/compensated/stuck rates, step latency percentiles and
        the stuck runs of one workflow, over the last ``minutes``."""
        workflow = workflow_access(request.user, slug)
        minutes = stats.window_minutes(request.query_params.get("minutes"))
        return Response(stats.workflow_stats_cached(workflow, minutes=minutes))


class RunDetailApi(APIView):
    @extend_schema(responses=RunSerializer)
    def get(self, request: Request, run_id: str) -> Response:
        return Response(run_body(request, run_access(request.user, run_id)))


class RunEventsApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("after", OpenApiTypes.INT),
            OpenApiParameter(
                "iterations",
                OpenApiTypes.BOOL,
                description="false: leave out the events of map iterations "
                "(an operator's act on one iteration stays)",
            ),
        ],
        responses=EventSerializer(many=True),
    )
    def get(self, request: Request, run_id: str) -> Response:
        run = run_access(request.user, run_id)
        after = _whole(request, "after", 0)
        iterations = request.query_params.get("iterations", "true").lower() not in (
            "false",
            "0",
            "no",
        )
        return Response(run_events(run, after=after, iterations=iterations))


class RunIterationsApi(APIView):
    """A map step's iterations, a page at a time in index order: ``?after=<index>`` for the
    next page, ``?status=`` for those in one status."""

    @extend_schema(
        parameters=[
            OpenApiParameter("after", OpenApiTypes.INT),
            OpenApiParameter("status", OpenApiTypes.STR, enum=[str(s) for s in StepStatus]),
            OpenApiParameter("limit", OpenApiTypes.INT),
        ],
        responses=IterationPageSerializer,
    )
    def get(self, request: Request, run_id: str, step: str) -> Response:
        run = run_access(request.user, run_id)
        after = _whole(request, "after", -1)
        limit = min(max(_whole(request, "limit", ITERATION_PAGE), 1), ITERATION_PAGE)
        wanted = request.query_params.get("status") or None
        if wanted is not None and wanted not in set(StepStatus):
            raise InvalidInput(
                f"No step status is called {wanted!r}.",
                [{"step": step, "field": "status", "message": "not a step status"}],
            )
        found, following = iterations_page(run, step, status=wanted, after=after, limit=limit)
        body = {"results": IterationSerializer(found, many=True).data, "next": following}
        return Response(body)


def _whole(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(
            f"{name} must be a whole number.",
            [{"step": None, "field": name, "message": "not a whole number"}],
        ) from None


class RunActApi(APIView):
    """An act of ``saga.ACTS`` on a run, or on one of its steps: ``{reason}`` (``{comment}``
    for the acts people decide). The URLs are made from the registry (api_urls.py)."""

    act: str = ""

    def post(
        self, request: Request, run_id: str, step: str | None = None, index: int | None = None
    ) -> Response:
        act = saga.ACTS[self.act]
        if act.who == "operator":
            run = run_access(request.user, run_id, "operate_workflow")
        else:
            run = run_access(request.user, run_id)
            # Who may decide, before what they sent: a stranger to the gate learns 403, not 400.
            refusal = decider_refusal(request.user, definition_for(run), step or "")
            if refusal is not None:
                raise refusal
        said = _SAYS[act.says](data=request.data)
        said.is_valid(raise_exception=True)
        run = services.run_act(
            run=run,
            act=act.name,
            step=step,
            index=index,
            by=signed_in(request.user),
            reason=said.validated_data[act.says],
        )
        return Response(run_body(request, run))


_SAYS = {"reason": ReasonSerializer, "comment": CommentSerializer}


def act_view(name: str) -> Any:
    """The view of the act ``name``, documented for the OpenAPI schema."""
    act = saga.ACTS[name]
    view: type[RunActApi] = type(f"Run{name.title()}Api", (RunActApi,), {"act": name})
    schema = extend_schema(
        request=_SAYS[act.says], responses=RunSerializer, description=act.summary
    )
    return extend_schema_view(post=schema)(view).as_view()


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
            succeeded=data["status"] == StepStatus.SUCCEEDED,
            output=data.get("output"),
            error=data.get("error") or None,
        )
        return Response({"run": str(run.pk), "status": run.status})

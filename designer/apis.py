"""Thin DRF views for definitions: parse, call one service, render."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.activities import all_activities
from common.api import page_of
from common.errors import InvalidInput, NotAllowed
from common.people import signed_in
from designer import services
from designer.access import can_manage_permissions, visible_workflows, workflow_access
from designer.diff import spec_diff
from designer.render import render_diff_svg, render_version_svg
from designer.selectors import may_create_workflows, version_get, workflow_versions
from designer.serializers import (
    ActivitySerializer,
    DiffSerializer,
    PermissionsSerializer,
    ReviewInSerializer,
    ReviewSerializer,
    ValidateInSerializer,
    ValidateOutSerializer,
    VersionPatchSerializer,
    VersionSerializer,
    VersionSummarySerializer,
    VersionWriteSerializer,
    VersionWrittenSerializer,
    WorkflowCreateSerializer,
    WorkflowSerializer,
)


def _version_body(request: Request, version: Any, result: Any = None) -> dict[str, Any]:
    data = dict(VersionSerializer(version, context={"request": request}).data)
    if result is not None:
        data["warnings"] = [issue.as_dict() for issue in result.warnings]
    return data


class WorkflowListApi(APIView):
    @extend_schema(operation_id="workflows_list", responses=page_of(WorkflowSerializer))
    def get(self, request: Request) -> Response:
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(visible_workflows(request.user), request, view=self)
        data = WorkflowSerializer(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)

    @extend_schema(request=WorkflowCreateSerializer, responses={201: WorkflowSerializer})
    def post(self, request: Request) -> Response:
        if not may_create_workflows(request.user):
            raise NotAllowed("You may not create workflows.")
        serializer = WorkflowCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        workflow = services.workflow_create(by=signed_in(request.user), **serializer.validated_data)
        return Response(
            WorkflowSerializer(workflow, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )


class WorkflowDetailApi(APIView):
    @extend_schema(responses=WorkflowSerializer)
    def get(self, request: Request, slug: str) -> Response:
        workflow = workflow_access(request.user, slug)
        return Response(WorkflowSerializer(workflow, context={"request": request}).data)


class WorkflowPermissionsApi(APIView):
    @extend_schema(responses=PermissionsSerializer)
    def get(self, request: Request, slug: str) -> Response:
        workflow = workflow_access(request.user, slug)
        return Response(services.workflow_permissions(workflow))

    @extend_schema(request=PermissionsSerializer, responses=PermissionsSerializer)
    def put(self, request: Request, slug: str) -> Response:
        workflow = workflow_access(request.user, slug)
        # Refused before the body is read: a 400 would tell a viewer the act was in reach.
        if not can_manage_permissions(request.user, workflow):
            raise NotAllowed("Only staff and the workflow's creator may change its permissions.")
        serializer = PermissionsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = services.workflow_permissions_set(
            workflow=workflow, by=signed_in(request.user), **serializer.validated_data
        )
        return Response(result)


class VersionListApi(APIView):
    @extend_schema(responses=VersionSummarySerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        workflow = workflow_access(request.user, slug)
        return Response(VersionSummarySerializer(workflow_versions(workflow), many=True).data)

    @extend_schema(request=VersionWriteSerializer, responses={201: VersionWrittenSerializer})
    def post(self, request: Request, slug: str) -> Response:
        workflow = workflow_access(request.user, slug, "change_workflow")
        serializer = VersionWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version, result = services.version_create(
            workflow=workflow, by=signed_in(request.user), **serializer.validated_data
        )
        return Response(_version_body(request, version, result), status=status.HTTP_201_CREATED)


class VersionDetailApi(APIView):
    @extend_schema(responses=VersionSerializer)
    def get(self, request: Request, slug: str, number: int) -> Response:
        workflow = workflow_access(request.user, slug)
        return Response(_version_body(request, version_get(workflow, number)))

    @extend_schema(request=VersionWriteSerializer, responses=VersionWrittenSerializer)
    def put(self, request: Request, slug: str, number: int) -> Response:
        return self._change(request, slug, number, VersionWriteSerializer)

    @extend_schema(request=VersionPatchSerializer, responses=VersionWrittenSerializer)
    def patch(self, request: Request, slug: str, number: int) -> Response:
        return self._change(request, slug, number, VersionPatchSerializer)

    def _change(self, request: Request, slug: str, number: int, serializer_class: type) -> Response:
        workflow = workflow_access(request.user, slug, "change_workflow")
        version = version_get(workflow, number)
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        version, result = services.version_update(
            version=version, by=signed_in(request.user), **serializer.validated_data
        )
        return Response(_version_body(request, version, result))


class VersionSubmitApi(APIView):
    @extend_schema(request=None, responses=VersionSerializer)
    def post(self, request: Request, slug: str, number: int) -> Response:
        workflow = workflow_access(request.user, slug, "change_workflow")
        version = services.version_submit(
            version=version_get(workflow, number), by=signed_in(request.user)
        )
        return Response(_version_body(request, version))


class VersionReviewApi(APIView):
    @extend_schema(request=ReviewInSerializer, responses={201: ReviewSerializer})
    def post(self, request: Request, slug: str, number: int) -> Response:
        workflow = workflow_access(request.user, slug, "review_workflow")
        serializer = ReviewInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        review = services.version_review(
            version=version_get(workflow, number),
            by=signed_in(request.user),
            **serializer.validated_data,
        )
        return Response(ReviewSerializer(review).data, status=status.HTTP_201_CREATED)


class VersionPublishApi(APIView):
    @extend_schema(request=None, responses=VersionSerializer)
    def post(self, request: Request, slug: str, number: int) -> Response:
        workflow = workflow_access(request.user, slug, "publish_workflow")
        version = services.version_publish(
            version=version_get(workflow, number), by=signed_in(request.user)
        )
        return Response(_version_body(request, version))


def _against(request: Request, workflow: Any) -> Any:
    raw = request.query_params.get("against")
    if raw is None:
        return None
    try:
        number = int(raw)
    except ValueError:
        raise InvalidInput(
            "against must be a version number.",
            [{"step": None, "field": "against", "message": "not a whole number"}],
        ) from None
    return version_get(workflow, number)


AGAINST = OpenApiParameter("against", OpenApiTypes.INT, description="the version to compare with")


class VersionDiffApi(APIView):
    @extend_schema(parameters=[AGAINST], responses=DiffSerializer)
    def get(self, request: Request, slug: str, number: int) -> Response:
        workflow = workflow_access(request.user, slug)
        version = version_get(workflow, number)
        other = _against(request, workflow)
        if other is None:
            raise InvalidInput(
                "Say which version to compare with: ?against=N.",
                [{"step": None, "field": "against", "message": "required"}],
            )
        return Response(spec_diff(other.spec, version.spec))


class VersionGraphApi(APIView):
    @extend_schema(parameters=[AGAINST], responses={(200, "image/svg+xml"): OpenApiTypes.BINARY})
    def get(self, request: Request, slug: str, number: int) -> HttpResponse:
        workflow = workflow_access(request.user, slug)
        version = version_get(workflow, number)
        other = _against(request, workflow)
        svg = (
            render_version_svg(version.spec)
            if other is None
            else render_diff_svg(other.spec, version.spec)
        )
        response = HttpResponse(svg, content_type="image/svg+xml")
        # The picture holds user text; never let it run script if opened directly.
        response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
        return response


class ValidateApi(APIView):
    @extend_schema(request=ValidateInSerializer, responses=ValidateOutSerializer)
    def post(self, request: Request) -> Response:
        serializer = ValidateInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        slug = serializer.validated_data.get("workflow")
        # Only a workflow the user may see: the answer tells what calls it.
        workflow = workflow_access(request.user, slug).slug if slug else None
        result = services.spec_validate(serializer.validated_data["spec"], workflow=workflow)
        return Response(
            {
                "valid": result.valid,
                "errors": [i.as_dict() for i in result.errors],
                "warnings": [i.as_dict() for i in result.warnings],
            }
        )


class ActivityListApi(APIView):
    @extend_schema(responses=ActivitySerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response([{"name": a.name, "description": a.description} for a in all_activities()])

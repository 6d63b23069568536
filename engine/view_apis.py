"""Thin DRF views for saved views: list and save, read and delete (engine/saved_views.py)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.people import signed_in
from engine.models import SavedView
from engine.saved_views import view_access, view_acts, view_create, view_delete, views_visible


class SavedViewWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    filter = serializers.DictField(
        child=serializers.JSONField(),
        help_text="the run list's query parameters, {name: value} (workflow, status, since, "
        "until, order, children, q, step, error, attr.<name>), each a string",
    )
    shared = serializers.BooleanField(default=False)


class SavedViewSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.get_username")
    filter = serializers.DictField(child=serializers.CharField())
    acts = serializers.SerializerMethodField(help_text="what the user may do to it now: delete")
    board_url = serializers.SerializerMethodField(help_text="the board showing its runs")

    class Meta:
        model = SavedView
        fields = ["id", "name", "owner", "filter", "shared", "created_at", "acts", "board_url"]

    def get_acts(self, view: SavedView) -> list[str]:
        return view_acts(self.context["request"].user, view)

    def get_board_url(self, view: SavedView) -> str:
        query = urlencode(sorted((view.filter or {}).items()))
        return reverse("engine:board") + (f"?{query}" if query else "")


def _body(request: Request, view: SavedView) -> dict[str, Any]:
    return dict(SavedViewSerializer(view, context={"request": request}).data)


class SavedViewListApi(APIView):
    @extend_schema(responses=SavedViewSerializer(many=True), operation_id="views_list")
    def get(self, request: Request) -> Response:
        """The user's own views and the shared ones they may see, by name."""
        found = views_visible(request.user)
        return Response(SavedViewSerializer(found, many=True, context={"request": request}).data)

    @extend_schema(request=SavedViewWriteSerializer, responses={201: SavedViewSerializer})
    def post(self, request: Request) -> Response:
        """Save a run list's filter as a view; shared, it is seen by everyone who may see
        every workflow it names."""
        serializer = SavedViewWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        view = view_create(
            by=signed_in(request.user),
            name=data["name"],
            filter=data["filter"],
            shared=data["shared"],
        )
        return Response(_body(request, view), status=status.HTTP_201_CREATED)


class SavedViewDetailApi(APIView):
    @extend_schema(responses=SavedViewSerializer)
    def get(self, request: Request, view_id: int) -> Response:
        return Response(_body(request, view_access(request.user, view_id)))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, view_id: int) -> Response:
        """Delete a view: its owner or staff only."""
        view_delete(view=view_access(request.user, view_id), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

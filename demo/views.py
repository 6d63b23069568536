"""The demo participants over HTTP (under /demo/api/), their ledger, and the traffic page."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.people import signed_in
from demo import traffic
from demo.forms import TrafficForm
from demo.models import LedgerEntry
from demo.participants import OPERATIONS, ParticipantError, perform
from engine.selectors import run_access


@csrf_exempt
def participant(request: HttpRequest, service: str, operation: str) -> JsonResponse:
    """POST (or PUT, PATCH, DELETE) /demo/api/<service>/<operation>/ with an Idempotency-Key."""
    name = f"demo.{service}.{operation}" if service != "noop" else "demo.noop"
    if name not in OPERATIONS:
        return JsonResponse({"detail": f"No operation {service}/{operation}."}, status=404)
    if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
        return JsonResponse({"detail": "Use POST."}, status=405)
    key = request.headers.get("Idempotency-Key", "")
    if not key:
        return JsonResponse({"detail": "The Idempotency-Key header is required."}, status=400)
    try:
        body: Any = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"detail": "The body is not JSON."}, status=400)
    args = dict(request.GET.items())
    if isinstance(body, dict):
        args.update(body)
    run_id = request.headers.get("X-Correlation-ID", "")
    parts = key.split(":")
    step_id = parts[1] if len(parts) > 1 else ""
    try:
        result = perform(name, idempotency_key=key, run_id=run_id, step_id=step_id, args=args)
    except ParticipantError as exc:
        return JsonResponse({"detail": str(exc)}, status=503 if exc.retryable else 422)
    return JsonResponse(result, status=200)


class LedgerEntrySerializer(serializers.ModelSerializer):
    step = serializers.CharField(source="step_id")

    class Meta:
        model = LedgerEntry
        fields = ["activity", "step", "idempotency_key", "applied", "calls", "result"]


class LedgerApi(APIView):
    """GET /api/demo/ledger/?run=<id>: what the demo participants did for a run."""

    @extend_schema(
        parameters=[OpenApiParameter("run", OpenApiTypes.STR)],
        responses=LedgerEntrySerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        # What a participant did for a run is as private as the run itself.
        run = run_access(request.user, request.query_params.get("run", ""))
        entries = LedgerEntry.objects.filter(run_id=str(run.pk)).order_by("id")
        return Response(LedgerEntrySerializer(entries, many=True).data)


@login_required
def traffic_page(request: HttpRequest) -> HttpResponse:
    """GET, POST /demo/: switch the demo traffic and set its rate (staff and operators)."""
    if not traffic.can_control(request.user):
        raise PermissionDenied("Only staff and operators control the demo traffic.")
    current = traffic.traffic_current()
    if request.method == "POST":
        form = TrafficForm(request.POST)
        if form.is_valid():
            saved = traffic.traffic_update(
                by=signed_in(request.user),  # type: ignore[arg-type]
                enabled=form.cleaned_data["enabled"],
                rate_per_min=form.cleaned_data["rate_per_min"],
                fail_rate=form.cleaned_data["fail_percent"] / 100,
            )
            if saved.enabled and saved.rate_per_min > 0:
                messages.success(
                    request,
                    f"Demo traffic on: {saved.rate_per_min:g} runs a minute, "
                    f"{saved.fail_rate:.0%} of them failing.",
                )
            else:
                messages.success(request, "Demo traffic off.")
            return redirect("demo:traffic")
    else:
        form = TrafficForm(
            initial={
                "enabled": current.enabled,
                # 20, not 20.0: whole numbers as people type them.
                "rate_per_min": f"{current.rate_per_min:g}",
                "fail_percent": f"{round(current.fail_rate * 100, 2):g}",
            }
        )
    recent = traffic.traffic_recent(minutes=10)
    return render(
        request,
        "demo/traffic.html",
        {
            "form": form,
            "traffic": current,
            "recent": sorted(recent.items()),
            "recent_total": sum(recent.values()),
        },
    )

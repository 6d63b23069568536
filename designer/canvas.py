"""The visual designer: its pages, and the API it needs beyond the definitions API.

- ``layout_positions``: graphviz (dot) lays a graph out; positions go into a
  version's layout, never its spec.
- ``simulation``: the engine's pure core runs a spec with one step failing for
  good, with no side effects, to show the path and the compensations.
- the list of approver groups, and JSON/YAML conversion for import and export.

The pages only hand data to the front-end bundle (``static/build/designer.js``)
through ``json_script``: no inline script.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import graphviz
import yaml
from django.conf import settings
from django.contrib.auth.models import Group
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.errors import InvalidInput
from designer import services
from designer.access import workflow_access
from designer.models import Version, VersionStatus, Workflow
from designer.selectors import version_get, workflow_acts, workflow_versions
from designer.serializers import SpecField, VersionSerializer
from designer.views import page, reading_order
from saga import EventType, Simulation, definition_from_spec, simulate
from saga.graph import spec_graph
from saga.steps import kind_of

# The canvas draws every step as a box of this size (px); dot lays out boxes of the
# same size (points, which the canvas takes as px), so the picture matches.
NODE_WIDTH = 240
NODE_HEIGHT = 78
LAYOUT_TIMEOUT_S = 20
MAX_EACH = 60
EMPTY_SPEC: dict[str, Any] = {"format": "sagaboard/v1", "steps": []}


def _error(field: str, message: str, detail: str | None = None) -> InvalidInput:
    return InvalidInput(detail or message, [{"step": None, "field": field, "message": message}])


# --- layout -----------------------------------------------------------------------------


def _graph_steps(spec: Any) -> list[tuple[str, tuple[str, ...]]]:
    """The ids and ``after`` lists a layout needs; the rest of a half-drawn spec is ignored."""
    steps = spec.get("steps") if isinstance(spec, dict) else None
    if not isinstance(steps, list):
        raise _error("spec.steps", "must be a list of steps")
    if len(steps) > settings.SAGABOARD_MAX_STEPS:
        raise _error(
            "spec.steps",
            f"spec has {len(steps)} steps; the limit is {settings.SAGABOARD_MAX_STEPS}",
        )
    return list(spec_graph(spec).preds.items())


def layout_positions(spec: Any) -> dict[str, Any]:
    """Top-left corners of each step's box, left to right in dependency order, laid out by dot.

    Accepts specs the validator would refuse (the canvas is laid out while it is
    being drawn): steps without an id are skipped, ``after`` names that are no
    step are ignored and cycles are drawn as they are.
    """
    steps = _graph_steps(spec)
    if not steps:
        return {"positions": {}, "width": 0, "height": 0}
    graph = graphviz.Digraph()
    graph.attr(rankdir="LR", nodesep="0.45", ranksep="0.9", splines="false")
    graph.attr(
        "node",
        shape="box",
        fixedsize="true",
        label="",
        width=f"{NODE_WIDTH / 72:.4f}",
        height=f"{NODE_HEIGHT / 72:.4f}",
    )
    names = {sid: f"n{i}" for i, (sid, _) in enumerate(steps)}
    for sid, _ in steps:
        graph.node(names[sid])
    for sid, after in steps:
        for before in after:
            graph.edge(names[before], names[sid])
    try:
        done = subprocess.run(
            ["dot", "-Tjson0"],
            input=graph.source.encode(),
            capture_output=True,
            timeout=LAYOUT_TIMEOUT_S,
            check=True,
            # Its own session: a Ctrl-C or SIGTERM sent to the server's process group
            # must not kill a layout in flight; the server's graceful stop lets it finish.
            start_new_session=True,
        )
    except subprocess.TimeoutExpired:
        raise _error("spec", "the graph took too long to lay out") from None
    drawn = json.loads(done.stdout)
    width, height = (float(v) for v in drawn["bb"].split(",")[2:])
    by_name = {obj["name"]: obj for obj in drawn.get("objects", [])}
    positions = {}
    for sid, name in names.items():
        x, y = (float(v) for v in by_name[name]["pos"].split(","))
        # dot puts the origin bottom left and gives centres; the canvas wants top-left corners.
        positions[sid] = {"x": round(x - NODE_WIDTH / 2), "y": round(height - y - NODE_HEIGHT / 2)}
    return {"positions": positions, "width": round(width), "height": round(height)}


# --- simulation -------------------------------------------------------------------------


def simulation_body(sim: Simulation, fail_step: str | None) -> dict[str, Any]:
    """A simulation as the API returns it: events, outcome, the path, the steps a condition
    left out, each map's iterations and the compensations, iteration by iteration."""
    events = []
    path: list[str] = []
    not_taken: list[str] = []
    iterations: dict[str, int] = {}
    compensations: list[dict[str, Any]] = []
    compensated: list[str] = []
    definition = sim.state.definition
    for seq, emit in enumerate(sim.events, start=1):
        events.append(
            {
                "seq": seq,
                "event": str(emit.event_type),
                "step": emit.step,
                "status": str(emit.status),
                "attempt": emit.attempt,
                "error": emit.error,
            }
        )
        if emit.step is None:
            continue
        kind = emit.event_type
        index = emit.data.get("index")
        if kind in (EventType.STEP_STARTED, EventType.STEP_WAITING) and emit.step not in path:
            path.append(emit.step)
        if kind is EventType.STEP_STARTED and "items" in emit.data:
            iterations[emit.step] = int(emit.data["items"])
        elif kind is EventType.STEP_SKIPPED and emit.data.get("reason") == "condition":
            not_taken.append(emit.step)
        elif kind is EventType.STEP_COMPENSATION_STARTED:
            if emit.step not in compensated:
                compensated.append(emit.step)
            # A map's own start only opens its iterations' compensations.
            if index is not None or definition.step(emit.step).type != "map":
                compensations.append({"step": emit.step, "index": index})
    return {
        "fail_step": fail_step,
        "status": str(sim.state.status),
        "events": events,
        "steps": {sid: str(step.status) for sid, step in sim.state.steps.items()},
        "path": path,
        "not_taken": not_taken,
        "iterations": iterations,
        "compensation_order": compensated,
        "compensations": compensations,
    }


def simulation(spec: Any, fail_step: str | None, run_input: Any = None) -> dict[str, Any]:
    """Simulate a valid spec with ``fail_step`` failing for good (None: nothing fails), its
    conditions and maps' items evaluated against ``run_input`` (a sample)."""
    services.spec_check(spec)
    definition = definition_from_spec(spec)
    if fail_step is not None:
        if fail_step not in definition:
            raise _error("fail_step", f"there is no step {fail_step!r}")
        kind = kind_of(definition.step(fail_step).type)
        if not kind.can_fail:
            raise _error(
                "fail_step", f"step {fail_step} is a {kind.name}; a {kind.name} does not fail"
            )
    return simulation_body(simulate(definition, fail_step, input=run_input), fail_step)


def simulations_each(spec: Any, run_input: Any = None) -> list[dict[str, Any]]:
    """One simulation per step that can fail, in graph order.

    Each simulation costs time in proportion to the size of the graph, so one
    request does at most ``MAX_EACH`` of them (a second or so on a small machine).
    """
    services.spec_check(spec)
    definition = definition_from_spec(spec)
    failable = [sid for sid in definition.order if kind_of(definition.step(sid).type).can_fail]
    if len(failable) > MAX_EACH:
        raise _error(
            "fail_each",
            f"{len(failable)} steps can fail; a failure at each in turn is simulated for at "
            f"most {MAX_EACH}: choose the step to fail instead",
        )
    return [simulation_body(simulate(definition, sid, input=run_input), sid) for sid in failable]


# --- API --------------------------------------------------------------------------------


class LayoutInSerializer(serializers.Serializer):
    spec = SpecField()


class SimulateInSerializer(serializers.Serializer):
    spec = SpecField()
    fail_step = serializers.CharField(allow_null=True, required=False, default=None, max_length=64)
    fail_each = serializers.BooleanField(required=False, default=False)
    input = serializers.JSONField(
        required=False,
        default=dict,
        help_text="a sample input, which conditions and maps' items read (empty, as a run's)",
    )


class ConvertInSerializer(serializers.Serializer):
    spec = SpecField()
    format = serializers.ChoiceField(choices=["json", "yaml"], default="json")


POSITIONS = inline_serializer(
    "Layout",
    {
        "positions": serializers.DictField(child=serializers.DictField()),
        "width": serializers.IntegerField(),
        "height": serializers.IntegerField(),
    },
)


class SimEventSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    event = serializers.CharField()
    step = serializers.CharField(allow_null=True)
    status = serializers.CharField()
    attempt = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_null=True)


class SimCompensationSerializer(serializers.Serializer):
    step = serializers.CharField()
    index = serializers.IntegerField(allow_null=True, help_text="a map's iteration, or null")


class SimulationSerializer(serializers.Serializer):
    fail_step = serializers.CharField(allow_null=True)
    status = serializers.CharField(help_text="the run's final status")
    events = SimEventSerializer(many=True)
    steps = serializers.DictField(child=serializers.CharField(), help_text="final step statuses")
    path = serializers.ListField(child=serializers.CharField(), help_text="steps started, in order")
    not_taken = serializers.ListField(
        child=serializers.CharField(), help_text="steps skipped by their condition, in order"
    )
    iterations = serializers.DictField(
        child=serializers.IntegerField(), help_text="each map step begun: its number of items"
    )
    compensation_order = serializers.ListField(
        child=serializers.CharField(), help_text="the steps compensated, in order"
    )
    compensations = SimCompensationSerializer(
        many=True, help_text="each compensation, a map's iteration by iteration, in order"
    )


class LayoutApi(APIView):
    @extend_schema(request=LayoutInSerializer, responses=POSITIONS)
    def post(self, request: Request) -> Response:
        serializer = LayoutInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(layout_positions(serializer.validated_data["spec"]))


class ScenariosSerializer(serializers.Serializer):
    scenarios = SimulationSerializer(many=True)


class SimulateApi(APIView):
    @extend_schema(
        request=SimulateInSerializer,
        responses=PolymorphicProxySerializer(
            component_name="SimulateResult",
            serializers=[SimulationSerializer, ScenariosSerializer],
            resource_type_field_name=None,
        ),
        description="Runs the spec through the engine's pure core with `fail_step` failing for "
        "good (null: nothing fails), its conditions and maps' items evaluated against `input` "
        "(a sample). Nothing is stored or called. With `fail_each`, returns "
        "`{scenarios: [...]}`, one simulation per step that can fail.",
    )
    def post(self, request: Request) -> Response:
        serializer = SimulateInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if data["fail_each"]:
            return Response({"scenarios": simulations_each(data["spec"], data["input"])})
        return Response(simulation(data["spec"], data["fail_step"], data["input"]))


class GroupListApi(APIView):
    @extend_schema(
        responses=inline_serializer("Group", {"name": serializers.CharField()}, many=True)
    )
    def get(self, request: Request) -> Response:
        names = Group.objects.order_by("name").values_list("name", flat=True)
        return Response([{"name": name} for name in names])


class ConvertApi(APIView):
    """Parse spec text (JSON or YAML) or render a spec as JSON or YAML text; nothing is stored."""

    @extend_schema(
        request=ConvertInSerializer,
        responses=inline_serializer(
            "Converted", {"spec": serializers.JSONField(), "text": serializers.CharField()}
        ),
    )
    def post(self, request: Request) -> Response:
        serializer = ConvertInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        spec = serializer.validated_data["spec"]
        ordered = reading_order(spec)
        if serializer.validated_data["format"] == "yaml":
            text = yaml.safe_dump(ordered, sort_keys=False, allow_unicode=True, width=100)
        else:
            text = json.dumps(ordered, indent=2, ensure_ascii=False) + "\n"
        return Response({"spec": spec, "text": text})


# --- pages ------------------------------------------------------------------------------


def _config(
    request: HttpRequest,
    workflow: Workflow,
    *,
    version: Version | None,
    start: dict[str, Any] | None,
) -> dict[str, Any]:
    numbers = list(workflow_versions(workflow).values_list("number", "status"))
    draft = next((n for n, status in numbers if status == VersionStatus.DRAFT), None)
    published = next((n for n, status in numbers if status == VersionStatus.PUBLISHED), None)
    return {
        "api": reverse("api:validate").removesuffix("validate/"),
        "workflow": {"slug": workflow.slug, "name": workflow.name},
        # Whose unsaved work this browser keeps: people sharing one never see each other's.
        "user": request.user.get_username(),
        "urls": {
            "workflow": reverse("designer:workflow-detail", args=[workflow.slug]),
            "new_draft": reverse("designer:designer-new", args=[workflow.slug]),
        },
        "version": (
            VersionSerializer(version, context={"request": request}).data if version else None
        ),
        "start": start,
        "can_create": "create_version" in workflow_acts(request.user, workflow),
        "open_draft": draft,
        "published": published,
    }


def _render(request: HttpRequest, workflow: Workflow, config: dict[str, Any]) -> HttpResponse:
    version = config["version"]
    context = {"workflow": workflow, "config": config, "number": version and version["number"]}
    return render(request, "designer/canvas.html", context)


@page
@require_GET
@ensure_csrf_cookie
def designer_new(request: HttpRequest, slug: str) -> HttpResponse:
    """The designer on a new draft: from ``?from=N``, else the published version, else the
    latest one; ``?from=empty`` starts from an empty canvas."""
    workflow = workflow_access(request.user, slug, "change_workflow")
    source = request.GET.get("from", "")
    base: Version | None
    if source == "empty":
        base = None
    elif source.isdigit():
        base = version_get(workflow, int(source))
    else:
        base = workflow.published_version or workflow_versions(workflow).first()
    start = (
        {"spec": base.spec, "layout": base.layout, "from": base.number}
        if base
        else {"spec": EMPTY_SPEC, "layout": {}, "from": None}
    )
    return _render(request, workflow, _config(request, workflow, version=None, start=start))


@page
@require_GET
@ensure_csrf_cookie
def designer_version(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """The designer on one version: editable when it is a draft the user may change."""
    workflow = workflow_access(request.user, slug)
    version = version_get(workflow, number)
    return _render(request, workflow, _config(request, workflow, version=version, start=None))

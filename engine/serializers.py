"""Runs, steps and events as JSON."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from engine.acts import run_acts
from engine.models import Iteration, Run, StepRun
from saga.vocabulary import EventType, StepStatus

#: What a callback participant may report: its step succeeded, or it failed.
CALLBACK_STATUSES = [str(StepStatus.SUCCEEDED), str(StepStatus.FAILED)]


class RunStartSerializer(serializers.Serializer):
    input = serializers.JSONField(required=False, default=dict)
    idempotency_key = serializers.CharField(
        max_length=200, required=False, allow_null=True, allow_blank=True
    )


class FanSerializer(serializers.Serializer):
    """How far a map step has gone: its items, the iterations begun, and how many of them
    stand in each status."""

    total = serializers.IntegerField()
    started = serializers.IntegerField()
    counts = serializers.DictField(child=serializers.IntegerField())


class StepRunSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="step_id")
    attempts = serializers.IntegerField(source="attempt")
    compensation_attempts = serializers.IntegerField(source="compensation_attempt")
    iterations = serializers.SerializerMethodField(
        help_text="a map step's progress, once its items are known; null for other steps"
    )

    @extend_schema_field(FanSerializer(allow_null=True))
    def get_iterations(self, row: StepRun) -> dict[str, Any] | None:
        found = (row.core or {}).get("fan")
        return dict(found) if found else None

    class Meta:
        model = StepRun
        fields = [
            "id",
            "type",
            "status",
            "attempts",
            "compensation_attempts",
            "started_at",
            "finished_at",
            "latency_ms",
            "output",
            "error",
            "next_attempt_at",
            "deadline_at",
            "iterations",
        ]


class IterationSerializer(serializers.ModelSerializer):
    """One iteration of a map step: its item, and its attempts and outcome."""

    attempts = serializers.IntegerField(source="attempt")
    compensation_attempts = serializers.IntegerField(source="compensation_attempt")
    child = serializers.CharField(
        allow_null=True,
        default=None,
        read_only=True,
        help_text="the child run the iteration started, when the map runs a child saga for "
        "each item; null otherwise, or before it has started",
    )

    class Meta:
        model = Iteration
        fields = [
            "index",
            "item",
            "status",
            "attempts",
            "compensation_attempts",
            "started_at",
            "finished_at",
            "latency_ms",
            "output",
            "error",
            "next_attempt_at",
            "child",
        ]


class IterationPageSerializer(serializers.Serializer):
    results = IterationSerializer(many=True)
    next = serializers.IntegerField(
        allow_null=True, help_text="the ?after= of the next page; null on the last"
    )


class ParentSerializer(serializers.Serializer):
    run = serializers.CharField()
    step = serializers.CharField()
    index = serializers.IntegerField(
        allow_null=True, help_text="the iteration, when the step is a map's; null otherwise"
    )


def parent_of(run: Run) -> dict[str, Any] | None:
    """A child run's parent: its run, its child saga step, and the iteration when that step
    is a map's."""
    if run.parent_run_id is None:
        return None
    return {"run": str(run.parent_run_id), "step": run.parent_step, "index": run.parent_index}


class RunSummarySerializer(serializers.ModelSerializer):
    """What every answer about a run says of it; for a child run, the run, step and
    iteration that started it."""

    workflow = serializers.CharField(source="workflow.slug")
    version = serializers.IntegerField(source="version.number")
    started_by = serializers.CharField(source="started_by.get_username", default=None)
    search = serializers.DictField(
        child=serializers.CharField(),
        help_text="the run's search attributes, {name: value}, as its start evaluated them "
        "(one whose value was missing or empty is left out)",
    )

    class Meta:
        model = Run
        fields = [
            "id",
            "workflow",
            "version",
            "status",
            "idempotency_key",
            "correlation_id",
            "started_by",
            "created_at",
            "updated_at",
            "finished_at",
            "stuck_since",
            "last_seq",
            "search",
        ]

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        # Declared here: "parent" names every DRF field's own serializer as an attribute.
        fields["parent"] = serializers.SerializerMethodField(
            method_name="get_parent_run",
            help_text="a child run: the run and the child saga step (and the map's iteration) "
            "that started it",
        )
        return fields

    @extend_schema_field(ParentSerializer(allow_null=True))
    def get_parent_run(self, run: Run) -> dict[str, Any] | None:
        return parent_of(run)


class RunListItemSerializer(RunSummarySerializer):
    """A run in a list: the summary, for a stuck run the step that holds it up, and for a
    child run the run and step that started it."""

    workflow_name = serializers.CharField(source="workflow.name")
    stuck_step = serializers.CharField(default=None, allow_null=True, read_only=True)
    stuck_error = serializers.CharField(default=None, allow_null=True, read_only=True)

    class Meta(RunSummarySerializer.Meta):
        fields = [*RunSummarySerializer.Meta.fields, "workflow_name", "stuck_step", "stuck_error"]


class StepActsSerializer(serializers.Serializer):
    """What the user may do to the run now: run-level acts, and per step (saga.ACTS)."""

    run = serializers.ListField(child=serializers.CharField())
    steps = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class RunStepSerializer(StepRunSerializer):
    name = serializers.CharField()
    skip = serializers.ChoiceField(
        choices=["step", "compensation", "condition"],
        allow_null=True,
        help_text="a skipped step: what was skipped (the step or its compensation, by an "
        "operator; or the step, by its condition); its latency_ms is then its last "
        "attempt's, not the time until the skip",
    )

    class Meta(StepRunSerializer.Meta):
        fields = [*StepRunSerializer.Meta.fields, "name", "skip"]


class ChildSerializer(serializers.Serializer):
    run = serializers.CharField()
    step = serializers.CharField()
    workflow = serializers.CharField()
    status = serializers.CharField()


class RunSerializer(RunSummarySerializer):
    steps = serializers.SerializerMethodField()
    acts = serializers.SerializerMethodField()
    children = serializers.SerializerMethodField(
        help_text="the child runs its child saga steps started (a map's are with its iterations)"
    )

    @extend_schema_field(ChildSerializer(many=True))
    def get_children(self, run: Run) -> list[dict[str, str]]:
        # A map's children, one an iteration and up to 10,000, are listed with its
        # iterations (GET .../steps/{step}/iterations/), a page at a time.
        found = run.children.filter(parent_index__isnull=True).values_list(
            "id", "parent_step", "workflow__slug", "status"
        )
        return [
            {"run": str(pk), "step": step, "workflow": slug, "status": status}
            for pk, step, slug, status in found
        ]

    class Meta(RunSummarySerializer.Meta):
        fields = [
            *RunSummarySerializer.Meta.fields,
            "input",
            "output",
            "output_error",
            "steps",
            "acts",
            "children",
        ]

    @extend_schema_field(RunStepSerializer(many=True))
    def get_steps(self, run: Run) -> list[dict[str, Any]]:
        steps = self.context["steps"]
        skips = self.context.get("skips", {})
        names = {s["id"]: s.get("name", "") for s in run.version.spec.get("steps", [])}
        data = StepRunSerializer(steps, many=True).data
        for item in data:
            item["name"] = names.get(item["id"], "")
            skipped = skips.get(item["id"])
            item["skip"] = skipped.what if skipped else None
            if skipped:
                item["latency_ms"] = skipped.latency_ms
        return list(data)

    @extend_schema_field(StepActsSerializer)
    def get_acts(self, run: Run) -> dict[str, Any]:
        return run_acts(self.context["request"].user, run, self.context["steps"])


class EventSerializer(serializers.Serializer):
    """One event of a run's log, as the API, the run page and the live streams all send it
    (engine/eventlog.py: ``event_message``)."""

    type = serializers.ChoiceField(choices=["event"])
    run = serializers.UUIDField()
    workflow = serializers.CharField()
    seq = serializers.IntegerField()
    event = serializers.ChoiceField(choices=[str(e) for e in EventType])
    step = serializers.CharField(allow_null=True)
    status = serializers.CharField(help_text="the new status of its step, or of its run")
    attempt = serializers.IntegerField(allow_null=True)
    at = serializers.DateTimeField()
    latency_ms = serializers.FloatField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    actor = serializers.CharField(allow_null=True)
    data = serializers.DictField()  # type: ignore[assignment]  # the event's own name
    run_status = serializers.CharField(
        allow_null=True, help_text="the run's status once the event committed (live only)"
    )


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, allow_blank=True, required=False, default="")


class CommentSerializer(serializers.Serializer):
    comment = serializers.CharField(max_length=2000, allow_blank=True, required=False, default="")


class CallbackSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=CALLBACK_STATUSES)
    output = serializers.JSONField(required=False, allow_null=True, default=None)
    error = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")

"""Runs, the state of their steps, and the append-only event log of each run.

The database is the source of truth: the broker only carries nudges, and a
lost message or a dead worker delays a run but never loses it.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

from django.conf import settings
from django.db import models

from designer.models import Version, Workflow
from saga import vocabulary


def _choices(statuses: type[StrEnum]) -> list[tuple[str, str]]:
    """The kernel's statuses as Django choices, labelled as Django labels them."""
    return [(s.value, s.name.replace("_", " ").title()) for s in statuses]


RUN_STATUS_CHOICES = _choices(vocabulary.RunStatus)
STEP_STATUS_CHOICES = _choices(vocabulary.StepStatus)


class Run(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workflow = models.ForeignKey(Workflow, on_delete=models.PROTECT, related_name="runs")
    # The exact version the run executes; published versions never change.
    version = models.ForeignKey(Version, on_delete=models.PROTECT, related_name="runs")
    status = models.CharField(
        max_length=16, choices=RUN_STATUS_CHOICES, default=vocabulary.RunStatus.PENDING
    )
    input = models.JSONField(default=dict, blank=True)
    # NULL, not "", for "no key": the unique constraint below skips NULLs.
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    correlation_id = models.CharField(max_length=64)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Last progress: the reconciler marks a run stuck when this is older than its deadline.
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # With a deadline_s in the spec: when the run counts as stuck if nothing happens before.
    progress_deadline_at = models.DateTimeField(null=True, blank=True, db_index=True)
    stuck_since = models.DateTimeField(null=True, blank=True)
    # The number of the last event in the run's log.
    last_seq = models.PositiveIntegerField(default=0)
    # Run-level facts of the pure core that no step row holds (e.g. the pivot passed).
    core = models.JSONField(default=dict, blank=True)
    # The definition's output template, filled in when the run completes, or why it could not be.
    output = models.JSONField(null=True, blank=True)
    output_error = models.TextField(blank=True)
    # A child run: the run, and its step, that started it (a subsaga step), and the
    # iteration's index when that step is a map's (NULL for a subsaga step of its own).
    # Indexed together by run_parent below, which serves lookups by parent run alone too.
    parent_run = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        db_index=False,
    )
    parent_step = models.CharField(max_length=64, blank=True)
    parent_index = models.PositiveIntegerField(null=True, blank=True)
    # Its search attributes, {name: value} as its start evaluated them, for display; the
    # rows of SearchAttribute are what filters look them up by.
    search = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["workflow", "idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="run_idempotency_key_unique",
            )
        ]
        indexes = [
            models.Index(fields=["workflow", "-created_at"], name="run_workflow_recent"),
            models.Index(fields=["status", "-updated_at"], name="run_status_updated"),
            models.Index(fields=["-created_at", "id"], name="run_recent"),
            models.Index(fields=["-updated_at"], name="run_updated"),
            # A workflow's overview: its runs that changed in a window (engine/stats.py).
            models.Index(fields=["workflow", "-updated_at"], name="run_workflow_updated"),
            # The run list's stuck order (the longest stuck first), a page at a time; only
            # stuck runs are in it, so the other runs' updates never touch it.
            models.Index(
                fields=["stuck_since", "id"],
                condition=models.Q(status=vocabulary.RunStatus.STUCK),
                name="run_stuck",
            ),
            # A child run by its parent's step and iteration: what starting, compensating
            # and hearing from a child look up, and the reconciler joins open steps and
            # iterations to. Partial: most runs have no parent.
            models.Index(
                fields=["parent_run", "parent_step", "parent_index"],
                condition=models.Q(parent_run__isnull=False),
                name="run_parent",
            ),
            # q= finds a run by its idempotency key in any workflow; the unique constraint
            # above leads with the workflow, so it cannot.
            models.Index(
                fields=["idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="run_idempotency_key",
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.id}"

    @property
    def is_terminal(self) -> bool:
        return self.status in vocabulary.TERMINAL


#: The step statuses ``step=`` finds a run by: where it fails now, or is held up.
STEP_FAILING = (
    vocabulary.StepStatus.FAILED,
    vocabulary.StepStatus.RETRYING,
    vocabulary.StepStatus.COMPENSATION_FAILED,
)


class StepRun(models.Model):
    """One step of one run: its status, attempts, timings and outcome."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps")
    step_id = models.CharField(max_length=64)
    position = models.PositiveIntegerField(default=0)
    type = models.CharField(max_length=16)
    status = models.CharField(
        max_length=24,
        choices=STEP_STATUS_CHOICES,
        default=vocabulary.StepStatus.PENDING,
    )
    attempt = models.PositiveIntegerField(default=0)
    compensation_attempt = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    output = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    # When a retry or a timer is due.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # When the current attempt, approval or callback times out.
    deadline_at = models.DateTimeField(null=True, blank=True)
    # Set when a worker claims the current attempt; who holds it.
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=200, blank=True)
    # Callback steps: the one-time token the participant posts its result with.
    callback_token = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    # The core's per-step facts that have no column of their own.
    core = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["run", "position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "step_id"], name="steprun_unique"),
            models.UniqueConstraint(
                fields=["callback_token"],
                condition=models.Q(callback_token__isnull=False),
                name="steprun_callback_token_unique",
            ),
        ]
        # Partial: a step's row is rewritten at every move, and an index entry costs
        # a write each time; only the rows the reconciler looks for are indexed.
        indexes = [
            models.Index(
                fields=["status", "next_attempt_at"],
                condition=models.Q(next_attempt_at__isnull=False),
                name="steprun_due",
            ),
            models.Index(
                fields=["status", "deadline_at"],
                condition=models.Q(deadline_at__isnull=False),
                name="steprun_deadline",
            ),
            # step=: the runs failing at a step now. (error= and q= read the words of the
            # error through a GIN index that migration 0012 makes on PostgreSQL.)
            models.Index(
                fields=["step_id", "run"],
                condition=models.Q(status__in=STEP_FAILING),
                name="steprun_failing",
            ),
            # Child saga steps waiting for their child, or compensating it: where the
            # reconciler starts when it looks for a child's end whose message was lost.
            models.Index(
                fields=["status"],
                condition=models.Q(
                    type="subsaga",
                    status__in=[
                        vocabulary.StepStatus.RUNNING,
                        vocabulary.StepStatus.WAITING,
                        vocabulary.StepStatus.COMPENSATING,
                    ],
                ),
                name="steprun_subsaga_open",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.run_id}:{self.step_id}"


class Iteration(models.Model):
    """One iteration of a map step of a run: its item, and its own attempts, timings and
    outcome, as a step row holds a step's."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="iterations")
    step_id = models.CharField(max_length=64)
    index = models.PositiveIntegerField()
    item = models.JSONField(null=True, blank=True)
    status = models.CharField(
        max_length=24,
        choices=STEP_STATUS_CHOICES,
        default=vocabulary.StepStatus.PENDING,
    )
    attempt = models.PositiveIntegerField(default=0)
    compensation_attempt = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    output = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=200, blank=True)
    core = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["run", "step_id", "index"]
        constraints = [
            models.UniqueConstraint(fields=["run", "step_id", "index"], name="iteration_unique"),
        ]
        # Partial, as a step row's: what a change of the run loads (iterations not at
        # rest), and what the reconciler looks for.
        indexes = [
            models.Index(
                fields=["run", "step_id", "index"],
                condition=~models.Q(status__in=vocabulary.AT_REST),
                name="iteration_open",
            ),
            models.Index(
                fields=["status", "next_attempt_at"],
                condition=models.Q(next_attempt_at__isnull=False),
                name="iteration_due",
            ),
            models.Index(
                fields=["status", "deadline_at"],
                condition=models.Q(deadline_at__isnull=False),
                name="iteration_deadline",
            ),
            models.Index(
                fields=["updated_at"],
                condition=models.Q(status__in=vocabulary.IN_FLIGHT),
                name="iteration_in_flight",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.run_id}:{self.step_id}[{self.index}]"


class Event(models.Model):
    """One change of a run, numbered per run (``seq``). Append-only."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    type = models.CharField(max_length=40)
    step_id = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=24, blank=True)
    attempt = models.PositiveIntegerField(null=True, blank=True)
    at = models.DateTimeField()
    latency_ms = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    actor = models.CharField(max_length=150, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["run", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["run", "seq"], name="event_seq_unique"),
        ]
        indexes = [models.Index(fields=["type", "at"], name="event_type_at")]

    def __str__(self) -> str:
        return f"{self.run_id}#{self.seq} {self.type}"


class ReconcilerTally(models.Model):
    """How many happenings the reconciler has delivered or re-sent, by kind, ever;
    the kind ``PASSES`` counts its passes, and its ``at`` is when the last one ran.

    Kept in the database rather than in the process that reconciles: that is a
    Celery worker on any machine, and /metrics and /healthz are served by the web
    processes.
    """

    PASSES = "passes"

    kind = models.CharField(max_length=24, primary_key=True)
    count = models.BigIntegerField(default=0)
    at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.kind}: {self.count}"


class SearchAttribute(models.Model):
    """One search attribute of a run, as its start evaluated it: what ``attr.<name>=`` and
    ``q=`` look runs up by. Written with the run, in its insert transaction; never changed."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="+", db_index=False)
    # No index of its own: a workflow with runs is never deleted (Run.workflow protects it).
    workflow = models.ForeignKey(
        Workflow, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    name = models.CharField(max_length=32)
    value = models.CharField(max_length=200)

    class Meta:
        constraints = [
            # Also what deleting a run (CASCADE) finds its rows by.
            models.UniqueConstraint(fields=["run", "name"], name="search_attribute_unique"),
        ]
        indexes = [
            # An exact value and a prefix of one (LIKE 'abc%': the pattern operator class
            # compares by bytes, whatever the database's collation), with the run and its
            # workflow beside it so the lookup reads no table row.
            models.Index(
                fields=["value", "name"],
                opclasses=["varchar_pattern_ops", "varchar_ops"],
                include=["workflow", "run"],
                name="search_attribute_value",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.run_id} {self.name}={self.value}"


class SavedView(models.Model):
    """A run list's filter saved under a name: private to its owner, or shared with everyone
    who may see every workflow it names (everyone signed in, when it names none)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100)
    # The run list's query parameters, {name: value}, as GET /api/runs/ takes them.
    filter = models.JSONField(default=dict, blank=True)
    shared = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="saved_view_name_unique"),
        ]

    def __str__(self) -> str:
        return self.name

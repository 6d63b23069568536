"""Reads of runs for pages and API, and the acts a user may do on a run now."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Case, OuterRef, QuerySet, Subquery, When
from django.db.models.functions import Left
from django.http import Http404

from common.errors import NotAllowed
from common.people import Visitor
from common.queries import bad_param, moment, split_values
from designer.access import visible_workflows, workflow_access
from designer.models import Workflow
from engine.models import Event, Iteration, Run, StepRun
from engine.search import Finding, finding_filters, run_id_range, runs_found
from saga.vocabulary import FAILED_FOR_GOOD, EventType, RunStatus, StepStatus


def visible_runs(user: Visitor) -> QuerySet[Run]:
    return Run.objects.filter(workflow__in=visible_workflows(user)).select_related(
        "workflow", "version", "started_by"
    )


#: How a run list may be ordered: ``created`` (newest first, the default) or ``stuck``
#: (only the runs stuck now, the longest stuck first). Each is a keyset: the last
#: field makes it total, so a cursor never skips or repeats a run.
RUN_ORDERINGS: dict[str, tuple[str, ...]] = {
    "created": ("-created_at", "-id"),
    RunStatus.STUCK: ("stuck_since", "id"),
}
RUN_STATUSES = frozenset(RunStatus)
#: Longest error text a run list carries for a stuck run's failed step.
LIST_ERROR_CHARS = 300


@dataclass(frozen=True)
class RunFilters:
    """What a run list (API or board) is narrowed to."""

    workflows: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    order: str = "created"
    #: False: leave out child runs (those a child saga step started).
    children: bool = True
    #: attr.<name>=, q=, step=, error= (engine/search.py).
    finding: Finding = Finding()


def run_filters(params: Mapping[str, str]) -> RunFilters:
    """Parse ``workflow``, ``status`` (each comma-separated), ``since``, ``until`` (ISO 8601,
    on the creation time: since inclusive, until exclusive), ``order``, ``children``
    (``false`` leaves child runs out), and the search filters (``attr.<name>``, ``q``,
    ``step``, ``error``: :func:`engine.search.finding_filters`); 400 on nonsense."""
    statuses = split_values(params.get("status"))
    unknown = [s for s in statuses if s not in RUN_STATUSES]
    if unknown:
        raise bad_param("status", f"unknown status {unknown[0]!r}; one of {', '.join(RunStatus)}")
    order = params.get("order") or "created"
    if order not in RUN_ORDERINGS:
        raise bad_param("order", f"one of {', '.join(RUN_ORDERINGS)}")
    since, until = moment("since", params.get("since")), moment("until", params.get("until"))
    if since and until and since >= until:
        raise bad_param("until", "must be later than since")
    children = (params.get("children") or "true").lower()
    if children not in ("true", "false"):
        raise bad_param("children", "true or false")
    return RunFilters(
        split_values(params.get("workflow")),
        statuses,
        since,
        until,
        order,
        children == "true",
        finding_filters(params),
    )


def runs_filtered(user: Visitor, filters: RunFilters) -> QuerySet[Run]:
    """The runs ``user`` may see that match ``filters``, unordered (the paginator orders),
    stuck ones with the step that holds them up (:func:`with_stuck_step`)."""
    runs = visible_runs(user)
    if filters.workflows:
        # Ids, not a join on the slug: with the id known when the query is planned, one
        # workflow's newest runs are read in order from its index (run_workflow_recent)
        # rather than all of its runs read and sorted.
        ids = list(Workflow.objects.filter(slug__in=filters.workflows).values_list("id", flat=True))
        runs = runs.filter(workflow_id__in=ids)
    if filters.statuses:
        runs = runs.filter(status__in=filters.statuses)
    if filters.since:
        runs = runs.filter(created_at__gte=filters.since)
    if filters.until:
        runs = runs.filter(created_at__lt=filters.until)
    if not filters.children:
        runs = runs.filter(parent_run__isnull=True)
    if filters.order == RunStatus.STUCK:
        # Every stuck run has stuck_since (the engine sets both in one write); saying
        # "IS NOT NULL" too made the planner guess 40 rows where there were 2,000, and
        # sort them all instead of reading run_stuck in order (bench/board.py).
        runs = runs.filter(status=RunStatus.STUCK)
    if filters.finding != Finding():
        runs = runs_found(runs, filters.finding)
    return with_stuck_step(runs)


def with_stuck_step(runs: QuerySet[Run]) -> QuerySet[Run]:
    """``runs`` where each stuck one carries ``stuck_step`` and ``stuck_error``: the first
    step (or compensation) that failed for good, which is what an operator acts on."""
    failed = StepRun.objects.filter(run=OuterRef("pk"), status__in=FAILED_FOR_GOOD).order_by(
        "position"
    )
    # CASE: the subqueries run only for the (few) stuck rows of a page.
    return runs.annotate(
        stuck_step=Case(When(status=RunStatus.STUCK, then=Subquery(failed.values("step_id")[:1]))),
        stuck_error=Case(
            When(
                status=RunStatus.STUCK,
                then=Subquery(failed.annotate(e=Left("error", LIST_ERROR_CHARS)).values("e")[:1]),
            )
        ),
    )


def run_access(user: Visitor, run_id: Any, perm: str = "view_workflow") -> Run:
    """The run if ``user`` may ``perm`` its workflow: 404 when they may not see it, else 403.

    A child run is seen by whoever may see its parent; acting on it takes the role on its
    own workflow (403 for one who sees it through its parent alone).
    """
    try:
        run = Run.objects.select_related("workflow", "version", "started_by").get(pk=run_id)
    except (Run.DoesNotExist, ValidationError, ValueError):
        raise Http404("No such run.") from None
    try:
        workflow_access(user, run.workflow.slug, perm)
    except Http404:
        if run.parent_run_id is None:
            raise
        run_access(user, run.parent_run_id)  # seen through its parent, or 404
        if perm != "view_workflow":
            slug = run.workflow.slug
            raise NotAllowed(f"You lack the {perm} permission on workflow {slug}.") from None
    return run


def run_by_prefix(user: Visitor, prefix: str) -> uuid.UUID | None:
    """The id of the one run ``user`` may see whose id starts with ``prefix`` (as written,
    with or without its dashes); None when no visible run or more than one does. Runs the
    user may not see are never counted, so the answer says nothing of them."""
    span = run_id_range(prefix)
    if span is None:
        return None
    # A range of the primary key (its index), not a text match on every id.
    found = list(visible_runs(user).filter(pk__range=span).values_list("pk", flat=True)[:2])
    return found[0] if len(found) == 1 else None


def run_steps(run: Run) -> list[StepRun]:
    return list(StepRun.objects.filter(run=run).order_by("position"))


@dataclass(frozen=True)
class Skipped:
    """What became of a skipped step: ``what`` was skipped (``step`` or its
    ``compensation``, by an operator; or the step by its ``condition``), and the latency
    of its last attempt (or of its wait), not counting the time it then stood until the
    skip."""

    what: str
    latency_ms: float | None


#: The events that end an attempt or a wait, and carry (or give) its latency.
_ATTEMPT_ENDS = (EventType.STEP_SUCCEEDED, EventType.STEP_FAILED, EventType.STEP_RETRY_SCHEDULED)


def run_skips(run: Run, steps: list[StepRun]) -> dict[str, Skipped]:
    """The run's skipped steps, each with what was skipped and its last attempt's latency.

    A skip stamps the step finished when it was skipped, so the row's latency counts the
    time the step stood failed (the run stuck) until then; the log says how long the
    attempt itself took. One read of the log, and only when an operator skipped a step."""
    found: dict[str, Skipped] = {}
    by_operator = []
    for step in steps:
        if step.status != StepStatus.SKIPPED:
            continue
        if (step.core or {}).get("skipped_by_condition"):
            found[step.step_id] = Skipped("condition", None)
        else:
            by_operator.append(step.step_id)
    if not by_operator:
        return found
    rows = (
        Event.objects.filter(
            run=run,
            step_id__in=by_operator,
            type__in=[EventType.STEP_STARTED, *_ATTEMPT_ENDS, EventType.STEP_SKIPPED],
        )
        .order_by("seq")
        .values_list("step_id", "type", "at", "latency_ms", "data")
    )
    started: dict[str, datetime] = {}
    latency: dict[str, float | None] = {}
    what: dict[str, str] = {}
    for step_id, kind, at, ms, data in rows:
        if kind == EventType.STEP_STARTED:
            started[step_id] = at
        elif kind == EventType.STEP_SKIPPED:
            compensation = isinstance(data, dict) and data.get("compensation")
            what[step_id] = "compensation" if compensation else "step"
            if not compensation and step_id in started:
                # Skipped while it waited (an approval, a callback): the wait was its attempt.
                latency[step_id] = round((at - started[step_id]).total_seconds() * 1000, 1)
        elif step_id in started:
            begun = started.pop(step_id)
            latency[step_id] = (
                ms if ms is not None else round((at - begun).total_seconds() * 1000, 1)
            )
    for step_id in by_operator:
        found[step_id] = Skipped(what.get(step_id, "step"), latency.get(step_id))
    return found


#: The most iterations a page of them holds.
ITERATION_PAGE = 200


def iterations_page(
    run: Run, step: str, *, status: str | None, after: int, limit: int
) -> tuple[list[Iteration], int | None]:
    """A page of a map step's iterations in index order, after index ``after``, of one
    status when asked, each with the child run it started (``child``, a child saga map's);
    and the ``after`` of the next page (None on the last)."""
    if not StepRun.objects.filter(run=run, step_id=step, type="map").exists():
        raise Http404(f"The run has no map step {step}.")
    query = Iteration.objects.filter(run=run, step_id=step, index__gt=after).order_by("index")
    if status:
        query = query.filter(status=status)
    found = list(query[: limit + 1])
    following = found[limit - 1].index if len(found) > limit else None
    found = found[:limit]
    # The child run each iteration of a child saga map started, in one query by the index.
    children = Run.objects.filter(
        parent_run=run, parent_step=step, parent_index__in=[it.index for it in found]
    ).values_list("parent_index", "id")
    started = {index: str(pk) for index, pk in children}
    for it in found:
        it.child = started.get(it.index)  # type: ignore[attr-defined]
    return found, following

"""Reads of runs for pages and API, and the acts a user may do on a run now."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404

from engine import core
from engine.models import Event, Run, StepRun
from engine.store import run_state
from sagaboard.access import user_can, visible_workflows

User = AbstractBaseUser | AnonymousUser


def visible_runs(user: User) -> QuerySet[Run]:
    return Run.objects.filter(workflow__in=visible_workflows(user)).select_related(
        "workflow", "version", "started_by"
    )


def run_access(user: User, run_id: object, perm: str = "view_workflow") -> Run:
    """The run if ``user`` may ``perm`` its workflow: 404 when they may not see it, else 403."""
    from sagaboard.access import workflow_access

    try:
        run = Run.objects.select_related("workflow", "version", "started_by").get(pk=run_id)
    except (Run.DoesNotExist, ValidationError, ValueError):
        raise Http404("No such run.") from None
    workflow_access(user, run.workflow.slug, perm)
    return run


def run_steps(run: Run) -> list[StepRun]:
    return list(StepRun.objects.filter(run=run).order_by("position"))


def run_events(run: Run, *, after: int = 0, limit: int = 1000) -> QuerySet[Event]:
    return Event.objects.filter(run=run, seq__gt=after).order_by("seq")[:limit]


def run_acts(user: User, run: Run, steps: list[StepRun]) -> dict[str, object]:
    """What ``user`` may do to this run now: run-level acts, and per step.

    Asks the core itself (act_allowed), so the rules live in one place.
    """
    acts: dict[str, object] = {"run": [], "steps": {}}
    operate = user_can(user, run.workflow, "operate_workflow")
    if run.is_terminal:
        return acts
    state = run_state(run, {s.step_id: s for s in steps})
    if operate:
        if core.act_allowed(state, core.CompensateRun("x", "x")):
            acts["run"].append("compensate")  # type: ignore[attr-defined]
        if core.act_allowed(state, core.CancelRun("x", "x")):
            acts["run"].append("cancel")  # type: ignore[attr-defined]
    groups = set(user.groups.values_list("name", flat=True)) if user.is_authenticated else set()
    step_acts: dict[str, list[str]] = {}
    for row in steps:
        sid = row.step_id
        names = []
        if operate and core.act_allowed(state, core.RetryStep(sid, "x", "x")):
            names.append("retry")
        if operate and core.act_allowed(state, core.SkipStep(sid, "x", "x")):
            names.append("skip")
        sdef = state.definition.step(sid)
        if sdef.type == "approval" and row.status == "waiting":
            if user.is_authenticated and (user.is_staff or sdef.action.get("group") in groups):
                names += ["approve", "reject"]
        if names:
            step_acts[sid] = names
    acts["steps"] = step_acts
    return acts

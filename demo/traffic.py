"""Demo traffic: runs of the demo workflows started at a rate, a share of them made to fail.

So that the board of a fresh install is alive. The Celery beat entry ``demo-traffic``
calls :func:`traffic_tick` every second; it does nothing unless the traffic is switched
on, by the ``SAGABOARD_DEMO_*`` settings or on the /demo/ page. Once saved there, the
page's choice wins over the settings and survives a restart.

Failures go through the demo participants' knobs: a run's input carries
``faults: {<step id>: {<knob>: <value>}}``, which the demo workflows hand on to their
participants (demo/participants.py). A share ``fail_rate`` of the runs fail for good at
one step before the pivot and are compensated; some of the others fail an attempt and
succeed on a retry. Order runs wait at the manager's approval: the generator decides
those of its own runs after a moment, as a member of the gate's group would, and
rejects the ones planned to fail there.
"""

from __future__ import annotations

import logging
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from guardian.shortcuts import get_objects_for_user

from common.errors import Conflict, InvalidInput, NotAllowed
from common.people import User, Visitor
from demo.models import TrafficSetting
from designer.models import Workflow
from engine.acts import approvers_of, gate_types
from engine.models import Run, StepRun
from engine.services import run_start, run_step_decide
from engine.store import definition_for
from saga.vocabulary import RunStatus, StepStatus

log = logging.getLogger("sagaboard.demo")

#: The idempotency keys of the generator's runs start so; that is how it knows its own.
KEY_PREFIX = "demo-traffic-"
MAX_RATE = 600.0
#: After a pause (no worker, a restart) at most this much time is made up.
CATCH_UP_S = 5.0
MAX_PER_TICK = 20
#: How long the generator's order runs wait at the manager's approval.
DECIDE_AFTER = timedelta(seconds=2)
#: The share of the runs that do not fail for good but fail an attempt first.
FLAKY_SHARE = 0.3

# Per demo workflow: where a run can fail for good before the pivot (so it is compensated;
# repeats weigh a choice), and where an attempt may fail and be retried.
FAIL_AT: dict[str, list[str]] = {
    "order-fulfilment": ["manager_ok", "manager_ok", "charge"],
    "trip-booking": ["flight", "hotel", "car", "pay", "pay"],
}
FLAKY_AT: dict[str, list[str]] = {
    "order-fulfilment": ["reserve_lines", "charge", "ship"],
    "trip-booking": ["flight", "hotel", "car", "pay"],
}
APPROVAL_STEPS = {"manager_ok"}
ORDER = "order-fulfilment"
#: The share of generated orders over the amount a manager approves.
BIG_ORDER_SHARE = 0.3
SKUS = ("lamp-3", "desk-1", "chair-7", "shelf-2", "rug-5")
#: Who orders (their address is the order's customer search attribute).
CUSTOMERS = ("ada", "grace", "alan", "edsger", "barbara", "ken", "margaret", "donald")
#: The workflows whose runs wait for a member of this group (or an admin) to decide.
APPROVED_BY = {"order-fulfilment": "managers"}


@dataclass(frozen=True)
class Traffic:
    """What the generator does now, and where that comes from."""

    enabled: bool
    rate_per_min: float
    fail_rate: float
    #: When the /demo/ page saved it, and who; None while the settings apply.
    saved_at: datetime | None = None
    saved_by: str = ""


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(float(value), low), high)


def _from_settings() -> Traffic:
    return Traffic(
        enabled=bool(settings.SAGABOARD_DEMO_TRAFFIC),
        rate_per_min=_clamp(settings.SAGABOARD_DEMO_RATE, 0.0, MAX_RATE),
        fail_rate=_clamp(settings.SAGABOARD_DEMO_FAIL_RATE, 0.0, 1.0),
    )


def _effective(row: TrafficSetting | None) -> Traffic:
    if row is None or row.saved_at is None:
        return _from_settings()
    return Traffic(
        enabled=row.enabled,
        rate_per_min=row.rate_per_min,
        fail_rate=row.fail_rate,
        saved_at=row.saved_at,
        saved_by=row.saved_by.get_username() if row.saved_by else "",
    )


def _row(*, for_update: bool) -> TrafficSetting:
    TrafficSetting.objects.get_or_create(pk=1)
    if for_update:
        return TrafficSetting.objects.select_for_update().get(pk=1)
    return TrafficSetting.objects.select_related("saved_by").get(pk=1)


# Reads


def traffic_current() -> Traffic:
    """The generator's settings in force."""
    return _effective(TrafficSetting.objects.select_related("saved_by").filter(pk=1).first())


def traffic_recent(*, minutes: int = 10) -> dict[str, int]:
    """How many of the generator's runs started in the last ``minutes``, by status."""
    since = timezone.now() - timedelta(minutes=minutes)
    rows = (
        Run.objects.filter(idempotency_key__startswith=KEY_PREFIX, created_at__gte=since)
        .values("status")
        .annotate(n=Count("id"))
    )
    return {row["status"]: row["n"] for row in rows}


def can_control(user: Visitor) -> bool:
    """Staff, and operators (``operate_workflow`` on some workflow), switch the traffic."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_staff:
        return True
    return get_objects_for_user(
        user, "designer.operate_workflow", klass=Workflow, accept_global_perms=True
    ).exists()


# Changes


def traffic_update(*, by: User, enabled: bool, rate_per_min: float, fail_rate: float) -> Traffic:
    """Save the generator's settings; from now on they win over ``SAGABOARD_DEMO_*``."""
    if not 0 <= rate_per_min <= MAX_RATE:
        raise InvalidInput(
            f"The rate is between 0 and {MAX_RATE:g} runs a minute.",
            [{"step": None, "field": "rate_per_min", "message": "out of range"}],
        )
    if not 0 <= fail_rate <= 1:
        raise InvalidInput(
            "The failure rate is between 0 and 1.",
            [{"step": None, "field": "fail_rate", "message": "out of range"}],
        )
    with transaction.atomic():
        row = _row(for_update=True)
        row.enabled = enabled
        row.rate_per_min = float(rate_per_min)
        row.fail_rate = float(fail_rate)
        row.saved_at = timezone.now()
        row.saved_by = by  # type: ignore[assignment]
        row.save(update_fields=["enabled", "rate_per_min", "fail_rate", "saved_at", "saved_by"])
    log.info(
        "demo traffic %s at %g runs/min, %g failing, by %s",
        "on" if enabled else "off",
        rate_per_min,
        fail_rate,
        by.get_username(),
    )
    return _effective(row)


def plan_input(slug: str, fail_rate: float, rng: random.Random) -> dict[str, Any]:
    """The input of one generated run of ``slug``: an order, and the faults it meets."""
    order = f"demo-{uuid.uuid4().hex[:8]}"
    faults: dict[str, dict[str, Any]] = {}
    if rng.random() < fail_rate and FAIL_AT.get(slug):
        step = rng.choice(FAIL_AT[slug])
        if step in APPROVAL_STEPS:
            faults[step] = {"decision": "reject"}
        else:
            # Some give up at once, others only after their retries.
            faults[step] = {"fail": rng.choice(["permanent", "retryable"])}
    elif rng.random() < FLAKY_SHARE and FLAKY_AT.get(slug):
        faults[rng.choice(FLAKY_AT[slug])] = {"fail_attempts": 1}
    planned: dict[str, Any] = {"order_id": order, "faults": faults}
    if slug == ORDER:
        # Some orders are big enough to wait for a manager; a rejection needs one that is.
        big = "manager_ok" in faults or rng.random() < BIG_ORDER_SHARE
        planned["amount"] = round(rng.uniform(12_000, 40_000) if big else rng.uniform(5, 500), 2)
        planned["lines"] = [
            {"sku": rng.choice(SKUS), "quantity": rng.randint(1, 3)}
            for _ in range(rng.randint(1, 4))
        ]
        planned["customer"] = f"{rng.choice(CUSTOMERS)}@example.com"
    else:
        planned["amount"] = round(rng.uniform(5, 500), 2)
    return planned


def traffic_tick(
    *, now: datetime | None = None, rng: random.Random | None = None
) -> dict[str, int]:
    """Start the runs due since the last tick and decide the approvals due; what was done."""
    now = now or timezone.now()
    rng = rng or random.Random()
    with transaction.atomic():
        row = _row(for_update=True)
        traffic = _effective(row)
        due = _runs_due(row, traffic, now)
    started = _start_runs(due, traffic.fail_rate, rng)
    # Also while switched off: the generator's runs waiting at an approval still finish.
    decided = _decide_approvals(now)
    return {"started": started, "decided": decided}


def _runs_due(row: TrafficSetting, traffic: Traffic, now: datetime) -> int:
    """How many runs to start now; moves the generator's clock on (``row`` is locked)."""
    if not traffic.enabled or traffic.rate_per_min <= 0:
        if row.ticked_at is not None:
            row.ticked_at, row.credit = None, 0.0
            row.save(update_fields=["ticked_at", "credit"])
        return 0
    if row.ticked_at is None:
        credit = 1.0  # just switched on: the first run at once
    else:
        elapsed = _clamp((now - row.ticked_at).total_seconds(), 0.0, CATCH_UP_S)
        credit = row.credit + traffic.rate_per_min * elapsed / 60
    due = min(int(credit), MAX_PER_TICK)
    row.credit, row.ticked_at = min(credit - due, 1.0), now
    row.save(update_fields=["credit", "ticked_at"])
    return due


def _start_runs(count: int, fail_rate: float, rng: random.Random) -> int:
    if count <= 0:
        return 0
    workflows = [
        w
        for w in Workflow.objects.filter(slug__in=FAIL_AT).order_by("slug")
        if w.published_version is not None
    ]
    # Where nobody could decide the approval, the runs would only pile up.
    workflows = [
        w for w in workflows if w.slug not in APPROVED_BY or _approver(APPROVED_BY[w.slug])
    ]
    started = 0
    for _ in range(count if workflows else 0):
        workflow = rng.choice(workflows)
        try:
            run_start(
                workflow=workflow,
                by=None,
                input=plan_input(workflow.slug, fail_rate, rng),
                idempotency_key=f"{KEY_PREFIX}{uuid.uuid4().hex}",
            )
        except (Conflict, InvalidInput) as exc:
            log.warning("demo traffic could not start a run of %s: %s", workflow.slug, exc)
            continue
        started += 1
    return started


def _approver(group: str) -> User | None:
    users = get_user_model().objects.filter(is_active=True)
    return (
        users.filter(groups__name=group).order_by("pk").first()
        or users.filter(is_superuser=True).order_by("pk").first()
    )


def _decide_approvals(now: datetime) -> int:
    waiting = (
        StepRun.objects.filter(
            type__in=gate_types(),
            status=StepStatus.WAITING,
            run__status=RunStatus.WAITING,
            run__idempotency_key__startswith=KEY_PREFIX,
            updated_at__lte=now - DECIDE_AFTER,
        )
        .select_related("run")
        .order_by("updated_at")[:MAX_PER_TICK]
    )
    decided = 0
    for step in waiting:
        faults = step.run.input.get("faults") if isinstance(step.run.input, dict) else None
        plan = (faults or {}).get(step.step_id) or {}
        approved = plan.get("decision") != "reject"
        group = approvers_of(definition_for(step.run), step.step_id)
        by = _approver(group) if group else None
        if by is None:
            continue
        try:
            run_step_decide(
                run=step.run,
                step=step.step_id,
                by=by,
                approved=approved,
                comment="Demo traffic: " + ("approved" if approved else "rejected, as planned"),
            )
        except (Conflict, NotAllowed) as exc:
            log.info("demo traffic did not decide %s of run %s: %s", step.step_id, step.run_id, exc)
            continue
        decided += 1
    return decided

"""The demo traffic generator: its rate, its failures, its approvals and its page."""

from __future__ import annotations

import random
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from demo import traffic
from demo.models import TrafficSetting
from demo.participants import ParticipantError, perform
from designer.models import Workflow
from engine.children import tell_waiting_parents
from engine.models import Iteration, Run, StepRun
from engine.services import run_start
from engine.tasks import execute_step

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(capsys) -> dict[str, User]:
    call_command("sagaboard", "demo")
    capsys.readouterr()
    return {user.username: user for user in User.objects.all()}


@pytest.fixture
def switched_on(settings):
    settings.SAGABOARD_DEMO_TRAFFIC = True
    settings.SAGABOARD_DEMO_RATE = 60.0
    settings.SAGABOARD_DEMO_FAIL_RATE = 0.0


def traffic_runs():
    return Run.objects.filter(idempotency_key__startswith=traffic.KEY_PREFIX)


def drive(run: Run) -> Run:
    """Run the run's steps, iterations and compensations here, as a worker would, and those
    of its child runs (telling it when one ends), until none is due."""
    due = {
        "status__in": ["running", "compensating"],
        "next_attempt_at__isnull": True,
        "claimed_at__isnull": True,  # a child saga step waiting for its child holds a claim
    }
    for _ in range(80):
        family = [run.pk, *Run.objects.filter(parent_run=run).values_list("pk", flat=True)]
        work: StepRun | Iteration | None = (
            StepRun.objects.filter(run_id__in=family, **due)
            .exclude(type__in=["map", "subsaga"])
            .first()
            or Iteration.objects.filter(run_id__in=family, **due).first()
            or StepRun.objects.filter(run_id=run.pk, type="subsaga", status="running").first()
        )
        if work is not None:
            compensation = work.status == "compensating"
            attempt = work.compensation_attempt if compensation else work.attempt
            index = work.index if isinstance(work, Iteration) else None
            execute_step(str(work.run_id), work.step_id, attempt, compensation, index)
            continue
        if tell_waiting_parents():
            continue
        run.refresh_from_db()
        return run
    raise AssertionError("the run kept running")


def order_input(order_id: str, *, amount: float = 20_000, **more: object) -> dict:
    lines = [{"sku": "lamp-3", "quantity": 1}, {"sku": "desk-1", "quantity": 2}]
    return {"order_id": order_id, "amount": amount, "lines": lines, **more}


def test_off_by_default_when_a_database_is_configured(demo):
    assert traffic.traffic_current().enabled is False
    assert traffic.traffic_tick() == {"started": 0, "decided": 0}
    assert not traffic_runs().exists()


def test_starts_runs_at_the_set_rate(demo, switched_on):
    t0 = timezone.now()
    # Switched on: the first run at once.
    assert traffic.traffic_tick(now=t0)["started"] == 1
    # 60 a minute: one a second, the fractions carried from tick to tick.
    started = [
        traffic.traffic_tick(now=t0 + timedelta(seconds=s))["started"]
        for s in (0.5, 1.0, 1.5, 2.0, 4.0)
    ]
    assert started == [0, 1, 0, 1, 2]
    # A long pause (no worker, a restart) is not made up in one burst.
    later = traffic.traffic_tick(now=t0 + timedelta(minutes=10))["started"]
    assert later == traffic.CATCH_UP_S
    assert traffic_runs().count() == 1 + 4 + later
    slugs = set(traffic_runs().values_list("workflow__slug", flat=True))
    assert slugs <= {"order-fulfilment", "trip-booking"}


def test_a_saved_page_setting_wins_over_the_settings_and_off_stops_it(demo, switched_on):
    traffic.traffic_update(by=demo["admin"], enabled=False, rate_per_min=30, fail_rate=0.5)
    assert traffic.traffic_tick()["started"] == 0
    current = traffic.traffic_current()
    assert (current.enabled, current.rate_per_min, current.fail_rate) == (False, 30, 0.5)
    assert current.saved_by == "admin"


def test_failing_share_follows_the_fail_rate():
    rng = random.Random(7)
    for slug in ("order-fulfilment", "trip-booking"):
        failing = [traffic.plan_input(slug, 1.0, rng)["faults"] for _ in range(50)]
        for faults in failing:
            (step, knobs), *rest = faults.items()
            assert not rest
            assert step in traffic.FAIL_AT[slug]
            assert knobs in ({"fail": "permanent"}, {"fail": "retryable"}, {"decision": "reject"})
        healthy = [traffic.plan_input(slug, 0.0, rng)["faults"] for _ in range(50)]
        assert all(knobs == {"fail_attempts": 1} for f in healthy for knobs in f.values())
        assert any(healthy) and not all(healthy)


def test_the_participants_take_a_steps_knobs_from_the_run_input():
    run_input = {"order_id": "o1", "faults": {"pay": {"fail": "permanent"}}}
    with pytest.raises(ParticipantError) as failed:
        perform(
            "demo.payments.charge",
            idempotency_key="r1:pay",
            run_id="r1",
            step_id="pay",
            args={"order": "o1", "run_input": run_input},
        )
    assert not failed.value.retryable
    # Another step of the same run, and the step's compensation, are not touched.
    for key, step in (("r1:flight", "flight"), ("r1:pay:compensate", "pay")):
        result = perform(
            "demo.inventory.reserve",
            idempotency_key=key,
            run_id="r1",
            step_id=step,
            args={"order": "o1", "run_input": run_input},
        )
        assert result["order"] == "o1"


def test_the_participants_take_a_compensations_knobs_from_the_run_input():
    run_input = {"order_id": "o1", "faults": {"pay": {"compensation": {"fail": "permanent"}}}}
    # The action is not touched by the compensation's knobs...
    result = perform(
        "demo.payments.charge",
        idempotency_key="r1:pay",
        run_id="r1",
        step_id="pay",
        args={"order": "o1", "run_input": run_input},
    )
    assert result["order"] == "o1"
    # ...and the compensation meets them.
    with pytest.raises(ParticipantError) as failed:
        perform(
            "demo.payments.refund",
            idempotency_key="r1:pay:compensate",
            run_id="r1",
            step_id="pay",
            args={"id": result["id"], "order": "o1", "run_input": run_input},
        )
    assert not failed.value.retryable


def test_a_planned_failure_compensates_the_run(demo):
    run, _ = run_start(
        workflow=Workflow.objects.get(slug="trip-booking"),
        by=None,
        # The car's own 10 % of retryable failures off: a retry would leave it waiting.
        input={"order_id": "o2", "faults": {"car": {"fail_rate": 0}, "pay": {"fail": "permanent"}}},
    )
    assert drive(run).status == "compensated"
    statuses = dict(StepRun.objects.filter(run=run).values_list("step_id", "status"))
    assert statuses == {
        "flight": "compensated",
        "hotel": "compensated",
        "car": "compensated",
        "pay": "failed",
        "confirm": "pending",
    }


@pytest.mark.parametrize("decision", [{}, {"decision": "reject"}])
def test_the_generator_decides_the_approvals_of_its_own_runs(demo, decision):
    t0 = timezone.now()
    order = Workflow.objects.get(slug="order-fulfilment")
    mine, _ = run_start(
        workflow=order,
        by=None,
        input=order_input("o3", faults={"manager_ok": decision} if decision else {}),
        idempotency_key=traffic.KEY_PREFIX + "test",
    )
    theirs, _ = run_start(workflow=order, by=demo["operator"], input=order_input("o4"))
    for run in (mine, theirs):
        assert drive(run).status == "waiting"

    # Not yet: a moment at the gate first.
    assert traffic.traffic_tick(now=t0)["decided"] == 0
    later = timezone.now() + traffic.DECIDE_AFTER + timedelta(seconds=1)
    # Also while the traffic is off (it is, here): its runs do not wait for ever.
    assert traffic.traffic_tick(now=later) == {"started": 0, "decided": 1}

    gate = StepRun.objects.get(run=mine, step_id="manager_ok")
    assert gate.status == ("succeeded" if not decision else "failed")
    # Somebody else's run waits for a person.
    assert StepRun.objects.get(run=theirs, step_id="manager_ok").status == "waiting"
    assert drive(mine).status == ("completed" if not decision else "compensated")
    actor = mine.events.get(type__in=["act.approve", "act.reject"]).actor
    assert actor == "approver"


# The page


def test_the_page_is_for_staff_and_operators(demo):
    anonymous = Client()
    assert anonymous.get("/demo/").status_code == 302
    for name, code in (("reviewer", 403), ("approver", 403), ("operator", 200), ("admin", 200)):
        client = Client()
        client.force_login(demo[name])
        assert client.get("/demo/").status_code == code, name


def test_the_page_saves_the_setting_with_csrf_and_without_scripts(demo):
    client = Client(enforce_csrf_checks=True)
    client.force_login(demo["operator"])
    page = client.get("/demo/")
    body = page.content.decode()
    assert "<script" not in body
    assert "Off" in body
    form = {"enabled": "on", "rate_per_min": "12", "fail_percent": "25"}
    assert client.post("/demo/", form).status_code == 403  # no CSRF token

    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1)
    saved = client.post("/demo/", {**form, "csrfmiddlewaretoken": token}, follow=True)
    assert saved.status_code == 200
    assert "Demo traffic on: 12 runs a minute, 25% of them failing." in saved.content.decode()
    # The form shows the numbers as they were typed, not as floats.
    assert 'value="12"' in saved.content.decode() and 'value="25"' in saved.content.decode()
    row = TrafficSetting.objects.get()
    assert (row.enabled, row.rate_per_min, row.fail_rate) == (True, 12.0, 0.25)
    assert row.saved_by == demo["operator"]

    bad = client.post(
        "/demo/", {"rate_per_min": "-1", "fail_percent": "250", "csrfmiddlewaretoken": token}
    )
    assert bad.status_code == 200
    assert bad.content.decode().count('class="field-error"') == 2
    assert TrafficSetting.objects.get().rate_per_min == 12.0


def test_a_planned_compensation_failure_leaves_the_run_stuck(demo):
    run, _ = run_start(
        workflow=Workflow.objects.get(slug="trip-booking"),
        by=None,
        input={
            "order_id": "o3",
            "faults": {
                "car": {"fail_rate": 0},
                "confirm": {"fail": "permanent"},
                "pay": {"compensation": {"fail": "permanent"}},
            },
        },
    )
    assert drive(run).status == "stuck"
    statuses = dict(StepRun.objects.filter(run=run).values_list("step_id", "status"))
    assert statuses == {
        "flight": "succeeded",
        "hotel": "succeeded",
        "car": "succeeded",
        "pay": "compensation_failed",
        "confirm": "failed",
    }


def test_the_order_saga_gates_only_big_orders_and_reserves_each_line(demo):
    order = Workflow.objects.get(slug="order-fulfilment")
    small, _ = run_start(workflow=order, by=None, input=order_input("o5", amount=40))
    small = drive(small)
    assert small.status == "completed"
    statuses = dict(StepRun.objects.filter(run=small).values_list("step_id", "status"))
    assert statuses == {
        "reserve_lines": "succeeded",
        "manager_ok": "skipped",
        "pay": "succeeded",
        "ship": "succeeded",
    }
    child = Run.objects.get(parent_run=small)
    assert child.workflow.slug == "payment" and child.status == "completed"
    lines = StepRun.objects.get(run=small, step_id="reserve_lines").output
    assert [line["sku"] for line in lines] == ["lamp-3", "desk-1"]
    big, _ = run_start(workflow=order, by=None, input=order_input("o6", amount=20_000))
    assert drive(big).status == "waiting"


def test_generated_orders_have_lines_and_some_wait_for_a_manager():
    rng = random.Random(3)
    planned = [traffic.plan_input("order-fulfilment", 0.0, rng) for _ in range(200)]
    assert all(1 <= len(p["lines"]) <= 4 for p in planned)
    big = [p for p in planned if p["amount"] > 10_000]
    assert 0.15 < len(big) / len(planned) < 0.45
    rejected = [traffic.plan_input("order-fulfilment", 1.0, rng) for _ in range(200)]
    for p in rejected:
        if "manager_ok" in p["faults"]:
            assert p["amount"] > 10_000  # a rejection needs a gate that runs


def test_an_orders_run_and_its_payment_are_found_by_its_order_id(demo):
    orders = Workflow.objects.get(slug=traffic.ORDER)
    planned = {**traffic.plan_input(traffic.ORDER, 0.0, random.Random(7)), "amount": 100}
    run, _ = run_start(workflow=orders, by=None, input=planned)

    assert run.search == {"order_id": planned["order_id"], "customer": planned["customer"]}
    assert planned["customer"].endswith("@example.com")
    drive(run)
    child = Run.objects.get(parent_run=run)
    assert child.search == {"order_id": planned["order_id"]}

"""The store's reads and writes under concurrency, on PostgreSQL."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction

import saga
from engine import services
from engine.models import StepRun
from tests.factories import make_published, make_workflow

pytestmark = pytest.mark.django_db(transaction=True)


def step(sid: str, after: list[str]) -> dict:
    return {"id": sid, "name": sid, "type": "task", "after": after, "action": {"name": "demo.noop"}}


def test_parallel_steps_finishing_together_each_see_the_other(monkeypatch):
    """Two branches succeed at the same moment: the second to get the run's lock must
    read the first one's outcome, or neither starts the step that joins them."""
    monkeypatch.setattr("engine.dispatch.dispatch", lambda run_id, commands: None)
    workflow = make_workflow("fork")
    make_published(
        workflow,
        {
            "format": "sagaboard/v1",
            "steps": [step("a", []), step("b", []), step("join", ["a", "b"])],
        },
    )
    run, _ = services.run_start(workflow=workflow, by=None, input={})
    statuses = dict(StepRun.objects.filter(run=run).values_list("step_id", "status"))
    assert statuses == {"a": "running", "b": "running", "join": "pending"}

    holding = threading.Event()
    release = threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with transaction.atomic():
                services.run_apply(run.pk, saga.StepSucceeded("a", 1, {}))
                holding.set()  # the run's row stays locked until this block ends
                release.wait(10)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    def second() -> None:
        try:
            services.run_apply(run.pk, saga.StepSucceeded("b", 1, {}))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    one = threading.Thread(target=first)
    one.start()
    assert holding.wait(10)
    two = threading.Thread(target=second)
    two.start()
    time.sleep(0.3)  # the second is waiting for the lock by now
    assert two.is_alive()
    release.set()
    one.join(10)
    two.join(10)
    assert not errors, errors
    statuses = dict(StepRun.objects.filter(run=run).values_list("step_id", "status"))
    assert statuses == {"a": "succeeded", "b": "succeeded", "join": "running"}

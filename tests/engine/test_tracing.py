"""OpenTelemetry: a span per run, per attempt and per compensation, all in the run's
trace; the traceparent reaches http participants; nothing at all when tracing is off."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from engine import services, tasks, tracing
from engine.models import Run, StepRun
from tests.engine.test_participants import Participant, answer
from tests.factories import make_published, make_workflow

pytestmark = pytest.mark.django_db(transaction=True)

_exporter = InMemorySpanExporter()
_installed: list[bool] = []


@pytest.fixture
def spans():
    """Tracing on for this test, its spans kept in memory."""
    if not _installed:  # a process has one tracer provider
        tracing.configure(exporter=_exporter)
        _installed.append(True)
    tracing._enabled = True
    _exporter.clear()
    yield _exporter
    tracing._enabled = False
    _exporter.clear()


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    """Each test runs the attempts itself, in this process."""
    monkeypatch.setattr("engine.dispatch.dispatch", lambda run_id, commands: None)


@pytest.fixture(autouse=True)
def allowed_hosts(settings):
    settings.SAGABOARD_HTTP_ALLOWED_HOSTS = ["127.0.0.1"]


@pytest.fixture
def participant():
    server = Participant()
    yield server
    server.shutdown()
    server.server_close()


def saga(participant: Participant, *, ship_fails: bool):
    participant.routes["/reserve"] = answer(201, {"id": "r-1"})
    participant.routes["/release"] = answer(200, {})
    participant.routes["/ship"] = answer(400 if ship_fails else 201, {"error": "no address"})
    spec = {
        "format": "sagaboard/v1",
        "steps": [
            {
                "id": "reserve",
                "name": "Reserve",
                "type": "http",
                "action": {"method": "POST", "url": participant.url("/reserve")},
                "compensation": {"method": "POST", "url": participant.url("/release")},
            },
            {
                "id": "ship",
                "name": "Ship",
                "type": "http",
                "after": ["reserve"],
                "action": {"method": "POST", "url": participant.url("/ship")},
            },
        ],
    }
    workflow = make_workflow("orders")
    make_published(workflow, spec)
    return workflow


def run_to_the_end(workflow) -> Run:
    run, _ = services.run_start(workflow=workflow, by=None, input={})
    for _ in range(10):  # each pass runs what the last one left started
        started = StepRun.objects.filter(run=run, claimed_at__isnull=True).filter(
            status__in=["running", "compensating"]
        )
        pending = list(started.values_list("step_id", "status", "attempt", "compensation_attempt"))
        if not pending:
            break
        for step_id, status, attempt, comp_attempt in pending:
            compensating = status == "compensating"
            tasks.execute_step(
                str(run.pk), step_id, comp_attempt if compensating else attempt, compensating
            )
    run.refresh_from_db()
    return run


def test_a_run_is_one_trace_with_its_attempts_under_the_run_span(spans, participant):
    run = run_to_the_end(saga(participant, ship_fails=False))
    assert run.status == "completed"

    finished = {span.name: span for span in spans.get_finished_spans()}
    assert set(finished) == {"run orders", "step reserve", "step ship"}
    trace_id, run_span_id = tracing.run_ids(run.pk)
    assert trace_id == run.pk.int
    root = finished["run orders"]
    assert root.context.trace_id == trace_id and root.context.span_id == run_span_id
    assert root.parent is None
    assert root.attributes["sagaboard.status"] == "completed"
    assert root.start_time <= finished["step reserve"].start_time
    for name in ("step reserve", "step ship"):
        span = finished[name]
        assert span.context.trace_id == trace_id
        assert span.parent.span_id == run_span_id
        assert span.attributes["sagaboard.run_id"] == str(run.pk)
        assert span.attributes["sagaboard.attempt"] == 1

    # Each participant got the traceparent of the attempt that called it.
    sent = {seen.path: seen.headers["traceparent"] for seen in participant.seen}
    for path, name in (("/reserve", "step reserve"), ("/ship", "step ship")):
        context = finished[name].context
        assert sent[path] == f"00-{context.trace_id:032x}-{context.span_id:016x}-01"


def test_a_failed_attempt_and_its_compensation_are_marked(spans, participant):
    run = run_to_the_end(saga(participant, ship_fails=True))
    assert run.status == "compensated"

    finished = {span.name: span for span in spans.get_finished_spans()}
    assert set(finished) == {"run orders", "step reserve", "step ship", "compensate reserve"}
    assert finished["step ship"].status.status_code == StatusCode.ERROR
    assert "400" in finished["step ship"].status.description
    assert finished["compensate reserve"].attributes["sagaboard.compensation"] is True
    assert finished["compensate reserve"].status.status_code != StatusCode.ERROR
    assert finished["run orders"].status.status_code == StatusCode.ERROR
    assert finished["run orders"].attributes["sagaboard.status"] == "compensated"


def test_off_by_default_no_span_and_no_traceparent(participant):
    assert not tracing.enabled()
    _exporter.clear()
    run = run_to_the_end(saga(participant, ship_fails=False))
    assert run.status == "completed"
    assert _exporter.get_finished_spans() == ()
    assert all("traceparent" not in seen.headers for seen in participant.seen)

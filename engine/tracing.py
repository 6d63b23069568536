"""OpenTelemetry traces: a span per run, per step attempt and per compensation.

Off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set. Then :func:`configure`
installs a tracer provider exporting over OTLP/HTTP (the standard ``OTEL_*``
variables apply); otherwise nothing is installed and every function here
returns after one flag test, so tracing costs nothing when it is off.

A run lives in many processes over seconds or days, and no process could
hold its span open. So its trace id *is* the run's UUID and the run span's id
is derived from it: an attempt span, in whichever worker it runs, names the
run span as its parent without any context passed along. The run span itself
is recorded once, when the run finishes, with the run's start and end times.
Participants of http steps receive the attempt span as a W3C ``traceparent``.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from saga.vocabulary import RunStatus

_enabled = False
# Set while a span with a fixed identity (a run span) is being started.
_fixed_ids: ContextVar[tuple[int, int] | None] = ContextVar("sagaboard_fixed_ids", default=None)


def enabled() -> bool:
    return _enabled


def configure(exporter: Any = None) -> None:
    """Install the tracer provider when an OTLP endpoint is set (or ``exporter`` is given)."""
    global _enabled
    if _enabled or (exporter is None and not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")):
        return
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

    class RunIdGenerator(RandomIdGenerator):
        """Random ids, except for the span being started under :data:`_fixed_ids`."""

        def generate_trace_id(self) -> int:
            fixed = _fixed_ids.get()
            return fixed[0] if fixed else super().generate_trace_id()

        def generate_span_id(self) -> int:
            fixed = _fixed_ids.get()
            return fixed[1] if fixed else super().generate_span_id()

    service = os.environ.get("OTEL_SERVICE_NAME", "sagaboard")
    provider = TracerProvider(
        resource=Resource.create({"service.name": service}), id_generator=RunIdGenerator()
    )
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _enabled = True


def run_ids(run_id: Any) -> tuple[int, int]:
    """The trace id and the run span's id of a run."""
    raw = uuid.UUID(str(run_id)).bytes
    span_id = int.from_bytes(hashlib.sha256(raw).digest()[:8], "big") or 1
    return int.from_bytes(raw, "big"), span_id


def _tracer() -> Any:
    from opentelemetry import trace

    return trace.get_tracer("sagaboard.engine")


class Attempt:
    """What an attempt span offers the code it wraps."""

    __slots__ = ("headers", "_span")

    def __init__(self, span: Any = None, headers: dict[str, str] | None = None) -> None:
        self._span = span
        #: Headers that carry the trace to a participant (``traceparent``).
        self.headers = headers or {}

    def outcome(self, ok: bool, error: str = "", retryable: bool = False) -> None:
        if self._span is None:
            return
        from opentelemetry.trace import Status, StatusCode

        self._span.set_attribute("sagaboard.outcome", "ok" if ok else "error")
        if not ok:
            self._span.set_attribute("sagaboard.retryable", retryable)
            self._span.set_status(Status(StatusCode.ERROR, error[:500]))


_OFF = Attempt()


@contextmanager
def attempt_span(
    run_id: str, step_id: str, attempt: int, *, compensation: bool, step_type: str, workflow: str
) -> Iterator[Attempt]:
    """A span around one attempt of a step or of its compensation, child of the run span."""
    if not _enabled:
        yield _OFF
        return
    from opentelemetry import trace
    from opentelemetry.propagate import inject
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    trace_id, run_span_id = run_ids(run_id)
    sampled = TraceFlags(TraceFlags.SAMPLED)
    parent = SpanContext(trace_id, run_span_id, is_remote=True, trace_flags=sampled)
    context = trace.set_span_in_context(NonRecordingSpan(parent))
    name = f"{'compensate' if compensation else 'step'} {step_id}"
    attributes = {
        "sagaboard.run_id": str(run_id),
        "sagaboard.workflow": workflow,
        "sagaboard.step_id": step_id,
        "sagaboard.step_type": step_type,
        "sagaboard.attempt": attempt,
        "sagaboard.compensation": compensation,
    }
    with _tracer().start_as_current_span(name, context=context, attributes=attributes) as span:
        headers: dict[str, str] = {}
        inject(headers)
        yield Attempt(span, headers)


def record_run(
    run_id: str, workflow: str, status: str, started: datetime, finished: datetime
) -> None:
    """The run's own span, recorded when the run ends."""
    if not _enabled:
        return
    from opentelemetry.context import Context
    from opentelemetry.trace import Status, StatusCode

    token = _fixed_ids.set(run_ids(run_id))
    try:
        span = _tracer().start_span(
            f"run {workflow}",
            context=Context(),
            start_time=_ns(started),
            attributes={
                "sagaboard.run_id": str(run_id),
                "sagaboard.workflow": workflow,
                "sagaboard.status": status,
            },
        )
    finally:
        _fixed_ids.reset(token)
    if status != RunStatus.COMPLETED:
        span.set_status(Status(StatusCode.ERROR, status))
    span.end(end_time=_ns(finished))


def _ns(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000_000)

"""Inventory, payments and shipping, as toy services that behave like real ones.

Each operation honours its idempotency key (a repeated key returns the first
result and changes nothing) and takes knobs from its args or body:
``latency_ms`` (work time), ``fail_rate`` (chance of a retryable failure),
``fail_attempts`` (the first N calls fail, retryably) and ``fail``
(``"retryable"`` or ``"permanent"``: every call fails so).

Knobs may also come with the run's input, which the demo workflows hand on as
``run_input``: those under ``run_input.faults.<step id>`` apply to that step's
action, those under ``run_input.faults.<step id>.compensation`` to its
compensation. So one run can be started to fail at a chosen step, or in a
chosen compensation, as the demo traffic generator and the chaos run do,
without a workflow per failure.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone

from demo.models import LedgerEntry

MAX_LATENCY_MS = 60_000
KNOBS = ("latency_ms", "fail_rate", "fail_attempts", "fail")


class ParticipantError(Exception):
    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def _result(prefix: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def make(args: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {"id": f"{prefix}-{uuid.uuid4().hex[:12]}"}
        for key in ("order", "amount", "sku", "quantity"):
            if key in args:
                result[key] = args[key]
        return result

    return make


def _undo(args: dict[str, Any]) -> dict[str, Any]:
    return {"undone": args.get("id") or args.get("order") or True}


# name -> (description, makes its result from the args)
OPERATIONS: dict[str, tuple[str, Callable[[dict[str, Any]], dict[str, Any]]]] = {
    "demo.noop": ("Does nothing, quickly (for benchmarks)", lambda args: {}),
    "demo.inventory.reserve": ("Reserve stock for an order", _result("res")),
    "demo.inventory.release": ("Release a stock reservation", _undo),
    "demo.payments.charge": ("Charge the customer's card", _result("pay")),
    "demo.payments.refund": ("Refund a charge", _undo),
    "demo.shipping.ship": ("Create a shipment", _result("shp")),
    "demo.shipping.cancel": ("Cancel a shipment", _undo),
}


def _knob(args: dict[str, Any], name: str, kind: type, default: Any) -> Any:
    try:
        return kind(args.get(name, default))
    except (TypeError, ValueError):
        raise ParticipantError(
            f"knob {name!r} must be a {kind.__name__}", retryable=False
        ) from None


def _with_step_faults(args: dict[str, Any], step_id: str, *, compensation: bool) -> dict[str, Any]:
    """``args`` with the knobs the run's input sets for this step (or its compensation)."""
    run_input = args.get("run_input")
    faults = run_input.get("faults") if isinstance(run_input, dict) else None
    knobs = faults.get(step_id) if isinstance(faults, dict) and step_id else None
    if compensation and isinstance(knobs, dict):
        knobs = knobs.get("compensation")
    if not isinstance(knobs, dict):
        return args
    return {**args, **{name: knobs[name] for name in KNOBS if name in knobs}}


def perform(
    operation: str, *, idempotency_key: str, run_id: str, step_id: str, args: dict[str, Any]
) -> dict[str, Any]:
    """Carry out ``operation`` once per idempotency key; raise ParticipantError on failure."""
    if operation not in OPERATIONS:
        raise ParticipantError(f"unknown operation {operation!r}", retryable=False)
    if operation == "demo.noop" and not args:
        return {}  # the benchmark's fast path: no ledger, no knobs
    args = _with_step_faults(args, step_id, compensation=idempotency_key.endswith(":compensate"))
    with transaction.atomic():
        entry, _ = LedgerEntry.objects.select_for_update().get_or_create(
            activity=operation,
            idempotency_key=idempotency_key,
            defaults={"run_id": run_id, "step_id": step_id, "args": args},
        )
        LedgerEntry.objects.filter(pk=entry.pk).update(calls=entry.calls + 1)
        calls = entry.calls + 1
        if entry.applied:
            return entry.result or {}

    latency = min(max(_knob(args, "latency_ms", float, 0), 0), MAX_LATENCY_MS)
    if latency:
        time.sleep(latency / 1000)
    fail = args.get("fail")
    if fail == "permanent":
        raise ParticipantError("refused (a permanent failure)", retryable=False)
    if fail == "retryable":
        raise ParticipantError("unavailable (a retryable failure)", retryable=True)
    if calls <= _knob(args, "fail_attempts", int, 0):
        raise ParticipantError(f"failed on call {calls} (injected)", retryable=True)
    if random.random() < _knob(args, "fail_rate", float, 0.0):
        raise ParticipantError("failed at random (injected)", retryable=True)

    with transaction.atomic():
        entry = LedgerEntry.objects.select_for_update().get(pk=entry.pk)
        if not entry.applied:
            entry.applied = 1
            entry.result = OPERATIONS[operation][1](args)
            entry.applied_at = timezone.now()
            entry.save(update_fields=["applied", "result", "applied_at"])
        return entry.result or {}

"""Demo users and workflows, so a fresh install has something to look at.

Everything is created through the same services users go through: each demo
workflow is drafted by the author, approved by the reviewer and published.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth.models import Group, User
from django.db import transaction
from guardian.shortcuts import assign_perm

from designer import services
from designer.models import WORKFLOW_PERMS, Workflow

DEMO_USERS: dict[str, dict[str, Any]] = {
    "admin": {"is_staff": True, "is_superuser": True, "roles": []},
    "author": {"roles": ["view_workflow", "change_workflow"]},
    "reviewer": {"roles": ["view_workflow", "review_workflow", "publish_workflow"]},
    "operator": {"roles": ["view_workflow", "run_workflow", "operate_workflow"]},
    "approver": {"roles": ["view_workflow"], "groups": ["managers"]},
}

RETRY = {"max_attempts": 3, "initial_delay_s": 0.5, "backoff": 2.0, "max_delay_s": 10}


def _task(
    sid: str,
    name: str,
    activity: str,
    *,
    after: list[str] | None = None,
    undo: str | None = None,
    **args: Any,
) -> dict[str, Any]:
    step: dict[str, Any] = {
        "id": sid,
        "name": name,
        "type": "task",
        "after": after or [],
        "action": {
            "name": activity,
            # Knobs in the input's faults.<step id> reach this step (demo/participants.py).
            "args": {"order": "{{ input.order_id }}", **args, "run_input": "{{ input }}"},
        },
    }
    if undo:
        step["compensation"] = {
            "name": undo,
            "args": {
                "id": f"{{{{ steps.{sid}.output.id }}}}",
                "order": "{{ input.order_id }}",
                # Knobs in the input's faults.<step id>.compensation reach the compensation.
                "run_input": "{{ input }}",
            },
        }
    return step


#: Orders over this amount wait for a manager; the others go straight to the charge.
APPROVAL_OVER = 10_000

ORDER_SAGA: dict[str, Any] = {
    "format": "sagaboard/v1",
    "description": "Take an order from stock to shipping: reserve each line, a manager "
    f"approving orders over {APPROVAL_OVER:,} before the card is charged",
    "input_schema": {
        "type": "object",
        "required": ["order_id", "amount", "lines"],
        "properties": {
            "order_id": {"type": "string", "examples": ["order-1001"]},
            "customer": {"type": "string", "examples": ["ada@example.com"]},
            "amount": {"type": "number", "minimum": 0, "examples": [12500]},
            "lines": {
                "type": "array",
                "minItems": 1,
                "maxItems": 100,
                "items": {
                    "type": "object",
                    "required": ["sku", "quantity"],
                    "properties": {
                        "sku": {"type": "string"},
                        "quantity": {"type": "integer", "minimum": 1},
                    },
                },
                "examples": [[{"sku": "lamp-3", "quantity": 2}, {"sku": "desk-1", "quantity": 1}]],
            },
        },
    },
    # What an operator finds an order's run by (GET /api/runs/?attr.order_id=, ?q=).
    "search": {"order_id": "{{ input.order_id }}", "customer": "{{ input.customer }}"},
    "defaults": {"timeout_s": 30, "retry": RETRY},
    "steps": [
        {
            "id": "reserve_lines",
            "name": "Reserve each line",
            "type": "map",
            "items": "input.lines",
            "max_concurrency": 5,
            "do": {
                "type": "task",
                "action": {
                    "name": "demo.inventory.reserve",
                    "args": {
                        "order": "{{ input.order_id }}",
                        "sku": "{{ item.sku }}",
                        "quantity": "{{ item.quantity }}",
                        "latency_ms": 40,
                        "run_input": "{{ input }}",
                    },
                },
                "compensation": {
                    "name": "demo.inventory.release",
                    "args": {
                        # An iteration's compensation reads its own output.
                        "id": "{{ steps.reserve_lines.output.id }}",
                        "order": "{{ input.order_id }}",
                        "run_input": "{{ input }}",
                    },
                },
            },
        },
        {
            "id": "manager_ok",
            "name": "Manager approval",
            "type": "approval",
            "after": ["reserve_lines"],
            "when": f"input.amount > {APPROVAL_OVER}",
            "action": {
                "group": "managers",
                "instructions": "Check the order and its amount before the card is charged; "
                "reject what looks wrong.",
                "timeout_s": 86400,
                "on_timeout": "reject",
            },
        },
        {
            # After the gate when it runs, straight after the lines when it does not.
            "id": "pay",
            "name": "Pay",
            "type": "subsaga",
            "after": ["reserve_lines", "manager_ok"],
            "action": {
                "workflow": "payment",
                "input": {
                    "order_id": "{{ input.order_id }}",
                    "amount": "{{ input.amount }}",
                    # The faults planned for the payment's steps reach them.
                    "run_input": "{{ input }}",
                },
            },
            "pivot": True,
        },
        _task("ship", "Ship", "demo.shipping.ship", after=["pay"], latency_ms=60),
    ],
}

PAYMENT_SAGA: dict[str, Any] = {
    "format": "sagaboard/v1",
    "description": "Charge an order's card; refunded if the order it pays for is undone",
    "input_schema": {
        "type": "object",
        "required": ["order_id", "amount"],
        "properties": {
            "order_id": {"type": "string", "examples": ["order-1001"]},
            "amount": {"type": "number", "minimum": 0, "examples": [12500]},
            "run_input": {"type": "object", "description": "the order's input, as it was"},
        },
    },
    # The order a payment is for: its child runs are found by it as the order's run is.
    "search": {"order_id": "{{ input.order_id }}"},
    "defaults": {"timeout_s": 30, "retry": RETRY},
    "output": {"charge": "{{ steps.charge.output.id }}"},
    "steps": [
        {
            "id": "charge",
            "name": "Charge card",
            "type": "task",
            "action": {
                "name": "demo.payments.charge",
                "args": {
                    "order": "{{ input.order_id }}",
                    "amount": "{{ input.amount }}",
                    "latency_ms": 80,
                    "run_input": "{{ input.run_input }}",
                },
            },
            "compensation": {
                "name": "demo.payments.refund",
                "args": {
                    "id": "{{ steps.charge.output.id }}",
                    "order": "{{ input.order_id }}",
                    "run_input": "{{ input.run_input }}",
                },
            },
        }
    ],
}

TRIP_SAGA: dict[str, Any] = {
    "format": "sagaboard/v1",
    "description": "Book a trip: flight, hotel and car in parallel, then pay",
    "input_schema": {
        "type": "object",
        "required": ["order_id"],
        "properties": {"order_id": {"type": "string"}},
    },
    "defaults": {"timeout_s": 30, "retry": RETRY},
    "steps": [
        _task(
            "flight",
            "Book flight",
            "demo.inventory.reserve",
            undo="demo.inventory.release",
            sku="flight",
            latency_ms=120,
        ),
        _task(
            "hotel",
            "Book hotel",
            "demo.inventory.reserve",
            undo="demo.inventory.release",
            sku="hotel",
            latency_ms=90,
        ),
        _task(
            "car",
            "Rent a car",
            "demo.inventory.reserve",
            undo="demo.inventory.release",
            sku="car",
            latency_ms=70,
            fail_rate=0.1,
        ),
        _task(
            "pay",
            "Take payment",
            "demo.payments.charge",
            after=["flight", "hotel", "car"],
            undo="demo.payments.refund",
            latency_ms=60,
        ),
        {**_task("confirm", "Send confirmation", "demo.noop", after=["pay"]), "pivot": True},
    ],
}

#: In the order they are created: a workflow a child saga runs comes before its callers.
DEMO_WORKFLOWS = [
    ("payment", "Payment", PAYMENT_SAGA),
    ("order-fulfilment", "Order fulfilment", ORDER_SAGA),
    ("trip-booking", "Trip booking", TRIP_SAGA),
]


@transaction.atomic
def load_demo() -> dict[str, str]:
    """Create what is missing; return the passwords of users created now (name -> password)."""
    passwords: dict[str, str] = {}
    users: dict[str, User] = {}
    for name, spec in DEMO_USERS.items():
        user = User.objects.filter(username=name).first()
        if user is None:
            password = secrets.token_urlsafe(9)
            user = User.objects.create_user(
                name,
                f"{name}@example.com",
                password,
                is_staff=spec.get("is_staff", False),
                is_superuser=spec.get("is_superuser", False),
            )
            passwords[name] = password
        for group in spec.get("groups", []):
            user.groups.add(Group.objects.get_or_create(name=group)[0])
        users[name] = user

    for slug, title, spec in DEMO_WORKFLOWS:
        workflow = Workflow.objects.filter(slug=slug).first()
        if workflow is None:
            workflow = services.workflow_create(
                by=users["author"], slug=slug, name=title, description=spec["description"]
            )
        for name, user_spec in DEMO_USERS.items():
            for perm in user_spec["roles"]:
                assert perm in WORKFLOW_PERMS
                assign_perm(f"designer.{perm}", users[name], workflow)
        if workflow.published_version is None:
            version, _ = services.version_create(
                workflow=workflow, by=users["author"], spec=spec, note="Demo workflow"
            )
            services.version_submit(version=version, by=users["author"])
            services.version_review(
                version=version, by=users["reviewer"], decision="approve", comment="Looks right."
            )
            services.version_publish(version=version, by=users["reviewer"])
    return passwords

"""POST /api/validate/ told which workflow the spec is a version of: a child saga that
would call it back is refused there, as saving would refuse it, so the designer can say
so under the field before the author saves."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.factories import UserFactory, make_published, make_workflow

pytestmark = pytest.mark.django_db


def calls(slug: str) -> dict[str, Any]:
    return {
        "format": "sagaboard/v1",
        "steps": [{"id": "child", "type": "subsaga", "action": {"workflow": slug, "input": {}}}],
    }


@pytest.fixture
def author() -> Any:
    author = UserFactory(username="ada")
    plain = {
        "format": "sagaboard/v1",
        "steps": [{"id": "a", "type": "delay", "action": {"seconds": 1}}],
    }
    make_published(make_workflow("orders", owner=author), plain)
    make_published(make_workflow("payment", owner=author), calls("orders"))
    return author


def validate(user: Any, body: dict[str, Any]) -> Any:
    client = APIClient()
    client.force_authenticate(user)
    return client.post("/api/validate/", body, format="json")


def test_a_child_saga_calling_the_workflow_back_is_refused_on_its_field(author: Any) -> None:
    body = validate(author, {"spec": calls("payment"), "workflow": "orders"}).json()
    assert body["valid"] is False
    assert body["errors"] == [
        {
            "step": "child",
            "field": "action.workflow",
            "message": "workflows call each other in a cycle: orders -> payment -> orders",
        }
    ]
    # Without the workflow, the spec is nobody's: nothing calls it back.
    assert validate(author, {"spec": calls("payment")}).json()["valid"] is True


def test_a_workflow_the_user_may_not_see_is_not_found(author: Any) -> None:
    stranger = UserFactory(username="eve")
    response = validate(stranger, {"spec": calls("payment"), "workflow": "orders"})
    assert response.status_code == 404
    assert validate(author, {"spec": calls("payment"), "workflow": "nope"}).status_code == 404

"""The demo users and workflows a fresh install starts with."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from designer.access import user_can
from designer.models import Workflow

pytestmark = pytest.mark.django_db


def test_demo_loads_once_with_published_workflows_and_roles(capsys):
    call_command("sagaboard", "demo")
    out = capsys.readouterr().out
    for name in ("admin", "author", "reviewer", "operator", "approver"):
        password = out.split(f"    {name}")[1].split()[0]
        assert User.objects.get(username=name).check_password(password)

    for slug in ("order-fulfilment", "trip-booking"):
        workflow = Workflow.objects.get(slug=slug)
        published = workflow.published_version
        assert published is not None and published.author.username == "author"
        assert published.reviews.get().reviewer.username == "reviewer"
    order = Workflow.objects.get(slug="order-fulfilment")
    operator = User.objects.get(username="operator")
    assert user_can(operator, order, "operate_workflow")
    assert not user_can(operator, order, "review_workflow")
    assert User.objects.get(username="approver").groups.filter(name="managers").exists()

    call_command("sagaboard", "demo")
    assert "exist already" in capsys.readouterr().out
    assert Workflow.objects.get(slug="trip-booking").versions.count() == 1

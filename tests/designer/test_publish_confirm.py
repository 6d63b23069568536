"""Publishing asks first, naming the version it retires ("Publish version 2? Version 1,
published now, will be retired."); only the form of that question publishes, and a
question answered about another version in force than today's is asked again."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from designer import services
from designer.models import Version, VersionStatus, Workflow
from tests.factories import UserFactory, grant, make_published, make_workflow

pytestmark = pytest.mark.django_db

SPEC = {
    "format": "sagaboard/v1",
    "steps": [{"id": "wait", "name": "Wait", "type": "delay", "action": {"seconds": 1}}],
}


def approved(workflow: Workflow) -> Version:
    """A new version of ``workflow`` taken through review to approved."""
    author = workflow.created_by
    version, _ = services.version_create(workflow=workflow, by=author, spec=SPEC)
    services.version_submit(version=version, by=author)
    reviewer = grant(UserFactory(), workflow, "view_workflow", "review_workflow")
    services.version_review(version=version, by=reviewer, decision="approve")
    return version


def status(workflow: Workflow, number: int) -> str:
    return Version.objects.get(workflow=workflow, number=number).status


@pytest.fixture
def orders() -> Workflow:
    return make_workflow("orders")


@pytest.fixture
def publisher(orders: Workflow) -> Client:
    client = Client()
    client.force_login(
        grant(UserFactory(username="pia"), orders, "view_workflow", "publish_workflow")
    )
    return client


def test_the_version_page_asks_before_it_publishes(orders, publisher):
    make_published(orders, SPEC)
    approved(orders)
    page = publisher.get("/workflows/orders/versions/2/").content.decode()
    # A link to the question, not a form that publishes at once.
    assert 'href="/workflows/orders/versions/2/publish/">Publish…</a>' in page
    assert not re.search(r'<form[^>]*action="/workflows/orders/versions/2/publish/"', page)

    question = publisher.get("/workflows/orders/versions/2/publish/")
    assert question.status_code == 200
    text = question.content.decode()
    assert '<h1 id="confirm-title">Publish version 2?</h1>' in text
    assert "Version 1, published now, will be retired." in text
    assert 'name="retires" value="1"' in text
    assert "autofocus>Publish version 2</button>" in text
    # Asking changed nothing.
    assert (status(orders, 1), status(orders, 2)) == (
        VersionStatus.PUBLISHED,
        VersionStatus.APPROVED,
    )

    response = publisher.post("/workflows/orders/versions/2/publish/", {"retires": "1"})
    assert response.status_code == 302
    assert (status(orders, 1), status(orders, 2)) == (
        VersionStatus.RETIRED,
        VersionStatus.PUBLISHED,
    )


def test_the_first_version_retires_none(orders, publisher):
    approved(orders)
    text = publisher.get("/workflows/orders/versions/1/publish/").content.decode()
    assert "No version is published now: none is retired." in text
    assert 'name="retires" value="none"' in text
    publisher.post("/workflows/orders/versions/1/publish/", {"retires": "none"})
    assert status(orders, 1) == VersionStatus.PUBLISHED


def test_a_post_without_the_answer_only_asks(orders, publisher):
    make_published(orders, SPEC)
    approved(orders)
    response = publisher.post("/workflows/orders/versions/2/publish/")
    assert response.status_code == 200
    assert "Version 1, published now, will be retired." in response.content.decode()
    assert status(orders, 2) == VersionStatus.APPROVED


def test_an_answer_about_another_version_in_force_is_asked_again(orders, publisher):
    """Asked while v1 was in force; v2 was published meanwhile: publishing v3 retires v2,
    which the question did not say, so it is asked again, naming v2."""
    make_published(orders, SPEC)
    approved(orders)
    approved(orders)
    author = orders.created_by
    services.version_publish(version=Version.objects.get(workflow=orders, number=2), by=author)

    response = publisher.post("/workflows/orders/versions/3/publish/", {"retires": "1"})
    assert response.status_code == 200
    text = response.content.decode()
    assert "The version in force changed since you were asked" in text
    assert "Version 2, published now, will be retired." in text
    assert status(orders, 3) == VersionStatus.APPROVED


def test_a_version_that_cannot_be_published_is_not_asked_about(orders, publisher):
    author = orders.created_by
    services.version_create(workflow=orders, by=author, spec=SPEC)
    response = publisher.get("/workflows/orders/versions/1/publish/", follow=True)
    assert response.redirect_chain[-1][0] == "/workflows/orders/versions/1/"
    assert "it cannot be published" in response.content.decode()

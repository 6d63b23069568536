from __future__ import annotations

import copy

import factory
from django.contrib.auth.models import Group, User
from guardian.shortcuts import assign_perm

from designer import services
from designer.models import WORKFLOW_PERMS, Workflow
from tests.conftest import SPEC


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", "pw-for-tests-1")

    @classmethod
    def _after_postgeneration(cls, instance, create, results=None):
        if create:
            instance.save(update_fields=["password"])


class GroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Group
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"group{n}")


def make_workflow(slug: str = "orders", *, owner: User | None = None, **fields) -> Workflow:
    """A workflow created through its service, as a user would."""
    owner = owner or UserFactory(username=f"{slug}-owner")
    return services.workflow_create(by=owner, slug=slug, name=slug.title(), **fields)


def grant(user: User, workflow: Workflow, *perms: str) -> User:
    for perm in perms:
        assert perm in WORKFLOW_PERMS, perm
        assign_perm(f"designer.{perm}", user, workflow)
    return user


def make_published(workflow: Workflow, spec: dict | None = None):
    """A version taken through draft -> review -> approval -> published."""
    author = workflow.created_by
    version, _ = services.version_create(
        workflow=workflow, by=author, spec=copy.deepcopy(spec or SPEC)
    )
    services.version_submit(version=version, by=author)
    for _ in range(workflow.required_approvals):
        reviewer = grant(UserFactory(), workflow, "view_workflow", "review_workflow")
        services.version_review(version=version, by=reviewer, decision="approve")
    services.version_publish(version=version, by=author)
    version.refresh_from_db()
    return version

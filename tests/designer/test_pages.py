"""The designer pages: what each user sees, may do, and is refused."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from guardian.shortcuts import assign_perm

from designer import services
from designer.models import WORKFLOW_PERMS, Version, VersionStatus, Workflow

pytestmark = pytest.mark.django_db

SPEC: dict[str, Any] = {
    "format": "sagaboard/v1",
    "steps": [
        {
            "id": "a",
            "name": "A",
            "type": "http",
            "action": {"method": "POST", "url": "http://127.0.0.1/x"},
            "compensation": {"method": "DELETE", "url": "http://127.0.0.1/x"},
        },
        {"id": "b", "name": "B", "type": "delay", "after": ["a"], "action": {"seconds": 1}},
    ],
}
XSS = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def spec(**changes: Any) -> dict[str, Any]:
    value = copy.deepcopy(SPEC)
    value["steps"][1]["action"].update(changes)
    return value


def login(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def grant(user: User, workflow: Workflow, *perms: str) -> User:
    for perm in perms:
        assign_perm(f"designer.{perm}", user, workflow)
    return user


def wf(slug: str = "orders") -> str:
    return f"/workflows/{slug}/"


def ver(number: int, act: str = "", slug: str = "orders") -> str:
    return f"/workflows/{slug}/versions/{number}/" + (f"{act}/" if act else "")


def text(response: Any) -> str:
    return response.content.decode()


def status_of(workflow: Workflow, number: int) -> str:
    return Version.objects.get(workflow=workflow, number=number).status


@pytest.fixture
def alice() -> User:
    user = User.objects.create_user("alice", password="pw-alice-1")
    user.user_permissions.add(
        Permission.objects.get(codename="add_workflow", content_type__app_label="designer")
    )
    return user


@pytest.fixture
def bob() -> User:
    return User.objects.create_user("bob", password="pw-bob-1")


@pytest.fixture
def mallory() -> User:
    return User.objects.create_user("mallory", password="pw-mallory-1")


@pytest.fixture
def workflow(alice: User) -> Workflow:
    return services.workflow_create(
        by=alice, slug="orders", name="Orders", description="Take an order", required_approvals=1
    )


@pytest.fixture
def draft(workflow: Workflow, alice: User) -> Version:
    version, _ = services.version_create(workflow=workflow, by=alice, spec=spec(), note="first")
    return version


@pytest.fixture
def in_review(draft: Version, alice: User) -> Version:
    return services.version_submit(version=draft, by=alice)


@pytest.fixture
def reviewer(bob: User, workflow: Workflow) -> User:
    return grant(bob, workflow, "view_workflow", "review_workflow")


# Who sees what


def test_anonymous_is_sent_to_login(client: Client, workflow: Workflow) -> None:
    response = client.get(wf())
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    login_page = client.get("/login/")
    assert login_page.status_code == 200
    assert 'name="password"' in text(login_page)


def test_list_shows_visible_workflows_with_their_versions(
    client: Client, alice: User, workflow: Workflow, draft: Version
) -> None:
    services.workflow_create(by=User.objects.create_user("zed"), slug="hidden", name="Hidden")
    response = login(client, alice).get("/workflows/")
    assert response.status_code == 200
    page = text(response)
    assert "Orders" in page and "Take an order" in page
    assert '<code class="wrap">orders</code>' in page
    assert 'class="badge badge-draft"' in page
    assert "Hidden" not in page
    # The layout: product name, navigation, a logout form that posts, the stylesheet.
    assert "Sagaboard" in page and "/api/docs/" in page
    assert 'action="/logout/"' in page and "csrfmiddlewaretoken" in page
    assert "css/sagaboard.css" in page
    assert 'action="/workflows/-/new/"' in page


def test_list_hides_new_workflow_form_without_add_permission(
    client: Client, bob: User, workflow: Workflow
) -> None:
    page = text(login(client, bob).get("/workflows/"))
    assert "Orders" not in page
    assert "New workflow" not in page
    response = client.post(
        "/workflows/-/new/", {"slug": "mine", "name": "Mine", "required_approvals": 1}
    )
    assert response.status_code == 403
    assert not Workflow.objects.filter(slug="mine").exists()


@pytest.mark.parametrize(
    "method,url",
    [
        ("get", wf()),
        ("get", wf() + "permissions/"),
        ("post", wf() + "permissions/"),
        ("post", wf() + "versions/new/"),
        ("get", ver(1)),
        ("get", ver(1, "edit")),
        ("post", ver(1, "edit")),
        ("post", ver(1, "submit")),
        ("post", ver(1, "publish")),
        ("get", ver(1, "review")),
        ("post", ver(1, "review")),
        ("get", ver(1, "diff")),
        ("get", "/workflows/nope/"),
    ],
)
def test_pages_of_an_invisible_workflow_are_404(
    client: Client, mallory: User, draft: Version, method: str, url: str
) -> None:
    response = getattr(login(client, mallory), method)(url)
    assert response.status_code == 404
    assert "Not found" in text(response)
    assert "Orders" not in text(response)


def test_missing_version_is_404(client: Client, alice: User, draft: Version) -> None:
    assert login(client, alice).get(ver(9)).status_code == 404


@pytest.mark.parametrize(
    "method,url,data",
    [
        ("post", wf() + "versions/new/", {"spec": json.dumps(SPEC)}),
        ("get", ver(1, "edit"), {}),
        ("post", ver(1, "edit"), {"spec": json.dumps(SPEC)}),
        ("post", ver(1, "submit"), {}),
        ("post", ver(1, "publish"), {}),
        ("post", ver(1, "review"), {"decision": "approve"}),
        ("post", wf() + "permissions/", {"user:bob": ["view_workflow", "publish_workflow"]}),
    ],
)
def test_a_viewer_is_refused_acts_with_403(
    client: Client, bob: User, workflow: Workflow, draft: Version, method: str, url: str, data: dict
) -> None:
    grant(bob, workflow, "view_workflow")
    response = getattr(login(client, bob), method)(url, data)
    assert response.status_code == 403
    assert "Not allowed" in text(response)
    assert Version.objects.get(pk=draft.pk).status == VersionStatus.DRAFT
    assert Workflow.objects.get(pk=workflow.pk).versions.count() == 1


def test_a_viewer_sees_no_buttons_for_acts(
    client: Client, bob: User, workflow: Workflow, draft: Version
) -> None:
    grant(bob, workflow, "view_workflow")
    page = text(login(client, bob).get(ver(1)))
    assert "Submit for review" not in page and "Edit draft" not in page
    assert ">Publish<" not in page and "/review/" not in page
    detail = text(client.get(wf()))
    assert "Create draft" not in detail
    assert "only look" in detail


# Each page shows its content


def test_workflow_detail_shows_versions_acts_form_and_audit(
    client: Client, alice: User, workflow: Workflow, draft: Version
) -> None:
    response = login(client, alice).get(wf())
    assert response.status_code == 200
    page = text(response)
    assert f'href="{ver(1)}"' in page and 'class="badge badge-draft"' in page
    assert "first" in page  # the note
    assert "Start a new draft" in page and "Manage permissions" in page
    assert 'action="/workflows/orders/versions/new/"' in page
    # The form starts from the latest version's spec, as pretty JSON.
    assert "&quot;format&quot;: &quot;sagaboard/v1&quot;" in page
    assert f'href="{wf()}permissions/"' in page and 'id="audit"' in page
    assert "workflow.create" in page and "version.create" in page
    assert "required_approvals" in page


def test_version_detail_shows_status_steps_picture_and_spec(
    client: Client, alice: User, draft: Version
) -> None:
    response = login(client, alice).get(ver(1))
    assert response.status_code == 200
    page = text(response)
    assert 'class="badge badge-draft"' in page
    assert draft.content_hash in page
    assert "0 of 1" in page
    assert 'src="/api/workflows/orders/versions/1/graph.svg"' in page
    assert "<code>a</code>" in page and "<code>b</code>" in page and ">delay<" in page
    assert "http://127.0.0.1/x" in page  # the spec as JSON
    assert "Submit for review" in page and f'href="{ver(1, "edit")}"' in page
    assert ">Publish<" not in page


def test_edit_page_saves_a_draft_and_lists_validation_errors(
    client: Client, alice: User, draft: Version
) -> None:
    login(client, alice)
    form = client.get(ver(1, "edit"))
    assert form.status_code == 200 and "Save draft" in text(form)

    bad = copy.deepcopy(SPEC)
    bad["steps"][1]["after"] = ["nowhere"]
    response = client.post(ver(1, "edit"), {"spec": json.dumps(bad), "note": "oops"})
    assert response.status_code == 400
    page = text(response)
    assert "<code>b</code>" in page and "<code>after" in page  # step and field named
    assert "nowhere" in page  # the posted text is kept
    assert Version.objects.get(pk=draft.pk).note == "first"

    yaml_spec = (
        "format: sagaboard/v1\nsteps:\n  - {id: a, name: A, type: delay, action: {seconds: 2}}\n"
    )
    response = client.post(ver(1, "edit"), {"spec": yaml_spec, "note": "yaml"})
    assert response.status_code == 302 and response["Location"] == ver(1)
    draft.refresh_from_db()
    assert draft.note == "yaml" and draft.spec["steps"][0]["action"] == {"seconds": 2}


def test_unparseable_spec_is_shown_on_the_form(
    client: Client, alice: User, workflow: Workflow
) -> None:
    response = login(client, alice).post(wf() + "versions/new/", {"spec": "{not json", "note": ""})
    assert response.status_code == 400
    assert "field-error" in text(response)
    assert workflow.versions.count() == 0


def test_diff_page_shows_changed_fields_and_picture(
    client: Client, alice: User, workflow: Workflow, draft: Version
) -> None:
    services.version_create(workflow=workflow, by=alice, spec=spec(seconds=5))
    login(client, alice)
    response = client.get(ver(2, "diff") + "?against=1")
    assert response.status_code == 200
    page = text(response)
    assert 'src="/api/workflows/orders/versions/2/graph.svg?against=1"' in page
    assert "<code>action.seconds</code>" in page
    assert "<code>1</code>" in page and "<code>5</code>" in page
    # Without ?against= it compares with the version before.
    assert "<code>action.seconds</code>" in text(client.get(ver(2, "diff")))
    # Choosing the other side with the form goes to that version's diff.
    response = client.get(ver(2, "diff") + "?version=1&against=2")
    assert response.status_code == 302 and response["Location"] == ver(1, "diff") + "?against=2"
    # The first version has nothing to compare with; a bad choice is a message, not a 500.
    assert "first version" in text(client.get(ver(1, "diff")))
    assert "Choose two versions" in text(client.get(ver(2, "diff") + "?against=x"))


def test_version_detail_offers_to_compare(
    client: Client, alice: User, workflow: Workflow, draft: Version
) -> None:
    services.version_create(workflow=workflow, by=alice, spec=spec(seconds=5))
    page = text(login(client, alice).get(ver(2)))
    assert f'action="{ver(2, "diff")}"' in page
    assert '<option value="1" selected>v1</option>' in page


# The review cycle through the pages


def test_full_cycle_through_pages(client: Client, alice: User, bob: User) -> None:
    author = login(Client(), alice)
    response = author.post(
        "/workflows/-/new/",
        {"slug": "orders", "name": "Orders", "description": "d", "required_approvals": 1},
    )
    assert response.status_code == 302 and response["Location"] == wf()
    workflow = Workflow.objects.get(slug="orders")

    response = author.post(wf() + "versions/new/", {"spec": json.dumps(SPEC), "note": "v1"})
    assert response.status_code == 302 and response["Location"] == ver(1)
    assert "badge-draft" in text(author.get(ver(1)))

    assert author.post(ver(1, "submit")).status_code == 302
    page = text(author.get(ver(1)))
    assert "badge-in_review" in page and "sent for review" in page

    response = author.post(
        wf() + "permissions/",
        {
            "user:alice": list(WORKFLOW_PERMS),
            "new_user": "bob",
            "new_user_perm": ["view_workflow", "review_workflow"],
        },
    )
    assert response.status_code == 302

    reviewer = login(client, bob)
    assert f'href="{ver(1, "review")}"' in text(reviewer.get(ver(1)))
    review_page = text(reviewer.get(ver(1, "review")))
    assert "first version" in review_page and 'value="approve"' in review_page
    response = reviewer.post(ver(1, "review"), {"decision": "approve", "comment": "Looks right"})
    assert response.status_code == 302
    page = text(reviewer.get(ver(1)))
    assert "badge-approved" in page and "Looks right" in page and "1 of 1" in page
    assert ">Publish…<" not in page  # bob is no publisher

    assert ">Publish…<" in text(author.get(ver(1)))
    assert author.post(ver(1, "publish"), {"retires": "none"}).status_code == 302
    assert "badge-published" in text(author.get(ver(1)))
    listing = text(author.get("/workflows/"))
    assert "badge-published" in listing and f'href="{ver(1)}">v1</a>' in listing

    # The next version: the review compares with the published one.
    author.post(wf() + "versions/new/", {"spec": json.dumps(spec(seconds=7)), "note": "v2"})
    author.post(ver(2, "submit"))
    review_page = text(reviewer.get(ver(2, "review")))
    assert "the published version v1" in review_page
    assert "<code>action.seconds</code>" in review_page
    reviewer.post(ver(2, "review"), {"decision": "approve"})
    author.post(ver(2, "publish"), {"retires": "1"})
    assert status_of(workflow, 1) == VersionStatus.RETIRED
    assert status_of(workflow, 2) == VersionStatus.PUBLISHED
    detail = text(author.get(wf()))
    assert "badge-retired" in detail and "badge-published" in detail
    assert "version.publish" in detail and "retired" in detail


def test_author_sees_four_eyes_message_instead_of_the_form(
    client: Client, alice: User, in_review: Version
) -> None:
    response = login(client, alice).get(ver(1, "review"))
    assert response.status_code == 200
    page = text(response)
    assert "You wrote this version; someone else must review it." in page
    assert 'value="approve"' not in page
    response = client.post(ver(1, "review"), {"decision": "approve"})
    assert response.status_code == 403
    assert status_of(in_review.workflow, 1) == VersionStatus.IN_REVIEW


def test_request_changes_sends_back_to_draft_with_the_comment(
    client: Client, reviewer: User, in_review: Version
) -> None:
    login(client, reviewer)
    # Requesting changes without saying what is refused on the page, not a 500.
    response = client.post(ver(1, "review"), {"decision": "request_changes", "comment": " "})
    assert response.status_code == 400
    assert "Say what should change." in text(response)
    # The decision comes after the changes it is about.
    page = text(response)
    assert page.index("<h2>Changes</h2>") < page.index('id="your-review"')
    # Once, on top; and beside the comment field, which says it is needed for this.
    assert text(response).count("required when requesting changes") == 0
    assert response.context["form"].errors == {"comment": ["Required when requesting changes."]}
    assert "Comment (required to request changes)" in text(response)
    assert "(optional)" not in text(response)
    assert status_of(in_review.workflow, 1) == VersionStatus.IN_REVIEW

    response = client.post(
        ver(1, "review"), {"decision": "request_changes", "comment": "Step b waits too long"}
    )
    assert response.status_code == 302
    page = text(client.get(ver(1)))
    assert "badge-draft" in page and "Step b waits too long" in page
    assert "requested changes" in page
    assert status_of(in_review.workflow, 1) == VersionStatus.DRAFT


def test_a_conflict_is_a_message_not_an_error(
    client: Client, alice: User, in_review: Version
) -> None:
    login(client, alice)
    response = client.post(ver(1, "submit"), follow=True)
    assert response.status_code == 200
    assert "cannot become in_review" in text(response)
    # Editing a version in review is refused the same way.
    response = client.get(ver(1, "edit"), follow=True)
    assert "only a draft can change" in text(response)
    response = client.post(ver(1, "edit"), {"spec": json.dumps(SPEC)}, follow=True)
    assert "only a draft can change" in text(response)


def test_a_duplicate_slug_is_shown_on_the_form(
    client: Client, alice: User, workflow: Workflow
) -> None:
    response = login(client, alice).post(
        "/workflows/-/new/", {"slug": "orders", "name": "Again", "required_approvals": 1}
    )
    assert response.status_code == 400
    assert "exists already" in text(response)
    assert Workflow.objects.count() == 1


# Permissions


def test_creator_grants_a_role_on_the_permissions_page(
    client: Client, alice: User, bob: User, workflow: Workflow
) -> None:
    login(client, alice)
    page = text(client.get(wf() + "permissions/"))
    assert "Save permissions" in page and 'name="user:alice"' in page
    assert "reviewer" in page and "operate_workflow" in page

    alice_perms = services.workflow_permissions(workflow)["users"]["alice"]
    response = client.post(
        wf() + "permissions/",
        {
            "user:alice": alice_perms,
            "new_user": "bob",
            "new_user_perm": ["view_workflow", "review_workflow"],
        },
    )
    assert response.status_code == 302
    assert services.workflow_permissions(workflow)["users"]["bob"] == [
        "review_workflow",
        "view_workflow",
    ]
    page = text(client.get(wf() + "permissions/"))
    assert "Permissions saved." in page and 'name="user:bob"' in page

    # An unknown name is refused on the page and the other changes are kept on screen.
    response = client.post(
        wf() + "permissions/",
        {"user:alice": alice_perms, "new_user": "nobody", "new_user_perm": ["view_workflow"]},
    )
    assert response.status_code == 400
    assert "not found" in text(response) and 'name="user:nobody"' in text(response)
    assert "nobody" not in services.workflow_permissions(workflow)["users"]


def test_non_creator_sees_permissions_read_only_and_cannot_save(
    client: Client, bob: User, workflow: Workflow
) -> None:
    grant(bob, workflow, "view_workflow", "change_workflow")
    login(client, bob)
    response = client.get(wf() + "permissions/")
    assert response.status_code == 200
    page = text(response)
    assert "Save permissions" not in page and "disabled" in page
    assert "Only staff and the workflow's creator may change them." in page
    response = client.post(
        wf() + "permissions/", {"user:bob": ["view_workflow", "publish_workflow"]}
    )
    assert response.status_code == 403
    assert "publish_workflow" not in services.workflow_permissions(workflow)["users"]["bob"]


def test_staff_sees_everything_and_the_admin_link(
    client: Client, workflow: Workflow, draft: Version
) -> None:
    staff = User.objects.create_user("root", is_staff=True)
    login(client, staff)
    page = text(client.get("/workflows/"))
    assert "Orders" in page and 'href="/admin/"' in page and "New workflow" in page
    assert "Save permissions" in text(client.get(wf() + "permissions/"))


# User text is escaped


def test_user_text_is_escaped(client: Client, alice: User, bob: User) -> None:
    workflow = services.workflow_create(by=alice, slug="evil", name=XSS, description=XSS)
    grant(bob, workflow, "view_workflow", "review_workflow")
    evil = copy.deepcopy(SPEC)
    evil["steps"][0]["name"] = XSS
    version, _ = services.version_create(workflow=workflow, by=alice, spec=evil, note=XSS)
    services.version_submit(version=version, by=alice)
    services.version_review(version=version, by=bob, decision="request_changes", comment=XSS)
    login(client, alice)
    for url in (
        "/workflows/",
        wf("evil"),
        ver(1, slug="evil"),
        ver(1, "review", slug="evil"),
        wf("evil") + "permissions/",
    ):
        page = text(client.get(url))
        assert ESCAPED in page, url
        assert XSS not in page, url


# --- starting a run from the workflow page ----------------------------------------------

RUN_SPEC: dict[str, Any] = {
    "format": "sagaboard/v1",
    "input_schema": {
        "type": "object",
        "required": ["order_id"],
        "properties": {
            "order_id": {"type": "string"},
            "amount": {"type": "integer", "minimum": 1},
            "express": {"type": "boolean", "default": True},
        },
    },
    "steps": [{"id": "wait", "name": "Wait", "type": "delay", "action": {"seconds": 1}}],
}


@pytest.fixture
def runnable() -> Workflow:
    from tests.factories import make_published, make_workflow

    workflow = make_workflow("orders")
    make_published(workflow, RUN_SPEC)
    return workflow


def test_a_runner_starts_a_run_from_the_workflow_page(client: Client, runnable: Workflow) -> None:
    from engine.models import Run

    rita = grant(User.objects.create_user("rita"), runnable, "view_workflow", "run_workflow")
    page = login(client, rita).get(wf())
    assert page.status_code == 200
    form = page.context["run_form"]
    # The input to fill in has the schema's shape: required first, defaults kept, and a
    # required value without one null, which the schema refuses until it is filled in.
    assert json.loads(form.initial["input"]) == {"order_id": None, "express": True}
    as_offered = client.post(f"{wf()}runs/new/", {"input": form.initial["input"]})
    assert as_offered.status_code == 400
    assert "needs a value (string), not null" in as_offered.content.decode()
    assert 'action="/workflows/orders/runs/new/"' in page.content.decode()

    body = {"input": json.dumps({"order_id": "o-7", "amount": 3}), "idempotency_key": "k-1"}
    started = client.post(f"{wf()}runs/new/", body)
    run = Run.objects.get()
    assert started.status_code == 302
    assert started["Location"] == f"/runs/{run.pk}/"
    assert run.input == {"order_id": "o-7", "amount": 3}
    assert run.started_by == rita and run.version.number == 1

    # The same key again opens the same run, and says so.
    again = client.post(f"{wf()}runs/new/", body, follow=True)
    assert again.redirect_chain == [(f"/runs/{run.pk}/", 302)]
    assert Run.objects.count() == 1
    assert "exists already: this one." in again.content.decode()
    # The same key with another input: the first run, and a word that this input was not used.
    other = {**body, "input": json.dumps({"order_id": "o-8"})}
    changed = client.post(f"{wf()}runs/new/", other, follow=True)
    assert changed.redirect_chain == [(f"/runs/{run.pk}/", 302)]
    assert "The input you gave was not used." in changed.content.decode()
    assert Run.objects.get().input == {"order_id": "o-7", "amount": 3}


def test_input_the_schema_refuses_is_shown_on_the_form_and_nothing_starts(
    client: Client, runnable: Workflow
) -> None:
    from engine.models import Run

    rita = grant(User.objects.create_user("rita"), runnable, "view_workflow", "run_workflow")
    login(client, rita)
    refused = client.post(f"{wf()}runs/new/", {"input": json.dumps({"amount": 0})})
    assert refused.status_code == 400
    text = refused.content.decode()
    assert "The input was refused." in text
    assert "&#x27;order_id&#x27; is a required property" in text
    assert "input.amount" in text  # where, beside what
    # What was typed stays in the form, to correct.
    assert refused.context["run_form"]["input"].value() == json.dumps({"amount": 0})

    broken = client.post(f"{wf()}runs/new/", {"input": "{order_id: o-1"})
    assert broken.status_code == 400
    assert "Not JSON" in broken.content.decode()
    assert not Run.objects.exists()


def test_the_start_form_is_only_for_runners_of_a_published_workflow(
    client: Client, runnable: Workflow
) -> None:
    viewer = grant(User.objects.create_user("vera"), runnable, "view_workflow")
    page = login(client, viewer).get(wf())
    assert page.context["run_form"] is None
    assert "Start a run" not in page.content.decode()
    assert client.post(f"{wf()}runs/new/", {"input": "{}"}).status_code == 403

    from tests.factories import make_workflow

    unpublished = make_workflow("drafts")
    grant(viewer, unpublished, "view_workflow", "run_workflow")
    assert login(client, viewer).get(wf("drafts")).context["run_form"] is None
    refused = client.post(f"{wf('drafts')}runs/new/", {"input": "{}"})
    assert refused.status_code == 400
    assert "no published version" in refused.content.decode()


@pytest.mark.parametrize(
    ("schema", "example"),
    [
        (None, {}),
        ({}, {}),
        ({"type": "object"}, {}),
        ({"type": "string", "enum": ["a", "b"]}, "a"),
        ({"type": ["null", "integer"]}, {}),
        (
            {
                "required": ["tags"],
                "properties": {
                    "tags": {"type": "array"},
                    "who": {"examples": [{"id": 1}]},
                    "note": {"type": "string"},
                },
            },
            {"tags": None, "who": {"id": 1}},
        ),
        (
            {"type": "object", "properties": {"inner": {"type": "object", "required": ["x"]}}},
            {"inner": {"x": None}},
        ),
    ],
)
def test_example_input_has_the_shape_of_the_schema(schema: Any, example: Any) -> None:
    from designer.presenters import example_input

    assert example_input(schema) == example

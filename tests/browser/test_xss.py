"""What users type (step names, descriptions, comments, run input, errors) is shown as
text on every page and on the canvas, never run as markup or script."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

import saga
from designer import services as designer
from engine import services
from engine.models import Run
from tests.browser.conftest import PageErrors
from tests.browser.live_server import SLOW, Live
from tests.factories import UserFactory, grant, make_published, make_workflow

pytestmark = pytest.mark.django_db(transaction=True)

# Each payload sets window.__xss if it ever runs; the attribute-less text must show as is.
IMG = '<img src=x onerror="window.__xss=1">'
SCRIPT = "<script>window.__xss=1</script>"


def spec(name: str) -> dict:
    return {
        "format": "sagaboard/v1",
        "description": f"Orders {SCRIPT}",
        "steps": [
            {
                "id": "reserve",
                "name": f"Reserve {IMG}",
                "type": "task",
                "action": {"name": "demo.noop", "args": {}},
                "compensation": {"name": "demo.noop", "args": {}},
            },
            {
                "id": "ship",
                "name": name,
                "type": "task",
                "after": ["reserve"],
                "action": {"name": "demo.noop", "args": {}},
            },
        ],
    }


@pytest.fixture
def hostile(monkeypatch):
    """A workflow, a version in review with a hostile comment, and a run whose input
    and error carry markup."""
    monkeypatch.setattr("engine.dispatch.dispatch", lambda run_id, commands: None)
    staff = UserFactory(username="root", is_staff=True, is_superuser=True)
    workflow = make_workflow("orders")
    workflow.name = f"Orders {IMG}"
    workflow.save(update_fields=["name"])
    make_published(workflow, spec(f"Ship {SCRIPT}"))
    draft, _ = designer.version_create(
        workflow=workflow, by=workflow.created_by, spec=spec(f"Ship again {IMG}"), note=IMG
    )
    designer.version_submit(version=draft, by=workflow.created_by)
    reviewer = grant(UserFactory(username="rev"), workflow, "view_workflow", "review_workflow")
    designer.version_review(
        version=draft, by=reviewer, decision="request_changes", comment=f"No {SCRIPT}"
    )
    run, _ = services.run_start(workflow=workflow, by=staff, input={"note": IMG})
    services.run_apply(run.pk, saga.StepFailed("reserve", 1, f"boom {IMG}", False))
    return staff, workflow, draft, Run.objects.get(pk=run.pk)


def no_script_ran(live: Live) -> None:
    assert live.page.evaluate("window.__xss") is None, "user text ran as script"
    assert live.page.locator("main img[src='x']").count() == 0, "user text became markup"


def test_user_text_is_shown_as_text_on_every_page_and_the_canvas(
    live: Live, hostile, page_errors: PageErrors
) -> None:
    staff, workflow, draft, run = hostile
    live.sign_in(staff)
    pages = [
        ("/workflows/", f"Orders {IMG}"),
        ("/workflows/orders/", f"Orders {IMG}"),
        ("/workflows/orders/versions/1/", f"Reserve {IMG}"),
        (f"/workflows/orders/versions/{draft.number}/", f"No {SCRIPT}"),
        (f"/workflows/orders/versions/{draft.number}/diff/?against=1", f"Ship again {IMG}"),
    ]
    for path, text in pages:
        live.page.goto(f"{live.url}{path}")
        expect(live.page.get_by_text(text, exact=False).first).to_be_visible(timeout=SLOW)
        no_script_ran(live)

    # The canvas draws the names into its nodes.
    live.page.goto(f"{live.url}/workflows/orders/versions/1/designer/")
    node = live.page.locator('.react-flow__node[data-id="reserve"]')
    expect(node).to_contain_text(f"Reserve {IMG}", timeout=SLOW)
    no_script_ran(live)

    # The run page: names on the graph, the input, the error in the timeline and log.
    live.open(f"/runs/{run.pk}/")
    expect(live.page.get_by_text(f"boom {IMG}").first).to_be_visible()
    expect(live.page.get_by_text(IMG, exact=False).first).to_be_visible()
    no_script_ran(live)

    live.open("/runs/")  # the workflow filter names it
    expect(live.page.locator("option", has_text=f"Orders {IMG}")).to_have_count(1)
    no_script_ran(live)

    assert not [e for e in page_errors if "Content Security Policy" in e], page_errors

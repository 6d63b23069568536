"""Sign-in throttling, the Content-Security-Policy, and CSRF on session-authenticated writes."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests-1"


def sign_in(client: Client, username: str, password: str, ip: str = "10.0.0.1"):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_sign_in_is_refused_after_five_failures_for_that_user_and_address():
    UserFactory(username="alice")
    UserFactory(username="bob")
    client = Client()
    for _ in range(4):
        assert sign_in(client, "alice", "wrong").status_code == 200  # the form again
    assert sign_in(client, "alice", PASSWORD).status_code == 302  # still allowed: resets
    for _ in range(5):
        sign_in(client, "alice", "wrong")

    fresh = Client()
    locked = sign_in(fresh, "alice", PASSWORD)
    assert locked.status_code == 429
    assert b"Too many failed sign-ins" in locked.content
    assert "_auth_user_id" not in fresh.session  # the right password did not get in
    # Another user from the same address, and the same user from elsewhere, are not held up.
    assert sign_in(Client(), "bob", PASSWORD).status_code == 302
    assert sign_in(Client(), "alice", PASSWORD, ip="10.0.0.2").status_code == 302


def test_the_token_endpoint_is_throttled_too():
    UserFactory(username="alice")
    client = Client()
    for _ in range(5):
        response = client.post(
            "/api/auth/token/", {"username": "alice", "password": "wrong"}, REMOTE_ADDR="10.0.0.9"
        )
        assert response.status_code == 400
    response = client.post(
        "/api/auth/token/", {"username": "alice", "password": PASSWORD}, REMOTE_ADDR="10.0.0.9"
    )
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.json()["detail"]


def inline_scripts(html: str) -> list[str]:
    """<script> elements that hold code in the page (not src=, not JSON data)."""
    found = []
    for attrs, body in re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S | re.I):
        if "src=" in attrs or "application/json" in attrs:
            continue
        if body.strip():
            found.append(body.strip()[:80])
    return found


@pytest.mark.parametrize("path", ["/login/", "/workflows/", "/api/docs/", "/admin/"])
def test_pages_carry_a_csp_without_inline_scripts_and_have_none(path):
    client = Client()
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    response = client.get(path, follow=True)
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    assert directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert inline_scripts(response.content.decode()) == []


def test_session_authenticated_api_writes_need_the_csrf_token():
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory(username="root", is_staff=True))
    body = {"slug": "orders", "name": "Orders"}
    refused = client.post("/api/workflows/", body, content_type="application/json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]

    client.get("/workflows/")  # a page sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    allowed = client.post(
        "/api/workflows/", body, content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert allowed.status_code == 201


def test_page_forms_need_the_csrf_token():
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory(username="author", is_staff=True))
    response = client.post("/workflows/-/new/", {"slug": "orders", "name": "Orders"})
    assert response.status_code == 403

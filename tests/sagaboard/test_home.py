"""Where people land: the board, before and after signing in."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_home_is_the_board_and_signing_in_leads_there():
    client = Client()
    assert client.get("/")["Location"] == "/runs/"
    assert client.get("/runs/")["Location"] == "/login/?next=/runs/"
    UserFactory(username="olga")
    signed_in = client.post("/login/", {"username": "olga", "password": "pw-for-tests-1"})
    assert signed_in.status_code == 302
    assert client.get(signed_in["Location"], follow=True).redirect_chain[-1][0] == "/runs/"


def test_signing_out_says_so_on_the_sign_in_page():
    client = Client()
    client.force_login(UserFactory(username="olga"))
    page = client.post("/logout/", follow=True)
    assert page.redirect_chain[-1][0] == "/login/"
    assert "You have signed out." in page.content.decode()
    assert "<h1>Sign in</h1>" in page.content.decode()  # one word for it, everywhere

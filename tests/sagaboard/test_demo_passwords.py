"""The demo users' passwords: shown again on a second start, reset on request, never stale."""

from __future__ import annotations

import re
import stat

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from demo.traffic import Traffic
from sagaboard.management.commands.sagaboard import NOT_KEPT, ready_banner
from sagaboard.management.demo_users import FILE_NAME

pytestmark = pytest.mark.django_db

NAMES = ["admin", "author", "reviewer", "operator", "approver"]


@pytest.fixture
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path


def demo(capsys, *args: str) -> tuple[str, dict[str, str]]:
    """`sagaboard demo`'s output, and the passwords it printed by user."""
    call_command("sagaboard", "demo", *args)
    out = capsys.readouterr().out
    return out, dict(re.findall(r"^ {4}(\w+) +(\S+)$", out, re.MULTILINE))


def signs_in(name: str, password: str) -> bool:
    return User.objects.get(username=name).check_password(password)


def test_a_second_demo_prints_the_same_passwords_again(var_dir, capsys):
    first_out, first = demo(capsys)
    assert list(first) == NAMES
    assert all(signs_in(name, password) for name, password in first.items())

    out, again = demo(capsys)
    assert "exist already" in out
    assert again == first
    # Kept beside the database and the secret key, readable by their owner only.
    assert stat.S_IMODE((var_dir / FILE_NAME).stat().st_mode) == 0o600


def test_a_password_changed_since_is_not_shown_stale(var_dir, capsys):
    _, first = demo(capsys)
    author = User.objects.get(username="author")
    author.set_password("chosen by the author")
    author.save()

    out, again = demo(capsys)
    assert "author" not in again
    assert f"    author     {NOT_KEPT}" in out
    assert again == {name: first[name] for name in NAMES if name != "author"}


def test_reset_passwords_gives_new_ones_that_sign_in_and_are_kept(var_dir, capsys):
    _, first = demo(capsys)
    out, reset = demo(capsys, "--reset-passwords")
    assert "new passwords" in out
    assert list(reset) == NAMES
    for name in NAMES:
        assert reset[name] != first[name]
        assert signs_in(name, reset[name]) and not signs_in(name, first[name])
    assert demo(capsys)[1] == reset


def test_nothing_is_kept_in_production(settings, var_dir, capsys):
    settings.PRODUCTION = True
    out, first = demo(capsys)
    assert "shown once" in out and list(first) == NAMES
    assert not (var_dir / FILE_NAME).exists()
    out, again = demo(capsys)
    assert again == {}
    assert out.count(NOT_KEPT) == len(NAMES)


def test_the_start_up_banner_names_the_url_the_users_and_the_traffic():
    banner = ready_banner(
        "http://127.0.0.1:8000/",
        {"admin": "s3cret-admin", "author": None},
        Traffic(enabled=True, rate_per_min=20, fail_rate=0.2),
    )
    lines = banner.splitlines()
    assert len({len(line) for line in lines}) == 1, "a box of one width"
    assert lines[0] == lines[-1] and set(lines[0]) == {"+", "-"}
    text = "\n".join(line.strip("|+- ") for line in lines)
    assert "http://127.0.0.1:8000/" in text
    assert re.search(r"^\| {5}admin +s3cret-admin +\|$", banner, re.MULTILINE)
    assert f"author     {NOT_KEPT}" in text
    assert "20 runs/min, 20% compensated" in text
    assert "Ctrl-C" in text

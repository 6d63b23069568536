"""The demo users' passwords, kept so that every one-process start can show them again.

`manage.py sagaboard demo` generates them. Outside production they are kept, in plain
text, in ``demo-passwords.json`` under ``SAGABOARD_VAR_DIR`` (mode 0600): beside the
SQLite database and ``secret_key``, whose reader can sign in as anyone already, so the
file opens no new way in. With ``SAGABOARD_ENV=production`` nothing is kept and they are
shown once, when created.

A kept password is shown only while it is still the user's: the copy carries the hash the
user had when it was set, and a password changed since (in the admin, say) is not shown
stale. ``manage.py sagaboard demo --reset-passwords`` sets new ones and keeps them.
Keeping them, rather than setting new ones at every start, keeps people signed in across
a restart and leaves a password someone chose alone.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.contrib.auth.models import User
from django.db import transaction

from demo.loader import DEMO_USERS

FILE_NAME = "demo-passwords.json"


def keeping() -> bool:
    """Whether this installation keeps the demo passwords (all but production do)."""
    return not settings.PRODUCTION


def kept_path() -> Path:
    return Path(settings.VAR_DIR) / FILE_NAME


def keep(passwords: dict[str, str]) -> None:
    """Keep these passwords (user name -> password), just set, with each user's hash."""
    if not passwords or not keeping():
        return
    hashes = dict(User.objects.filter(username__in=passwords).values_list("username", "password"))
    kept = _read()
    for name, password in passwords.items():
        if name in hashes:
            kept[name] = {"password": password, "hash": hashes[name]}
    _write(kept)


def known() -> dict[str, str | None]:
    """Each demo user that exists -> their password, or None where it is not known here."""
    kept = _read() if keeping() else {}
    users = {u.username: u for u in User.objects.filter(username__in=DEMO_USERS)}
    shown: dict[str, str | None] = {}
    refreshed = False
    for name in DEMO_USERS:
        user = users.get(name)
        if user is None:
            continue
        entry = kept.get(name) or {}
        password = entry.get("password")
        if not isinstance(password, str):
            shown[name] = None
        elif entry.get("hash") == user.password:
            shown[name] = password
        elif check_password(password, user.password):
            # The same password, hashed again (Django upgrades a hash when its user
            # signs in after the hasher's cost went up).
            entry["hash"] = user.password
            refreshed = True
            shown[name] = password
        else:
            shown[name] = None
    if refreshed:
        _write(kept)
    return shown


@transaction.atomic
def reset_passwords(*, skip: Iterable[str] = ()) -> dict[str, str]:
    """New passwords for the demo users (but those in ``skip``), kept; name -> password.

    Their sign-in lockouts are lifted too: whoever forgot a password may have tried a few.
    """
    passwords: dict[str, str] = {}
    skipped = set(skip)
    for user in User.objects.select_for_update().filter(username__in=DEMO_USERS):
        if user.username in skipped:
            continue
        password = secrets.token_urlsafe(9)
        user.set_password(password)
        user.save(update_fields=["password"])
        passwords[user.username] = password
    for name in passwords:
        axes_reset(username=name)
    keep(passwords)
    return {name: passwords[name] for name in DEMO_USERS if name in passwords}


def _read() -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(kept_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(kept: dict[str, dict[str, Any]]) -> None:
    path = kept_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump(kept, file, indent=2)
    os.replace(partial, path)

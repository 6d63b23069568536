"""Settings come from the environment; production settings pass Django's deploy checks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SAGABOARD_"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_check_deploy(tmp_path):
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SAGABOARD_ENV="production",
        DJANGO_SECRET_KEY="k" * 20 + "a-long-random-production-secret-key-0123456789",
        DJANGO_ALLOWED_HOSTS="sagaboard.example.com",
        SAGABOARD_VAR_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = manage("check", SAGABOARD_ENV="production", SAGABOARD_VAR_DIR=str(tmp_path))
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_standalone_defaults_to_sqlite_in_wal_mode(tmp_path):
    code = (
        "import django; django.setup();"
        "from django.db import connection;"
        "c = connection.cursor(); c.execute('PRAGMA journal_mode'); print(c.fetchone()[0]);"
        "print(connection.vendor)"
    )
    clean = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            **clean,
            "DJANGO_SETTINGS_MODULE": "sagaboard.settings",
            "SAGABOARD_VAR_DIR": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["wal", "sqlite"]
    assert (tmp_path / "sagaboard.sqlite3").exists()


def test_the_models_and_their_migrations_agree(tmp_path):
    """A model change without its migration would reach production as a schema that
    differs from the code (an index missing, a column absent)."""
    result = manage(
        "makemigrations", "--check", "--dry-run", DATABASE_URL=f"sqlite:///{tmp_path}/x"
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_database_server_that_never_answers_fails_the_connect_in_seconds():
    """A server that takes the TCP connection and says nothing (a hung host, a black-holed
    proxy) fails a connect after connect_timeout, not after the OS's TCP timeout."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # the kernel completes the handshake; nobody ever answers
    port = silent.getsockname()[1]
    code = (
        "import time, django; django.setup();"
        "from django.db import connection;"
        "began = time.monotonic();\n"
        "try:\n connection.ensure_connection()\n"
        "except Exception as exc:\n print(type(exc).__name__, round(time.monotonic() - began))"
    )
    try:
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "sagaboard.settings",
                "DATABASE_URL": f"postgres://postgres@127.0.0.1:{port}/sagaboard",
            },
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        silent.close()
    assert result.returncode == 0, result.stderr
    name, seconds = result.stdout.split()
    assert name == "OperationalError" and 4 <= int(seconds) <= 10, result.stdout

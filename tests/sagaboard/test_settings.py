"""Settings come from the environment; production settings pass Django's deploy checks."""

from __future__ import annotations

import asyncio
import json
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


def _layer_config(url: str) -> dict:
    """The channel layer's CONFIG the settings make of CHANNEL_LAYER_URL=``url``."""
    script = (
        "import json; from sagaboard import settings; "
        "print(json.dumps(settings.CHANNEL_LAYERS['default']['CONFIG']))"
    )
    env = {**os.environ, "CHANNEL_LAYER_URL": url}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_installations_on_one_redis_server_see_only_their_own_live_events():
    """Redis pub/sub ignores database numbers: the layer's prefix carries it."""
    from channels_redis.pubsub import RedisPubSubChannelLayer

    from engine.direct_send import DirectSender
    from engine.groups import BOARD_GROUP

    base = os.environ.get("CHANNEL_LAYER_URL", "")
    assert base.startswith("redis://"), "needs the suite's Redis (make test sets it)"
    server = base.rsplit("/", 1)[0]
    ours, theirs = (RedisPubSubChannelLayer(**_layer_config(f"{server}/{n}")) for n in (14, 15))
    assert _layer_config(server)["prefix"] == "sagaboard:0"

    async def heard(listener: RedisPubSubChannelLayer, speaker: RedisPubSubChannelLayer) -> int:
        """How many of the two ways a process sends to the board ``listener`` hears: through
        the layer (a web process), and straight to Redis (a worker, engine/streams.py)."""
        channel = await listener.new_channel()
        await listener.group_add(BOARD_GROUP, channel)
        await asyncio.sleep(0.1)  # subscribed
        await speaker.group_send(BOARD_GROUP, {"type": "stream.batch", "events": []})
        sender = DirectSender.for_layer(speaker)
        assert sender is not None
        sender.send([{"run": "r-1", "workflow": "orders", "seq": 1}])
        count = 0
        try:
            while True:
                await asyncio.wait_for(listener.receive(channel), 1)
                count += 1
        except TimeoutError:
            return count
        finally:
            await listener.group_discard(BOARD_GROUP, channel)

    async def check() -> None:
        assert await heard(ours, ours) == 2
        assert await heard(ours, theirs) == 0
        await ours.flush()
        await theirs.flush()

    asyncio.run(check())

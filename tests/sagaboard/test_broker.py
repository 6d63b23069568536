"""The broker transport: a worker that loses Redis while busy neither crashes tearing
its connection down nor acknowledging, after the loss, what it took before it
(sagaboard/broker.py says what kombu does)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from kombu import Connection, Exchange, Queue
from kombu.common import ignore_errors

from bench.topology import ROOT, poll, redis_command, spare_port, wait_redis
from sagaboard.celery import app

TASKS = Queue("tasks", Exchange("tasks", "direct"), "tasks")
#: A worker's remote-control queue is one of these.
CONTROL = Queue("control", Exchange("control", "fanout"), auto_delete=True)
OURS = settings.CELERY_BROKER_TRANSPORT
KOMBUS = None  # the transport the URL names: kombu's own


class RedisServer:
    """A redis-server of the test's own, to stop and start under a connection."""

    def __init__(self, directory: Path) -> None:
        self.port = spare_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.directory = directory
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            redis_command(self.port, self.directory), stdout=subprocess.DEVNULL
        )
        wait_redis(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def busy_worker(server: RedisServer, transport: Any) -> tuple[Connection, Any, list[Any]]:
    """A connection consuming as a worker does (its tasks and a fanout queue), holding
    two messages taken and not yet acknowledged (acks_late), blocked in BRPOP."""
    with Connection(server.url, transport=transport) as producer_connection:
        producer = producer_connection.Producer()
        for n in range(3):
            producer.publish(
                {"n": n}, exchange=TASKS.exchange, routing_key="tasks", declare=[TASKS]
            )
    connection = Connection(server.url, transport=transport)
    taken: list[Any] = []
    consumer = connection.Consumer(
        [TASKS, CONTROL], callbacks=[lambda body, message: taken.append(message)]
    )
    consumer.qos(prefetch_count=2)
    consumer.consume()
    while len(taken) < 2:
        connection.drain_events(timeout=5)
    consumer.channel._brpop_start()  # waiting for the next one
    return connection, consumer, taken


def lose_redis(server: RedisServer, connection: Connection) -> None:
    """Redis goes; Celery's consumer tears the connection down as it does on a lost
    connection: collect it, then close it, ignoring connection errors."""
    server.stop()
    try:
        connection.collect(socket_timeout=1)
    except Exception:
        pass  # as Celery does
    ignore_errors(connection, connection.close)


def test_the_workers_transport_is_ours():
    assert settings.CELERY_BROKER_URL.startswith("redis://")
    with app.connection_for_read() as connection:
        assert type(connection.transport).__module__ == "sagaboard.broker"


def test_a_busy_worker_that_loses_redis_tears_its_connection_down_cleanly(redis_server):
    connection, _, _ = busy_worker(redis_server, OURS)
    lose_redis(redis_server, connection)


def test_a_task_ending_after_the_loss_acknowledges_without_a_crash(redis_server):
    connection, _, taken = busy_worker(redis_server, OURS)
    lose_redis(redis_server, connection)
    redis_server.start()  # back, empty; the worker has reconnected on a new connection
    taken[0].ack()
    taken[1].reject(requeue=True)  # reject_on_worker_lost


def test_kombus_own_transport_still_crashes_there(redis_server):
    """When this fails, kombu has fixed it: sagaboard/broker.py can go."""
    connection, _, taken = busy_worker(redis_server, KOMBUS)
    with pytest.raises(AttributeError, match="hostname"):
        lose_redis(redis_server, connection)
    redis_server.start()
    with pytest.raises(AttributeError, match="'NoneType' object has no attribute"):
        taken[1].ack()


def test_with_redis_there_a_closed_connections_messages_still_go_back(redis_server):
    with Connection(redis_server.url, transport=OURS) as connection:
        connection.Producer().publish(
            {"n": 1}, exchange=TASKS.exchange, routing_key="tasks", declare=[TASKS]
        )
        taken: list[Any] = []
        with connection.Consumer([TASKS], callbacks=[lambda body, message: taken.append(body)]):
            connection.drain_events(timeout=5)
        assert taken == [{"n": 1}]
    # Taken, not acknowledged, the connection closed as a worker stopping closes it:
    # the message is back for the next.
    with Connection(redis_server.url, transport=OURS) as connection:
        again: list[Any] = []
        with connection.Consumer([TASKS], callbacks=[lambda body, message: again.append(body)]):
            connection.drain_events(timeout=5)
        assert again == [{"n": 1}]
        message: list[Any] = []
        connection.Producer().publish(
            {"n": 2}, exchange=TASKS.exchange, routing_key="tasks", declare=[TASKS]
        )
        with connection.Consumer([TASKS], callbacks=[lambda body, m: message.append(m)]):
            connection.drain_events(timeout=5)
        message[0].ack()  # acks go through as ever


# --- TLS (rediss://) ----------------------------------------------------------------------


def openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A redis-server speaking only TLS, with a certificate signed by a CA of the test's
    own (no system trusts it); its port and the CA's certificate."""
    ca_key, ca, key, request, cert, ext = (
        tmp_path / n for n in ("ca.key", "ca.crt", "srv.key", "srv.csr", "srv.crt", "ext")
    )
    new_key = ("-newkey", "rsa:2048", "-nodes", "-days", "1")
    openssl("req", "-x509", *new_key, "-subj", "/CN=test-ca", "-keyout", ca_key, "-out", ca)
    openssl("req", *new_key[:3], "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", request)
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    openssl(
        *("x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial"),
        *("-out", cert, "-days", "1", "-extfile", ext),
    )
    port = spare_port()
    command = [
        *redis_command(0, tmp_path),
        *("--tls-port", str(port), "--tls-cert-file", str(cert), "--tls-key-file", str(key)),
        *("--tls-auth-clients", "no"),
    ]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    try:
        redis_tls = f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={ca}"
        poll(lambda: _round_trip(redis_tls)[0] == 0, timeout=20, what="the TLS redis-server")
        yield port, ca
    finally:
        server.terminate()
        server.wait(10)


_ROUND_TRIP = """
import django
django.setup()
from sagaboard.celery import app
with app.connection_for_write() as connection:
    connection.ensure_connection(max_retries=1, timeout=5)
    print(type(connection.transport).__module__)
    queue = connection.SimpleQueue("tls")
    queue.put("through")
    message = queue.get(timeout=5)
    message.ack()
    print(message.payload)

import asyncio
from channels.layers import get_channel_layer

async def layer_round_trip():
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add("tls", channel)
    await layer.group_send("tls", {"type": "tls", "text": "live"})
    print((await asyncio.wait_for(layer.receive(channel), 5))["text"])

asyncio.run(layer_round_trip())
"""


def _round_trip(broker_url: str, **env: str) -> tuple[int, str]:
    """A message sent and taken back through Celery's broker connection, and one through
    the channel layer, both on ``broker_url`` as the settings configure them: the exit
    status, and the output."""
    done = subprocess.run(
        [sys.executable, "-c", _ROUND_TRIP],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "sagaboard.settings",
            "CELERY_BROKER_URL": broker_url,
            "CHANNEL_LAYER_URL": broker_url,
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, done.stdout + done.stderr


def test_rediss_uses_our_transport_and_checks_the_servers_certificate(tls_redis):
    port, ca = tls_redis
    bare = f"rediss://127.0.0.1:{port}/0"
    # Checked against the system's CAs (here: the test's CA, as the system's store).
    code, out = _round_trip(bare, SSL_CERT_FILE=str(ca))
    assert code == 0, out
    assert out.split() == ["sagaboard.broker", "through", "live"]
    # A certificate no CA vouches for is refused, not used unchecked.
    code, out = _round_trip(bare, SSL_CERT_FILE=os.devnull)
    assert code != 0
    assert "CERTIFICATE_VERIFY_FAILED" in out
    # The URL's own options win: a CA file, or an explicit choice not to check.
    for options in (f"ssl_ca_certs={ca}", "ssl_cert_reqs=none"):
        code, out = _round_trip(f"{bare}?{options}", SSL_CERT_FILE=os.devnull)
        assert code == 0, out
        assert out.split() == ["sagaboard.broker", "through", "live"]

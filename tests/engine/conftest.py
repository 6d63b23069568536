"""A real Celery worker process (with beat, so the reconciler runs) on Redis and PostgreSQL."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings

from bench.topology import Proc, worker_command

ROOT = Path(__file__).resolve().parents[2]


def _test_database_url() -> str:
    db = settings.DATABASES["default"]
    return (
        f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST']}:{db['PORT'] or 5432}"
        f"/{db['NAME']}"
    )


class Worker:
    """``celery -A sagaboard worker`` in its own process group, so a kill takes all of it.

    No beat: a reconciler pass every 2 s could deadlock with the TRUNCATE that
    ends each transactional test. Tests that need the reconciler call
    ``engine.tasks.reconcile()`` themselves, which also makes them deterministic.
    """

    def __init__(self, log_path: Path, live_url: str) -> None:
        env = {
            **os.environ,
            "DATABASE_URL": _test_database_url(),
            "SAGABOARD_BASE_URL": live_url,
            "PYTHONUNBUFFERED": "1",
        }
        command = worker_command(f"test-{time.time_ns()}", concurrency=2, flags=["--loglevel=INFO"])
        self.process = Proc(log_path.stem, command, env, log_path.parent)

    def start(self) -> None:
        since = len(self.process.log)
        self.process.start()
        try:
            self.process.wait_for_log("ready.", timeout=60, since=since)
        except TimeoutError:
            # A fixture that fails to set up is not torn down: leave no worker behind.
            self.process.stop()
            raise

    def alive(self) -> bool:
        return self.process.alive()

    def kill(self) -> None:
        """SIGKILL the worker and its children, as a crash would."""
        self.process.kill()

    def stop(self) -> None:
        self.process.stop()


@pytest.fixture(scope="session")
def broker() -> str:
    url = settings.CELERY_BROKER_URL
    if not url.startswith("redis://"):
        pytest.fail(
            "The engine tests need Redis: set CELERY_BROKER_URL=redis://... (make test does)"
        )
    client = redis.Redis.from_url(url)
    client.ping()  # fails, not skips, when Redis is not there
    return url


@pytest.fixture(scope="session")
def shared_worker(django_db_setup, broker, live_server, tmp_path_factory) -> Iterator[Worker]:
    redis.Redis.from_url(broker).flushdb()
    w = Worker(tmp_path_factory.mktemp("worker") / "worker.log", live_server.url)
    w.start()
    yield w
    w.stop()


#: Run statuses in which the worker may still be writing on its own.
BUSY_RUN_STATUSES = ("pending", "running", "compensating")


def wait_until_settled(timeout: float = 20) -> None:
    """Wait until no run has work the worker would do of its own accord.

    A test may end with runs still moving; the worker writing their steps while
    the test's closing TRUNCATE takes its locks deadlocks the two, the flush
    fails and the next test starts on the last one's rows. Runs left waiting
    for an approval, a callback or an operator are quiet and do not hold this.
    """
    from engine.models import Run

    deadline = time.monotonic() + timeout
    while Run.objects.filter(status__in=BUSY_RUN_STATUSES).exists():
        if time.monotonic() > deadline:
            return  # a test that leaves a run busy on purpose (a killed worker)
        time.sleep(0.05)
    time.sleep(0.1)  # the last commit's messages are sent after it


@pytest.fixture
def operator():
    """Olga, who is given run and operate rights on the workflows she is handed."""
    from tests.factories import UserFactory

    return UserFactory(username="olga")


@pytest.fixture
def worker(shared_worker: Worker) -> Iterator[Worker]:
    """The session's worker; restarted if a test killed it."""
    if not shared_worker.alive():
        shared_worker.start()
    yield shared_worker
    wait_until_settled()

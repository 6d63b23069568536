"""Saga engine benchmark: 10-step sagas against plain Celery chains of 10 tasks.

Runs both against the same Redis, PostgreSQL and worker processes, in one go:

    DATABASE_URL=postgres://... CELERY_BROKER_URL=redis://... python bench/engine.py

Prints, for each: latency p50/p99 of runs started one at a time (a chain, then a
saga, in turn, so that both meet the same noise), and throughput (runs/s,
steps/s and step transitions/s) of N runs started at once, then the ratios. A
step transition is one change of a step's status (pending -> running ->
succeeded is two). The engine's tables are vacuumed first: this machine's
PostgreSQL runs without autovacuum, and each run would be slower than the last.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402
from bench.topology import worker_command  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sagaboard.settings")

STEPS = 10


def setup_django() -> None:
    if not os.environ.get("CELERY_BROKER_URL", "").startswith("redis"):
        sys.exit("Set CELERY_BROKER_URL to a Redis URL.")
    common.setup_django()


def bench_workflow():
    from django.contrib.auth.models import User

    from designer import services
    from designer.models import Workflow

    author, _ = User.objects.get_or_create(username="bench-author")
    reviewer, _ = User.objects.get_or_create(username="bench-reviewer", defaults={"is_staff": True})
    slug = "bench-noop"
    workflow = Workflow.objects.filter(slug=slug).first()
    if workflow and workflow.published_version:
        return workflow
    if workflow is None:
        workflow = services.workflow_create(by=author, slug=slug, name="Benchmark: 10 no-op steps")
    steps = [
        {
            "id": f"s{i}",
            "name": f"Step {i}",
            "type": "task",
            "after": [f"s{i - 1}"] if i else [],
            "action": {"name": "demo.noop"},
        }
        for i in range(STEPS)
    ]
    spec = {"format": "sagaboard/v1", "description": "benchmark", "steps": steps}
    common.publish(workflow, spec, author=author, reviewer=reviewer)
    workflow.refresh_from_db()
    return workflow


def start_workers(count: int, concurrency: int, pool: str) -> list[subprocess.Popen]:
    procs = []
    for i in range(count):
        procs.append(
            subprocess.Popen(
                worker_command(
                    f"bench{i}-{uuid.uuid4().hex[:6]}",
                    concurrency=concurrency,
                    pool=pool,
                    flags=[
                        "--loglevel=WARNING",
                        "--without-gossip",
                        "--without-mingle",
                        "--without-heartbeat",
                    ],
                ),
                cwd=ROOT,
                start_new_session=True,
            )
        )
    return procs


def wait_ready(timeout: float = 60) -> None:
    from sagaboard.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if app.control.ping(timeout=0.5):
            return
    sys.exit("the workers did not start")


def run_sagas(workflow, n: int, *, together: bool) -> tuple[list[float], float]:
    """Start ``n`` sagas; latencies (s) from the database's timestamps, and the wall time."""
    from engine.models import Run
    from engine.services import run_start

    ids = []
    latencies = []
    begin = time.time()
    for _ in range(n):
        run, _ = run_start(workflow=workflow, by=None, input={})
        ids.append(run.pk)
        if not together:
            latencies.append(wait_runs([run.pk])[0])
    if together:
        latencies = wait_runs(ids)
    wall = time.time() - begin
    bad = Run.objects.filter(pk__in=ids).exclude(status="completed").count()
    if bad:
        sys.exit(f"{bad} sagas did not complete")
    return latencies, wall


def wait_runs(ids: list, timeout: float = 600) -> list[float]:
    from engine.models import Run

    deadline = time.monotonic() + timeout
    while True:
        rows = list(
            Run.objects.filter(pk__in=ids).values_list("status", "created_at", "finished_at")
        )
        if all(status in ("completed", "compensated", "stuck") for status, _, _ in rows):
            return [(finished - created).total_seconds() for _, created, finished in rows]
        if time.monotonic() > deadline:
            sys.exit("sagas did not finish in time")
        time.sleep(0.02 if len(ids) == 1 else 0.1)


def run_chains(n: int, *, together: bool) -> tuple[list[float], float]:
    import redis
    from celery import chain

    from demo.tasks import chain_done, noop

    client = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"], socket_timeout=None)
    key = f"bench:chains:{uuid.uuid4().hex}"
    starts: list[float] = []
    latencies: list[float] = []
    begin = time.time()
    for _ in range(n):
        start = time.time()
        starts.append(start)
        chain(*[noop.si() for _ in range(STEPS - 1)], chain_done.si(key)).apply_async()
        if not together:
            _, done = client.blpop([key], timeout=60)
            latencies.append(float(done) - start)
    if together:
        finished = [float(client.blpop([key], timeout=600)[1]) for _ in range(n)]
        latencies = [end - begin for end in sorted(finished)]
    wall = time.time() - begin
    client.delete(key)
    return latencies, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequential", type=int, default=100, help="runs timed one at a time")
    parser.add_argument("--concurrent", type=int, default=300, help="runs started at once")
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--concurrency", type=int, default=2, help="pool size per worker")
    parser.add_argument("--pool", default="prefork")
    args = parser.parse_args()

    setup_django()
    workflow = bench_workflow()
    common.vacuum()
    procs = start_workers(args.workers, args.concurrency, args.pool)
    try:
        wait_ready()
        # Warm up both paths (imports, connections, caches).
        run_sagas(workflow, 5, together=False)
        run_chains(5, together=False)

        # One of each in turn, so that both meet the same noise of a shared machine.
        chain_lat, saga_lat = [], []
        for _ in range(args.sequential):
            chain_lat += run_chains(1, together=False)[0]
            saga_lat += run_sagas(workflow, 1, together=False)[0]
        _, chain_wall = run_chains(args.concurrent, together=True)
        _, saga_wall = run_sagas(workflow, args.concurrent, together=True)
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=30)

    n = args.concurrent
    rows = [
        ("", "saga (10 steps)", "plain chain (10 tasks)", "ratio"),
        (
            "p50 latency, ms",
            *_pair(statistics.median(saga_lat), statistics.median(chain_lat), 1000),
        ),
        (
            "p99 latency, ms",
            *_pair(common.percentile(saga_lat, 99), common.percentile(chain_lat, 99), 1000),
        ),
        ("runs/s", *_pair(n / saga_wall, n / chain_wall, 1)),
        ("steps/s", *_pair(n * STEPS / saga_wall, n * STEPS / chain_wall, 1)),
        ("step transitions/s", f"{2 * n * STEPS / saga_wall:.0f}", "-", ""),
    ]
    print(
        f"\n{args.workers} worker process(es) x {args.concurrency} ({args.pool}); "
        f"latency over {args.sequential} runs one at a time, throughput over {n} at once\n"
    )
    for row in rows:
        print(f"{row[0]:<22}{row[1]:>18}{row[2]:>26}{row[3]:>10}")
    print()
    print(
        f"target: saga p50 <= 2.5x chain p50 -> "
        f"{statistics.median(saga_lat) / statistics.median(chain_lat):.2f}x; "
        f"step transitions/s >= 350 -> {2 * n * STEPS / saga_wall:.0f}"
    )


def _pair(saga: float, chain: float, scale: float) -> tuple[str, str, str]:
    return f"{saga * scale:.1f}", f"{chain * scale:.1f}", f"{saga / chain:.2f}x"


if __name__ == "__main__":
    main()

"""Map benchmark: a map of N no-op iterations against the same work as 10-step sagas.

Runs both against the same Redis, PostgreSQL and worker processes, in turn:

    DATABASE_URL=postgres://... CELERY_BROKER_URL=redis://... python bench/maps.py

For each round, a run of one map step over N items (``max_concurrency`` 50 by
default), then N/10 sagas of 10 no-op steps started at once (N steps in all),
each timed from the first start to the last finish; the workers' CPU time is
read from /proc before and after each. Prints iterations/s against steps/s,
CPU per iteration against CPU per step, medians over the rounds, and the
ratio. The target: iterations/s at least the engine's step throughput.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402
from bench.engine import (  # noqa: E402
    bench_workflow,
    run_sagas,
    setup_django,
    start_workers,
    wait_ready,
    wait_runs,
)

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def map_workflow(concurrency: int):
    from django.contrib.auth.models import User

    from designer import services
    from designer.models import Workflow

    author, _ = User.objects.get_or_create(username="bench-author")
    reviewer, _ = User.objects.get_or_create(username="bench-reviewer", defaults={"is_staff": True})
    slug = f"bench-map-{concurrency}"
    workflow = Workflow.objects.filter(slug=slug).first()
    if workflow and workflow.published_version:
        return workflow
    if workflow is None:
        workflow = services.workflow_create(by=author, slug=slug, name="Benchmark: a map")
    spec = {
        "format": "sagaboard/v1",
        "description": "benchmark",
        "steps": [
            {
                "id": "each",
                "type": "map",
                "items": "input.items",
                "max_concurrency": concurrency,
                "do": {"type": "task", "action": {"name": "demo.noop"}},
            }
        ],
    }
    common.publish(workflow, spec, author=author, reviewer=reviewer)
    workflow.refresh_from_db()
    return workflow


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU of ``pids`` and every process below them, so far."""
    total = 0.0
    for pid in _tree(pids):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def _tree(pids: list[int]) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], list(pids)
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def run_map(workflow, items: int) -> float:
    from engine.models import Run
    from engine.services import run_start

    begin = time.time()
    run, _ = run_start(workflow=workflow, by=None, input={"items": list(range(items))})
    wait_runs([run.pk], timeout=900)
    wall = time.time() - begin
    status = Run.objects.values_list("status", flat=True).get(pk=run.pk)
    if status != "completed":
        sys.exit(f"the map ended {status}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--max-concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--concurrency", type=int, default=2, help="pool size per worker")
    args = parser.parse_args()

    setup_django()
    mapped = map_workflow(args.max_concurrency)
    sagas = bench_workflow()
    common.vacuum()
    procs = start_workers(args.workers, args.concurrency, "prefork")
    pids = [p.pid for p in procs]
    rates: dict[str, list[float]] = {"map": [], "sagas": []}
    cpus: dict[str, list[float]] = {"map": [], "sagas": []}
    try:
        wait_ready()
        run_map(mapped, 50)
        run_sagas(sagas, 5, together=True)
        for _ in range(args.rounds):
            before = cpu_seconds(pids)
            wall = run_map(mapped, args.items)
            used = cpu_seconds(pids) - before
            rates["map"].append(args.items / wall)
            cpus["map"].append(used / args.items)
            before = cpu_seconds(pids)
            _, wall = run_sagas(sagas, args.items // 10, together=True)
            used = cpu_seconds(pids) - before
            rates["sagas"].append(args.items / wall)
            cpus["sagas"].append(used / args.items)
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=30)

    per_map = statistics.median(rates["map"])
    per_saga = statistics.median(rates["sagas"])
    print(
        f"\n{args.workers} worker process(es) x {args.concurrency}; a map of {args.items} "
        f"no-op iterations (max_concurrency {args.max_concurrency}) against "
        f"{args.items // 10} sagas of 10 no-op steps at once, {args.rounds} rounds in turn\n"
    )
    print(f"{'':<26}{'map':>16}{'10-step sagas':>18}{'ratio':>10}")
    print(
        f"{'iterations or steps/s':<26}{per_map:>16.0f}{per_saga:>18.0f}{per_map / per_saga:>9.2f}x"
    )
    cpu_map = statistics.median(cpus["map"]) * 1000
    cpu_saga = statistics.median(cpus["sagas"]) * 1000
    print(
        f"{'worker CPU ms per unit':<26}{cpu_map:>16.2f}{cpu_saga:>18.2f}"
        f"{cpu_map / cpu_saga:>9.2f}x"
    )
    rounds = {kind: [round(r) for r in found] for kind, found in rates.items()}
    print(f"rounds: map {rounds['map']}, sagas {rounds['sagas']}")
    print(f"\ntarget: iterations/s >= the engine's steps/s -> {per_map / per_saga:.2f}x")


if __name__ == "__main__":
    main()

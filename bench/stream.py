"""Live stream benchmark: commit-to-client latency through the real publish path,
next to a bare channels-redis group_send measured in the same run.

    DATABASE_URL=postgres://... CHANNEL_LAYER_URL=redis://... python bench/stream.py

For each of two phases, in turn for ``--rounds`` rounds (latencies pooled per
phase, so that both meet the same noise of a shared machine), a fresh uvicorn process serves the
ASGI app on a spare port; ``--clients`` WebSocket clients (in ``--client-procs``
processes of their own) watch, and producer processes emit ``--rate`` events
per second (two per commit or message) for ``--seconds`` after a warm-up:

- bare: one producer awaits ``group_send`` on a long-lived loop, one message per
  commit (events of the real shape, pre-encoded), to a minimal consumer that
  forwards each message as one frame. No database, no access check, no
  ordering, no pacing: the floor of what channels-redis and uvicorn cost.
- sagaboard: ``--producers`` processes (as Celery's prefork workers are) commit
  to PostgreSQL and publish through ``engine.services.after_commit`` and
  ``engine.streams.publish`` to ``/ws/board/`` sockets of a staff user.
  ``--mode log`` appends two events per transaction; ``--mode engine`` applies
  step outcomes through ``engine.services.run_apply`` (far more CPU a commit).

Latency runs from the start of the on-commit hook (bare: from just before
``group_send``) to the frame's arrival at its client; all processes read the
same monotonic clock. Prints p50/p99/max, events lost or duplicated, server CPU
and the ratio. ``--layer`` picks the channels-redis backend (default: as the
settings say). The database named by DATABASE_URL is created and migrated if
needed; its channel-layer Redis database gets ordinary traffic only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sagaboard.settings")

BARE_GROUP = "bench.bare"
WORKFLOW = "bench-stream-10"
STEPS = 10
WARMUP_S = 2.0


def setup_django(*, migrate: bool) -> None:
    if not os.environ.get("CHANNEL_LAYER_URL", "").startswith("redis"):
        sys.exit("Set CHANNEL_LAYER_URL to a Redis URL.")
    common.setup_django(migrate=migrate)
    use_layer(os.environ.get("BENCH_LAYER", "settings"))


LAYERS = {
    "core": "channels_redis.core.RedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
}


def use_layer(name: str) -> None:
    """Run on the channels-redis backend ``name`` (or the settings' own) with their CONFIG."""
    from django.conf import settings

    if name in LAYERS:
        settings.CHANNEL_LAYERS["default"]["BACKEND"] = LAYERS[name]


def prepare() -> str:
    """The bench workflow (a chain of demo.noop steps) and a staff session; the cookie."""
    from django.contrib.auth.models import User
    from django.test import Client

    from designer import services
    from designer.models import Workflow

    author, _ = User.objects.get_or_create(username="bench-author")
    reviewer, _ = User.objects.get_or_create(username="bench-reviewer", defaults={"is_staff": True})
    watcher, _ = User.objects.get_or_create(username="bench-watcher", defaults={"is_staff": True})
    workflow = Workflow.objects.filter(slug=WORKFLOW).first()
    if workflow is None:
        workflow = services.workflow_create(by=author, slug=WORKFLOW, name="Stream bench")
    if workflow.published_version is None:
        spec = {
            "format": "sagaboard/v1",
            "steps": [
                {
                    "id": f"s{i}",
                    "name": f"Step {i}",
                    "type": "task",
                    "after": [f"s{i - 1}"] if i else [],
                    "action": {"name": "demo.noop", "args": {}},
                }
                for i in range(STEPS)
            ],
        }
        common.publish(workflow, spec, author=author, reviewer=reviewer)
    client = Client()
    client.force_login(watcher)
    return f"sessionid={client.cookies['sessionid'].value}"


# The server process


def serve(port: int, frame_interval: float | None) -> None:
    """uvicorn with the real application, plus the bare consumer at /bench/bare/."""
    import django

    django.setup()
    use_layer(os.environ.get("BENCH_LAYER", "settings"))
    import uvicorn
    from channels.generic.websocket import AsyncWebsocketConsumer

    from engine.consumers import StreamConsumer
    from sagaboard.asgi import application

    if frame_interval is not None:
        StreamConsumer.FRAME_INTERVAL = frame_interval

    class BareConsumer(AsyncWebsocketConsumer):
        async def connect(self) -> None:
            await self.channel_layer.group_add(BARE_GROUP, self.channel_name)
            await self.accept()

        async def disconnect(self, code: int) -> None:
            await self.channel_layer.group_discard(BARE_GROUP, self.channel_name)

        async def dispatch(self, message: dict[str, Any]) -> None:
            # The floor: no per-message database clean-up hop either.
            if message["type"] == "bare.frame":
                await self.send(text_data=message["text"])
            else:
                await super().dispatch(message)

    bare = BareConsumer.as_asgi()

    async def app(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket" and scope["path"] == "/bench/bare/":
            await bare(scope, receive, send)
        else:
            await application(scope, receive, send)

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")


# The producer processes


def produce_sagaboard(rate: float, seconds: float, out: str, mode: str, start: float) -> None:
    """Commit at ``rate`` events/s (two per commit); write when each commit's on-commit
    hook began. ``engine``: step outcomes through ``engine.services.run_apply``;
    ``log``: the same two events appended in a plain transaction (no decision), then
    the same ``services.after_commit``."""
    setup_django(migrate=False)
    from django.db import transaction
    from django.utils import timezone

    import saga
    from designer.models import Workflow
    from engine import services
    from engine.eventlog import event_message
    from engine.models import Run, StepRun
    from engine.store import append_events
    from engine.streams import flush

    sent: dict[str, float] = {}
    real_after_commit = services.after_commit

    def timed(run_id: str, commands: list, messages: list[dict[str, Any]]) -> None:
        now = time.monotonic()
        for m in messages:
            sent[f"{m['run']}:{m['seq']}"] = now
        real_after_commit(run_id, commands, messages)

    services.after_commit = timed
    workflow = Workflow.objects.get(slug=WORKFLOW)
    emits = [
        saga.Emit(saga.EventType.STEP_SUCCEEDED, "s0", "succeeded", 1),
        saga.Emit(saga.EventType.STEP_STARTED, "s1", "running", 1),
    ]

    def append(run_id: Any) -> None:
        with transaction.atomic():
            run = Run.objects.select_for_update().get(pk=run_id)
            events = append_events(run, emits, now=timezone.now())
            Run.objects.filter(pk=run_id).update(last_seq=run.last_seq, updated_at=timezone.now())
            messages = [event_message(e, WORKFLOW, "running") for e in events]
            transaction.on_commit(lambda: services.after_commit(str(run_id), [], messages))

    interval = 2 / rate
    run_id = None
    n = 0
    while time.monotonic() - start < seconds:
        delay = start + n * interval - time.monotonic()
        n += 1
        if delay > 0:
            time.sleep(delay)
        if mode == "log":
            if run_id is None or n % 100 == 0:
                run_id = services.run_start(workflow=workflow, by=None, input={})[0].pk
            else:
                append(run_id)
            continue
        running = None
        if run_id is not None:
            running = (
                StepRun.objects.filter(run_id=run_id, status="running")
                .values_list("step_id", "attempt")
                .first()
            )
        if running is None:
            run_id = services.run_start(workflow=workflow, by=None, input={})[0].pk
        else:
            services.run_apply(run_id, saga.StepSucceeded(running[0], running[1], {}))
    flush(5)
    Path(out).write_text(json.dumps(sent))


def produce_bare(rate: float, seconds: float, out: str, start: float) -> None:
    """group_send at ``rate`` events/s (two per message) from one long-lived loop."""
    setup_django(migrate=False)
    from channels.layers import get_channel_layer

    async def main() -> dict[str, float]:
        layer = get_channel_layer()
        sent: dict[str, float] = {}
        run = str(uuid.uuid4())
        interval = 2 / rate
        n = 0
        while time.monotonic() - start < seconds:
            n += 1
            delay = start + n * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            keys = [f"{run}:{2 * n}", f"{run}:{2 * n + 1}"]
            # Events of the same shape and size as the real ones.
            events = [
                {
                    "type": "event",
                    "run": run,
                    "workflow": WORKFLOW,
                    "seq": int(k.rsplit(":", 1)[1]),
                    "event": "step.succeeded",
                    "step": "s0",
                    "status": "succeeded",
                    "attempt": 1,
                    "at": "2026-01-01T00:00:00.000000+00:00",
                    "latency_ms": None,
                    "error": None,
                    "actor": None,
                }
                for k in keys
            ]
            text = json.dumps({"type": "batch", "events": events}, separators=(",", ":"))
            now = time.monotonic()
            for k in keys:
                sent[k] = now
            await layer.group_send(BARE_GROUP, {"type": "bare.frame", "text": text})
        return sent

    Path(out).write_text(json.dumps(asyncio.run(main())))


# The clients (this process)


async def client(url: str, cookie: str, origin: str, got: list, deflate: bool) -> None:
    from websockets.asyncio.client import connect

    async with connect(
        url,
        origin=origin,  # type: ignore[arg-type]
        additional_headers={"Cookie": cookie},
        proxy=None,
        max_size=None,
        ping_interval=None,
        # Browsers offer permessage-deflate, and uvicorn accepts it by default.
        compression="deflate" if deflate else None,
    ) as ws:
        got.append(None)  # connected
        async for frame in ws:
            got.append((time.monotonic(), frame))


def watch(url: str, cookie: str, origin: str, count: int, out: str, deflate: bool) -> None:
    """A client process: ``count`` sockets; prints "ready", reads frames until stdin
    closes, then writes each socket's arrival times per event."""

    async def main() -> list[dict[str, list[float]]]:
        got: list[list] = [[] for _ in range(count)]
        tasks = [asyncio.create_task(client(url, cookie, origin, g, deflate)) for g in got]
        while not all(g for g in got):
            await asyncio.sleep(0.05)
            for task in tasks:
                if task.done():
                    task.result()  # a failed connection fails the bench
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return [received(g[1:]) for g in got]

    Path(out).write_text(json.dumps(asyncio.run(main())))


def received(frames: list[tuple[float, str]]) -> dict[str, list[float]]:
    """Arrival times per event key; a key seen twice has two times."""
    times: dict[str, list[float]] = {}
    for at, text in frames:
        frame = json.loads(text)
        events = frame["events"] if frame["type"] == "batch" else [frame]
        for event in events:
            if event.get("type") == "event":
                times.setdefault(f"{event['run']}:{event['seq']}", []).append(at)
    times["frames"] = [float(len(frames))]
    return times


def temp_path() -> str:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        return out.name


async def phase(name: str, args: argparse.Namespace, port: int, cookie: str) -> dict[str, Any]:
    path = "/bench/bare/" if name == "bare" else "/ws/board/"
    url, origin = f"ws://127.0.0.1:{port}{path}", f"http://127.0.0.1:{port}"
    # Clients in processes of their own, so that reading frames does not slow the server
    # or skew the arrival times.
    watchers = []
    for i in range(args.client_procs):
        count = args.clients // args.client_procs + (i < args.clients % args.client_procs)
        out = temp_path()
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            f"--watch={url}",
            f"--cookie={cookie}",
            f"--origin={origin}",
            f"--clients={count}",
            f"--out={out}",
            *([] if args.deflate else ["--no-deflate"]),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        watchers.append((proc, out))
    for proc, _ in watchers:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)  # type: ignore[union-attr]
        assert line.strip() == b"ready", line
    await asyncio.sleep(1.0)  # every socket subscribed and snapshotted
    # Producers are processes, as Celery's prefork workers are: one committing
    # thread each, sharing the rate.
    count = 1 if name == "bare" else args.producers
    # One start for all, on the monotonic clock every process shares, after their
    # set-up; each producer's commits fall between the others'.
    begin = time.monotonic() + 5.0
    producers = []
    for i in range(count):
        out = temp_path()
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            f"--produce={name}",
            f"--mode={args.mode}",
            f"--rate={args.rate / count}",
            f"--seconds={args.seconds + WARMUP_S}",
            f"--start={begin + i * 2 / args.rate}",
            f"--out={out}",
            # The broker's nudges are beside the point here, and no worker takes them.
            env={**os.environ, "CELERY_BROKER_URL": "memory://localhost/"},
        )
        producers.append((proc, out))
    sent: dict[str, float] = {}
    for proc, out in producers:
        await proc.wait()
        sent.update(json.loads(Path(out).read_text()))
        os.unlink(out)
    await asyncio.sleep(1.0)  # the last frames
    sockets: list[dict[str, list[float]]] = []
    for proc, out in watchers:
        proc.stdin.close()  # type: ignore[union-attr]
        await proc.wait()
        sockets += json.loads(Path(out).read_text())
        os.unlink(out)
    cutoff = min(sent.values()) + WARMUP_S
    measured = {k: t for k, t in sent.items() if t >= cutoff}
    latencies: list[float] = []
    lost = duplicates = frames = 0
    for arrivals in sockets:
        frames += int(arrivals.pop("frames")[0])
        for key, t in measured.items():
            times = arrivals.get(key)
            if not times:
                lost += 1
                continue
            duplicates += len(times) - 1
            latencies.append((times[0] - t) * 1000)
    return {
        "name": name,
        "latencies": latencies,
        "events": len(measured),
        "sent": len(sent),
        "frames": frames,
        "elapsed": args.seconds + WARMUP_S,
        "lost": lost,
        "duplicates": duplicates,
    }


def summary(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One phase's figures over all its rounds, latencies pooled."""
    latencies = [ms for r in rounds for ms in r["latencies"]]
    elapsed = sum(r["elapsed"] for r in rounds)
    return {
        "name": rounds[0]["name"],
        "events": sum(r["events"] for r in rounds),
        "rate": sum(r["sent"] for r in rounds) / elapsed,
        "frames_per_s": sum(r["frames"] for r in rounds) / elapsed,
        "p50": common.percentile(latencies, 50) if latencies else float("nan"),
        "p99": common.percentile(latencies, 99) if latencies else float("nan"),
        "max": max(latencies) if latencies else float("nan"),
        "mean": statistics.fmean(latencies) if latencies else float("nan"),
        "lost": sum(r["lost"] for r in rounds),
        "duplicates": sum(r["duplicates"] for r in rounds),
        "server_cpu": sum(r["server_cpu"] for r in rounds),
    }


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def spare_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the server did not listen on port {port}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rate", type=float, default=200, help="events per second")
    parser.add_argument("--seconds", type=float, default=20, help="measured seconds per phase")
    parser.add_argument(
        "--rounds", type=int, default=3, help="the phases in turn, this many times (pooled)"
    )
    parser.add_argument(
        "--phases", default="bare,sagaboard", help="which phases, in order (default both)"
    )
    parser.add_argument(
        "--mode",
        choices=["log", "engine"],
        default="log",
        help="sagaboard producer: append events in a transaction (log) or apply step "
        "outcomes through the engine (engine; about 15 ms of CPU a commit here)",
    )
    parser.add_argument("--producers", type=int, default=2, help="producer processes")
    parser.add_argument("--client-procs", type=int, default=2, help="client processes")
    parser.add_argument(
        "--frame-interval", type=float, help="StreamConsumer.FRAME_INTERVAL, in seconds"
    )
    parser.add_argument(
        "--no-deflate",
        dest="deflate",
        action="store_false",
        help="clients do not offer permessage-deflate (as with uvicorn --ws-per-message-deflate "
        "false)",
    )
    parser.add_argument(
        "--layer",
        choices=["settings", *sorted(LAYERS)],
        default="settings",
        help="channels-redis backend of server and producers (default: as the settings say)",
    )
    parser.add_argument("--watch", help=argparse.SUPPRESS)
    parser.add_argument("--cookie", help=argparse.SUPPRESS)
    parser.add_argument("--origin", help=argparse.SUPPRESS)
    parser.add_argument("--start", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--produce", choices=["bare", "sagaboard"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.frame_interval)
        return
    if args.watch:
        watch(args.watch, args.cookie, args.origin, args.clients, args.out, args.deflate)
        return
    if args.produce == "bare":
        produce_bare(args.rate, args.seconds, args.out, args.start)
        return
    if args.produce == "sagaboard":
        produce_sagaboard(args.rate, args.seconds, args.out, args.mode, args.start)
        return

    # Every process this one starts reads it: server, producers.
    os.environ["BENCH_LAYER"] = args.layer
    setup_django(migrate=True)
    cookie = prepare()
    common.vacuum()
    names = args.phases.split(",")
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    # The phases in turn, ``--rounds`` times: on a shared machine each meets the
    # same noise, rather than one the quiet minute and the other the busy one.
    for _ in range(args.rounds):
        for name in names:
            # A fresh server per phase (a new process channel): one phase's backlog
            # must not slow the next.
            port = spare_port()
            command = [sys.executable, __file__, f"--serve={port}"]
            if args.frame_interval is not None:
                command.append(f"--frame-interval={args.frame_interval}")
            server = subprocess.Popen(command)
            try:
                wait_port(port)
                before = cpu_seconds(server.pid)
                result = asyncio.run(phase(name, args, port, cookie))
                result["server_cpu"] = cpu_seconds(server.pid) - before
                rounds[name].append(result)
            finally:
                server.terminate()
                server.wait(10)
    report([summary(rounds[name]) for name in names], args)


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    from django.conf import settings

    print(
        f"\n{args.clients} clients on /ws/board/, {args.rate:g} events/s offered, "
        f"{args.seconds:g} s measured per phase and round, {args.rounds} rounds, "
        f"producer mode {args.mode} "
        f"({args.producers} processes), frame interval "
        f"{args.frame_interval if args.frame_interval is not None else 'default'}, "
        f"permessage-deflate {'on' if args.deflate else 'off'}, "
        f"layer {settings.CHANNEL_LAYERS['default']['BACKEND'].rsplit('.', 1)[-1]}; "
        f"load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} CPUs\n"
    )
    header = (
        f"{'':<12}{'events/s':>9}{'frames/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"{'mean ms':>9}{'lost':>7}{'dups':>6}{'server CPU':>12}"
    )
    print(header)
    for r in results:
        print(
            f"{r['name']:<12}{r['rate']:>9.0f}{r['frames_per_s']:>10.0f}{r['p50']:>9.1f}"
            f"{r['p99']:>9.1f}{r['max']:>9.1f}{r['mean']:>9.1f}{r['lost']:>7}{r['duplicates']:>6}"
            f"{r['server_cpu']:>10.1f} s"
        )
    if len(results) != 2:
        return
    bare, ours = results
    print(
        f"\nsagaboard / bare: p50 {ours['p50'] / bare['p50']:.2f}x, "
        f"p99 {ours['p99'] / bare['p99']:.2f}x "
        f"(target: p99 < 100 ms and within 2x of bare)"
    )


if __name__ == "__main__":
    main()

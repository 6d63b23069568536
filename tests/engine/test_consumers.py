"""The live streams over WebSockets, on the real Redis channel layer and PostgreSQL.

Runs are driven through the engine's services: their steps are hour-long
delays whose timers the tests fire, so no Celery worker moves them on behind
the tests' backs, and every event reaches the sockets through the real
publish path, after its commit. One test runs a run on a real worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from channels_redis.core import RedisChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import OperationalError, connection, transaction
from django.test import Client
from guardian.shortcuts import remove_perm

import saga
from engine import consumers, eventlog, groups, hub, services, streams
from engine.consumers import (
    CLOSE_BAD_REQUEST,
    CLOSE_FORBIDDEN,
    CLOSE_NO_STREAM,
    CLOSE_TOO_SLOW,
    CLOSE_UNAUTHENTICATED,
)
from engine.direct_send import DirectSender
from engine.models import Run
from sagaboard.asgi import application
from tests.factories import UserFactory, grant, make_published, make_workflow

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://127.0.0.1")


def chain(n: int = 12, *, kind: str = "delay") -> dict[str, Any]:
    """Steps s0 -> s1 -> ...: hour-long delays, which only the test moves on (a Celery
    worker left running by other tests never touches them), or demo.noop tasks."""
    action = {"seconds": 3600} if kind == "delay" else {"name": "demo.noop", "args": {}}
    return {
        "format": "sagaboard/v1",
        "steps": [
            {
                "id": f"s{i}",
                "name": f"Step {i}",
                "type": kind,
                "after": [f"s{i - 1}"] if i else [],
                "action": action,
            }
            for i in range(n)
        ],
    }


@pytest.fixture(autouse=True)
def redis_layer() -> None:
    """The Redis channel layer, emptied. Fails (never skips) without it."""
    backend = settings.CHANNEL_LAYERS["default"]["BACKEND"]
    if not backend.startswith("channels_redis."):
        pytest.fail("The stream tests need CHANNEL_LAYER_URL=redis://... (make test sets it)")
    client = redis.Redis.from_url(settings.CHANNEL_LAYER_URL)
    client.ping()
    client.flushdb()
    # A fresh layer object per test: each test runs its own event loop.
    channel_layers.backends.pop("default", None)
    assert isinstance(channel_layers["default"], RedisChannelLayer | RedisPubSubChannelLayer)


@pytest.fixture
def viewer():
    return UserFactory(username="vera")


@pytest.fixture
def orders(viewer):
    workflow = make_workflow("orders")
    make_published(workflow, chain())
    grant(viewer, workflow, "view_workflow")
    return workflow


@pytest.fixture
def secret():
    workflow = make_workflow("secret")
    make_published(workflow, chain())
    return workflow


def start(workflow) -> str:
    """A new run: run.started and step.waiting(s0), seq 1 and 2."""
    run, _ = services.run_start(workflow=workflow, by=None, input={})
    return str(run.pk)


def fire(run_id: str) -> None:
    """The waiting delay's timer fires: step.succeeded and the next step.waiting."""
    row = Run.objects.get(pk=run_id).steps.get(status="waiting")
    services.run_apply(run_id, saga.TimerFired(row.step_id, row.attempt))


def advance(run_id: str, times: int = 1) -> int:
    """Move the run on ``times`` steps (two events each); the run's last seq."""
    for _ in range(times):
        fire(run_id)
    return Run.objects.get(pk=run_id).last_seq


def cookie(user) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


async def socket(path: str, user=None, headers: list | None = None) -> WebsocketCommunicator:
    if headers is None:
        headers = [ORIGIN]
        if user is not None:
            headers.append(await db(cookie)(user))
    return WebsocketCommunicator(application, path, headers=headers)


def asynchronous(test: Callable[..., Any]) -> Callable[..., Any]:
    """Run an async test body; its sync calls run on the test's thread and connection."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        async_to_sync(test)(*args, **kwargs)

    return run


db = sync_to_async


async def opened(comm: WebsocketCommunicator) -> WebsocketCommunicator:
    connected, _ = await comm.connect(timeout=5)
    assert connected
    return comm


async def frames(comm: WebsocketCommunicator, stop: Callable[[list[dict]], bool], timeout=10):
    """Frames until ``stop(frames so far)``."""
    seen: list[dict] = []
    async with asyncio.timeout(timeout):
        while not stop(seen):
            output = await comm.receive_output(timeout)
            assert output["type"] == "websocket.send", output
            seen.append(json.loads(output["text"]))
    return seen


def flat(seen: list[dict]) -> list[dict]:
    """The events of event and batch frames, in order."""
    out: list[dict] = []
    for frame in seen:
        if frame["type"] == "event":
            out.append(frame)
        elif frame["type"] == "batch":
            assert len(frame["events"]) > 1
            out.extend(frame["events"])
    return out


async def events_until(comm, run_id: str, seq: int, timeout=10) -> list[dict]:
    def reached(seen: list[dict]) -> bool:
        return any(e["run"] == run_id and e["seq"] >= seq for e in flat(seen))

    return flat(await frames(comm, reached, timeout))


async def closed_with(comm: WebsocketCommunicator, timeout=5) -> int:
    """Read up to the close; the close code. Fails on anything but a close."""
    output = await comm.receive_output(timeout)
    assert output["type"] == "websocket.close", output
    return output["code"]


def seqs(events: list[dict], run_id: str) -> list[int]:
    return [e["seq"] for e in events if e["run"] == run_id]


# Refusals


@asynchronous
async def test_anonymous_is_refused_everywhere(orders):
    run_id = await db(start)(orders)
    for path in ("/ws/board/", "/ws/workflows/orders/", f"/ws/runs/{run_id}/"):
        comm = await opened(await socket(path))
        assert await closed_with(comm) == CLOSE_UNAUTHENTICATED
        await comm.disconnect()


@asynchronous
async def test_refused_without_view_and_learns_nothing(secret):
    outsider = await db(UserFactory)(username="otto")
    secret_run = await db(start)(secret)
    for path in (
        "/ws/workflows/secret/",
        f"/ws/runs/{secret_run}/",
        "/ws/workflows/no-such-workflow/",  # the same answer as for one that exists
        f"/ws/runs/{uuid.uuid4()}/",
        "/ws/runs/not-a-uuid/",
    ):
        comm = await opened(await socket(path, outsider))
        # Nothing but the close: no error text, no snapshot, no event.
        assert await closed_with(comm) == CLOSE_FORBIDDEN, path
        await comm.disconnect()


@asynchronous
async def test_other_origins_and_paths_are_refused(orders, viewer):
    comm = await socket(
        "/ws/board/", headers=[(b"origin", b"http://evil.example"), await db(cookie)(viewer)]
    )
    connected, _ = await comm.connect()
    assert not connected  # the handshake itself is denied
    comm = await opened(await socket("/ws/nothing-here/", viewer))
    assert await closed_with(comm) == CLOSE_NO_STREAM
    await comm.disconnect()


@asynchronous
async def test_withdrawn_permission_closes_the_stream(orders, viewer, monkeypatch):
    monkeypatch.setattr(consumers.StreamConsumer, "RECHECK_EVERY", 0.2)
    run_id = await db(start)(orders)
    comm = await opened(await socket(f"/ws/runs/{run_id}/", viewer))
    await events_until(comm, run_id, 2)
    await db(remove_perm)("designer.view_workflow", viewer, orders)
    assert await closed_with(comm, timeout=5) == CLOSE_FORBIDDEN
    await comm.disconnect()


@asynchronous
async def test_a_failed_access_check_is_tried_again(orders, viewer, monkeypatch):
    monkeypatch.setattr(consumers.StreamConsumer, "RECHECK_EVERY", 0.2)
    real = consumers.StreamConsumer._reauthorize
    failures = []

    def flaky(self):
        if not failures:
            failures.append(1)
            raise OperationalError("the database went away for a moment")
        return real(self)

    monkeypatch.setattr(consumers.StreamConsumer, "_reauthorize", flaky)
    run_id = await db(start)(orders)
    comm = await opened(await socket(f"/ws/runs/{run_id}/", viewer))
    await events_until(comm, run_id, 2)
    await asyncio.sleep(0.5)
    assert failures
    await db(remove_perm)("designer.view_workflow", viewer, orders)
    assert await closed_with(comm, timeout=5) == CLOSE_FORBIDDEN
    await comm.disconnect()


@pytest.fixture
def quick_sweeps(monkeypatch):
    monkeypatch.setattr(hub._Hub, "SWEEP_EVERY", 0.2)
    monkeypatch.setattr(hub._Hub, "SWEEP_SETTLE", 0.0)


@contextlib.contextmanager
def lose_publishes(monkeypatch) -> Iterator[None]:
    """Within the block, commits reach the log but never the layer."""
    with monkeypatch.context() as lost:
        lost.setattr(streams._publisher, "submit", lambda batch: 0)
        yield


@asynchronous
async def test_a_run_streams_last_events_lost_on_the_way_still_arrive(
    orders, viewer, monkeypatch, quick_sweeps
):
    """Nothing follows the lost commit to reveal the gap: the process's sweep finds the
    log ahead of what the socket was sent, and hands it the rest, once."""
    run_id = await db(start)(orders)
    comm = await opened(await socket(f"/ws/runs/{run_id}/", viewer))
    await events_until(comm, run_id, 2)
    with lose_publishes(monkeypatch):
        last = await db(advance)(run_id)  # seq 3, 4: never published
    assert seqs(await events_until(comm, run_id, last, timeout=5), run_id) == [3, 4]
    assert await comm.receive_nothing(0.6)  # and not again at the next sweep
    await comm.disconnect()


@asynchronous
async def test_the_boards_lost_events_still_arrive_and_only_where_visible(
    orders, secret, viewer, monkeypatch, quick_sweeps
):
    mine = await db(start)(orders)
    comm = await opened(await socket("/ws/board/", viewer))
    snapshot = (await frames(comm, lambda seen: bool(seen)))[0]
    assert [r["run"] for r in snapshot["runs"]] == [mine]
    with lose_publishes(monkeypatch):
        last = await db(advance)(mine)  # seq 3, 4 of a run the board follows
        new = await db(start)(orders)  # a run the board never heard of
        await db(start)(secret)  # a run it may not see

    def both(seen: list[dict]) -> bool:
        got = flat(seen)
        return seqs(got, mine)[-1:] == [last] and seqs(got, new)[-1:] == [2]

    events = flat(await frames(comm, both, timeout=5))
    assert seqs(events, mine) == [3, 4]
    assert seqs(events, new) == [1, 2]
    assert {e["workflow"] for e in events} == {"orders"}
    assert await comm.receive_nothing(0.6)
    await comm.disconnect()


@asynchronous
async def test_the_sweep_does_not_push_runs_a_truncated_snapshot_left_out(
    orders, viewer, monkeypatch, quick_sweeps
):
    """A board holds the newest runs of its snapshot; older ones left out of it stay out,
    rather than coming back through the sweep at every pass."""
    monkeypatch.setattr(consumers.SnapshotConsumer, "SNAPSHOT_LIMIT", 1)
    first = await db(start)(orders)
    watcher = await opened(await socket(f"/ws/runs/{first}/", viewer))  # the sweep starts
    await events_until(watcher, first, 2)
    await db(advance)(first)  # changed within the sweep's window, before the snapshot
    second = await db(start)(orders)
    comm = await opened(await socket("/ws/board/", viewer))
    snapshot = (await frames(comm, lambda seen: bool(seen)))[0]
    assert snapshot["truncated"] and [r["run"] for r in snapshot["runs"]] == [second]
    assert await comm.receive_nothing(1.0)
    await comm.disconnect()
    await watcher.disconnect()


@asynchronous
async def test_ending_the_session_closes_the_stream(orders, viewer, monkeypatch):
    monkeypatch.setattr(consumers.StreamConsumer, "RECHECK_EVERY", 0.2)
    session = await db(cookie)(viewer)
    comm = WebsocketCommunicator(application, "/ws/board/", headers=[ORIGIN, session])
    await opened(comm)
    await frames(comm, lambda seen: len(seen) == 1)  # the snapshot
    key = session[1].decode().split("=", 1)[1]
    await db(lambda: Session.objects.filter(session_key=key).delete())()  # logged out
    assert await closed_with(comm, timeout=5) == CLOSE_UNAUTHENTICATED
    await comm.disconnect()


# The board


@asynchronous
async def test_board_carries_only_visible_workflows(orders, secret, viewer):
    mine = await db(start)(orders)
    theirs = await db(start)(secret)
    comm = await opened(await socket("/ws/board/", viewer))
    snapshot = (await frames(comm, lambda seen: len(seen) == 1))[0]
    assert snapshot["type"] == "snapshot"
    assert [r["run"] for r in snapshot["runs"]] == [mine]
    assert snapshot["runs"][0]["last_seq"] == 2

    await db(advance)(theirs, 3)
    last = await db(advance)(mine, 2)
    await db(advance)(theirs, 2)
    another = await db(start)(orders)
    # The board group is one FIFO: once these arrived, anything earlier did too.
    events = await events_until(comm, another, 2)
    assert {e["workflow"] for e in events} == {"orders"}
    assert seqs(events, mine) == list(range(3, last + 1))  # after the snapshot, no gap
    assert seqs(events, another) == [1, 2]
    assert await comm.receive_nothing(0.3)
    await comm.disconnect()

    staff = await db(UserFactory)(username="sam", is_staff=True)
    comm = await opened(await socket("/ws/board/", staff))
    snapshot = (await frames(comm, lambda seen: len(seen) == 1))[0]
    assert {r["workflow"] for r in snapshot["runs"]} == {"orders", "secret"}
    await comm.disconnect()


@asynchronous
async def test_workflow_stream_carries_that_workflow(orders, viewer):
    other = await db(make_workflow)("other")
    await db(make_published)(other, chain())
    await db(grant)(viewer, other, "view_workflow")
    run_id = await db(start)(orders)
    comm = await opened(await socket("/ws/workflows/orders/", viewer))
    snapshot = (await frames(comm, lambda seen: len(seen) == 1))[0]
    assert [(r["run"], r["last_seq"]) for r in snapshot["runs"]] == [(run_id, 2)]
    await db(start)(other)
    last = await db(advance)(run_id)
    events = await events_until(comm, run_id, last)
    assert {e["workflow"] for e in events} == {"orders"}
    assert seqs(events, run_id) == [3, 4]
    await comm.disconnect()


# Runs: replay, resume, ordering


@asynchronous
async def test_run_stream_replays_then_streams_live(orders, viewer):
    run_id = await db(start)(orders)
    await db(advance)(run_id, 2)
    comm = await opened(await socket(f"/ws/runs/{run_id}/", viewer))
    events = await events_until(comm, run_id, 6)
    assert seqs(events, run_id) == [1, 2, 3, 4, 5, 6]
    first = events[0]
    assert first["event"] == "run.started" and first["workflow"] == "orders"
    assert set(first) >= {
        "type", "run", "seq", "event", "step", "status", "attempt", "at", "latency_ms",
        "error", "actor", "run_status",
    }  # fmt: skip
    assert {e["run_status"] for e in events} == {None}  # replayed: as of now unknown
    last = await db(advance)(run_id)
    live = await events_until(comm, run_id, last)
    assert seqs(live, run_id) == [7, 8]
    status = (await db(Run.objects.get)(pk=run_id)).status
    assert [e["run_status"] for e in live] == [status, status]  # as each commit left it
    assert await comm.receive_nothing(0.3)
    await comm.disconnect()


@asynchronous
async def test_leaving_while_redis_is_away_forgets_the_socket_and_others_stream_on(
    orders, viewer, monkeypatch
):
    run_id = await db(start)(orders)
    board = await opened(await socket("/ws/board/", viewer))
    await frames(board, lambda seen: len(seen) == 1)  # the snapshot
    page = await opened(await socket(f"/ws/runs/{run_id}/", viewer))
    await events_until(page, run_id, 2)
    the_hub = hub._hub()
    layer = the_hub.layer

    async def away(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("Error 111 connecting to redis. Connection refused.")

    monkeypatch.setattr(layer, "group_discard", away)
    await page.disconnect()  # its group emptied; leaving it fails; the socket ends well
    assert all(len(members) == 1 for members in the_hub.members.values())
    assert groups.run_group(run_id) not in the_hub.members
    last = await db(advance)(run_id)
    assert seqs(await events_until(board, run_id, last), run_id) == list(range(3, last + 1))
    await board.disconnect()


@asynchronous
async def test_a_run_on_a_celery_worker_streams_to_its_page(worker, viewer):
    """Published from the worker's processes, through Redis, to this one."""
    workflow = await db(make_workflow)("fast")
    await db(make_published)(workflow, chain(4, kind="task"))
    await db(grant)(viewer, workflow, "view_workflow")
    run_id = await db(start)(workflow)
    comm = await opened(await socket(f"/ws/runs/{run_id}/?after=0", viewer))
    seen: list[dict] = []
    async with asyncio.timeout(30):
        while not seen or seen[-1]["event"] != "run.completed":
            seen += flat(await frames(comm, lambda got: len(got) == 1, timeout=30))
    assert [e["seq"] for e in seen] == list(range(1, len(seen) + 1))
    assert [e["event"] for e in seen].count("step.succeeded") == 4
    await comm.disconnect()


@asynchronous
async def test_resume_after_a_drop_has_no_gap_and_no_duplicate(orders, viewer):
    run_id = await db(start)(orders)
    comm = await opened(await socket(f"/ws/runs/{run_id}/?after=0", viewer))
    have = seqs(await events_until(comm, run_id, 2), run_id)
    await comm.disconnect()  # the connection drops

    await db(advance)(run_id, 2)  # while away: seq 3 to 6
    comm = await opened(await socket(f"/ws/runs/{run_id}/?after={have[-1]}", viewer))
    last = await db(advance)(run_id)  # live: 7, 8
    have += seqs(await events_until(comm, run_id, last), run_id)
    assert have == list(range(1, last + 1))

    # A resume message on an open socket: the client says it has only seq 2.
    await comm.send_json_to({"type": "resume", "after": 2})
    again = seqs(await events_until(comm, run_id, last), run_id)
    assert again == list(range(3, last + 1))
    assert await comm.receive_nothing(0.3)
    await comm.disconnect()


@asynchronous
async def test_events_committed_during_the_replay_arrive_once_in_order(orders, viewer, monkeypatch):
    run_id = await db(start)(orders)
    await db(advance)(run_id, 3)  # seq 1..8 in the log
    real = eventlog.events_after
    calls: list[tuple[int, int]] = []

    def replay_with_commits(
        run: str, workflow: str, after: int, limit: int, **options: Any
    ) -> list[dict]:
        rows = real(run, workflow, after, limit, **options)
        calls.append((after, len(rows)))
        if len(calls) == 1:
            # Committed after the first chunk was read: later chunks read them
            # from the log and they arrive live too.
            advance(run_id, 2)
        elif len(rows) < limit and len(calls) < 10:
            # Committed after the last read: only the live stream has them.
            advance(run_id, 2)
        return rows

    monkeypatch.setattr(consumers.RunConsumer, "REPLAY_CHUNK", 3)
    monkeypatch.setattr(eventlog, "events_after", replay_with_commits)
    comm = await opened(await socket(f"/ws/runs/{run_id}/?after=1", viewer))
    events = await events_until(comm, run_id, 16)
    assert seqs(events, run_id) == list(range(2, 17))
    assert await comm.receive_nothing(0.5)
    assert len(calls) >= 3  # the replay did take several chunks
    await comm.disconnect()


@asynchronous
async def test_a_gap_in_the_live_stream_is_filled_from_the_log(orders, viewer, monkeypatch):
    run_id = await db(start)(orders)
    comm = await opened(await socket(f"/ws/runs/{run_id}/", viewer))
    await events_until(comm, run_id, 2)
    # One commit's events never reach the layer (a failed send, a full channel).
    with monkeypatch.context() as lost:
        lost.setattr(streams._publisher, "submit", lambda batch: None)
        await db(advance)(run_id)  # seq 3, 4
    last = await db(advance)(run_id)  # seq 5, 6
    assert seqs(await events_until(comm, run_id, last), run_id) == [3, 4, 5, 6]
    await comm.disconnect()


@asynchronous
async def test_a_new_runs_first_events_overtaken_on_the_board_are_filled_in(orders, viewer):
    # Each process publishes its own commits: the web process's run.started can reach
    # the layer after a worker's later event of the same run. The board must not take
    # the later one for the run's beginning and then drop the first ones as old.
    comm = await opened(await socket("/ws/board/", viewer))
    snapshot = (await frames(comm, lambda seen: bool(seen)))[0]
    assert snapshot["type"] == "snapshot"
    held: list[list[dict]] = []
    real_submit = streams._publisher.submit
    streams._publisher.submit = lambda batch: held.append(batch) or 0  # type: ignore[method-assign]
    try:
        run_id = await db(start)(orders)  # seq 1, 2: held back
    finally:
        streams._publisher.submit = real_submit  # type: ignore[method-assign]
    last = await db(advance)(run_id)  # seq 3, 4: published at once
    assert seqs(await events_until(comm, run_id, last), run_id) == [1, 2, 3, 4]
    # The overtaken events arrive at last: nothing twice.
    await db(streams.publish)([m for batch in held for m in batch])
    last = await db(advance)(run_id)  # seq 5, 6
    assert seqs(await events_until(comm, run_id, last), run_id) == [5, 6]
    await comm.disconnect()


# Commit, then publish


class Rollback(Exception):
    pass


def hold(run_id: str, applied: threading.Event, release: threading.Event, *, fail: bool) -> None:
    """Apply a step's success in a transaction held open until ``release``; roll it back
    when ``fail``. On its own thread and connection."""
    try:
        with transaction.atomic():
            fire(run_id)
            applied.set()
            release.wait(10)
            if fail:
                raise Rollback
    except Rollback:
        pass
    finally:
        connection.close()


@asynchronous
@pytest.mark.parametrize("fail", [False, True], ids=["committed", "rolled-back"])
async def test_events_reach_clients_only_after_commit(orders, viewer, fail):
    run_id = await db(start)(orders)
    comm = await opened(await socket(f"/ws/runs/{run_id}/", viewer))
    await events_until(comm, run_id, 2)
    applied, release = threading.Event(), threading.Event()
    held = asyncio.ensure_future(
        sync_to_async(hold, thread_sensitive=False)(run_id, applied, release, fail=fail)
    )
    assert await asyncio.to_thread(applied.wait, 10)
    assert await comm.receive_nothing(0.5)  # appended, not committed: nothing
    release.set()
    await held
    if fail:
        assert await comm.receive_nothing(0.5)  # rolled back: never
        await db(services.run_apply)(run_id, saga.CancelRun("olga", "not needed"))
        events = await events_until(comm, run_id, 3)
        assert [(e["seq"], e["event"]) for e in events][0] == (3, "act.cancel")
    else:
        events = await events_until(comm, run_id, 4)
        assert [(e["seq"], e["event"]) for e in events] == [
            (3, "step.succeeded"),
            (4, "step.waiting"),
        ]
    await comm.disconnect()


@asynchronous
async def test_a_publish_from_sync_code_is_what_the_layer_delivers_to_its_group():
    """On the Redis pub/sub layer, sync code publishes with its own client (one pipelined
    round trip): the layer's own members must receive exactly what group_send would give."""
    layer = channel_layers["default"]
    assert isinstance(layer, RedisPubSubChannelLayer)
    channel = await layer.new_channel()
    group = groups.run_group("r-direct")
    await layer.group_add(group, channel)
    events = [
        {"run": "r-direct", "workflow": "w", "seq": 1, "event": "run.started"},
        {"run": "r-direct", "workflow": "w", "seq": 2, "event": "step.started"},
    ]
    await sync_to_async(streams.publish, thread_sensitive=False)(events)
    message = await asyncio.wait_for(layer.receive(channel), 5)
    assert message == {"type": groups.BATCH_TYPE, "group": group, "events": events}
    await layer.group_discard(group, channel)


def test_a_publish_while_redis_is_down_returns_at_once_and_tries_again_later(monkeypatch):
    """The committed state is what matters: a dead Redis costs a worker one short timeout,
    then nothing until the retry pause has passed (clients fill the gap from the log)."""
    sender = DirectSender.for_layer(channel_layers["default"])
    assert sender is not None
    dead = sender.client("redis://127.0.0.1:1/0")  # nothing listens there
    sender.clients = [dead]
    calls = []
    real_pipeline = dead.pipeline
    monkeypatch.setattr(dead, "pipeline", lambda **kw: calls.append(1) or real_pipeline(**kw))
    event = {"run": "r", "workflow": "w", "seq": 1, "event": "run.started"}
    began = time.monotonic()
    sender.send([event])  # refused: logged, not raised
    sender.send([event])  # within the pause: not even tried
    assert time.monotonic() - began < 2
    assert len(calls) == 1
    sender.down_until = 0.0
    sender.send([event])
    assert len(calls) == 2


# Bad input and slow clients


@asynchronous
async def test_malformed_messages_get_an_error_not_a_crash(orders, viewer):
    run_id = await db(start)(orders)
    comm = await opened(await socket(f"/ws/runs/{run_id}/?after=2", viewer))
    bad = [
        "not json",
        "[1, 2]",
        '{"no": "type"}',
        '{"type": "subscribe"}',
        '{"type": "resume", "after": "3"}',
        '{"type": "resume", "after": -1}',
        '{"type": "resume", "after": 1.5}',
        '{"type": "resume", "after": true}',
        '{"type": "resume"}',
        json.dumps({"type": "resume", "after": 1, "pad": "x" * 5000}),
        "[" * 2000 + "]" * 2000,
    ]
    for text in bad:
        await comm.send_to(text_data=text)
        reply = (await frames(comm, lambda seen: len(seen) == 1))[0]
        assert reply["type"] == "error" and reply["detail"], text
    await comm.send_to(bytes_data=b"\x00\x01")
    assert (await frames(comm, lambda seen: len(seen) == 1))[0]["type"] == "error"
    # Still open and well: a ping, then a good resume.
    await comm.send_json_to({"type": "ping"})
    assert (await frames(comm, lambda seen: len(seen) == 1))[0] == {"type": "pong"}
    await comm.send_json_to({"type": "resume", "after": 1})
    assert seqs(await events_until(comm, run_id, 2), run_id) == [2]
    await comm.disconnect()

    comm = await opened(await socket("/ws/board/", viewer))
    await frames(comm, lambda seen: len(seen) == 1)  # the snapshot
    await comm.send_json_to({"type": "resume", "after": 3})
    assert (await frames(comm, lambda seen: len(seen) == 1))[0]["type"] == "error"
    await comm.disconnect()

    comm = await opened(await socket(f"/ws/runs/{run_id}/?after=abc", viewer))
    reply = (await frames(comm, lambda seen: len(seen) == 1))[0]
    assert reply["type"] == "error"
    assert await closed_with(comm) == CLOSE_BAD_REQUEST
    await comm.disconnect()


class SlowReader(WebsocketCommunicator):
    """A client that reads only when the test does: the server's sends block on it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._output_queue = asyncio.Queue(maxsize=1)


@asynchronous
async def test_a_client_too_far_behind_is_closed_and_resumes(orders, viewer, monkeypatch):
    monkeypatch.setattr(consumers.StreamConsumer, "MAX_PENDING", 6)
    run_id = await db(start)(orders)
    comm = SlowReader(application, f"/ws/runs/{run_id}/", [ORIGIN, await db(cookie)(viewer)])
    await opened(comm)
    await events_until(comm, run_id, 2)  # the replay: seq 1 and 2
    last = await db(advance)(run_id, 8)  # 16 events for a client that reads none
    got: list[dict] = []
    while True:
        output = await comm.receive_output(5)
        if output["type"] == "websocket.close":
            assert output["code"] == CLOSE_TOO_SLOW
            break
        got.append(json.loads(output["text"]))
    await comm.disconnect()
    have = seqs(flat(got), run_id)
    assert have and have == list(range(3, 3 + len(have)))  # what it got has no gap
    assert have[-1] < last

    comm = await opened(await socket(f"/ws/runs/{run_id}/?after={have[-1]}", viewer))
    rest = seqs(await events_until(comm, run_id, last), run_id)
    assert have + rest == list(range(3, last + 1))
    await comm.disconnect()

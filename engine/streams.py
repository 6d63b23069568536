"""Live streams on the channel layer: publishing committed events, and subscribing to them.

Publishing. Events leave only after the transaction that wrote them commits,
for the groups of the run, its workflow and the global board: one
``stream.batch`` message per group per commit, holding that commit's events in
``seq`` order. ``publish`` is called from sync code (Celery workers, request
threads). On the Redis pub/sub layer (production) the calling thread sends
them itself, one pipelined round trip (:class:`_DirectSender`). Otherwise the
sends run on one long-lived event loop per process, which keeps its Redis
connections (``async_to_sync(group_send)`` opens one per call, about 2.3 ms of
CPU each, NOTES.md) and merges what queued up during a send into the next one;
the caller waits for its send, at most ``PUBLISH_WAIT_S``. With the in-process
layer (standalone mode) the sends are handed to the ASGI server's loop, which
owns the layer's queues (:func:`attach_loop`).

Subscribing. The sockets of a process do not each hold a channel: one
channel per process (per event loop) joins the groups its sockets want and
hands each message to them in process (:func:`subscribe`). channels-redis
costs about 0.1 ms of CPU per message per receiving channel; with fifty board
sockets that was half a core at 100 commits/s, before any socket was written.

A send that fails or is dropped loses nothing for good: every event is in the
run's log, and the consumers fill a gap in ``seq`` from it. The reads they
replay from are here too.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any, Protocol

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.utils import timezone

from engine.eventlog import events_lacking, runs_changed

log = logging.getLogger("sagaboard.streams")

#: The group of the global board; every committed event goes to it.
BOARD_GROUP = "board"
#: The channel-layer message type of published events.
BATCH_TYPE = "stream.batch"
#: At most this many events in one channel-layer message.
MAX_BATCH = 200
#: How long ``publish`` waits for its send before returning anyway.
PUBLISH_WAIT_S = 0.01
#: Commits waiting for the sender beyond this are dropped, oldest first, so a
#: stalled Redis cannot grow a worker's memory without bound.
MAX_QUEUED = 10_000


def run_group(run_id: object) -> str:
    """The channel-layer group of one run."""
    return f"run.{run_id}"


def workflow_group(slug: str) -> str:
    """The channel-layer group of one workflow's runs."""
    return f"workflow.{slug}"


def group_batches(messages: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The events each group receives, in the order given."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for message in messages:
        for group in (
            run_group(message["run"]),
            workflow_group(message["workflow"]),
            BOARD_GROUP,
        ):
            groups.setdefault(group, []).append(message)
    return groups


def layer_messages(messages: Iterable[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The channel-layer messages of committed events: ``(group, message)``, at most
    ``MAX_BATCH`` events each, in the order given."""
    for group, events in group_batches(messages).items():
        for start in range(0, len(events), MAX_BATCH):
            chunk = events[start : start + MAX_BATCH]
            yield group, {"type": BATCH_TYPE, "group": group, "events": chunk}


def publish(messages: Iterable[dict[str, Any]]) -> None:
    """Send committed events to their groups. Called on commit, never inside a transaction.

    On the Redis pub/sub layer: sent from the calling thread, one pipelined round
    trip. Otherwise queued for the process's sender loop, waited
    for at most ``PUBLISH_WAIT_S`` (usually a millisecond or two).
    """
    batch = list(messages)
    if not batch:
        return
    ticket = _publisher.submit(batch)
    if ticket:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            # Waiting here, GIL released, lets the sender thread run at once: left
            # to compete with a busy worker thread for the GIL, its few Redis
            # round trips took tens of milliseconds. Past the bound it finishes
            # on its own.
            _publisher.wait(ticket, PUBLISH_WAIT_S)


def attach_loop(loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Register the ASGI server's loop (the running one by default).

    Only matters with the in-process channel layer, whose sends must run on
    the loop its consumers wait on. Cheap; consumers call it on connect.
    """
    _publisher.attach(loop or asyncio.get_running_loop())


def detach_loop() -> None:
    """The ASGI server's loop is stopping (standalone mode): nothing waits for it any more.

    What was queued for it is dropped, so that the flush at exit does not wait for a
    loop that will never send it; clients replay such events from the log.
    """
    _publisher.detach()


def flush(timeout: float = 5.0) -> bool:
    """Wait until what was published before the call has been sent; False on timeout."""
    return _publisher.flush(timeout)


class _Publisher:
    """Per process: a queue of committed batches and the loop that sends them."""

    def __init__(self) -> None:
        self._reset()
        # A Celery prefork child inherits the parent's objects but not its
        # threads, and perhaps a lock held by one of them: start afresh.
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._done = threading.Condition(self._lock)
        self._queue: deque[list[dict[str, Any]]] = deque()
        self._submitted = 0
        self._sent = 0
        self._own_loop: asyncio.AbstractEventLoop | None = None
        self._server_loop: asyncio.AbstractEventLoop | None = None
        self._drain_loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        # Per layer object (weakly: a layer made anew gets a sender of its own).
        self._direct: weakref.WeakKeyDictionary[Any, _DirectSender | None] = (
            weakref.WeakKeyDictionary()
        )

    def _direct_for(self, layer: Any) -> _DirectSender | None:
        """The direct sender for ``layer``, when it is the Redis pub/sub layer. Also for
        sync code that runs on an event loop's thread: it blocks that loop for one round
        trip, as it did for the database writes before."""
        if layer not in self._direct:
            self._direct[layer] = _DirectSender.for_layer(layer)
        return self._direct[layer]

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._server_loop is not loop:
            with self._lock:
                self._server_loop = loop

    def detach(self) -> None:
        with self._done:
            self._server_loop = None
            if self._drain_loop is not None and self._drain_loop is not self._own_loop:
                self._drain_loop = None
                self._wake = None
                self._sent += len(self._queue)
                self._queue.clear()
                self._done.notify_all()

    def submit(self, batch: list[dict[str, Any]]) -> int:
        """Send ``batch``, or queue it for sending: its ticket for :meth:`wait` (0: nothing
        to wait for)."""
        layer = get_channel_layer()
        if layer is None:
            return 0
        direct = self._direct_for(layer)
        if direct is not None:
            direct.send(batch)
            return 0
        with self._lock:
            loop = self._loop_for(layer)
            if loop is None:
                # In-process layer and no server loop in this process: nobody
                # here can be listening.
                return 0
            if len(self._queue) >= MAX_QUEUED:
                self._queue.popleft()
                self._sent += 1
                log.warning("live stream sender is behind; dropped the oldest commit's events")
            self._queue.append(batch)
            self._submitted += 1
            ticket = self._submitted
            wake = self._wake
        try:
            loop.call_soon_threadsafe(wake.set)  # type: ignore[union-attr]
        except RuntimeError:
            log.debug("the stream loop is closed; events stay in the log")
            return 0
        return ticket

    def _loop_for(self, layer: Any) -> asyncio.AbstractEventLoop | None:
        """The loop that sends (called with the lock held); starts its drain task if needed."""
        if isinstance(layer, InMemoryChannelLayer):
            loop = self._server_loop
            if loop is None or loop.is_closed():
                return None
        else:
            if self._own_loop is None or self._own_loop.is_closed():
                self._own_loop = asyncio.new_event_loop()
                threading.Thread(
                    target=self._own_loop.run_forever, name="sagaboard-streams", daemon=True
                ).start()
            loop = self._own_loop
        if self._drain_loop is not loop:
            self._drain_loop = loop
            self._wake = asyncio.Event()
            asyncio.run_coroutine_threadsafe(self._drain(self._wake), loop)
        return loop

    async def _drain(self, wake: asyncio.Event) -> None:
        while self._wake is wake:
            await wake.wait()
            wake.clear()
            while True:
                with self._lock:
                    taken = list(self._queue)
                    self._queue.clear()
                if not taken:
                    break
                # What queued up while the last send was in flight goes out together.
                await self._send([m for batch in taken for m in batch])
                with self._done:
                    self._sent += len(taken)
                    self._done.notify_all()

    async def _send(self, messages: list[dict[str, Any]]) -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        sends = [layer.group_send(group, message) for group, message in layer_messages(messages)]
        # Groups are independent; within a group, order holds because the next
        # round of sends starts only when this one is done.
        results = await asyncio.gather(*sends, return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            log.warning(
                "%d of %d live stream sends failed (clients fill the gap from the log): %r",
                len(failed),
                len(results),
                failed[0],
            )

    def wait(self, ticket: int, timeout: float) -> bool:
        """Wait until the batch with ``ticket`` (and all before it) has been sent."""
        with self._done:
            return self._done.wait_for(lambda: self._sent >= ticket, timeout)

    def flush(self, timeout: float) -> bool:
        return self.wait(self._submitted, timeout)


class _DirectSender:
    """Publishes to channels-redis' pub/sub layer from the calling thread.

    What ``group_send`` does on that layer is one PUBLISH of the serialized
    message to ``<prefix>__group__<group>`` on the group's shard; doing it here
    with a blocking client pipelines a commit's sends into one round trip (about
    0.2 ms) and needs no thread hop. The sender thread (still used for the other
    layers) cost a busy Celery worker about 2 ms a commit, waiting for the GIL to
    pass back and forth, and delayed the events as long.
    """

    #: A failed send makes the next ones wait this long before trying Redis again,
    #: so that a Redis that is down costs a worker one timeout, not one per commit.
    RETRY_AFTER_S = 5.0
    TIMEOUT_S = 1.0

    def __init__(self, layer: Any, hosts: list[dict[str, Any]]) -> None:
        self.layer = layer
        self.prefix = layer._kwargs.get("prefix", "asgi")
        self.clients = [
            self.client(host["address"], **{k: v for k, v in host.items() if k != "address"})
            for host in hosts
        ]
        self.down_until = 0.0

    @classmethod
    def client(cls, address: str, **options: Any) -> Any:
        """A blocking client that fails fast: redis-py would otherwise retry a refused
        connection three times with backoff, holding the worker for seconds."""
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        options.update(
            socket_timeout=cls.TIMEOUT_S,
            socket_connect_timeout=cls.TIMEOUT_S,
            retry=Retry(NoBackoff(), 0),
        )
        return redis.Redis.from_url(address, **options)

    @classmethod
    def for_layer(cls, layer: Any) -> _DirectSender | None:
        from channels_redis.pubsub import RedisPubSubChannelLayer
        from channels_redis.utils import decode_hosts

        if not isinstance(layer, RedisPubSubChannelLayer):
            return None
        hosts = decode_hosts(layer._kwargs.get("hosts"))
        if not hosts or not all("address" in host for host in hosts):
            return None  # Sentinel: left to the layer itself
        return cls(layer, hosts)

    def send(self, batch: list[dict[str, Any]]) -> None:
        import redis
        from channels_redis.utils import _consistent_hash

        if time.monotonic() < self.down_until:
            return
        by_shard: dict[int, list[tuple[str, bytes]]] = {}
        for group, message in layer_messages(batch):
            channel = f"{self.prefix}__group__{group}"
            shard = _consistent_hash(channel, len(self.clients))
            by_shard.setdefault(shard, []).append((channel, self.layer.serialize(message)))
        try:
            for shard, sends in by_shard.items():
                pipe = self.clients[shard].pipeline(transaction=False)
                for channel, payload in sends:
                    pipe.publish(channel, payload)
                pipe.execute()
        except redis.RedisError as exc:
            self.down_until = time.monotonic() + self.RETRY_AFTER_S
            log.warning(
                "live stream send failed (clients fill the gap from the log); "
                "not trying again for %.0f s: %r",
                self.RETRY_AFTER_S,
                exc,
            )


_publisher = _Publisher()


class Subscriber(Protocol):
    def deliver(self, events: list[dict[str, Any]]) -> None:
        """Take events of a group it subscribed to; on the loop, must not block or await.
        The list is shared with the process's other subscribers: read, never change.
        An event it has already taken may come again, and one may come out of order."""

    def behind(self, run: str, workflow: str, last_seq: int, changed_at: datetime) -> int | None:
        """For a run whose log ends at ``last_seq`` (written at ``changed_at``): the seq
        after which this subscriber lacks events it wants, or None (it has them all, or
        wants none)."""


async def subscribe(groups: Iterable[str], subscriber: Subscriber) -> None:
    """Deliver the events of ``groups`` to ``subscriber`` from now on.

    Returns once this process is a member of each group on the layer, so that
    whatever commits after the call is delivered.
    """
    await _hub().subscribe(list(groups), subscriber)


async def unsubscribe(subscriber: Subscriber) -> None:
    """Deliver nothing more to ``subscriber``."""
    await _hub().unsubscribe(subscriber)


class _Hub:
    """One channel for every subscriber of an event loop, in the groups they want."""

    #: Seconds between renewals of the memberships (channels-redis forgets a
    #: member after its group_expiry, one day by default).
    REJOIN_EVERY = 3600.0
    #: Seconds between sweeps of the log for events lost on their way (:meth:`_sweep`).
    SWEEP_EVERY = 15.0
    #: Runs changed this recently wait for the next sweep: their events may still be
    #: on their way through the layer.
    SWEEP_SETTLE = 2.0
    #: At most this many changed runs per sweep.
    SWEEP_LIMIT = 5000

    def __init__(self) -> None:
        self.layer: Any = None
        self.channel = ""
        self.members: dict[str, set[Subscriber]] = {}
        self.lock = asyncio.Lock()
        self.tasks: list[asyncio.Task[None]] = []

    async def subscribe(self, groups: list[str], subscriber: Subscriber) -> None:
        async with self.lock:
            if not self.channel:
                self.layer = get_channel_layer()
                self.channel = await self.layer.new_channel()
                self.tasks = [
                    asyncio.create_task(self._receive()),
                    asyncio.create_task(self._rejoin()),
                    asyncio.create_task(self._sweep()),
                ]
            for group in groups:
                if group not in self.members:
                    await self.layer.group_add(group, self.channel)
                    self.members[group] = set()
                self.members[group].add(subscriber)

    async def unsubscribe(self, subscriber: Subscriber) -> None:
        async with self.lock:
            emptied = []
            for group, subscribers in list(self.members.items()):
                subscribers.discard(subscriber)
                if not subscribers:
                    del self.members[group]
                    emptied.append(group)
            for group in emptied:
                try:
                    await self.layer.group_discard(group, self.channel)
                except Exception as exc:
                    # Redis is away: a membership it kept only brings messages no one
                    # here wants, dropped on arrival; one it lost is gone anyway.
                    log.warning("could not leave live stream group %s: %r", group, exc)

    async def _receive(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except Exception:
                # Clients fill what is lost meanwhile from the log.
                log.exception("live stream receive failed; trying again in a second")
                await asyncio.sleep(1)
                continue
            _hand(self.members.get(message.get("group", ""), ()), message.get("events"))
            # Let the sockets' writers run between messages: a layer that hands over a
            # backlog without waiting (pub/sub) would otherwise pile it all up first.
            await asyncio.sleep(0)

    async def _sweep(self) -> None:
        """Every ``SWEEP_EVERY``: hand the subscribers the logged events they were never
        delivered. A publish lost on its way (Redis restarting, a worker's connection
        down) leaves a gap that the next live event of the run would reveal; when
        nothing follows, this is what fills it."""
        since = timezone.now()
        while True:
            await asyncio.sleep(self.SWEEP_EVERY)
            until = timezone.now() - timedelta(seconds=self.SWEEP_SETTLE)
            try:
                await self.sweep(since, until)
            except Exception:
                # The same window again next time.
                log.exception("live stream sweep failed; trying again later")
                continue
            since = until

    async def sweep(self, since: datetime, until: datetime) -> None:
        """Two queries in the common case (runs changed, then the events lacked), one
        hop to the database thread each: the sweep shares that thread with the
        process's requests and must not hold it for long."""
        from channels.db import database_sync_to_async

        changed = await database_sync_to_async(runs_changed)(since, until, self.SWEEP_LIMIT)
        if len(changed) == self.SWEEP_LIMIT:
            log.warning("live stream sweep: more than %d runs changed", self.SWEEP_LIMIT)
        subscribers = {s for members in self.members.values() for s in members}
        lacking: dict[str, list[Subscriber]] = {}
        wanted: dict[str, tuple[str, int, int]] = {}
        for run in changed:
            for subscriber in subscribers:
                after = subscriber.behind(run.run, run.workflow, run.last_seq, run.at)
                if after is None:
                    continue
                lacking.setdefault(run.run, []).append(subscriber)
                earliest = wanted.get(run.run, (run.workflow, after, run.last_seq))[1]
                wanted[run.run] = (run.workflow, min(after, earliest), run.last_seq)
        if not wanted:
            return
        log.info("live stream sweep: %d runs' events were not delivered here", len(wanted))
        events = await database_sync_to_async(events_lacking)(wanted)
        for run_id, runs_subscribers in lacking.items():
            _hand(runs_subscribers, events.get(run_id, []))

    async def _rejoin(self) -> None:
        while True:
            await asyncio.sleep(self.REJOIN_EVERY)
            async with self.lock:
                for group in self.members:
                    await self.layer.group_add(group, self.channel)


def _hand(subscribers: Iterable[Subscriber], events: Any) -> None:
    """Deliver ``events`` to each subscriber; one that fails does not stop the others."""
    for subscriber in list(subscribers):
        try:
            subscriber.deliver(events)
        except Exception:
            log.exception("a live stream subscriber failed")


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Hub] = weakref.WeakKeyDictionary()


def _hub() -> _Hub:
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = _Hub()
    return hub


# A web process or a management command that exits right after a commit still
# gets its events out (Celery's prefork children exit without atexit; their
# clients fill the gap from the log).
atexit.register(flush, 2.0)

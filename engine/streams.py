"""Live streams on the channel layer: publishing committed events.

Publishing. Events leave only after the transaction that wrote them commits,
for the groups of the run, its workflow and the global board: one
``stream.batch`` message per group per commit, holding that commit's events in
``seq`` order. ``publish`` is called from sync code (Celery workers, request
threads). On the Redis pub/sub layer (production) the calling thread sends
them itself, one pipelined round trip (:class:`engine.direct_send.DirectSender`). Otherwise the
sends run on one long-lived event loop per process, which keeps its Redis
connections (``async_to_sync(group_send)`` opens one per call, about 2.3 ms of
CPU each, NOTES.md) and merges what queued up during a send into the next one;
the caller waits for its send, at most ``PUBLISH_WAIT_S``. With the in-process
layer (standalone mode) the sends are handed to the ASGI server's loop, which
owns the layer's queues (:func:`attach_loop`).

Subscribing is :mod:`engine.hub`'s. A send that fails or is dropped loses
nothing for good: every event is in the run's log, and the consumers fill a
gap in ``seq`` from it (:mod:`engine.eventlog`).
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
import weakref
from collections import deque
from collections.abc import Iterable
from typing import Any

from channels.layers import InMemoryChannelLayer, get_channel_layer

from engine.direct_send import DirectSender
from engine.groups import layer_messages

log = logging.getLogger("sagaboard.streams")

#: How long ``publish`` waits for its send before returning anyway.
PUBLISH_WAIT_S = 0.01
#: Commits waiting for the sender beyond this are dropped, oldest first, so a
#: stalled Redis cannot grow a worker's memory without bound.
MAX_QUEUED = 10_000


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
        self._direct: weakref.WeakKeyDictionary[Any, DirectSender | None] = (
            weakref.WeakKeyDictionary()
        )

    def _direct_for(self, layer: Any) -> DirectSender | None:
        """The direct sender for ``layer``, when it is the Redis pub/sub layer. Also for
        sync code that runs on an event loop's thread: it blocks that loop for one round
        trip, as it did for the database writes before."""
        if layer not in self._direct:
            self._direct[layer] = DirectSender.for_layer(layer)
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


_publisher = _Publisher()


# A web process or a management command that exits right after a commit still
# gets its events out (Celery's prefork children exit without atexit; their
# clients fill the gap from the log).
atexit.register(flush, 2.0)

"""Live streams: the one place where a run's events leave for the channel layer.

Events are published only after the transaction that wrote them commits, to
the groups of the run, its workflow and the global board. Each group gets one
``stream.batch`` message per commit holding that commit's events in ``seq``
order, so a busy run costs one channel-layer send per group, not one per event.

``publish`` is called from sync code (Celery workers, request threads) and
returns at once: the sends happen on one long-lived event loop per process.
``async_to_sync(group_send)`` would open a Redis connection per call and cost
about 2.3 ms of CPU each (NOTES.md); a loop that lives as long as the process
keeps its connection pool and, when commits come faster than Redis answers,
merges what queued up meanwhile into one send per group.

With the in-process layer (standalone mode) there is no Redis between the
sender and the consumers: the layer's queues belong to the ASGI server's
loop and are not thread-safe, so the sends are handed to that loop, which the
consumers register with :func:`attach_loop`.

A send that fails or is dropped loses nothing for good: every event is in the
run's log, and the consumers fill a gap in ``seq`` from it.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
from collections import deque
from collections.abc import Iterable
from typing import Any

from channels.layers import InMemoryChannelLayer, get_channel_layer

from engine.models import Event

log = logging.getLogger("sagaboard.streams")

#: The group of the global board; every committed event goes to it.
BOARD_GROUP = "board"
#: The channel-layer message type the consumers handle (``stream_batch``).
BATCH_TYPE = "stream.batch"
#: At most this many events in one channel-layer message.
MAX_BATCH = 200
#: Commits waiting for the sender beyond this are dropped, oldest first, so a
#: stalled Redis cannot grow a worker's memory without bound.
MAX_QUEUED = 10_000


def run_group(run_id: object) -> str:
    """The channel-layer group of one run."""
    return f"run.{run_id}"


def workflow_group(slug: str) -> str:
    """The channel-layer group of one workflow's runs."""
    return f"workflow.{slug}"


def event_message(event: Event, workflow: str) -> dict[str, Any]:
    """An event as DESIGN.md's WebSocket message."""
    return {
        "type": "event",
        "run": str(event.run_id),
        "workflow": workflow,
        "seq": event.seq,
        "event": event.type,
        "step": event.step_id or None,
        "status": event.status,
        "attempt": event.attempt,
        "at": event.at.isoformat(),
        "latency_ms": event.latency_ms,
        "error": event.error or None,
        "actor": event.actor or None,
    }


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


def publish(messages: Iterable[dict[str, Any]]) -> None:
    """Send committed events to their groups. Called on commit, never inside a transaction.

    Returns without waiting for the channel layer; :func:`flush` waits.
    """
    batch = list(messages)
    if batch:
        _publisher.submit(batch)


def attach_loop(loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Register the ASGI server's loop (the running one by default).

    Only matters with the in-process channel layer, whose sends must run on
    the loop its consumers wait on. Cheap; consumers call it on connect.
    """
    _publisher.attach(loop or asyncio.get_running_loop())


def flush(timeout: float = 5.0) -> bool:
    """Wait until what was published before the call has been sent; False on timeout."""
    return _publisher.flush(timeout)


class _Publisher:
    """Per process: a queue of committed batches and the loop that sends them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = threading.Condition(self._lock)
        self._reset()

    def _reset(self) -> None:
        # Also after a fork: a Celery prefork child inherits the parent's
        # objects but not its threads.
        self._pid = os.getpid()
        self._queue: deque[list[dict[str, Any]]] = deque()
        self._submitted = 0
        self._sent = 0
        self._own_loop: asyncio.AbstractEventLoop | None = None
        self._server_loop: asyncio.AbstractEventLoop | None = None
        self._drain_loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._server_loop is not loop:
            with self._lock:
                self._server_loop = loop

    def submit(self, batch: list[dict[str, Any]]) -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        with self._lock:
            if self._pid != os.getpid():
                self._reset()
            loop = self._loop_for(layer)
            if loop is None:
                # In-process layer and no server loop in this process: nobody
                # here can be listening.
                return
            if len(self._queue) >= MAX_QUEUED:
                self._queue.popleft()
                self._sent += 1
                log.warning("live stream sender is behind; dropped the oldest commit's events")
            self._queue.append(batch)
            self._submitted += 1
            wake = self._wake
        try:
            loop.call_soon_threadsafe(wake.set)  # type: ignore[union-attr]
        except RuntimeError:
            log.debug("the stream loop is closed; events stay in the log")

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
        sends = []
        for group, events in group_batches(messages).items():
            for start in range(0, len(events), MAX_BATCH):
                chunk = events[start : start + MAX_BATCH]
                sends.append(layer.group_send(group, {"type": BATCH_TYPE, "events": chunk}))
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

    def flush(self, timeout: float) -> bool:
        with self._done:
            if self._pid != os.getpid():
                return True
            target = self._submitted
            return self._done.wait_for(lambda: self._sent >= target, timeout)


_publisher = _Publisher()
# A web process or a management command that exits right after a commit still
# gets its events out (Celery's prefork children exit without atexit; their
# clients fill the gap from the log).
atexit.register(flush, 2.0)

"""Subscribing to the live streams: one channel per process, many sockets.

The sockets of a process do not each hold a channel: one channel per process
(per event loop) joins the groups its sockets want and hands each message to
them in process (:func:`subscribe`). channels-redis costs about 0.1 ms of CPU
per message per receiving channel; with fifty board sockets that was half a
core at 100 commits/s, before any socket was written. A periodic sweep reads
from the log what a subscriber missed (a dropped publish, a gap in ``seq``):
the events no stream sends one by one, a map's iterations', left out, and the
seqs they hold covered by ``progress`` messages without maps, so that a cursor
moves past them and the next sweep does not read them again.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Protocol

from channels.layers import get_channel_layer
from django.utils import timezone

from engine.eventlog import events_lacking, runs_changed

log = logging.getLogger("sagaboard.streams")


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

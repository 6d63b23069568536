"""What every live stream's WebSocket does: sign-in and access checks, the subscription,
replay without gap or duplicate, pacing frames, closing slow sockets, re-checking access.

The concrete streams (the board, a workflow, a run) are in
:mod:`engine.consumers`; its docstring gives the frames and the close codes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections import deque
from datetime import datetime
from importlib import import_module
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib import auth
from django.http import HttpRequest

from engine import eventlog, hub, streams
from engine.groups import PROGRESS_TYPE

log = logging.getLogger("sagaboard.streams")

CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NO_STREAM = 4404
CLOSE_TOO_SLOW = 4008
CLOSE_SERVER_ERROR = 1011

MAX_CLIENT_MESSAGE_BYTES = 4096
MAX_SEQ = 2**31 - 1


# Each event's JSON, shared by the sockets of this process: a board event goes
# to every board socket, and is encoded once. Events never change once logged.
_encoded: dict[tuple[str, int], str] = {}
_ENCODED_MAX = 10_000


def encoded(event: dict[str, Any]) -> str:
    """The event as JSON text."""
    key = (event["run"], event["seq"])
    text = _encoded.get(key)
    if text is None:
        text = _encoded[key] = json.dumps(event, separators=(",", ":"))
        if len(_encoded) > _ENCODED_MAX:
            del _encoded[next(iter(_encoded))]
    return text


class Refused(Exception):
    """The user may not watch this stream (or it does not exist); ``code`` says which."""

    def __init__(self, code: int = CLOSE_FORBIDDEN) -> None:
        super().__init__(code)
        self.code = code


class StreamConsumer(AsyncJsonWebsocketConsumer):
    """What the three streams share: access at connect, ordering, pacing, back-pressure.

    Events come through the process's subscription (``hub.subscribe``), not
    a channel of the socket's own. One task (the writer) owns the socket;
    ``deliver`` only appends to a bounded queue, so a client that reads slowly
    stalls nothing else and, past ``MAX_PENDING``, is closed with 4008.
    """

    # No channel per socket: one per process receives for all (engine.streams).
    channel_layer_alias = None

    #: Events waiting for the socket beyond this close the connection (4008).
    MAX_PENDING = 2000
    #: Seconds between frames: the first event after a quiet spell goes out at
    #: once; a burst is sent as batch frames, at most one per interval. At 5 ms,
    #: 50 board sockets at 100 commits/s get every commit at once, with latency as
    #: low as a bare group_send's (bench/stream.py); at 1,000 events/s the cap
    #: holds a socket to 200 frames/s. 20 ms added 10 ms on average.
    FRAME_INTERVAL = 0.005
    MAX_FRAME_EVENTS = 500
    #: Events read from the log per query when replaying.
    REPLAY_CHUNK = 500
    #: Seconds between checks that the user still may watch.
    RECHECK_EVERY = 15.0
    #: Runs whose last sent seq is remembered (board and workflow streams).
    MAX_TRACKED_RUNS = 10_000
    #: Whether the client is sent ``progress`` frames, the summary of a map's iteration
    #: events (run streams). Other streams never receive them live; the log's gaps that
    #: iteration events leave are covered for them too, and only move their cursors.
    SENDS_PROGRESS = False
    #: Seconds between frames holding nothing but progress: a running map's counts move
    #: at most ten times a second on the page, not with every frame. Events never wait
    #: for this; a progress held back goes out with them.
    PROGRESS_EVERY = 0.1

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._subscribed = False
        self._pending: deque[dict[str, Any]] = deque()
        self._control: deque[dict[str, Any]] = deque()
        self._last_sent: dict[str, int] = {}
        #: For a run not in ``_last_sent``: the events of the log since this moment are
        #: owed before its first live one (None: take its events as they come).
        self._untracked_since: datetime | None = None
        #: When the last snapshot was read (board and workflow streams).
        self._snapshot_at: datetime | None = None
        self._resync: Any = None
        #: A progress frame held back (``PROGRESS_EVERY``), and when the last one went out.
        self._held_progress: dict[str, Any] | None = None
        self._progress_at = 0.0
        self._progress_timer: asyncio.TimerHandle | None = None
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    async def connect(self) -> None:
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self._shut(CLOSE_UNAUTHENTICATED)
            return
        try:
            joined = await database_sync_to_async(self.authorize)(user)
        except Refused as refused:
            await self._shut(refused.code)
            return
        try:
            self._resync = self.initial_resync(
                parse_qs(self.scope.get("query_string", b"").decode())
            )
        except ValueError as exc:
            await self.send_json({"type": "error", "detail": str(exc)})
            await self._shut(CLOSE_BAD_REQUEST)
            return
        # Subscribe first, then read: what commits while the log is read arrives
        # live and waits in _pending.
        streams.attach_loop()
        try:
            await hub.subscribe(joined, self)
        except Exception:
            log.exception("could not subscribe a live stream")
            await self._shut(CLOSE_SERVER_ERROR)
            return
        self._subscribed = True
        self._tasks = [
            asyncio.create_task(self._writer()),
            asyncio.create_task(self._housekeeping()),
        ]
        self._wake.set()

    async def disconnect(self, code: int) -> None:
        self._closing = True
        await self._stop_tasks()
        if self._subscribed:
            self._subscribed = False
            await hub.unsubscribe(self)

    # What each stream says

    def authorize(self, user: Any) -> list[str]:
        """The groups to join (runs in a worker thread); raises Refused."""
        raise NotImplementedError

    def initial_resync(self, query: dict[str, list[str]]) -> Any:
        """What to do before forwarding live events; raises ValueError on a bad query."""
        return True

    def wants(self, event: dict[str, Any]) -> bool:
        """Whether a live event belongs on this socket."""
        return True

    async def resync(self, request: Any) -> None:
        """Replay the log or send a snapshot, setting ``_last_sent``."""

    async def on_resume(self, content: dict[str, Any]) -> None:
        self._resync = True
        self._wake.set()

    # From the channel layer

    def deliver(self, events: list[dict[str, Any]]) -> None:
        """Events published after a commit (called by the process's subscription).
        The list is shared by every socket of this process: read, never changed."""
        if self._closing:
            return
        for event in events:
            if self.wants(event):
                self._pending.append(event)
        if len(self._pending) > self.MAX_PENDING:
            log.info("closing a live stream that fell %d events behind", len(self._pending))
            self._pending.clear()
            self._closer = asyncio.create_task(self._shut(CLOSE_TOO_SLOW))
            return
        self._wake.set()

    def behind(self, run: str, workflow: str, last_seq: int, changed_at: datetime) -> int | None:
        """The process's sweep asks: the seq after which this socket lacks the run's
        events (its log ends at ``last_seq``, written at ``changed_at``), or None."""
        if self._closing or self._resync is not None:
            return None  # a replay or a snapshot is coming anyway
        if not self.wants({"run": run, "workflow": workflow}):
            return None
        sent = self._last_sent.get(run)
        if sent is None:
            # A run never seen here (board and workflow streams). Changed before the
            # snapshot, it is in it or was left out of a truncated one: nothing owed.
            # Changed since, its events were lost on the way: its last one is enough,
            # the writer owes the rest from the log as for any untracked run.
            if self._untracked_since is None or self._snapshot_at is None:
                return None
            return last_seq - 1 if changed_at > self._snapshot_at and last_seq else None
        return sent if sent < last_seq else None

    # From the client

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:
            self._reply_error("Send JSON text frames.")
            return
        too_large = len(text_data) > MAX_CLIENT_MESSAGE_BYTES
        if too_large or len(text_data.encode()) > MAX_CLIENT_MESSAGE_BYTES:
            self._reply_error(f"Message too large: at most {MAX_CLIENT_MESSAGE_BYTES} bytes.")
            return
        try:
            content = json.loads(text_data)
        except (ValueError, RecursionError):
            self._reply_error("Not JSON.")
            return
        if not isinstance(content, dict):
            self._reply_error('Expected an object such as {"type": "resume"}.')
            return
        kind = content.get("type")
        if kind == "ping":
            self._reply({"type": "pong"})
        elif kind == "resume":
            await self.on_resume(content)
        else:
            self._reply_error('Unknown message type; expected "resume" or "ping".')

    def _reply(self, frame: dict[str, Any]) -> None:
        # Through the writer, which owns the socket; a client that sends but
        # never reads cannot pile these up.
        if len(self._control) >= 100:
            return
        self._control.append(frame)
        self._wake.set()

    def _reply_error(self, detail: str) -> None:
        self._reply({"type": "error", "detail": detail})

    # The writer

    async def _writer(self) -> None:
        loop = asyncio.get_running_loop()
        last_frame = 0.0
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._control:
                    await self.send_json(self._control.popleft())
                if self._resync is not None:
                    request, self._resync = self._resync, None
                    self._held_progress = None  # the resync says where the maps are
                    await self.resync(request)
                delay = last_frame + self.FRAME_INTERVAL - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                    if self._resync is not None or self._control:
                        self._wake.set()
                        continue
                events = await self._ready()
                if events:
                    await self.send_events(events)
                    last_frame = loop.time()
                if self._pending:
                    self._wake.set()
        except OSError:
            # The client went away (uvicorn's ClientDisconnected); disconnect() follows.
            self._closing = True
        except Exception:
            log.exception("live stream writer failed")
            await self._shut(CLOSE_SERVER_ERROR)

    async def _ready(self) -> list[dict[str, Any]]:
        """The pending live events still to send, gaps filled from the log, duplicates dropped;
        their ``progress`` messages merged into one, where the last of them stood."""
        out: list[dict[str, Any]] = []
        summary, self._held_progress = self._held_progress, None
        if summary is not None:
            out.append(summary)
        while self._pending and len(out) < self.MAX_FRAME_EVENTS:
            event = self._pending.popleft()
            run, seq = event["run"], event["seq"]
            progress = event.get("type") == PROGRESS_TYPE
            # A progress message stands for the iteration events from its "from" to its seq.
            first = event["from"] if progress else seq
            last = self._last_sent.get(run)
            if last is not None:
                if seq <= last:
                    continue
                if first > last + 1:
                    out.extend(await self._fill(run, event["workflow"], last, first))
            elif progress:
                continue  # a run not followed here (yet): nothing to move past
            elif seq > 1 and self._untracked_since is not None:
                # A run the snapshot did not hold, most often one started since. Its
                # earlier events may still be on their way: each process publishes its own
                # commits, so a worker's can overtake the web process's. They come from the
                # log now, and are dropped as sent when they arrive.
                out.extend(
                    await self._fill(run, event["workflow"], 0, seq, since=self._untracked_since)
                )
            self._sent_up_to(run, seq)
            if not progress:
                out.append(event)
            elif self.SENDS_PROGRESS:
                # One summary a frame: the latest progress of each map, at the place of the
                # last (what came before it in the frame, it covers too).
                maps = dict(summary["maps"]) if summary is not None else {}
                maps.update(event["maps"])
                if summary is not None:
                    out.remove(summary)
                summary = {"type": PROGRESS_TYPE, "run": run, "seq": seq, "maps": maps}
                out.append(summary)
        if summary is not None and len(out) == 1:
            wait = self._progress_at + self.PROGRESS_EVERY - asyncio.get_running_loop().time()
            if wait > 0:
                self._held_progress = summary
                if self._progress_timer is None:
                    self._progress_timer = asyncio.get_running_loop().call_later(
                        wait, self._progress_due
                    )
                return []
        if summary is not None:
            self._progress_at = asyncio.get_running_loop().time()
        return out

    def _progress_due(self) -> None:
        self._progress_timer = None
        self._wake.set()

    async def _fill(
        self, run: str, workflow: str, after: int, before: int, *, since: datetime | None = None
    ) -> list[dict[str, Any]]:
        """The run's events between two seqs from the log, for a gap in what arrived live;
        without its iteration events, which no stream sends."""
        return await database_sync_to_async(eventlog.events_between)(
            run, workflow, after, before, since=since, iterations=False
        )

    def _sent_up_to(self, run: str, seq: int) -> None:
        last = self._last_sent.pop(run, None)
        self._last_sent[run] = seq if last is None else max(last, seq)
        if len(self._last_sent) > self.MAX_TRACKED_RUNS:
            # The run seen longest ago: should it come back, its next event is
            # taken as it comes, without filling from the log (so are the other
            # untracked runs' from now on: any of them may be one forgotten).
            del self._last_sent[next(iter(self._last_sent))]
            self._untracked_since = None

    async def send_events(self, events: list[dict[str, Any]]) -> None:
        """One frame: an event alone, or a batch of several in order."""
        parts = [
            json.dumps(event, separators=(",", ":"))
            if event.get("type") == PROGRESS_TYPE
            else encoded(event)
            for event in events
        ]
        if len(parts) == 1:
            await self.send(text_data=parts[0])
        else:
            await self.send(text_data='{"type":"batch","events":[' + ",".join(parts) + "]}")

    @classmethod
    async def encode_json(cls, content: dict[str, Any]) -> str:
        return json.dumps(content, separators=(",", ":"))

    # Housekeeping and closing

    async def _housekeeping(self) -> None:
        # Spread the checks of sockets that connected together (after a deploy).
        await asyncio.sleep(random.uniform(0, self.RECHECK_EVERY))
        while True:
            try:
                await database_sync_to_async(self._reauthorize)()
            except Refused as refused:
                await self._shut(refused.code)
                return
            except Exception:
                # The database is away for a moment: check again next time, rather
                # than never again.
                log.exception("could not check a live stream's access; trying again later")
            await asyncio.sleep(self.RECHECK_EVERY)

    def _reauthorize(self) -> None:
        """``authorize`` again, for the user as the session now says (logged out, deactivated,
        permissions changed): the user object loaded at connect caches its permissions."""
        session = self.scope.get("session")
        if session is None or session.session_key is None:
            raise Refused(CLOSE_UNAUTHENTICATED)
        request = HttpRequest()
        request.session = import_module(settings.SESSION_ENGINE).SessionStore(session.session_key)
        user = auth.get_user(request)
        if not user.is_authenticated:
            raise Refused(CLOSE_UNAUTHENTICATED)
        self.authorize(user)

    async def _shut(self, code: int) -> None:
        if self._closing:
            return
        self._closing = True
        await self._stop_tasks()
        await self.close(code=code)

    async def _stop_tasks(self) -> None:
        if self._progress_timer is not None:
            self._progress_timer.cancel()
            self._progress_timer = None
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        self._tasks = []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

"""WebSocket consumers of the live streams: the board, one workflow, one run.

They only subscribe, replay and forward: events come from ``engine.streams.publish``.

Server frames: ``{"type": "event", ...}`` (DESIGN.md's event message, plus its
``workflow``), ``{"type": "batch", "events": [...]}`` (several, in order; at
most one frame per ``FRAME_INTERVAL`` per connection), ``{"type": "snapshot",
"runs": [...], "truncated": bool}`` (board and workflow streams, on connect and
on resume), ``{"type": "pong"}`` and ``{"type": "error", "detail": ...}``.

Client frames (JSON text, at most 4 KB): ``{"type": "resume", "after": seq}``
on a run stream replays the log after ``seq``; ``{"type": "resume"}`` on the
board or a workflow stream sends a fresh snapshot; ``{"type": "ping"}``.
Anything else is answered with an error frame; the connection stays open.

Close codes. A refused connection is accepted and then closed, because a
browser cannot read why a handshake failed; nothing is sent before the close.

- 4400: ``?after=`` is not a non-negative integer.
- 4401: not signed in (also when the session ends while connected).
- 4403: not allowed to view it, or no such workflow or run: the same code for
  both, so that a user learns nothing about what they may not see. Also sent
  when the permission is withdrawn while connected (checked every
  ``RECHECK_EVERY`` seconds).
- 4404: no such stream (a path under /ws/ that is none of the three).
- 4008: too slow: more than ``MAX_PENDING`` events waited for this socket.
  Reconnect with ``?after=<last seq received>``.
- 1011: the server failed; reconnect as after 4008.

Ordering: per run, events are sent in ``seq`` order with no gap and no
duplicate. The consumer joins its group before it reads the log, keeps what
arrives live while it reads, then sends the rest, dropping any ``seq`` it has
already sent; a gap in what arrives live (a reordered or dropped layer
message) is filled from the log before the later event goes out. Events whose
publish was lost with nothing after them come from the process's periodic sweep
of the log (``engine.streams``), through ``behind``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections import deque
from datetime import datetime, timedelta
from importlib import import_module
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib import auth
from django.http import Http404, HttpRequest
from django.utils import timezone

from common.errors import NotAllowed
from designer.access import visible_workflows, workflow_access
from engine import eventlog, streams
from engine.models import Run
from engine.selectors import run_access, visible_runs
from engine.streams import BOARD_GROUP

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

    Events come through the process's subscription (``streams.subscribe``), not
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
            await streams.subscribe(joined, self)
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
            await streams.unsubscribe(self)

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
        """The pending live events still to send, gaps filled from the log, duplicates dropped."""
        out: list[dict[str, Any]] = []
        while self._pending and len(out) < self.MAX_FRAME_EVENTS:
            event = self._pending.popleft()
            run, seq = event["run"], event["seq"]
            last = self._last_sent.get(run)
            if last is not None:
                if seq <= last:
                    continue
                if seq > last + 1:
                    out.extend(
                        await database_sync_to_async(eventlog.events_between)(
                            run, event["workflow"], last, seq
                        )
                    )
            elif seq > 1 and self._untracked_since is not None:
                # A run the snapshot did not hold, most often one started since. Its
                # earlier events may still be on their way: each process publishes its own
                # commits, so a worker's can overtake the web process's. They come from the
                # log now, and are dropped as sent when they arrive.
                out.extend(
                    await database_sync_to_async(eventlog.events_between)(
                        run, event["workflow"], 0, seq, since=self._untracked_since
                    )
                )
            self._sent_up_to(run, seq)
            out.append(event)
        return out

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
        parts = [encoded(event) for event in events]
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
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        self._tasks = []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class RunConsumer(StreamConsumer):
    """/ws/runs/<id>/: one run's events, replayed from ``?after=`` (default 0), then live."""

    def authorize(self, user: Any) -> list[str]:
        try:
            run = run_access(user, self.scope["url_route"]["kwargs"]["run_id"])
        except (Http404, NotAllowed):
            raise Refused from None
        self.run_id = str(run.pk)
        self.workflow = run.workflow.slug
        return [streams.run_group(self.run_id)]

    def initial_resync(self, query: dict[str, list[str]]) -> Any:
        return parse_after_query(query.get("after", ["0"])[-1])

    def wants(self, event: dict[str, Any]) -> bool:
        return event["run"] == self.run_id

    async def on_resume(self, content: dict[str, Any]) -> None:
        try:
            self._resync = parse_after(content.get("after"))
        except ValueError as exc:
            self._reply_error(str(exc))
            return
        self._wake.set()

    async def resync(self, after: int) -> None:
        """Send the log after ``after`` in chunks; live events that arrive meanwhile wait."""
        self._last_sent[self.run_id] = after
        while True:
            rows = await database_sync_to_async(eventlog.events_after)(
                self.run_id, self.workflow, self._last_sent[self.run_id], self.REPLAY_CHUNK
            )
            if rows:
                await self.send_events(rows)
                self._last_sent[self.run_id] = rows[-1]["seq"]
            if len(rows) < self.REPLAY_CHUNK:
                return


def parse_after(value: Any) -> int:
    """A client's ``after``: a non-negative integer, the last ``seq`` it has."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEQ:
        raise ValueError('"after" must be a non-negative integer: the last seq you have.')
    return value


def parse_after_query(value: str) -> int:
    """``?after=``: digits only."""
    if not (value.isascii() and value.isdigit() and len(value) <= 10):
        raise ValueError('"after" must be a non-negative integer: the last seq you have.')
    return parse_after(int(value))


class SnapshotConsumer(StreamConsumer):
    """Board and workflow streams: the latest state of the runs, then live events.

    On connect and on resume the client gets a snapshot of the runs it may see
    (every active run and those that changed in the last ``RECENT``, newest
    first, at most ``SNAPSHOT_LIMIT``) with each one's ``last_seq``; live events
    follow from there, per run with no gap and no duplicate. A run not in the
    snapshot (started since, or left out of a truncated one) is followed from
    its first event logged since the snapshot, filled from the log when a later
    one arrives first; its events carry its status, so the state shown is the
    latest one either way.
    """

    SNAPSHOT_LIMIT = 500
    RECENT = timedelta(hours=1)

    def visible_runs(self, user: Any) -> Any:
        raise NotImplementedError

    #: How far before a snapshot's read the events of runs not in it are owed: a run
    #: whose transaction began before the read and committed after it is not in it.
    UNTRACKED_MARGIN = timedelta(minutes=1)

    def snapshot(self, user: Any) -> dict[str, Any]:
        """The snapshot frame (runs in a worker thread)."""
        self._snapshot_at = timezone.now()
        self._untracked_since = self._snapshot_at - self.UNTRACKED_MARGIN
        runs, truncated = eventlog.runs_snapshot(
            self.visible_runs(user), limit=self.SNAPSHOT_LIMIT, recent=self.RECENT
        )
        return {"type": "snapshot", "runs": runs, "truncated": truncated}

    async def resync(self, request: Any) -> None:
        frame = await database_sync_to_async(self.snapshot)(self.scope["user"])
        self._last_sent = {run["run"]: run["last_seq"] for run in reversed(frame["runs"])}
        await self.send_json(frame)

    async def on_resume(self, content: dict[str, Any]) -> None:
        if "after" in content:
            self._reply_error(
                'Resuming by seq is for run streams; send {"type": "resume"} for a snapshot.'
            )
            return
        await super().on_resume(content)


class BoardConsumer(SnapshotConsumer):
    """/ws/board/: the events of every workflow the user may view, and no other.

    Subscribes to the one ``board`` group and drops, per event, what is not in
    a cached set of the user's visible workflow slugs (fail closed: an unknown
    slug is dropped), refreshed every ``RECHECK_EVERY`` seconds from the same
    access helper as the API. Rather than a subscription per visible workflow:
    connecting stays one cheap query and one subscription whatever the number
    of workflows, a workflow created or granted later needs no re-subscribing,
    and the filter costs one set lookup per event per board socket (the
    process receives each event once either way). A grant or a withdrawal
    shows within ``RECHECK_EVERY``.
    """

    def authorize(self, user: Any) -> list[str]:
        if not user.is_active:
            raise Refused
        self.visible = frozenset(visible_workflows(user).values_list("slug", flat=True))
        return [BOARD_GROUP]

    def wants(self, event: dict[str, Any]) -> bool:
        return event["workflow"] in self.visible

    def visible_runs(self, user: Any) -> Any:
        return visible_runs(user)


class WorkflowConsumer(SnapshotConsumer):
    """/ws/workflows/<slug>/: the events of one workflow's runs."""

    def authorize(self, user: Any) -> list[str]:
        try:
            workflow = workflow_access(user, self.scope["url_route"]["kwargs"]["slug"])
        except (Http404, NotAllowed):
            raise Refused from None
        self.workflow = workflow.slug
        self.workflow_id = workflow.pk
        return [streams.workflow_group(workflow.slug)]

    def wants(self, event: dict[str, Any]) -> bool:
        return event["workflow"] == self.workflow

    def visible_runs(self, user: Any) -> Any:
        return Run.objects.filter(workflow_id=self.workflow_id)


class NoSuchStream(AsyncJsonWebsocketConsumer):
    """Any other path under /ws/: closed with 4404 rather than an unhandled routing error."""

    channel_layer_alias = None

    async def connect(self) -> None:
        await self.accept()
        await self.close(code=CLOSE_NO_STREAM)

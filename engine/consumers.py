"""WebSocket consumers of the live streams: the board, one workflow, one run.

They only subscribe, replay and forward: events come from ``engine.streams.publish``.

Server frames: ``{"type": "event", ...}`` (DESIGN.md's event message, plus its
``workflow``), ``{"type": "batch", "events": [...]}`` (several, in order; at
most one frame per ``FRAME_INTERVAL`` per connection), ``{"type": "snapshot",
"runs": [...], "truncated": bool}`` (board and workflow streams, on connect and
on resume), ``{"type": "pong"}`` and ``{"type": "error", "detail": ...}``.

Map iterations. The events of a map's iterations (those carrying ``index``, an
operator's acts aside) are kept in the log but never streamed one by one. A run
stream sends, in their place, ``{"type": "progress", "run", "seq", "maps":
{<map step id>: {"total", "started", "counts"} | null}}``, alone or in a batch
at the place of the events it stands for: ``seq`` is the last seq it covers (a
client's cursor moves on to it; every seq it passes over that the client was
not sent is an iteration event) and ``maps`` the progress of each map those
events moved, as the run's ``steps[].iterations`` says it (``maps`` may be
empty: nothing but the cursor moved). At most one a frame, and a frame of
progress alone at most every ``PROGRESS_EVERY``. A replay ends with one, with
every map's progress, when iteration events end the log. Board and workflow
streams carry no iteration event and no progress: a run's seqs jump over its
iterations there.

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
duplicate (iteration events aside, as said above). The consumer joins its
group before it reads the log, keeps what arrives live while it reads, then
sends the rest, dropping any ``seq`` it has already sent; a gap in what
arrives live (a reordered or dropped layer message) is filled from the log,
without its iteration events, before the later event goes out. Events whose
publish was lost with nothing after them come from the process's periodic
sweep of the log (``engine.hub``), through ``behind``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.http import Http404
from django.utils import timezone

from common.errors import NotAllowed
from designer.access import visible_workflows, workflow_access
from engine import eventlog
from engine.groups import BOARD_GROUP, PROGRESS_TYPE, run_group, workflow_group
from engine.models import Run
from engine.selectors import run_access, visible_runs
from engine.sockets import (
    CLOSE_BAD_REQUEST,
    CLOSE_FORBIDDEN,
    CLOSE_NO_STREAM,
    CLOSE_SERVER_ERROR,
    CLOSE_TOO_SLOW,
    CLOSE_UNAUTHENTICATED,
    MAX_SEQ,
    Refused,
    StreamConsumer,
)

__all__ = [
    "CLOSE_BAD_REQUEST",
    "CLOSE_FORBIDDEN",
    "CLOSE_NO_STREAM",
    "CLOSE_SERVER_ERROR",
    "CLOSE_TOO_SLOW",
    "CLOSE_UNAUTHENTICATED",
    "BoardConsumer",
    "NoSuchStream",
    "RunConsumer",
    "StreamConsumer",
    "WorkflowConsumer",
]


class RunConsumer(StreamConsumer):
    """/ws/runs/<id>/: one run's events, replayed from ``?after=`` (default 0), then live;
    its maps' iteration events summarised as ``progress`` frames."""

    SENDS_PROGRESS = True

    def authorize(self, user: Any) -> list[str]:
        try:
            run = run_access(user, self.scope["url_route"]["kwargs"]["run_id"])
        except (Http404, NotAllowed):
            raise Refused from None
        self.run_id = str(run.pk)
        self.workflow = run.workflow.slug
        return [run_group(self.run_id)]

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
        """Send the log after ``after`` in chunks, without its iteration events, then a
        progress frame with each map's counts that covers them; live events that arrive
        meanwhile wait."""
        self._last_sent[self.run_id] = after
        through, maps = await database_sync_to_async(eventlog.run_progress)(self.run_id)
        while True:
            rows = await database_sync_to_async(eventlog.events_after)(
                self.run_id,
                self.workflow,
                self._last_sent[self.run_id],
                self.REPLAY_CHUNK,
                iterations=False,
            )
            if rows:
                await self.send_events(rows)
                self._last_sent[self.run_id] = rows[-1]["seq"]
            if len(rows) < self.REPLAY_CHUNK:
                break
        # The log up to ``through`` (read first) has been read: what was not sent of it
        # is iteration events. The counts were read after it, so they are no older.
        if through > self._last_sent[self.run_id]:
            self._last_sent[self.run_id] = through
            await self.send_events(
                [{"type": PROGRESS_TYPE, "run": self.run_id, "seq": through, "maps": maps}]
            )


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
        return [workflow_group(workflow.slug)]

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

"""A map's iterations on the live streams: the log keeps every iteration event, the
streams summarise them. On the real Redis channel layer and PostgreSQL, with a run on a
real Celery worker, as in test_consumers.py."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from engine import consumers, eventlog, hub, services
from engine.groups import PROGRESS_TYPE
from engine.models import Event, Run, StepRun
from tests.engine.test_consumers import (  # noqa: F401 (redis_layer: a fixture)
    advance,
    asynchronous,
    chain,
    db,
    events_until,
    frames,
    opened,
    redis_layer,
    seqs,
    socket,
    start,
)
from tests.factories import UserFactory, grant, make_published, make_workflow

pytestmark = pytest.mark.django_db(transaction=True)

ITEMS = 2000


def big_map(items: int = ITEMS) -> dict[str, Any]:
    """prepare -> pack (a map of demo.noop over input.items) -> ship."""
    noop = {"name": "demo.noop", "args": {}}
    return {
        "format": "sagaboard/v1",
        "steps": [
            {"id": "prepare", "type": "task", "after": [], "action": noop},
            {
                "id": "pack",
                "type": "map",
                "after": ["prepare"],
                "items": "input.items",
                "max_concurrency": 50,
                "do": {"type": "task", "action": noop},
            },
            {"id": "ship", "type": "task", "after": ["pack"], "action": noop},
        ],
    }


def iteration_seqs(run_id: str) -> set[int]:
    return set(
        Event.objects.filter(eventlog.ITERATION, run_id=run_id).values_list("seq", flat=True)
    )


def other_seqs(run_id: str) -> list[int]:
    rows = Event.objects.filter(run_id=run_id).exclude(eventlog.ITERATION).order_by("seq")
    return list(rows.values_list("seq", flat=True))


async def until_completed(comm, run_id: str, timeout: float = 120) -> list[dict]:
    """Every frame of ``comm`` until the run's run.completed."""
    seen: list[dict] = []
    async with asyncio.timeout(timeout):
        while True:
            output = await comm.receive_output(timeout)
            assert output["type"] == "websocket.send", output
            frame = json.loads(output["text"])
            seen.append(frame)
            items = frame["events"] if frame["type"] == "batch" else [frame]
            if any(i.get("event") == "run.completed" and i["run"] == run_id for i in items):
                return seen


def items_of(frames: list[dict]) -> list[dict]:
    """What the frames carry, in order: events and progress."""
    out: list[dict] = []
    for frame in frames:
        out.extend(frame["events"] if frame["type"] == "batch" else [frame])
    return out


@asynchronous
async def test_a_big_maps_iterations_reach_its_page_summarised_and_never_the_board(
    worker, monkeypatch
):
    viewer = await db(UserFactory)(username="vera")
    workflow = await db(make_workflow)("bulk")
    await db(make_published)(workflow, big_map())
    await db(grant)(viewer, workflow, "view_workflow")
    fills: list[tuple[Any, ...]] = []
    real_fill = consumers.RunConsumer._fill

    async def fill(self, *args: Any, **kwargs: Any) -> list[dict]:
        fills.append(args)
        return await real_fill(self, *args, **kwargs)

    monkeypatch.setattr(consumers.RunConsumer, "_fill", fill)

    board = await opened(await socket("/ws/board/", viewer))
    assert json.loads((await board.receive_output(5))["text"])["type"] == "snapshot"
    items = [{"sku": f"sku-{i}"} for i in range(ITEMS)]
    run, _ = await db(services.run_start)(workflow=workflow, by=None, input={"items": items})
    run_id = str(run.pk)
    page = await opened(await socket(f"/ws/runs/{run_id}/?after=0", viewer))
    # The counts the page shows while the map runs: each progress frame's, in order.
    moving: list[int] = []
    page_frames: list[dict] = []
    async with asyncio.timeout(120):
        while not any(i.get("event") == "run.completed" for i in items_of(page_frames)):
            output = await page.receive_output(120)
            frame = json.loads(output["text"])
            page_frames.append(frame)
            for item in items_of([frame]):
                if item["type"] == PROGRESS_TYPE and item["maps"].get("pack"):
                    moving.append(item["maps"]["pack"]["counts"].get("succeeded", 0))
    board_frames = await until_completed(board, run_id)

    iterations = await db(iteration_seqs)(run_id)
    others = await db(other_seqs)(run_id)
    last = (await db(Run.objects.get)(pk=run_id)).last_seq
    assert len(iterations) >= 2 * ITEMS  # the log keeps each iteration's started and succeeded

    # The page: far fewer messages than iteration events; every other event once, in
    # order; no seq it passed over but iteration events.
    got = items_of(page_frames)
    assert len(page_frames) < len(iterations) / 20, len(page_frames)
    assert len(got) < len(iterations) / 20, len(got)
    cursor = 0
    for item in got:
        assert item["seq"] > cursor, (item, cursor)
        # Passed over: below an event, or up to a progress's seq (it covers that one too).
        end = item["seq"] if item["type"] == "event" else item["seq"] + 1
        skipped = set(range(cursor + 1, end))
        assert skipped <= iterations, sorted(skipped - iterations)[:5]
        cursor = item["seq"]
    assert cursor == last
    assert [i["seq"] for i in got if i["type"] == "event"] == others
    assert not any("index" in i["data"] for i in got if i["type"] == "event")
    # A gap is filled from the log only when one worker process's commit overtook
    # another's on the way (as for any run); a progress never needs one by itself.
    assert len(fills) < len(iterations) / 100, fills
    # Its map's counts moved while it ran, and ended right.
    assert len(set(moving)) > 3, moving
    assert moving == sorted(moving)
    final = [i for i in got if i["type"] == PROGRESS_TYPE and i["maps"].get("pack")][-1]
    done = {"total": ITEMS, "started": ITEMS, "counts": {"succeeded": ITEMS}}
    assert final["maps"]["pack"] == done
    row = await db(StepRun.objects.get)(run_id=run_id, step_id="pack")
    assert final["maps"]["pack"] == eventlog.map_progress(row.core)

    # The board: the run's other events, every one, and nothing of its iterations.
    board_got = [i for i in items_of(board_frames) if i.get("run") == run_id]
    assert [i["seq"] for i in board_got] == others
    assert {i["type"] for i in board_got} == {"event"}
    await board.disconnect()

    # A page that comes back in the middle of the map is replayed the other events only.
    started = await db(
        lambda: (
            Event.objects.exclude(eventlog.ITERATION)
            .get(run_id=run_id, type="step.started", step_id="pack")
            .seq
        )
    )()
    again = await opened(await socket(f"/ws/runs/{run_id}/?after={started + 10}", viewer))
    replayed = items_of(await until_completed(again, run_id))
    assert [i["seq"] for i in replayed] == [s for s in others if s > started + 10]
    await again.disconnect()
    await page.disconnect()


def test_the_sweep_reads_what_a_stream_lacks_without_the_iterations_and_covers_them():
    """The log's events a socket lacks, as the process's sweep hands them over: the
    iteration events left out, their seqs covered so the socket's cursor moves on."""
    workflow = make_workflow("orders")
    make_published(workflow, chain(2))
    run, _ = services.run_start(workflow=workflow, by=None, input={})  # seq 1, 2
    at = timezone.now() - timedelta(seconds=1)

    def log(seq: int, kind: str, **data: Any) -> None:
        Event.objects.create(run=run, seq=seq, type=kind, step_id="s1", at=at, data=data)

    for seq in (3, 4, 5):
        log(seq, "step.started", index=seq)
    log(6, "act.retry", index=1, actor="olga")  # an act on one iteration: no iteration event
    log(7, "step.succeeded", index=1)
    log(8, "step.failed")
    log(9, "step.succeeded", index=2)
    found = eventlog.events_lacking({str(run.pk): ("orders", 1, 9)})[str(run.pk)]
    assert [(i["type"], i.get("from"), i["seq"]) for i in found] == [
        ("event", None, 2),
        (PROGRESS_TYPE, 3, 5),
        ("event", None, 6),
        (PROGRESS_TYPE, 7, 7),
        ("event", None, 8),
        (PROGRESS_TYPE, 9, 9),
    ]
    assert {i["run"] for i in found} == {str(run.pk)}
    assert all(i["maps"] == {} for i in found if i["type"] == PROGRESS_TYPE)
    assert [e["seq"] for e in eventlog.events_after(str(run.pk), "orders", 0, 100)] == list(
        range(1, 10)
    )
    assert [
        e["seq"] for e in eventlog.events_after(str(run.pk), "orders", 0, 100, iterations=False)
    ] == [1, 2, 6, 8]


def log_iterations(run_id: str, first: int, last: int) -> None:
    """Iteration events logged whose publish was lost, as a worker's commit can be."""
    at = timezone.now()
    Event.objects.bulk_create(
        Event(
            run_id=run_id, seq=seq, type="step.succeeded", step_id="s1", at=at, data={"index": seq}
        )
        for seq in range(first, last + 1)
    )
    Run.objects.filter(pk=run_id).update(last_seq=last, updated_at=at)


@asynchronous
async def test_the_sweep_sends_no_iteration_event_and_moves_each_socket_past_them(monkeypatch):
    monkeypatch.setattr(hub._Hub, "SWEEP_EVERY", 0.2)
    monkeypatch.setattr(hub._Hub, "SWEEP_SETTLE", 0.0)
    viewer = await db(UserFactory)(username="vera")
    orders = await db(make_workflow)("orders")
    await db(make_published)(orders, chain())
    await db(grant)(viewer, orders, "view_workflow")
    fills: list[tuple[Any, ...]] = []
    real_fill = consumers.StreamConsumer._fill

    async def fill(self, *args: Any, **kwargs: Any) -> list[dict]:
        fills.append(args)
        return await real_fill(self, *args, **kwargs)

    monkeypatch.setattr(consumers.StreamConsumer, "_fill", fill)
    run_id = await db(start)(orders)  # seq 1, 2
    board = await opened(await socket("/ws/board/", viewer))
    assert (await frames(board, lambda seen: bool(seen)))[0]["type"] == "snapshot"
    page = await opened(await socket(f"/ws/runs/{run_id}/?after=2", viewer))
    await db(log_iterations)(run_id, 3, 40)
    # The page's cursor moves past them; the board hears nothing of them.
    moved = await frames(page, lambda seen: bool(seen), timeout=5)
    assert moved == [{"type": PROGRESS_TYPE, "run": run_id, "seq": 40, "maps": {}}]
    assert await board.receive_nothing(0.6)
    # The next events follow on both, with no gap to fill: the sweep covered it.
    last = await db(advance)(run_id)
    assert seqs(await events_until(page, run_id, last), run_id) == [41, 42]
    assert seqs(await events_until(board, run_id, last), run_id) == [41, 42]
    assert fills == []
    assert await page.receive_nothing(0.6)  # and the sweep does not come back to them
    await board.disconnect()
    await page.disconnect()

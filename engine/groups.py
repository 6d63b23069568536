"""Where a committed event goes: the channel-layer groups of its run, its workflow and the
board, and the messages that carry a commit's events to them.

A ``progress`` message (the summary of a map's iteration events,
:func:`engine.eventlog.stream_messages`) goes to its run's group alone: iteration
events change neither a run's status nor a board's rows, and a map of 10,000 items
would otherwise send some 30,000 of them to every board."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

__all__ = [
    "BATCH_TYPE",
    "BOARD_GROUP",
    "MAX_BATCH",
    "PROGRESS_TYPE",
    "group_batches",
    "layer_messages",
    "run_group",
    "workflow_group",
]

#: The group of the global board; every committed event goes to it.
BOARD_GROUP = "board"
#: The channel-layer message type of published events.
BATCH_TYPE = "stream.batch"
#: The type of the messages that stand for a map's iteration events (run groups only).
PROGRESS_TYPE = "progress"
#: At most this many events in one channel-layer message.
MAX_BATCH = 200


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
        if message.get("type") == PROGRESS_TYPE:
            groups.setdefault(run_group(message["run"]), []).append(message)
            continue
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

"""Recording the decisions of real runs as histories, to replay through the kernel.

With ``SAGABOARD_RECORD_HISTORIES`` naming a folder, every committed decision
of every run is appended to ``<folder>/<run id>.jsonl`` (see
:mod:`saga.history`), whichever process took it: the corpus under
``tests/histories/`` is recorded this way (``tests/histories/record.py``).
Off by default; it costs a settings lookup per decision then.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from designer.models import Version
from saga import Decision, Happening, RunState
from saga.history import HISTORY_FORMAT, decision_line

__all__ = ["record"]


def _folder() -> Path | None:
    folder = getattr(settings, "SAGABOARD_RECORD_HISTORIES", "")
    return Path(folder) if folder else None


@lru_cache(maxsize=256)
def _spec(version_id: int) -> Any:
    return Version.objects.values_list("spec", flat=True).get(pk=version_id)


def record(
    run_id: Any,
    version_id: int,
    before: RunState,
    happening: Happening,
    now: float,
    jitter: float,
    decision: Decision,
) -> None:
    """Append the decision to the run's history once its transaction commits."""
    folder = _folder()
    if folder is None:
        return
    line = decision_line(before, happening, now, jitter, decision)
    path = folder / f"{run_id}.jsonl"

    def write() -> None:
        folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps(line, separators=(",", ":")) + "\n"
        if not path.exists():
            head = {"history": HISTORY_FORMAT, "run": str(run_id), "spec": _spec(version_id)}
            text = json.dumps(head, separators=(",", ":")) + "\n" + text
        # One write of one line (or two) in append mode: the processes that decide for
        # one run take its row lock in turn, so their lines land in order.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)

    transaction.on_commit(write)

"""Carrying out the core's commands once their transaction has committed.

Messages are nudges: if one is lost, the reconciler finds the row it was
about and sends it again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from engine import core

log = logging.getLogger("sagaboard.engine")

# Timers further out than this are left to the reconciler rather than held as
# broker ETAs, which Redis would redeliver after its visibility timeout.
MAX_ETA_S = 60.0


def dispatch(run_id: str, commands: Iterable[core.Command]) -> None:
    for command in commands:
        try:
            _send(run_id, command)
        except Exception:
            # The state is committed; the reconciler sends what did not go out.
            log.exception("could not send %r for run %s", command, run_id)


def _send(run_id: str, command: core.Command) -> None:
    from engine import tasks

    match command:
        case core.StartStep(step=step, attempt=attempt):
            tasks.execute_step.delay(run_id, step, attempt, False)
        case core.StartCompensation(step=step, attempt=attempt):
            tasks.execute_step.delay(run_id, step, attempt, True)
        case (
            core.ScheduleRetry(step=step, attempt=attempt, at=at)
            | core.StartTimer(step=step, attempt=attempt, at=at)
        ):
            _timer(run_id, step, attempt, at, compensation=False)
        case core.ScheduleCompensationRetry(step=step, attempt=attempt, at=at):
            _timer(run_id, step, attempt, at, compensation=True)
        case core.WaitForApproval():
            pass  # a person decides; the reconciler watches the deadline
        case _:
            log.warning("unknown command %r", command)


def _timer(run_id: str, step: str, attempt: int, at: float, *, compensation: bool) -> None:
    from engine import tasks

    delay = at - time.time()
    if delay > MAX_ETA_S:
        return
    tasks.fire_timer.apply_async((run_id, step, attempt, compensation), countdown=max(delay, 0))

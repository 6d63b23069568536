"""Carrying out the kernel's commands once their transaction has committed.

Messages are nudges: if one is lost, the reconciler finds the row it was
about and sends it again. They go to the engine's Celery tasks by name, so
that what records a decision never imports the tasks that carry it out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from celery import current_app

import saga

log = logging.getLogger("sagaboard.engine")

#: The engine's Celery tasks (engine/tasks.py), by name.
EXECUTE_STEP = "engine.tasks.execute_step"
FIRE_TIMER = "engine.tasks.fire_timer"
RECONCILE = "engine.tasks.reconcile"
CHILD_ENDED = "engine.tasks.child_ended"

# Timers further out than this are left to the reconciler rather than held as
# broker ETAs, which Redis would redeliver after its visibility timeout.
MAX_ETA_S = 60.0


def dispatch(run_id: str, commands: Iterable[saga.Command]) -> None:
    for command in commands:
        try:
            _send(run_id, command)
        except Exception:
            # The state is committed; the reconciler sends what did not go out.
            log.exception("could not send %r for run %s", command, run_id)


def execute(
    run_id: str, step: str, attempt: int, compensation: bool, index: int | None = None
) -> None:
    """Ask a worker to run an attempt (or a compensation attempt) of a step, or of one
    iteration of a map step."""
    args: tuple[object, ...] = (run_id, step, attempt, compensation)
    current_app.send_task(EXECUTE_STEP, args if index is None else (*args, index))


def child_ended(run_id: str) -> None:
    """Tell the parent of child run ``run_id`` that it has ended."""
    current_app.send_task(CHILD_ENDED, (run_id,))


def _send(run_id: str, command: saga.Command) -> None:
    match command:
        case saga.StartStep(step=step, attempt=attempt, index=index):
            execute(run_id, step, attempt, False, index)
        case saga.StartCompensation(step=step, attempt=attempt, index=index):
            execute(run_id, step, attempt, True, index)
        case saga.ScheduleRetry(step=step, attempt=attempt, at=at, index=index):
            _timer(run_id, step, attempt, at, compensation=False, index=index)
        case saga.StartTimer(step=step, attempt=attempt, at=at):
            _timer(run_id, step, attempt, at, compensation=False)
        case saga.ScheduleCompensationRetry(step=step, attempt=attempt, at=at, index=index):
            _timer(run_id, step, attempt, at, compensation=True, index=index)
        case saga.WaitForApproval():
            pass  # a person decides; the reconciler watches the deadline
        case _:
            log.warning("unknown command %r", command)


def _timer(
    run_id: str, step: str, attempt: int, at: float, *, compensation: bool, index: int | None = None
) -> None:
    delay = at - time.time()
    if delay > MAX_ETA_S:
        return
    args: tuple[object, ...] = (run_id, step, attempt, compensation)
    current_app.send_task(
        FIRE_TIMER, args if index is None else (*args, index), countdown=max(delay, 0)
    )

"""Everything that changes a run. Each change goes through the pure core's ``decide``.

A change locks the run row, loads its steps, asks the core what follows,
writes the new state and the events in the same transaction, and sends the
commands to the broker once that transaction has committed.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import random
import time
import uuid
from collections.abc import Sequence
from typing import Any

import jsonschema
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone

import saga
from common.errors import Conflict, InvalidInput
from common.people import User
from designer.audit import record
from designer.models import Workflow
from engine import dispatch, iterations, tracing
from engine.acts import decider_refusal
from engine.answers import decide_answered
from engine.claims import spend_callback_token, step_for_token
from engine.eventlog import stream_messages
from engine.models import Run, StepRun
from engine.search import run_search, search_store
from engine.store import (
    Writes,
    append_events,
    definition_for,
    definition_for_version,
    insert_steps,
    lock_run,
    new_rows,
    run_state,
    save_decision,
    save_output,
    workflow_slug,
)
from engine.streams import publish
from saga import ActNotAllowed, Decision, Happening
from saga.templates import TemplateError, render

log = logging.getLogger("sagaboard.engine")

MAX_INPUT_BYTES = 256 * 1024
MAX_REASON = 2000


def _actor(user: User | None) -> str:
    return user.get_username() if user is not None else ""


# Commands a worker may carry out itself, at once, instead of sending them through the broker.
Continuation = saga.StartStep | saga.StartCompensation


def _commit(
    run: Run,
    rows: dict[str, StepRun],
    state: saga.RunState,
    decision: Decision,
    *,
    claim_next: str = "",
    claim_iterations: int = 0,
) -> list[Continuation]:
    """Persist a decision taken on the locked ``run`` and dispatch its commands on commit.

    With ``claim_next`` (the caller's worker name), the first step the decision
    starts is claimed for the caller in this transaction and returned instead
    of being sent: a sequence of steps then runs without a broker hop between
    them; so are up to ``claim_iterations`` iterations of a map it starts, besides. If
    the caller dies, the claim's deadline hands them back.
    """
    now = timezone.now()
    commands = [c for c in decision.commands if not isinstance(c, saga.Emit)]
    continuations: list[Continuation] = []
    if claim_next:
        more = claim_iterations
        for command in commands:
            if not isinstance(command, Continuation):
                continue
            if not continuations:
                continuations.append(command)
            elif more and isinstance(command, saga.StartStep) and command.index is not None:
                continuations.append(command)
                more -= 1
        commands = [c for c in commands if c not in continuations]
    writes = Writes()
    events = append_events(run, decision.events, now=now, writes=writes)
    save_decision(
        writes,
        run,
        rows,
        state,
        decision.state,
        now=now,
        claimed=frozenset(_key(c) for c in continuations),
        claimed_by=claim_next,
    )
    new = decision.state
    if new.status is saga.RunStatus.COMPLETED and state.status is not new.status:
        if new.definition.output is not None:
            save_output(writes, run, *_run_output(run, new))
    writes.execute()
    slug = workflow_slug(run.workflow_id)
    messages = stream_messages(events, slug, run.status, functools.partial(_progress, new))
    run_id = str(run.pk)
    transaction.on_commit(lambda: after_commit(run_id, commands, messages))
    if run.parent_run_id and new.terminal and not state.terminal:
        # A child run has ended: its parent's step hears of it (the reconciler tells it
        # again, should this message be lost).
        transaction.on_commit(lambda: dispatch.child_ended(run_id))
    if tracing.enabled() and run.finished_at and state.finished_at is None:
        started, status, finished = run.created_at, run.status, run.finished_at
        transaction.on_commit(lambda: tracing.record_run(run_id, slug, status, started, finished))
    return continuations


def _progress(state: saga.RunState, step_id: str) -> dict[str, Any] | None:
    """A map's progress in ``state``, as its row keeps it (the run's ``steps[].iterations``)."""
    fan = state.steps[step_id].fan
    return iterations.fan_core(fan) if fan is not None else None


def _key(command: Continuation) -> saga.state.Key:
    return command.step if command.index is None else (command.step, command.index)


def _run_output(run: Run, state: saga.RunState) -> tuple[Any, str]:
    """The definition's output template filled in for the completed run, and "" (or None
    and why not: a step it names did not run, say)."""
    steps = {sid: {"output": step.output} for sid, step in state.steps.items()}
    context = {"input": run.input, "steps": steps, "run": {"id": str(run.pk)}}
    try:
        return render(state.definition.output, context), ""
    except TemplateError as exc:
        return None, f"the output could not be filled in: {exc}"


def after_commit(
    run_id: str, commands: Sequence[saga.Command], messages: list[dict[str, Any]]
) -> None:
    """Send the decision's commands to the broker and its events to the live streams."""
    if commands:
        dispatch.dispatch(run_id, commands)
    if messages:
        try:
            publish(messages)
        except Exception:
            # A client that missed an event replays it from the log when it resumes.
            log.exception("could not publish the events of run %s", run_id)


def run_apply(run_id: Any, happening: Happening) -> Decision:
    """Apply one happening to a run, in its own transaction.

    A happening the core fences off (duplicate, late) changes nothing. Raises
    ActNotAllowed for an act the run's state does not allow.
    """
    return run_apply_and_continue(run_id, happening)[0]


def run_apply_and_continue(
    run_id: Any, happening: Happening, *, claim_next: str = ""
) -> tuple[Decision, Continuation | None, Run | None]:
    """``run_apply``, and with ``claim_next`` the step the caller should run next (claimed)."""
    decisions, following, run = run_apply_all(run_id, (happening,), claim_next=claim_next)
    return decisions[0], (following[0] if following else None), run


def run_apply_all(
    run_id: Any,
    happenings: Sequence[Happening],
    *,
    claim_next: str = "",
    claim_iterations: int = 0,
) -> tuple[list[Decision], list[Continuation], Run | None]:
    """Apply ``happenings`` to a run in turn, each decided on the state the one before left,
    in one transaction: one lock of the run, one write, one commit (a worker's outcomes of
    several iterations of a map). A decision for each; with ``claim_next`` what the caller
    should run next, claimed (see :func:`_commit`)."""
    with transaction.atomic():
        run, rows = lock_run(run_id, about=happenings)
        state = first = run_state(run, rows)
        decisions: list[Decision] = []
        commands: list[saga.Command] = []
        for happening in happenings:
            decision = decide_answered(
                run, state, happening, now=time.time(), jitter=random.random()
            )
            decisions.append(decision)
            if not decision.ignored:
                state = decision.state
                commands += decision.commands
        if all(d.ignored for d in decisions):
            return decisions, [], run
        whole = Decision(state=state, commands=tuple(commands))
        following = _commit(
            run, rows, first, whole, claim_next=claim_next, claim_iterations=claim_iterations
        )
    return decisions, following, run


# Starting runs


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


def _check_input(version_spec: dict[str, Any], data: Any) -> None:
    text = json.dumps(data)
    if "\\u0000" in text and _holds_nul(data):
        # PostgreSQL's jsonb cannot hold a NUL character.
        raise InvalidInput(
            "The input holds a NUL character (\\u0000), which cannot be stored.",
            [{"step": None, "field": "input", "message": "contains \\u0000"}],
        )
    size = len(text)
    if size > MAX_INPUT_BYTES:
        raise InvalidInput(
            f"The input is {size} bytes; the limit is {MAX_INPUT_BYTES // 1024} KB.",
            [{"step": None, "field": "input", "message": "too large"}],
        )
    schema = version_spec.get("input_schema")
    if not schema:
        return
    errors = sorted(
        jsonschema.Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.path)
    )
    if errors:
        raise InvalidInput(
            "The input does not match the workflow's input schema.",
            [
                {
                    "step": None,
                    "field": ".".join(str(p) for p in ("input", *e.path)),
                    "message": _schema_message(e),
                }
                for e in errors
            ],
        )


def _schema_message(error: jsonschema.ValidationError) -> str:
    """jsonschema's message, but "needs a value" for a null where a value must be (the
    start-run form offers required values as null, to be filled in)."""
    if error.validator == "type" and error.instance is None:
        kinds = error.validator_value
        kinds = " or ".join(kinds) if isinstance(kinds, list) else str(kinds)
        return f"needs a value ({kinds}), not null"
    return error.message


def run_start(
    *,
    workflow: Workflow,
    by: User | None,
    input: Any,
    idempotency_key: str | None = None,
    parent: tuple[Any, str] | None = None,
    parent_index: int | None = None,
) -> tuple[Run, bool]:
    """Start a run of the workflow's published version; ``(run, created)``.

    A key already used for this workflow returns the run it started. ``parent``: the
    run and the step (a child saga step) that start this one, as its child;
    ``parent_index``: the iteration, when that step is a map's.
    """
    if idempotency_key:
        existing = Run.objects.filter(workflow=workflow, idempotency_key=idempotency_key).first()
        if existing:
            return existing, False
    version = workflow.published_version
    if version is None:
        raise Conflict(f"Workflow {workflow.slug} has no published version to run.")
    _check_input(version.spec, input)
    attributes = run_search(definition_for_version(version.pk).search, input)
    try:
        with transaction.atomic():
            run_id = uuid.uuid4()
            run = Run.objects.create(
                id=run_id,
                correlation_id=str(run_id),
                workflow=workflow,
                version=version,
                input=input,
                idempotency_key=idempotency_key or None,
                started_by=by,
                parent_run_id=parent[0] if parent else None,
                parent_step=parent[1] if parent else "",
                parent_index=parent_index if parent else None,
                search=attributes,
            )
            search_store(run)
            definition = definition_for(run)
            created = new_rows(run, definition, version.spec["steps"])
            insert_steps(created)
            if all(row.pk is not None for row in created):
                # Just inserted, so locked by this transaction already, and as written.
                rows = {row.step_id: row for row in created}
            else:  # a database that does not return the new rows' ids
                run, rows = lock_run(run.pk)
            state = run_state(run, rows)
            decision = decide_answered(run, state, saga.RunStarted(), now=time.time(), jitter=1.0)
            _commit(run, rows, state, decision)
    except IntegrityError:
        # The same key, used at the same moment by another request.
        existing = Run.objects.filter(workflow=workflow, idempotency_key=idempotency_key).first()
        if existing is None:
            raise
        return existing, False
    log.info("run started", extra={"run_id": str(run.pk), "workflow": workflow.slug})
    return run, True


# Operator acts


def _reason(reason: str, *, required: bool = True) -> str:
    reason = (reason or "").strip()
    if required and not reason:
        raise InvalidInput(
            "Say why.", [{"step": None, "field": "reason", "message": "a reason is required"}]
        )
    if len(reason) > MAX_REASON:
        raise InvalidInput(
            "The reason is too long.",
            [{"step": None, "field": "reason", "message": f"at most {MAX_REASON} characters"}],
        )
    return reason


def run_act(
    *,
    run: Run,
    act: str,
    by: User,
    step: str | None = None,
    index: int | None = None,
    reason: str = "",
) -> Run:
    """Do the act named ``act`` (``saga.ACTS``) to ``run`` (or to its ``step``, or to one
    iteration ``index`` of a map step).

    The kernel refuses what the run's state does not allow (409, saying why); for
    the acts people decide, only the step's deciders may (engine/acts.py). Whether
    the user holds the operator role is checked on the way in, with the run. The act
    and its entry in the audit log (designer/audit.py) commit together.
    """
    found = saga.ACTS[act]
    if found.on_step and step is None:
        raise InvalidInput(f"{act} acts on a step: name one.")
    if found.who == "decider":
        refusal = decider_refusal(by, definition_for(run), step or "")
        if refusal is not None:
            raise refusal
    said = _reason(reason, required=found.must_say)
    happening = found.make(step=step, by=_actor(by), reason=said)
    if index is not None:
        if not found.on_iteration:
            raise Http404(f"{act} does not act on an iteration.")
        happening = dataclasses.replace(happening, index=index)  # type: ignore[arg-type]
    try:
        with transaction.atomic():
            decision = run_apply(run.pk, happening)
            if not decision.ignored:
                _audit(run, found, by=by, reason=said, step=step, index=index)
    except ActNotAllowed as exc:
        raise Conflict(str(exc)[:1].upper() + str(exc)[1:] + ".") from None
    except saga.UnknownStep as exc:
        raise Http404(str(exc)) from None
    run.refresh_from_db()
    return run


def _audit(
    run: Run, act: saga.RunAct, *, by: User, reason: str, step: str | None, index: int | None
) -> None:
    """The act's entry in the audit log, in the act's transaction."""
    where = {"step": step, "index": index}
    detail = {key: value for key, value in where.items() if value is not None}
    record(act=act.event, by=by, workflow=run.workflow_id, run=run.pk, reason=reason, detail=detail)


def run_step_retry(*, run: Run, step: str, by: User, reason: str) -> Run:
    """Give a failed step (or a failed compensation) a fresh round of its retry policy."""
    return run_act(run=run, act="retry", step=step, by=by, reason=reason)


def run_step_skip(*, run: Run, step: str, by: User, reason: str) -> Run:
    """Record a step as skipped, so the steps after it can run."""
    return run_act(run=run, act="skip", step=step, by=by, reason=reason)


def run_compensate(*, run: Run, by: User, reason: str) -> Run:
    """Turn the run around: compensate every succeeded step, in reverse graph order."""
    return run_act(run=run, act="compensate", by=by, reason=reason)


def run_cancel(*, run: Run, by: User, reason: str) -> Run:
    """Stop the run where it stands, without compensating."""
    return run_act(run=run, act="cancel", by=by, reason=reason)


def run_step_decide(*, run: Run, step: str, by: User, approved: bool, comment: str = "") -> Run:
    """Decide an approval gate: only members of its group (and staff) may."""
    act = "approve" if approved else "reject"
    return run_act(run=run, act=act, step=step, by=by, reason=comment)


def callback_complete(
    *, token: str, succeeded: bool, output: Any = None, error: str | None = None
) -> Run:
    """A participant completes a callback step with its one-time token."""
    row = step_for_token(token)
    if row is None:
        raise Http404("No callback is waiting for this token.")
    decision = run_apply(
        row.run_id,
        saga.CallbackCompleted(row.step_id, row.attempt, succeeded, output, error),
    )
    if decision.ignored:
        raise Conflict("This callback is no longer expected: the step has moved on.")
    spend_callback_token(row, token)
    row.run.refresh_from_db()
    return row.run

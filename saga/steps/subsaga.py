"""``subsaga``: a child run of another workflow's published version, started
idempotently, waited for, and compensated with it.

The attempt starts the child (key ``<run id>:<step id>``) and waits: the child's end
reaches the parent as the answer of a step that answers later
(``CallbackCompleted``): completed, the step succeeds with the child's output;
compensated or cancelled, it fails for good. A child that is stuck keeps the parent
waiting. Compensating the step compensates the child run (``ParentCompensates``,
which only a parent may do to a completed run); a child past its own pivot cannot be,
and the step's compensation fails for good.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from saga.commands import Command, StartStep
from saga.definition import RetryPolicy, StepDef
from saga.happenings import CallbackCompleted, Happening, StepFailed, StepWaiting
from saga.issues import Catalog, Issue, did_you_mean
from saga.steps.base import Outcome, Participants, StepKind, Verdict, Waiting, Work

#: A workflow's slug, as the designer's workflows have them.
SLUG = "^[a-z0-9][a-z0-9-]{0,63}$"


class Subsaga(StepKind):
    name = "subsaga"
    label = "saga"
    title = "child saga"
    summary = "Run another workflow as a child saga"
    schema_defs = {
        "subsaga_action": {
            "type": "object",
            "additionalProperties": False,
            "required": ["workflow"],
            "properties": {
                "workflow": {"type": "string", "pattern": SLUG},
                "input": {
                    "description": "The child run's input, with templates.",
                    "type": "object",
                },
            },
        }
    }
    action_def = "subsaga_action"
    answers_later = True
    # The child takes as long as it takes (it may wait for people): only starting it has
    # a deadline, so that a worker lost while starting it is noticed and tried again.
    waits_unbounded = True
    # A worker lost while starting the child may have started it: given up on so, the step
    # is still compensated with the run, lest its child outlive the parent's compensation.
    undone_when_unsure = True

    def settings(
        self, action: Mapping[str, Any], *, timeout_s: float | None, retry: RetryPolicy
    ) -> dict[str, Any]:
        # Compensating the step compensates the child: every child saga step has one.
        return {"timeout_s": timeout_s, "retry": retry, "has_compensation": True}

    def issues(self, step_id: str, step: Mapping[str, Any], catalog: Catalog) -> Iterable[Issue]:
        action = step.get("action")
        if not isinstance(action, Mapping):
            return
        slug = action["workflow"]
        if slug not in catalog.workflows:
            hint = did_you_mean(slug, sorted(catalog.workflows))
            yield Issue(
                step_id,
                "action.workflow",
                f"no workflow {slug!r} has a published version to run{hint}",
            )
            return
        loop = catalog.calls_back(slug)
        if loop is not None:
            chain = " -> ".join([str(catalog.workflow), *loop])
            yield Issue(
                step_id, "action.workflow", f"workflows call each other in a cycle: {chain}"
            )

    def doubts(
        self, step_id: str, step: Mapping[str, Any], catalog: Catalog, *, undoable: bool
    ) -> Iterable[Issue]:
        slug = step["action"]["workflow"]
        found = catalog.workflows.get(slug)
        if undoable and found is not None and found.pivot:
            yield Issue(
                step_id,
                "action.workflow",
                f"{slug} has a pivot: once its run has passed it, this run cannot compensate "
                "it (put this step after this run's pivot, or the child's pivot last)",
            )

    def side_effects(self, action: Mapping[str, Any], catalog: Catalog) -> bool:
        return False  # what it does, its child run undoes: it needs no compensation written

    def waits_through_compensation(self, step: StepDef) -> bool:
        return True  # a child still running is compensated in its turn

    def wait_expired(self, step: StepDef, *, compensating: bool) -> Verdict:
        return Verdict("ignore")  # no deadline: the child ends, or an operator acts

    def simulated_answers(self, step: StepDef, command: Command, *, fail: bool) -> list[Happening]:
        if not isinstance(command, StartStep):
            return []
        if fail:
            return [StepFailed(step.id, command.attempt, "simulated failure", retryable=False)]
        return [
            StepWaiting(step.id, command.attempt),
            CallbackCompleted(step.id, command.attempt, True),
        ]

    def perform(self, work: Work, participants: Participants) -> Outcome | Waiting:
        if work.compensation:
            return participants.compensate_child(work)
        return participants.start_child(work.action, work)


KIND = Subsaga()

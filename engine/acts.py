"""What a user may do to a run now: one rule per act, asked both to offer and to refuse.

The run's state allows or refuses an act in the kernel (``saga.act_allowed``);
here is who may: the operator role for retry, skip, compensate and cancel,
and for an approval the members of its group (and staff). The run API says
which acts the current user may do, so the rules live only on the server.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import saga
from common.errors import Conflict, NotAllowed
from common.people import Visitor
from designer.access import user_can
from engine.models import Run, StepRun
from engine.store import run_state, with_iterations
from saga import Definition
from saga.steps import KINDS, kind_of

__all__ = ["approvers_of", "decider_refusal", "gate_types", "run_acts", "user_groups"]


def gate_types() -> list[str]:
    """The step types that people decide."""
    return [name for name, kind in KINDS.items() if kind.decided_by_people]


def approvers_of(definition: Definition, step: str) -> str | None:
    """The group whose members decide ``step``, or None when people do not decide it."""
    if step not in definition:
        return None
    sdef = definition.step(step)
    return kind_of(sdef.type).approvers(sdef)


def user_groups(user: Visitor) -> set[str]:
    return set(user.groups.values_list("name", flat=True)) if user.is_authenticated else set()


def decider_refusal(
    user: Visitor, definition: Definition, step: str, *, groups: Iterable[str] | None = None
) -> Conflict | NotAllowed | None:
    """Why ``user`` may not decide the approval ``step``, or None when they may.

    ``groups``: the user's group names, when the caller has them already.
    """
    group = approvers_of(definition, step)
    if group is None:
        return Conflict(f"Step {step} is not an approval.")
    if not user.is_authenticated:
        return NotAllowed(f"Only members of the group {group} decide this approval.")
    if user.is_staff:
        return None
    if group not in (user_groups(user) if groups is None else set(groups)):
        return NotAllowed(f"Only members of the group {group} decide this approval.")
    return None


def run_acts(user: Visitor, run: Run, steps: list[StepRun]) -> dict[str, Any]:
    """What ``user`` may do to this run now: run-level acts, and per step.

    Asks the kernel (``act_allowed``) and :func:`decider_refusal`, the very rules
    that refuse an act, so what is offered is what will work.
    """
    acts: dict[str, Any] = {"run": [], "steps": {}}
    if run.is_terminal:
        return acts
    operate = user_can(user, run.workflow, "operate_workflow")
    state = run_state(*with_iterations(run, {s.step_id: s for s in steps}))
    groups = user_groups(user)

    def may(act: saga.RunAct, step: str | None) -> bool:
        if act.who == "operator" and not operate:
            return False
        if not saga.act_allowed(state, act.make(step=step, by="x", reason="x")):
            return False
        return act.who != "decider" or (
            decider_refusal(user, state.definition, step or "", groups=groups) is None
        )

    step_acts: dict[str, list[str]] = {}
    for act in saga.ACTS.values():
        if not act.on_step:
            if may(act, None):
                acts["run"].append(act.name)
            continue
        for row in steps:
            if may(act, row.step_id):
                step_acts.setdefault(row.step_id, []).append(act.name)
    acts["steps"] = {
        row.step_id: step_acts[row.step_id] for row in steps if row.step_id in step_acts
    }
    return acts

"""``approve`` and ``reject``: a member of a gate's group decides it."""

from __future__ import annotations

from saga.acts.base import ActNotAllowed, RunAct, require_open
from saga.draft import Draft
from saga.forward import attempt_failed
from saga.happenings import Act, ApprovalDecided
from saga.vocabulary import STEP_PHRASES, EventType, StepStatus


class Decide(RunAct):
    """A decision on an approval step; ``approved`` says which one."""

    on_step = True
    who = "decider"
    says = "comment"
    must_say = False
    approved: bool

    def make(self, *, step: str | None, by: str, reason: str) -> Act:
        assert step is not None
        return ApprovalDecided(step, self.approved, by, reason)

    def apply(self, d: Draft, h: Act) -> None:
        assert isinstance(h, ApprovalDecided)
        require_open(d, "its approvals can no longer be decided")
        if not d.kind(h.step).decided_by_people:
            raise ActNotAllowed(f"step {h.step} is not an approval")
        step = d.steps[h.step]
        if step.status is not StepStatus.WAITING:
            raise ActNotAllowed(
                f"step {h.step} {STEP_PHRASES[step.status]}; only a waiting approval can be decided"
            )
        d.act(
            EventType.ACT_APPROVE if h.approved else EventType.ACT_REJECT, h.step, h.by, h.comment
        )
        if h.approved:
            d.succeed(h.step, None, decided_by=h.by)
        else:
            error = f"rejected by {h.by}" + (f": {h.comment}" if h.comment else "")
            attempt_failed(d, h.step, error, False)


class Approve(Decide):
    summary = "A member of the approval step's group approves it: the step succeeds."
    name = "approve"
    event = EventType.ACT_APPROVE
    approved = True


class Reject(Decide):
    summary = "A member of the approval step's group rejects it: the step fails for good."
    name = "reject"
    event = EventType.ACT_REJECT
    approved = False


APPROVE = Approve()
REJECT = Reject()

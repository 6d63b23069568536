"""What an act is: an operator's or an approver's deliberate change to a run.

An act is one module under :mod:`saga.acts` holding one :class:`RunAct`: its
name (as the API and the pages call it), the event it writes, whether it acts
on a step, who may do it, the happening that carries it, and its rule, which
refuses it with :class:`ActNotAllowed` (a reason a person can read) when the
run's state does not allow it. The registry in :mod:`saga.acts` is the one
entry point: :func:`saga.decide.decide` applies an act through it, and the
shell offers, checks and routes acts by it.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from saga.draft import Draft
from saga.happenings import Act
from saga.vocabulary import RUN_PHRASES, EventType, RunStatus

__all__ = ["ActNotAllowed", "RunAct", "require_open"]


class ActNotAllowed(Exception):
    """An act the run's current state does not allow; the message says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def require_open(d: Draft, consequence: str) -> None:
    """Refuse an act on a run that has not started or has ended."""
    if d.terminal or d.status is RunStatus.PENDING:
        raise ActNotAllowed(f"the run {RUN_PHRASES[d.status]}; {consequence}")


class RunAct:
    """An act. Subclasses set the class attributes and write :meth:`make` and :meth:`apply`."""

    #: As the API (``.../<name>/``) and the pages call it, and what it does, in a sentence.
    name: ClassVar[str]
    summary: ClassVar[str]
    #: The event it writes in the run's log, naming the actor and the reason.
    event: ClassVar[EventType]
    #: Whether it acts on one step (``.../steps/<step>/<name>/``) or on the whole run.
    on_step: ClassVar[bool]
    #: Whether it may act on one iteration of a map step (``.../iterations/<index>/<name>/``).
    on_iteration: ClassVar[bool] = False
    #: Who may: holders of the ``operate_workflow`` role, or the step's deciders.
    who: ClassVar[Literal["operator", "decider"]] = "operator"
    #: What the person says with it, and whether they must.
    says: ClassVar[Literal["reason", "comment"]] = "reason"
    must_say: ClassVar[bool] = True

    def make(self, *, step: str | None, by: str, reason: str) -> Act:
        """The happening that carries the act."""
        raise NotImplementedError

    def apply(self, d: Draft, h: Act) -> None:
        """Apply the act to the draft, or raise :class:`ActNotAllowed` saying why not."""
        raise NotImplementedError

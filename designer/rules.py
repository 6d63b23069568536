"""The review process's rules: one function says whether a user may do an act to a version
now, and why not. Services ask it to refuse; selectors ask it to offer the acts that work.

Four-eyes lives here once: whoever wrote a version (its author and everyone who
changed it) never reviews it, whatever roles they hold.
"""

from __future__ import annotations

from collections.abc import Mapping

from common.errors import Conflict, NotAllowed
from common.people import Visitor
from designer.access import user_can
from designer.models import (
    ROLE_PERMS,
    VERSION_MOVES,
    AuditEntry,
    ReviewDecision,
    Version,
    VersionStatus,
)

__all__ = ["VERSION_ACTS", "version_contributors", "version_refusal"]

#: The acts on a version, in the order pages offer them, and the role each needs.
VERSION_ACTS: Mapping[str, str] = {
    "edit": "change_workflow",
    "submit": "change_workflow",
    "request_changes": "review_workflow",
    "approve": "review_workflow",
    "publish": "publish_workflow",
}
_ROLES = {perm: role for role, perm in ROLE_PERMS.items()}
#: The acts that move a version along its lifecycle (models.VERSION_MOVES), and where to.
_MOVES_TO = {"submit": VersionStatus.IN_REVIEW, "publish": VersionStatus.PUBLISHED}


def version_contributors(version: Version) -> set[int]:
    """Ids of the users who wrote the version: its author and everyone who changed it."""
    ids = set(
        AuditEntry.objects.filter(
            version=version, act__in=("version.create", "version.update")
        ).values_list("actor_id", flat=True)
    )
    if version.author_id:
        ids.add(version.author_id)
    ids.discard(None)
    return ids


def _state_refusal(version: Version, act: str) -> Conflict | None:
    status, number = version.status, version.number
    if act == "edit" and status != VersionStatus.DRAFT:
        return Conflict(
            f"Version {number} is {status}; only a draft can change. Start a new draft instead."
        )
    if act in ("approve", "request_changes") and status != VersionStatus.IN_REVIEW:
        return Conflict(f"Version {number} is {status}; only one in review can be reviewed.")
    target = _MOVES_TO.get(act)
    if target is not None and target not in VERSION_MOVES[status]:
        return Conflict(f"Version {number} is {status}; it cannot become {target}.")
    return None


def version_refusal(
    user: Visitor, version: Version, act: str, *, check_role: bool = True
) -> Conflict | NotAllowed | None:
    """Why ``user`` may not do ``act`` (one of :data:`VERSION_ACTS`) to ``version`` now, or
    None when they may. ``check_role=False`` leaves the role out, for callers that
    checked it on the way in (the API's and pages' access check answers 403 first)."""
    perm = VERSION_ACTS[act]
    refusal = _state_refusal(version, act)
    if refusal is not None:
        return refusal
    if check_role and not user_can(user, version.workflow, perm):
        return NotAllowed(f"You do not hold the {_ROLES[perm]} role on this workflow.")
    if act in ("approve", "request_changes"):
        if user.pk in version_contributors(version):
            return NotAllowed("You wrote this version; someone else must review it.")
        if act == "approve" and _approved_already(user, version):
            return Conflict("You have approved this version already.")
    return None


def _approved_already(user: Visitor, version: Version) -> bool:
    return version.reviews.filter(
        round=version.review_round, reviewer_id=user.pk, decision=ReviewDecision.APPROVE
    ).exists()

"""Saved views: a run list's filter under a name, private or shared.

A shared view is seen by everyone who may see every workflow its filter names (by
everyone signed in, when it names none): what it would list for them is theirs to see
anyway. A private one only by its owner. Only the owner, or staff, deletes one; whoever
else sees it gets 403, and whoever does not, 404.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import Http404

from common.errors import InvalidInput, NotAllowed
from common.people import User, Visitor
from common.queries import bad_param
from designer.access import visible_workflows
from engine.models import SavedView
from engine.search import ATTR, FINDING_PARAMS
from engine.selectors import run_filters

__all__ = [
    "FILTER_PARAMS",
    "view_access",
    "view_acts",
    "view_create",
    "view_delete",
    "views_visible",
]

#: The run list's query parameters a view keeps (and ``attr.<name>``).
FILTER_PARAMS = ("workflow", "status", "since", "until", "order", "children", *FINDING_PARAMS)


def _clean_filter(raw: Mapping[str, Any]) -> dict[str, str]:
    """The filter as query parameters, checked as the run list checks them (400 naming
    ``filter.<parameter>``); blank ones are left out."""
    kept: dict[str, str] = {}
    for key, value in raw.items():
        field = f"filter.{key}"
        if key not in FILTER_PARAMS and not key.startswith(ATTR):
            raise bad_param(
                field, f"not a filter of the run list; one of {', '.join(FILTER_PARAMS)}"
            )
        if not isinstance(value, str):
            raise bad_param(field, "a string, as in the run list's query")
        if value.strip():
            kept[key] = value
    try:
        run_filters(kept)
    except InvalidInput as exc:
        for error in exc.errors:
            error["field"] = f"filter.{error['field']}"
        raise InvalidInput(f"filter.{exc.detail}", exc.errors) from None
    return kept


def view_create(*, by: User, name: str, filter: Mapping[str, Any], shared: bool) -> SavedView:
    """Save ``filter`` (the run list's query parameters) as the view ``name`` of ``by``."""
    name = name.strip()
    if not name:
        raise bad_param("name", "a view needs a name")
    kept = _clean_filter(filter)
    try:
        with transaction.atomic():
            return SavedView.objects.create(owner=by, name=name, filter=kept, shared=shared)
    except IntegrityError:
        raise bad_param("name", f"you have a view called {name!r} already") from None


def view_delete(*, view: SavedView, by: Visitor) -> None:
    """Delete ``view``: its owner or staff only (others who see it: 403)."""
    if "delete" not in view_acts(by, view):
        raise NotAllowed("Only the view's owner, or staff, may delete it.")
    view.delete()


def _named_workflows(view: SavedView) -> set[str]:
    text = str((view.filter or {}).get("workflow") or "")
    return {slug.strip() for slug in text.split(",") if slug.strip()}


def views_visible(user: Visitor) -> list[SavedView]:
    """The views ``user`` sees: their own, and the shared ones naming only workflows they
    may see; by name."""
    if not user.is_authenticated or not user.is_active:
        return []
    candidates = list(
        SavedView.objects.filter(Q(owner=user) | Q(shared=True)).select_related("owner")
    )
    named = set().union(*(_named_workflows(v) for v in candidates if v.owner_id != user.pk))
    seen = set(visible_workflows(user).filter(slug__in=named).values_list("slug", flat=True))
    return [v for v in candidates if v.owner_id == user.pk or _named_workflows(v) <= seen]


def view_access(user: Visitor, view_id: Any) -> SavedView:
    """The view if ``user`` sees it; else 404, whether or not it exists."""
    try:
        view = SavedView.objects.select_related("owner").get(pk=int(view_id))
    except (SavedView.DoesNotExist, ValueError, TypeError):
        raise Http404("No such view.") from None
    if not user.is_authenticated or not user.is_active:
        raise Http404("No such view.")
    if view.owner_id == user.pk:
        return view
    named = _named_workflows(view)
    seen = visible_workflows(user).filter(slug__in=named).count()
    if not view.shared or seen != len(named):
        raise Http404("No such view.")
    return view


def view_acts(user: Visitor, view: SavedView) -> list[str]:
    """What ``user`` may do to ``view`` now: ``delete`` for its owner and staff."""
    return ["delete"] if view.owner_id == user.pk or user.is_staff else []

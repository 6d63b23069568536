"""Who makes a request: a signed-in user, or a visitor who is not (yet)."""

from __future__ import annotations

from typing import TypeAlias

from django.contrib.auth.models import AnonymousUser, User

from common.errors import NotAllowed

__all__ = ["User", "Visitor", "signed_in"]

#: Whoever makes a request, signed in or not: what access checks take.
Visitor: TypeAlias = User | AnonymousUser


def signed_in(visitor: Visitor) -> User:
    """The signed-in user, for what only a signed-in user may do (every page and API that
    changes something requires sign-in before it gets here)."""
    if not isinstance(visitor, User):
        raise NotAllowed("Sign in first.")
    return visitor

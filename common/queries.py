"""Reading a list's filters from a query string, one way for every list: comma-separated
values, ISO 8601 times, and a 400 that names the field."""

from __future__ import annotations

from datetime import UTC, datetime

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from common.errors import InvalidInput

__all__ = ["bad_param", "moment", "split_values"]


def bad_param(field: str, message: str) -> InvalidInput:
    """The 400 for a query parameter: ``{"detail": "field: message.", "errors": [...]}``."""
    return InvalidInput(
        f"{field}: {message}.", [{"step": None, "field": field, "message": message}]
    )


def split_values(value: str | None) -> tuple[str, ...]:
    """``"a, b,,a"`` as ``("a", "b")``: stripped, without blanks or repeats, in order."""
    return tuple(dict.fromkeys(item.strip() for item in (value or "").split(",") if item.strip()))


def moment(field: str, value: str | None) -> datetime | None:
    """An ISO 8601 date or date-time, in UTC; naive ones are taken in the server's time
    zone. None for a blank value; a 400 naming ``field`` for anything else."""
    if not value:
        return None
    try:
        found = parse_datetime(value)
        if found is None and (day := parse_date(value)) is not None:
            found = datetime(day.year, day.month, day.day)
    except ValueError:
        found = None
    if found is None:
        raise bad_param(field, "not an ISO 8601 date or date-time")
    if timezone.is_naive(found):
        found = timezone.make_aware(found)
    try:
        # In UTC: PostgreSQL takes no offset beyond 15:59, which ISO 8601 text may give.
        return found.astimezone(UTC)
    except OverflowError:
        raise bad_param(field, "out of the range of dates") from None

"""The ``as_of`` query parameter, read alike by every service that answers "as known then"."""

from __future__ import annotations

from datetime import date, datetime, time, tzinfo

from fastapi import HTTPException


def parse_as_of(as_of: str | None, zone: tzinfo) -> datetime | None:
    """``as_of`` as a moment: a date is its last instant in ``zone`` (the programme's), a date-time
    without an offset is read in ``zone``; None when not given. Anything else is a 422 naming it."""
    if not as_of:
        return None
    try:
        if len(as_of) == 10:
            return datetime.combine(date.fromisoformat(as_of), time.max, zone)
        moment = datetime.fromisoformat(as_of.replace("Z", "+00:00"))
    except ValueError as error:
        raise HTTPException(422, f"as_of: expected a date or an ISO date-time, got {as_of!r}") from error
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)

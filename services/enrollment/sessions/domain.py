"""Sessions: their times, delivery, rescheduling and cancellation. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from contracts.base import Event
from contracts.events import Modality, SessionCancelled, SessionRescheduled, SessionScheduled
from probidad.shared.errors import RuleViolation

MAX_SESSION_LENGTH = timedelta(days=7)


def zone(name: str, field_name: str = "timezone") -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise RuleViolation(field_name, f"unknown IANA time zone {name!r}") from None


def session_times(starts_at: datetime, ends_at: datetime, timezone: str) -> tuple[datetime, datetime]:
    """Start and end as aware datetimes in the session's zone (a naive time is read in that zone)."""
    tz = zone(timezone)
    start = starts_at.replace(tzinfo=tz) if starts_at.tzinfo is None else starts_at.astimezone(tz)
    end = ends_at.replace(tzinfo=tz) if ends_at.tzinfo is None else ends_at.astimezone(tz)
    if end <= start:
        raise RuleViolation("ends_at", "must be after starts_at")
    if end - start > MAX_SESSION_LENGTH:
        raise RuleViolation("ends_at", "a session lasts at most 7 days; schedule a series of sessions instead")
    return start, end


def check_delivery(modality: Modality | str, platform: str | None, venue: str | None) -> None:
    """Virtual sessions need a platform, in-person ones a venue, hybrid ones both."""
    modality = Modality(modality)
    if modality in (Modality.virtual, Modality.hybrid) and not (platform or "").strip():
        raise RuleViolation("platform", f"a {modality.value} session needs its platform (Zoom, Teams, Meet…)")
    if modality in (Modality.in_person, Modality.hybrid) and not (venue or "").strip():
        raise RuleViolation("venue", f"a {modality.value} session needs its venue")


@dataclass(frozen=True)
class SessionTerms:
    """What the seat rules need to know about a session."""

    session_id: str
    starts_at: datetime
    ends_at: datetime
    capacity: int
    cancelled: bool = False

    def overlaps(self, other: "SessionTerms") -> bool:
        return self.starts_at < other.ends_at and other.starts_at < self.ends_at


def decide_schedule(*, session_id: str, course_id: str, modality: Modality | str, platform: str | None,
                    venue: str | None, starts_at: datetime, ends_at: datetime, timezone: str, capacity: int,
                    instructor_id: str | None, organising_unit: str | None) -> list[Event]:
    """A new session of a course; its times as the fact states them (aware, in the session's zone)."""
    check_delivery(modality, platform, venue)
    start, end = session_times(starts_at, ends_at, timezone)
    return [SessionScheduled(session_id=session_id, course_id=course_id, modality=modality, platform=platform,
                             venue=venue, starts_at=start, ends_at=end, timezone=timezone, capacity=capacity,
                             instructor_id=instructor_id, organising_unit=organising_unit)]


@dataclass(frozen=True)
class Commitment:
    """A servant enrolled in the session being moved also holds an active enrolment in ``session``."""

    servant_id: str
    session: SessionTerms


class RescheduleConflict(RuleViolation):
    """Moving the session would put enrolled servants in two sessions at once; ``conflicts`` names each
    servant and the session they already hold at the new time."""

    def __init__(self, conflicts: Sequence[Commitment]) -> None:
        named = ", ".join(f"servant {c.servant_id} in session {c.session.session_id}" for c in conflicts[:20])
        more = f" and {len(conflicts) - 20} more" if len(conflicts) > 20 else ""
        super().__init__("starts_at", "at the new time the session overlaps other sessions of servants enrolled "
                         f"in it ({named}{more}); cancel those enrolments or choose another time", "conflict")
        self.conflicts = list(conflicts)


def decide_reschedule(session: SessionTerms, starts_at: datetime, ends_at: datetime, timezone: str,
                      venue: str | None, reason: str | None,
                      commitments: Sequence[Commitment] = ()) -> list[Event]:
    """Move a session. ``commitments``: the other active enrolments of the servants enrolled in it (the
    handler may pass only those near the new time). The enrolment rule holds here too: nobody may end up
    in two sessions at once, so a move that would do that is refused whole, naming every conflict."""
    if session.cancelled:
        raise RuleViolation("session_id", "a cancelled session cannot be rescheduled", "conflict")
    start, end = session_times(starts_at, ends_at, timezone)
    moved = replace(session, starts_at=start, ends_at=end)
    conflicts = sorted((c for c in commitments if c.session.session_id != session.session_id
                        and not c.session.cancelled and c.session.overlaps(moved)),
                       key=lambda c: (c.servant_id, c.session.starts_at, c.session.session_id))
    if conflicts:
        raise RescheduleConflict(conflicts)
    return [SessionRescheduled(session_id=session.session_id, starts_at=start, ends_at=end, timezone=timezone,
                               venue=venue, reason=reason)]


def decide_session_cancellation(session: SessionTerms, reason: str | None, *, certificates: int = 0) -> list[Event]:
    """Cancel a session that will not be (or was not) held. ``certificates``: how many certificates
    certification has said it issued from it. A session with any was delivered: cancelling it would
    revoke training that happened, so it is refused; an attendance correction or a comptroller's
    revocation undoes training, each with its reason. A past session without certificates can still be
    cancelled (a cancellation recorded late): enrollment learns of delivery only through certificates."""
    if session.cancelled:
        raise RuleViolation("session_id", "the session is already cancelled", "conflict")
    if certificates:
        raise RuleViolation(
            "session_id", f"session {session.session_id} was delivered: {certificates} certificate(s) were "
            "issued from it, and a delivered session cannot be cancelled; to undo training, correct the "
            "attendance (attendance service) or revoke the certificates with a reason (certification service)",
            "conflict")
    return [SessionCancelled(session_id=session.session_id, reason=reason)]



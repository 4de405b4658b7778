"""Seats: enrolment, the waitlist and cancellation. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from contracts.base import Event
from contracts.events import EnrolmentCancelled, EnrolmentConfirmed, EnrolmentWaitlisted
from probidad.shared.errors import RuleViolation

from services.enrollment.sessions.domain import SessionTerms

SeatStatus = Literal["confirmed", "waitlisted", "cancelled"]


@dataclass(frozen=True)
class Seat:
    """One enrolment in a session; ``number`` orders arrivals (the waitlist is first come, first served)."""

    enrolment_id: str
    servant_id: str
    institution_id: str
    status: SeatStatus
    number: int


@dataclass(frozen=True)
class EnrolmentDecision:
    status: SeatStatus
    position: int | None
    events: list[Event] = field(default_factory=list)


@dataclass(frozen=True)
class Occupancy:
    """How full a session is, and whether the servant asking already holds a seat or a place in line."""

    confirmed: int
    waitlisted: int
    servant_already_in: bool = False

    @classmethod
    def of(cls, seats: Sequence[Seat], servant_id: str) -> "Occupancy":
        active = [s for s in seats if s.status != "cancelled"]
        return cls(sum(1 for s in active if s.status == "confirmed"),
                   sum(1 for s in active if s.status == "waitlisted"),
                   any(s.servant_id == servant_id for s in active))


def decide_enrolment(session: SessionTerms, servant_id: str, institution_id: str, occupancy: Occupancy,
                     commitments: Sequence[SessionTerms], *, enrolment_id: str,
                     request_id: str | None = None) -> EnrolmentDecision:
    """Seat a servant, or put them on the waitlist when the session is full.

    ``commitments`` are the other sessions where the servant already holds an active (confirmed or
    waitlisted) enrolment; the handler may pass only those near this session's time.
    """
    if session.cancelled:
        raise RuleViolation("session_id", "the session is cancelled", "conflict")
    if occupancy.servant_already_in:
        raise RuleViolation("servant_id", "the servant is already enrolled in this session", "conflict")
    for other in commitments:
        if other.session_id != session.session_id and not other.cancelled and other.overlaps(session):
            raise RuleViolation("session_id", f"the servant is already enrolled in session {other.session_id}, "
                                "which overlaps this one", "conflict")
    common = dict(enrolment_id=enrolment_id, session_id=session.session_id, servant_id=servant_id,
                  institution_id=institution_id, request_id=request_id)
    if occupancy.confirmed < session.capacity:
        return EnrolmentDecision("confirmed", None, [EnrolmentConfirmed(**common)])
    position = occupancy.waitlisted + 1
    return EnrolmentDecision("waitlisted", position, [EnrolmentWaitlisted(position=position, **common)])


@dataclass(frozen=True)
class CancellationDecision:
    promoted: list[Seat]
    events: list[Event]


def decide_cancellation(session: SessionTerms, seats: Sequence[Seat], enrolment_id: str,
                        reason: str | None) -> CancellationDecision:
    """Cancel one enrolment; a seat that frees up goes to the earliest waitlisted servants."""
    seat = next((s for s in seats if s.enrolment_id == enrolment_id), None)
    if seat is None:
        raise RuleViolation("enrolment_id", "no such enrolment in this session", "not_found")
    if seat.status == "cancelled":
        raise RuleViolation("enrolment_id", "the enrolment is already cancelled", "conflict")
    events: list[Event] = [EnrolmentCancelled(enrolment_id=seat.enrolment_id, session_id=session.session_id,
                                              servant_id=seat.servant_id, reason=reason)]
    promoted: list[Seat] = []
    if not session.cancelled:
        remaining = [s for s in seats if s.enrolment_id != enrolment_id]
        free = session.capacity - sum(1 for s in remaining if s.status == "confirmed")
        waiting = sorted((s for s in remaining if s.status == "waitlisted"), key=lambda s: s.number)
        for next_in_line in waiting[:max(free, 0)]:
            promoted.append(next_in_line)
            events.append(EnrolmentConfirmed(enrolment_id=next_in_line.enrolment_id, session_id=session.session_id,
                                             servant_id=next_in_line.servant_id,
                                             institution_id=next_in_line.institution_id,
                                             promoted_from_waitlist=True))
    return CancellationDecision(promoted, events)


def waitlist_positions(seats: Sequence[Seat]) -> dict[str, int]:
    """Current place in line of each waitlisted enrolment (1 = next to be promoted)."""
    waiting = sorted((s for s in seats if s.status == "waitlisted"), key=lambda s: s.number)
    return {s.enrolment_id: i for i, s in enumerate(waiting, start=1)}



def check_still_serving(servant_id: str, left_on: date | None, institution_id: str, session_day: date) -> None:
    """A servant who left cannot be enrolled in a session starting on or after their leaving day."""
    if left_on is not None and session_day >= left_on:
        raise RuleViolation("servant_id", f"servant {servant_id} left {institution_id} on {left_on.isoformat()}, "
                            f"before this session ({session_day.isoformat()})", "conflict")


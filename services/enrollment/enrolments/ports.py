"""What the handlers and views of enrolments and the bulk import may ask of storage (the SQL class in repository.py
satisfies it; a test hands a fake). The rows it answers with are the tables' classes, named here for them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from services.enrollment.enrolments.domain import Occupancy
from services.enrollment.servants.ports import ServantsRepository
from services.enrollment.sessions.domain import SessionTerms
from services.enrollment.sessions.ports import SessionsRepository
from services.enrollment.tables import Enrolment as Enrolment


@dataclass(frozen=True)
class SeatCheck:
    institution_id: str | None  # None: no such servant
    erased: bool
    occupancy: Occupancy
    commitments: list[SessionTerms]
    left_on: date | None = None  # the servant left their institution that day



class EnrolmentsRepository(ServantsRepository, SessionsRepository, Protocol):
    async def add_enrolment(self, *, enrolment_id: str, session_id: str, servant_id: str, institution_id: str,
                            status: str, request_id: str | None, enrolled_at: datetime) -> Enrolment:
        ...

    async def cancel_enrolment(self, enrolment: Enrolment, promoted: Sequence[Enrolment], *, at: datetime,
                               reason: str | None) -> None:
        ...

    async def enrolment(self, enrolment_id: str) -> Enrolment | None:
        ...

    async def enrolments(self, *, session_id: str | None, servant_id: str | None, include_cancelled: bool,
                         institution_id: str | None, limit: int, offset: int) -> list[Enrolment]:
        ...

    async def lock_session_terms(self, session_id: str) -> SessionTerms | None:
        """Lock the session's row (after the servant's, the same order everywhere, so two requests never
        wait on each other in a cycle) and read what the seat rules need of it."""
        ...

    async def seat_check(self, session: SessionTerms, servant_id: str) -> SeatCheck:
        """The servant, how full the session is, whether the servant is in it, and the first of the servant's
        other sessions that shares its time — in one round trip."""
        ...

    async def waitlist_positions(self, session_ids: Sequence[str]) -> dict[str, int]:
        """Place in line (1 = next) of every waitlisted enrolment of these sessions, a query per IN list."""
        ...

"""What the handlers and views of sessions may ask of storage (the SQL class in repository.py
satisfies it; a test hands a fake). The rows it answers with are the tables' classes, named here for them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from services.enrollment.institutions.ports import InstitutionsRepository
from services.enrollment.sessions.domain import Commitment
from services.enrollment.tables import Enrolment as Enrolment
from services.enrollment.tables import TrainingSession as TrainingSession


class SessionsRepository(InstitutionsRepository, Protocol):
    async def active_seats(self, session_id: str) -> list[Enrolment]:
        ...

    async def add_session(self, *, session_id: str, course_id: str, modality: str, platform: str | None,
                          venue: str | None, starts_at: datetime, ends_at: datetime, timezone: str, capacity: int,
                          instructor_id: str | None, organising_unit: str | None) -> TrainingSession:
        ...

    async def cancel_session(self, session: TrainingSession, *, at: datetime, reason: str | None) -> None:
        ...

    async def certificates_from_session(self, session_id: str) -> int:
        """How many certificates certification has said it issued from the session (revoked ones too)."""
        ...

    async def commitments_overlapping(self, session_id: str, starts_at: datetime,
                                      ends_at: datetime) -> list[Commitment]:
        """The other active enrolments, in sessions not cancelled that share [starts_at, ends_at), of the
        servants actively enrolled in ``session_id``: what a reschedule to that time would clash with."""
        ...

    async def lock_servant(self, servant_id: str) -> bool:
        """The servant's row lock, as an enrolment takes it: a transfer and a seat decision about the same
        person happen one after the other. False when PostgreSQL finds no such servant; SQLite's
        transactions of a process already take turns, so it takes no lock (and answers True)."""
        ...

    async def lock_session(self, session_id: str) -> TrainingSession | None:
        # Taking the row lock first serialises everything that changes this session's seats.
        ...

    async def reschedule_session(self, session: TrainingSession, *, starts_at: datetime, ends_at: datetime,
                                 timezone: str, venue: str | None) -> None:
        ...

    async def roster(self, session_id: str) -> list[tuple[Enrolment, str | None]]:
        """The session's active enrolments in order of arrival, with the servant's name."""
        ...

    async def seat_counts(self, session_ids: Sequence[str]) -> dict[tuple[str, str], int]:
        """(session id, status) -> enrolments, for many sessions, a query per bounded IN list."""
        ...

    async def sessions(self, *, course_id: str | None, starting_from: datetime | None,
                       starting_before: datetime | None, instructor_id: str | None = None,
                       instructors_only: bool = False) -> list[TrainingSession]:
        ...

    async def training_session(self, session_id: str) -> TrainingSession | None:
        ...

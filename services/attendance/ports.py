"""What attendance's handlers and views may ask of storage: the repository interface. ``repository.py``
answers it with SQL (``SqlAttendanceRepository``); handler tests answer it with dicts."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from contracts.attribution import Placement
from contracts.base import Event
from services.attendance.domain.commands import Record
from services.attendance.domain.intervals import Evidence, Mark, Match
from services.attendance.domain.sessions import Enrolment, Registration, Servant, TrainingSession, Transfer

# What enrollment's facts leave attendance holding, one state per thing they tell of.
State = TrainingSession | Servant | Transfer | Enrolment | Registration


class AttendanceRepository(Protocol):
    # ------------------------------------------------------------ states kept from enrollment's facts

    async def training_session(self, session_id: str) -> TrainingSession | None: ...

    async def servant(self, servant_id: str) -> Servant | None: ...

    async def transfer(self, servant_id: str, transfer_id: str) -> Transfer | None: ...

    async def enrolment(self, enrolment_id: str) -> Enrolment | None: ...

    def save(self, state: State) -> None:
        """Keep ``state`` (new, or changed since it was loaded)."""

    # ------------------------------------------------------------ rosters and attribution

    async def enrolled_servants(self, session_id: str) -> dict[str, str | None]:
        """Servant id -> the institution they belong to now, of every confirmed enrolment of the session."""

    async def placements_of(self, servant_ids: Iterable[str]) -> dict[str, list[Placement]]:
        """Servant id -> every registration, update and transfer of theirs known."""

    async def servant_with_digest(self, digest: str) -> str | None: ...

    async def servants_by_digest(self, digests: Iterable[str]) -> dict[str, str]: ...

    # ------------------------------------------------------------ evidence

    async def claim_close(self, session_id: str, now: datetime, by: str) -> bool:
        """Mark the session closed unless it is: of two concurrent closes exactly one gets True."""

    async def evidence(self, session_id: str, servant_ids: Iterable[str] | None = None) -> dict[str, Evidence]: ...

    async def default_source(self, session_id: str) -> str: ...

    async def add_mark(self, session_id: str, servant_id: str, mark: Mark, reason: str | None, by: str) -> None: ...

    async def check_in_started(self, session_id: str, servant_id: str) -> int | None: ...

    def add_check_in(self, session_id: str, servant_id: str, started_s: int, ended_s: int) -> None: ...

    async def add_report(self, report_id: str, session_id: str, report_format: str, match: Match, *,
                         rows: int, ignored: int, by: str, recorded_at: datetime) -> None: ...

    # ------------------------------------------------------------ grades and published records

    def add_grades(self, session_id: str, grades: Iterable[tuple[str, float]], by: str) -> None: ...

    async def latest_grades(self, session_id: str) -> dict[str, float]: ...

    def add_records(self, records: Iterable[Record], events: Iterable[Event]) -> None:
        """Keep ``records``, the i-th published by the i-th of ``events`` (written with each event's id once
        the caller has recorded the events in its unit of work)."""

    async def record_history(self, session_id: str | None = None, institution_id: str | None = None,
                             servant_id: str | None = None) -> list[Record]:
        """Every record and correction, oldest first."""

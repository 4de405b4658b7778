"""Enrollment's storage and unit of work without a database, for handler tests: an in-memory repository
(dicts) satisfying the sub-areas' repository interfaces up to ``AgencyRepository`` (which takes in the
institutions', sessions', servants' and enrolments'); mypy checks it (``_CHECK``). What these tests keep in
memory is written out; what no test asks of it refuses loudly instead of answering something made up."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from typing import Any

from contracts.base import Event
from services.enrollment.agency.domain import DecidedRequest
from services.enrollment.agency.ports import AgencyRepository
from services.enrollment.enrolments.domain import Occupancy
from services.enrollment.enrolments.ports import SeatCheck
from services.enrollment.servants.domain import ServantRecord, TransferTerms
from services.enrollment.sessions.domain import Commitment, SessionTerms
from services.enrollment.tables import Course, Enrolment, Institution, Servant, TrainingSession, Transfer

def _unused(method: str) -> AssertionError:
    return AssertionError(f"the fake repository does not keep what {method} reads; give it a dict first")


class FakeEnrollmentRepository:
    """Institutions, servants (id -> institution), sessions' seat terms, enrolments and agency decisions, in dicts."""

    def __init__(self) -> None:
        self.institutions_by_id: dict[str, Institution] = {
            "in-a": Institution(institution_id="in-a", name="A", government_level="state")}
        self.servant_institutions: dict[str, str] = {"sv-1": "in-a", "sv-2": "in-a"}  # servant id -> institution
        self.session_terms: dict[str, SessionTerms] = {}
        self.enrolment_rows: list[Enrolment] = []
        self.decided: dict[tuple[str, str], DecidedRequest] = {}
        self.saved_institutions: list[str] = []

    async def institution(self, institution_id: str) -> Institution | None:
        return self.institutions_by_id.get(institution_id)

    async def save_institution(self, *, institution_id: str, name: str, government_level: str,
                               municipality: str | None, headcount: int, headcount_year: int) -> tuple[Institution,
                                                                                                       bool]:
        self.saved_institutions.append(institution_id)
        created = institution_id not in self.institutions_by_id
        self.institutions_by_id[institution_id] = Institution(institution_id=institution_id, name=name,
                                                              government_level=government_level,
                                                              municipality=municipality)
        return self.institutions_by_id[institution_id], created

    async def lock_servant(self, servant_id: str) -> bool:
        return servant_id in self.servant_institutions

    async def lock_session_terms(self, session_id: str) -> SessionTerms | None:
        return self.session_terms.get(session_id)

    async def seat_check(self, session: SessionTerms, servant_id: str) -> SeatCheck:
        active = [e for e in self.enrolment_rows if e.session_id == session.session_id and e.status != "cancelled"]
        occupancy = Occupancy(sum(e.status == "confirmed" for e in active),
                              sum(e.status == "waitlisted" for e in active),
                              any(e.servant_id == servant_id for e in active))
        return SeatCheck(self.servant_institutions.get(servant_id), False, occupancy, [])

    async def add_enrolment(self, *, enrolment_id: str, session_id: str, servant_id: str, institution_id: str,
                            status: str, request_id: str | None, enrolled_at: datetime) -> Enrolment:
        enrolment = Enrolment(enrolment_id=enrolment_id, session_id=session_id, servant_id=servant_id,
                              institution_id=institution_id, status=status, request_id=request_id,
                              enrolled_at=enrolled_at, number=len(self.enrolment_rows) + 1)
        self.enrolment_rows.append(enrolment)
        return enrolment

    async def decided_agency_request(self, institution_id: str, request_id: str) -> DecidedRequest | None:
        return self.decided.get((institution_id, request_id))

    async def record_agency_request(self, *, institution_id: str, request_id: str, request_type: str, digest: str,
                                    outcome: str, outcome_id: str | None, decided_at: datetime) -> None:
        self.decided[(institution_id, request_id)] = DecidedRequest(institution_id, request_id, digest, outcome,
                                                                    outcome_id, decided_at)

    # -------------------------------------------------------------- not kept by this fake

    async def active_seats(self, session_id: str) -> list[Enrolment]:
        raise _unused("active_seats")

    def add_life_event(self, *, servant_id: str, kind: str, institution_id: str, on: date, recorded_at: datetime,
                       reason: str | None = None, recorded_by: str | None = None,
                       request_id: str | None = None) -> None:
        raise _unused("add_life_event")

    async def add_session(self, *, session_id: str, course_id: str, modality: str, platform: str | None,
                          venue: str | None, starts_at: datetime, ends_at: datetime, timezone: str, capacity: int,
                          instructor_id: str | None, organising_unit: str | None) -> TrainingSession:
        raise _unused("add_session")

    async def add_transfer(self, terms_: TransferTerms, *, requested_at: datetime,
                           reason: str | None) -> Transfer:
        raise _unused("add_transfer")

    async def cancel_enrolment(self, enrolment: Enrolment, promoted: Sequence[Enrolment], *, at: datetime,
                               reason: str | None) -> None:
        raise _unused("cancel_enrolment")

    async def cancel_session(self, session: TrainingSession, *, at: datetime, reason: str | None) -> None:
        raise _unused("cancel_session")

    async def certificates_from_session(self, session_id: str) -> int:
        raise _unused("certificates_from_session")

    async def commitments_overlapping(self, session_id: str, starts_at: datetime,
                                      ends_at: datetime) -> list[Commitment]:
        raise _unused("commitments_overlapping")

    async def complete_transfer(self, transfer: Transfer, servant: Servant, moved: ServantRecord, *,
                                by: str, at: datetime) -> None:
        raise _unused("complete_transfer")

    async def correct_joining(self, servant_id: str, on: date) -> None:
        raise _unused("correct_joining")

    async def course(self, course_id: str) -> Course | None:
        raise _unused("course")

    async def course_using_code(self, code: str, other_than: str) -> str | None:
        raise _unused("course_using_code")

    async def courses(self) -> list[Course]:
        raise _unused("courses")

    async def decline_transfer(self, transfer: Transfer, *, by: str, at: datetime) -> None:
        raise _unused("decline_transfer")

    async def enrolment(self, enrolment_id: str) -> Enrolment | None:
        raise _unused("enrolment")

    async def enrolments(self, *, session_id: str | None, servant_id: str | None, include_cancelled: bool,
                         institution_id: str | None, limit: int, offset: int) -> list[Enrolment]:
        raise _unused("enrolments")

    async def erase_servant(self, servant: Servant, *, at: datetime) -> None:
        raise _unused("erase_servant")

    async def headcounts(self, institution_ids: Sequence[str]) -> dict[str, dict[int, int]]:
        raise _unused("headcounts")

    async def hold(self, name: str) -> None:
        raise _unused("hold")

    async def institutions(self) -> list[Institution]:
        raise _unused("institutions")

    async def lock_session(self, session_id: str) -> TrainingSession | None:
        # Taking the row lock first serialises everything that changes this session's seats.
        raise _unused("lock_session")

    async def mark_left(self, servant: Servant, left_on: date) -> None:
        raise _unused("mark_left")

    async def pending_transfer(self, servant_id: str) -> str | None:
        raise _unused("pending_transfer")

    async def reload(self, row: object) -> None:
        raise _unused("reload")

    async def reschedule_session(self, session: TrainingSession, *, starts_at: datetime, ends_at: datetime,
                                 timezone: str, venue: str | None) -> None:
        raise _unused("reschedule_session")

    async def roster(self, session_id: str) -> list[tuple[Enrolment, str | None]]:
        raise _unused("roster")

    async def save_course(self, course_id: str, values: dict[str, Any]) -> tuple[Course, bool]:
        raise _unused("save_course")

    async def save_servant(self, existing: Servant | None, new: ServantRecord, *, person_id: str) -> Servant:
        raise _unused("save_servant")

    async def seat_counts(self, session_ids: Sequence[str]) -> dict[tuple[str, str], int]:
        raise _unused("seat_counts")

    async def servant(self, servant_id: str, *, fresh: bool = False) -> Servant | None:
        raise _unused("servant")

    async def servant_ids_with_curp(self, curp: str, institution_id: str | None = None) -> list[str]:
        raise _unused("servant_ids_with_curp")

    async def servant_in(self, curp: str, institution_id: str) -> str | None:
        raise _unused("servant_in")

    async def servants(self, *, curp: str | None, institution_id: str | None, of_institution: str | None,
                       limit: int, offset: int) -> list[Servant]:
        raise _unused("servants")

    async def servants_with_curp(self, curp: str) -> list[Servant]:
        raise _unused("servants_with_curp")

    async def sessions(self, *, course_id: str | None, starting_from: datetime | None,
                       starting_before: datetime | None, instructor_id: str | None = None,
                       instructors_only: bool = False) -> list[TrainingSession]:
        raise _unused("sessions")

    async def training_session(self, session_id: str) -> TrainingSession | None:
        raise _unused("training_session")

    async def transfer(self, transfer_id: str) -> Transfer | None:
        raise _unused("transfer")

    async def transfers(self, *, status: str | None, of_institution: str | None) -> list[Transfer]:
        raise _unused("transfers")

    async def waitlist_positions(self, session_ids: Sequence[str]) -> dict[str, int]:
        raise _unused("waitlist_positions")


_CHECK: type[AgencyRepository] = FakeEnrollmentRepository


class FakeUnitOfWork:
    """Keeps the events it is handed, with their correlation id (a handler's caller records what it returns), and
    hands its repository to whoever asks the unit of work for one (a subscriber)."""

    def __init__(self, repository: FakeEnrollmentRepository) -> None:
        self.repository = repository
        self.recorded: list[tuple[Event, str | None]] = []

    def part(self, key: object, make: Callable[[], Any]) -> Any:
        return self.repository

    def record(self, events: Iterable[Event], *, correlation_id: str | None = None,
               topic: str | None = None) -> list[object]:
        self.recorded += [(event, correlation_id) for event in events]
        return []

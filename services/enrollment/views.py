"""Reads for the HTTP API: lists with their filters and pages, and what each answer shows beside its row
(headcounts, seats taken, places in line). The caller may see only what its scope allows: a liaison
its own institution's people (another's are "unknown"), an instructor its own sessions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from probidad.shared.unit_of_work import UnitOfWork
from services.enrollment import domain
from services.enrollment.domain import RuleViolation
from services.enrollment.handlers import find_enrolment, find_servant, find_session, repository, require_institution
from services.enrollment.repository import plan_lines, seat
from services.enrollment.tables import (
    Course, Enrolment, Institution, PlanVersion, Servant, TrainingSession, Transfer,
)


@dataclass(frozen=True)
class InstitutionView:
    institution: Institution
    headcounts: dict[int, int]  # declared headcount per year


@dataclass(frozen=True)
class SessionView:
    session: TrainingSession
    starts_at: datetime  # in the session's own zone
    ends_at: datetime
    confirmed: int
    waitlisted: int


@dataclass(frozen=True)
class EnrolmentView:
    enrolment: Enrolment
    position: int | None  # on the waitlist, 1 = next


@dataclass(frozen=True)
class RosterLine:
    enrolment: Enrolment
    name: str | None  # None once the servant's personal data was erased
    position: int | None


@dataclass(frozen=True)
class RosterView:
    session: SessionView
    lines: list[RosterLine]


# ------------------------------------------------------------------ institutions and courses


async def institution(uow: UnitOfWork, row: Institution) -> InstitutionView:
    headcounts = await repository(uow).headcounts([row.institution_id])
    return InstitutionView(row, headcounts[row.institution_id])


async def institutions(uow: UnitOfWork) -> list[InstitutionView]:
    repo = repository(uow)
    rows = await repo.institutions()
    headcounts = await repo.headcounts([i.institution_id for i in rows])
    return [InstitutionView(i, headcounts[i.institution_id]) for i in rows]


async def institution_by_id(uow: UnitOfWork, institution_id: str) -> InstitutionView:
    found = await require_institution(repository(uow), institution_id, kind="not_found")
    return await institution(uow, found)


async def courses(uow: UnitOfWork) -> list[Course]:
    return await repository(uow).courses()


async def course(uow: UnitOfWork, course_id: str) -> Course:
    found = await repository(uow).course(course_id)
    if found is None:
        raise RuleViolation("course_id", f"unknown course {course_id!r}", "not_found")
    return found


# ------------------------------------------------------------------ sessions


def _view(session: TrainingSession, counts: dict[tuple[str, str], int]) -> SessionView:
    tz = ZoneInfo(session.timezone)
    return SessionView(session, session.starts_at.astimezone(tz), session.ends_at.astimezone(tz),
                       counts.get((session.session_id, "confirmed"), 0), counts.get((session.session_id, "waitlisted"), 0))


async def session(uow: UnitOfWork, row: TrainingSession) -> SessionView:
    return _view(row, await repository(uow).seat_counts([row.session_id]))


async def session_by_id(uow: UnitOfWork, session_id: str) -> SessionView:
    return await session(uow, await find_session(repository(uow), session_id))


async def sessions(uow: UnitOfWork, *, course_id: str | None, starting_from: datetime | None,
                   starting_before: datetime | None, as_instructor: bool = False,
                   instructor_id: str | None = None) -> list[SessionView]:
    """Sessions by start; ``as_instructor``: only those of ``instructor_id``."""
    repo = repository(uow)
    rows = await repo.sessions(course_id=course_id, starting_from=starting_from, starting_before=starting_before,
                               instructor_id=instructor_id, instructors_only=as_instructor)
    counts = await repo.seat_counts([s.session_id for s in rows])
    return [_view(s, counts) for s in rows]


async def roster(uow: UnitOfWork, session_id: str, *, as_instructor: bool = False, instructor_id: str | None = None,
                 liaison_of: str | None = None) -> RosterView:
    """Who holds a seat and who waits, in order. ``as_instructor``: the caller is instructor ``instructor_id``,
    who sees only its own sessions; ``liaison_of``: only that institution's people are listed."""
    repo = repository(uow)
    found = await find_session(repo, session_id)
    if as_instructor and found.instructor_id != instructor_id:
        raise RuleViolation("session_id", "you are not the instructor of this session", "forbidden")
    rows = await repo.roster(session_id)
    positions = domain.waitlist_positions([seat(e) for e, _ in rows])
    lines = [RosterLine(e, name, positions.get(e.enrolment_id))
             for e, name in rows if liaison_of is None or e.institution_id == liaison_of]
    return RosterView(await session(uow, found), lines)


# ------------------------------------------------------------------ servants and transfers


async def servants(uow: UnitOfWork, *, acting_for: str | None, institution_id: str | None, curp: str | None,
                   limit: int, offset: int) -> list[Servant]:
    return await repository(uow).servants(
        curp=domain.validate_curp(curp) if curp else None, institution_id=institution_id, of_institution=acting_for,
        limit=limit, offset=offset)


async def servant(uow: UnitOfWork, servant_id: str, *, acting_for: str | None) -> Servant:
    return await find_servant(repository(uow), servant_id, acting_for)


async def transfers(uow: UnitOfWork, *, status: str | None, acting_for: str | None) -> list[Transfer]:
    """Transfers from or to the caller's institution (all of them for the comptroller)."""
    return await repository(uow).transfers(status=status, of_institution=acting_for)


# ------------------------------------------------------------------ enrolments


async def enrolments(uow: UnitOfWork, *, acting_for: str | None, session_id: str | None, servant_id: str | None,
                     include_cancelled: bool, limit: int, offset: int) -> list[EnrolmentView]:
    repo = repository(uow)
    rows = await repo.enrolments(session_id=session_id, servant_id=servant_id, include_cancelled=include_cancelled,
                                 institution_id=acting_for, limit=limit, offset=offset)
    waiting = sorted({e.session_id for e in rows if e.status == "waitlisted"})
    positions = await repo.waitlist_positions(waiting)
    return [EnrolmentView(e, positions.get(e.enrolment_id)) for e in rows]


async def enrolment(uow: UnitOfWork, enrolment_id: str, *, acting_for: str | None) -> EnrolmentView:
    repo = repository(uow)
    found = await find_enrolment(repo, enrolment_id, acting_for)
    if found.status != "waitlisted":
        return EnrolmentView(found, None)
    return EnrolmentView(found, (await repo.waitlist_positions([found.session_id])).get(found.enrolment_id))


async def plan(uow: UnitOfWork, year: int, *, acting_for: str | None) -> tuple[PlanVersion, list[domain.PlanLine]]:
    """The year's plan in force (its latest version); a liaison sees only its own institution's targets."""
    found = await repository(uow).latest_plan(year)
    if found is None:
        raise RuleViolation("year", f"no plan is declared for {year}", "not_found")
    lines = plan_lines(found)
    if acting_for is not None:
        lines = [line for line in lines if line.institution_id == acting_for]
    return found, lines

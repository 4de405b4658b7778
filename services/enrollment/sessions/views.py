"""Reads of sessions and their rosters for the HTTP API, through the repository."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from probidad.shared.errors import RuleViolation

from services.enrollment.enrolments.domain import waitlist_positions
from services.enrollment.enrolments.rows import seat
from services.enrollment.sessions.handlers import find_session
from services.enrollment.sessions.ports import Enrolment, SessionsRepository, TrainingSession


@dataclass(frozen=True)
class SessionView:
    session: TrainingSession
    starts_at: datetime  # in the session's own zone
    ends_at: datetime
    confirmed: int
    waitlisted: int


@dataclass(frozen=True)
class RosterLine:
    enrolment: Enrolment
    name: str | None  # None once the servant's personal data was erased
    position: int | None


@dataclass(frozen=True)
class RosterView:
    session: SessionView
    lines: list[RosterLine]


# ------------------------------------------------------------------ sessions


def _view(session: TrainingSession, counts: dict[tuple[str, str], int]) -> SessionView:
    tz = ZoneInfo(session.timezone)
    return SessionView(session, session.starts_at.astimezone(tz), session.ends_at.astimezone(tz),
                       counts.get((session.session_id, "confirmed"), 0), counts.get((session.session_id, "waitlisted"),
                                                                                    0))


async def session(repo: SessionsRepository, row: TrainingSession) -> SessionView:
    return _view(row, await repo.seat_counts([row.session_id]))


async def session_by_id(repo: SessionsRepository, session_id: str) -> SessionView:
    return await session(repo, await find_session(repo, session_id))


async def sessions(repo: SessionsRepository, *, course_id: str | None, starting_from: datetime | None,
                   starting_before: datetime | None, as_instructor: bool = False,
                   instructor_id: str | None = None) -> list[SessionView]:
    """Sessions by start; ``as_instructor``: only those of ``instructor_id``."""
    rows = await repo.sessions(course_id=course_id, starting_from=starting_from, starting_before=starting_before,
                               instructor_id=instructor_id, instructors_only=as_instructor)
    counts = await repo.seat_counts([s.session_id for s in rows])
    return [_view(s, counts) for s in rows]


async def roster(repo: SessionsRepository, session_id: str, *, as_instructor: bool = False,
                 instructor_id: str | None = None,
                 liaison_of: str | None = None) -> RosterView:
    """Who holds a seat and who waits, in order. ``as_instructor``: the caller is instructor ``instructor_id``,
    who sees only its own sessions; ``liaison_of``: only that institution's people are listed."""
    found = await find_session(repo, session_id)
    if as_instructor and found.instructor_id != instructor_id:
        raise RuleViolation("session_id", "you are not the instructor of this session", "forbidden")
    rows = await repo.roster(session_id)
    positions = waitlist_positions([seat(e) for e, _ in rows])
    lines = [RosterLine(e, name, positions.get(e.enrolment_id))
             for e, name in rows if liaison_of is None or e.institution_id == liaison_of]
    return RosterView(await session(repo, found), lines)



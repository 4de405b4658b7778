"""Reads for the HTTP API: a session's provisional attendance, its check-in code, records listings.

Who reads what: instructors their own sessions, the comptroller any; a liaison reads the servants and
records of its own institution only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from probidad.shared.auth import Principal
from services.attendance import handlers
from services.attendance.domain import commands
from services.attendance.domain.commands import Record
from services.attendance.domain.errors import Forbidden
from services.attendance.domain.intervals import Decision
from services.attendance.domain.sessions import TrainingSession
from services.attendance.handlers import AttendanceContext
from services.attendance.ports import AttendanceRepository


def _liaisons_institution(principal: Principal) -> str | None:
    return principal.institution_id if principal.role == "liaison" else None


async def session_attendance(repo: AttendanceRepository, ctx: AttendanceContext, principal: Principal,
                             session_id: str) -> tuple[TrainingSession, list[Decision]]:
    session = await handlers.load_session(repo, session_id)
    handlers.ensure_may_read(principal, session)
    enrolled = await repo.enrolled_servants(session_id)
    visible = [s for s, inst in enrolled.items() if principal.role != "liaison" or inst == principal.institution_id]
    return session, await handlers.decisions(repo, ctx, session, visible)


@dataclass(frozen=True)
class CheckInCode:
    session_id: str
    code: str
    valid_from: datetime
    valid_until: datetime


async def check_in_code(repo: AttendanceRepository, ctx: AttendanceContext, principal: Principal,
                        session_id: str) -> CheckInCode:
    """The code to show in the room; it is accepted only while the session runs."""
    session = await handlers.load_session(repo, session_id)
    handlers.ensure_may_manage(principal, session)
    return CheckInCode(session_id, handlers.check_in_code_for(ctx, session),
                       datetime.fromtimestamp(session.window.starts_at - ctx.check_in_opens_s, UTC), session.end)


async def session_records(repo: AttendanceRepository, principal: Principal, session_id: str, *,
                          history: bool) -> list[Record]:
    session = await handlers.load_session(repo, session_id)
    handlers.ensure_may_read(principal, session)
    found = await repo.record_history(session_id, _liaisons_institution(principal))
    return found if history else commands.current_records(found)


async def records(repo: AttendanceRepository, principal: Principal, *, institution_id: str | None,
                  servant_id: str | None) -> list[Record]:
    """Current attendance records; a liaison sees only its institution's."""
    if principal.role == "liaison":
        if institution_id and institution_id != principal.institution_id:
            raise Forbidden("institution_id", "a liaison reads only its own institution")
        institution_id = principal.institution_id
    return commands.current_records(await repo.record_history(
        institution_id=institution_id, servant_id=servant_id))

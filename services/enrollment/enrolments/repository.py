"""Storage of enrolments (the seat decision's statements): the only SQL for it, and where its rows become the
domain's records."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, bindparam, func, insert, select, update

from services.enrollment.base_repository import ACTIVE, IN_LIST, SqlStore, _enrolments, _servants, _sessions
from services.enrollment.enrolments.domain import Occupancy
from services.enrollment.enrolments.ports import SeatCheck
from services.enrollment.sessions.domain import SessionTerms
from services.enrollment.sessions.rows import terms
from services.enrollment.tables import Enrolment, TrainingSession

# ------------------------------------------------------------------ the seat decision's statements

# The seat decision is the hot path (and runs while the session is locked), so its statements are
# built once, on the tables themselves, with bound parameters: no per-request statement building, no
# ORM unit-of-work for what is a lock, a count and an insert.

def _seats_held(*condition: ColumnElement[bool]) -> ScalarSelect[Any]:
    return (select(func.count()).select_from(_enrolments)
            .where(_enrolments.c.session_id == bindparam("session_id"), *condition).scalar_subquery())


_LOCK_SESSION = (update(_sessions).where(_sessions.c.session_id == bindparam("the_session"))
                 .values(revision=_sessions.c.revision + 1)
                 .returning(_sessions.c.session_id, _sessions.c.starts_at, _sessions.c.ends_at, _sessions.c.capacity,
                            _sessions.c.cancelled_at))
_SEAT_CHECK = select(
    select(_servants.c.institution_id).where(_servants.c.servant_id == bindparam("servant_id")).scalar_subquery(),
    select(_servants.c.erased_at).where(_servants.c.servant_id == bindparam("servant_id")).scalar_subquery(),
    select(_servants.c.left_on).where(_servants.c.servant_id == bindparam("servant_id")).scalar_subquery(),
    _seats_held(_enrolments.c.status == "confirmed"),
    _seats_held(_enrolments.c.status == "waitlisted"),
    _seats_held(_enrolments.c.status != "cancelled", _enrolments.c.servant_id == bindparam("servant_id")),
    # the first of the servant's other active sessions that shares this one's time, if any
    select(_sessions.c.session_id).join(_enrolments, _enrolments.c.session_id == _sessions.c.session_id)
    .where(_enrolments.c.servant_id == bindparam("servant_id"), _enrolments.c.status != "cancelled",
           _sessions.c.cancelled_at.is_(None), _sessions.c.session_id != bindparam("session_id"),
           _sessions.c.starts_at < bindparam("ends_at", type_=_sessions.c.ends_at.type),
           _sessions.c.ends_at > bindparam("starts_at", type_=_sessions.c.starts_at.type))
    .limit(1).scalar_subquery(),
)


class SqlEnrolmentsRepository(SqlStore):

    # -------------------------------------------------------------- enrolments

    async def lock_session_terms(self, session_id: str) -> SessionTerms | None:
        """Lock the session's row (after the servant's, the same order everywhere, so two requests never
        wait on each other in a cycle) and read what the seat rules need of it."""
        locked = (await self.db.execute(_LOCK_SESSION, {"the_session": session_id})).first()
        if locked is None:
            return None
        return SessionTerms(locked.session_id, locked.starts_at, locked.ends_at, locked.capacity,
                            locked.cancelled_at is not None)

    async def seat_check(self, session: SessionTerms, servant_id: str) -> SeatCheck:
        """The servant, how full the session is, whether the servant is in it, and the first of the servant's
        other sessions that shares its time — in one round trip."""
        institution_id, erased_at, left_on, confirmed, waitlisted, mine, clashing = (await self.db.execute(_SEAT_CHECK,
                                                                                                           {
            "session_id": session.session_id, "servant_id": servant_id, "starts_at": session.starts_at,
            "ends_at": session.ends_at})).one()
        commitments = []
        if clashing is not None:  # rare: load its times so the domain judges (and names) the overlap itself
            commitments.append(terms(await self.db.get(TrainingSession, clashing)))
        return SeatCheck(institution_id, erased_at is not None,
                         Occupancy(int(confirmed), int(waitlisted), bool(mine)), commitments,
                         left_on if left_on is None or isinstance(left_on, date) else date.fromisoformat(left_on))

    async def add_enrolment(self, *, enrolment_id: str, session_id: str, servant_id: str, institution_id: str,
                            status: str, request_id: str | None, enrolled_at: datetime) -> Enrolment:
        enrolment = Enrolment(enrolment_id=enrolment_id, session_id=session_id, servant_id=servant_id,
                              institution_id=institution_id, status=status, request_id=request_id,
                              enrolled_at=enrolled_at)
        await self.db.execute(insert(_enrolments).values(
            enrolment_id=enrolment_id, session_id=session_id, servant_id=servant_id, institution_id=institution_id,
            status=status, request_id=request_id, promoted_from_waitlist=False, enrolled_at=enrolled_at))
        return enrolment

    async def enrolment(self, enrolment_id: str) -> Enrolment | None:
        found = await self.db.execute(select(Enrolment).where(Enrolment.enrolment_id == enrolment_id))
        return found.scalars().first()

    async def active_seats(self, session_id: str) -> list[Enrolment]:
        rows = await self.db.execute(select(Enrolment).where(Enrolment.session_id == session_id,
                                                             Enrolment.status.in_(ACTIVE))
                                     .order_by(Enrolment.number))
        return list(rows.scalars())

    async def cancel_enrolment(self, enrolment: Enrolment, promoted: Sequence[Enrolment], *, at: datetime,
                               reason: str | None) -> None:
        enrolment.status, enrolment.cancelled_at, enrolment.cancellation_reason = "cancelled", at, reason
        for moved in promoted:
            moved.status, moved.promoted_from_waitlist = "confirmed", True
        await self.db.flush()

    async def waitlist_positions(self, session_ids: Sequence[str]) -> dict[str, int]:
        """Place in line (1 = next) of every waitlisted enrolment of these sessions, a query per IN list."""
        positions: dict[str, int] = {}
        place: dict[str, int] = {}
        for start in range(0, len(session_ids), IN_LIST):
            rows = await self.db.execute(
                select(Enrolment.enrolment_id, Enrolment.session_id)
                .where(Enrolment.session_id.in_(session_ids[start:start + IN_LIST]), Enrolment.status == "waitlisted")
                .order_by(Enrolment.session_id, Enrolment.number))
            for enrolment_id, session_id in rows.all():
                place[session_id] = place.get(session_id, 0) + 1
                positions[enrolment_id] = place[session_id]
        return positions

    async def enrolments(self, *, session_id: str | None, servant_id: str | None, include_cancelled: bool,
                         institution_id: str | None, limit: int, offset: int) -> list[Enrolment]:
        query = select(Enrolment).order_by(Enrolment.number).limit(limit).offset(offset)
        if session_id:
            query = query.where(Enrolment.session_id == session_id)
        if servant_id:
            query = query.where(Enrolment.servant_id == servant_id)
        if not include_cancelled:
            query = query.where(Enrolment.status.in_(ACTIVE))
        if institution_id is not None:
            query = query.where(Enrolment.institution_id == institution_id)
        return list((await self.db.execute(query)).scalars())


"""Storage of sessions: the only SQL for it, and where its rows become the domain's records."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update

from services.enrollment.base_repository import ACTIVE, IN_LIST, SqlStore, _enrolments
from services.enrollment.sessions.domain import Commitment
from services.enrollment.sessions.rows import terms
from services.enrollment.tables import Enrolment, Servant, TrainingSession


class SqlSessionsRepository(SqlStore):

    # -------------------------------------------------------------- sessions

    async def training_session(self, session_id: str) -> TrainingSession | None:
        return await self.db.get(TrainingSession, session_id)

    async def add_session(self, *, session_id: str, course_id: str, modality: str, platform: str | None,
                          venue: str | None, starts_at: datetime, ends_at: datetime, timezone: str, capacity: int,
                          instructor_id: str | None, organising_unit: str | None) -> TrainingSession:
        session = TrainingSession(session_id=session_id, course_id=course_id, modality=modality, platform=platform,
                                  venue=venue, starts_at=starts_at, ends_at=ends_at, timezone=timezone,
                                  capacity=capacity, instructor_id=instructor_id, organising_unit=organising_unit)
        self.db.add(session)
        await self.db.flush()
        return session

    async def lock_session(self, session_id: str) -> TrainingSession | None:
        # Taking the row lock first serialises everything that changes this session's seats.
        await self.db.execute(update(TrainingSession).where(TrainingSession.session_id == session_id)
                              .values(revision=TrainingSession.revision + 1)
                              .execution_options(synchronize_session=False))
        return await self.db.get(TrainingSession, session_id, populate_existing=True)

    async def reschedule_session(self, session: TrainingSession, *, starts_at: datetime, ends_at: datetime,
                                 timezone: str, venue: str | None) -> None:
        session.starts_at, session.ends_at, session.timezone, session.venue = starts_at, ends_at, timezone, venue
        await self.db.flush()

    async def cancel_session(self, session: TrainingSession, *, at: datetime, reason: str | None) -> None:
        session.cancelled_at, session.cancellation_reason = at, reason
        await self.db.flush()

    async def sessions(self, *, course_id: str | None, starting_from: datetime | None,
                       starting_before: datetime | None, instructor_id: str | None = None,
                       instructors_only: bool = False) -> list[TrainingSession]:
        query = select(TrainingSession).order_by(TrainingSession.starts_at)
        if course_id:
            query = query.where(TrainingSession.course_id == course_id)
        if starting_from:
            query = query.where(TrainingSession.starts_at >= starting_from)
        if starting_before:
            query = query.where(TrainingSession.starts_at < starting_before)
        if instructors_only:
            query = query.where(TrainingSession.instructor_id == instructor_id)
        return list((await self.db.execute(query)).scalars())

    async def seat_counts(self, session_ids: Sequence[str]) -> dict[tuple[str, str], int]:
        """(session id, status) -> enrolments, for many sessions, a query per bounded IN list."""
        counts: dict[tuple[str, str], int] = {}
        for start in range(0, len(session_ids), IN_LIST):
            rows = await self.db.execute(
                select(Enrolment.session_id, Enrolment.status, func.count())
                .where(Enrolment.session_id.in_(session_ids[start:start + IN_LIST]), Enrolment.status.in_(ACTIVE))
                .group_by(Enrolment.session_id, Enrolment.status))
            counts |= {(session_id, status): n for session_id, status, n in rows.all()}
        return counts

    async def roster(self, session_id: str) -> list[tuple[Enrolment, str | None]]:
        """The session's active enrolments in order of arrival, with the servant's name."""
        rows = await self.db.execute(
            select(Enrolment, Servant.name).join(Servant, Servant.servant_id == Enrolment.servant_id)
            .where(Enrolment.session_id == session_id, Enrolment.status.in_(ACTIVE))
            .order_by(Enrolment.number))
        return [(enrolment, name) for enrolment, name in rows.all()]

    async def commitments_overlapping(self, session_id: str, starts_at: datetime,
                                      ends_at: datetime) -> list[Commitment]:
        """The other active enrolments, in sessions not cancelled that share [starts_at, ends_at), of the
        servants actively enrolled in ``session_id``: what a reschedule to that time would clash with."""
        mine, theirs = _enrolments.alias("mine"), _enrolments.alias("theirs")
        rows = await self.db.execute(
            select(mine.c.servant_id, TrainingSession)
            .join(theirs, (theirs.c.servant_id == mine.c.servant_id) & (theirs.c.session_id != mine.c.session_id))
            .join(TrainingSession, TrainingSession.session_id == theirs.c.session_id)
            .where(mine.c.session_id == session_id, mine.c.status.in_(ACTIVE), theirs.c.status.in_(ACTIVE),
                   TrainingSession.cancelled_at.is_(None), TrainingSession.starts_at < ends_at,
                   TrainingSession.ends_at > starts_at)
            .order_by(mine.c.servant_id, TrainingSession.starts_at))
        return [Commitment(servant_id, terms(session)) for servant_id, session in rows.all()]


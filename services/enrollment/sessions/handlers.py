"""Handlers of sessions: load through the repository, ask the domain, save, and return the events."""

from __future__ import annotations

from datetime import datetime

from contracts.events import Modality
from probidad.shared.errors import RuleViolation

from services.enrollment.context import Done, EnrollmentContext
from services.enrollment.sessions.domain import (
    decide_reschedule,
    decide_schedule,
    decide_session_cancellation,
    session_times,
)
from services.enrollment.sessions.ports import SessionsRepository, TrainingSession
from services.enrollment.sessions.rows import terms


async def find_session(repo: SessionsRepository, session_id: str) -> TrainingSession:
    session = await repo.training_session(session_id)
    if session is None:
        raise RuleViolation("session_id", f"unknown session {session_id!r}", "not_found")
    return session


# ------------------------------------------------------------------ sessions


async def schedule_session(repo: SessionsRepository, ctx: EnrollmentContext, *, session_id: str, course_id: str,
                           modality: Modality, platform: str | None, venue: str | None, starts_at: datetime,
                           ends_at: datetime, timezone: str | None, capacity: int, instructor_id: str | None,
                           organising_unit: str | None) -> Done[TrainingSession]:
    """Schedule a session of a course; a time without an offset is read in ``timezone`` (the programme's
    zone when None)."""
    timezone = timezone or ctx.programme_timezone
    if await repo.training_session(session_id) is not None:
        raise RuleViolation("session_id", f"session {session_id!r} already exists", "conflict")
    if await repo.course(course_id) is None:
        raise RuleViolation("course_id", f"unknown course {course_id!r}")
    events = decide_schedule(session_id=session_id, course_id=course_id, modality=modality, platform=platform,
                                    venue=venue, starts_at=starts_at, ends_at=ends_at, timezone=timezone,
                                    capacity=capacity, instructor_id=instructor_id, organising_unit=organising_unit)
    scheduled = events[0]
    session = await repo.add_session(
        session_id=session_id, course_id=course_id, modality=Modality(modality).value, platform=platform, venue=venue,
        starts_at=scheduled.starts_at, ends_at=scheduled.ends_at, timezone=timezone, capacity=capacity,
        instructor_id=instructor_id, organising_unit=organising_unit)
    return Done(session, events, True)


async def locked_session(repo: SessionsRepository, session_id: str) -> TrainingSession:
    session = await repo.lock_session(session_id)
    if session is None:
        raise RuleViolation("session_id", f"unknown session {session_id!r}", "not_found")
    return session


async def reschedule_session(repo: SessionsRepository, ctx: EnrollmentContext, session_id: str, *, starts_at: datetime,
                             ends_at: datetime, timezone: str | None, venue: str | None,
                             reason: str | None) -> Done[TrainingSession]:
    # The enrolled servants' rows first, in id order, then the session's (the enrolment path's order):
    # none of them can take an overlapping seat elsewhere while the new time is being checked.
    for seated in sorted({s.servant_id for s in await repo.active_seats(session_id)}):
        await repo.lock_servant(seated)
    session = await locked_session(repo, session_id)
    timezone = timezone or session.timezone
    venue = venue if venue is not None else session.venue
    start, end = session_times(starts_at, ends_at, timezone)
    events = decide_reschedule(terms(session), starts_at, ends_at, timezone, venue, reason,
                                      await repo.commitments_overlapping(session_id, start, end))
    await repo.reschedule_session(session, starts_at=events[0].starts_at, ends_at=events[0].ends_at,
                                  timezone=timezone, venue=venue)
    return Done(session, events)


async def cancel_session(repo: SessionsRepository, ctx: EnrollmentContext, session_id: str, *,
                         reason: str | None, now: datetime) -> Done[TrainingSession]:
    session = await locked_session(repo, session_id)
    events = decide_session_cancellation(terms(session), reason,
                                                certificates=await repo.certificates_from_session(session_id))
    await repo.cancel_session(session, at=now, reason=reason)
    return Done(session, events)



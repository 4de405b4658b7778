"""Which handler each consumed event type goes to: each subscriber hands the event, stamped with when it
was stated (its CloudEvents time and id), to the handler named after it, with the unit of work's
repository, and records the events it returns."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from contracts.attribution import Stamp
from contracts.base import Event
from contracts.envelope import Envelope
from contracts.events import (
    AssessmentGraded,
    AttendanceCorrected,
    AttendanceRecorded,
    CoursePublished,
    EnrolmentCancelled,
    EnrolmentConfirmed,
    ServantRegistered,
    ServantTransferred,
    ServantUpdated,
    SessionCancelled,
    SessionClosed,
    SessionRescheduled,
    SessionScheduled,
)
from contracts.topics import ATTENDANCE_EVENTS, ENROLLMENT_EVENTS
from probidad.shared.consumer import Handler
from probidad.shared.unit_of_work import UnitOfWork
from services.certification import handlers
from services.certification.handlers import CertificationContext
from services.certification.ports import CertificationRepository
from services.certification.repository import SqlCertificationRepository

TOPICS = [ENROLLMENT_EVENTS, ATTENDANCE_EVENTS]

EventHandler = Callable[[CertificationRepository, CertificationContext, Any, Stamp], Awaitable[list[Event]]]


async def prepare(uow: UnitOfWork, envelopes: list[Envelope]) -> None:
    """Before a batch's handlers: load every session and servant its records name, with a few queries
    (and hold the course terms exclusively if the batch publishes a course)."""
    publishes = any(e.type == CoursePublished.type for e in envelopes)
    repo = await SqlCertificationRepository.of(uow, course_terms_change=publishes, record=False)
    await repo.preload((getattr(e.event, "session_id", None) for e in envelopes),
                       (getattr(e.event, "servant_id", None) for e in envelopes))


async def _apply(handler: EventHandler, ctx: CertificationContext, uow: UnitOfWork, envelope: Envelope, *,
                 course_terms_change: bool = False) -> None:
    repo = await SqlCertificationRepository.of(uow, course_terms_change=course_terms_change)
    events = await handler(repo, ctx, envelope.event, envelope.stamp)
    uow.record(events, correlation_id=envelope.correlation_id)


async def on_course_published(ctx: CertificationContext, uow: UnitOfWork, envelope: Envelope) -> None:
    # A published course re-judges every session of it: the course terms are held exclusively.
    await _apply(handlers.course_published, ctx, uow, envelope, course_terms_change=True)


async def on_session_scheduled(ctx: CertificationContext, uow: UnitOfWork, envelope: Envelope) -> None:
    await _apply(handlers.session_scheduled, ctx, uow, envelope)


async def on_session_rescheduled(ctx: CertificationContext, uow: UnitOfWork, envelope: Envelope) -> None:
    await _apply(handlers.session_rescheduled, ctx, uow, envelope)


async def on_session_cancelled(ctx: CertificationContext, uow: UnitOfWork, envelope: Envelope) -> None:
    await _apply(handlers.session_cancelled, ctx, uow, envelope)


async def on_session_closed(ctx: CertificationContext, uow: UnitOfWork, envelope: Envelope) -> None:
    await _apply(handlers.session_closed, ctx, uow, envelope)


async def on_enrolment_confirmed(ctx: CertificationContext, uow: UnitOfWork, envelope: Envelope) -> None:
    await _apply(handlers.enrolment_confirmed, ctx, uow, envelope)


async def on_enrolment_cancelled(ctx: CertificationContext, uow: UnitOfWork, envelope: Envelope) -> None:
    await _apply(handlers.enrolment_cancelled, ctx, uow, envelope)


async def on_attendance_recorded(ctx: CertificationContext, uow: UnitOfWork, envelope: Envelope) -> None:
    await _apply(handlers.attendance_recorded, ctx, uow, envelope)


async def on_attendance_corrected(ctx: CertificationContext, uow: UnitOfWork, envelope: Envelope) -> None:
    await _apply(handlers.attendance_corrected, ctx, uow, envelope)


async def on_assessment_graded(ctx: CertificationContext, uow: UnitOfWork, envelope: Envelope) -> None:
    await _apply(handlers.assessment_graded, ctx, uow, envelope)


async def on_servant_transferred(ctx: CertificationContext, uow: UnitOfWork, envelope: Envelope) -> None:
    await _apply(handlers.servant_transferred, ctx, uow, envelope)


async def on_servant_registered(ctx: CertificationContext, uow: UnitOfWork, envelope: Envelope) -> None:
    await _apply(handlers.servant_registered, ctx, uow, envelope)


async def on_servant_updated(ctx: CertificationContext, uow: UnitOfWork, envelope: Envelope) -> None:
    await _apply(handlers.servant_updated, ctx, uow, envelope)


def subscriptions(ctx: CertificationContext) -> dict[str, Handler]:
    return {
        CoursePublished.type: partial(on_course_published, ctx),
        SessionScheduled.type: partial(on_session_scheduled, ctx),
        SessionRescheduled.type: partial(on_session_rescheduled, ctx),
        SessionCancelled.type: partial(on_session_cancelled, ctx),
        SessionClosed.type: partial(on_session_closed, ctx),
        EnrolmentConfirmed.type: partial(on_enrolment_confirmed, ctx),
        EnrolmentCancelled.type: partial(on_enrolment_cancelled, ctx),
        AttendanceRecorded.type: partial(on_attendance_recorded, ctx),
        AttendanceCorrected.type: partial(on_attendance_corrected, ctx),
        AssessmentGraded.type: partial(on_assessment_graded, ctx),
        ServantTransferred.type: partial(on_servant_transferred, ctx),
        ServantRegistered.type: partial(on_servant_registered, ctx),
        ServantUpdated.type: partial(on_servant_updated, ctx),
    }

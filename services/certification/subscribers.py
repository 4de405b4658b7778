"""Which handler each consumed event type goes to: each subscriber hands the event, stamped with when it
was stated (its CloudEvents time and id), to one handler and records the events it returns."""

from __future__ import annotations

from functools import partial

from contracts.attribution import Stamp
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

TOPICS = [ENROLLMENT_EVENTS, ATTENDANCE_EVENTS]


def _stamp(envelope: Envelope) -> Stamp:
    return Stamp.of(envelope.time, envelope.id)


async def on_course_published(ctx: CertificationContext, uow: UnitOfWork, envelope: Envelope) -> None:
    uow.record(await handlers.publish_course(uow, ctx, envelope.event, _stamp(envelope)),
               correlation_id=envelope.correlation_id)


async def on_session_scheduled(ctx: CertificationContext, uow: UnitOfWork, envelope: Envelope) -> None:
    uow.record(await handlers.schedule_session(uow, ctx, envelope.event, _stamp(envelope)),
               correlation_id=envelope.correlation_id)


async def on_session_changed(ctx: CertificationContext, uow: UnitOfWork, envelope: Envelope) -> None:
    """SessionRescheduled or SessionCancelled."""
    uow.record(await handlers.change_session(uow, ctx, envelope.event, _stamp(envelope)),
               correlation_id=envelope.correlation_id)


async def on_session_closed(ctx: CertificationContext, uow: UnitOfWork, envelope: Envelope) -> None:
    uow.record(await handlers.close_session(uow, ctx, envelope.event, _stamp(envelope)),
               correlation_id=envelope.correlation_id)


async def on_enrolment_changed(ctx: CertificationContext, uow: UnitOfWork, envelope: Envelope) -> None:
    """EnrolmentConfirmed or EnrolmentCancelled."""
    uow.record(await handlers.change_enrolment(uow, ctx, envelope.event, _stamp(envelope)),
               correlation_id=envelope.correlation_id)


async def on_attendance_stated(ctx: CertificationContext, uow: UnitOfWork, envelope: Envelope) -> None:
    """AttendanceRecorded or AttendanceCorrected."""
    uow.record(await handlers.state_attendance(uow, ctx, envelope.event, _stamp(envelope)),
               correlation_id=envelope.correlation_id)


async def on_assessment_graded(ctx: CertificationContext, uow: UnitOfWork, envelope: Envelope) -> None:
    uow.record(await handlers.grade_assessment(uow, ctx, envelope.event, _stamp(envelope)),
               correlation_id=envelope.correlation_id)


async def on_servant_transferred(ctx: CertificationContext, uow: UnitOfWork, envelope: Envelope) -> None:
    uow.record(await handlers.transfer_servant(uow, ctx, envelope.event, _stamp(envelope)),
               correlation_id=envelope.correlation_id)


async def on_servant_stated(ctx: CertificationContext, uow: UnitOfWork, envelope: Envelope) -> None:
    """ServantRegistered or ServantUpdated: only the holder digest matters here."""
    uow.record(await handlers.state_holder(uow, ctx, envelope.event, _stamp(envelope)),
               correlation_id=envelope.correlation_id)


def subscriptions(ctx: CertificationContext) -> dict[str, Handler]:
    return {
        CoursePublished.type: partial(on_course_published, ctx),
        SessionScheduled.type: partial(on_session_scheduled, ctx),
        SessionRescheduled.type: partial(on_session_changed, ctx),
        SessionCancelled.type: partial(on_session_changed, ctx),
        SessionClosed.type: partial(on_session_closed, ctx),
        EnrolmentConfirmed.type: partial(on_enrolment_changed, ctx),
        EnrolmentCancelled.type: partial(on_enrolment_changed, ctx),
        AttendanceRecorded.type: partial(on_attendance_stated, ctx),
        AttendanceCorrected.type: partial(on_attendance_stated, ctx),
        AssessmentGraded.type: partial(on_assessment_graded, ctx),
        ServantTransferred.type: partial(on_servant_transferred, ctx),
        ServantRegistered.type: partial(on_servant_stated, ctx),
        ServantUpdated.type: partial(on_servant_stated, ctx),
    }

"""Event type -> subscriber. Every platform event reporting keeps becomes one fact in the active store.

Each subscriber hands its event, stamped with when it was stated (``envelope.stamp``),
to the handler named after it, with the unit of work's repository (one per consumer batch).
"""

from __future__ import annotations

from functools import partial

from contracts.envelope import Envelope
from contracts.events import (
    AssessmentGraded, AttendanceCorrected, AttendanceRecorded, CertificateIssued, CertificateRevoked,
    CompetencyAttained, CoursePublished, EnrolmentCancelled, EnrolmentConfirmed, ExemptionGranted,
    ExemptionWithdrawn, InstitutionRegistered, ServantLeft, ServantRegistered, ServantTransferred, ServantUpdated,
    SessionCancelled, SessionRescheduled, SessionScheduled, TrainingPlanDeclared, TrainingRequirementDeclared,
)
from probidad.shared.consumer import Handler
from probidad.shared.unit_of_work import UnitOfWork
from services.reporting import handlers
from services.reporting.handlers import ReportingContext
from services.reporting.repository import SqlReportingRepository


def _repository(uow: UnitOfWork) -> SqlReportingRepository:
    return SqlReportingRepository.of(uow)  # one per unit of work: a consumer batch shares it


async def on_institution_registered(ctx: ReportingContext, uow: UnitOfWork, envelope: Envelope) -> None:
    uow.record(await handlers.institution_registered(_repository(uow), ctx, envelope.event, envelope.stamp),
               correlation_id=envelope.correlation_id)


async def on_course_published(ctx: ReportingContext, uow: UnitOfWork, envelope: Envelope) -> None:
    uow.record(await handlers.course_published(_repository(uow), ctx, envelope.event, envelope.stamp),
               correlation_id=envelope.correlation_id)


async def on_session_scheduled(ctx: ReportingContext, uow: UnitOfWork, envelope: Envelope) -> None:
    uow.record(await handlers.session_scheduled(_repository(uow), ctx, envelope.event, envelope.stamp),
               correlation_id=envelope.correlation_id)


async def on_session_rescheduled(ctx: ReportingContext, uow: UnitOfWork, envelope: Envelope) -> None:
    uow.record(await handlers.session_rescheduled(_repository(uow), ctx, envelope.event, envelope.stamp),
               correlation_id=envelope.correlation_id)


async def on_session_cancelled(ctx: ReportingContext, uow: UnitOfWork, envelope: Envelope) -> None:
    uow.record(await handlers.session_cancelled(_repository(uow), ctx, envelope.event, envelope.stamp),
               correlation_id=envelope.correlation_id)


async def on_servant_registered(ctx: ReportingContext, uow: UnitOfWork, envelope: Envelope) -> None:
    uow.record(await handlers.servant_registered(_repository(uow), ctx, envelope.event, envelope.stamp),
               correlation_id=envelope.correlation_id)


async def on_servant_updated(ctx: ReportingContext, uow: UnitOfWork, envelope: Envelope) -> None:
    uow.record(await handlers.servant_updated(_repository(uow), ctx, envelope.event, envelope.stamp),
               correlation_id=envelope.correlation_id)


async def on_servant_transferred(ctx: ReportingContext, uow: UnitOfWork, envelope: Envelope) -> None:
    uow.record(await handlers.servant_transferred(_repository(uow), ctx, envelope.event, envelope.stamp),
               correlation_id=envelope.correlation_id)


async def on_enrolment_confirmed(ctx: ReportingContext, uow: UnitOfWork, envelope: Envelope) -> None:
    uow.record(await handlers.enrolment_confirmed(_repository(uow), ctx, envelope.event, envelope.stamp),
               correlation_id=envelope.correlation_id)


async def on_enrolment_cancelled(ctx: ReportingContext, uow: UnitOfWork, envelope: Envelope) -> None:
    uow.record(await handlers.enrolment_cancelled(_repository(uow), ctx, envelope.event, envelope.stamp),
               correlation_id=envelope.correlation_id)


async def on_attendance_recorded(ctx: ReportingContext, uow: UnitOfWork, envelope: Envelope) -> None:
    uow.record(await handlers.attendance_recorded(_repository(uow), ctx, envelope.event, envelope.stamp),
               correlation_id=envelope.correlation_id)


async def on_attendance_corrected(ctx: ReportingContext, uow: UnitOfWork, envelope: Envelope) -> None:
    uow.record(await handlers.attendance_corrected(_repository(uow), ctx, envelope.event, envelope.stamp),
               correlation_id=envelope.correlation_id)


async def on_assessment_graded(ctx: ReportingContext, uow: UnitOfWork, envelope: Envelope) -> None:
    uow.record(await handlers.assessment_graded(_repository(uow), ctx, envelope.event, envelope.stamp),
               correlation_id=envelope.correlation_id)


async def on_certificate_issued(ctx: ReportingContext, uow: UnitOfWork, envelope: Envelope) -> None:
    uow.record(await handlers.certificate_issued(_repository(uow), ctx, envelope.event, envelope.stamp),
               correlation_id=envelope.correlation_id)


async def on_certificate_revoked(ctx: ReportingContext, uow: UnitOfWork, envelope: Envelope) -> None:
    uow.record(await handlers.certificate_revoked(_repository(uow), ctx, envelope.event, envelope.stamp),
               correlation_id=envelope.correlation_id)


async def on_training_plan_declared(ctx: ReportingContext, uow: UnitOfWork, envelope: Envelope) -> None:
    uow.record(await handlers.training_plan_declared(_repository(uow), ctx, envelope.event, envelope.stamp),
               correlation_id=envelope.correlation_id)


async def on_training_requirement_declared(ctx: ReportingContext, uow: UnitOfWork, envelope: Envelope) -> None:
    uow.record(await handlers.training_requirement_declared(_repository(uow), ctx, envelope.event, envelope.stamp),
               correlation_id=envelope.correlation_id)


async def on_exemption_granted(ctx: ReportingContext, uow: UnitOfWork, envelope: Envelope) -> None:
    uow.record(await handlers.exemption_granted(_repository(uow), ctx, envelope.event, envelope.stamp),
               correlation_id=envelope.correlation_id)


async def on_exemption_withdrawn(ctx: ReportingContext, uow: UnitOfWork, envelope: Envelope) -> None:
    uow.record(await handlers.exemption_withdrawn(_repository(uow), ctx, envelope.event, envelope.stamp),
               correlation_id=envelope.correlation_id)


async def on_servant_left(ctx: ReportingContext, uow: UnitOfWork, envelope: Envelope) -> None:
    uow.record(await handlers.servant_left(_repository(uow), ctx, envelope.event, envelope.stamp),
               correlation_id=envelope.correlation_id)


async def on_competency_attained(ctx: ReportingContext, uow: UnitOfWork, envelope: Envelope) -> None:
    uow.record(await handlers.competency_attained(_repository(uow), ctx, envelope.event, envelope.stamp),
               correlation_id=envelope.correlation_id)


def subscriptions(ctx: ReportingContext) -> dict[str, Handler]:
    return {
        InstitutionRegistered.type: partial(on_institution_registered, ctx),
        CoursePublished.type: partial(on_course_published, ctx),
        SessionScheduled.type: partial(on_session_scheduled, ctx),
        SessionRescheduled.type: partial(on_session_rescheduled, ctx),
        SessionCancelled.type: partial(on_session_cancelled, ctx),
        ServantRegistered.type: partial(on_servant_registered, ctx),
        ServantUpdated.type: partial(on_servant_updated, ctx),
        ServantTransferred.type: partial(on_servant_transferred, ctx),
        EnrolmentConfirmed.type: partial(on_enrolment_confirmed, ctx),
        EnrolmentCancelled.type: partial(on_enrolment_cancelled, ctx),
        AttendanceRecorded.type: partial(on_attendance_recorded, ctx),
        AttendanceCorrected.type: partial(on_attendance_corrected, ctx),
        AssessmentGraded.type: partial(on_assessment_graded, ctx),
        CertificateIssued.type: partial(on_certificate_issued, ctx),
        CertificateRevoked.type: partial(on_certificate_revoked, ctx),
        TrainingPlanDeclared.type: partial(on_training_plan_declared, ctx),
        TrainingRequirementDeclared.type: partial(on_training_requirement_declared, ctx),
        ExemptionGranted.type: partial(on_exemption_granted, ctx),
        ExemptionWithdrawn.type: partial(on_exemption_withdrawn, ctx),
        ServantLeft.type: partial(on_servant_left, ctx),
        CompetencyAttained.type: partial(on_competency_attained, ctx),
    }

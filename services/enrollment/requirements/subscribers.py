"""Certification's facts (``probidad.certification.events``): the completions the compliance rule needs
(certificates issued and revoked, competencies attained), kept per servant for the named overdue
lists, stamped with the moment certification stated them (``ce_time``) so a list as of an earlier
moment leaves out what was not known yet.
"""

from __future__ import annotations

from functools import partial

from contracts.envelope import Envelope
from contracts.events import CertificateIssued, CertificateRevoked, CompetencyAttained
from probidad.shared.consumer import Handler
from probidad.shared.unit_of_work import UnitOfWork

from services.enrollment.context import EnrollmentContext
from services.enrollment.repository import SqlEnrollmentRepository
from services.enrollment.requirements import handlers
from services.enrollment.webhooks import handlers as webhooks


async def on_certificate_issued(ctx: EnrollmentContext, uow: UnitOfWork, envelope: Envelope) -> None:
    await handlers.certificate_issued(SqlEnrollmentRepository.of(uow), ctx, envelope.event, envelope.stamp)
    await webhooks.certificate_applied(SqlEnrollmentRepository.of(uow), envelope, now=ctx.now())


async def on_certificate_revoked(ctx: EnrollmentContext, uow: UnitOfWork, envelope: Envelope) -> None:
    await handlers.certificate_revoked(SqlEnrollmentRepository.of(uow), ctx, envelope.event, envelope.stamp)
    await webhooks.certificate_applied(SqlEnrollmentRepository.of(uow), envelope, now=ctx.now())


async def on_competency_attained(ctx: EnrollmentContext, uow: UnitOfWork, envelope: Envelope) -> None:
    await handlers.competency_attained(SqlEnrollmentRepository.of(uow), ctx, envelope.event, envelope.stamp)


def completion_subscriptions(ctx: EnrollmentContext) -> dict[str, Handler]:
    return {CertificateIssued.type: partial(on_certificate_issued, ctx),
            CertificateRevoked.type: partial(on_certificate_revoked, ctx),
            CompetencyAttained.type: partial(on_competency_attained, ctx)}

"""Certification's reads for the HTTP API (verification, listings, badges' documents): the only SQL behind
the views, outside the consumer's unit of work state (``repository``)."""

from __future__ import annotations

from sqlmodel import col, select

from probidad.shared.unit_of_work import UnitOfWork
from services.certification.domain.certificates import Status
from services.certification.domain.facts import CourseTerms
from services.certification.rows import course_of
from services.certification.tables import CertificateRecord, CompetencyAttainment, CourseFact


class SqlCertificateReads:
    """What the views ask of storage, in the unit of work given."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.session = uow.session

    async def certificate_by_code(self, verification_code: str) -> CertificateRecord | None:
        return (await self.session.exec(select(CertificateRecord).where(
            CertificateRecord.verification_code == verification_code))).first()

    async def certificate_list(self, *, servant_id: str | None = None, session_id: str | None = None,
                               institution_id: str | None = None) -> list[CertificateRecord]:
        query = select(CertificateRecord)
        if servant_id:
            query = query.where(CertificateRecord.servant_id == servant_id)
        if session_id:
            query = query.where(CertificateRecord.session_id == session_id)
        if institution_id:
            query = query.where(CertificateRecord.institution_id == institution_id)
        return list((await self.session.exec(query.order_by(CertificateRecord.issued_on,
                                                             CertificateRecord.certificate_id))).all())

    async def competencies(self, servant_id: str) -> list[CompetencyAttainment]:
        return list((await self.session.exec(select(CompetencyAttainment).where(
            CompetencyAttainment.servant_id == servant_id).order_by(CompetencyAttainment.competency))).all())



    async def course(self, course_id: str) -> CourseTerms | None:
        """The course's current terms; None for a course certification never heard of."""
        found = (await self.session.exec(select(CourseFact).where(CourseFact.course_id == course_id))).first()
        return course_of(found)

    async def revoked_codes(self, code_prefix: str) -> list[str]:
        """The verification codes starting with ``code_prefix`` of revoked certificates, in order."""
        found = await self.session.exec(select(CertificateRecord.verification_code).where(
            col(CertificateRecord.verification_code).startswith(code_prefix),
            CertificateRecord.status == Status.revoked.value))
        return sorted(found.all())

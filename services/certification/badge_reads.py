"""Reads behind the public Open Badges documents: a status list's revoked certificates, a course's Achievement."""

from __future__ import annotations

from sqlmodel import col, select

from probidad.shared.unit_of_work import UnitOfWork
from services.certification import status_list
from services.certification.badges import CourseRule, achievement, achievement_document
from services.certification.domain import Status
from services.certification.repository import CertificationRepository
from services.certification.signing import CertificateSigner
from services.certification.tables import CertificateRecord


async def revoked_codes(uow: UnitOfWork, list_id: str) -> list[str]:
    """The verification codes of the revoked certificates whose bits are in list ``list_id``."""
    prefix = status_list.StatusPosition(list_id, 0).code_prefix
    found = await uow.session.exec(select(CertificateRecord.verification_code).where(
        col(CertificateRecord.verification_code).startswith(prefix), CertificateRecord.status == Status.revoked.value))
    return sorted(found.all())


async def status_list_credential(uow: UnitOfWork, list_id: str, signer: CertificateSigner, *, base_url: str) -> dict:
    return status_list.status_list_credential(list_id, await revoked_codes(uow, list_id), signer, base_url=base_url)


async def course_achievement(uow: UnitOfWork, course_id: str, *, base_url: str) -> dict | None:
    """The course's Achievement as its current terms state it; None for a course certification never heard of."""
    course = await CertificationRepository(uow).course(course_id)
    if course is None:
        return None
    rule = CourseRule(course.minimum_attendance_share, course.passing_score)
    return achievement_document(achievement(course_id=course.course_id, code=course.code, title=course.title,
                                            topic=course.topic, hours=course.hours, rule=rule, base_url=base_url))

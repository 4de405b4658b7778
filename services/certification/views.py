"""Reads for the HTTP API: verification by code, the course rule a badge states, certificate and
competency listings, and the public Open Badges documents (a status list's revocations, a course's
Achievement). Through the reads port (``ports.CertificateReads``) only: no SQL here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from services.certification.domain.certificates import Revocation, Status, holder_check, verified_status
from services.certification.domain.codes import normalise_code
from services.certification import status_list
from services.certification.badges import CourseRule, achievement, achievement_document, open_badge_credential
from services.certification.ports import CertificateReads
from services.certification.rows import certificate_terms, revocation_of
from services.certification.signing import CertificateSigner, verify_claims
from services.certification.tables import CertificateRecord, CompetencyAttainment


@dataclass(frozen=True)
class Verification:
    record: CertificateRecord
    signature_holds: bool
    today: date  # the programme's date the answer is given on

    @property
    def status(self) -> str:
        """valid | expired | revoked | invalid (``verified_status``)."""
        return verified_status(self.record.status, self.signature_holds, self.record.valid_until, self.today)

    @property
    def revocation(self) -> Revocation | None:
        """How the revocation applies in valid time, when the answer is "revoked"."""
        return revocation_of(self.record) if self.status == Status.revoked.value else None

    @property
    def binds_holder(self) -> bool:
        """Whether a named constancia's CURP can be checked against this certificate (a trusted digest)."""
        return self.signature_holds and self.record.holder_digest is not None

    def holder_check(self, salt: str | None, curp: str | None) -> str | None:
        """match | mismatch | None (``holder_check``); None too when the signature fails, since the
        stored digest cannot then be trusted."""
        return holder_check(self.record.holder_digest, salt, curp) if self.signature_holds else None


async def verification(reads: CertificateReads, code: str, signer: CertificateSigner,
                       today: date) -> Verification | None:
    normalised = normalise_code(code)
    if normalised is None:
        return None
    row = await reads.certificate_by_code(normalised)
    if row is None:
        return None
    # The stored signature must still match the stored terms, under the key the row names (the current key
    # or a retired one): a row edited behind our back, or naming a key we do not know, shows as invalid.
    public = signer.verification_key(row.key_id)
    holds = public is not None and verify_claims(public, certificate_terms(row).claims(), row.signature)
    return Verification(row, holds, today)


async def badge(reads: CertificateReads, record: CertificateRecord, signer: CertificateSigner, *,
                base_url: str) -> dict:
    """The certificate as an Open Badges 3.0 credential, with the rule of its course."""
    course = await reads.course(record.course_id)
    rule = CourseRule(course.minimum_attendance_share, course.passing_score)
    return open_badge_credential(certificate_terms(record), rule, signer, base_url=base_url)


async def certificates(reads: CertificateReads, *, servant_id: str | None = None, session_id: str | None = None,
                       institution_id: str | None = None) -> list[CertificateRecord]:
    return await reads.certificate_list(servant_id=servant_id, session_id=session_id,
                                                               institution_id=institution_id)


async def competencies(reads: CertificateReads, servant_id: str) -> list[CompetencyAttainment]:
    return await reads.competencies(servant_id)


async def status_list_credential(reads: CertificateReads, list_id: str, signer: CertificateSigner, *,
                                 base_url: str) -> dict:
    """The signed status list ``list_id``: the bits of the revoked certificates whose codes it holds."""
    prefix = status_list.StatusPosition(list_id, 0).code_prefix
    revoked = await reads.revoked_codes(prefix)
    return status_list.status_list_credential(list_id, revoked, signer, base_url=base_url)


async def course_achievement(reads: CertificateReads, course_id: str, *, base_url: str) -> dict | None:
    """The course's Achievement as its current terms state it; None for a course certification never heard of."""
    course = await reads.course(course_id)
    if course is None:
        return None
    rule = CourseRule(course.minimum_attendance_share, course.passing_score)
    return achievement_document(achievement(course_id=course.course_id, code=course.code, title=course.title,
                                            topic=course.topic, hours=course.hours, rule=rule, base_url=base_url))

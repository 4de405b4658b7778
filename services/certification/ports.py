"""What certification's handlers may ask of storage: load what one decision reads, at once, and save what it
decided (``repository.SqlCertificationRepository`` is the one with SQL; tests use an in-memory fake); and what
the views may read (``reads_repository.SqlCertificateReads``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from services.certification.domain.decisions import (
    CertificateFacts,
    CompletionContext,
    CourseFacts,
    FactDecision,
    ServantFacts,
    SessionFacts,
)
from services.certification.domain.facts import CourseTerms, SessionPlan
from services.certification.signing import CertificateSigner
from services.certification.tables import CertificateRecord, CompetencyAttainment


class CertificationRepository(Protocol):
    """Certification's storage for one unit of work."""

    async def course_facts(self, course_id: str) -> CourseFacts:
        """The course as kept, its sessions and their servants (a course published re-judges them all)."""
        ...

    async def session_facts(self, session_id: str, course_id: str | None = None) -> SessionFacts:
        """The session, its servants and the terms of ``course_id`` (None: the course it is kept with)."""
        ...

    async def plan(self, session_id: str) -> SessionPlan | None:
        """The session's plan alone (a close re-judges nobody)."""
        ...

    async def completion_context(self, session_id: str, servant_id: str,
                                 enrolment_id: str | None = None) -> CompletionContext:
        """The (servant, session), the servant, and the enrolment ``enrolment_id`` wherever it is kept."""
        ...

    async def servant_facts(self, servant_id: str) -> ServantFacts:
        """The servant and their completions with a certificate."""
        ...

    async def certificate_facts(self, certificate: str) -> CertificateFacts | None:
        """The certificate with this id or verification code, its servant and completion; None if unknown."""
        ...

    def save(self, decision: FactDecision[Any], signer: CertificateSigner, changed_at: datetime) -> None:
        """Keep the fact decided and its consequences: certificates signed with ``signer``, restamps,
        competencies attained."""
        ...


class CertificateReads(Protocol):
    """What the HTTP views read: certificates and competencies as stored, a course's terms."""

    async def certificate_by_code(self, verification_code: str) -> CertificateRecord | None: ...

    async def certificate_list(self, *, servant_id: str | None = None, session_id: str | None = None,
                               institution_id: str | None = None) -> list[CertificateRecord]: ...

    async def competencies(self, servant_id: str) -> list[CompetencyAttainment]: ...

    async def course(self, course_id: str) -> CourseTerms | None: ...

    async def revoked_codes(self, code_prefix: str) -> list[str]:
        """The verification codes starting with ``code_prefix`` of revoked certificates, in order."""
        ...

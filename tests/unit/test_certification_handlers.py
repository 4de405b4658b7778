"""Certification's handlers without a database: the in-memory repository (tests/support/fakes), a handler
called as a subscriber calls it, and the events it returns."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.events import (
    AttendanceCorrected,
    AttendanceRecorded,
    CertificateIssued,
    CertificateRevoked,
    CompetencyAttained,
    CoursePublished,
    EnrolmentConfirmed,
    ServantTransferred,
    SessionScheduled,
)
from contracts.attribution import Stamp
from services.certification import handlers
from services.certification.domain.certificates import Status
from services.certification.domain.decisions import (
    Rules,
)
from services.certification.handlers import CertificationContext
from tests.support.fakes.certification import FakeCertificationRepository, FakeUnitOfWork
from services.certification.signing import CertificateSigner, verify_claims

CANCUN = ZoneInfo("America/Cancun")
T0 = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
SIGNER = CertificateSigner(Ed25519PrivateKey.generate())
CONTEXT = CertificationContext(SIGNER, Rules(b"test-code-key", "Secretaría Anticorrupción",
                                             {"Integridad pública": ["CE-01", "CI-02"]}))


def stamp(minutes: int) -> Stamp:
    return Stamp.of(T0 + timedelta(minutes=minutes), f"e-{minutes}")


def course(n: int = 1, code: str = "CE-01") -> CoursePublished:
    return CoursePublished(course_id=f"c-{n}", code=code, title=f"Curso {code}", topic=code, hours=4,
                           minimum_attendance_share=0.8, passing_score=None)


def scheduled(n: int = 1, course_n: int = 1) -> SessionScheduled:
    starts = datetime(2026, 11, 5, 21, 0, tzinfo=CANCUN)
    return SessionScheduled(session_id=f"s-{n}", course_id=f"c-{course_n}", modality="virtual", starts_at=starts,
                            ends_at=starts + timedelta(hours=4), timezone="America/Cancun", capacity=30)


def seat(n: int = 1) -> EnrolmentConfirmed:
    return EnrolmentConfirmed(enrolment_id=f"en-{n}", session_id=f"s-{n}", servant_id="sv-1", institution_id="inst-1")


def present(n: int = 1, minutes: int = 228) -> AttendanceRecorded:
    return AttendanceRecorded(session_id=f"s-{n}", servant_id="sv-1", minutes_present=minutes, session_minutes=240,
                              share=minutes / 240, status="present", source_of_record="zoom")


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork(FakeCertificationRepository())


async def seated(uow: FakeUnitOfWork, n: int = 1, course_n: int = 1, code: str = "CE-01") -> None:
    """A published course, a scheduled session and a confirmed seat: all but the attendance."""
    assert await handlers.course_published(uow.repository, CONTEXT, course(course_n, code), stamp(0)) == []
    assert await handlers.session_scheduled(uow.repository, CONTEXT, scheduled(n, course_n), stamp(1)) == []
    assert await handlers.enrolment_confirmed(uow.repository, CONTEXT, seat(n), stamp(2)) == []


async def test_the_attendance_that_completes_a_session_returns_the_signed_certificate_issued(uow):
    await seated(uow)
    (issued,) = await handlers.attendance_recorded(uow.repository, CONTEXT, present(), stamp(3))

    assert isinstance(issued, CertificateIssued)
    assert (issued.servant_id, issued.session_id, issued.issued_on) == ("sv-1", "s-1", date(2026, 11, 5))
    kept = uow.repository.certificates[("s-1", "sv-1")]
    assert kept.institution_id == "inst-1"
    assert verify_claims(SIGNER.public, kept.held.terms.claims(), uow.repository.signatures[issued.certificate_id])


async def test_an_older_statement_than_the_one_kept_changes_nothing(uow):
    await seated(uow)
    await handlers.attendance_recorded(uow.repository, CONTEXT, present(minutes=228), stamp(5))
    kept = dict(uow.repository.attendance)

    assert await handlers.attendance_recorded(uow.repository, CONTEXT, present(minutes=60), stamp(4)) == []
    assert uow.repository.attendance == kept


async def test_a_correction_below_the_course_share_returns_the_revocation(uow):
    await seated(uow)
    (issued,) = await handlers.attendance_recorded(uow.repository, CONTEXT, present(), stamp(3))
    correction = AttendanceCorrected(session_id="s-1", servant_id="sv-1", minutes_present=120, session_minutes=240,
                                     share=0.5, status="late", reason="left early", corrected_by="instructor-1")

    # stated at the same instant as the record: the correction outranks it
    (revoked,) = await handlers.attendance_corrected(uow.repository, CONTEXT, correction, stamp(3))

    assert isinstance(revoked, CertificateRevoked)
    assert revoked.certificate_id == issued.certificate_id
    assert "attended 50%" in revoked.reason
    assert uow.repository.certificates[("s-1", "sv-1")].held.status is Status.revoked


async def test_the_certificate_meeting_a_competencys_last_requirement_also_returns_its_attainment(uow):
    await seated(uow, 1, 1, "CE-01")
    await handlers.attendance_recorded(uow.repository, CONTEXT, present(1), stamp(3))
    await seated(uow, 2, 2, "CI-02")

    issued, attained = await handlers.attendance_recorded(uow.repository, CONTEXT, present(2), stamp(4))

    assert isinstance(issued, CertificateIssued) and isinstance(attained, CompetencyAttained)
    assert attained.competency == "Integridad pública"
    assert attained.course_ids == ["c-1", "c-2"]
    assert uow.repository.attained == {"sv-1": {"Integridad pública": frozenset(attained.certificate_ids)}}


async def test_a_transfer_heard_after_the_certificate_restamps_it_and_publishes_nothing(uow):
    await seated(uow)
    await handlers.attendance_recorded(uow.repository, CONTEXT, present(), stamp(3))
    moved = ServantTransferred(transfer_id="tr-1", servant_id="sv-1", from_institution_id="inst-1",
                               to_institution_id="inst-2", effective_on=date(2026, 11, 5), sex="female",
                               requested_by="liaison:inst-1:rh", approved_by="liaison:inst-2:rh",
                               approved_at=datetime(2026, 11, 1, tzinfo=UTC))

    assert await handlers.servant_transferred(uow.repository, CONTEXT, moved, stamp(4)) == []
    assert uow.repository.certificates[("s-1", "sv-1")].institution_id == "inst-2"


async def test_a_subscriber_records_what_its_handler_returns(uow):
    from contracts.envelope import seal
    from services.certification.subscribers import subscriptions

    await seated(uow)
    envelope = seal(present(), time=T0 + timedelta(minutes=3))
    await subscriptions(CONTEXT)[AttendanceRecorded.type](uow, envelope)

    assert [type(e) for e in uow.recorded] == [CertificateIssued]

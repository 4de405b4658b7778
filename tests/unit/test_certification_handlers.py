"""Certification's handlers without a database: an in-memory repository and unit of work, a handler
called as a subscriber calls it, and the events it returns."""

from __future__ import annotations

from dataclasses import replace
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
from services.certification.domain.certificates import StandingCertificate, Status
from services.certification.domain.competencies import CertificateHolding
from services.certification.domain.decisions import (
    CertificateChange,
    Completion,
    Restamp,
    Rules,
    ServantState,
    SessionState,
)
from services.certification.domain.facts import (
    Attendance,
    CompletionFacts,
    CourseTerms,
    Enrolment,
    Grade,
    SessionPlan,
    Transfer,
)
from services.certification.handlers import CertificationContext
from services.certification.repository import CertificationRepository
from services.certification.signing import CertificateSigner, verify_claims

CANCUN = ZoneInfo("America/Cancun")
T0 = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
SIGNER = CertificateSigner(Ed25519PrivateKey.generate())
CONTEXT = CertificationContext(SIGNER, Rules(b"test-code-key", "Secretaría Anticorrupción",
                                             {"Integridad pública": ["CE-01", "CI-02"]}))


def stamp(minutes: int) -> Stamp:
    return Stamp.of(T0 + timedelta(minutes=minutes), f"e-{minutes}")


class FakeRepository:
    """What the handlers ask of ``CertificationRepository``, kept as domain objects in memory."""

    def __init__(self) -> None:
        self.courses: dict[str, CourseTerms] = {}
        self.plans: dict[str, SessionPlan] = {}
        self.enrolments: dict[str, Enrolment] = {}
        self.attendance: dict[tuple[str, str], Attendance] = {}
        self.grades: dict[tuple[str, str], Grade] = {}
        self.certificates: dict[tuple[str, str], StandingCertificate] = {}
        self.signatures: dict[str, str] = {}
        self.transfers: dict[str, dict[str, Transfer]] = {}
        self.attained: dict[str, dict[str, frozenset[str]]] = {}  # servant -> competency -> certificate ids
        self.records = 0

    async def hold_course_terms(self, *, exclusive: bool) -> None:
        return None

    # loads
    async def course(self, course_id: str) -> CourseTerms | None:
        return self.courses.get(course_id)

    async def completion(self, session_id: str, servant_id: str) -> Completion:
        plan = self.plans.get(session_id)
        course = self.courses.get(plan.course_id) if plan is not None and plan.course_id else None
        enrolments = tuple(sorted((e for e in self.enrolments.values()
                                   if (e.session_id, e.servant_id) == (session_id, servant_id)),
                                  key=lambda e: e.enrolment_id))
        facts = CompletionFacts(servant_id, session_id, course, plan, enrolments,
                                self.attendance.get((session_id, servant_id)), self.grades.get((session_id, servant_id)))
        return Completion(facts, self.certificates.get((session_id, servant_id)))

    async def session_state(self, session_id: str) -> SessionState:
        servants = sorted({e.servant_id for e in self.enrolments.values() if e.session_id == session_id}
                          | {v for s, v in [*self.attendance, *self.certificates] if s == session_id})
        completions = tuple([await self.completion(session_id, servant_id) for servant_id in servants])
        plan = self.plans.get(session_id)
        return SessionState(session_id, plan, await self.course(plan.course_id) if plan else None, completions)

    async def sessions_of_course(self, course_id: str) -> list[SessionState]:
        return [await self.session_state(s) for s, plan in sorted(self.plans.items()) if plan.course_id == course_id]

    async def certified_completions(self, servant_id: str) -> list[Completion]:
        return [await self.completion(s, v) for s, v in sorted(self.certificates) if v == servant_id]

    async def plan(self, session_id: str) -> SessionPlan | None:
        return self.plans.get(session_id)

    async def enrolment(self, enrolment_id: str) -> Enrolment | None:
        return self.enrolments.get(enrolment_id)

    async def servant(self, servant_id: str) -> ServantState:
        valid = tuple(sorted((CertificateHolding(t.certificate_id, t.course_id, t.course_code, t.course_topic,
                                                 t.issued_on)
                              for (_s, v), c in self.certificates.items() if v == servant_id
                              for t in [c.held.terms] if c.held.status is Status.valid),
                             key=lambda h: h.certificate_id))
        return ServantState(servant_id, tuple(self.transfers.get(servant_id, {}).values()), valid,
                            dict(self.attained.get(servant_id, {})))

    async def servants(self, servant_ids) -> dict[str, ServantState]:  # noqa: ANN001
        return {servant_id: await self.servant(servant_id) for servant_id in servant_ids}

    # saves
    def save_course(self, terms: CourseTerms) -> None:
        self.courses[terms.course_id] = terms

    def save_plan(self, plan: SessionPlan) -> None:
        self.plans[plan.session_id] = plan

    def save_enrolment(self, enrolment: Enrolment) -> None:
        self.enrolments[enrolment.enrolment_id] = enrolment

    def save_attendance(self, session_id: str, servant_id: str, attendance: Attendance) -> None:
        self.attendance[(session_id, servant_id)] = attendance

    def save_grade(self, session_id: str, servant_id: str, grade: Grade) -> None:
        self.grades[(session_id, servant_id)] = grade

    def save_transfer(self, servant_id: str, transfer: Transfer) -> None:
        self.transfers.setdefault(servant_id, {})[transfer.transfer_id] = transfer

    def save_certificate(self, change: CertificateChange, *, signature: str, key_id: str,
                         changed_at: datetime) -> None:
        self.certificates[(change.session_id, change.servant_id)] = StandingCertificate(change.certificate,
                                                                                        change.institution_id)
        self.signatures[change.certificate.terms.certificate_id] = signature

    def restamp(self, restamp: Restamp) -> None:
        key = (restamp.session_id, restamp.servant_id)
        self.certificates[key] = replace(self.certificates[key], institution_id=restamp.institution_id)

    def save_attainment(self, attained: CompetencyAttained) -> None:
        self.attained.setdefault(attained.servant_id, {})[attained.competency] = frozenset(attained.certificate_ids)


class FakeUnitOfWork:
    def __init__(self, repository: FakeRepository) -> None:
        self.repository = repository
        self.recorded: list = []

    def part(self, key: object, make) -> FakeRepository:  # noqa: ANN001
        assert key is CertificationRepository
        return self.repository

    def record(self, events, *, correlation_id: str | None = None, topic: str | None = None) -> list:  # noqa: ANN001
        self.recorded.extend(events)
        return []


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
    return FakeUnitOfWork(FakeRepository())


async def seated(uow: FakeUnitOfWork, n: int = 1, course_n: int = 1, code: str = "CE-01") -> None:
    """A published course, a scheduled session and a confirmed seat: all but the attendance."""
    assert await handlers.publish_course(uow, CONTEXT, course(course_n, code), stamp(0)) == []
    assert await handlers.schedule_session(uow, CONTEXT, scheduled(n, course_n), stamp(1)) == []
    assert await handlers.change_enrolment(uow, CONTEXT, seat(n), stamp(2)) == []


async def test_the_attendance_that_completes_a_session_returns_the_signed_certificate_issued(uow):
    await seated(uow)
    (issued,) = await handlers.state_attendance(uow, CONTEXT, present(), stamp(3))

    assert isinstance(issued, CertificateIssued)
    assert (issued.servant_id, issued.session_id, issued.issued_on) == ("sv-1", "s-1", date(2026, 11, 5))
    kept = uow.repository.certificates[("s-1", "sv-1")]
    assert kept.institution_id == "inst-1"
    assert verify_claims(SIGNER.public, kept.held.terms.claims(), uow.repository.signatures[issued.certificate_id])


async def test_an_older_statement_than_the_one_kept_changes_nothing(uow):
    await seated(uow)
    await handlers.state_attendance(uow, CONTEXT, present(minutes=228), stamp(5))
    kept = dict(uow.repository.attendance)

    assert await handlers.state_attendance(uow, CONTEXT, present(minutes=60), stamp(4)) == []
    assert uow.repository.attendance == kept


async def test_a_correction_below_the_course_share_returns_the_revocation(uow):
    await seated(uow)
    (issued,) = await handlers.state_attendance(uow, CONTEXT, present(), stamp(3))
    correction = AttendanceCorrected(session_id="s-1", servant_id="sv-1", minutes_present=120, session_minutes=240,
                                     share=0.5, status="late", reason="left early", corrected_by="instructor-1")

    (revoked,) = await handlers.state_attendance(uow, CONTEXT, correction, stamp(3))  # same instant: outranks

    assert isinstance(revoked, CertificateRevoked)
    assert revoked.certificate_id == issued.certificate_id
    assert "attended 50%" in revoked.reason
    assert uow.repository.certificates[("s-1", "sv-1")].held.status is Status.revoked


async def test_the_certificate_meeting_a_competencys_last_requirement_also_returns_its_attainment(uow):
    await seated(uow, 1, 1, "CE-01")
    await handlers.state_attendance(uow, CONTEXT, present(1), stamp(3))
    await seated(uow, 2, 2, "CI-02")

    issued, attained = await handlers.state_attendance(uow, CONTEXT, present(2), stamp(4))

    assert isinstance(issued, CertificateIssued) and isinstance(attained, CompetencyAttained)
    assert attained.competency == "Integridad pública"
    assert attained.course_ids == ["c-1", "c-2"]
    assert uow.repository.attained == {"sv-1": {"Integridad pública": frozenset(attained.certificate_ids)}}


async def test_a_transfer_heard_after_the_certificate_restamps_it_and_publishes_nothing(uow):
    await seated(uow)
    await handlers.state_attendance(uow, CONTEXT, present(), stamp(3))
    moved = ServantTransferred(transfer_id="tr-1", servant_id="sv-1", from_institution_id="inst-1",
                               to_institution_id="inst-2", effective_on=date(2026, 11, 5), sex="female",
                               requested_by="liaison:inst-1:rh", approved_by="liaison:inst-2:rh",
                               approved_at=datetime(2026, 11, 1, tzinfo=UTC))

    assert await handlers.transfer_servant(uow, CONTEXT, moved, stamp(4)) == []
    assert uow.repository.certificates[("s-1", "sv-1")].institution_id == "inst-2"


async def test_a_subscriber_records_what_its_handler_returns(uow):
    from contracts.envelope import seal
    from services.certification.subscribers import subscriptions

    await seated(uow)
    envelope = seal(present(), time=T0 + timedelta(minutes=3))
    await subscriptions(CONTEXT)[AttendanceRecorded.type](uow, envelope)

    assert [type(e) for e in uow.recorded] == [CertificateIssued]

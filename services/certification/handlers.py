"""Application handlers: load what is known, let the domain decide, save it and publish through the outbox.

Every event handler takes ``(db, envelope)`` inside the consumer's transaction. Facts are merged
into their rows with the domain's supersede rules; then each (servant, session) completion the
fact can affect is re-judged, and certificate and competency changes go to the outbox. Rows are read
and written through the transaction's ``Known`` view (``known.py``): one load per session per
transaction instead of several queries per fact, and the PostgreSQL decision lock taken once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlmodel import select

from contracts.envelope import Envelope
from contracts.events import CoursePublished
from probidad.shared.logs import get_logger
from probidad.shared.outbox import Outbox
from services.certification import domain
from services.certification.domain import (
    Attendance,
    CertificateHolding,
    CertificateTerms,
    CompletionFacts,
    CourseTerms,
    Enrolment,
    Grade,
    HeldCertificate,
    SessionPlan,
    Stamp,
    Status,
    Transfer,
)
from services.certification.known import Known, SessionFacts, SessionHint
from services.certification.signing import CertificateSigner, verify_claims
from services.certification.tables import (
    AttendanceFact,
    CertificateRecord,
    CompetencyAttainment,
    CourseFact,
    EnrolmentFact,
    GradeFact,
    SessionFact,
    TransferFact,
)

log = get_logger(__name__)

_PLACEHOLDER = datetime(1970, 1, 1, tzinfo=UTC)  # overwritten before any row is flushed


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _aware(moment: datetime | None) -> datetime | None:
    """Databases without time zones hand back naive UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _stamp(envelope: Envelope, rank: int = 0) -> Stamp:
    return Stamp.of(envelope.time, envelope.id, rank)


def _stored_stamp(at: datetime, rank: int, event_id: str) -> Stamp:
    return Stamp(_aware(at), rank, event_id)


# ------------------------------------------------------------------ rows <-> domain


def _course(row: CourseFact | None) -> CourseTerms | None:
    if row is None:
        return None
    return CourseTerms(row.course_id, row.code, row.title, row.topic, row.hours, row.minimum_attendance_share,
                       row.passing_score, row.competency, _stored_stamp(row.stated_at, 0, row.stated_by))


def _session(row: SessionFact | None) -> SessionPlan | None:
    if row is None:
        return None
    planned = None if row.planned_at is None else _stored_stamp(row.planned_at, row.planned_rank or 0, row.planned_by or "")
    return SessionPlan(row.session_id, row.course_id, _aware(row.starts_at), _aware(row.ends_at), row.timezone,
                       planned, row.cancelled, row.closed)


def _enrolment(row: EnrolmentFact | None) -> Enrolment | None:
    if row is None:
        return None
    return Enrolment(row.enrolment_id, row.session_id, row.servant_id, row.institution_id, row.confirmed, row.cancelled)


def _attendance(row: AttendanceFact | None) -> Attendance | None:
    if row is None:
        return None
    return Attendance(row.share, row.minutes_present, row.session_minutes, row.status,
                      _stored_stamp(row.stated_at, row.stated_rank, row.stated_by))


def _grade(row: GradeFact | None) -> Grade | None:
    return None if row is None else Grade(row.score, _stored_stamp(row.stated_at, 0, row.stated_by))


def _transfer(row: TransferFact | None) -> Transfer | None:
    if row is None:
        return None
    return Transfer(row.transfer_id, row.to_institution_id, row.effective_on,
                    _stored_stamp(row.stated_at, 0, row.stated_by))


def certificate_terms(row: CertificateRecord) -> CertificateTerms:
    return CertificateTerms(
        certificate_id=row.certificate_id, verification_code=row.verification_code, servant_id=row.servant_id,
        session_id=row.session_id, course_id=row.course_id, course_code=row.course_code,
        course_title=row.course_title, course_topic=row.course_topic, hours=row.hours, score=row.score,
        issued_on=row.issued_on, issuing_authority=row.issuing_authority,
    )


def _held(row: CertificateRecord | None) -> HeldCertificate | None:
    if row is None:
        return None
    return HeldCertificate(certificate_terms(row), Status(row.status), row.issue, row.revocation_reason)


# ------------------------------------------------------------------ handlers


@dataclass
class Certification:
    outbox: Outbox
    signer: CertificateSigner
    code_key: bytes
    issuing_authority: str
    competency_model: dict[str, list[str]]
    hint: SessionHint = field(default_factory=SessionHint)

    # Every handler reads and writes through the transaction's ``Known`` view (loaded once per session
    # per transaction) and runs without autoflush: the rows are flushed together at commit.

    async def prepare(self, db, envelopes: list[Envelope]) -> None:  # noqa: ANN001
        """Before a batch's handlers: load every session its records are about, with a few queries."""
        publishes = any(e.type == CoursePublished.type for e in envelopes)
        known = await Known.view(db, self.hint, course_terms_change=publishes)
        await known.preload(getattr(e.event, "session_id", None) or "" for e in envelopes)

    # -------------------------------------------------------------- facts from enrollment

    async def on_course_published(self, db, envelope: Envelope) -> None:  # noqa: ANN001
        known = await Known.of(db, self.hint, course_terms_change=True)
        with db.no_autoflush:
            event = envelope.event
            row = await known.course(event.course_id)
            before = _course(row)
            after = domain.course_published(before, event, _stamp(envelope))
            if after == before:
                return
            if row is None:
                row = CourseFact(course_id=event.course_id, code="", title="", topic="", hours=0,
                                 minimum_attendance_share=0, stated_at=_PLACEHOLDER, stated_by="")
                known.add_course(row)
            row.code, row.title, row.topic, row.competency = after.code, after.title, after.topic, after.competency
            row.hours, row.minimum_attendance_share, row.passing_score = after.hours, after.minimum_attendance_share, after.passing_score
            row.stated_at, row.stated_by = _utc(after.stamp.at), after.stamp.event_id
            for session_id in await known.sessions_of_course(event.course_id):
                await self._reconsider_session(known, await known.session(session_id), envelope)

    async def on_session_scheduled(self, db, envelope: Envelope) -> None:  # noqa: ANN001
        await self._change_session(db, envelope, lambda plan: domain.session_scheduled(plan, envelope.event, _stamp(envelope)))

    async def on_session_rescheduled(self, db, envelope: Envelope) -> None:  # noqa: ANN001
        await self._change_session(db, envelope, lambda plan: domain.session_rescheduled(plan, envelope.event, _stamp(envelope)))

    async def on_session_cancelled(self, db, envelope: Envelope) -> None:  # noqa: ANN001
        await self._change_session(db, envelope, lambda plan: domain.session_cancelled(plan, envelope.event))

    async def on_session_closed(self, db, envelope: Envelope) -> None:  # noqa: ANN001
        await self._change_session(db, envelope, lambda plan: domain.session_closed(plan, envelope.event.session_id))

    async def _change_session(self, db, envelope: Envelope, change) -> None:  # noqa: ANN001
        known = await Known.of(db, self.hint)
        with db.no_autoflush:
            session_id = envelope.event.session_id
            facts = await known.session(session_id)
            row = facts.plan
            before = _session(row)
            after = change(before)
            if after == before:
                return
            row = known.own_plan(facts)
            row.course_id, row.timezone, row.cancelled, row.closed = after.course_id, after.timezone, after.cancelled, after.closed
            row.starts_at = None if after.starts_at is None else _utc(after.starts_at)
            row.ends_at = None if after.ends_at is None else _utc(after.ends_at)
            if after.planned is not None:
                row.planned_at, row.planned_rank, row.planned_by = (_utc(after.planned.at), after.planned.rank,
                                                                    after.planned.event_id)
            if domain.may_change_decisions(before, after):
                await self._reconsider_session(known, facts, envelope)

    async def on_enrolment_confirmed(self, db, envelope: Envelope) -> None:  # noqa: ANN001
        await self._change_enrolment(db, envelope, domain.enrolment_confirmed)

    async def on_enrolment_cancelled(self, db, envelope: Envelope) -> None:  # noqa: ANN001
        await self._change_enrolment(db, envelope, domain.enrolment_cancelled)

    async def _change_enrolment(self, db, envelope: Envelope, change) -> None:  # noqa: ANN001
        known = await Known.of(db, self.hint)
        with db.no_autoflush:
            event = envelope.event
            facts = await known.session(event.session_id)
            row = await known.enrolment(event.enrolment_id)
            before = _enrolment(row)
            after = change(before, event)
            if after == before:
                return
            row = known.own_enrolment(facts, row, enrolment_id=event.enrolment_id, servant_id=event.servant_id)
            row.institution_id, row.confirmed, row.cancelled = after.institution_id, after.confirmed, after.cancelled
            await self.reconsider(known, facts, event.servant_id, envelope)

    async def on_servant_transferred(self, db, envelope: Envelope) -> None:  # noqa: ANN001
        """A transfer moves the stamp of the servant's certificates of sessions starting from its effective day.

        The stamp is not among a certificate's signed terms nor in CertificateIssued: it only says which
        liaison may list the certificate. So a certificate issued before the transfer was heard is
        restamped in place (no new signature, no event), and every order of the same facts stamps alike.
        """
        known = await Known.of(db, self.hint)
        with db.no_autoflush:
            event = envelope.event
            # The servant's lock before the sessions' (see ``Known.servant_transfers``): a transaction
            # about to stamp one of the servant's certificates waits for this one, or is seen by it.
            transfers = await known.servant_transfers(event.servant_id)
            row = transfers.get(event.transfer_id)
            before = _transfer(row)
            after = domain.servant_transferred(before, event, _stamp(envelope))
            if after == before:
                return
            if row is None:
                row = TransferFact(servant_id=event.servant_id, transfer_id=event.transfer_id, to_institution_id="",
                                   effective_on=after.effective_on, stated_at=_PLACEHOLDER, stated_by="")
                known.add_transfer(row)
            row.to_institution_id, row.effective_on = after.to_institution_id, after.effective_on
            row.stated_at, row.stated_by = _utc(after.stamp.at), after.stamp.event_id
            for session_id in await known.sessions_certified(event.servant_id):
                await self.reconsider(known, await known.session(session_id), event.servant_id, envelope,
                                      restamp=True)

    # -------------------------------------------------------------- facts from attendance

    async def on_attendance_recorded(self, db, envelope: Envelope) -> None:  # noqa: ANN001
        await self._state_attendance(db, envelope, domain.RECORD_RANK)

    async def on_attendance_corrected(self, db, envelope: Envelope) -> None:  # noqa: ANN001
        await self._state_attendance(db, envelope, domain.CORRECTION_RANK)

    async def _state_attendance(self, db, envelope: Envelope, rank: int) -> None:  # noqa: ANN001
        known = await Known.of(db, self.hint)
        with db.no_autoflush:
            event = envelope.event
            facts = await known.session(event.session_id)
            row = facts.attendance.get(event.servant_id)
            before = _attendance(row)
            after = domain.attendance_stated(before, event, _stamp(envelope, rank))
            if after == before:
                return
            row = known.own_attendance(facts, event.servant_id, lambda: dict(
                session_id=event.session_id, servant_id=event.servant_id, share=0, minutes_present=0,
                session_minutes=1, status="", stated_at=_PLACEHOLDER, stated_rank=0, stated_by=""))
            row.share, row.minutes_present, row.session_minutes, row.status = (after.share, after.minutes_present,
                                                                               after.session_minutes, after.status)
            row.stated_at, row.stated_rank, row.stated_by = _utc(after.stamp.at), after.stamp.rank, after.stamp.event_id
            await self.reconsider(known, facts, event.servant_id, envelope)

    async def on_assessment_graded(self, db, envelope: Envelope) -> None:  # noqa: ANN001
        known = await Known.of(db, self.hint)
        with db.no_autoflush:
            event = envelope.event
            facts = await known.session(event.session_id)
            row = facts.grades.get(event.servant_id)
            before = _grade(row)
            after = domain.assessment_graded(before, event, _stamp(envelope))
            if after == before:
                return
            row = known.own_grade(facts, event.servant_id, lambda: dict(
                session_id=event.session_id, servant_id=event.servant_id, score=0, stated_at=_PLACEHOLDER,
                stated_by=""))
            row.score, row.stated_at, row.stated_by = after.score, _utc(after.stamp.at), after.stamp.event_id
            await self.reconsider(known, facts, event.servant_id, envelope)

    # -------------------------------------------------------------- decisions

    async def _reconsider_session(self, known: Known, facts: SessionFacts, envelope: Envelope) -> None:
        for servant_id in sorted(facts.servants()):
            await self.reconsider(known, facts, servant_id, envelope)

    async def completion_facts(self, known: Known, facts: SessionFacts, servant_id: str) -> CompletionFacts:
        plan = _session(facts.plan)
        course = _course(await known.course(plan.course_id)) if plan and plan.course_id else None
        enrolments = facts.enrolments.get(servant_id, {}).values()
        return CompletionFacts(
            servant_id=servant_id, session_id=facts.session_id, course=course, session=plan,
            enrolments=tuple(sorted((_enrolment(row) for row in enrolments), key=lambda e: e.enrolment_id)),
            attendance=_attendance(facts.attendance.get(servant_id)),
            grade=_grade(facts.grades.get(servant_id)),
        )

    async def institution_at_start(self, known: Known, completion: CompletionFacts) -> str | None:
        transfers = await known.servant_transfers(completion.servant_id)
        return domain.institution_at_start(completion.session, completion.enrolments,
                                           [_transfer(row) for row in transfers.values()])

    async def reconsider(self, known: Known, facts: SessionFacts, servant_id: str, envelope: Envelope, *,
                         restamp: bool = False) -> None:
        """Re-judge one completion and act on any change to its certificate; ``restamp``: the servant's
        institution at the session's start may have changed (a transfer), even if nothing else did."""
        session_id = facts.session_id
        completion = await self.completion_facts(known, facts, servant_id)
        row = facts.certificates.get(servant_id)
        decision = domain.decide(completion, _held(row), self.code_key, self.issuing_authority)
        if not decision.changed:
            if restamp and row is not None:
                institution = await self.institution_at_start(known, completion)
                if institution is not None and institution != row.institution_id:
                    known.own_certificate(facts, row).institution_id = institution
            return
        held = decision.certificate
        terms = held.terms
        if row is None or row.certificate_id != terms.certificate_id:
            row = known.add_certificate(facts, dict(
                certificate_id=terms.certificate_id, verification_code=terms.verification_code,
                servant_id=servant_id, session_id=session_id, issue=held.issue, course_id="", course_code="",
                course_title="", course_topic="", hours=0, issued_on=terms.issued_on, issuing_authority="",
                status="", signature="", key_id="", changed_at=_PLACEHOLDER))
        else:
            row = known.own_certificate(facts, row)
        row.course_id, row.course_code, row.course_title, row.course_topic = (terms.course_id, terms.course_code,
                                                                              terms.course_title, terms.course_topic)
        row.hours, row.score, row.issued_on, row.issuing_authority = (terms.hours, terms.score, terms.issued_on,
                                                                      terms.issuing_authority)
        row.institution_id = await self.institution_at_start(known, completion) or row.institution_id
        row.status, row.revocation_reason = held.status.value, held.revocation_reason
        row.signature, row.key_id = self.signer.sign_claims(terms.claims()), self.signer.public.key_id
        row.changed_at = _utc(envelope.time)
        db = known.db
        for event in decision.events:
            self.outbox.add(db, event, correlation_id=envelope.correlation_id)
        log.info("certificate decision", certificate_id=terms.certificate_id, status=held.status.value,
                 events=[e.type for e in decision.events], reason=held.revocation_reason)
        if held.status is Status.valid:
            await self._consider_competencies(known, facts, servant_id, envelope)

    async def _consider_competencies(self, known: Known, facts: SessionFacts, servant_id: str,
                                     envelope: Envelope) -> None:
        holdings = await known.servant_holdings(servant_id)  # with the other servants in use, if not loaded
        held = [CertificateHolding(r.certificate_id, r.course_id, r.course_code, r.course_topic, r.issued_on)
                for r in holdings.valid()]
        for event in domain.competencies_attained(servant_id, self.competency_model, held, set(holdings.attained)):
            known.add_attainment(holdings, dict(
                servant_id=servant_id, competency=event.competency, course_ids=json.dumps(event.course_ids),
                certificate_ids=json.dumps(event.certificate_ids), attained_on=event.attained_on))
            self.outbox.add(known.db, event, correlation_id=envelope.correlation_id)
            log.info("competency attained", servant_id=servant_id, competency=event.competency)


# ------------------------------------------------------------------ queries for the HTTP API


@dataclass(frozen=True)
class Verification:
    record: CertificateRecord
    signature_holds: bool

    @property
    def status(self) -> str:
        if not self.signature_holds:
            return "invalid"
        return self.record.status


async def verify_code(db, code: str, signer: CertificateSigner) -> Verification | None:  # noqa: ANN001
    normalised = domain.normalise_code(code)
    if normalised is None:
        return None
    row = (await db.exec(select(CertificateRecord).where(CertificateRecord.verification_code == normalised))).first()
    if row is None:
        return None
    # The stored signature must still match the stored terms, under the key the row names (the current key
    # or a retired one): a row edited behind our back, or naming a key we do not know, shows as invalid.
    public = signer.verification_key(row.key_id)
    holds = public is not None and verify_claims(public, certificate_terms(row).claims(), row.signature)
    return Verification(row, holds)


async def course_rule(db, course_id: str) -> CourseTerms | None:  # noqa: ANN001
    return _course(await db.get(CourseFact, course_id))


async def certificates(db, *, servant_id: str | None = None, session_id: str | None = None,  # noqa: ANN001
                       institution_id: str | None = None) -> list[CertificateRecord]:
    query = select(CertificateRecord)
    if servant_id:
        query = query.where(CertificateRecord.servant_id == servant_id)
    if session_id:
        query = query.where(CertificateRecord.session_id == session_id)
    if institution_id:
        query = query.where(CertificateRecord.institution_id == institution_id)
    return list((await db.exec(query.order_by(CertificateRecord.issued_on, CertificateRecord.certificate_id))).all())


async def competencies(db, servant_id: str) -> list[CompetencyAttainment]:  # noqa: ANN001
    return list((await db.exec(select(CompetencyAttainment).where(
        CompetencyAttainment.servant_id == servant_id).order_by(CompetencyAttainment.competency))).all())

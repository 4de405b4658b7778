"""Application handlers: load what the decision needs, let the domain decide once, save, return the events.

Every handler runs in the unit of work it is given (for the consumer, one per batch of records) and
reads and saves through its one ``CertificationRepository``: one load per session and per servant per
unit of work instead of several queries per fact, the PostgreSQL locks taken before anything is read,
and the rows written together when the unit of work completes. The caller records the returned events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from contracts.base import Event
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
from probidad.shared.logs import get_logger
from probidad.shared.settings import ServiceSettings
from probidad.shared.tables import utcnow
from probidad.shared.unit_of_work import UnitOfWork
from services.certification.domain.certificates import HeldCertificate, RevocationRefused, decide_ruling, ruling
from services.certification.domain.decisions import (
    CertificateChange,
    Consequences,
    Rules,
    SessionState,
    competencies_after_ruling,
    decide_attendance,
    decide_course_published,
    decide_enrolment,
    decide_grade,
    decide_holder,
    decide_session,
    decide_session_closed,
    decide_transfer,
)
from services.certification.domain.facts import CourseTerms, holder_stated, rebinds
from services.certification.repository import CertificationRepository
from services.certification.signing import CertificateSigner

log = get_logger(__name__)


@dataclass(frozen=True)
class CertificationContext:
    """What the handlers and the API need besides the unit of work: the signing key, the rules, and the
    programme's time zone and clock (which decide "today" for a certificate's vigencia)."""

    signer: CertificateSigner
    rules: Rules
    programme_timezone: str = ServiceSettings.model_fields["programme_timezone"].default
    clock: Callable[[], datetime] = utcnow

    def today(self) -> date:
        """The programme's date: a certificate whose ``valid_until`` is before it has expired."""
        return self.clock().astimezone(ZoneInfo(self.programme_timezone)).date()


async def prepare(uow: UnitOfWork, envelopes: list[Envelope]) -> None:
    """Before a batch's handlers: load every session and servant its records name, with a few queries
    (and hold the course terms exclusively if the batch publishes a course)."""
    publishes = any(e.type == CoursePublished.type for e in envelopes)
    repository = await CertificationRepository.of(uow, course_terms_change=publishes, record=False)
    await repository.preload((getattr(e.event, "session_id", None) for e in envelopes),
                             (getattr(e.event, "servant_id", None) for e in envelopes))


def _save(repository: CertificationRepository, ctx: CertificationContext, consequences: Consequences,
          at: datetime) -> list[Event]:
    """Keep the certificates (signed) and competencies a decision changed; its events, to record."""
    for change in consequences.certificates:
        held = change.certificate
        repository.save_certificate(change, signature=ctx.signer.sign_claims(held.terms.claims()),
                                    key_id=ctx.signer.public.key_id, changed_at=at)
        log.info("certificate decision", certificate_id=held.terms.certificate_id, status=held.status.value,
                 events=[e.type for e in change.events], reason=held.revocation_reason)
    for restamp in consequences.restamps:
        repository.restamp(restamp)
    for attained in consequences.attainments:
        repository.save_attainment(attained)
        log.info("competency attained", servant_id=attained.servant_id, competency=attained.competency)
    return consequences.events


# ------------------------------------------------------------------ facts from enrollment


async def publish_course(uow: UnitOfWork, ctx: CertificationContext, event: CoursePublished,
                         stamp: Stamp) -> list[Event]:
    """A (re-)published course re-judges every session of the course."""
    repository = await CertificationRepository.of(uow, course_terms_change=True)
    current = await repository.course(event.course_id)
    sessions = await repository.sessions_of_course(event.course_id)
    servants = await repository.servants(_servants_of(sessions))
    decision = decide_course_published(current, event, stamp, sessions, servants, ctx.rules)
    if decision.fact is None:
        return []
    repository.save_course(decision.fact)
    return _save(repository, ctx, decision.consequences, stamp.at)


async def schedule_session(uow: UnitOfWork, ctx: CertificationContext, event: SessionScheduled,
                           stamp: Stamp) -> list[Event]:
    repository = await CertificationRepository.of(uow)
    state = await repository.session_state(event.session_id)
    course = await repository.course(event.course_id)  # a schedule fixes the session's course
    return await _change_session(repository, ctx, state, event, stamp, course)


async def change_session(uow: UnitOfWork, ctx: CertificationContext, event: SessionRescheduled | SessionCancelled,
                         stamp: Stamp) -> list[Event]:
    repository = await CertificationRepository.of(uow)
    state = await repository.session_state(event.session_id)
    return await _change_session(repository, ctx, state, event, stamp, state.course)


async def _change_session(repository: CertificationRepository, ctx: CertificationContext, state: SessionState,
                          event: SessionScheduled | SessionRescheduled | SessionCancelled,
                          stamp: Stamp, course: CourseTerms | None) -> list[Event]:
    servants = await repository.servants(state.servant_ids)
    decision = decide_session(state, event, stamp, course, servants, ctx.rules)
    if decision.fact is None:
        return []
    repository.save_plan(decision.fact)
    return _save(repository, ctx, decision.consequences, stamp.at)


async def close_session(uow: UnitOfWork, ctx: CertificationContext, event: SessionClosed, stamp: Stamp) -> list[Event]:
    """A close is kept, and decides nothing (so the session's servants are not even loaded)."""
    repository = await CertificationRepository.of(uow)
    decision = decide_session_closed(await repository.plan(event.session_id), event)
    if decision.fact is not None:
        repository.save_plan(decision.fact)
    return decision.events


async def change_enrolment(uow: UnitOfWork, ctx: CertificationContext, event: EnrolmentConfirmed | EnrolmentCancelled,
                           stamp: Stamp) -> list[Event]:
    repository = await CertificationRepository.of(uow)
    completion = await repository.completion(event.session_id, event.servant_id)
    stored = await repository.enrolment(event.enrolment_id)
    servant = await repository.servant(event.servant_id)
    decision = decide_enrolment(completion, stored, event, servant, ctx.rules)
    if decision.fact is None:
        return []
    repository.save_enrolment(decision.fact)
    return _save(repository, ctx, decision.consequences, stamp.at)


async def transfer_servant(uow: UnitOfWork, ctx: CertificationContext, event: ServantTransferred,
                           stamp: Stamp) -> list[Event]:
    """A transfer restamps the servant's certificates of sessions starting from its effective day."""
    repository = await CertificationRepository.of(uow)
    # The servant's lock before the sessions': a transaction about to stamp one of the servant's
    # certificates waits for this one, or is seen by it.
    servant = await repository.servant(event.servant_id)
    certified = await repository.certified_completions(event.servant_id)
    decision = decide_transfer(servant, event, stamp, certified, ctx.rules)
    if decision.fact is None:
        return []
    repository.save_transfer(event.servant_id, decision.fact)
    return _save(repository, ctx, decision.consequences, stamp.at)


async def state_holder(uow: UnitOfWork, ctx: CertificationContext, event: ServantRegistered | ServantUpdated,
                       stamp: Stamp) -> list[Event]:
    """A servant's holder digest: a changed one (a corrected CURP, an erasure) rebinds their certificates."""
    repository = await CertificationRepository.of(uow)
    servant = await repository.servant(event.servant_id)  # its lock before the sessions', as for a transfer
    rebinding = rebinds(servant.holder, holder_stated(servant.holder, event, stamp))
    certified = await repository.certified_completions(event.servant_id) if rebinding else []
    decision = decide_holder(servant, event, stamp, certified, ctx.rules)
    if decision.fact is None:
        return []
    repository.save_holder(event.servant_id, decision.fact)
    return _save(repository, ctx, decision.consequences, stamp.at)


# ------------------------------------------------------------------ facts from attendance


async def state_attendance(uow: UnitOfWork, ctx: CertificationContext, event: AttendanceRecorded | AttendanceCorrected,
                           stamp: Stamp) -> list[Event]:
    """A record or a correction: the latest statement holds (a correction outranks a record)."""
    repository = await CertificationRepository.of(uow)
    completion = await repository.completion(event.session_id, event.servant_id)
    servant = await repository.servant(event.servant_id)
    decision = decide_attendance(completion, event, stamp, servant, ctx.rules)
    if decision.fact is None:
        return []
    repository.save_attendance(event.session_id, event.servant_id, decision.fact)
    return _save(repository, ctx, decision.consequences, stamp.at)


async def grade_assessment(uow: UnitOfWork, ctx: CertificationContext, event: AssessmentGraded,
                           stamp: Stamp) -> list[Event]:
    repository = await CertificationRepository.of(uow)
    completion = await repository.completion(event.session_id, event.servant_id)
    servant = await repository.servant(event.servant_id)
    decision = decide_grade(completion, event, stamp, servant, ctx.rules)
    if decision.fact is None:
        return []
    repository.save_grade(event.session_id, event.servant_id, decision.fact)
    return _save(repository, ctx, decision.consequences, stamp.at)


# ------------------------------------------------------------------ the comptroller's revocation


@dataclass(frozen=True)
class Revoked:
    """A certificate the comptroller revoked, and the events to record."""

    certificate: HeldCertificate
    events: list[Event]


async def revoke_certificate(uow: UnitOfWork, ctx: CertificationContext, certificate: str, *, reason: str,
                             applies: str, effective_on: date | None, ruled_by: str) -> Revoked:
    """Revoke a certificate (by id or verification code) by the comptroller's ruling: void from the start, or
    from a date. ``RevocationRefused`` when it cannot be (unknown, already revoked, bad input)."""
    repository = await CertificationRepository.of(uow)
    found = await repository.certificate_named(certificate)
    if found is None:
        raise RevocationRefused("certificate", f"no certificate {certificate!r}", "not_found")
    # The servant's lock before the session's, as for a transfer; then what is kept about the completion,
    # whose certificate's date (a reschedule may have amended it meanwhile) the ruling is checked against.
    servant = await repository.servant(found.servant_id)
    completion = await repository.completion(found.session_id, found.servant_id)
    standing = completion.certificate
    same = standing is not None and standing.held.terms.certificate_id == found.certificate_id
    asked = ruling(reason=reason, applies=applies, effective_on=effective_on, ruled_by=ruled_by,
                           issued_on=standing.held.terms.issued_on if same else found.issued_on, today=ctx.today())
    decision = decide_ruling(standing, found.certificate_id, asked)
    institution = standing.institution_id
    out = Consequences()
    out.certificates.append(CertificateChange(found.session_id, found.servant_id, decision.certificate,
                                                     institution, tuple(decision.events)))
    out.events.extend(decision.events)
    attained = competencies_after_ruling(servant, found.certificate_id, ctx.rules)
    out.attainments.extend(attained)
    out.events.extend(attained)
    now = ctx.clock()
    return Revoked(decision.certificate, _save(repository, ctx, out, now))


def _servants_of(sessions: Iterable[SessionState]) -> list[str]:
    return sorted({servant_id for state in sessions for servant_id in state.servant_ids})

"""Application handlers, each in three steps: load what the decision reads (one repository call), let the
pure domain decide once, save what it decided (one repository call, which signs the certificates) and
return the events to record.

The repository serves a whole unit of work (for the consumer, one per batch of records): one load per
session and per servant per unit of work instead of several queries per fact, the PostgreSQL locks taken
before anything is read, and the rows written together when the unit of work completes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from contracts.attribution import Stamp
from contracts.base import Event
from contracts.events import (
    AssessmentGraded,
    AttendanceCorrected,
    AttendanceRecorded,
    CoursePublished,
    EnrolmentCancelled,
    EnrolmentConfirmed,
    RevocationApplies,
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
from services.certification.domain.certificates import HeldCertificate, RevocationRefused, ruling
from services.certification.domain.decisions import (
    FactDecision,
    Rules,
    decide_attendance,
    decide_course_published,
    decide_enrolment,
    decide_grade,
    decide_holder,
    decide_revocation,
    decide_session,
    decide_session_closed,
    decide_transfer,
    ruled_on,
)
from services.certification.ports import CertificationRepository
from services.certification.signing import CertificateSigner

log = get_logger(__name__)


@dataclass(frozen=True)
class CertificationContext:
    """What the handlers and the API need besides the repository: the signing key, the rules, and the
    programme's time zone and clock (which decide "today" for a certificate's vigencia)."""

    signer: CertificateSigner
    rules: Rules
    programme_timezone: str = ServiceSettings.model_fields["programme_timezone"].default
    clock: Callable[[], datetime] = utcnow

    def today(self) -> date:
        """The programme's date: a certificate whose ``valid_until`` is before it has expired."""
        return self.clock().astimezone(ZoneInfo(self.programme_timezone)).date()


def _saved(repo: CertificationRepository, ctx: CertificationContext, decision: FactDecision[Any],
           changed_at: datetime) -> list[Event]:
    """Keep what a decision changed (nothing for an older or repeated statement); its events, to record."""
    if decision.fact is None and not decision.events:
        return []
    repo.save(decision, ctx.signer, changed_at)
    for change in decision.consequences.certificates:
        held = change.certificate
        log.info("certificate decision", certificate_id=held.terms.certificate_id, status=held.status.value,
                 events=[e.type for e in change.events], reason=held.revocation_reason)
    for attained in decision.consequences.attainments:
        log.info("competency attained", servant_id=attained.servant_id, competency=attained.competency)
    return decision.events


# ------------------------------------------------------------------ facts from enrollment


async def course_published(repo: CertificationRepository, ctx: CertificationContext, event: CoursePublished,
                           stamp: Stamp) -> list[Event]:
    """A (re-)published course re-judges every session of the course."""
    about = await repo.course_facts(event.course_id)
    decision = decide_course_published(about.current, event, stamp, about.sessions, about.servants, ctx.rules)
    return _saved(repo, ctx, decision, stamp.at)


async def session_scheduled(repo: CertificationRepository, ctx: CertificationContext, event: SessionScheduled,
                            stamp: Stamp) -> list[Event]:
    about = await repo.session_facts(event.session_id, event.course_id)  # a schedule fixes the session's course
    decision = decide_session(about.state, event, stamp, about.course, about.servants, ctx.rules)
    return _saved(repo, ctx, decision, stamp.at)


async def session_rescheduled(repo: CertificationRepository, ctx: CertificationContext, event: SessionRescheduled,
                              stamp: Stamp) -> list[Event]:
    about = await repo.session_facts(event.session_id)
    decision = decide_session(about.state, event, stamp, about.course, about.servants, ctx.rules)
    return _saved(repo, ctx, decision, stamp.at)


async def session_cancelled(repo: CertificationRepository, ctx: CertificationContext, event: SessionCancelled,
                            stamp: Stamp) -> list[Event]:
    about = await repo.session_facts(event.session_id)
    decision = decide_session(about.state, event, stamp, about.course, about.servants, ctx.rules)
    return _saved(repo, ctx, decision, stamp.at)


async def session_closed(repo: CertificationRepository, ctx: CertificationContext, event: SessionClosed,
                         stamp: Stamp) -> list[Event]:
    """A close is kept, and decides nothing (so the session's servants are not even loaded)."""
    decision = decide_session_closed(await repo.plan(event.session_id), event)
    return _saved(repo, ctx, decision, stamp.at)


async def enrolment_confirmed(repo: CertificationRepository, ctx: CertificationContext, event: EnrolmentConfirmed,
                              stamp: Stamp) -> list[Event]:
    about = await repo.completion_context(event.session_id, event.servant_id, event.enrolment_id)
    decision = decide_enrolment(about.completion, about.enrolment, event, about.servant, ctx.rules)
    return _saved(repo, ctx, decision, stamp.at)


async def enrolment_cancelled(repo: CertificationRepository, ctx: CertificationContext, event: EnrolmentCancelled,
                              stamp: Stamp) -> list[Event]:
    about = await repo.completion_context(event.session_id, event.servant_id, event.enrolment_id)
    decision = decide_enrolment(about.completion, about.enrolment, event, about.servant, ctx.rules)
    return _saved(repo, ctx, decision, stamp.at)


async def servant_transferred(repo: CertificationRepository, ctx: CertificationContext, event: ServantTransferred,
                              stamp: Stamp) -> list[Event]:
    """A transfer restamps the servant's certificates of sessions that started once it was in force."""
    about = await repo.servant_facts(event.servant_id)
    decision = decide_transfer(about.servant, event, stamp, about.certified, ctx.rules)
    return _saved(repo, ctx, decision, stamp.at)


async def servant_registered(repo: CertificationRepository, ctx: CertificationContext, event: ServantRegistered,
                             stamp: Stamp) -> list[Event]:
    """A servant's holder digest: a changed one (a corrected CURP, an erasure) rebinds their certificates."""
    about = await repo.servant_facts(event.servant_id)
    decision = decide_holder(about.servant, event, stamp, about.certified, ctx.rules)
    return _saved(repo, ctx, decision, stamp.at)


async def servant_updated(repo: CertificationRepository, ctx: CertificationContext, event: ServantUpdated,
                          stamp: Stamp) -> list[Event]:
    """As ``servant_registered``: only the holder digest matters here."""
    about = await repo.servant_facts(event.servant_id)
    decision = decide_holder(about.servant, event, stamp, about.certified, ctx.rules)
    return _saved(repo, ctx, decision, stamp.at)


# ------------------------------------------------------------------ facts from attendance


async def attendance_recorded(repo: CertificationRepository, ctx: CertificationContext, event: AttendanceRecorded,
                              stamp: Stamp) -> list[Event]:
    """The latest statement of a servant's attendance holds (a correction outranks a record)."""
    about = await repo.completion_context(event.session_id, event.servant_id)
    decision = decide_attendance(about.completion, event, stamp, about.servant, ctx.rules)
    return _saved(repo, ctx, decision, stamp.at)


async def attendance_corrected(repo: CertificationRepository, ctx: CertificationContext, event: AttendanceCorrected,
                               stamp: Stamp) -> list[Event]:
    about = await repo.completion_context(event.session_id, event.servant_id)
    decision = decide_attendance(about.completion, event, stamp, about.servant, ctx.rules)
    return _saved(repo, ctx, decision, stamp.at)


async def assessment_graded(repo: CertificationRepository, ctx: CertificationContext, event: AssessmentGraded,
                            stamp: Stamp) -> list[Event]:
    about = await repo.completion_context(event.session_id, event.servant_id)
    decision = decide_grade(about.completion, event, stamp, about.servant, ctx.rules)
    return _saved(repo, ctx, decision, stamp.at)


# ------------------------------------------------------------------ the comptroller's revocation


@dataclass(frozen=True)
class Revoked:
    """A certificate the comptroller revoked, and the events to record."""

    certificate: HeldCertificate
    events: list[Event]


async def revoke(repo: CertificationRepository, ctx: CertificationContext, certificate: str, *, reason: str,
                 applies: RevocationApplies | str, effective_on: date | None, ruled_by: str,
                 now: datetime) -> Revoked:
    """Revoke a certificate (by id or verification code) by the comptroller's ruling: void from the start, or
    from a date. ``RevocationRefused`` when it cannot be (unknown, already revoked, bad input)."""
    about = await repo.certificate_facts(certificate)
    if about is None:
        raise RevocationRefused("certificate", f"no certificate {certificate!r}", "not_found")
    asked = ruling(reason=reason, applies=applies, effective_on=effective_on, ruled_by=ruled_by,
                   issued_on=ruled_on(about), today=ctx.today())
    decision = decide_revocation(about, asked, ctx.rules)
    events = _saved(repo, ctx, decision, now)
    return Revoked(decision.consequences.certificates[0].certificate, events)

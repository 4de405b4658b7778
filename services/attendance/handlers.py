"""Application handlers: load through the repository, ask the domain, save through the repository, and
return the events the domain recorded. Each takes the repository interface (``ports.AttendanceRepository``),
never storage itself: an event handler is named after its event and takes its ``stamp``; a command
handler is a verb and takes ``now`` where time matters to it.

Each handler runs inside the caller's unit of work (the repository was built from it), so state and events
commit together or not at all; the caller (a route, a subscriber) records the events a handler returns,
once. The training session is called ``session`` throughout. A close or a correction hands the repository
its records with the events publishing them: each record keeps the id of its event, which the repository
asks the unit of work for (``uow.recorded_as``) when it writes them, at completion, after the caller
recorded the events.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from contracts.attribution import Stamp
from contracts.base import Event
from contracts.events import (
    EnrolmentCancelled, EnrolmentConfirmed, ServantRegistered, ServantTransferred, ServantUpdated, SessionCancelled,
    SessionRescheduled, SessionScheduled,
)
from contracts.pseudonyms import email_digest
from probidad.shared.auth import Principal
from probidad.shared.logs import get_logger
from probidad.shared.settings import ServiceSettings
from services.attendance.domain import commands, intervals, sessions
from services.attendance.domain.commands import Correction
from services.attendance.domain.errors import Forbidden, NotFound
from services.attendance.domain.intervals import Decision, Evidence, Roster, epoch
from services.attendance.domain.reports import IgnoredRow, parse_report
from services.attendance.domain.sessions import TrainingSession
from services.attendance.ports import AttendanceRepository
from services.attendance.settings import AttendanceSettings

log = get_logger(__name__)


@dataclass(frozen=True)
class AttendanceContext:
    """What the handlers need besides the unit of work, built once at wiring."""

    check_in_key: str = field(repr=False)
    email_digest_key: str = field(repr=False)
    check_in_opens_s: int = 15 * 60
    late_after_s: int = 15 * 60
    max_report_bytes: int = 50_000_000
    # the programme's zone: a transfer is in force from local midnight of its effective day there
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo(ServiceSettings.model_fields["programme_timezone"].default))

    @classmethod
    def of(cls, settings: AttendanceSettings) -> AttendanceContext:
        return cls(check_in_key=settings.check_in_key.get_secret_value(),
                   email_digest_key=settings.email_digest_key.get_secret_value(),
                   check_in_opens_s=settings.check_in_opens_minutes_before * 60,
                   late_after_s=settings.late_after_minutes * 60, max_report_bytes=settings.max_report_bytes,
                   zone=ZoneInfo(settings.programme_timezone))

    def digest(self, email: str) -> str:
        return email_digest(email, self.email_digest_key)


# ---------------------------------------------------------------- what enrollment tells us (any order)


async def session_scheduled(repo: AttendanceRepository, ctx: AttendanceContext, event: SessionScheduled,
                            stamp: Stamp) -> list[Event]:
    repo.save(sessions.session_scheduled(await repo.training_session(event.session_id), event, stamp))
    return []


async def session_rescheduled(repo: AttendanceRepository, ctx: AttendanceContext, event: SessionRescheduled,
                              stamp: Stamp) -> list[Event]:
    repo.save(sessions.session_rescheduled(await repo.training_session(event.session_id), event, stamp))
    return []


async def session_cancelled(repo: AttendanceRepository, ctx: AttendanceContext, event: SessionCancelled,
                            stamp: Stamp) -> list[Event]:
    repo.save(sessions.session_cancelled(await repo.training_session(event.session_id), event.session_id))
    return []


async def _servant_stated(repo: AttendanceRepository, event: ServantRegistered | ServantUpdated,
                          stamp: Stamp) -> list[Event]:
    repo.save(sessions.servant_stated(await repo.servant(event.servant_id), event, stamp))
    repo.save(sessions.registration_stated(event, stamp))  # kept: where the servant was when a session started
    return []


async def servant_registered(repo: AttendanceRepository, ctx: AttendanceContext, event: ServantRegistered,
                             stamp: Stamp) -> list[Event]:
    return await _servant_stated(repo, event, stamp)


async def servant_updated(repo: AttendanceRepository, ctx: AttendanceContext, event: ServantUpdated,
                          stamp: Stamp) -> list[Event]:
    return await _servant_stated(repo, event, stamp)


async def servant_transferred(repo: AttendanceRepository, ctx: AttendanceContext, event: ServantTransferred,
                              stamp: Stamp) -> list[Event]:
    """From now on the servant is the new institution's in rosters; records a close makes from now on take
    the institution at the session's start; records already made keep theirs."""
    repo.save(sessions.transfer_stated(await repo.transfer(event.servant_id, event.transfer_id), event, stamp))
    repo.save(sessions.servant_transferred(await repo.servant(event.servant_id), event, stamp))
    return []


async def enrolment_confirmed(repo: AttendanceRepository, ctx: AttendanceContext, event: EnrolmentConfirmed,
                              stamp: Stamp) -> list[Event]:
    repo.save(sessions.enrolment_confirmed(await repo.enrolment(event.enrolment_id), event))
    return []


async def enrolment_cancelled(repo: AttendanceRepository, ctx: AttendanceContext, event: EnrolmentCancelled,
                              stamp: Stamp) -> list[Event]:
    repo.save(sessions.enrolment_cancelled(await repo.enrolment(event.enrolment_id), event))
    return []


# ---------------------------------------------------------------- reading state


async def load_session(repo: AttendanceRepository, session_id: str) -> TrainingSession:
    session = await repo.training_session(session_id)
    if session is None or not session.scheduled:
        raise NotFound(None, f"session {session_id} is not known (yet) to attendance")
    return session


def ensure_may_manage(principal: Principal, session: TrainingSession) -> None:
    """Instructors act only on sessions they teach; the comptroller on any."""
    if principal.role == "comptroller":
        return
    if principal.role == "instructor" and session.instructor_id and principal.instructor_id == session.instructor_id:
        return
    raise Forbidden(None, f"session {session.session_id} is not yours to manage")


def ensure_may_read(principal: Principal, session: TrainingSession) -> None:
    if principal.role == "liaison":
        return  # liaisons read the session, but only their institution's servants (filtered by the caller)
    ensure_may_manage(principal, session)


async def decisions(repo: AttendanceRepository, ctx: AttendanceContext, session: TrainingSession,
                    servant_ids: Iterable[str]) -> list[Decision]:
    """Each servant's attendance as the evidence held now decides it (provisional until the close)."""
    window = session.window
    servant_ids = list(servant_ids)
    evidence = await repo.evidence(session.session_id, servant_ids)
    default = await repo.default_source(session.session_id)
    return [intervals.decide(sid, window, evidence.get(sid, Evidence()), late_after_s=ctx.late_after_s,
                          default_source=default) for sid in servant_ids]


async def records_institutions(repo: AttendanceRepository, ctx: AttendanceContext, session: TrainingSession,
                               enrolled: dict[str, str | None]) -> dict[str, str | None]:
    """Servant id -> the institution a record of this session belongs to: the servant's when it started
    (contracts.attribution, as every service counts), whenever the session is closed."""
    if not enrolled:
        return {}
    placements = await repo.placements_of(enrolled)
    return {servant_id: sessions.institution_at_start(session, placements.get(servant_id, ()), now, ctx.zone)
            for servant_id, now in enrolled.items()}


# ---------------------------------------------------------------- corrections after the close


async def _correct(repo: AttendanceRepository, ctx: AttendanceContext, session: TrainingSession,
                   servant_ids: Iterable[str], *, reason: str, by: str) -> commands.Corrections:
    """Re-decide servants of a closed session; AttendanceCorrected where the figures changed."""
    servant_ids = sorted(set(servant_ids))
    published = {r.servant_id: r for r in commands.current_records(await repo.record_history(session.session_id))}
    corrected = commands.decide_corrections(session, await decisions(repo, ctx, session, servant_ids), published,
                                          reason=reason, by=by)
    repo.add_records(corrected.records, corrected.events)  # one AttendanceCorrected per record
    if corrected.corrections:
        log.info("attendance corrected", session_id=session.session_id, servants=len(corrected.corrections), by=by)
    return corrected


# ---------------------------------------------------------------- marking by the instructor


@dataclass
class Marked:
    servant_id: str
    decision: Decision
    corrected: bool
    events: list[Event]  # the correction's, for the caller to record


async def mark(repo: AttendanceRepository, ctx: AttendanceContext, principal: Principal, session_id: str,
               servant_id: str, status: str, minutes_present: int | None, reason: str | None = None) -> Marked:
    session = await load_session(repo, session_id)
    ensure_may_manage(principal, session)
    mark = commands.decide_mark(session, await repo.enrolled_servants(session_id), servant_id, status,
                              minutes_present, reason)
    await repo.add_mark(session_id, servant_id, mark, reason, principal.subject)
    events: list[Event] = []
    if session.closed_at is not None:  # then decide_mark made sure a reason was given
        corrected = await _correct(repo, ctx, session, [servant_id], reason=reason or "", by=principal.subject)
        events = corrected.events
    (decision,) = await decisions(repo, ctx, session, [servant_id])
    return Marked(servant_id, decision, bool(events), events)


# ---------------------------------------------------------------- self check-in


async def check_in(repo: AttendanceRepository, ctx: AttendanceContext, session_id: str, code: str, *,
                   servant_id: str | None, email: str | None, now: datetime) -> commands.CheckIn:
    session = await load_session(repo, session_id)
    moment = epoch(now)
    commands.may_check_in(session, ctx.check_in_key, code, moment, opens_before_s=ctx.check_in_opens_s)
    enrolled = await repo.enrolled_servants(session_id)
    found = None
    if servant_id is None and email:
        found = await repo.servant_with_digest(ctx.digest(email))
    servant_id = commands.who_checks_in(session, enrolled, servant_id, bool(email), found)
    checked = commands.decide_check_in(session, servant_id, await repo.check_in_started(session_id, servant_id), moment)
    if checked.interval is not None:
        repo.add_check_in(session_id, servant_id, *checked.interval)
    return checked


def check_in_code_for(ctx: AttendanceContext, session: TrainingSession) -> str:
    return intervals.check_in_code(ctx.check_in_key, session.session_id)


# ---------------------------------------------------------------- importing platform reports


@dataclass
class ImportSummary:
    report_id: str
    format: str
    rows: int
    matched_rows: int
    servants: dict[str, int]  # servant id -> minutes within the session according to this report
    unmatched: list[intervals.Unmatched]
    ignored: list[IgnoredRow]
    warnings: list[str] = field(default_factory=list)
    corrections: list[Correction] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)  # the corrections', for the caller to record
    seconds: dict[str, int] = field(default_factory=dict)  # servant id -> seconds within the session


def digests_for(emails: Iterable[str], key: str) -> dict[str, str]:
    return {email: email_digest(email, key) for email in set(emails)}


async def import_report(repo: AttendanceRepository, ctx: AttendanceContext, principal: Principal, session_id: str,
                        data: bytes, *, now: datetime, format: str = "auto",  # noqa: A002
                        reason: str | None = None) -> ImportSummary:
    session = await load_session(repo, session_id)
    ensure_may_manage(principal, session)
    commands.require_open_or_reason(session, reason)
    window = session.window
    report = parse_report(data, timezone=window.timezone, session_start=window.starts_at, format=format)
    digests = digests_for((r.email for r in report.rows if r.email), ctx.email_digest_key)
    roster = Roster(await repo.enrolled_servants(session_id), await repo.servants_by_digest(digests.values()))
    matched = commands.decide_report(session, report.rows, roster, digests.__getitem__)
    match = matched.match
    report_id = uuid.uuid4().hex
    await repo.add_report(report_id, session_id, report.format, match, rows=len(report.rows),
                          ignored=len(report.ignored), by=principal.subject, recorded_at=now)
    summary = ImportSummary(report_id, report.format, len(report.rows), match.matched_rows, matched.minutes,
                            match.unmatched, report.ignored, matched.warnings, seconds=matched.seconds)
    if match.unmatched:
        # Names and addresses stay out of logs: lines and reasons are enough to find the rows.
        log.warning("report rows matched no enrolled servant", session_id=session_id, report_id=report_id,
                    unmatched=len(match.unmatched),
                    rows=[{"line": u.line, "reason": u.reason} for u in match.unmatched[:100]])
    log.info("report imported", session_id=session_id, report_id=report_id, format=report.format,
             rows=len(report.rows), matched=match.matched_rows, servants=len(matched.minutes))
    if session.closed_at is not None and match.intervals:
        corrected = await _correct(repo, ctx, session, match.intervals, reason=reason or "", by=principal.subject)
        summary.corrections, summary.events = corrected.corrections, corrected.events
    return summary


# ---------------------------------------------------------------- evaluations


async def grade(repo: AttendanceRepository, ctx: AttendanceContext, principal: Principal, session_id: str,
                grades: list[tuple[str | None, str | None, float]]) -> commands.Grading:
    """Record scores given by servant id or e-mail: (servant_id, email, score). All or nothing. The caller
    records the returned ``events`` (grades of a closed session are published at once)."""
    session = await load_session(repo, session_id)
    ensure_may_manage(principal, session)
    enrolled = await repo.enrolled_servants(session_id)
    digests = digests_for((email for sid, email, _score in grades if email and not sid), ctx.email_digest_key)
    by_digest = await repo.servants_by_digest(digests.values())
    graded = commands.decide_grades(session, enrolled, grades, lambda email: by_digest.get(digests[email]))
    repo.add_grades(session_id, graded.grades, principal.subject)
    return graded


# ---------------------------------------------------------------- closing a session


async def close(repo: AttendanceRepository, ctx: AttendanceContext, principal: Principal, session_id: str, *,
                now: datetime) -> commands.Closing:
    """The close: the caller records the returned ``events`` (AttendanceRecorded per enrolled servant,
    AssessmentGraded where scored, then SessionClosed); each record keeps its AttendanceRecorded's id."""
    # Claim the close first, so that of two concurrent closes exactly one goes on.
    claimed = await repo.claim_close(session_id, now, principal.subject)
    session = await load_session(repo, session_id)
    ensure_may_manage(principal, session)
    commands.may_close(session, claimed=claimed, now=now)
    enrolled = await repo.enrolled_servants(session_id)
    closing = commands.decide_close(session, now, await decisions(repo, ctx, session, sorted(enrolled)),
                                  await records_institutions(repo, ctx, session, enrolled),
                                  await repo.latest_grades(session_id))
    repo.add_records(closing.records, closing.events[:len(closing.records)])  # the i-th event publishes records[i]
    log.info("session closed", session_id=session_id, enrolled=closing.enrolled, present=closing.present,
             graded=closing.graded)
    return closing

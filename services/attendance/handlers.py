"""Application handlers: load state, ask the domain, save state and add outgoing events to the outbox.

Each handler runs inside the caller's unit of work (``db`` is the open transaction), so state and
events commit together or not at all. The training session is called ``session`` throughout; the
database session is ``db``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import insert, select, update

from contracts.envelope import Envelope
from contracts.events import (
    AssessmentGraded, AttendanceCorrected, AttendanceRecorded, EnrolmentCancelled, EnrolmentConfirmed,
    ServantRegistered, ServantTransferred, ServantUpdated, SessionCancelled, SessionClosed, SessionRescheduled,
    SessionScheduled,
)
from contracts.pseudonyms import email_digest
from probidad.shared.auth import Principal
from probidad.shared.consumer import Rejected
from probidad.shared.logs import get_logger
from probidad.shared.outbox import Outbox
from services.attendance import domain
from services.attendance.domain import (
    AttendanceError, Decision, Evidence, Mark, Roster, SessionNotReady, SessionWindow, epoch,
)
from services.attendance.reports import parse_report
from services.attendance.settings import AttendanceSettings
from services.attendance.tables import (
    AttendanceRecord, Enrolment, Grade, PresenceInterval, PresenceMark, ReportImport, Servant, TrainingSession,
    Transfer,
)

log = get_logger(__name__)


class NotFound(LookupError):
    pass


class Forbidden(PermissionError):
    pass


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# ---------------------------------------------------------------- what enrollment tells us (any order)


_ADDED = "attendance_rows_added"


async def _known(db, model: type, key: str):  # noqa: ANN001, ANN202
    """The row with this primary key: one added earlier in this transaction, else the stored one.

    A consumer batch applies hundreds of facts in one transaction. Looking rows up without autoflush,
    and remembering the ones added, lets the new rows go in together at commit instead of one INSERT
    before every lookup."""
    added = db.info.get(_ADDED, {}).get((model, key))
    if added is not None:
        return added
    with db.no_autoflush:
        return await db.get(model, key)


def _add(db, row, key: str) -> None:  # noqa: ANN001
    db.add(row)
    db.info.setdefault(_ADDED, {})[(type(row), key)] = row


async def _session_row(db, session_id: str) -> TrainingSession:  # noqa: ANN001
    row = await _known(db, TrainingSession, session_id)
    if row is None:
        row = TrainingSession(session_id=session_id)
        _add(db, row, session_id)
    return row


def _set_times(row: TrainingSession, starts_at: datetime, ends_at: datetime, zone: str, as_of: datetime) -> None:
    if ends_at <= starts_at:
        raise Rejected(f"session {row.session_id}: ends_at {ends_at.isoformat()} is not after starts_at")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise Rejected(f"session {row.session_id}: unknown IANA time zone {zone!r}") from error
    known = _utc(row.times_as_of)
    if known is not None and as_of < known:
        return  # an older schedule arriving late must not undo a newer one
    row.starts_at, row.ends_at, row.timezone, row.times_as_of = _utc(starts_at), _utc(ends_at), zone, as_of


async def session_scheduled(db, event: SessionScheduled, as_of: datetime) -> None:  # noqa: ANN001
    row = await _session_row(db, event.session_id)
    row.course_id, row.instructor_id = event.course_id, event.instructor_id
    row.modality, row.platform = event.modality, event.platform
    _set_times(row, event.starts_at, event.ends_at, event.timezone, as_of)


async def session_rescheduled(db, event: SessionRescheduled, as_of: datetime) -> None:  # noqa: ANN001
    row = await _session_row(db, event.session_id)
    _set_times(row, event.starts_at, event.ends_at, event.timezone, as_of)


async def session_cancelled(db, event: SessionCancelled) -> None:  # noqa: ANN001
    row = await _session_row(db, event.session_id)
    row.cancelled = True


# The as_of of a servant known only from a transfer: any registration or update brings its digest.
NOT_YET = datetime(1970, 1, 1, tzinfo=UTC)


def _institution_as_of(row: Servant) -> datetime:
    return _utc(row.institution_as_of or row.as_of)


async def servant_known(db, event: ServantRegistered | ServantUpdated, as_of: datetime) -> None:  # noqa: ANN001
    row = await _known(db, Servant, event.servant_id)
    if row is None:
        _add(db, Servant(servant_id=event.servant_id, institution_id=event.institution_id,
                         email_digest=event.email_digest, as_of=as_of, institution_as_of=as_of), event.servant_id)
        return
    if as_of >= _utc(row.as_of):
        row.email_digest, row.as_of = event.email_digest, as_of
    if as_of >= _institution_as_of(row):  # an older fact arriving after a transfer must not move the servant back
        row.institution_id, row.institution_as_of = event.institution_id, as_of


async def servant_transferred(db, event: ServantTransferred, as_of: datetime,  # noqa: ANN001
                              event_id: str = "") -> None:
    """From now on the servant is the new institution's in rosters (ordered by event time with the servant's
    other facts); records a close makes from now on take the institution at the session's start
    (``records_institutions``); records already made keep theirs."""
    await _keep_transfer(db, event, as_of, event_id)
    row = await _known(db, Servant, event.servant_id)
    if row is None:  # heard before the registration, which then brings only the digest
        _add(db, Servant(servant_id=event.servant_id, institution_id=event.to_institution_id, email_digest=None,
                         as_of=NOT_YET, institution_as_of=as_of), event.servant_id)
        return
    if as_of >= _institution_as_of(row):
        row.institution_id, row.institution_as_of = event.to_institution_id, as_of


async def _keep_transfer(db, event: ServantTransferred, as_of: datetime, event_id: str) -> None:  # noqa: ANN001
    key = (event.servant_id, event.transfer_id)
    row = await _known(db, Transfer, key)
    if row is None:
        row = Transfer(servant_id=event.servant_id, transfer_id=event.transfer_id, from_institution_id="",
                       to_institution_id="", effective_on=event.effective_on, stated_at=as_of, stated_by=event_id)
        _add(db, row, key)
    elif (as_of, event_id) < (_utc(row.stated_at), row.stated_by):
        return  # an older statement of the same transfer
    row.from_institution_id, row.to_institution_id = event.from_institution_id, event.to_institution_id
    row.effective_on, row.stated_at, row.stated_by = event.effective_on, as_of, event_id


async def enrolment_confirmed(db, event: EnrolmentConfirmed) -> None:  # noqa: ANN001
    row = await _known(db, Enrolment, event.enrolment_id)
    if row is None:
        row = Enrolment(enrolment_id=event.enrolment_id, session_id=event.session_id, servant_id=event.servant_id)
        _add(db, row, event.enrolment_id)
    row.institution_id = event.institution_id
    row.confirmed = True


async def enrolment_cancelled(db, event: EnrolmentCancelled) -> None:  # noqa: ANN001
    row = await _known(db, Enrolment, event.enrolment_id)
    if row is None:
        _add(db, Enrolment(enrolment_id=event.enrolment_id, session_id=event.session_id,
                           servant_id=event.servant_id, cancelled=True), event.enrolment_id)
        return
    row.cancelled = True


# ---------------------------------------------------------------- reading state


async def load_session(db, session_id: str) -> TrainingSession:  # noqa: ANN001
    row = await db.get(TrainingSession, session_id)
    if row is None or row.starts_at is None:
        raise NotFound(f"session {session_id} is not known (yet) to attendance")
    return row


def window_of(row: TrainingSession) -> SessionWindow:
    return SessionWindow(row.session_id, epoch(row.starts_at), epoch(row.ends_at), row.timezone)


def ensure_may_manage(principal: Principal, row: TrainingSession) -> None:
    """Instructors act only on sessions they teach; the comptroller on any."""
    if principal.role == "comptroller":
        return
    if principal.role == "instructor" and row.instructor_id and principal.instructor_id == row.instructor_id:
        return
    raise Forbidden(f"session {row.session_id} is not yours to manage")


def ensure_may_read(principal: Principal, row: TrainingSession) -> None:
    if principal.role == "liaison":
        return  # liaisons read the session, but only their institution's servants (filtered by the caller)
    ensure_may_manage(principal, row)


async def enrolled_servants(db, session_id: str) -> dict[str, str | None]:  # noqa: ANN001
    """Servant id -> the institution they belong to now, of every confirmed enrolment.

    The servant's institution, not the enrolment's: after a transfer the servant is the new institution's
    to see, and the records the close makes are theirs. The enrolment's stands in while the servant's
    facts have not arrived."""
    rows = await db.execute(select(Enrolment.servant_id, Enrolment.institution_id, Servant.institution_id)
                            .outerjoin(Servant, Servant.servant_id == Enrolment.servant_id).where(
        Enrolment.session_id == session_id, Enrolment.confirmed.is_(True), Enrolment.cancelled.is_(False),
    ).order_by(Enrolment.enrolment_id))
    return {servant_id: current or enrolled_for for servant_id, enrolled_for, current in rows}


async def records_institutions(db, session: TrainingSession,  # noqa: ANN001
                               enrolled: dict[str, str | None]) -> dict[str, str | None]:
    """Servant id -> the institution a record of this session belongs to: the servant's when it started
    (a transfer from its effective day, as reporting counts), whenever the session is closed."""
    if not enrolled:
        return {}
    start_day = _utc(session.starts_at).astimezone(ZoneInfo(session.timezone or "UTC")).date()
    transfers: dict[str, list[domain.TransferView]] = {}
    for row in (await db.execute(select(Transfer).where(Transfer.servant_id.in_(sorted(enrolled))))).scalars():
        transfers.setdefault(row.servant_id, []).append(domain.TransferView(
            row.from_institution_id, row.to_institution_id, row.effective_on, _utc(row.stated_at), row.stated_by))
    return {servant_id: domain.institution_at_start(start_day, transfers.get(servant_id, ()), now)
            for servant_id, now in enrolled.items()}


async def _evidence(db, session_id: str, servant_ids: Iterable[str] | None = None) -> dict[str, Evidence]:  # noqa: ANN001
    wanted = set(servant_ids) if servant_ids is not None else None
    intervals: dict[str, list[tuple[int, int, str]]] = {}
    found = await db.execute(select(PresenceInterval.servant_id, PresenceInterval.started_s, PresenceInterval.ended_s,
                                    PresenceInterval.source).where(PresenceInterval.session_id == session_id))
    for servant_id, start, end, source in found:
        if wanted is None or servant_id in wanted:
            intervals.setdefault(servant_id, []).append((start, end, source))
    marks: dict[str, Mark] = {}
    found = await db.execute(select(PresenceMark).where(PresenceMark.session_id == session_id).order_by(PresenceMark.id))
    for mark in found.scalars():
        if wanted is None or mark.servant_id in wanted:
            marks[mark.servant_id] = Mark(mark.status, mark.minutes_present)
    return {sid: Evidence(tuple(intervals.get(sid, ())), marks.get(sid)) for sid in {*intervals, *marks}}


async def _default_source(db, session_id: str) -> str:  # noqa: ANN001
    """Who vouches for an absence with no evidence: the latest report imported, else check-in, else the instructor."""
    latest = (await db.execute(select(ReportImport.format).where(ReportImport.session_id == session_id)
                               .order_by(ReportImport.imported_at.desc()).limit(1))).scalar()
    if latest:
        return latest
    checked = (await db.execute(select(PresenceInterval.id).where(
        PresenceInterval.session_id == session_id, PresenceInterval.source == "check_in").limit(1))).scalar()
    return "check_in" if checked else "instructor"


async def decisions(db, settings: AttendanceSettings, row: TrainingSession,  # noqa: ANN001
                    servant_ids: Iterable[str]) -> list[Decision]:
    window = window_of(row)
    servant_ids = list(servant_ids)
    evidence = await _evidence(db, row.session_id, servant_ids)
    default = await _default_source(db, row.session_id)
    late = settings.late_after_minutes * 60
    return [domain.decide(sid, window, evidence.get(sid, Evidence()), late_after_s=late, default_source=default)
            for sid in servant_ids]


async def current_records(db, session_id: str | None = None, institution_id: str | None = None,  # noqa: ANN001
                          servant_id: str | None = None) -> list[AttendanceRecord]:
    """The latest record per servant and session (a correction supersedes the recording)."""
    query = select(AttendanceRecord).order_by(AttendanceRecord.id)
    if session_id:
        query = query.where(AttendanceRecord.session_id == session_id)
    if institution_id:
        query = query.where(AttendanceRecord.institution_id == institution_id)
    if servant_id:
        query = query.where(AttendanceRecord.servant_id == servant_id)
    latest: dict[tuple[str, str], AttendanceRecord] = {}
    for record in (await db.execute(query)).scalars():
        latest[(record.session_id, record.servant_id)] = record
    return list(latest.values())


async def record_history(db, session_id: str, institution_id: str | None = None) -> list[AttendanceRecord]:  # noqa: ANN001
    query = select(AttendanceRecord).where(AttendanceRecord.session_id == session_id).order_by(AttendanceRecord.id)
    if institution_id:
        query = query.where(AttendanceRecord.institution_id == institution_id)
    return list((await db.execute(query)).scalars())


# ---------------------------------------------------------------- corrections after the close


@dataclass(frozen=True)
class Correction:
    servant_id: str
    before: tuple[int, str]
    after: tuple[int, str]


async def _correct(db, outbox: Outbox, settings: AttendanceSettings, row: TrainingSession,  # noqa: ANN001
                   servant_ids: Iterable[str], *, reason: str, by: str, correlation_id: str | None) -> list[Correction]:
    """Re-decide servants of a closed session; publish AttendanceCorrected where the figures changed."""
    servant_ids = sorted(set(servant_ids))
    published = {r.servant_id: r for r in await current_records(db, row.session_id)}
    corrections = []
    for decision in await decisions(db, settings, row, servant_ids):
        before = published.get(decision.servant_id)
        if before is None:
            continue  # enrolled after the close: never recorded, so nothing to correct
        if (before.minutes_present, before.status) == decision.figures:
            continue
        envelope = outbox.add(db, AttendanceCorrected(
            session_id=row.session_id, servant_id=decision.servant_id, minutes_present=decision.minutes_present,
            session_minutes=decision.session_minutes, share=decision.share, status=decision.status,
            reason=reason, corrected_by=by), correlation_id=correlation_id)
        db.add(AttendanceRecord(
            session_id=row.session_id, servant_id=decision.servant_id, institution_id=before.institution_id,
            kind="corrected", minutes_present=decision.minutes_present, session_minutes=decision.session_minutes,
            share=decision.share, status=decision.status, source_of_record=decision.source_of_record,
            reason=reason, corrected_by=by, event_id=envelope.id))
        corrections.append(Correction(decision.servant_id, (before.minutes_present, before.status), decision.figures))
    if corrections:
        log.info("attendance corrected", session_id=row.session_id, servants=len(corrections), by=by)
    return corrections


def _require_open_or_reason(row: TrainingSession, reason: str | None) -> None:
    if row.cancelled:
        raise SessionNotReady(f"session_id: session {row.session_id} was cancelled")
    if row.closed_at is not None and not (reason and reason.strip()):
        raise SessionNotReady(f"reason: session {row.session_id} is closed; a change is a correction and needs a reason")


# ---------------------------------------------------------------- marking by the instructor


async def mark_presence(db, outbox: Outbox, settings: AttendanceSettings, principal: Principal,  # noqa: ANN001
                        session_id: str, servant_id: str, status: str, minutes_present: int | None,
                        reason: str | None = None, correlation_id: str | None = None) -> dict:
    row = await load_session(db, session_id)
    ensure_may_manage(principal, row)
    _require_open_or_reason(row, reason)
    enrolled = await enrolled_servants(db, session_id)
    if servant_id not in enrolled:
        raise AttendanceError(f"servant_id: {servant_id} is not enrolled in session {session_id}")
    mark = domain.validate_mark(window_of(row), status, minutes_present)
    db.add(PresenceMark(session_id=session_id, servant_id=servant_id, status=mark.status,
                        minutes_present=mark.minutes_present, reason=reason, marked_by=principal.subject))
    corrections = []
    if row.closed_at is not None:
        await db.flush()
        corrections = await _correct(db, outbox, settings, row, [servant_id], reason=reason, by=principal.subject,
                                     correlation_id=correlation_id)
    (decision,) = await decisions(db, settings, row, [servant_id])
    return {"servant_id": servant_id, "decision": decision, "corrected": bool(corrections)}


# ---------------------------------------------------------------- self check-in


async def check_in(db, settings: AttendanceSettings, session_id: str, code: str, *,  # noqa: ANN001
                   servant_id: str | None, email: str | None, now: datetime) -> dict:
    row = await load_session(db, session_id)
    if row.cancelled:
        raise SessionNotReady(f"session_id: session {session_id} was cancelled")
    if row.closed_at is not None:
        raise SessionNotReady(f"session_id: session {session_id} is closed")
    window = window_of(row)
    moment = epoch(now)
    domain.verify_check_in(settings.check_in_key.get_secret_value(), window, code, moment,
                           opens_before_s=settings.check_in_opens_minutes_before * 60)
    enrolled = await enrolled_servants(db, session_id)
    if servant_id is None and email:
        digest = email_digest(email, settings.email_digest_key.get_secret_value())
        servant_id = (await db.execute(select(Servant.servant_id).where(Servant.email_digest == digest))).scalar()
        if servant_id is None:
            raise AttendanceError("email: no servant is registered with this e-mail")
    if not servant_id:
        raise AttendanceError("servant_id: give your servant id or your e-mail")
    if servant_id not in enrolled:
        raise AttendanceError(f"servant_id: {servant_id} is not enrolled in session {session_id}")
    earlier = (await db.execute(select(PresenceInterval.started_s).where(
        PresenceInterval.session_id == session_id, PresenceInterval.servant_id == servant_id,
        PresenceInterval.source == "check_in"))).scalar()
    if earlier is not None:
        return {"servant_id": servant_id, "checked_in_at": earlier, "already": True}
    # Checking in vouches for presence from now until the end; the instructor can mark otherwise.
    db.add(PresenceInterval(session_id=session_id, servant_id=servant_id, started_s=moment,
                            ended_s=window.ends_at, source="check_in"))
    return {"servant_id": servant_id, "checked_in_at": moment, "already": False}


def check_in_code_for(settings: AttendanceSettings, row: TrainingSession) -> str:
    return domain.check_in_code(settings.check_in_key.get_secret_value(), row.session_id)


# ---------------------------------------------------------------- importing platform reports


@dataclass
class ImportSummary:
    report_id: str
    format: str
    rows: int
    matched_rows: int
    servants: dict[str, int]  # servant id -> minutes within the session according to this report
    unmatched: list[domain.Unmatched]
    ignored: list
    warnings: list[str] = field(default_factory=list)
    corrections: list[Correction] = field(default_factory=list)


def digests_for(emails: Iterable[str], key: str) -> dict[str, str]:
    return {email: email_digest(email, key) for email in set(emails)}


async def _by_digest(db, digests: Iterable[str]) -> dict[str, str]:  # noqa: ANN001
    wanted = list(set(digests))
    found: dict[str, str] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        rows = await db.execute(select(Servant.email_digest, Servant.servant_id).where(Servant.email_digest.in_(chunk)))
        found.update({d: s for d, s in rows})
    return found


async def import_report(db, outbox: Outbox, settings: AttendanceSettings, principal: Principal,  # noqa: ANN001
                        session_id: str, data: bytes, *, format: str = "auto", reason: str | None = None,  # noqa: A002
                        correlation_id: str | None = None) -> ImportSummary:
    row = await load_session(db, session_id)
    ensure_may_manage(principal, row)
    _require_open_or_reason(row, reason)
    window = window_of(row)
    report = parse_report(data, timezone=window.timezone, session_start=window.starts_at, format=format)
    key = settings.email_digest_key.get_secret_value()
    digests = digests_for((r.email for r in report.rows if r.email), key)
    roster = Roster(await enrolled_servants(db, session_id), await _by_digest(db, digests.values()))
    match = domain.match_rows(report.rows, roster, digests.__getitem__)
    report_id = uuid.uuid4().hex
    recorded_at = datetime.now(UTC)
    spans = [{"session_id": session_id, "servant_id": servant_id, "started_s": s, "ended_s": e,
              "source": report.format, "report_id": report_id, "recorded_at": recorded_at}
             for servant_id, merged in match.intervals.items() for s, e in merged]
    if spans:  # one executemany: a 100,000-row report must not become 50,000 ORM objects
        await db.execute(insert(PresenceInterval), spans)
    db.add(ReportImport(
        report_id=report_id, session_id=session_id, format=report.format, rows=len(report.rows),
        matched_rows=match.matched_rows, unmatched_rows=len(match.unmatched), ignored_rows=len(report.ignored),
        unmatched=json.dumps([{"line": u.line, "reason": u.reason, "email_digest": u.email_digest}
                              for u in match.unmatched]),
        imported_by=principal.subject))
    minutes = {sid: domain.covered_seconds(domain.merge_intervals(iv, window.window)) // 60
               for sid, iv in sorted(match.intervals.items())}
    summary = ImportSummary(report_id, report.format, len(report.rows), match.matched_rows, minutes,
                            match.unmatched, report.ignored)
    if report.rows and not any(domain.merge_intervals(((r.joined, r.left) for r in report.rows), window.window)):
        summary.warnings.append("no connection in this report overlaps the session's scheduled time: "
                                "is it the report of another meeting, or was the session rescheduled?")
    if match.unmatched:
        # Names and addresses stay out of logs: lines and reasons are enough to find the rows.
        log.warning("report rows matched no enrolled servant", session_id=session_id, report_id=report_id,
                    unmatched=len(match.unmatched),
                    rows=[{"line": u.line, "reason": u.reason} for u in match.unmatched[:100]])
    log.info("report imported", session_id=session_id, report_id=report_id, format=report.format,
             rows=len(report.rows), matched=match.matched_rows, servants=len(minutes))
    if row.closed_at is not None and match.intervals:
        await db.flush()
        summary.corrections = await _correct(db, outbox, settings, row, match.intervals, reason=reason,
                                             by=principal.subject, correlation_id=correlation_id)
    return summary


# ---------------------------------------------------------------- evaluations


async def grade(db, outbox: Outbox, settings: AttendanceSettings, principal: Principal, session_id: str,  # noqa: ANN001
                grades: list[tuple[str | None, str | None, float]], correlation_id: str | None = None) -> dict:
    """Record scores given by servant id or e-mail: (servant_id, email, score). All or nothing."""
    row = await load_session(db, session_id)
    ensure_may_manage(principal, row)
    if row.cancelled:
        raise SessionNotReady(f"session_id: session {session_id} was cancelled")
    enrolled = await enrolled_servants(db, session_id)
    key = settings.email_digest_key.get_secret_value()
    digests = digests_for((email for sid, email, _score in grades if email and not sid), key)
    by_digest = await _by_digest(db, digests.values())
    resolved: list[tuple[str, float]] = []
    problems = []
    for number, (servant_id, email, score) in enumerate(grades, start=1):
        try:
            score = domain.validate_score(score)
        except AttendanceError as error:
            problems.append(f"grade {number}: {error}")
            continue
        if not servant_id and email:
            servant_id = by_digest.get(digests[email])
            if servant_id is None:
                problems.append(f"grade {number}: no servant has the e-mail given")
                continue
        if not servant_id:
            problems.append(f"grade {number}: give a servant_id or an email")
        elif servant_id not in enrolled:
            problems.append(f"grade {number}: servant {servant_id} is not enrolled in session {session_id}")
        else:
            resolved.append((servant_id, score))
    if problems:
        raise AttendanceError("grades: " + "; ".join(problems[:20]) + (" …" if len(problems) > 20 else ""))
    for servant_id, score in resolved:
        db.add(Grade(session_id=session_id, servant_id=servant_id, score=score, graded_by=principal.subject))
        if row.closed_at is not None:  # after the close a grade is published at once, superseding the earlier one
            outbox.add(db, AssessmentGraded(session_id=session_id, servant_id=servant_id, score=score),
                       correlation_id=correlation_id)
    return {"graded": len(resolved), "published": row.closed_at is not None}


async def latest_grades(db, session_id: str) -> dict[str, float]:  # noqa: ANN001
    found = await db.execute(select(Grade).where(Grade.session_id == session_id).order_by(Grade.id))
    return {g.servant_id: g.score for g in found.scalars()}


# ---------------------------------------------------------------- closing a session


@dataclass
class Closing:
    session_id: str
    closed_at: datetime
    enrolled: int
    present: int
    decisions: list[Decision]
    graded: int


async def close_session(db, outbox: Outbox, settings: AttendanceSettings, principal: Principal,  # noqa: ANN001
                        session_id: str, *, now: datetime, correlation_id: str | None = None) -> Closing:
    # Claim the close first: of two concurrent closes exactly one changes the row (both databases
    # re-check the condition under the row's write lock); the other finds it closed.
    claimed = await db.execute(update(TrainingSession).where(
        TrainingSession.session_id == session_id, TrainingSession.closed_at.is_(None),
        TrainingSession.starts_at.is_not(None)).values(closed_at=now, closed_by=principal.subject))
    row = await load_session(db, session_id)
    ensure_may_manage(principal, row)
    if claimed.rowcount != 1:
        raise SessionNotReady(f"session_id: session {session_id} was already closed at {_utc(row.closed_at).isoformat()}")
    if row.cancelled:
        raise SessionNotReady(f"session_id: session {session_id} was cancelled; there is no attendance to close")
    window = window_of(row)
    if epoch(now) < window.ends_at:
        raise SessionNotReady(f"session_id: session {session_id} has not ended yet (it ends at "
                              f"{_utc(row.ends_at).isoformat()})")
    enrolled = await enrolled_servants(db, session_id)
    institutions = await records_institutions(db, row, enrolled)
    decided = await decisions(db, settings, row, sorted(enrolled))
    records = []
    for decision in decided:
        envelope = outbox.add(db, AttendanceRecorded(
            session_id=session_id, servant_id=decision.servant_id, minutes_present=decision.minutes_present,
            session_minutes=decision.session_minutes, share=decision.share, status=decision.status,
            source_of_record=decision.source_of_record), correlation_id=correlation_id)
        records.append({
            "session_id": session_id, "servant_id": decision.servant_id,
            "institution_id": institutions[decision.servant_id],
            "kind": "recorded", "minutes_present": decision.minutes_present,
            "session_minutes": decision.session_minutes, "share": decision.share, "status": decision.status,
            "source_of_record": decision.source_of_record, "event_id": envelope.id, "recorded_at": now})
    if records:
        await db.execute(insert(AttendanceRecord), records)
    scores = await latest_grades(db, session_id)
    graded = 0
    for servant_id in sorted(enrolled):
        if servant_id in scores:
            outbox.add(db, AssessmentGraded(session_id=session_id, servant_id=servant_id, score=scores[servant_id]),
                       correlation_id=correlation_id)
            graded += 1
    present = sum(1 for d in decided if d.present)
    outbox.add(db, SessionClosed(session_id=session_id, closed_at=now, enrolled=len(enrolled), present=present),
               correlation_id=correlation_id)
    log.info("session closed", session_id=session_id, enrolled=len(enrolled), present=present, graded=graded)
    return Closing(session_id, now, len(enrolled), present, decided, graded)


def envelope_time(envelope: Envelope) -> datetime:
    return _utc(envelope.time)

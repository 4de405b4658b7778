"""Attendance's commands on a session, with no I/O: marks, check-ins, report imports, grades, corrections
and the close, and the published records they make.

Every command decides here, and the events it records (AttendanceRecorded, AssessmentGraded, SessionClosed,
AttendanceCorrected) are built here; the handlers only load, save and hand the events over.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from contracts.base import PLAIN_NUMBER_RULE, Event, has_plain_form
from contracts.events import AssessmentGraded, AttendanceCorrected, AttendanceRecorded, SessionClosed
from services.attendance.domain.errors import AttendanceError, SessionNotReady
from services.attendance.domain.intervals import (
    Decision, Interval, Mark, Match, ReportRow, Roster, covered_seconds, epoch, exact_minutes, match_rows,
    merge_intervals, validate_mark, verify_check_in,
)
from services.attendance.domain.sessions import TrainingSession, utc_of


# ---------------------------------------------------------------- scores


def validate_score(score: float) -> float:
    if not 0.0 <= score <= 100.0:
        raise AttendanceError("score", "must be between 0 and 100")
    if not has_plain_form(score):  # the contract's bound on scores (AssessmentGraded), as certificates sign them
        raise AttendanceError("score", f"{score!r} has no plain decimal form: give {PLAIN_NUMBER_RULE}")
    return float(score)


# ---------------------------------------------------------------- published records


@dataclass(frozen=True)
class Record:
    """One published attendance figure: the 'recorded' one of the close, then one per correction.

    ``institution_id`` is the servant's when the session started; a correction keeps its recording's.
    ``event_id`` names the event that published it (the repository sets it when it writes the record)."""

    session_id: str
    servant_id: str
    institution_id: str | None
    kind: str  # recorded | corrected
    minutes_present: int
    session_minutes: int
    share: float
    status: str
    source_of_record: str
    reason: str | None = None
    corrected_by: str | None = None
    event_id: str = ""
    recorded_at: datetime | None = None
    seconds_present: int | None = None  # None in records made before presence was kept in seconds
    session_seconds: int | None = None

    @property
    def figures(self) -> tuple[int, str]:
        return (self.minutes_present, self.status)

    @property
    def minutes_exact(self) -> float:
        return exact_minutes(self.minutes_present, self.seconds_present)


def unchanged(before: Record, after: Decision) -> bool:
    """Whether re-deciding left a published figure as it was: to the second where both know the seconds
    (a record made before seconds were kept is compared in whole minutes, so re-deciding it alone
    publishes nothing)."""
    if before.status != after.status:
        return False
    if before.seconds_present is None or after.seconds_present is None:
        return before.minutes_present == after.minutes_present
    return before.seconds_present == after.seconds_present


def current_records(history: Iterable[Record]) -> list[Record]:
    """The latest record per servant and session, history given oldest first (a correction supersedes
    the recording); in the order each was first recorded."""
    latest: dict[tuple[str, str], Record] = {}
    for record in history:
        latest[(record.session_id, record.servant_id)] = record
    return list(latest.values())


# ---------------------------------------------------------------- commands on a session


def require_open_or_reason(session: TrainingSession, reason: str | None) -> None:
    if session.cancelled:
        raise SessionNotReady("session_id", f"session {session.session_id} was cancelled")
    if session.closed_at is not None and not (reason and reason.strip()):
        raise SessionNotReady("reason", f"session {session.session_id} is closed; a change is a correction "
                              "and needs a reason")


def require_enrolled(session: TrainingSession, enrolled: Mapping[str, object], servant_id: str) -> None:
    if servant_id not in enrolled:
        raise AttendanceError("servant_id", f"{servant_id} is not enrolled in session {session.session_id}")


def decide_mark(session: TrainingSession, enrolled: Mapping[str, object], servant_id: str, status: str,
                minutes_present: int | None, reason: str | None) -> Mark:
    """An instructor's word on a servant; once the session is closed it is a correction and needs a reason."""
    require_open_or_reason(session, reason)
    require_enrolled(session, enrolled, servant_id)
    return validate_mark(session.window, status, minutes_present)


@dataclass(frozen=True)
class Correction:
    servant_id: str
    before: tuple[int, str]
    after: tuple[int, str]


@dataclass
class Corrections:
    """What re-deciding servants of a closed session changed: the records to keep and the events
    publishing them (one AttendanceCorrected per record, in the same order)."""

    records: list[Record] = field(default_factory=list)
    corrections: list[Correction] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


def decide_corrections(session: TrainingSession, decisions: Iterable[Decision], published: Mapping[str, Record], *,
                       reason: str, by: str) -> Corrections:
    """AttendanceCorrected where the figures of a servant's current record changed."""
    result = Corrections()
    for decision in decisions:
        before = published.get(decision.servant_id)
        if before is None:
            continue  # enrolled after the close: never recorded, so nothing to correct
        if unchanged(before, decision):
            continue
        result.events.append(AttendanceCorrected(
            session_id=session.session_id, servant_id=decision.servant_id, minutes_present=decision.minutes_present,
            session_minutes=decision.session_minutes, share=decision.share, status=decision.status,
            reason=reason, corrected_by=by, seconds_present=decision.seconds_present,
            session_seconds=decision.session_seconds))
        result.records.append(Record(
            session.session_id, decision.servant_id, before.institution_id, "corrected", decision.minutes_present,
            decision.session_minutes, decision.share, decision.status, decision.source_of_record,
            reason=reason, corrected_by=by, seconds_present=decision.seconds_present,
            session_seconds=decision.session_seconds))
        result.corrections.append(Correction(decision.servant_id, before.figures, decision.figures))
    return result


def may_check_in(session: TrainingSession, key: str, code: str, now: int, *, opens_before_s: int) -> None:
    if session.cancelled:
        raise SessionNotReady("session_id", f"session {session.session_id} was cancelled")
    if session.closed_at is not None:
        raise SessionNotReady("session_id", f"session {session.session_id} is closed")
    verify_check_in(key, session.window, code, now, opens_before_s=opens_before_s)


def who_checks_in(session: TrainingSession, enrolled: Mapping[str, object], servant_id: str | None,
                  email_given: bool, found_by_email: str | None) -> str:
    """The servant checking in, by id or else by the e-mail given (``found_by_email``: whose it is)."""
    if servant_id is None and email_given:
        servant_id = found_by_email
        if servant_id is None:
            raise AttendanceError("email", "no servant is registered with this e-mail")
    if not servant_id:
        raise AttendanceError("servant_id", "give your servant id or your e-mail")
    require_enrolled(session, enrolled, servant_id)
    return servant_id


@dataclass(frozen=True)
class CheckIn:
    servant_id: str
    checked_in_at: int
    already: bool
    interval: Interval | None  # the presence it vouches for, when new


def decide_check_in(session: TrainingSession, servant_id: str, earlier: int | None, now: int) -> CheckIn:
    if earlier is not None:
        return CheckIn(servant_id, earlier, True, None)
    # Checking in vouches for presence from now until the end; the instructor can mark otherwise.
    return CheckIn(servant_id, now, False, (now, session.window.ends_at))


@dataclass
class ReportMatch:
    """A platform report sorted against the roster: intervals per servant, minutes within the session."""

    match: Match
    minutes: dict[str, int]  # servant id -> whole minutes within the session according to this report
    warnings: list[str] = field(default_factory=list)
    seconds: dict[str, int] = field(default_factory=dict)  # servant id -> seconds within the session


def decide_report(session: TrainingSession, rows: list[ReportRow], roster: Roster,
                  digest: Callable[[str], str]) -> ReportMatch:
    window = session.window
    match = match_rows(rows, roster, digest)
    seconds = {sid: covered_seconds(merge_intervals(iv, window.window))
               for sid, iv in sorted(match.intervals.items())}
    result = ReportMatch(match, {sid: s // 60 for sid, s in seconds.items()}, seconds=seconds)
    if rows and not any(merge_intervals(((r.joined, r.left) for r in rows), window.window)):
        result.warnings.append("no connection in this report overlaps the session's scheduled time: "
                               "is it the report of another meeting, or was the session rescheduled?")
    return result


@dataclass
class Grading:
    grades: list[tuple[str, float]]  # (servant id, score), in the order given
    events: list[Event]  # after the close a grade is published at once, superseding the earlier one

    @property
    def published(self) -> bool:
        return bool(self.events)


def decide_grades(session: TrainingSession, enrolled: Mapping[str, object],
                  grades: list[tuple[str | None, str | None, float]],
                  servant_of_email: Callable[[str], str | None]) -> Grading:
    """Scores given by servant id or e-mail: (servant_id, email, score). All or nothing."""
    if session.cancelled:
        raise SessionNotReady("session_id", f"session {session.session_id} was cancelled")
    resolved: list[tuple[str, float]] = []
    problems = []
    for number, (servant_id, email, score) in enumerate(grades, start=1):
        try:
            score = validate_score(score)
        except AttendanceError as error:
            problems.append(f"grade {number}: {error}")
            continue
        if not servant_id and email:
            servant_id = servant_of_email(email)
            if servant_id is None:
                problems.append(f"grade {number}: no servant has the e-mail given")
                continue
        if not servant_id:
            problems.append(f"grade {number}: give a servant_id or an email")
        elif servant_id not in enrolled:
            problems.append(f"grade {number}: servant {servant_id} is not enrolled in session {session.session_id}")
        else:
            resolved.append((servant_id, score))
    if problems:
        raise AttendanceError("grades", "; ".join(problems[:20]) + (" …" if len(problems) > 20 else ""))
    events: list[Event] = []
    if session.closed_at is not None:
        events = [AssessmentGraded(session_id=session.session_id, servant_id=s, score=score) for s, score in resolved]
    return Grading(resolved, events)


def may_close(session: TrainingSession, *, claimed: bool, now: datetime) -> None:
    """``claimed``: this close is the one that marked the session closed (of two at once, one is)."""
    if not claimed:
        at = "" if session.closed_at is None else f" at {utc_of(session.closed_at).isoformat()}"
        raise SessionNotReady("session_id", f"session {session.session_id} was already closed{at}")
    if session.cancelled:
        raise SessionNotReady("session_id", f"session {session.session_id} was cancelled; "
                              "there is no attendance to close")
    if epoch(now) < session.window.ends_at:
        raise SessionNotReady("session_id", f"session {session.session_id} has not ended yet (it ends at "
                              f"{session.end.isoformat()})")


@dataclass
class Closing:
    """The close of a session: one record per enrolled servant, and the events it records in order —
    AttendanceRecorded per servant (the i-th publishes ``records[i]``), AssessmentGraded where scored,
    then SessionClosed."""

    session_id: str
    closed_at: datetime
    enrolled: int
    present: int
    decisions: list[Decision]
    graded: int
    records: list[Record]
    events: list[Event]


def decide_close(session: TrainingSession, now: datetime, decisions: list[Decision],
                 institutions: Mapping[str, str | None], scores: Mapping[str, float]) -> Closing:
    """``decisions``: of every enrolled servant, in servant id order; ``institutions``: the institution
    each record belongs to (``institution_at_start``); ``scores``: the latest grade of each graded servant."""
    events: list[Event] = []
    records = []
    for d in decisions:
        events.append(AttendanceRecorded(
            session_id=session.session_id, servant_id=d.servant_id, minutes_present=d.minutes_present,
            session_minutes=d.session_minutes, share=d.share, status=d.status, source_of_record=d.source_of_record,
            seconds_present=d.seconds_present, session_seconds=d.session_seconds))
        records.append(Record(session.session_id, d.servant_id, institutions[d.servant_id], "recorded",
                              d.minutes_present, d.session_minutes, d.share, d.status, d.source_of_record,
                              recorded_at=now, seconds_present=d.seconds_present,
                              session_seconds=d.session_seconds))
    graded = 0
    for d in decisions:
        if d.servant_id in scores:
            events.append(AssessmentGraded(session_id=session.session_id, servant_id=d.servant_id,
                                           score=scores[d.servant_id]))
            graded += 1
    present = sum(1 for d in decisions if d.present)
    events.append(SessionClosed(session_id=session.session_id, closed_at=now, enrolled=len(decisions),
                                present=present))
    return Closing(session.session_id, now, len(decisions), present, decisions, graded, records, events)

"""Attendance rules, with no I/O: presence intervals, check-in codes, matching and the close of a session.

Times of presence are whole seconds since the Unix epoch (UTC). Platform reports give join and
leave times in the meeting's own zone; ``reports`` turns them into epoch seconds with the session's
IANA zone, so everything here is zone-free.

What enrollment tells attendance arrives in any order and sometimes twice: each fact is applied
with the contract's ``supersedes`` (the statement made later holds; at the same instant the larger event id,
so every replica keeps the same one whatever order it heard them in). Every command decides here, and the events
it records (AttendanceRecorded, AssessmentGraded, SessionClosed, AttendanceCorrected) are built
here; the handlers only load, save and hand the events over.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from contracts.attribution import Placement, Stamp, institution_at, supersedes
from contracts.base import PLAIN_NUMBER_RULE, Event, has_plain_form
from contracts.events import (
    AssessmentGraded, AttendanceCorrected, AttendanceRecorded, AttendanceSource, AttendanceStatus,
    EnrolmentCancelled, EnrolmentConfirmed, ServantRegistered, ServantTransferred, ServantUpdated,
    SessionClosed, SessionRescheduled, SessionScheduled,
)
from services.attendance.errors import AttendanceError, SessionNotReady

Interval = tuple[int, int]  # [start, end) in epoch seconds

SOURCES = {s.value for s in AttendanceSource}
STATUSES = {s.value for s in AttendanceStatus}


def epoch(moment: datetime) -> int:
    if moment.tzinfo is None:  # SQLite hands back naive datetimes; we only ever store UTC
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return utc_of(moment)


def utc_of(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# ---------------------------------------------------------------- intervals


def merge_intervals(intervals: Iterable[Interval], window: Interval | None = None) -> list[Interval]:
    """Union of intervals, optionally clipped to ``window``.

    Reconnections leave gaps that stay gaps; overlapping connections (two devices, a report imported
    twice) count once; time before the start or after the end of the window does not count.
    """
    if window is not None:
        low, high = window
        clipped = [(max(s, low), min(e, high)) for s, e in intervals]
    else:
        clipped = list(intervals)
    clipped = sorted(iv for iv in clipped if iv[1] > iv[0])
    merged: list[Interval] = []
    for start, end in clipped:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def covered_seconds(merged: Iterable[Interval]) -> int:
    return sum(end - start for start, end in merged)


def share_of(seconds: int, session_seconds: int) -> float:
    """The share of the session attended, capped at 1 and rounded DOWN to 4 decimals, in integer arithmetic.

    Rounding to nearest would let 0.79996 become 0.8 and complete a servant a second short of an 80 %
    threshold; rounded down, a share reaches any threshold of up to 4 decimals exactly when the seconds do.
    """
    if session_seconds <= 0:
        return 0.0
    return min(10_000, seconds * 10_000 // session_seconds) / 10_000


def tenths_of_minutes(seconds: int) -> float:
    """Seconds as minutes with one decimal, rounded down: 114 min 58 s shows as 114.9, never as 115."""
    return seconds * 10 // 60 / 10


# ---------------------------------------------------------------- the session


@dataclass(frozen=True)
class SessionWindow:
    """When a session runs, as attendance knows it (it may be rescheduled before it is closed)."""

    session_id: str
    starts_at: int
    ends_at: int
    timezone: str

    @property
    def window(self) -> Interval:
        return (self.starts_at, self.ends_at)

    @property
    def minutes(self) -> int:
        return max(1, (self.ends_at - self.starts_at) // 60)

    @property
    def seconds(self) -> int:
        return max(1, self.ends_at - self.starts_at)


# ---------------------------------------------------------------- self check-in


def check_in_code(key: str, session_id: str) -> str:
    """The code shown in the room: derived from the session id, so nothing needs storing or sending.

    Eight characters of an alphabet without look-alikes (no 0/O, 1/I/L): easy to read off a screen,
    and about 10^12 possibilities, so guessing it while the session runs is hopeless.
    """
    digest = hmac.new(key.encode(), f"check-in:{session_id}".encode(), hashlib.sha256).digest()
    alphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
    number = int.from_bytes(digest[:10], "big")
    chars = []
    for _ in range(8):
        number, index = divmod(number, len(alphabet))
        chars.append(alphabet[index])
    return "".join(chars)


def verify_check_in(key: str, window: SessionWindow, code: str, now: int, *, opens_before_s: int) -> None:
    """Raise AttendanceError unless ``code`` is this session's and the session is running at ``now``."""
    expected = check_in_code(key, window.session_id)
    given = code.strip().upper().replace("-", "").replace(" ", "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise AttendanceError("code", "not this session's check-in code")
    if now < window.starts_at - opens_before_s:
        raise SessionNotReady("code", "check-in has not opened yet; it opens shortly before the session starts")
    if now >= window.ends_at:
        raise SessionNotReady("code", "the session has ended; check-in is closed")


# ---------------------------------------------------------------- matching report rows to servants


@dataclass(frozen=True)
class Roster:
    """Who is expected in a session, and how to recognise them without personal data.

    ``enrolled``: servant id -> institution (the servant's now) of every confirmed enrolment;
    ``by_digest``: e-mail digest -> servant id, for every servant attendance knows of.
    """

    enrolled: Mapping[str, str | None]
    by_digest: Mapping[str, str]


@dataclass(frozen=True)
class Unmatched:
    """A report row that could not be attributed to an enrolled servant (never silently dropped)."""

    line: int
    name: str
    email: str | None
    reason: str
    email_digest: str | None = None


@dataclass
class Match:
    """Report rows sorted into servants' intervals and rows that matched nobody."""

    intervals: dict[str, list[Interval]] = field(default_factory=dict)
    unmatched: list[Unmatched] = field(default_factory=list)
    matched_rows: int = 0


def match_rows(rows: Iterable, roster: Roster, digest: Callable[[str], str]) -> Match:  # rows: reports.ReportRow
    """Attribute each row to an enrolled servant by servant id, else by e-mail digest.

    ``digest`` is ``contracts.pseudonyms.email_digest`` with the platform key; it is called once per
    distinct address, so a servant who reconnected twenty times costs one HMAC.
    """
    result = Match()
    digests: dict[str, str] = {}
    enrolled = roster.enrolled
    by_digest = roster.by_digest
    intervals = result.intervals
    for row in rows:
        servant_id = row.servant_id if row.servant_id in enrolled else None
        row_digest = None
        if servant_id is None and row.email:
            row_digest = digests.get(row.email)
            if row_digest is None:
                row_digest = digests[row.email] = digest(row.email)
            known = by_digest.get(row_digest)
            if known is None:
                result.unmatched.append(Unmatched(row.line, row.name, row.email, "no servant has this e-mail", row_digest))
                continue
            if known not in enrolled:
                result.unmatched.append(Unmatched(row.line, row.name, row.email,
                                                  f"servant {known} is not enrolled in this session", row_digest))
                continue
            servant_id = known
        if servant_id is None:
            reason = (f"servant {row.servant_id} is not enrolled in this session" if row.servant_id
                      else "the row has no e-mail or servant id to match")
            result.unmatched.append(Unmatched(row.line, row.name, row.email, reason))
            continue
        result.matched_rows += 1
        found = intervals.get(servant_id)
        if found is None:
            intervals[servant_id] = [(row.joined, row.left)]
        else:
            found.append((row.joined, row.left))
    for servant_id, raw in intervals.items():
        intervals[servant_id] = merge_intervals(raw)
    return result


# ---------------------------------------------------------------- deciding a servant's attendance


@dataclass(frozen=True)
class Mark:
    """An instructor's explicit word on a servant; it outranks any platform report or check-in."""

    status: str
    minutes_present: int | None = None


@dataclass(frozen=True)
class Evidence:
    """Everything attendance holds about one servant in one session."""

    intervals: tuple[tuple[int, int, str], ...] = ()  # (start, end, source) from reports and check-ins
    mark: Mark | None = None


@dataclass(frozen=True)
class Decision:
    """``seconds_present`` and ``session_seconds`` are the measure; the minutes are those in whole minutes
    (rounded down), kept because the published events and older records carry them."""

    servant_id: str
    minutes_present: int
    session_minutes: int
    share: float
    status: str
    source_of_record: str
    seconds_present: int | None = None
    session_seconds: int | None = None

    @property
    def figures(self) -> tuple[int, str]:
        return (self.minutes_present, self.status)

    @property
    def minutes_exact(self) -> float:
        return exact_minutes(self.minutes_present, self.seconds_present)

    @property
    def present(self) -> bool:
        return self.status in (AttendanceStatus.present.value, AttendanceStatus.late.value)


def validate_mark(window: SessionWindow, status: str, minutes_present: int | None) -> Mark:
    if status not in STATUSES:
        raise AttendanceError("status", f"must be one of {', '.join(sorted(STATUSES))}")
    if minutes_present is not None:
        if minutes_present < 0 or minutes_present > window.minutes:
            raise AttendanceError("minutes_present", f"must be between 0 and the session's {window.minutes} minutes")
        if status in ("absent", "excused") and minutes_present:
            raise AttendanceError("minutes_present", f"an {status} servant has 0 minutes present")
        if status in ("present", "late") and minutes_present == 0:
            raise AttendanceError("minutes_present", f"a {status} servant was there for at least a minute")
    return Mark(status, minutes_present)


def decide(servant_id: str, window: SessionWindow, evidence: Evidence, *, late_after_s: int,
           default_source: str = AttendanceSource.instructor.value) -> Decision:
    """How much of the session the servant attended, with which status, on whose authority.

    * Intervals from every source are merged and clipped to the session: seconds present (and, for the
      events' older fields, whole minutes, rounded down); the share is of seconds (``share_of``).
    * No mark: absent with no time; late when the first arrival is after start + ``late_after_s``;
      present otherwise. The source of record is the source that contributed most time.
    * A mark decides the status; its minutes, if given, decide the minutes; otherwise a present or late
      servant keeps the measured minutes (the whole session when nothing was measured).
    """
    session_minutes, session_seconds = window.minutes, window.seconds
    merged = merge_intervals(((s, e) for s, e, _ in evidence.intervals), window.window)
    seconds = min(session_seconds, covered_seconds(merged))
    minutes = min(session_minutes, seconds // 60)
    source = default_source
    if merged:
        contribution: dict[str, int] = {}
        for s, e, origin in evidence.intervals:
            clipped = min(e, window.ends_at) - max(s, window.starts_at)
            if clipped > 0:
                contribution[origin] = contribution.get(origin, 0) + clipped
        source = max(sorted(contribution), key=contribution.__getitem__)
    mark = evidence.mark
    if mark is not None:
        source = AttendanceSource.instructor.value
        status = mark.status
        if mark.minutes_present is not None:  # the instructor's word is in whole minutes
            minutes = mark.minutes_present
            # all the session's whole minutes is the whole session (its odd seconds included)
            seconds = session_seconds if minutes >= session_minutes else minutes * 60
        elif status in ("absent", "excused"):
            minutes, seconds = 0, 0
        elif minutes == 0:
            minutes, seconds = session_minutes, session_seconds
    elif minutes == 0:  # less than a minute is no attendance
        status = AttendanceStatus.absent.value
    elif merged[0][0] > window.starts_at + late_after_s:
        status = AttendanceStatus.late.value
    else:
        status = AttendanceStatus.present.value
    return Decision(servant_id, minutes, session_minutes, share_of(seconds, session_seconds), status, source,
                    seconds, session_seconds)


def validate_score(score: float) -> float:
    if not 0.0 <= score <= 100.0:
        raise AttendanceError("score", "must be between 0 and 100")
    if not has_plain_form(score):  # the contract's bound on scores (AssessmentGraded), as certificates sign them
        raise AttendanceError("score", f"{score!r} has no plain decimal form: give {PLAIN_NUMBER_RULE}")
    return float(score)


# ---------------------------------------------------------------- transfers


@dataclass(frozen=True)
class Transfer:
    """A servant's transfer, as its latest statement (by ce_time, then event id) says."""

    servant_id: str
    transfer_id: str
    from_institution_id: str
    to_institution_id: str
    effective_on: date
    stated_at: datetime
    event_id: str

    @property
    def stamp(self) -> Stamp:
        return Stamp.of(self.stated_at, self.event_id)

    @property
    def placement(self) -> Placement:
        return Placement(self.to_institution_id, self.stamp, self.effective_on, self.from_institution_id)


def transfer_stated(current: Transfer | None, event: ServantTransferred, stamp: Stamp) -> Transfer:
    stated = Transfer(event.servant_id, event.transfer_id, event.from_institution_id, event.to_institution_id,
                      event.effective_on, stamp.at, stamp.event_id)
    return stated if current is None or supersedes(stated.stamp, current.stamp) else current


@dataclass(frozen=True)
class Registration:
    """One registration or update of a servant: where it placed them, from when it was stated."""

    servant_id: str
    event_id: str
    institution_id: str
    stated_at: datetime

    @property
    def placement(self) -> Placement:
        return Placement(self.institution_id, Stamp.of(self.stated_at, self.event_id))


def registration_stated(event: ServantRegistered | ServantUpdated, stamp: Stamp) -> Registration:
    return Registration(event.servant_id, stamp.event_id, event.institution_id, stamp.at)


def institution_at_start(session: TrainingSession, placements: Iterable[Placement], otherwise: str | None,
                         zone: ZoneInfo) -> str | None:
    """The servant's institution when the session started, by the attribution rule every service applies
    (``contracts.attribution.institution_at``: registrations and updates in force from when stated, transfers
    from local midnight of their effective day in the programme's ``zone``). With nothing known of the
    servant's placements, ``otherwise`` (where the servant is now, or the enrolment's institution)."""
    found = institution_at(placements, utc_of(session.starts_at), zone)
    return otherwise if found is None else found



# ---------------------------------------------------------------- what enrollment tells us (any order)


@dataclass(frozen=True)
class TrainingSession:
    """A session as enrollment scheduled it, plus attendance's own fact: when it was closed."""

    session_id: str
    course_id: str | None = None
    instructor_id: str | None = None
    modality: str | None = None
    platform: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    timezone: str | None = None
    times_as_of: datetime | None = None  # ce_time of the fact that set the times
    cancelled: bool = False
    closed_at: datetime | None = None
    closed_by: str | None = None
    times_event_id: str = ""  # the id of that fact: a tie at the same ce_time goes to the larger id

    @property
    def scheduled(self) -> bool:
        return self.starts_at is not None

    @property
    def window(self) -> SessionWindow:
        return SessionWindow(self.session_id, epoch(self.starts_at), epoch(self.ends_at), self.timezone)


def _with_times(session: TrainingSession, starts_at: datetime, ends_at: datetime, zone: str,
                stamp: Stamp) -> TrainingSession:
    if ends_at <= starts_at:
        raise AttendanceError(None, f"session {session.session_id}: ends_at {ends_at.isoformat()} is not after starts_at")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise AttendanceError(None, f"session {session.session_id}: unknown IANA time zone {zone!r}") from error
    held = None if session.times_as_of is None else Stamp.of(session.times_as_of, session.times_event_id)
    if not supersedes(stamp, held):
        return session  # an older schedule arriving late must not undo a newer one
    return replace(session, starts_at=utc(starts_at), ends_at=utc(ends_at), timezone=zone, times_as_of=stamp.at,
                   times_event_id=stamp.event_id)


def session_scheduled(current: TrainingSession | None, event: SessionScheduled, stamp: Stamp) -> TrainingSession:
    session = replace(current or TrainingSession(event.session_id), course_id=event.course_id,
                      instructor_id=event.instructor_id, modality=event.modality, platform=event.platform)
    return _with_times(session, event.starts_at, event.ends_at, event.timezone, stamp)


def session_rescheduled(current: TrainingSession | None, event: SessionRescheduled, stamp: Stamp) -> TrainingSession:
    return _with_times(current or TrainingSession(event.session_id), event.starts_at, event.ends_at,
                       event.timezone, stamp)


def session_cancelled(current: TrainingSession | None, session_id: str) -> TrainingSession:
    return replace(current or TrainingSession(session_id), cancelled=True)  # final, whatever arrives later


# The as_of of a servant known only from a transfer: any registration or update brings its digest.
NOT_YET = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Servant:
    """The servant's institution now (rosters follow it) and e-mail digest, ordered apart: a transfer moves
    the institution but carries no digest, so a registration heard after it still brings the digest
    without bringing back the institution it names."""

    servant_id: str
    institution_id: str
    email_digest: str | None
    as_of: datetime  # ce_time of the registration or update that set the digest
    institution_as_of: datetime  # ce_time of the fact that set the institution
    digest_event_id: str = ""  # the ids of those facts: a tie at the same ce_time goes to the larger id
    institution_event_id: str = ""

    @property
    def digest_stamp(self) -> Stamp:
        return Stamp.of(self.as_of, self.digest_event_id)

    @property
    def institution_stamp(self) -> Stamp:
        return Stamp.of(self.institution_as_of, self.institution_event_id)


def servant_stated(current: Servant | None, event: ServantRegistered | ServantUpdated, stamp: Stamp) -> Servant:
    if current is None:
        return Servant(event.servant_id, event.institution_id, event.email_digest, stamp.at, stamp.at,
                       stamp.event_id, stamp.event_id)
    servant = current
    if supersedes(stamp, servant.digest_stamp):
        servant = replace(servant, email_digest=event.email_digest, as_of=stamp.at, digest_event_id=stamp.event_id)
    if supersedes(stamp, servant.institution_stamp):  # an older fact must not move them back
        servant = replace(servant, institution_id=event.institution_id, institution_as_of=stamp.at,
                          institution_event_id=stamp.event_id)
    return servant


def servant_transferred(current: Servant | None, event: ServantTransferred, stamp: Stamp) -> Servant:
    """From now on the servant is the new institution's in rosters; records keep the institution at the
    session's start (``institution_at_start``)."""
    if current is None:  # heard before the registration, which then brings only the digest
        return Servant(event.servant_id, event.to_institution_id, None, NOT_YET, stamp.at, "", stamp.event_id)
    if supersedes(stamp, current.institution_stamp):
        return replace(current, institution_id=event.to_institution_id, institution_as_of=stamp.at,
                       institution_event_id=stamp.event_id)
    return current


@dataclass(frozen=True)
class Enrolment:
    enrolment_id: str
    session_id: str
    servant_id: str
    # the institution the enrolment was made for; rosters follow the servant's once known
    institution_id: str | None = None
    confirmed: bool = False
    cancelled: bool = False  # final: a cancellation arriving before its confirmation still wins


def enrolment_confirmed(current: Enrolment | None, event: EnrolmentConfirmed) -> Enrolment:
    enrolment = current or Enrolment(event.enrolment_id, event.session_id, event.servant_id)
    return replace(enrolment, institution_id=event.institution_id, confirmed=True)


def enrolment_cancelled(current: Enrolment | None, event: EnrolmentCancelled) -> Enrolment:
    return replace(current or Enrolment(event.enrolment_id, event.session_id, event.servant_id), cancelled=True)


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


def exact_minutes(minutes: int, seconds: int | None) -> float:
    """Minutes present with one decimal (rounded down) where the seconds are known, else the whole minutes."""
    return float(minutes) if seconds is None else tenths_of_minutes(seconds)


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


def default_source(latest_report_format: str | None, checked_in: bool) -> str:
    """Who vouches for an absence with no evidence: the latest report imported, else check-in, else the instructor."""
    if latest_report_format:
        return latest_report_format
    return "check_in" if checked_in else "instructor"


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


def decide_report(session: TrainingSession, rows: list, roster: Roster,  # rows: reports.ReportRow
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
        raise SessionNotReady("session_id", f"session {session.session_id} was already closed at "
                              f"{utc(session.closed_at).isoformat()}")
    if session.cancelled:
        raise SessionNotReady("session_id", f"session {session.session_id} was cancelled; "
                              "there is no attendance to close")
    if epoch(now) < session.window.ends_at:
        raise SessionNotReady("session_id", f"session {session.session_id} has not ended yet (it ends at "
                              f"{utc(session.ends_at).isoformat()})")


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

"""How much of a session a servant attended, with no I/O: presence intervals, check-in codes, matching
report rows to servants, and deciding a servant's status and minutes from the evidence held.

Times of presence are whole seconds since the Unix epoch (UTC). Platform reports give join and
leave times in the meeting's own zone; ``reports`` turns them into epoch seconds with the session's
IANA zone, so everything here is zone-free.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from contracts.events import (
    AttendanceSource, AttendanceStatus,
)
from services.attendance.domain.errors import AttendanceError, SessionNotReady


Interval = tuple[int, int]  # [start, end) in epoch seconds


SOURCES = {s.value for s in AttendanceSource}


STATUSES = {s.value for s in AttendanceStatus}


def epoch(moment: datetime) -> int:
    if moment.tzinfo is None:  # SQLite hands back naive datetimes; we only ever store UTC
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


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


@dataclass(slots=True)
class ReportRow:
    """One connection of one participant: [joined, left) in epoch seconds."""

    line: int
    name: str
    email: str | None
    servant_id: str | None
    joined: int
    left: int


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


def match_rows(rows: Iterable[ReportRow], roster: Roster, digest: Callable[[str], str]) -> Match:
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
                result.unmatched.append(Unmatched(row.line, row.name, row.email, "no servant has this e-mail",
                                                  row_digest))
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


def exact_minutes(minutes: int, seconds: int | None) -> float:
    """Minutes present with one decimal (rounded down) where the seconds are known, else the whole minutes."""
    return float(minutes) if seconds is None else tenths_of_minutes(seconds)


def default_source(latest_report_format: str | None, checked_in: bool) -> str:
    """Who vouches for an absence with no evidence: the latest report imported, else check-in, else the instructor."""
    if latest_report_format:
        return latest_report_format
    return "check_in" if checked_in else "instructor"

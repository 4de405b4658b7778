"""Attendance reports exported by virtual platforms, read into join/leave intervals. No I/O: bytes in, rows out.

Layouts understood (``format``):

* ``zoom`` — the Zoom *participants* report (Reports → Usage → Participants → Export). An optional
  meeting preamble (``Meeting ID,Topic,Start Time,End Time,…`` + one row + a blank line), then
  ``Name (Original Name),User Email,Join Time,Leave Time,Duration (Minutes),Guest[,Recording Consent]
  [,In Waiting Room]``; one row per connection, times like ``11/05/2026 10:02:11 AM``. Rows spent in
  the waiting room are not presence.
* ``teams`` — the Microsoft Teams meeting *attendance report*: UTF-16, tab-separated, in sections
  ``1. Summary`` / ``2. Participants`` (Name, First Join, Last Leave, In-Meeting Duration, Email,
  Participant ID (UPN), Role) / ``3. In-Meeting Activities`` (Name, Join Time, Leave Time, Duration,
  Email, Role), times like ``15/11/22, 09:30:17`` or ``11/15/2022, 9:30:17 AM`` depending on the
  organiser's locale. The per-connection activities are used when present. The older (2020) layout,
  ``Full Name / User Action (Joined, Left) / Timestamp``, is understood too.
* ``meet`` — the Google Meet attendance report: ``First name, Last name, Email, Duration, Time joined,
  Time exited`` (times with or without a date).
* ``csv`` — our own neutral layout: ``servant_id`` and/or ``email``, ``joined_at``, ``left_at``
  (ISO 8601; without an offset the session's zone applies).

Report times are wall-clock times in the meeting's zone: the session's IANA zone turns them into
instants. Whether ``05/11/2026`` is 5 November or 11 May is settled per file: a day above 12
decides it, else the reading nearest the session's date wins.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from services.attendance.domain import AttendanceError

FORMATS = ("zoom", "teams", "meet", "csv")
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


class ReportError(AttendanceError):
    """The file is not a report we can read; the message names the line or column at fault."""


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
class IgnoredRow:
    line: int
    name: str
    reason: str


@dataclass
class ParsedReport:
    format: str
    rows: list[ReportRow] = field(default_factory=list)
    ignored: list[IgnoredRow] = field(default_factory=list)


# ---------------------------------------------------------------- bytes -> text


def decode(data: bytes | str) -> str:
    """Teams writes UTF-16 with a BOM, Zoom UTF-8 with or without one; old exports may be Windows-1252."""
    if isinstance(data, str):
        return data.lstrip("\ufeff")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", errors="replace")
    sample = data[:200]
    if len(sample) >= 4 and sample[1::2].count(0) > len(sample) // 4:
        return data.decode("utf-16-le", errors="replace")
    if len(sample) >= 4 and sample[0::2].count(0) > len(sample) // 4:
        return data.decode("utf-16-be", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def detect_format(text: str) -> str:
    head = text[:6000].lower()
    if ("in-meeting activities" in head or "2. participants" in head or "1. summary" in head
            or ("first join" in head and "last leave" in head) or "user action" in head):
        return "teams"
    if "join time" in head and "leave time" in head:
        # Zoom writes commas; Teams writes tabs (a Teams activities table saved without its section titles)
        header = next((line for line in head.splitlines() if "join time" in line), "")
        return "teams" if "\t" in header else "zoom"
    if "time joined" in head or "time exited" in head:
        return "meet"
    if "servant_id" in head or "joined_at" in head:
        return "csv"
    raise ReportError("format: not a Zoom participants report, Teams attendance report, Google Meet attendance "
                      "report or servant_id/email,joined_at,left_at CSV")


# ---------------------------------------------------------------- wall-clock stamps -> epoch seconds

_STAMP = re.compile(
    r"\s*(?:(\d{1,4})[/.\-](\d{1,2})[/.\-](\d{1,4})(?:,\s*|\s+|T))?"
    r"(\d{1,2}):(\d{2})(?::(\d{2}))?(?:[.,]\d+)?"
    r"\s*(?:([AaPp])\.?\s?[Mm]\.?)?\s*(Z|[+-]\d{2}:?\d{2})?\s*$"
)


class StampReader:
    """Reads a report's timestamps; caches per distinct text, since many rows share a second."""

    def __init__(self, timezone: str, reference: int) -> None:
        self.zone = ZoneInfo(timezone)
        self.reference = reference  # epoch of the session start: settles dates and time-only stamps
        local = datetime.fromtimestamp(reference, self.zone)
        self.reference_date = local.date()
        self._groups: dict[str, tuple] = {}
        self._epochs: dict[str, int] = {}
        self._bases: dict[tuple[int, int, int, int], int] = {}
        self.order: str | None = None  # "ymd", "mdy" or "dmy"

    def scan(self, raw: str, where: str) -> None:
        if raw in self._groups:
            return
        found = _STAMP.match(raw)
        if found is None:
            raise ReportError(f"{where}: {raw!r} is not a date and time")
        self._groups[raw] = found.groups()

    def settle_order(self) -> None:
        """Decide day/month order from every distinct stamp of the file."""
        candidates = {"mdy", "dmy"}
        first = None
        for groups in self._groups.values():
            a, b = groups[0], groups[1]
            if a is None:
                continue
            if len(a) == 4:
                self.order = "ymd"
                return
            first = first or groups
            a_, b_ = int(a), int(b)
            if a_ > 12:
                candidates.discard("mdy")
            if b_ > 12:
                candidates.discard("dmy")
        if not candidates:
            raise ReportError("dates: mix day-first and month-first dates")
        if len(candidates) == 1 or first is None:
            self.order = candidates.pop() if len(candidates) == 1 else "mdy"
            return

        def distance(order: str) -> int:
            try:
                return abs((self._date(first, order) - self.reference_date).days)
            except ValueError:
                return 10**9

        self.order = min(("mdy", "dmy"), key=distance)

    def _date(self, groups: tuple, order: str) -> date:
        a, b, c = int(groups[0]), int(groups[1]), int(groups[2])
        if order == "ymd":
            y, m, d = a, b, c
        elif order == "mdy":
            m, d, y = a, b, c
        else:
            d, m, y = a, b, c
        if y < 100:
            y += 2000
        return date(y, m, d)

    def epoch(self, raw: str, where: str) -> int:
        cached = self._epochs.get(raw)
        if cached is not None:
            return cached
        groups = self._groups.get(raw)
        if groups is None:
            self.scan(raw, where)
            groups = self._groups[raw]
        _, _, _, hh, mm, ss, half, offset = groups
        hour, minute, second = int(hh), int(mm), int(ss or 0)
        if half is not None:
            if not 1 <= hour <= 12:
                raise ReportError(f"{where}: {raw!r} has hour {hour} with AM/PM")
            hour = hour % 12 + (12 if half in "Pp" else 0)
        if hour > 23 or minute > 59 or second > 59:
            raise ReportError(f"{where}: {raw!r} is not a valid time")
        time_only = groups[0] is None
        try:
            day = self.reference_date if time_only else self._date(groups, self.order or "mdy")
        except ValueError as error:
            raise ReportError(f"{where}: {raw!r} is not a valid date") from error
        if offset is not None:
            seconds = (day.toordinal() - _EPOCH_ORDINAL) * 86400 + hour * 3600 + minute * 60 + second
            seconds -= _offset_seconds(offset)
        else:
            seconds = self._local(day, hour) + minute * 60 + second
        if time_only and seconds < self.reference - 12 * 3600:
            seconds += 86400  # a time-only report of a session that crossed midnight
        self._epochs[raw] = seconds
        return seconds

    def _local(self, day: date, hour: int) -> int:
        key = (day.year, day.month, day.day, hour)
        base = self._bases.get(key)
        if base is None:
            offset = datetime(day.year, day.month, day.day, hour, tzinfo=self.zone).utcoffset() or timedelta(0)
            base = (day.toordinal() - _EPOCH_ORDINAL) * 86400 + hour * 3600 - int(offset.total_seconds())
            self._bases[key] = base
        return base


def _offset_seconds(text: str) -> int:
    if text == "Z":
        return 0
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return sign * (int(digits[:2]) * 3600 + int(digits[2:4]) * 60)


# ---------------------------------------------------------------- layouts


def _norm(cell: str) -> str:
    return " ".join(cell.strip().strip('"').lower().split())


def _column(header: list[str], *names: str, prefix: bool = False) -> int | None:
    for i, cell in enumerate(header):
        for name in names:
            if cell == name or (prefix and cell.startswith(name)):
                return i
    return None


def _rows(text: str) -> list[list[str]]:
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = "\t" if "\t" in first or text.count("\t") > text.count(",") else ","
    return list(csv.reader(io.StringIO(text), delimiter=delimiter))


def _cell(row: list[str], index: int | None) -> str:
    if index is None or index >= len(row):
        return ""
    return row[index].strip()


@dataclass
class _Connection:
    line: int
    name: str
    email: str | None
    servant_id: str | None
    joined: str
    left: str


def _finish(fmt: str, connections: list[_Connection], ignored: list[IgnoredRow], timezone: str,
            session_start: int) -> ParsedReport:
    reader = StampReader(timezone, session_start)
    for c in connections:
        reader.scan(c.joined, f"line {c.line}: join time")
        if c.left:
            reader.scan(c.left, f"line {c.line}: leave time")
    reader.settle_order()
    report = ParsedReport(fmt, ignored=ignored)
    rows = report.rows
    for c in connections:
        if not c.left:
            report.ignored.append(IgnoredRow(c.line, c.name, "no leave time (report exported during the meeting?)"))
            continue
        joined = reader.epoch(c.joined, f"line {c.line}: join time")
        left = reader.epoch(c.left, f"line {c.line}: leave time")
        if left < joined:
            raise ReportError(f"line {c.line}: leave time {c.left!r} is before join time {c.joined!r}")
        rows.append(ReportRow(c.line, c.name, c.email, c.servant_id, joined, left))
    return report


def _looks_like_email(text: str) -> str | None:
    return text if "@" in text else None


def _zoom(text: str, timezone: str, session_start: int) -> ParsedReport:
    rows = _rows(text)
    for at, row in enumerate(rows):
        header = [_norm(c) for c in row]
        join = _column(header, "join time")
        leave = _column(header, "leave time")
        if join is not None and leave is not None:
            break
    else:
        raise ReportError("columns: no 'Join Time' and 'Leave Time' header row in this Zoom report")
    name = _column(header, "name (original name)", "name", "participant", prefix=True)
    email = _column(header, "user email", "email", "participant email")
    waiting = _column(header, "in waiting room")
    connections: list[_Connection] = []
    ignored: list[IgnoredRow] = []
    append = connections.append
    for offset, row in enumerate(rows[at + 1:], start=at + 2):
        if not row or not any(row):
            continue
        joined = row[join].strip() if join < len(row) else ""
        if not joined:
            continue
        who = row[name].strip() if name is not None and name < len(row) else ""
        if waiting is not None and _cell(row, waiting).lower() in ("yes", "sí", "si", "true"):
            ignored.append(IgnoredRow(offset, who, "time in the waiting room is not presence"))
            continue
        mail = row[email].strip() if email is not None and email < len(row) else ""
        append(_Connection(offset, who, mail or None, None, joined, row[leave].strip() if leave < len(row) else ""))
    return _finish("zoom", connections, ignored, timezone, session_start)


_SECTION = re.compile(r"^\s*(\d)\.\s*(.+?)\s*$")


def _teams(text: str, timezone: str, session_start: int) -> ParsedReport:
    rows = _rows(text)
    sections: dict[str, list[tuple[int, list[str]]]] = {}
    current = "preamble"
    for number, row in enumerate(rows, start=1):
        cells = [c for c in row if c.strip()]
        if len(cells) == 1 and _SECTION.match(cells[0]):
            current = _SECTION.match(cells[0]).group(2).lower()
            sections[current] = []
            continue
        if cells:
            sections.setdefault(current, []).append((number, row))
    activities = next((v for k, v in sections.items() if "activit" in k), None)
    participants = next((v for k, v in sections.items() if k.startswith("participant")), None)
    if activities:
        return _teams_intervals(activities, "join time", "leave time", timezone, session_start)
    if participants:
        return _teams_intervals(participants, "first join", "last leave", timezone, session_start)
    preamble = sections.get("preamble", [])
    first = [_norm(c) for c in preamble[0][1]] if preamble else []
    if "user action" in first:
        return _teams_actions(preamble, timezone, session_start)
    if "join time" in first and "leave time" in first:
        return _teams_intervals(preamble, "join time", "leave time", timezone, session_start)
    raise ReportError("sections: no '3. In-Meeting Activities' or '2. Participants' section in this Teams report")


def _teams_intervals(section: list[tuple[int, list[str]]], join_name: str, leave_name: str, timezone: str,
                     session_start: int) -> ParsedReport:
    header = [_norm(c) for c in section[0][1]]
    join, leave = _column(header, join_name), _column(header, leave_name)
    if join is None or leave is None:
        raise ReportError(f"columns: the Teams section lacks '{join_name}'/'{leave_name}' columns")
    name = _column(header, "name", "full name")
    email = _column(header, "email")
    upn = _column(header, "participant id (upn)", "upn")
    connections = []
    for number, row in section[1:]:
        joined = _cell(row, join)
        if not joined:
            continue
        mail = _cell(row, email) or _looks_like_email(_cell(row, upn))
        identifier = _cell(row, upn) or None
        connections.append(_Connection(number, _cell(row, name), mail or None, identifier, joined, _cell(row, leave)))
    return _finish("teams", connections, [], timezone, session_start)


def _teams_actions(section: list[tuple[int, list[str]]], timezone: str, session_start: int) -> ParsedReport:
    """2020 layout: one line per join or leave; pair them per person in time order."""
    header = [_norm(c) for c in section[0][1]]
    name, action, stamp = _column(header, "full name", "name"), _column(header, "user action"), _column(header, "timestamp")
    if name is None or action is None or stamp is None:
        raise ReportError("columns: expected 'Full Name', 'User Action' and 'Timestamp'")
    reader = StampReader(timezone, session_start)
    events = []
    for number, row in section[1:]:
        raw = _cell(row, stamp)
        reader.scan(raw, f"line {number}: timestamp")
        events.append((number, _cell(row, name), _cell(row, action).lower(), raw))
    reader.settle_order()
    open_since: dict[str, tuple[int, int]] = {}
    report = ParsedReport("teams")
    timed = sorted((reader.epoch(raw, f"line {n}: timestamp"), n, who, what) for n, who, what, raw in events)
    for moment, number, who, what in timed:
        if what.startswith("join"):
            open_since.setdefault(who, (number, moment))
        elif what.startswith("left") and who in open_since:
            line, since = open_since.pop(who)
            report.rows.append(ReportRow(line, who, None, None, since, moment))
    for who, (line, _) in open_since.items():
        report.ignored.append(IgnoredRow(line, who, "joined but never left in the report"))
    return report


def _meet(text: str, timezone: str, session_start: int) -> ParsedReport:
    rows = _rows(text)
    for at, row in enumerate(rows):
        header = [_norm(c) for c in row]
        join, leave = _column(header, "time joined"), _column(header, "time exited")
        if join is not None and leave is not None:
            break
    else:
        raise ReportError("columns: no 'Time joined' and 'Time exited' header in this Google Meet report")
    first, last = _column(header, "first name"), _column(header, "last name")
    name = _column(header, "name", "participant")
    email = _column(header, "email")
    connections = []
    for number, row in enumerate(rows[at + 1:], start=at + 2):
        joined = _cell(row, join)
        if not joined:
            continue
        who = " ".join(p for p in (_cell(row, first), _cell(row, last)) if p) or _cell(row, name)
        connections.append(_Connection(number, who, _cell(row, email) or None, None, joined, _cell(row, leave)))
    return _finish("meet", connections, [], timezone, session_start)


def _neutral(text: str, timezone: str, session_start: int) -> ParsedReport:
    rows = _rows(text)
    if not rows:
        raise ReportError("file: empty")
    header = [_norm(c) for c in rows[0]]
    servant, email = _column(header, "servant_id"), _column(header, "email")
    join, leave = _column(header, "joined_at"), _column(header, "left_at")
    if join is None or leave is None or (servant is None and email is None):
        raise ReportError("columns: expected servant_id and/or email, joined_at, left_at")
    name = _column(header, "name")
    connections = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        connections.append(_Connection(number, _cell(row, name), _cell(row, email) or None,
                                       _cell(row, servant) or None, _cell(row, join), _cell(row, leave)))
    return _finish("csv", connections, [], timezone, session_start)


_READERS = {"zoom": _zoom, "teams": _teams, "meet": _meet, "csv": _neutral}


def parse_report(data: bytes | str, *, timezone: str, session_start: int, format: str = "auto") -> ParsedReport:  # noqa: A002
    """Read a platform's attendance report into connections; ``format`` 'auto' recognises the layout."""
    text = decode(data)
    if not text.strip():
        raise ReportError("file: the report is empty")
    fmt = detect_format(text) if format == "auto" else format
    if fmt not in _READERS:
        raise ReportError(f"format: must be auto or one of {', '.join(FORMATS)}")
    return _READERS[fmt](text, timezone, session_start)



def parse_grades(data: bytes | str) -> list[tuple[str | None, str | None, float]]:
    """An evaluation sheet: ``servant_id`` and/or ``email``, and ``score`` (0–100) per row."""
    rows = _rows(decode(data))
    if not rows:
        raise ReportError("file: the grades file is empty")
    header = [_norm(c) for c in rows[0]]
    servant, email, score = _column(header, "servant_id"), _column(header, "email"), _column(header, "score")
    if score is None or (servant is None and email is None):
        raise ReportError("columns: expected servant_id and/or email, and score")
    grades = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        raw = _cell(row, score).replace(",", ".")
        try:
            value = float(raw)
        except ValueError as error:
            raise ReportError(f"line {number}: score {raw!r} is not a number") from error
        grades.append((_cell(row, servant) or None, _cell(row, email) or None, value))
    return grades

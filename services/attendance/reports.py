"""Attendance reports exported by virtual platforms, read into join/leave intervals. No I/O: bytes in, rows out.

Layouts understood (``format``), each with the English or the Spanish headers the platform writes when
its interface is in that language:

* ``zoom`` — the Zoom *participants* report (Reports → Usage → Participants → Export). An optional
  meeting preamble (``Meeting ID,Topic,Start Time,End Time,…`` / ``ID de reunión,Tema,Hora de inicio,…``
  + one row + a blank line), then ``Name (Original Name),User Email,Join Time,Leave Time,Duration
  (Minutes),Guest[,Recording Consent][,In Waiting Room]`` / ``Nombre (nombre original),Correo electrónico
  del usuario,Hora de entrada,Hora de salida,Duración (minutos),Invitado[,…][,En la sala de espera]``; one
  row per connection, times like ``11/05/2026 10:02:11 AM`` or ``05/11/2026 10:02:11 a. m.``. Rows spent
  in the waiting room are not presence.
* ``teams`` — the Microsoft Teams meeting *attendance report*: UTF-16, tab-separated, in sections
  ``1. Summary`` / ``2. Participants`` (Name, First Join, Last Leave, In-Meeting Duration, Email,
  Participant ID (UPN), Role) / ``3. In-Meeting Activities`` (Name, Join Time, Leave Time, Duration,
  Email, Role) — in Spanish ``1. Resumen`` / ``2. Participantes`` (Nombre, Primera unión, Última salida,
  Duración en la reunión, Correo electrónico, Id. de participante (UPN), Rol) / ``3. Actividades en la
  reunión`` (Nombre, Hora de unión, Hora de salida, …) — times like ``15/11/22, 09:30:17`` or
  ``11/15/2022, 9:30:17 AM`` depending on the organiser's locale. The per-connection activities are used
  when present. The older (2020) layout, ``Full Name / User Action (Joined, Left) / Timestamp``
  (``Nombre completo / Actividad del usuario (Unido, Se fue) / Marca de tiempo``), is understood too.
* ``meet`` — the Google Meet attendance report: ``First name, Last name, Email, Duration, Time joined,
  Time exited`` (times with or without a date).
* ``csv`` — our own neutral layout: ``servant_id`` and/or ``email``, ``joined_at``, ``left_at``
  (ISO 8601; without an offset the session's zone applies).

Report times are wall-clock times in the meeting's zone: the session's IANA zone turns them into
instants. Whether ``05/11/2026`` is 5 November or 11 May is settled per file: a day above 12 decides
it; else the reading that falls on the session's day; else the language of the headers (Spanish writes
the day first, English the month first); else the reading nearest the session's date.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from services.attendance.errors import ReportError

FORMATS = ("zoom", "teams", "meet", "csv")
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


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


# Columns that only one platform writes: they tell a Zoom table from a Teams activities table.
_ZOOM_ONLY = {"name (original name)", "user email", "duration (minutes)", "guest", "recording consent",
              "in waiting room", "meeting id"}
_TEAMS_ONLY = {"first join", "last leave", "in-meeting duration", "participant id (upn)", "role", "user action"}


def detect_format(text: str) -> str:
    """Recognise the layout from its section titles and header rows, in English or Spanish."""
    try:
        rows, delimiter = _rows(text[:6000]), _delimiter(text[:6000])
    except csv.Error:
        rows, delimiter = [], ","
    for row in rows[:80]:
        cells = [c for c in row if c.strip()]
        if len(cells) == 1 and _section(cells[0]) in _SECTIONS.values():
            return "teams"
        names = set(_header(row)[0])
        if {"first join", "last leave"} <= names or "user action" in names:
            return "teams"
        if "join time" in names and "leave time" in names:
            if names & _ZOOM_ONLY:
                return "zoom"
            if names & _TEAMS_ONLY:
                return "teams"
            # Zoom writes commas; Teams writes tabs (a Teams activities table saved without its section titles)
            return "teams" if delimiter == "\t" else "zoom"
        if "time joined" in names or "time exited" in names:
            return "meet"
        if "servant_id" in names or "joined_at" in names:
            return "csv"
    raise ReportError("format", "not a Zoom participants report ('Join Time'/'Leave Time' or 'Hora de entrada'/"
                      "'Hora de salida' columns), a Teams attendance report ('2. Participants'/'3. In-Meeting "
                      "Activities' or '2. Participantes'/'3. Actividades en la reunión' sections), a Google Meet "
                      "attendance report or a servant_id/email,joined_at,left_at CSV")


# ---------------------------------------------------------------- wall-clock stamps -> epoch seconds

_STAMP = re.compile(
    r"\s*(?:(\d{1,4})[/.\-](\d{1,2})[/.\-](\d{1,4})(?:,\s*|\s+|T))?"
    r"(\d{1,2}):(\d{2})(?::(\d{2}))?(?:[.,]\d+)?"
    r"\s*(?:([AaPp])\.?\s?[Mm]\.?)?\s*(Z|[+-]\d{2}:?\d{2})?\s*$"
)


class StampReader:
    """Reads a report's timestamps; caches per distinct text, since many rows share a second."""

    def __init__(self, timezone: str, reference: int, *, day_first: bool | None = None) -> None:
        self.zone = ZoneInfo(timezone)
        self.reference = reference  # epoch of the session start: settles dates and time-only stamps
        self.day_first = day_first  # what the headers' language says (Spanish: True, English: False), if known
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
            raise ReportError(None, f"{where}: {raw!r} is not a date and time")
        self._groups[raw] = found.groups()

    def settle_order(self) -> None:
        """Decide day/month order from every distinct stamp of the file, then the session's day, then the language."""
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
            if int(a) > 12:
                candidates.discard("mdy")
            if int(b) > 12:
                candidates.discard("dmy")
        if not candidates:
            raise ReportError("dates", "mix day-first and month-first dates")
        if len(candidates) == 1:
            self.order = candidates.pop()
            return
        by_language = None if self.day_first is None else ("dmy" if self.day_first else "mdy")
        if first is None:
            self.order = by_language or "mdy"
            return

        def distance(order: str) -> int:
            try:
                return abs((self._date(first, order) - self.reference_date).days)
            except ValueError:
                return 10**9

        # A report belongs to its session: a reading on the session's day (or the next, past midnight) wins
        # over the language, since a platform's date format follows its account settings, not always its language.
        on_the_day = [order for order in ("mdy", "dmy") if distance(order) <= 1]
        if len(on_the_day) == 1:
            self.order = on_the_day[0]
        else:
            self.order = by_language or min(("mdy", "dmy"), key=distance)

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
                raise ReportError(None, f"{where}: {raw!r} has hour {hour} with AM/PM")
            hour = hour % 12 + (12 if half in "Pp" else 0)
        if hour > 23 or minute > 59 or second > 59:
            raise ReportError(None, f"{where}: {raw!r} is not a valid time")
        time_only = groups[0] is None
        try:
            day = self.reference_date if time_only else self._date(groups, self.order or "mdy")
        except ValueError as error:
            raise ReportError(None, f"{where}: {raw!r} is not a valid date") from error
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
    """Lower case, single spaces, no accents: 'Duración' and a re-typed 'Duracion' are one header."""
    text = unicodedata.normalize("NFKD", cell.strip().strip('"').strip().lower())
    return " ".join("".join(ch for ch in text if not unicodedata.combining(ch)).split())


# The Spanish headers Zoom and Teams write (accents folded by _norm), as the English names the readers use.
_SPANISH = {
    # Zoom: meeting block and participants table
    "id de reunion": "meeting id", "id. de reunion": "meeting id", "tema": "topic",
    "hora de inicio": "start time", "hora de finalizacion": "end time", "participantes": "participants",
    "nombre (nombre original)": "name (original name)", "correo electronico del usuario": "user email",
    "correo del usuario": "user email", "hora de entrada": "join time", "hora de ingreso": "join time",
    "hora de salida": "leave time", "duracion (minutos)": "duration (minutes)", "invitado": "guest",
    "consentimiento de grabacion": "recording consent", "en la sala de espera": "in waiting room",
    # Teams: participants and in-meeting activities sections
    "nombre": "name", "primera union": "first join", "primera entrada": "first join",
    "ultima salida": "last leave", "duracion en la reunion": "in-meeting duration", "duracion": "duration",
    "correo electronico": "email", "id. de participante (upn)": "participant id (upn)",
    "id de participante (upn)": "participant id (upn)", "rol": "role", "hora de union": "join time",
    # Teams 2020 layout
    "nombre completo": "full name", "actividad del usuario": "user action", "marca de tiempo": "timestamp",
}
_ENGLISH = set(_SPANISH.values()) | {"participant", "participant email", "time joined", "time exited"}

# Teams section titles ("2. Participantes"), as the English ones.
_SPANISH_SECTIONS = {"resumen": "summary", "participantes": "participants",
                     "actividades en la reunion": "in-meeting activities"}
_SECTIONS = {**{title: title for title in _SPANISH_SECTIONS.values()}, **_SPANISH_SECTIONS}


def _header(row: list[str]) -> tuple[list[str], bool | None]:
    """A header row in the readers' English names, and whether it was Spanish (None: cannot tell)."""
    names, spanish, english = [], 0, 0
    for cell in row:
        name = _norm(cell)
        if name in _SPANISH:
            spanish += 1
            name = _SPANISH[name]
        elif name in _ENGLISH:
            english += 1
        names.append(name)
    return names, (None if spanish == english else spanish > english)


_SECTION = re.compile(r"^\s*(\d)\.\s*(.+?)\s*$")


def _section(cell: str) -> str | None:
    """The English name of a Teams section title ("3. Actividades en la reunión" -> "in-meeting activities"),
    an unknown title as written (folded); None for a cell that is no section title."""
    found = _SECTION.match(cell)
    if found is None:
        return None
    title = _norm(found.group(2))
    if title in _SECTIONS:
        return _SECTIONS[title]
    # Teams has reworded its titles over the years ("In-Meeting Activity", "Actividades durante la reunión")
    if "activ" in title:
        return "in-meeting activities"
    return "participants" if title.startswith("participant") else title


def _column(header: list[str], *names: str, prefix: bool = False) -> int | None:
    for i, cell in enumerate(header):
        for name in names:
            if cell == name or (prefix and cell.startswith(name)):
                return i
    return None


def _delimiter(text: str) -> str:
    first = next((line for line in text.splitlines() if line.strip()), "")
    return "\t" if "\t" in first or text.count("\t") > text.count(",") else ","


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text), delimiter=_delimiter(text)))


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
            session_start: int, day_first: bool | None = None) -> ParsedReport:
    reader = StampReader(timezone, session_start, day_first=day_first)
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
            raise ReportError(None, f"line {c.line}: leave time {c.left!r} is before join time {c.joined!r}")
        rows.append(ReportRow(c.line, c.name, c.email, c.servant_id, joined, left))
    return report


def _looks_like_email(text: str) -> str | None:
    return text if "@" in text else None


_YES = ("yes", "si", "true")


def _zoom(text: str, timezone: str, session_start: int) -> ParsedReport:
    rows = _rows(text)
    for at, row in enumerate(rows):
        header, spanish = _header(row)
        join = _column(header, "join time")
        leave = _column(header, "leave time")
        if join is not None and leave is not None:
            break
    else:
        raise ReportError("columns", "no 'Join Time' and 'Leave Time' (or 'Hora de entrada' and 'Hora de salida') "
                          "header row in this Zoom report")
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
        if waiting is not None and _norm(_cell(row, waiting)) in _YES:
            ignored.append(IgnoredRow(offset, who, "time in the waiting room is not presence"))
            continue
        mail = row[email].strip() if email is not None and email < len(row) else ""
        append(_Connection(offset, who, mail or None, None, joined, row[leave].strip() if leave < len(row) else ""))
    return _finish("zoom", connections, ignored, timezone, session_start, spanish)


def _teams(text: str, timezone: str, session_start: int) -> ParsedReport:
    rows = _rows(text)
    sections: dict[str, list[tuple[int, list[str]]]] = {}
    current = "preamble"
    titles: list[str] = []  # as written: their language settles the dates when the headers cannot
    for number, row in enumerate(rows, start=1):
        cells = [c for c in row if c.strip()]
        title = _section(cells[0]) if len(cells) == 1 else None
        if title is not None:
            current = title
            titles.append(cells[0])
            sections[current] = []
            continue
        if cells:
            sections.setdefault(current, []).append((number, row))
    written = [_norm(_SECTION.match(t).group(2)) for t in titles]
    in_spanish, in_english = (sum(t in _SPANISH_SECTIONS for t in written),
                              sum(t in _SECTIONS and t not in _SPANISH_SECTIONS for t in written))
    spanish = None if in_spanish == in_english else in_spanish > in_english
    activities, participants = sections.get("in-meeting activities"), sections.get("participants")
    if activities:
        return _teams_intervals(activities, "join time", "leave time", timezone, session_start, spanish)
    if participants:
        return _teams_intervals(participants, "first join", "last leave", timezone, session_start, spanish)
    preamble = sections.get("preamble", [])
    first = _header(preamble[0][1])[0] if preamble else []
    if "user action" in first:
        return _teams_actions(preamble, timezone, session_start)
    if "join time" in first and "leave time" in first:
        return _teams_intervals(preamble, "join time", "leave time", timezone, session_start, spanish)
    raise ReportError("sections", "no '3. In-Meeting Activities' or '2. Participants' (or '3. Actividades en la "
                      "reunión' or '2. Participantes') section in this Teams report")


def _teams_intervals(section: list[tuple[int, list[str]]], join_name: str, leave_name: str, timezone: str,
                     session_start: int, spanish: bool | None = None) -> ParsedReport:
    header, spanish_header = _header(section[0][1])
    join, leave = _column(header, join_name), _column(header, leave_name)
    if join is None or leave is None:
        raise ReportError("columns", f"the Teams section lacks '{join_name}'/'{leave_name}' columns")
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
    language = spanish_header if spanish_header is not None else spanish
    return _finish("teams", connections, [], timezone, session_start, language)


# The 2020 layout's actions, in English and Spanish (including Teams' own "Izquierda" for "Left").
_JOINED = ("join", "unido", "unida", "se unio", "entro")
_LEFT = ("left", "se fue", "salio", "izquierd", "abandono")


def _teams_actions(section: list[tuple[int, list[str]]], timezone: str, session_start: int) -> ParsedReport:
    """2020 layout: one line per join or leave; pair them per person in time order."""
    header, spanish = _header(section[0][1])
    name, action, stamp = _column(header, "full name", "name"), _column(header, "user action"), _column(header, "timestamp")
    if name is None or action is None or stamp is None:
        raise ReportError("columns", "expected 'Full Name', 'User Action' and 'Timestamp' (or 'Nombre completo', "
                          "'Actividad del usuario' and 'Marca de tiempo')")
    reader = StampReader(timezone, session_start, day_first=spanish)
    events = []
    for number, row in section[1:]:
        raw = _cell(row, stamp)
        reader.scan(raw, f"line {number}: timestamp")
        events.append((number, _cell(row, name), _norm(_cell(row, action)), raw))
    reader.settle_order()
    open_since: dict[str, tuple[int, int]] = {}
    report = ParsedReport("teams")
    timed = sorted((reader.epoch(raw, f"line {n}: timestamp"), n, who, what) for n, who, what, raw in events)
    for moment, number, who, what in timed:
        if what.startswith(_JOINED):
            open_since.setdefault(who, (number, moment))
        elif what.startswith(_LEFT) and who in open_since:
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
        raise ReportError("columns", "no 'Time joined' and 'Time exited' header in this Google Meet report")
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
        raise ReportError("file", "empty")
    header = [_norm(c) for c in rows[0]]
    servant, email = _column(header, "servant_id"), _column(header, "email")
    join, leave = _column(header, "joined_at"), _column(header, "left_at")
    if join is None or leave is None or (servant is None and email is None):
        raise ReportError("columns", "expected servant_id and/or email, joined_at, left_at")
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
        raise ReportError("file", "the report is empty")
    fmt = detect_format(text) if format == "auto" else format
    if fmt not in _READERS:
        raise ReportError("format", f"must be auto or one of {', '.join(FORMATS)}")
    return _READERS[fmt](text, timezone, session_start)



def parse_grades(data: bytes | str) -> list[tuple[str | None, str | None, float]]:
    """An evaluation sheet: ``servant_id`` and/or ``email``, and ``score`` (0–100) per row."""
    rows = _rows(decode(data))
    if not rows:
        raise ReportError("file", "the grades file is empty")
    header = [_norm(c) for c in rows[0]]
    servant, email, score = _column(header, "servant_id"), _column(header, "email"), _column(header, "score")
    if score is None or (servant is None and email is None):
        raise ReportError("columns", "expected servant_id and/or email, and score")
    grades = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        raw = _cell(row, score).replace(",", ".")
        try:
            value = float(raw)
        except ValueError as error:
            raise ReportError(None, f"line {number}: score {raw!r} is not a number") from error
        grades.append((_cell(row, servant) or None, _cell(row, email) or None, value))
    return grades

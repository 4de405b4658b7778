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

import csv
import re
from dataclasses import dataclass, field

from services.attendance.domain.errors import ReportError
from services.attendance.domain.intervals import ReportRow
from probidad.shared.uploads import any_text, folded
from services.attendance.domain.report_text import StampReader, cell_at, column_of, delimiter_of, rows_of

FORMATS = ("zoom", "teams", "meet", "csv")


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


# Columns that only one platform writes: they tell a Zoom table from a Teams activities table.
_ZOOM_ONLY = {"name (original name)", "user email", "duration (minutes)", "guest", "recording consent",
              "in waiting room", "meeting id"}
_TEAMS_ONLY = {"first join", "last leave", "in-meeting duration", "participant id (upn)", "role", "user action"}


def detect_format(text: str) -> str:
    """Recognise the layout from its section titles and header rows, in English or Spanish."""
    try:
        rows, delimiter = rows_of(text[:6000]), delimiter_of(text[:6000])
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


# The Spanish headers Zoom and Teams write (accents folded by ``folded``), as the English names the readers use.
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
        name = folded(cell)
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
    title = folded(found.group(2))
    if title in _SECTIONS:
        return _SECTIONS[title]
    # Teams has reworded its titles over the years ("In-Meeting Activity", "Actividades durante la reunión")
    if "activ" in title:
        return "in-meeting activities"
    return "participants" if title.startswith("participant") else title


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
    rows = rows_of(text)
    for at, row in enumerate(rows):
        header, spanish = _header(row)
        join = column_of(header, "join time")
        leave = column_of(header, "leave time")
        if join is not None and leave is not None:
            break
    else:
        raise ReportError("columns", "no 'Join Time' and 'Leave Time' (or 'Hora de entrada' and 'Hora de salida') "
                          "header row in this Zoom report")
    name = column_of(header, "name (original name)", "name", "participant", prefix=True)
    email = column_of(header, "user email", "email", "participant email")
    waiting = column_of(header, "in waiting room")
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
        if waiting is not None and folded(cell_at(row, waiting)) in _YES:
            ignored.append(IgnoredRow(offset, who, "time in the waiting room is not presence"))
            continue
        mail = row[email].strip() if email is not None and email < len(row) else ""
        append(_Connection(offset, who, mail or None, None, joined, row[leave].strip() if leave < len(row) else ""))
    return _finish("zoom", connections, ignored, timezone, session_start, spanish)


def _teams(text: str, timezone: str, session_start: int) -> ParsedReport:
    rows = rows_of(text)
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
    written = [folded(found.group(2)) for found in map(_SECTION.match, titles) if found is not None]
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
    join, leave = column_of(header, join_name), column_of(header, leave_name)
    if join is None or leave is None:
        raise ReportError("columns", f"the Teams section lacks '{join_name}'/'{leave_name}' columns")
    name = column_of(header, "name", "full name")
    email = column_of(header, "email")
    upn = column_of(header, "participant id (upn)", "upn")
    connections = []
    for number, row in section[1:]:
        joined = cell_at(row, join)
        if not joined:
            continue
        mail = cell_at(row, email) or _looks_like_email(cell_at(row, upn))
        identifier = cell_at(row, upn) or None
        connections.append(_Connection(number, cell_at(row, name), mail or None, identifier, joined,
                                       cell_at(row, leave)))
    language = spanish_header if spanish_header is not None else spanish
    return _finish("teams", connections, [], timezone, session_start, language)


# The 2020 layout's actions, in English and Spanish (including Teams' own "Izquierda" for "Left").
_JOINED = ("join", "unido", "unida", "se unio", "entro")
_LEFT = ("left", "se fue", "salio", "izquierd", "abandono")


def _teams_actions(section: list[tuple[int, list[str]]], timezone: str, session_start: int) -> ParsedReport:
    """2020 layout: one line per join or leave; pair them per person in time order."""
    header, spanish = _header(section[0][1])
    name, action = column_of(header, "full name", "name"), column_of(header, "user action")
    stamp = column_of(header, "timestamp")
    if name is None or action is None or stamp is None:
        raise ReportError("columns", "expected 'Full Name', 'User Action' and 'Timestamp' (or 'Nombre completo', "
                          "'Actividad del usuario' and 'Marca de tiempo')")
    reader = StampReader(timezone, session_start, day_first=spanish)
    events = []
    for number, row in section[1:]:
        raw = cell_at(row, stamp)
        reader.scan(raw, f"line {number}: timestamp")
        events.append((number, cell_at(row, name), folded(cell_at(row, action)), raw))
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
    rows = rows_of(text)
    for at, row in enumerate(rows):
        header = [folded(c) for c in row]
        join, leave = column_of(header, "time joined"), column_of(header, "time exited")
        if join is not None and leave is not None:
            break
    else:
        raise ReportError("columns", "no 'Time joined' and 'Time exited' header in this Google Meet report")
    first, last = column_of(header, "first name"), column_of(header, "last name")
    name = column_of(header, "name", "participant")
    email = column_of(header, "email")
    connections = []
    for number, row in enumerate(rows[at + 1:], start=at + 2):
        joined = cell_at(row, join)
        if not joined:
            continue
        who = " ".join(p for p in (cell_at(row, first), cell_at(row, last)) if p) or cell_at(row, name)
        connections.append(_Connection(number, who, cell_at(row, email) or None, None, joined, cell_at(row, leave)))
    return _finish("meet", connections, [], timezone, session_start)


def _neutral(text: str, timezone: str, session_start: int) -> ParsedReport:
    rows = rows_of(text)
    if not rows:
        raise ReportError("file", "empty")
    header = [folded(c) for c in rows[0]]
    servant, email = column_of(header, "servant_id"), column_of(header, "email")
    join, leave = column_of(header, "joined_at"), column_of(header, "left_at")
    if join is None or leave is None or (servant is None and email is None):
        raise ReportError("columns", "expected servant_id and/or email, joined_at, left_at")
    name = column_of(header, "name")
    connections = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        connections.append(_Connection(number, cell_at(row, name), cell_at(row, email) or None,
                                       cell_at(row, servant) or None, cell_at(row, join), cell_at(row, leave)))
    return _finish("csv", connections, [], timezone, session_start)


_READERS = {"zoom": _zoom, "teams": _teams, "meet": _meet, "csv": _neutral}


def parse_report(data: bytes | str, *, timezone: str, session_start: int, format: str = "auto") -> ParsedReport:  # noqa: A002
    """Read a platform's attendance report into connections; ``format`` 'auto' recognises the layout."""
    text = any_text(data)
    if not text.strip():
        raise ReportError("file", "the report is empty")
    fmt = detect_format(text) if format == "auto" else format
    if fmt not in _READERS:
        raise ReportError("format", f"must be auto or one of {', '.join(FORMATS)}")
    return _READERS[fmt](text, timezone, session_start)


def parse_grades(data: bytes | str) -> list[tuple[str | None, str | None, float]]:
    """An evaluation sheet: ``servant_id`` and/or ``email``, and ``score`` (0–100) per row."""
    rows = rows_of(any_text(data))
    if not rows:
        raise ReportError("file", "the grades file is empty")
    header = [folded(c) for c in rows[0]]
    servant, email, score = column_of(header, "servant_id"), column_of(header, "email"), column_of(header, "score")
    if score is None or (servant is None and email is None):
        raise ReportError("columns", "expected servant_id and/or email, and score")
    grades = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        raw = cell_at(row, score).replace(",", ".")
        try:
            value = float(raw)
        except ValueError as error:
            raise ReportError(None, f"line {number}: score {raw!r} is not a number") from error
        grades.append((cell_at(row, servant) or None, cell_at(row, email) or None, value))
    return grades

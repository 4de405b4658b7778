"""The annual training programme: its CSV file and the rules a declared plan keeps. Pure."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from contracts.events import MAX_PLAN_TARGETS, PlanTarget, TrainingPlanDeclared
from probidad.shared.errors import RuleViolation
from probidad.shared.uploads import utf8_text

PLAN_CSV_COLUMNS = ("year", "month", "institution_id", "topic", "sessions", "people", "hours")
MAX_PLAN_BYTES = 900_000  # the event's JSON, under the producer's 1 MiB record limit
_PLAN_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")
_BOUNDS = {"year": (2000, 2100), "month": (1, 12), "sessions": (0, 100_000), "people": (0, 10_000_000),
           "hours": (0, 100_000_000)}


@dataclass(frozen=True)
class PlanLine:
    """One target as given, with where it came from (``targets.3`` in JSON, ``row 5`` in a CSV file),
    so that a refusal names it."""

    source: str
    month: int
    institution_id: str
    topic: str
    sessions: int
    people: int
    hours: float


def plan_field(source: str, name: str) -> str:
    """How a refusal names a target's field: ``row 5, hours`` (CSV) or ``targets.3.hours`` (JSON)."""
    return f"{source}, {name}" if source.startswith("row ") else f"{source}.{name}"


def _plan_number(source: str, name: str, raw: str, whole: bool) -> int | float:
    text = raw.strip()
    low, high = _BOUNDS[name]
    kind = "a whole number" if whole else "a number"
    try:
        value: int | float = int(text) if whole else float(text)
    except ValueError:
        raise RuleViolation(plan_field(source, name), f"must be {kind} from {low} to {high}, got {raw!r}") from None
    if not (low <= value <= high):  # also refuses nan and inf
        raise RuleViolation(plan_field(source, name), f"must be {kind} from {low} to {high}, got {raw!r}")
    return value


def parse_plan_csv(data: bytes) -> tuple[int, list[PlanLine]]:
    """The year and targets of a plan file: a header row naming at least ``PLAN_CSV_COLUMNS`` (any
    order; other columns are ignored), then one target per row, every row of the same year. Rows are
    numbered as a spreadsheet shows them (the header is row 1); blank rows are skipped. The first bad
    value refuses the whole file, naming its row and column."""
    reader = csv.reader(io.StringIO(utf8_text(data), newline=""))  # the plan's columns are fixed: no sniffing
    try:
        header = next(reader, None)
        if header is None:
            raise RuleViolation("file", f"empty; expected a header row {','.join(PLAN_CSV_COLUMNS)}")
        names = [h.strip().lower() for h in header]
        missing = [c for c in PLAN_CSV_COLUMNS if c not in names]
        if missing:
            raise RuleViolation("header", f"missing column(s) {', '.join(missing)}; expected "
                                f"{','.join(PLAN_CSV_COLUMNS)}")
        where = {c: names.index(c) for c in PLAN_CSV_COLUMNS}
        year: int | None = None
        year_row = 0
        lines: list[PlanLine] = []
        for cells in reader:
            row = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            source = f"row {row}"
            if len(lines) >= MAX_PLAN_TARGETS:
                raise RuleViolation(source, f"a plan holds at most {MAX_PLAN_TARGETS} targets")
            if len(cells) < len(names):
                cells = cells + [""] * (len(names) - len(cells))
            value = {c: cells[i] for c, i in where.items()}
            row_year = int(_plan_number(source, "year", value["year"], whole=True))
            if year is None:
                year, year_row = row_year, row
            elif row_year != year:
                raise RuleViolation(plan_field(source, "year"), f"every row must be of the same year: {row_year} "
                                    f"here, {year} in row {year_row}")
            institution_id = value["institution_id"].strip()
            if not _PLAN_ID.match(institution_id):
                raise RuleViolation(plan_field(source, "institution_id"), "expected an institution id (letters, "
                                    f"digits, . _ : -), got {value['institution_id']!r}")
            topic = value["topic"].strip()
            if not 1 <= len(topic) <= 200:
                raise RuleViolation(plan_field(source, "topic"), "must be 1 to 200 characters")
            lines.append(PlanLine(source, int(_plan_number(source, "month", value["month"], whole=True)),
                                  institution_id, topic,
                                  int(_plan_number(source, "sessions", value["sessions"], whole=True)),
                                  int(_plan_number(source, "people", value["people"], whole=True)),
                                  float(_plan_number(source, "hours", value["hours"], whole=False))))
    except csv.Error as error:
        raise RuleViolation(f"row {reader.line_num}", f"not valid CSV ({error})") from None
    if year is None:
        raise RuleViolation("file", "no targets: the file holds a header row only")
    return year, lines


def decide_plan(*, plan_id: str, year: int, version: int, lines: Sequence[PlanLine], known_institutions: set[str],
                declared_at: datetime, declared_by: str) -> TrainingPlanDeclared:
    """Declare version ``version`` of the year's programme: the whole plan, replacing the previous one
    from now on. Refused: no targets, a month, institution and topic planned twice, an institution the
    programme does not know, a plan too large for one event."""
    if not lines:
        raise RuleViolation("targets", "a plan needs at least one target")
    if len(lines) > MAX_PLAN_TARGETS:
        raise RuleViolation("targets", f"a plan holds at most {MAX_PLAN_TARGETS} targets")
    seen: dict[tuple[int, str, str], str] = {}
    for line in lines:
        key = (line.month, line.institution_id, line.topic)
        if key in seen:
            raise RuleViolation(plan_field(line.source, "topic"), f"month {line.month}, institution "
                                f"{line.institution_id} and topic {line.topic!r} are already planned in {seen[key]}")
        seen[key] = line.source
        if not line.topic.strip():
            raise RuleViolation(plan_field(line.source, "topic"), "must not be blank")
        if line.institution_id not in known_institutions:
            raise RuleViolation(plan_field(line.source, "institution_id"),
                                f"unknown institution {line.institution_id!r}")
    event = TrainingPlanDeclared(
        plan_id=plan_id, year=year, version=version, declared_at=declared_at, declared_by=declared_by,
        targets=[PlanTarget(month=line.month, institution_id=line.institution_id, topic=line.topic,
                            sessions=line.sessions, people=line.people, hours=line.hours) for line in lines])
    if len(event.model_dump_json()) > MAX_PLAN_BYTES:
        raise RuleViolation("targets",
                            f"the plan is larger than {MAX_PLAN_BYTES} bytes as an event; shorten its topic names")
    return event



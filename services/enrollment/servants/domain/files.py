"""The departures file (bajas) as HR exports it: its columns in English or Spanish, and its days."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date

from probidad.shared.errors import RuleViolation
from probidad.shared.uploads import header_key, sniffed_rows, utf8_text

# ------------------------------------------------------------------ the departures file

DEPARTURE_ALIASES = {
    "servant_id": "servant_id", "servant id": "servant_id", "id servidor": "servant_id", "id": "servant_id",
    "curp": "curp",
    "left_on": "left_on", "left on": "left_on", "fecha baja": "left_on", "fecha de baja": "left_on", "baja": "left_on",
    "reason": "reason", "motivo": "reason", "motivo de baja": "reason", "causa": "reason",
}


@dataclass(frozen=True)
class DepartureLine:
    line: int
    servant_id: str | None
    curp: str | None
    left_on: str | None
    reason: str | None


def parse_departures_csv(data: bytes) -> list[DepartureLine]:
    """Rows of a departures file: a header naming servant_id or curp, and left_on (English or Spanish:
    curp, fecha_baja, motivo…), then one leaving per row. Rows are numbered as a spreadsheet shows them
    (the header is row 1); blank rows are skipped. Values are checked per row, by the import."""
    reader = sniffed_rows(utf8_text(data))
    try:
        header = next(reader, None)
        if header is None:
            raise RuleViolation("file", "empty; expected a header row servant_id (or curp),left_on,reason")
        columns = {i: DEPARTURE_ALIASES.get(header_key(h)) for i, h in enumerate(header)}
        named = set(columns.values())
        if "left_on" not in named:
            raise RuleViolation("header", "missing column left_on (or fecha_baja)")
        if not named & {"servant_id", "curp"}:
            raise RuleViolation("header", "missing column servant_id or curp")
        lines = []
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            value = {name: (cells[i].strip() or None) if i < len(cells) else None
                     for i, name in columns.items() if name}
            lines.append(DepartureLine(reader.line_num, value.get("servant_id"), value.get("curp"),
                                       value.get("left_on"), value.get("reason")))
    except csv.Error as error:
        raise RuleViolation(f"row {reader.line_num}", f"not valid CSV ({error})") from None
    return lines


def parse_day(raw: str | None, field_name: str) -> date:
    """A day as a file gives it: YYYY-MM-DD, or DD/MM/YYYY as Mexican spreadsheets write it."""
    text = (raw or "").strip()
    if not text:
        raise RuleViolation(field_name, "missing (YYYY-MM-DD or DD/MM/YYYY)")
    try:
        if re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}", text):
            d, m, y = (int(x) for x in text.split("/"))
            return date(y, m, d)
        return date.fromisoformat(text)
    except ValueError:
        raise RuleViolation(field_name, f"{raw!r} is not a date (YYYY-MM-DD or DD/MM/YYYY)") from None

"""A report's own reading, with no I/O: rows and columns, and its wall-clock timestamps read as epoch seconds in the
session's zone (day or month first settled per file). Bytes to text and folded headers are the shared upload
reader's (probidad.shared.uploads)."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from services.attendance.domain.errors import ReportError

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


# ---------------------------------------------------------------- wall-clock stamps -> epoch seconds

_STAMP = re.compile(
    r"\s*(?:(\d{1,4})[/.\-](\d{1,2})[/.\-](\d{1,4})(?:,\s*|\s+|T))?"
    r"(\d{1,2}):(\d{2})(?::(\d{2}))?(?:[.,]\d+)?"
    r"\s*(?:([AaPp])\.?\s?[Mm]\.?)?\s*(Z|[+-]\d{2}:?\d{2})?\s*$"
)
# The pieces of one stamp: day/month/year parts (None: a time only), hour, minute, second, AM/PM, offset.
Groups = tuple[str | None, ...]


class StampReader:
    """Reads a report's timestamps; caches per distinct text, since many rows share a second."""

    def __init__(self, timezone: str, reference: int, *, day_first: bool | None = None) -> None:
        self.zone = ZoneInfo(timezone)
        self.reference = reference  # epoch of the session start: settles dates and time-only stamps
        self.day_first = day_first  # what the headers' language says (Spanish: True, English: False), if known
        local = datetime.fromtimestamp(reference, self.zone)
        self.reference_date = local.date()
        self._groups: dict[str, Groups] = {}
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
            if int(b or 0) > 12:  # the pattern gives the three date parts together or none
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

    def _date(self, groups: Groups, order: str) -> date:
        a, b, c = (int(part or 0) for part in groups[:3])  # present: only dated stamps reach here
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
        hour, minute, second = int(hh or 0), int(mm or 0), int(ss or 0)  # hour and minute always match
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


# ---------------------------------------------------------------- rows, columns and headers


def column_of(header: list[str], *names: str, prefix: bool = False) -> int | None:
    for i, cell in enumerate(header):
        for name in names:
            if cell == name or (prefix and cell.startswith(name)):
                return i
    return None


def delimiter_of(text: str) -> str:
    first = next((line for line in text.splitlines() if line.strip()), "")
    return "\t" if "\t" in first or text.count("\t") > text.count(",") else ","


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text), delimiter=delimiter_of(text)))


def cell_at(row: list[str], index: int | None) -> str:
    if index is None or index >= len(row):
        return ""
    return row[index].strip()

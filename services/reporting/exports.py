"""CSV and open-data renderings of the figures. Pure: rows in, rows or text out."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from probidad.shared.csvcells import cell
from services.reporting.domain import MEASURES, Period, Snapshot

COUNTS = ("sessions_delivered", "courses_delivered", "servants_trained", "participations",
          "certificates_issued", "certificates_revoked")
OPEN_DATA_DIMENSIONS = ("total", "government_level", "institution", "topic", "modality", "sex")
OPEN_DATA_COLUMNS = ("period", "dimension", "category", *MEASURES, "suppressed", "responsible_unit", "updated_on")


def to_csv(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: cell(row.get(k)) for k in columns})
    return out.getvalue()


def suppress(rows: list[dict[str, Any]], minimum: int, counts: Sequence[str] = COUNTS) -> list[dict[str, Any]]:
    """Blank small ``counts`` in one table — the categories of one dimension in one period.

    Primary: every count from 1 to minimum-1 (a zero identifies no one). Complementary: the period's
    total is published too, so one blanked count of a measure in a table could be worked out by
    subtraction; then the smallest other non-zero count of that measure is blanked as well. Hours
    go with participations. Every public output (open data, the dashboard) goes through here.
    """
    hidden: list[list[str]] = [[m for m in counts if 0 < row[m] < minimum] for row in rows]
    for measure in counts:
        blanked = [i for i, names in enumerate(hidden) if measure in names]
        if len(blanked) != 1:
            continue
        others = [i for i, row in enumerate(rows) if row[measure] > 0 and measure not in hidden[i]]
        if others:
            hidden[min(others, key=lambda i: (rows[i][measure], str(rows[i].get("category"))))].append(measure)
    out = []
    for row, names in zip(rows, hidden, strict=True):
        names = [m for m in counts if m in names]
        if "participations" in names:
            names.append("training_hours")
        out.append({**row, **{m: None for m in names}, "suppressed": " ".join(names)})
    return out


def open_data(snapshot: Snapshot, year: int, *, unit: str, updated_on: date, minimum: int) -> list[dict[str, Any]]:
    """Month by month figures of a year, total and one dimension at a time: aggregates only.

    Institutions appear by name (public bodies); servants never do, not even by pseudonymous id.
    """
    rows = []
    for month in range(1, 13):
        period = Period.month(year, month)
        for dimension in OPEN_DATA_DIMENSIONS:
            by = None if dimension == "total" else dimension
            table = []
            for figures in snapshot.figures(period, by):
                if by is None and not any(figures[m] for m in COUNTS):
                    continue
                category = "all" if by is None else figures.get("name") or figures[by]
                table.append({"period": period.label, "dimension": dimension, "category": category,
                              **{m: figures[m] for m in MEASURES}, "responsible_unit": unit,
                              "updated_on": updated_on.isoformat()})
            rows += suppress(table, minimum)
    return rows

"""CSV and open-data renderings of the figures. Pure: rows in, rows or text out."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from services.reporting.projection import MEASURES, Period, Snapshot

COUNTS = ("sessions_delivered", "courses_delivered", "servants_trained", "participations",
          "certificates_issued", "certificates_revoked")
OPEN_DATA_DIMENSIONS = ("total", "government_level", "institution", "topic", "modality", "sex")
OPEN_DATA_COLUMNS = ("period", "dimension", "category", *MEASURES, "suppressed", "responsible_unit", "updated_on")


def to_csv(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    return out.getvalue()


def suppress(row: dict[str, Any], minimum: int) -> dict[str, Any]:
    """Blank every count from 1 to minimum-1 (a zero identifies no one); hours go with participations."""
    hidden = [m for m in COUNTS if 0 < row[m] < minimum]
    if "participations" in hidden:
        hidden.append("training_hours")
    return {**row, **{m: None for m in hidden}, "suppressed": " ".join(hidden)}


def open_data(snapshot: Snapshot, year: int, *, unit: str, updated_on: date, minimum: int) -> list[dict[str, Any]]:
    """Month by month figures of a year, total and one dimension at a time: aggregates only.

    Institutions appear by name (public bodies); servants never do, not even by pseudonymous id.
    """
    rows = []
    for month in range(1, 13):
        period = Period.month(year, month)
        for dimension in OPEN_DATA_DIMENSIONS:
            by = None if dimension == "total" else dimension
            for figures in snapshot.figures(period, by):
                if by is None and not any(figures[m] for m in COUNTS):
                    continue
                category = "all" if by is None else figures.get("name") or figures[by]
                row = {"period": period.label, "dimension": dimension, "category": category,
                       **{m: figures[m] for m in MEASURES}, "responsible_unit": unit,
                       "updated_on": updated_on.isoformat()}
                rows.append(suppress(row, minimum))
    return rows

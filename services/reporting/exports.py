"""CSV and open-data renderings of the figures. Pure: rows in, rows or text out."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from probidad.shared.csvcells import cell
from services.reporting.domain.facts import MEASURES
from services.reporting.domain.resolved import Period
from services.reporting.domain.snapshot import Snapshot
from services.reporting.suppression import Publication, decide, exact, protected

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
    """Blank small ``counts`` of people in one table whose total is published beside it (``suppression.decide``
    over the rows and that total: every count from 1 to minimum-1, and as many of the smallest other
    counts as it takes for no blank to be worked out from the total). Hours go with participations."""
    pub = Publication()
    for measure in counts:
        for i, row in enumerate(rows):
            pub.cell((i, measure), row[measure], count=protected(measure))
        pub.cell(("total", measure), sum(row[measure] for row in rows), count=protected(measure))
        pub.total(("total", measure), [(i, measure) for i in range(len(rows))])
    decision = decide(pub, minimum)
    return [_blanked(row, [m for m in counts if (i, m) in decision.blanks]) for i, row in enumerate(rows)]


def _blanked(row: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """The row with ``names`` blanked (None) and listed in its ``suppressed`` column; hours go with
    participations."""
    if "participations" in names and "training_hours" not in names:
        names = [*names, "training_hours"]
    return {**row, **{m: None for m in names}, "suppressed": " ".join(names)}


def month_publication(tables: dict[str, list[dict[str, Any]]], levels: dict[str, str]) -> Publication:
    """One month of open data as its reader sees it: the total row, each dimension's rows adding up to
    it (exactly where the dimension partitions the measure, ``suppression.SPLITS``), and each
    government level's row adding up to its institutions'. Cells are (dimension, category key, measure);
    ``tables`` holds each dimension's rows with ``key`` (an institution's id, a topic...)."""
    pub = Publication()
    for dimension, table in tables.items():
        for row in table:
            for measure in MEASURES:
                pub.cell((dimension, row["key"], measure), row[measure],
                         count=measure != "training_hours" and protected(measure))
                if measure == "training_hours":
                    pub.follows[(dimension, row["key"], measure)] = (dimension, row["key"], "participations")
    for dimension, table in tables.items():
        if dimension == "total":
            continue
        for measure in MEASURES:
            pub.total(("total", "all", measure), [(dimension, row["key"], measure) for row in table],
                      exact(measure, dimension))
    for level in {row["key"] for row in tables.get("government_level", ())}:
        members = [row["key"] for row in tables.get("institution", ()) if levels.get(row["key"]) == level]
        for measure in MEASURES:
            pub.total(("government_level", level, measure), [("institution", iid, measure) for iid in members],
                      exact(measure, "institution"))
    return pub


def open_data(snapshot: Snapshot, year: int, *, unit: str, updated_on: date, minimum: int) -> list[dict[str, Any]]:
    """Month by month figures of a year, total and one dimension at a time: aggregates only.

    Institutions appear by name (public bodies); servants never do, not even by pseudonymous id.
    Each month is suppressed as one publication (``month_publication``): its dimensions all add up
    to the same total, and a level's row to its institutions'.
    """
    levels = {iid: f.attributes["government_level"] for iid, f in snapshot.institutions.items()}
    rows = []
    for month in range(1, 13):
        period = Period.month(year, month)
        tables: dict[str, list[dict[str, Any]]] = {}
        for dimension in OPEN_DATA_DIMENSIONS:
            by = None if dimension == "total" else dimension
            table = []
            for figures in snapshot.figures(period, by):
                if by is None and not any(figures[m] for m in COUNTS):
                    continue
                category = "all" if by is None else figures.get("name") or figures[by]
                table.append({"period": period.label, "dimension": dimension, "category": category,
                              "key": "all" if by is None else figures[by],
                              **{m: figures[m] for m in MEASURES}, "responsible_unit": unit,
                              "updated_on": updated_on.isoformat()})
            tables[dimension] = table
        blanks = decide(month_publication(tables, levels), minimum).blanks
        for dimension, table in tables.items():
            for row in table:
                names = [m for m in MEASURES if (dimension, row["key"], m) in blanks]
                out = _blanked(row, [m for m in names if m != "training_hours"])
                out.pop("key")
                rows.append(out)
    return rows

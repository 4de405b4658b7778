"""The rows coverage and plan reports are made of, shared by both engines (the Ledger's snapshot and the
columnar copy's) so that the two can only differ in what they count, never in how a row is made."""

from __future__ import annotations

from datetime import date
from typing import Any

from probidad.shared.errors import RuleViolation
from services.reporting.domain.facts import MEASURES, Fact, from_micros, latest_version
from services.reporting.domain.resolved import Period

def empty_row() -> dict[str, Any]:
    return {m: 0 for m in MEASURES}


def coverage_rows(year: int, institutions: dict[str, Fact], headcounts: dict[str, list[Fact]],
                  trained: dict[str, int], cutoff: int) -> list[dict[str, Any]]:
    """``Snapshot.coverage``'s rows from the institutions known at the cut-off (their latest version and
    every headcount declaration known) and the distinct persons trained per institution in the year."""
    rows = []
    for iid, latest in institutions.items():
        declarations = headcounts[iid]
        same_year = [f for f in declarations if f.attributes["headcount_year"] == year]
        earlier = [f for f in declarations if f.attributes["headcount_year"] < year]
        declaration = latest_version(same_year or earlier or declarations, cutoff)
        assert declaration is not None  # the institution is known: so is a declaration of it
        headcount = declaration.attributes["headcount"]
        count = trained.get(iid, 0)
        rows.append({"year": year, "institution": iid, "name": latest.attributes["name"],
                     "government_level": latest.attributes["government_level"],
                     "headcount": headcount, "headcount_year": declaration.attributes["headcount_year"],
                     "servants_trained": count, "coverage": round(count / headcount, 4)})
    rows.sort(key=lambda r: (r["coverage"], r["name"]))
    return rows


def checked_through(through_month: int | None) -> int:
    through = 12 if through_month is None else through_month
    if not 1 <= through <= 12:
        raise RuleViolation("through_month", "must be from 1 to 12")
    return through


PlanKey = tuple[int, str, str]  # a cell: month, institution id, topic


def plan_report(year: int, through_month: int | None, institution: str | None, plan: Fact | None,
                sessions: dict[PlanKey, int], trained: dict[PlanKey, int], hours: dict[PlanKey, float],
                names: dict[str, str]) -> dict[str, Any]:
    """``Snapshot.plan_against_actual``'s report (see there) from the plan in force and what was delivered
    per cell: distinct sessions, distinct persons trained, training hours."""
    through = checked_through(through_month)
    period = Period(date(year, 1, 1), Period.month(year, through).end)
    wanted = (lambda iid: True) if institution is None else (lambda iid: iid == institution)
    planned: dict[PlanKey, list[float]] = {}
    if plan is not None:
        for t in plan.attributes["targets"]:
            if t["month"] <= through and wanted(t["institution_id"]):
                row = planned.setdefault((t["month"], t["institution_id"], t["topic"]), [0, 0, 0.0])
                row[0] += t["sessions"]
                row[1] += t["people"]
                row[2] += t["hours"]
    month_label = f"{year}-{through:02d}"

    def cell(key: PlanKey) -> _PlanCell:
        return _PlanCell(planned.get(key), sessions.get(key, 0), trained.get(key, 0), hours.get(key, 0.0))

    by_pair: dict[tuple[str, str], _PlanCell] = {}
    months, month_total, total = [], _PlanCell(), _PlanCell()
    for key in sorted(planned):
        month, iid, topic = key
        found = cell(key)
        months.append(found.row(f"{year}-{month:02d}", iid, names.get(iid), topic))
        by_pair.setdefault((iid, topic), _PlanCell()).add(found)
        total.add(found)
        if month == through:
            month_total.add(found)
    outside, outside_month, outside_total = [], _PlanCell(), _PlanCell()
    for key in sorted((set(sessions) | set(trained)) - set(planned)):
        month, iid, topic = key
        found = cell(key)
        outside.append(found.delivered(f"{year}-{month:02d}", iid, names.get(iid), topic))
        outside_total.add(found)
        if month == through:
            outside_month.add(found)
    return {
        "year": year, "through_month": through, "period": period.label,
        "plan": None if plan is None else {
            "plan_id": plan.subject, "version": plan.attributes["version"],
            "declared_at": plan.attributes["declared_at"], "known_from": from_micros(plan.known_at).isoformat()},
        "months": months,
        "month_total": month_total.row(month_label, "total", None, "total"),
        "year_to_date": [found.row(period.label, iid, names.get(iid), topic)
                         for (iid, topic), found in sorted(by_pair.items())],
        "total": total.row(period.label, "total", None, "total"),
        "outside_plan": {
            "months": outside,
            "month_total": outside_month.delivered(month_label, "total", None, "total"),
            "total": outside_total.delivered(period.label, "total", None, "total"),
        },
    }


class _PlanCell:
    """Planned and delivered figures of one row of ``Snapshot.plan_against_actual``. A cell's are its
    distinct sessions and persons; a wider row (the month, year to date, the total) adds its cells,
    delivered figures as the planned ones, so attainment compares like with like (a person trained in two
    planned cells counts in each, as the plan's targets count them)."""

    __slots__ = ("planned", "sessions", "persons", "hours")

    def __init__(self, planned: list[float] | None = None, sessions: int = 0, persons: int = 0,
                 hours: float = 0.0) -> None:
        self.planned = list(planned) if planned else [0, 0, 0.0]
        self.sessions = sessions  # distinct sessions delivered in the cell
        self.persons = persons  # distinct persons trained in it
        self.hours = hours

    def add(self, other: "_PlanCell") -> None:
        self.planned = [a + b for a, b in zip(self.planned, other.planned)]
        self.sessions += other.sessions
        self.persons += other.persons
        self.hours += other.hours

    def delivered(self, period: str, institution: str, name: str | None, topic: str) -> dict[str, Any]:
        """The delivered figures only: a row of delivery outside the plan."""
        return {"period": period, "institution": institution, "name": name, "topic": topic,
                "sessions_delivered": self.sessions, "servants_trained": self.persons,
                "training_hours": round(self.hours, 2)}

    def row(self, period: str, institution: str, name: str | None, topic: str) -> dict[str, Any]:
        sessions, people, hours = self.planned
        actual = (self.sessions, self.persons, round(self.hours, 2))
        return {"period": period, "institution": institution, "name": name, "topic": topic,
                "planned_sessions": sessions, "planned_people": people, "planned_hours": round(hours, 2),
                "sessions_delivered": actual[0], "servants_trained": actual[1], "training_hours": actual[2],
                "sessions_attainment": attainment(actual[0], sessions),
                "people_attainment": attainment(actual[1], people),
                "hours_attainment": attainment(actual[2], hours)}


def attainment(actual: float, planned: float) -> float | None:
    """actual / planned, rounded to 4 places; None when nothing was planned (0)."""
    return round(actual / planned, 4) if planned else None

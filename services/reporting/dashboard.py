"""The comptroller's dashboard: one self-contained HTML page (inline CSS, JS and SVG; no network).

The figures are computed here and embedded as JSON; the page's script only draws them, so the page
works offline, from a file, and in a headless browser alike.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from probidad.shared.errors import RuleViolation
from services.reporting.compliance import report as compliance_report
from services.reporting.dashboard_suppression import protect
from services.reporting.domain.resolved import Period
from services.reporting.domain.snapshot import Snapshot
from services.reporting.exports import COUNTS, suppress

MONTHS = ("ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sep", "oct", "nov", "dic")


def year_to_open(snapshot: Snapshot, today: date) -> int:
    """The year the dashboard opens on: the current one once a session was delivered in it; until then
    (in January, or on a platform holding only last year's programme) the latest year that has one."""
    years = [year for year in snapshot.years_delivered() if year <= today.year]
    return years[-1] if years and today.year not in years else today.year


PERIODS = ("month", "ytd", "year")
SEX_LABELS = {"female": "Mujeres", "male": "Hombres", "non_binary": "No binario", "undisclosed": "No declarado"}
BREAKDOWNS = ("topic", "modality", "sex")
PLAN_COUNTS = ("sessions_delivered", "servants_trained")
COMPLIANCE_COUNTS = ("required", "compliant", "due", "overdue", "exempt")


def selected_period(year: int, period: str, month: int) -> Period:
    """month: that month; ytd: January to the end of that month; year: the whole year."""
    if period == "month":
        return Period.month(year, month)
    if period == "ytd":
        return Period(date(year, 1, 1), Period.month(year, month).end)
    return Period.year(year)


def _table(rows: list[dict[str, Any]], minimum: int, counts: tuple[str, ...]) -> list[dict[str, Any]]:
    """``suppress`` on rows that may lack some of ``counts`` (taken as 0)."""
    return suppress([{**{c: 0 for c in counts}, **r} for r in rows], minimum, counts=counts)


def _breakdown(snapshot: Snapshot, period: Period, by: str, institution: str | None,
               minimum: int) -> list[dict[str, Any]]:
    rows = [{**r, "category": r[by]} for r in snapshot.figures(period, by, institution)]
    rows = suppress(rows, minimum)
    rows.sort(key=lambda r: (-(r["servants_trained"] or 0), r["category"]))
    label = SEX_LABELS if by == "sex" else MODALITY_LABELS if by == "modality" else {}
    return [{"category": r["category"], "label": label.get(r["category"], r["category"]),
             "servants_trained": r["servants_trained"], "participations": r["participations"],
             "sessions_delivered": r["sessions_delivered"]} for r in rows]


MODALITY_LABELS = {"virtual": "Virtual", "in_person": "Presencial", "hybrid": "Híbrida"}


def _plan(snapshot: Snapshot, year: int, through: int, institution: str | None, minimum: int) -> dict[str, Any]:
    """The plan report through the month (GET /reports/plan?year&through&institution): the planned cells'
    year to date per institution x topic and their total, and delivery outside the plan as its own line;
    actual counts suppressed as open data's; an attainment (or hours) that would give a blanked count away
    goes with it."""
    report = snapshot.plan_against_actual(year, through, institution)

    def shown(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for r in _table([{**r, "category": f"{r['institution']}/{r['topic']}"} for r in rows], minimum, PLAN_COUNTS):
            if r["sessions_delivered"] is None:
                r["sessions_attainment"] = None
            if r["servants_trained"] is None:
                r["people_attainment"] = r["training_hours"] = r["hours_attainment"] = None
            out.append(r)
        return out

    outside = _table([{**report["outside_plan"]["total"], "category": "outside_plan"}], minimum, PLAN_COUNTS)[0]
    if outside["servants_trained"] is None:
        outside["training_hours"] = None
    return {"year": year, "through": through, "period": report["period"], "plan": report["plan"],
            "total": shown([report["total"]])[0], "rows": shown(report["year_to_date"]), "outside_plan": outside}


def _compliance(snapshot: Snapshot, on: date, institution: str | None, minimum: int) -> dict[str, Any]:
    """GET /reports/compliance?on&institution_id without the per-servant standings, its small counts
    suppressed (with ``minimum`` 1, none: the page is suppressed as a whole, dashboard_suppression)."""
    body = compliance_report(snapshot, on, institution=institution, with_standings=False)

    def rated(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for r in rows:
            if any(r[c] is None for c in ("required", "compliant", "exempt")):
                r["rate"] = None
        return rows

    requirements = [rated(_table([{**r, "category": r["requirement_id"]}], minimum, COMPLIANCE_COUNTS))[0]
                    for r in body["by_requirement"]]
    by_institution = {}
    for r in body["by_requirement"]:
        rows = [{**x, "category": x["institution"]} for x in body["by_institution"]
                if x["requirement_id"] == r["requirement_id"]]
        rows = rated(_table(rows, minimum, COMPLIANCE_COUNTS))
        rows.sort(key=lambda x: (x["rate"] is None, x["rate"] if x["rate"] is not None else 0, x["name"] or ""))
        by_institution[r["requirement_id"]] = rows
    return {"on": body["on"], "requirements": requirements, "by_institution": by_institution}


def _period_panels(snapshot: Snapshot, period: Period, institution: str | None) -> dict[str, Any]:
    """A period's totals, levels and breakdowns as its page shows them, before suppression."""
    figures = {r["government_level"]: r for r in snapshot.figures(period, "government_level", institution)}
    return {"totals": snapshot.figures(period, None, institution)[0],
            "levels": [{"level": level, **{m: figures[level][m] if level in figures else 0
                                           for m in ("servants_trained", "participations")}}
                       for level in ("state", "municipal")],
            "breakdowns": {by: _breakdown(snapshot, period, by, institution, 1) for by in BREAKDOWNS}}


def dashboard_data(snapshot: Snapshot, year: int, *, as_of: datetime | None, unit: str, minimum: int,
                   period: str = "year", month: int | None = None, institution: str | None = None,
                   today: date | None = None) -> dict[str, Any]:
    """The page's figures for the period selected (``period`` month, ytd or year; ``month`` 1-12,
    default December, or the current month in the current year) and one institution or all.

    The dashboard is public: the page is suppressed as one publication with every identity between
    its figures (``dashboard_suppression.protect``, ``minimum`` as open data's): a blanked count is
    None, and a rate is printed to 0.1 % unless it would narrow a blank.
    """
    if period not in PERIODS:
        raise RuleViolation("period", f"must be one of {', '.join(PERIODS)}")
    if month is None:
        month = today.month if today is not None and today.year == year else 12
    if not 1 <= month <= 12:
        raise RuleViolation("month", "must be from 1 to 12")
    chosen = selected_period(year, period, month)
    # Every figure first as it is; then the page is suppressed as one publication (dashboard_suppression).
    totals = snapshot.figures(chosen, None, institution)[0]
    months = []
    for m in range(1, 13):
        row = snapshot.figures(Period.month(year, m), None, institution)[0]
        months.append({"month": f"{year}-{m:02d}", "label": MONTHS[m - 1],
                       "servants_trained": row["servants_trained"], "sessions_delivered": row["sessions_delivered"]})
    figures = {r["government_level"]: r for r in snapshot.figures(chosen, "government_level", institution)}
    levels = [{"level": level, **{m: figures[level][m] if level in figures else 0 for m in COUNTS}}
              for level in ("state", "municipal")]
    coverage = snapshot.coverage(year)
    # Compliance on the period's last day, never past what is known (the as-of date, or today).
    last_known = as_of.astimezone(snapshot.zone).date() if as_of is not None else today
    on = min(chosen.end, last_known) if last_known is not None else chosen.end
    names = {iid: f.attributes["name"] for iid, f in snapshot.institutions.items()}
    # What other pages print alike (the coverage table, the chart, compliance), decided once for all of them.
    whole_year = Period.year(year)
    year_of = snapshot.figures(whole_year, None, institution)[0]
    shared = {"year_levels": {"all": snapshot.figures(whole_year)[0]["servants_trained"], "state": 0, "municipal": 0,
                              **{r["government_level"]: r["servants_trained"]
                                 for r in snapshot.figures(whole_year, "government_level")}},
              "year_totals": {m: year_of[m] for m in ("servants_trained", "sessions_delivered")},
              "monthly": [_period_panels(snapshot, Period.month(year, m), institution) for m in range(1, 13)]}
    compliance = _compliance(snapshot, on, institution, 1)
    shared["compliance"] = compliance if institution is None else _compliance(snapshot, on, None, 1)
    return protect({
        "year": year, "years": sorted({*snapshot.years_delivered(), year}),
        "unit": unit, "as_of": as_of.isoformat() if as_of else None, "minimum": minimum,
        "selection": {"period": period, "month": month, "label": chosen.label, "from": chosen.start.isoformat(),
                      "to": chosen.end.isoformat(), "institution": institution,
                      "institution_name": names.get(institution) if institution else None},
        "institutions": sorted(({"institution": iid, "name": name} for iid, name in names.items()),
                               key=lambda r: (r["name"], r["institution"])),
        "totals": totals, "months": months,
        "levels": [{"level": r["level"], "servants_trained": r["servants_trained"],
                    "participations": r["participations"]} for r in levels],
        "breakdowns": {by: _breakdown(snapshot, chosen, by, institution, 1) for by in BREAKDOWNS},
        "coverage": coverage,
        "overall_coverage": None,  # the chosen institutions' trained / headcount, as protect prints it
        "plan": _plan(snapshot, year, 12 if period == "year" else month, institution, 1),
        "compliance": compliance,
    }, minimum, shared)


_PERIOD_NAMES = {"month": "Mes", "ytd": "Enero al mes", "year": "Año completo"}
_MONTH_NAMES = ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
                "noviembre", "diciembre")
_TEMPLATES = Environment(loader=PackageLoader("services.reporting", "templates"), autoescape=True,
                         keep_trailing_newline=True, undefined=StrictUndefined)


def render_dashboard(snapshot: Snapshot, year: int, *, as_of: datetime | None, unit: str, minimum: int,
                     period: str = "year", month: int | None = None, institution: str | None = None,
                     today: date | None = None) -> str:
    """The dashboard page (``templates/dashboard.html``) with the figures of the selection embedded as JSON."""
    data = dashboard_data(snapshot, year, as_of=as_of, unit=unit, minimum=minimum, period=period, month=month,
                          institution=institution, today=today)
    # JSON inside a script element: "</" would end the element, so it is written "<\/" (the same string).
    payload = Markup(json.dumps(data, ensure_ascii=False).replace("</", "<\\/"))
    return _TEMPLATES.get_template("dashboard.html").render(
        title=f"Programa de integridad {year}", unit=unit, year=year, data=data, chosen=data["selection"],
        periods=PERIODS, period_names=_PERIOD_NAMES, month_names=_MONTH_NAMES, payload=payload)

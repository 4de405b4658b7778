"""The comptroller's dashboard: one self-contained HTML page (inline CSS, JS and SVG; no network).

The figures are computed here and embedded as JSON; the page's script only draws them, so the page
works offline, from a file, and in a headless browser alike.
"""

from __future__ import annotations

import html
import json
from datetime import date, datetime
from typing import Any

from services.reporting.compliance import report as compliance_report
from services.reporting.dashboard_suppression import protect
from services.reporting.projection.resolved import Period
from services.reporting.projection.snapshot import Snapshot
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


def _breakdown(snapshot: Snapshot, period: Period, by: str, institution: str | None, minimum: int) -> list[dict[str, Any]]:
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
        raise ValueError(f"period must be one of {', '.join(PERIODS)}")
    if month is None:
        month = today.month if today is not None and today.year == year else 12
    if not 1 <= month <= 12:
        raise ValueError("month must be from 1 to 12")
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


def _option(value: Any, label: str, selected: bool) -> str:
    return (f'<option value="{html.escape(str(value))}"{" selected" if selected else ""}>'
            f"{html.escape(label)}</option>")


def _selector(data: dict[str, Any]) -> str:
    """A plain GET form: choosing reloads the page with the figures of the new selection."""
    chosen = data["selection"]
    years = "".join(_option(y, str(y), y == data["year"]) for y in data["years"])
    periods = "".join(_option(p, _PERIOD_NAMES[p], p == chosen["period"]) for p in PERIODS)
    months = "".join(_option(m, _MONTH_NAMES[m - 1], m == chosen["month"]) for m in range(1, 13))
    institutions = _option("", "Todas las instituciones", chosen["institution"] is None) + "".join(
        _option(r["institution"], r["name"], r["institution"] == chosen["institution"]) for r in data["institutions"])
    as_of = (f'<input type="hidden" name="as_of" value="{html.escape(data["as_of"])}">' if data["as_of"] else "")
    return (f'<form id="selector" method="get" aria-label="Periodo e institución">'
            f'<label>Año <select name="year">{years}</select></label>'
            f'<label>Periodo <select name="period">{periods}</select></label>'
            f'<label>Mes <select name="month">{months}</select></label>'
            f'<label>Institución <select name="institution">{institutions}</select></label>{as_of}'
            f'<noscript><button type="submit">Ver</button></noscript></form>')


def render_dashboard(snapshot: Snapshot, year: int, *, as_of: datetime | None, unit: str, minimum: int,
                     period: str = "year", month: int | None = None, institution: str | None = None,
                     today: date | None = None) -> str:
    data = dashboard_data(snapshot, year, as_of=as_of, unit=unit, minimum=minimum, period=period, month=month,
                          institution=institution, today=today)
    payload = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
    return (PAGE.replace("{{title}}", f"Programa de integridad {year}")
            .replace("{{unit}}", html.escape(unit))
            .replace("{{selector}}", _selector(data))
            .replace("{{year}}", str(year))
            .replace("{{data}}", payload))


PAGE = """<!doctype html>
<html lang="es">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{title}} · Probidad</title>
<style>
  :root { --ink:#1d2433; --muted:#667085; --line:#e4e7ec; --bg:#f5f6f8; --card:#fff;
          --blue:#1f5fa8; --teal:#0f8a7e; --amber:#c77700; --red:#b42318; --grey:#98a2b3; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--ink); background:var(--bg); }
  header { background:#12284a; color:#fff; padding:18px 32px; display:flex; justify-content:space-between; align-items:flex-end; gap:16px; flex-wrap:wrap; }
  header h1 { margin:0; font-size:22px; font-weight:600; }
  header p { margin:2px 0 0; color:#c7d2e3; font-size:13px; }
  header .asof { text-align:right; font-size:12px; color:#c7d2e3; }
  #selector { display:flex; gap:10px; flex-wrap:wrap; margin-top:8px; font-size:12px; color:#c7d2e3; }
  #selector select { margin-left:4px; font:inherit; color:var(--ink); border-radius:4px; border:0; padding:2px 4px; }
  main { padding:24px 32px 40px; display:grid; gap:20px; grid-template-columns: 2fr 1fr; }
  section { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:18px 20px; }
  section h2 { margin:0 0 12px; font-size:15px; font-weight:600; }
  section h3 { margin:14px 0 6px; font-size:13px; font-weight:600; color:var(--muted); }
  .kpis { grid-column: 1 / -1; display:grid; grid-template-columns: repeat(6, 1fr); gap:14px; padding:0; border:0; background:none; }
  .kpi { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:14px 16px; }
  .kpi .value { font-size:28px; font-weight:650; letter-spacing:-0.5px; }
  .kpi .label { color:var(--muted); font-size:12px; }
  .kpi.primary { border-top:4px solid var(--blue); } .kpi.second { border-top:4px solid var(--teal); }
  .legend { display:flex; gap:18px; color:var(--muted); font-size:12px; margin-bottom:6px; flex-wrap:wrap; }
  .swatch { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:6px; vertical-align:middle; }
  svg text { font-family: inherit; }
  table { width:100%; border-collapse:collapse; font-size:13px; }
  th, td { padding:6px 8px; border-bottom:1px solid var(--line); text-align:right; }
  th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align:left; }
  th { color:var(--muted); font-weight:500; font-size:12px; }
  .bar { background:#eef2f7; border-radius:3px; height:8px; width:120px; display:inline-block; vertical-align:middle; margin-left:8px; }
  .bar > span { display:block; height:8px; border-radius:3px; background:var(--blue); }
  .low .bar > span { background:var(--red); }
  .wide { grid-column: 1 / -1; }
  .third { display:grid; grid-template-columns: repeat(3, 1fr); gap:20px; grid-column: 1 / -1; padding:0; border:0; background:none; }
  .split-row { display:flex; align-items:center; gap:10px; margin:10px 0; }
  .split-row .name { width:90px; color:var(--muted); }
  .hbar-row { display:grid; grid-template-columns: 9rem 1fr 4rem; align-items:center; gap:8px; margin:6px 0; font-size:13px; }
  .hbar-row .name { color:var(--muted); overflow:hidden; text-overflow:ellipsis; white-space:nowrap; }
  .hbar-row .track { background:#eef2f7; border-radius:3px; height:12px; }
  .hbar-row .track > span { display:block; height:12px; border-radius:3px; background:var(--teal); }
  .hbar-row .value { text-align:right; font-weight:600; }
  .stack { display:flex; height:16px; border-radius:4px; overflow:hidden; background:#eef2f7; }
  .stack > span { display:block; height:16px; }
  .s-compliant { background:var(--teal); } .s-due { background:var(--amber); } .s-overdue { background:var(--red); } .s-exempt { background:var(--grey); }
  .compliance-row { margin:10px 0 14px; }
  .compliance-row .head { display:flex; justify-content:space-between; gap:10px; margin-bottom:4px; }
  .compliance-row .rate { font-size:20px; font-weight:650; }
  .counts { color:var(--muted); font-size:12px; margin-top:4px; }
  .plan-pair { display:inline-block; width:120px; vertical-align:middle; margin-left:8px; position:relative; height:10px; background:#eef2f7; border-radius:3px; }
  .plan-pair > span { position:absolute; left:0; top:0; height:10px; border-radius:3px; background:var(--blue); }
  .plan-pair > i { position:absolute; top:-3px; width:2px; height:16px; background:var(--ink); }
  .empty { color:var(--muted); font-size:13px; }
  footer { color:var(--muted); font-size:12px; padding:0 32px 24px; }
</style>
</head>
<body>
<header>
  <div><h1>{{title}}</h1><p>{{unit}}</p>{{selector}}</div>
  <div class="asof"><div id="asof"></div><div id="selection"></div></div>
</header>
<main>
  <section class="kpis" id="kpis" aria-label="El periodo de un vistazo"></section>
  <section>
    <h2>Servidores públicos capacitados y sesiones impartidas, por mes</h2>
    <div class="legend"><span><i class="swatch" style="background:var(--blue)"></i>Servidores capacitados (personas distintas)</span>
      <span><i class="swatch" style="background:var(--amber)"></i>Sesiones impartidas</span></div>
    <svg id="monthly" viewBox="0 0 760 300" width="100%" role="img" aria-label="Gráfica mensual"></svg>
  </section>
  <section>
    <h2>Estatal y municipal</h2>
    <svg id="split" viewBox="0 0 220 220" width="220" height="220" role="img" aria-label="Distribución estatal y municipal" style="display:block;margin:0 auto"></svg>
    <div id="split-legend"></div>
  </section>
  <section class="wide" id="compliance" aria-label="Cumplimiento de la capacitación obligatoria">
    <h2>Capacitación obligatoria: cumplimiento <span id="compliance-on" style="color:var(--muted);font-weight:400"></span></h2>
    <div class="legend"><span><i class="swatch s-compliant"></i>Cumple</span><span><i class="swatch s-due"></i>Pendiente, en plazo</span>
      <span><i class="swatch s-overdue"></i>Vencido</span><span><i class="swatch s-exempt"></i>Exento</span></div>
    <div id="compliance-requirements"></div>
    <div id="compliance-institutions"></div>
  </section>
  <section class="wide" id="plan" aria-label="Programa anual contra lo realizado">
    <h2>Programa anual de capacitación contra lo realizado <span id="plan-period" style="color:var(--muted);font-weight:400"></span></h2>
    <div id="plan-total" class="legend"></div>
    <table id="plan-rows"><thead><tr><th>Institución</th><th>Tema</th><th>Sesiones (real / meta)</th><th>Personas (real / meta)</th><th>Avance en personas</th></tr></thead><tbody></tbody></table>
    <p id="plan-outside" class="legend"></p>
  </section>
  <section class="third" aria-label="Desgloses">
    <section><h2>Por tema</h2><div id="breakdown-topic"></div></section>
    <section><h2>Por modalidad</h2><div id="breakdown-modality"></div></section>
    <section><h2>Por sexo</h2><div id="breakdown-sex"></div></section>
  </section>
  <section class="wide">
    <h2>Cobertura por institución (capacitados distintos / plantilla declarada), menor primero</h2>
    <table id="coverage"><thead><tr><th>Institución</th><th>Nivel</th><th>Plantilla</th><th>Capacitados</th><th>Cobertura</th></tr></thead><tbody></tbody></table>
  </section>
</main>
<footer>Cifras: servidores capacitados = personas distintas con al menos una sesión concluida (constancia vigente) en sesiones iniciadas en el periodo;
sesiones impartidas = iniciadas en el periodo, no canceladas, con al menos un asistente presente. Meses en la zona horaria del programa.
Cumplimiento: servidores obligados por cada requisito vigente el último día del periodo (sin pasar de hoy); tasa = cumplen / (obligados − exentos).
Programa anual: metas del programa vigente de enero al mes elegido (el año entero con «Año completo»).
Como en los datos abiertos, las cifras menores al mínimo de publicación, y las que permitirían deducirlas, se reservan («reservado») para proteger a las personas.</footer>
<script id="dashboard-data" type="application/json">{{data}}</script>
<script>
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("dashboard-data").textContent);
  var NS = "http://www.w3.org/2000/svg";
  var number = new Intl.NumberFormat("es-MX");
  // A count blanked by small-count suppression arrives as null: shown as "reservado" (a small count, or one
  // that would give a small count away: the page cannot say which), drawn as 0.
  var fmt = {format: function (v) { return v === null || v === undefined ? "reservado" : number.format(v); }};
  function n(v) { return v === null || v === undefined ? 0 : v; }
  function pct(v) { return v === null || v === undefined ? "—" : (v * 100).toFixed(1) + " %"; }
  function el(tag, attrs, text, parent) {
    var node = document.createElementNS(NS, tag);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }
  function html(tag, attrs, text, parent) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }
  // Choosing a year, period, month or institution reloads the page with that selection.
  var form = document.getElementById("selector");
  Array.prototype.forEach.call(form.querySelectorAll("select"), function (s) {
    s.addEventListener("change", function () { form.submit(); });
  });
  document.getElementById("asof").textContent = data.as_of ? "Cifras al " + data.as_of.slice(0, 16).replace("T", " ")
                                                           : "Cifras al momento";
  var sel = data.selection;
  var selection = document.getElementById("selection");
  selection.textContent = "Periodo " + sel.from + " a " + sel.to + (sel.institution ? " · " + (sel.institution_name || sel.institution) : " · todas las instituciones");
  ["period", "from", "to", "institution"].forEach(function (k) { selection.setAttribute("data-" + k, sel[k] === null ? "" : sel[k]); });

  var t = data.totals;
  var kpis = [
    ["servants_trained", "Servidores públicos capacitados", t.servants_trained, "primary"],
    ["sessions_delivered", "Sesiones impartidas", t.sessions_delivered, "second"],
    ["courses_delivered", "Cursos distintos impartidos", t.courses_delivered, ""],
    ["participations", "Participaciones concluidas", t.participations, ""],
    ["training_hours", "Horas de capacitación", t.training_hours, ""],
    ["overall_coverage", "Cobertura de la plantilla (año)",
     data.overall_coverage === null ? "—" : (data.overall_coverage * 100).toFixed(1) + " %", ""]
  ];
  var box = document.getElementById("kpis");
  kpis.forEach(function (k) {
    var card = html("div", {"class": "kpi " + k[3], "data-figure": k[0],
                            "data-value": k[0] === "overall_coverage" ? data.overall_coverage : k[2]}, null, box);
    html("div", {"class": "value"}, typeof k[2] === "string" ? k[2] : fmt.format(k[2]), card);
    html("div", {"class": "label"}, k[1], card);
  });

  // Monthly chart: bars = servants trained (left axis), line = sessions delivered (right axis).
  var svg = document.getElementById("monthly");
  var W = 760, H = 300, L = 48, R = 40, T = 16, B = 34, plotW = W - L - R, plotH = H - T - B;
  function niceMax(v) { if (v <= 0) return 1; var p = Math.pow(10, Math.floor(Math.log10(v))); var q = v / p;
    return (q <= 1 ? 1 : q <= 2 ? 2 : q <= 5 ? 5 : 10) * p; }
  var maxS = niceMax(Math.max.apply(null, data.months.map(function (m) { return n(m.servants_trained); })));
  var maxD = niceMax(Math.max.apply(null, data.months.map(function (m) { return n(m.sessions_delivered); })));
  for (var i = 0; i <= 4; i++) {
    var y = T + plotH - plotH * i / 4;
    el("line", {x1: L, x2: W - R, y1: y, y2: y, stroke: "#e4e7ec"}, null, svg);
    el("text", {x: L - 8, y: y + 4, "text-anchor": "end", "font-size": 11, fill: "#667085"}, fmt.format(maxS * i / 4), svg);
    el("text", {x: W - R + 8, y: y + 4, "font-size": 11, fill: "#c77700"}, fmt.format(maxD * i / 4), svg);
  }
  var slot = plotW / data.months.length, points = [];
  data.months.forEach(function (m, i) {
    var x = L + slot * i, h = plotH * n(m.servants_trained) / maxS;
    var bar = el("rect", {x: x + slot * 0.18, y: T + plotH - h, width: slot * 0.64, height: h, rx: 3, fill: "#1f5fa8",
                          "data-month": m.month, "data-servants-trained": m.servants_trained}, null, svg);
    el("title", {}, m.month + ": " + fmt.format(m.servants_trained) + " servidores capacitados, " + fmt.format(m.sessions_delivered) + " sesiones", bar);
    if (m.servants_trained) el("text", {x: x + slot / 2, y: T + plotH - h - 5, "text-anchor": "middle", "font-size": 10,
                                        fill: "#1d2433"}, fmt.format(m.servants_trained), svg);
    el("text", {x: x + slot / 2, y: H - 12, "text-anchor": "middle", "font-size": 11, fill: "#667085"}, m.label, svg);
    points.push([x + slot / 2, T + plotH - plotH * n(m.sessions_delivered) / maxD, m]);
  });
  el("polyline", {points: points.map(function (p) { return p[0] + "," + p[1]; }).join(" "), fill: "none",
                  stroke: "#c77700", "stroke-width": 2}, null, svg);
  points.forEach(function (p) {
    el("circle", {cx: p[0], cy: p[1], r: 3.5, fill: "#fff", stroke: "#c77700", "stroke-width": 2,
                  "data-month": p[2].month, "data-sessions-delivered": p[2].sessions_delivered}, null, svg);
  });

  // State / municipal split of the period: a donut of distinct servants trained.
  var split = document.getElementById("split"), colors = {state: "#1f5fa8", municipal: "#0f8a7e"};
  var names = {state: "Estatal", municipal: "Municipal"};
  var sum = data.levels.reduce(function (a, l) { return a + n(l.servants_trained); }, 0) || 1, angle = -Math.PI / 2;
  data.levels.forEach(function (l) {
    var share = n(l.servants_trained) / sum, end = angle + share * 2 * Math.PI, r = 90, c = 110;
    if (share > 0) {
      var large = share > 0.5 ? 1 : 0;
      var d = share >= 0.9999 ? "M " + c + " " + (c - r) + " A " + r + " " + r + " 0 1 1 " + (c - 0.01) + " " + (c - r) + " Z"
        : "M " + c + " " + c + " L " + (c + r * Math.cos(angle)) + " " + (c + r * Math.sin(angle)) +
          " A " + r + " " + r + " 0 " + large + " 1 " + (c + r * Math.cos(end)) + " " + (c + r * Math.sin(end)) + " Z";
      el("path", {d: d, fill: colors[l.level], "data-level": l.level}, null, split);
    }
    angle = end;
  });
  el("circle", {cx: 110, cy: 110, r: 54, fill: "#fff"}, null, split);
  el("text", {x: 110, y: 108, "text-anchor": "middle", "font-size": 22, "font-weight": 650}, fmt.format(t.servants_trained), split);
  el("text", {x: 110, y: 128, "text-anchor": "middle", "font-size": 11, fill: "#667085"}, "capacitados", split);
  var legend = document.getElementById("split-legend");
  data.levels.forEach(function (l) {
    var row = html("div", {"class": "split-row", "data-level": l.level, "data-servants-trained": l.servants_trained}, null, legend);
    var name = html("span", {"class": "name"}, null, row);
    html("i", {"class": "swatch", style: "background:" + colors[l.level]}, null, name);
    name.appendChild(document.createTextNode(names[l.level]));
    html("strong", {}, fmt.format(l.servants_trained), row);
    if (l.servants_trained !== null) html("span", {style: "color:#667085"}, "(" + (100 * l.servants_trained / sum).toFixed(1) + " %)", row);
  });

  // Compliance with each requirement in force: a stacked bar of the servants it applies to.
  var c = data.compliance;
  document.getElementById("compliance-on").textContent = "al " + c.on;
  var reqBox = document.getElementById("compliance-requirements");
  if (!c.requirements.length) html("p", {"class": "empty"}, "Ningún requisito de capacitación vigente en la fecha.", reqBox);
  var STATES = ["compliant", "due", "overdue", "exempt"];
  var STATE_NAMES = {compliant: "cumplen", due: "pendientes en plazo", overdue: "vencidos", exempt: "exentos"};
  c.requirements.forEach(function (r) {
    var row = html("div", {"class": "compliance-row", "data-requirement": r.requirement_id, "data-required": r.required,
                           "data-compliant": r.compliant, "data-due": r.due, "data-overdue": r.overdue,
                           "data-exempt": r.exempt, "data-rate": r.rate}, null, reqBox);
    var head = html("div", {"class": "head"}, null, row);
    html("strong", {}, r.title, head);
    html("span", {"class": "rate"}, pct(r.rate), head);
    var stack = html("div", {"class": "stack", role: "img",
                             "aria-label": STATES.map(function (s) { return fmt.format(r[s]) + " " + STATE_NAMES[s]; }).join(", ")}, null, row);
    var whole = STATES.reduce(function (a, s) { return a + n(r[s]); }, 0) || 1;
    STATES.forEach(function (s) {
      if (n(r[s]) > 0) html("span", {"class": "s-" + s, style: "width:" + (100 * n(r[s]) / whole).toFixed(2) + "%"}, null, stack);
    });
    html("div", {"class": "counts"}, fmt.format(r.required) + " obligados: " +
         STATES.map(function (s) { return fmt.format(r[s]) + " " + STATE_NAMES[s]; }).join(" · "), row);
  });
  var instBox = document.getElementById("compliance-institutions");
  if (!sel.institution) c.requirements.forEach(function (r) {
    var rows = c.by_institution[r.requirement_id] || [];
    if (!rows.length) return;
    html("h3", {}, r.title + ": por institución, menor tasa primero", instBox);
    var table = html("table", {"data-requirement": r.requirement_id}, null, instBox);
    var head = html("tr", {}, null, html("thead", {}, null, table));
    ["Institución", "Obligados", "Cumplen", "Pendientes", "Vencidos", "Exentos", "Tasa"].forEach(function (h) { html("th", {}, h, head); });
    var body = html("tbody", {}, null, table);
    rows.forEach(function (x) {
      var tr = html("tr", {"data-compliance-institution": x.institution, "data-requirement": r.requirement_id,
                           "data-required": x.required, "data-compliant": x.compliant, "data-overdue": x.overdue,
                           "data-rate": x.rate}, null, body);
      html("td", {}, x.name || x.institution, tr);
      ["required", "compliant", "due", "overdue", "exempt"].forEach(function (k) { html("td", {}, fmt.format(x[k]), tr); });
      var cell = html("td", {}, pct(x.rate), tr);
      var bar = html("span", {"class": "bar"}, null, cell);
      html("span", {style: "width:" + (100 * n(x.rate)).toFixed(1) + "%; background:var(--teal)"}, null, bar);
    });
  });

  // The annual plan against what was delivered, January to the month chosen.
  var plan = data.plan;
  document.getElementById("plan-period").textContent = plan.period;
  var planTotal = document.getElementById("plan-total"), planBody = document.querySelector("#plan-rows tbody");
  if (!plan.plan) {
    html("span", {"class": "empty"}, "No hay programa anual declarado para " + plan.year + ".", planTotal);
  } else {
    var pt = plan.total;
    var totalBox = html("span", {"data-plan-total": "", "data-planned-sessions": pt.planned_sessions,
                                 "data-sessions-delivered": pt.sessions_delivered, "data-planned-people": pt.planned_people,
                                 "data-servants-trained": pt.servants_trained, "data-people-attainment": pt.people_attainment},
                        "Versión " + plan.plan.version + ": sesiones " + fmt.format(pt.sessions_delivered) + " de " +
                        number.format(pt.planned_sessions) + " (" + pct(pt.sessions_attainment) + "); personas " +
                        fmt.format(pt.servants_trained) + " de " + number.format(pt.planned_people) + " (" +
                        pct(pt.people_attainment) + ")", planTotal);
  }
  var institutionNames = {};
  data.institutions.forEach(function (r) { institutionNames[r.institution] = r.name; });
  plan.rows.forEach(function (r) {
    var tr = html("tr", {"data-plan-institution": r.institution, "data-plan-topic": r.topic,
                         "data-planned-people": r.planned_people, "data-servants-trained": r.servants_trained,
                         "data-planned-sessions": r.planned_sessions, "data-sessions-delivered": r.sessions_delivered}, null, planBody);
    html("td", {}, r.name || institutionNames[r.institution] || r.institution, tr);
    html("td", {}, r.topic, tr);
    html("td", {}, fmt.format(r.sessions_delivered) + " / " + number.format(r.planned_sessions), tr);
    html("td", {}, fmt.format(r.servants_trained) + " / " + number.format(r.planned_people), tr);
    var cell = html("td", {}, pct(r.people_attainment), tr);
    var pair = html("span", {"class": "plan-pair", title: "barra: realizado; marca: la meta"}, null, cell);
    var scale = Math.max(n(r.servants_trained), r.planned_people, 1);
    html("span", {style: "width:" + (100 * n(r.servants_trained) / scale).toFixed(1) + "%"}, null, pair);
    html("i", {style: "left:" + (100 * r.planned_people / scale).toFixed(1) + "%"}, null, pair);
  });
  // Delivery in cells the plan does not name: its own line, never counted in the attainment above.
  var po = plan.outside_plan;
  html("span", {"data-plan-outside": "", "data-sessions-delivered": po.sessions_delivered,
                "data-servants-trained": po.servants_trained},
       "Fuera del programa (no cuenta en el avance): sesiones " + fmt.format(po.sessions_delivered) +
       "; personas capacitadas " + fmt.format(po.servants_trained) + ".", document.getElementById("plan-outside"));

  // Topic, modality and sex of the servants trained in the period.
  ["topic", "modality", "sex"].forEach(function (by) {
    var rows = data.breakdowns[by], target = document.getElementById("breakdown-" + by);
    if (!rows.length) html("p", {"class": "empty"}, "Sin capacitación en el periodo.", target);
    var most = Math.max.apply(null, rows.map(function (r) { return n(r.servants_trained); }).concat([1]));
    rows.forEach(function (r) {
      var row = html("div", {"class": "hbar-row", "data-breakdown": by, "data-category": r.category,
                             "data-servants-trained": r.servants_trained, "data-participations": r.participations}, null, target);
      html("span", {"class": "name", title: r.label}, r.label, row);
      var track = html("span", {"class": "track"}, null, row);
      html("span", {style: "width:" + (100 * n(r.servants_trained) / most).toFixed(1) + "%"}, null, track);
      html("span", {"class": "value"}, fmt.format(r.servants_trained), row);
    });
  });

  // Coverage, lowest first (the order the data already has).
  var body = document.querySelector("#coverage tbody");
  var top = Math.max.apply(null, data.coverage.map(function (r) { return n(r.coverage); }).concat([0.0001]));
  data.coverage.forEach(function (r, i) {
    var tr = html("tr", {"data-institution": r.institution, "data-coverage": r.coverage,
                         "class": (i < 3 ? "low" : "") + (r.institution === sel.institution ? " chosen" : "")}, null, body);
    html("td", {}, r.name, tr);
    html("td", {}, names[r.government_level] || r.government_level, tr);
    html("td", {}, fmt.format(r.headcount), tr);
    html("td", {}, fmt.format(r.servants_trained), tr);
    var cell = html("td", {}, r.coverage === null ? "—" : (r.coverage * 100).toFixed(1) + " %", tr);
    var bar = html("span", {"class": "bar"}, null, cell);
    html("span", {style: "width:" + (100 * n(r.coverage) / top).toFixed(1) + "%"}, null, bar);
  });
})();
</script>
</body>
</html>
"""

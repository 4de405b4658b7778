"""The comptroller's dashboard: one self-contained HTML page (inline CSS, JS and SVG; no network).

The figures are computed here and embedded as JSON; the page's script only draws them, so the page
works offline, from a file, and in a headless browser alike.
"""

from __future__ import annotations

import html
import json
from datetime import date, datetime
from typing import Any

from services.reporting.domain import Period, Snapshot
from services.reporting.exports import COUNTS, suppress

MONTHS = ("ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sep", "oct", "nov", "dic")


def year_to_open(snapshot: Snapshot, today: date) -> int:
    """The year the dashboard opens on: the current one once a session was delivered in it; until then
    (in January, or on a platform holding only last year's programme) the latest year that has one."""
    years = [year for year in snapshot.years_delivered() if year <= today.year]
    return years[-1] if years and today.year not in years else today.year


def dashboard_data(snapshot: Snapshot, year: int, *, as_of: datetime | None, unit: str,
                   minimum: int) -> dict[str, Any]:
    """The page's figures. The dashboard is public, so every count goes through the same small-count
    suppression as open data (``minimum``): a blanked count is None, and a coverage rate that would
    give it away (rate × headcount) is blanked with it."""
    totals = suppress([snapshot.figures(Period.year(year))[0]], minimum)[0]
    months = []
    for month in range(1, 13):
        row = suppress([snapshot.figures(Period.month(year, month))[0]], minimum)[0]
        months.append({"month": f"{year}-{month:02d}", "label": MONTHS[month - 1],
                       "servants_trained": row["servants_trained"], "sessions_delivered": row["sessions_delivered"]})
    figures = {r["government_level"]: r for r in snapshot.figures(Period.year(year), "government_level")}
    levels = suppress([{"level": level, **{m: figures[level][m] if level in figures else 0 for m in COUNTS}}
                       for level in ("state", "municipal")], minimum)
    raw_coverage = snapshot.coverage(year)
    coverage = [{**row, "coverage": None if row["servants_trained"] is None else row["coverage"]}
                for row in suppress(raw_coverage, minimum, counts=("servants_trained",))]
    trained = sum(r["servants_trained"] for r in raw_coverage)
    headcount = sum(r["headcount"] for r in raw_coverage)
    overall = None if 0 < trained < minimum else (round(trained / headcount, 4) if headcount else 0)
    return {
        "year": year, "years": sorted({*snapshot.years_delivered(), year}),
        "unit": unit, "as_of": as_of.isoformat() if as_of else None, "minimum": minimum,
        "totals": totals, "months": months,
        "levels": [{"level": r["level"], "servants_trained": r["servants_trained"],
                    "participations": r["participations"]} for r in levels],
        "coverage": coverage,
        "overall_coverage": overall,
    }


def render_dashboard(snapshot: Snapshot, year: int, *, as_of: datetime | None, unit: str, minimum: int) -> str:
    data = dashboard_data(snapshot, year, as_of=as_of, unit=unit, minimum=minimum)
    payload = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
    years = " · ".join(f"<strong>{y}</strong>" if y == year else f'<a href="?year={y}">{y}</a>'
                       for y in data["years"])
    return (PAGE.replace("{{title}}", f"Programa de integridad {year}")
            .replace("{{unit}}", html.escape(unit))
            .replace("{{years}}", years)
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
          --blue:#1f5fa8; --teal:#0f8a7e; --amber:#c77700; --red:#b42318; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--ink); background:var(--bg); }
  header { background:#12284a; color:#fff; padding:18px 32px; display:flex; justify-content:space-between; align-items:flex-end; }
  header h1 { margin:0; font-size:22px; font-weight:600; }
  header p { margin:2px 0 0; color:#c7d2e3; font-size:13px; }
  header .years a { color:#fff; } header .years strong { color:#fff; }
  header .asof { text-align:right; font-size:12px; color:#c7d2e3; }
  main { padding:24px 32px 40px; display:grid; gap:20px; grid-template-columns: 2fr 1fr; }
  section { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:18px 20px; }
  section h2 { margin:0 0 12px; font-size:15px; font-weight:600; }
  .kpis { grid-column: 1 / -1; display:grid; grid-template-columns: repeat(6, 1fr); gap:14px; padding:0; border:0; background:none; }
  .kpi { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:14px 16px; }
  .kpi .value { font-size:28px; font-weight:650; letter-spacing:-0.5px; }
  .kpi .label { color:var(--muted); font-size:12px; }
  .kpi.primary { border-top:4px solid var(--blue); } .kpi.second { border-top:4px solid var(--teal); }
  .legend { display:flex; gap:18px; color:var(--muted); font-size:12px; margin-bottom:6px; }
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
  .split-row { display:flex; align-items:center; gap:10px; margin:10px 0; }
  .split-row .name { width:90px; color:var(--muted); }
  footer { color:var(--muted); font-size:12px; padding:0 32px 24px; }
</style>
</head>
<body>
<header>
  <div><h1>{{title}}</h1><p>{{unit}}</p><p class="years" aria-label="Años con cifras">{{years}}</p></div>
  <div class="asof" id="asof"></div>
</header>
<main>
  <section class="kpis" id="kpis" aria-label="El año de un vistazo"></section>
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
  <section class="wide">
    <h2>Cobertura por institución (capacitados distintos / plantilla declarada), menor primero</h2>
    <table id="coverage"><thead><tr><th>Institución</th><th>Nivel</th><th>Plantilla</th><th>Capacitados</th><th>Cobertura</th></tr></thead><tbody></tbody></table>
  </section>
</main>
<footer>Cifras: servidores capacitados = personas distintas con al menos una sesión concluida (constancia vigente) en sesiones iniciadas en el periodo;
sesiones impartidas = iniciadas en el periodo, no canceladas, con al menos un asistente presente. Meses en la zona horaria del programa.
Como en los datos abiertos, las cifras menores al mínimo de publicación se muestran como «&lt; mínimo» para proteger a las personas.</footer>
<script id="dashboard-data" type="application/json">{{data}}</script>
<script>
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("dashboard-data").textContent);
  var NS = "http://www.w3.org/2000/svg";
  var number = new Intl.NumberFormat("es-MX");
  // A count blanked by small-count suppression arrives as null: shown as "< minimum", drawn as 0.
  var fmt = {format: function (v) { return v === null || v === undefined ? "< " + data.minimum : number.format(v); }};
  function n(v) { return v === null || v === undefined ? 0 : v; }
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
  document.getElementById("asof").textContent = data.as_of ? "Cifras al " + data.as_of.slice(0, 16).replace("T", " ")
                                                           : "Cifras al momento";
  var t = data.totals;
  var kpis = [
    ["servants_trained", "Servidores públicos capacitados", t.servants_trained, "primary"],
    ["sessions_delivered", "Sesiones impartidas", t.sessions_delivered, "second"],
    ["courses_delivered", "Cursos distintos impartidos", t.courses_delivered, ""],
    ["participations", "Participaciones concluidas", t.participations, ""],
    ["training_hours", "Horas de capacitación", t.training_hours, ""],
    ["overall_coverage", "Cobertura de la plantilla",
     data.overall_coverage === null ? "—" : (data.overall_coverage * 100).toFixed(1) + " %", ""]
  ];
  var box = document.getElementById("kpis");
  kpis.forEach(function (k) {
    var card = html("div", {"class": "kpi " + k[3], "data-figure": k[0]}, null, box);
    html("div", {"class": "value"}, typeof k[2] === "string" ? k[2] : fmt.format(k[2]), card);
    html("div", {"class": "label"}, k[1], card);
  });

  // Monthly chart: bars = servants trained (left axis), line = sessions delivered (right axis).
  var svg = document.getElementById("monthly");
  var W = 760, H = 300, L = 48, R = 40, T = 16, B = 34, plotW = W - L - R, plotH = H - T - B;
  function niceMax(v) { if (v <= 0) return 1; var p = Math.pow(10, Math.floor(Math.log10(v))); var n = v / p;
    return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * p; }
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

  // State / municipal split: a donut of distinct servants trained.
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

  // Coverage, lowest first (the order the data already has).
  var body = document.querySelector("#coverage tbody");
  var top = Math.max.apply(null, data.coverage.map(function (r) { return n(r.coverage); }).concat([0.0001]));
  data.coverage.forEach(function (r, i) {
    var tr = html("tr", {"data-institution": r.institution, "data-coverage": r.coverage,
                         "class": i < 3 ? "low" : ""}, null, body);
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

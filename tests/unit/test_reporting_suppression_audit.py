"""No public output gives a blank away: an audit as statistical offices audit a suppression pattern.

Each blank of a public output (the dashboard for every period and institution, open data in CSV and
JSON) is an unknown, at least 1 (a zero is printed as 0); every identity the output states is a linear
constraint, written here from the output's published numbers and its stated structure (independently of
the suppressor's own model; only ``SPLITS``, which dimensions partition which measure, is shared); every
printed rate bounds its numerator and denominator to its rounding. Linear programming (HiGHS through
SciPy) finds each blank's least and greatest feasible value: none may leave fewer possible values than
its label "< minimum" already allows, 1 to minimum − 1 (and no blank of hours be narrower than an hour).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections import defaultdict
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from scipy.optimize import linprog

from contracts.envelope import seal
from contracts.events import (
    DueRule, ExemptionGranted, PlanTarget, RequirementScope, TrainingPlanDeclared, TrainingRequirementDeclared,
)
from probidad.ops.programme import generate, scaled_plan
from services.reporting.dashboard import dashboard_data, render_dashboard
from services.reporting.domain.facts import MEASURES, fact_from
from services.reporting.domain.ledger import Ledger
from services.reporting.exports import open_data, to_csv, OPEN_DATA_COLUMNS
from services.reporting.suppression import ACTIVITY, SPLITS, Publication, decide

ZONE = ZoneInfo("America/Mexico_City")
MINIMUM = 5
YEAR = 2026


# --- the audit ---------------------------------------------------------------------------------------------

class Audit:
    """Unknowns (the blanks), each with its true value, and linear constraints lo ≤ Σ coef·x ≤ hi."""

    def __init__(self) -> None:
        self.truth: dict = {}
        self.counts: set = set()
        self.rows: list[tuple[dict, float, float]] = []

    def term(self, key, shown, true, *, count: bool = True) -> tuple[dict, float]:
        """A published number is a constant; a blank an unknown."""
        if shown is None:
            self.truth[key] = true
            if count and key[-1] != "training_hours":
                self.counts.add(key)
            return {key: 1.0}, 0.0
        return {}, float(shown)

    def linear(self, terms: list[tuple[dict, float, float]], lo: float, hi: float) -> None:
        """lo ≤ Σ sign·term ≤ hi."""
        coefs: dict = defaultdict(float)
        constant = 0.0
        for unknown, known, sign in terms:
            for k, c in unknown.items():
                coefs[k] += sign * c
            constant += sign * known
        if any(coefs.values()):
            self.rows.append((dict(coefs), lo - constant, hi - constant))

    def total(self, whole: tuple, parts: list[tuple], exact: bool, slack: float = 0.0) -> None:
        """whole = Σ parts (exact); otherwise the parts overlap: a reader may take the sum as an equation
        when it holds, and otherwise as the bounds that do hold (whole ≤ Σ parts, each part ≤ whole).
        ``whole`` and each part: (key, shown, true)."""
        terms = [(*self.term(*whole[:3]), -1.0), *((*self.term(*p[:3]), 1.0) for p in parts)]
        gap = sum(p[2] for p in parts) - whole[2]
        if exact or abs(gap) <= slack:
            assert abs(gap) <= slack + 1e-9, f"{whole[0]}: the output's own sum does not hold"
            self.linear(terms, -slack, slack)
            return
        if gap > 0:
            self.linear(terms, 0.0, math.inf)
        for p in parts:
            if p[2] <= whole[2]:
                self.linear([(*self.term(*p[:3]), 1.0), (*self.term(*whole[:3]), -1.0)], -math.inf, 0.0)

    def rate(self, printed: float | None, numerator: list[tuple], denominator: list[tuple], places: int) -> None:
        """A printed rate r (rounded): (r − ½ulp)·den ≤ num ≤ (r + ½ulp)·den."""
        if printed is None:
            return
        half = 0.5 * 10 ** -places + 1e-9
        num = [(*self.term(*t[:3]), t[3]) for t in numerator]
        for bound, sign in ((printed - half, 1.0), (printed + half, -1.0)):
            den = [(*self.term(*t[:3]), -bound * t[3]) for t in denominator]
            self.linear([(u, k, sign * s) for u, k, s in (*num, *den)], 0.0, math.inf)

    def ranges(self) -> dict:
        """Each blank's least and greatest feasible value, solving each group of blanks that share a
        constraint on its own (a blank no constraint names is unbounded)."""
        group = {k: k for k in self.truth}

        def root(k):
            while group[k] != k:
                k = group[k]
            return k

        for coefs, _, _ in self.rows:
            first, *rest = coefs
            for k in rest:
                group[root(k)] = root(first)
        members: dict = defaultdict(list)
        for k in self.truth:
            members[root(k)].append(k)
        rows: dict = defaultdict(list)
        for row in self.rows:
            rows[root(next(iter(row[0])))].append(row)
        out = {}
        for r, keys in members.items():
            out.update(self._ranges(sorted(keys, key=repr), rows.get(r, [])))
        return out

    def _ranges(self, keys: list, constraints: list) -> dict:
        index = {k: i for i, k in enumerate(keys)}
        a_ub, b_ub, a_eq, b_eq = [], [], [], []
        for coefs, lo, hi in constraints:
            vector = np.zeros(len(keys))
            for k, c in coefs.items():
                vector[index[k]] = c
            if hi - lo < 1e-12:
                a_eq.append(vector)
                b_eq.append(lo)
                continue
            if math.isfinite(hi):
                a_ub.append(vector)
                b_ub.append(hi)
            if math.isfinite(lo):
                a_ub.append(-vector)
                b_ub.append(-lo)
        truth = np.array([self.truth[k] for k in keys], dtype=float)
        assert all(v @ truth <= b + 1e-6 for v, b in zip(a_ub, b_ub)), "the truth breaks a stated bound"
        assert all(abs(v @ truth - b) <= 1e-6 for v, b in zip(a_eq, b_eq)), "the truth breaks a stated sum"
        bounds = [(1 if k in self.counts else 0, None) for k in keys]
        out = {}
        for k in keys:
            c = np.zeros(len(keys))
            c[index[k]] = 1
            found = []
            for sign in (1, -1):
                for presolve in (True, False):  # HiGHS's presolve can call an unbounded problem infeasible
                    result = linprog(sign * c, A_ub=np.array(a_ub) if a_ub else None, b_ub=b_ub or None,
                                     A_eq=np.array(a_eq) if a_eq else None, b_eq=b_eq or None, bounds=bounds,
                                     method="highs", options={"presolve": presolve})
                    if result.status != 2:
                        break
                assert result.status in (0, 3), result.message
                found.append(sign * result.fun if result.status == 0 else math.inf)
            out[k] = tuple(found)
        return out

    def leaks(self, minimum: int) -> dict:
        """Blanks whose feasible range holds fewer whole numbers than "< minimum" allows (minimum − 1), or
        (hours) is narrower than an hour."""
        def values(lo: float, hi: float) -> float:
            return math.inf if math.isinf(hi) else math.floor(hi + 1e-6) - math.ceil(lo - 1e-6) + 1

        return {k: (lo, hi) for k, (lo, hi) in self.ranges().items()
                if (values(lo, hi) < minimum - 1 if k in self.counts else hi - lo < 1.0)}


def exact(measure: str, dimension: str) -> bool:
    return dimension in SPLITS[measure]


# --- a realistic programme with requirements, exemptions and a plan ----------------------------------------

def at(day: date) -> datetime:
    return datetime.combine(day, time(12), ZONE).astimezone(UTC)


def oversight(programme) -> list:
    """Two requirements of the programme's courses, a few exemptions (a small count), an annual plan."""
    courses = sorted({e.event.course_id for e in programme.envelopes if e.event.type.endswith("course.published.v1")})
    servants = sorted({e.event.servant_id for e in programme.envelopes
                       if e.event.type.endswith("servant.registered.v1")})
    institutions = sorted(programme.institutions)
    declared = datetime(2025, 12, 20, tzinfo=UTC)
    events = [
        TrainingRequirementDeclared(requirement_id="req-etica", version=1, effective_from=date(2026, 1, 1),
                                    title="Código de Ética", course_id=courses[0], scope=RequirementScope(),
                                    due=DueRule(kind="yearly_by", month=6, day=30), declared_at=declared,
                                    declared_by="comptroller:ana"),
        TrainingRequirementDeclared(requirement_id="req-conflicto", version=1, effective_from=date(2026, 1, 1),
                                    title="Conflicto de Interés", course_id=courses[1],
                                    scope=RequirementScope(government_level="state"),
                                    due=DueRule(kind="within_days_of_joining", days=120), declared_at=declared,
                                    declared_by="comptroller:ana"),
    ]
    events += [ExemptionGranted(exemption_id=f"ex-{n}", requirement_id="req-etica", servant_id=servant,
                                reason="licencia médica", effective_from=date(2026, 2, 1), granted_by="comptroller:ana",
                                granted_at=declared)
               for n, servant in enumerate(servants[5:8])]
    topics = sorted({e.event.topic for e in programme.envelopes if e.event.type.endswith("course.published.v1")})
    events.append(TrainingPlanDeclared(
        plan_id="pl-2026", year=YEAR, version=1, declared_at=declared, declared_by="comptroller:ana",
        targets=[PlanTarget(month=m, institution_id=institutions[(m * 3 + k) % len(institutions)],
                            topic=topics[(m + k) % len(topics)], sessions=2, people=15, hours=30)
                 for m in range(1, 13) for k in range(3)]))
    return [seal(e, time=at(date(2025, 12, 20))) for e in events]


@pytest.fixture(scope="module")
def programme():
    return generate(scaled_plan(0.3))


@pytest.fixture(scope="module")
def snapshot(programme):
    ledger = Ledger()
    ledger.apply_all(f for e in [*programme.envelopes, *oversight(programme)] if (f := fact_from(e)))
    return ledger.snapshot(ZONE)


# --- the dashboard -------------------------------------------------------------------------------------------

def embedded(page: str) -> dict:
    """The figures a reader of the page has: the JSON it embeds."""
    found = re.search(r'<script id="dashboard-data" type="application/json">(.*?)</script>', page, re.S)
    return json.loads(found.group(1).replace("<\\/", "</"))


def page_audit(shown: dict, true: dict) -> Audit:
    """The page's identities, as its panels and footer state them."""
    audit = Audit()
    period, month = shown["selection"]["period"], shown["selection"]["month"]
    institution = shown["selection"]["institution"]

    def cell(key: tuple, row_shown: dict, row_true: dict, name: str) -> tuple:
        return ((*key, name), row_shown[name], row_true[name])

    def hours(key: tuple, row_shown: dict, row_true: dict) -> tuple:
        return ((*key, "training_hours"), row_shown["training_hours"], row_true["training_hours"])

    t_shown, t_true = shown["totals"], true["totals"]
    for name in ("servants_trained", "sessions_delivered", "courses_delivered", "participations",
                 "certificates_issued", "certificates_revoked"):
        audit.term(("totals", name), t_shown[name], t_true[name])
    audit.term(("totals", "training_hours"), t_shown["training_hours"], t_true["training_hours"], count=False)
    totals = {name: cell(("totals",), t_shown, t_true, name) for name in t_true if name in MEASURES}

    # The months chart: the period is the months it covers.
    covered = [i for i in range(12) if period == "year" or (period == "ytd" and i < month)
               or (period == "month" and i == month - 1)]
    for name in ("servants_trained", "sessions_delivered"):
        parts = [cell(("months", i), shown["months"][i], true["months"][i], name) for i in covered]
        audit.total(totals[name], parts, exact(name, "month") or len(covered) == 1)
    # State and municipal; topic, modality and sex.
    levels_true = {r["level"]: r for r in true["levels"]}
    for name in ("servants_trained", "participations"):
        audit.total(totals[name], [cell(("levels", r["level"]), r, levels_true[r["level"]], name)
                                   for r in shown["levels"]], exact(name, "government_level"))
    for by, rows in shown["breakdowns"].items():
        rows_true = {r["category"]: r for r in true["breakdowns"][by]}
        for name in ("servants_trained", "participations", "sessions_delivered"):
            audit.total(totals[name], [cell(("breakdown", by, r["category"]), r, rows_true[r["category"]], name)
                                       for r in rows], exact(name, by))
    # Coverage of the year: trained / headcount, printed to 0.1 %; the year's trained add up.
    coverage_true = {r["institution"]: r for r in true["coverage"]}
    trained = {r["institution"]: cell(("coverage", r["institution"]), r, coverage_true[r["institution"]],
                                      "servants_trained") for r in shown["coverage"]}
    for r in shown["coverage"]:
        audit.rate(r["coverage"], [(*trained[r["institution"]], 1.0)], [(None, r["headcount"], r["headcount"], 1.0)], 3)
    counted = [r for r in shown["coverage"] if institution is None or r["institution"] == institution]
    audit.rate(shown["overall_coverage"], [(*trained[r["institution"]], 1.0) for r in counted],
               [(None, r["headcount"], r["headcount"], 1.0) for r in counted], 3)
    if period == "year":
        audit.total(totals["servants_trained"], [trained[r["institution"]] for r in counted], False)
        if institution is None:
            for level in shown["levels"]:
                audit.total(cell(("levels", level["level"]), level, levels_true[level["level"]], "servants_trained"),
                            [trained[r["institution"]] for r in counted if r["government_level"] == level["level"]],
                            False)
    # Compliance: required = compliant + due + overdue + exempt; a requirement's row = its institutions'.
    compliance, compliance_true = shown["compliance"], true["compliance"]
    states = ("compliant", "due", "overdue", "exempt")

    def compliance_row(key: tuple, r: dict, r_true: dict) -> None:
        audit.total(cell(key, r, r_true, "required"), [cell(key, r, r_true, s) for s in states], True)
        audit.rate(r["rate"], [(*cell(key, r, r_true, "compliant"), 1.0)],
                   [(*cell(key, r, r_true, "required"), 1.0), (*cell(key, r, r_true, "exempt"), -1.0)], 3)

    requirements_true = {r["requirement_id"]: r for r in compliance_true["requirements"]}
    for r in compliance["requirements"]:
        rid = r["requirement_id"]
        compliance_row(("req", rid), r, requirements_true[rid])
        rows_true = {x["institution"]: x for x in compliance_true["by_institution"].get(rid, [])}
        rows = compliance["by_institution"].get(rid, [])
        for x in rows:
            compliance_row(("req", rid, x["institution"]), x, rows_true[x["institution"]])
        for name in ("required", *states):
            audit.total(cell(("req", rid), r, requirements_true[rid], name),
                        [cell(("req", rid, x["institution"]), x, rows_true[x["institution"]], name)
                         for x in rows], True)
    # The plan: its rows add up to its total; with delivery outside it, to the period (year to date, year).
    plan, plan_true = shown["plan"], true["plan"]
    rows_true = {(r["institution"], r["topic"]): r for r in plan_true["rows"]}
    keyed = [(("plan", r["institution"], r["topic"]), r, rows_true[(r["institution"], r["topic"])])
             for r in plan["rows"]]
    wholes = [(("plan", "total"), plan["total"], plan_true["total"])]
    if "outside_plan" in plan:
        wholes.append((("plan", "outside"), plan["outside_plan"], plan_true["outside_plan"]))
    for key, r, r_true in [*keyed, *wholes]:
        audit.term((*key, "training_hours"), r["training_hours"], r_true["training_hours"], count=False)
        for rate, actual, planned in (("sessions_attainment", "sessions_delivered", "planned_sessions"),
                                      ("people_attainment", "servants_trained", "planned_people"),
                                      ("hours_attainment", "training_hours", "planned_hours")):
            if r.get(planned):
                audit.rate(r[rate], [(*cell(key, r, r_true, actual), 1.0)], [(None, r[planned], r[planned], 1.0)], 3)
    for name in ("sessions_delivered", "servants_trained", "training_hours"):
        slack = 0.005 * (len(keyed) + 1) if name == "training_hours" else 0.0
        audit.total(cell(*wholes[0], name), [cell(*k, name) for k in keyed], exact(name, "institution"), slack)
        if period in ("ytd", "year"):
            audit.total(totals[name], [cell(*w, name) for w in wholes], name == "training_hours",
                        0.005 * 3 if name == "training_hours" else 0.0)
    return audit


PAGES = [(period, month) for period in ("month", "ytd") for month in range(1, 13)] + [("year", 12)]
# One institution's pages: the year, and a month and January to a month early, mid and late in the year.
INSTITUTION_PAGES = [("year", 12), ("month", 3), ("ytd", 5), ("month", 8), ("ytd", 11)]


def test_the_audit_finds_a_blank_a_compliance_row_gives_away():
    # The demo's page before: "4,116 obligados: 372 cumplen · 77 pendientes · 3,664 vencidos · < 5 exentos".
    audit = Audit()
    row = {"required": 4116, "compliant": 372, "due": 77, "overdue": 3664, "exempt": None}
    audit.total((("required",), row["required"], 4116),
                [((s,), row[s], v) for s, v in (("compliant", 372), ("due", 77), ("overdue", 3664), ("exempt", 3))],
                True)
    assert audit.leaks(MINIMUM) == {("exempt",): pytest.approx((3, 3))}


def test_a_headline_rate_is_printed_when_it_gives_nothing_away_though_the_exempt_count_is_blanked():
    pub = Publication()
    for name, value in (("required", 4116), ("compliant", 372), ("due", 77), ("overdue", 3664), ("exempt", 3)):
        pub.cell(name, value)
    pub.total("required", ["compliant", "due", "overdue", "exempt"])
    pub.rate("rate", [("compliant", 1.0)], [("required", 1.0), ("exempt", -1.0)])
    decision = decide(pub, MINIMUM)
    assert decision.blanks == {"exempt", "due"}
    assert decision.rates["rate"] == 0.09, "372 / 4,113 printed as 9.0 %"
    assert not decision.exposed


def test_a_rate_that_would_pin_a_blank_is_not_printed():
    pub = Publication()
    for name, value in (("required", 40), ("compliant", 30), ("due", 6), ("overdue", 2), ("exempt", 2)):
        pub.cell(name, value)
    pub.total("required", ["compliant", "due", "overdue", "exempt"])
    pub.rate("rate", [("compliant", 1.0)], [("required", 1.0), ("exempt", -1.0)])
    decision = decide(pub, MINIMUM)
    # 30 / (40 − exempt) to 0.1 % is 78.9 % for exactly one exempt count.
    assert "exempt" in decision.blanks and decision.rates["rate"] is None


@pytest.mark.parametrize("institution_index", [None, *range(20)], ids=lambda i: f"institution-{i}")
def test_no_dashboard_page_gives_a_blank_away(snapshot, institution_index):
    """All institutions: every period of the year; each institution: the year and months through it."""
    institutions = [None] if institution_index is None else [sorted(snapshot.institutions)[institution_index]]
    pages = PAGES if institution_index is None else INSTITUTION_PAGES
    audited = blanks = 0
    for institution in institutions:
        for period, month in pages:
            page = render_dashboard(snapshot, YEAR, as_of=None, unit="Contraloría", minimum=MINIMUM, period=period,
                                    month=month, institution=institution, today=date(2027, 1, 15))
            shown = embedded(page)
            true = dashboard_data(snapshot, YEAR, as_of=None, unit="Contraloría", minimum=1, period=period,
                                  month=month, institution=institution, today=date(2027, 1, 15))
            audit = page_audit(shown, true)
            assert not audit.leaks(MINIMUM), (period, month, institution)
            assert not [k for k in audit.truth if k[-1] in ACTIVITY], "sessions and courses are printed, never unknowns"
            audited += 1
            blanks += len(audit.truth)
    assert audited == len(pages)
    if institution_index is None:
        assert blanks > 0, "the programme has small counts to blank"


def test_the_dashboard_blanks_every_small_count(snapshot):
    shown = dashboard_data(snapshot, YEAR, as_of=None, unit="", minimum=MINIMUM, period="month", month=3)
    numbers = [v for row in (shown["totals"], *shown["months"], *shown["levels"], *shown["coverage"],
                             *(r for rows in shown["breakdowns"].values() for r in rows),
                             *shown["compliance"]["requirements"])
               for k, v in row.items()
               if isinstance(v, int) and k not in ("year", "headcount", "headcount_year", "month")
               and k not in ACTIVITY]
    assert numbers and not [v for v in numbers if 0 < v < MINIMUM]


def test_sessions_and_courses_delivered_are_printed_on_every_page_however_few(snapshot):
    """The threshold protects people: the programme's own activity identifies no one and is never blanked."""
    small = 0
    for period, month in PAGES:
        shown = dashboard_data(snapshot, YEAR, as_of=None, unit="", minimum=MINIMUM, period=period, month=month,
                               today=date(2027, 1, 15))
        true = dashboard_data(snapshot, YEAR, as_of=None, unit="", minimum=1, period=period, month=month,
                              today=date(2027, 1, 15))
        pairs = [(shown["totals"], true["totals"]), *zip(shown["months"], true["months"]),
                 *((r, next(t for t in true["breakdowns"][by] if t["category"] == r["category"]))
                   for by, rows in shown["breakdowns"].items() for r in rows),
                 (shown["plan"]["total"], true["plan"]["total"]),
                 *((r, next(t for t in true["plan"]["rows"] if (t["institution"], t["topic"]) ==
                            (r["institution"], r["topic"]))) for r in shown["plan"]["rows"])]
        for row, row_true in pairs:
            for name in ACTIVITY & row.keys():
                assert row[name] == row_true[name], (period, month, name)
                small += 0 < row[name] < MINIMUM
    assert small > 0, "the programme has small session counts, printed"


# --- open data -----------------------------------------------------------------------------------------------

def open_data_audit(rows: list[dict], true_rows: list[dict], levels: dict[str, str]) -> Audit:
    """A month's dimensions each add up to its total; a level's row to its institutions'."""
    audit = Audit()
    truth = {(r["period"], r["dimension"], r["category"]): r for r in true_rows}
    by_month: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        by_month[r["period"]][r["dimension"]].append(r)

    def cell(r: dict, measure: str) -> tuple:
        key = (r["period"], r["dimension"], r["category"])
        return ((*key, measure), r[measure], truth[key][measure])

    for r in rows:
        for measure in MEASURES:
            audit.term(cell(r, measure)[0], r[measure], cell(r, measure)[2], count=measure != "training_hours")
    for period, dimensions in by_month.items():
        [total] = dimensions.get("total", [None])
        for dimension, table in dimensions.items():
            if dimension == "total" or total is None:
                continue
            for measure in MEASURES:
                slack = 0.005 * (len(table) + 1) if measure == "training_hours" else 0.0
                audit.total(cell(total, measure), [cell(r, measure) for r in table], exact(measure, dimension), slack)
        for level in dimensions.get("government_level", []):
            members = [r for r in dimensions.get("institution", []) if levels[r["category"]] == level["category"]]
            for measure in MEASURES:
                slack = 0.005 * (len(members) + 1) if measure == "training_hours" else 0.0
                audit.total(cell(level, measure), [cell(r, measure) for r in members],
                            exact(measure, "institution"), slack)
    return audit


def parsed_csv(text: str) -> list[dict]:
    out = []
    for row in csv.DictReader(io.StringIO(text)):
        out.append({k: (None if v == "" else float(v)) if k in MEASURES else v for k, v in row.items()})
    return out


def test_open_data_in_json_and_csv_gives_no_blank_away(snapshot):
    levels = {f.attributes["name"]: f.attributes["government_level"] for f in snapshot.institutions.values()}
    shown = open_data(snapshot, YEAR, unit="Contraloría", updated_on=date(2027, 1, 15), minimum=MINIMUM)
    true = open_data(snapshot, YEAR, unit="Contraloría", updated_on=date(2027, 1, 15), minimum=1)
    as_json = json.loads(json.dumps(shown))
    as_csv = parsed_csv(to_csv(shown, OPEN_DATA_COLUMNS))
    for rows in (as_json, as_csv):
        audit = open_data_audit(rows, true, levels)
        assert len(audit.truth) > 0
        assert not audit.leaks(MINIMUM)
        assert not [r for r in rows for m in MEASURES
                    if m != "training_hours" and m not in ACTIVITY and r[m] and 0 < r[m] < MINIMUM]
        assert not [r for r in rows for m in ACTIVITY & r.keys() if r[m] is None], "sessions and courses printed"


def test_the_tables_every_page_prints_alike_are_blanked_alike(snapshot):
    """The coverage table (every page of the year), an institution's monthly chart (every page of it) and
    compliance on a date (every page of that date, an institution's page its own rows) show the same
    blanks wherever they appear: one page cannot publish what another blanks."""
    first = sorted(snapshot.institutions)[:6]
    pages = {(institution, period, month): embedded(render_dashboard(
                 snapshot, YEAR, as_of=None, unit="", minimum=MINIMUM, period=period, month=month,
                 institution=institution, today=date(2027, 1, 15)))
             for institution in (None, *first) for period, month in (("year", 12), ("month", 4), ("ytd", 4),
                                                                      ("month", 9), ("ytd", 9))}
    coverage = {json.dumps(page["coverage"], sort_keys=True) for page in pages.values()}
    assert len(coverage) == 1 and "null" in next(iter(coverage)), "one coverage table, with blanks"
    for institution in (None, *first):
        charts = {json.dumps(page["months"]) for (i, _, _), page in pages.items() if i == institution}
        assert len(charts) == 1, institution
    for (institution, period, month), page in pages.items():
        everyone = pages[(None, period, month)]["compliance"]
        if institution is None:  # a month's page and January to that month: the same date
            if period != "year":
                assert page["compliance"] == pages[(None, "month" if period == "ytd" else "ytd", month)]["compliance"]
            continue
        for row in page["compliance"]["requirements"]:
            theirs = next(x for x in everyone["by_institution"][row["requirement_id"]]
                          if x["institution"] == institution)
            assert {k: row[k] for k in ("required", "compliant", "due", "overdue", "exempt", "rate")} == \
                {k: theirs[k] for k in ("required", "compliant", "due", "overdue", "exempt", "rate")}


# --- the bulletin ------------------------------------------------------------------------------------------

def test_the_bulletin_prints_every_count_of_people_as_the_dashboard_page_it_links_to(snapshot):
    """The bulletin is public and links each number to a dashboard panel: with it, the page is one output.
    Every count of people it prints is that page's own number (the page passes the audit above), a blank
    withheld in words; what the page does not show (the plan's month) is withheld when small."""
    from services.reporting import bulletin

    today = date(2027, 1, 15)
    withheld = 0
    for month in range(1, 13):
        figures = bulletin.bulletin_figures(snapshot, YEAR, month, today=today)
        shown = bulletin.shown_figures(snapshot, figures, minimum=MINIMUM, unit="", today=today)
        month_page, ytd_page = (dashboard_data(snapshot, YEAR, as_of=None, unit="", minimum=MINIMUM, period=period,
                                               month=month, today=today) for period in ("month", "ytd"))
        m, ytd = shown["month_figures"], shown["year_to_date"]
        modality = {r["category"]: r["servants_trained"] for r in month_page["breakdowns"]["modality"]}
        topics = {r["category"]: r["servants_trained"] for r in ytd_page["breakdowns"]["topic"]}
        panels = {r["requirement_id"]: r for r in month_page["compliance"]["requirements"]}
        plan_total = ytd_page["plan"]["total"]
        pairs = [(m["servants_trained"], month_page["totals"]["servants_trained"]),
                 (m["participations"], month_page["totals"]["participations"]),
                 *((m["by_government_level"][r["level"]], r["servants_trained"]) for r in month_page["levels"]),
                 *((m["by_modality"][k], modality.get(k, 0)) for k in ("virtual", "hybrid")),
                 (ytd["servants_trained"], ytd_page["totals"]["servants_trained"]),
                 *((ytd["by_government_level"][r["level"]], r["servants_trained"]) for r in ytd_page["levels"]),
                 *((t["servants_trained"], topics[t["topic"]]) for t in ytd["topics"]),
                 (shown["plan"]["year_to_date"]["servants_trained"], plan_total["servants_trained"]),
                 (shown["plan"]["year_to_date"]["people_attainment"], plan_total["people_attainment"]),
                 *((r[k], panels[r["requirement_id"]][k]) for r in shown.get("compliance", {}).get("requirements", [])
                   for k in ("required", "compliant", "due", "overdue", "exempt", "rate"))]
        for printed, on_page in pairs:
            assert printed == on_page or (printed is bulletin.WITHHELD and on_page is None), (month, printed, on_page)
            withheld += printed is bulletin.WITHHELD
        # The programme's activity as it is, on the page and in the bulletin.
        assert (m["sessions_delivered"], m["courses_delivered"]) == (
            month_page["totals"]["sessions_delivered"], month_page["totals"]["courses_delivered"]) == (
            figures["month_figures"]["sessions_delivered"], figures["month_figures"]["courses_delivered"])
        plan_month = shown["plan"]["month"]["servants_trained"]
        assert plan_month is bulletin.WITHHELD or not 0 < plan_month < MINIMUM
    assert withheld > 0, "the programme's small exempt count is withheld"

"""The public dashboard's suppression: one page (a year, a period, one institution or all) as a
``suppression.Publication`` — every number its embedded figures hold and every identity its reader can
see between them — then blanked as ``suppression.decide`` says. Pure: no I/O.

The identities of a page: the period's totals are the sum of the months shown (year to date and the
year: the months so far; a month: its own column); of the state and municipal levels; of each topic,
modality and sex; and, for the year, of the coverage table's institutions (and each level of its own).
A compliance row's required are its compliant, due, overdue and exempt; a requirement's row is the sum
of its institutions' rows. The plan's total is the sum of its rows; with the delivery outside the plan,
it is the period's totals (year to date and the year). Exact where the dimension partitions the
measure (``suppression.SPLITS``), a bound otherwise. Rates — coverage (trained / headcount), the
overall coverage, compliance (compliant / (required − exempt)), attainment (actual / planned) — are
printed to 0.1 % unless they would narrow a blank.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from services.reporting.suppression import (
    COMPLIANCE_PARTS, RATE_PLACES, Decision, Key, Publication, decide, exact, protected,
)

COMPLIANCE_COUNTS = ("required", *COMPLIANCE_PARTS)
PLAN_ACTUALS = ("sessions_delivered", "servants_trained")
PLAN_RATES = (("sessions_attainment", "sessions_delivered", "planned_sessions"),
              ("people_attainment", "servants_trained", "planned_people"),
              ("hours_attainment", "training_hours", "planned_hours"))
TOTAL_COUNTS = ("sessions_delivered", "courses_delivered", "servants_trained", "participations",
                "certificates_issued", "certificates_revoked")


def _counts(pub: Publication, prefix: tuple, row: dict[str, Any], names: tuple[str, ...]) -> None:
    for name in names:
        if name in row and row[name] is not None:
            pub.cell((*prefix, name), row[name], count=protected(name))


def _hours(pub: Publication, prefix: tuple, row: dict[str, Any], leader: str) -> None:
    """Hours are no count of people, but blanked with the count they would give away."""
    if row.get("training_hours") is not None:
        pub.cell((*prefix, "training_hours"), row["training_hours"], count=False)
        pub.follows[(*prefix, "training_hours")] = (*prefix, leader)


def _period(pub: Publication, prefix: tuple, totals: dict[str, Any], levels: list[dict[str, Any]],
            breakdowns: dict[str, list[dict[str, Any]]]) -> None:
    """A period's totals, its state and municipal split and its topics, modalities and sexes, each
    adding up to the totals (``prefix``: () on the page, ("m", i) for month i in the chart's publication)."""
    _counts(pub, (*prefix, "totals"), totals, TOTAL_COUNTS)
    _hours(pub, (*prefix, "totals"), totals, "participations")
    for row in levels:
        _counts(pub, (*prefix, "levels", row["level"]), row, ("servants_trained", "participations"))
    for measure in ("servants_trained", "participations"):
        pub.total((*prefix, "totals", measure), [(*prefix, "levels", r["level"], measure) for r in levels],
                  exact(measure, "government_level"))
    for by, rows in breakdowns.items():
        for row in rows:
            _counts(pub, (*prefix, "breakdown", by, row["category"]), row,
                    ("servants_trained", "participations", "sessions_delivered"))
        for measure in ("servants_trained", "participations", "sessions_delivered"):
            pub.total((*prefix, "totals", measure), [(*prefix, "breakdown", by, r["category"], measure) for r in rows],
                      exact(measure, by))


def page_publication(data: dict[str, Any]) -> Publication:
    """The page's figures (``dashboard.dashboard_data`` before suppression) and their identities."""
    pub = Publication()
    chosen = data["selection"]
    period, month, institution = chosen["period"], chosen["month"], chosen["institution"]
    _period(pub, (), data["totals"], data["levels"], data["breakdowns"])

    # The monthly chart: the period's totals are the months it covers.
    covered = [i for i, _ in enumerate(data["months"])
               if period == "year" or (period == "ytd" and i < month) or (period == "month" and i == month - 1)]
    for i, row in enumerate(data["months"]):
        _counts(pub, ("months", i), row, ("servants_trained", "sessions_delivered"))
    for measure in ("servants_trained", "sessions_delivered"):
        pub.total(("totals", measure), [("months", i, measure) for i in covered],
                  exact(measure, "month") or len(covered) == 1)

    # Coverage of the year, per institution; the overall coverage.
    for row in data["coverage"]:
        key = ("coverage", row["institution"])
        pub.cell((*key, "servants_trained"), row["servants_trained"])
        pub.cell((*key, "headcount"), row["headcount"], count=False)
        pub.rate(key, [((*key, "servants_trained"), 1.0)], [((*key, "headcount"), 1.0)])
    counted = [r for r in data["coverage"] if institution is None or r["institution"] == institution]
    pub.rate(("overall_coverage",), [(("coverage", r["institution"], "servants_trained"), 1.0) for r in counted],
             [(("coverage", r["institution"], "headcount"), 1.0) for r in counted])
    if period == "year":
        pub.total(("totals", "servants_trained"), [("coverage", r["institution"], "servants_trained") for r in counted],
                  exact("servants_trained", "institution"))
        if institution is None:
            for level in data["levels"]:
                pub.total(("levels", level["level"], "servants_trained"),
                          [("coverage", r["institution"], "servants_trained") for r in counted
                           if r["government_level"] == level["level"]], exact("servants_trained", "institution"))

    # Compliance with each requirement.
    _compliance_table(pub, data["compliance"])

    # The plan against what was delivered.
    plan = data.get("plan")
    if plan:
        wholes = []
        for name, row in (("total", plan.get("total")), ("outside", plan.get("outside_plan"))):
            if row:
                _plan_row(pub, ("plan", name), row)
                wholes.append(("plan", name))
        for row in plan.get("rows", []):
            _plan_row(pub, ("plan", row["institution"], row["topic"]), row)
        keys = [("plan", r["institution"], r["topic"]) for r in plan.get("rows", [])]
        for measure in (*PLAN_ACTUALS, "training_hours"):
            pub.total(("plan", "total", measure), [(*k, measure) for k in keys], exact(measure, "institution"))
            if period in ("ytd", "year"):
                pub.total(("totals", measure), [(*k, measure) for k in wholes], measure == "training_hours")
    return pub


def _compliance_row(pub: Publication, key: tuple, row: dict[str, Any]) -> None:
    _counts(pub, key, row, COMPLIANCE_COUNTS)
    pub.total((*key, "required"), [(*key, name) for name in COMPLIANCE_PARTS])
    pub.rate((*key, "rate"), [((*key, "compliant"), 1.0)], [((*key, "required"), 1.0), ((*key, "exempt"), -1.0)])


def _plan_row(pub: Publication, key: tuple, row: dict[str, Any]) -> None:
    _counts(pub, key, row, PLAN_ACTUALS)
    _hours(pub, key, row, "servants_trained")
    for rate, actual, planned in PLAN_RATES:
        if rate in row and row.get(planned):
            pub.cell((*key, planned), row[planned], count=False)
            pub.rate((*key, rate), [((*key, actual), 1.0)], [((*key, planned), 1.0)])


def coverage_publication(coverage: list[dict[str, Any]], year: dict[str, int]) -> Publication:
    """The coverage table, printed alike on every page of the year, with what it adds up to: the year's
    servants trained (``year``: "all" and each level), as the year's page prints them."""
    pub = Publication()
    for row in coverage:
        key = ("coverage", row["institution"])
        pub.cell((*key, "servants_trained"), row["servants_trained"])
        pub.cell((*key, "headcount"), row["headcount"], count=False)
        pub.rate(key, [((*key, "servants_trained"), 1.0)], [((*key, "headcount"), 1.0)])
    pub.rate(("overall_coverage", "all"), [(("coverage", r["institution"], "servants_trained"), 1.0) for r in coverage],
             [(("coverage", r["institution"], "headcount"), 1.0) for r in coverage])
    distinct = exact("servants_trained", "institution")
    for who, value in year.items():
        pub.cell(("year", who, "servants_trained"), value)
        members = [r for r in coverage if who == "all" or r["government_level"] == who]
        pub.total(("year", who, "servants_trained"), [("coverage", r["institution"], "servants_trained")
                                                      for r in members], distinct)
    pub.total(("year", "all", "servants_trained"), [("year", w, "servants_trained") for w in year if w != "all"],
              exact("servants_trained", "government_level"))
    return pub


def chart_publication(months: list[dict[str, Any]], who: str, year: dict[str, int],
                      monthly: list[dict[str, Any]]) -> Publication:
    """The monthly chart, printed alike on every page of one institution (or all) and year, with the
    year's totals it adds up to (``year``; one institution's year is its coverage row) and each month's
    own page (``monthly``: its totals, levels and breakdowns), whose totals are the chart's column."""
    pub = Publication()
    for i, row in enumerate(months):
        _counts(pub, ("months", i), row, ("servants_trained", "sessions_delivered"))
    for i, page in enumerate(monthly):
        _period(pub, ("m", i), page["totals"], page["levels"], page["breakdowns"])
        for measure in ("servants_trained", "sessions_delivered"):
            pub.total(("months", i, measure), [("m", i, "totals", measure)])
    for measure, value in year.items():
        pub.cell(("year", who, measure), value, count=protected(measure))
        pub.total(("year", who, measure), [("months", i, measure) for i in range(len(months))], exact(measure, "month"))
    if who != "all":
        pub.cell(("coverage", who, "servants_trained"), year["servants_trained"])
        pub.total(("year", who, "servants_trained"), [("coverage", who, "servants_trained")])
    return pub


def compliance_publication(compliance: dict[str, Any]) -> Publication:
    """Compliance on a date for all institutions, printed alike on every page of that date (an
    institution's page prints its own rows of it)."""
    pub = Publication()
    _compliance_table(pub, compliance)
    return pub


def _compliance_table(pub: Publication, compliance: dict[str, Any]) -> None:
    """Each requirement's row and its institutions' rows, which add up to it state by state."""
    for row in compliance["requirements"]:
        rid = row["requirement_id"]
        _compliance_row(pub, ("requirement", rid), row)
        rows = compliance["by_institution"].get(rid, [])
        for x in rows:
            _compliance_row(pub, ("requirement", rid, x["institution"]), x)
        for name in COMPLIANCE_COUNTS:
            pub.total(("requirement", rid, name), [("requirement", rid, x["institution"], name) for x in rows])


_DECIDED: OrderedDict[tuple, Any] = OrderedDict()  # the tables several pages print alike, as decided last


def _decided(pub: Publication, minimum: int, settled: dict[Key, bool] | None = None) -> Decision:
    """``decide``, remembered for the same numbers: every page of a year decides the same coverage
    table, chart and compliance tables, and the decision depends on nothing else."""
    key = (minimum, tuple(sorted(((repr(k), v) for k, v in pub.values.items()))),
           tuple(sorted((repr(k), v) for k, v in (settled or {}).items())), len(pub.sums), len(pub.ratios))
    if key in _DECIDED:
        _DECIDED.move_to_end(key)
        return _DECIDED[key]
    decision = _DECIDED[key] = decide(pub, minimum, settled)
    while len(_DECIDED) > 256:
        _DECIDED.popitem(last=False)
    return decision


def _settle(pub: Publication, decision: Decision, settled: dict[Key, bool], rates: dict[Key, float | None],
            keep: Callable[[Key], bool] = lambda key: True) -> None:
    settled.update({k: k in decision.blanks for k in pub.values if keep(k)})
    rates.update({k: v for k, v in decision.rates.items() if keep(k)})


def protect(data: dict[str, Any], minimum: int, shared: dict[str, Any] | None = None) -> dict[str, Any]:
    """The page with its blanks (None) and its rates as printed; rows ordered by what is printed, so
    that no blank's place in a ranking gives it away.

    The tables every page of a year prints alike — the coverage table, the monthly chart of one
    institution (or all), the compliance tables of a date — are decided first, each on its own with
    what it adds up to (``shared``: the year's servants trained, all and per level; the year's totals of
    the page's institution; compliance of all institutions), so that every page blanks them alike; the
    page then adds what its own identities need among its other numbers."""
    chosen = data["selection"]
    institution, period = chosen["institution"], chosen["period"]
    settled: dict = {}
    settled_rates: dict = {}
    pub = page_publication(data)
    if shared is not None and minimum > 1:
        covered = coverage_publication(data["coverage"], shared["year_levels"])
        _settle(covered, _decided(covered, minimum), settled, settled_rates)
        who = institution or "all"
        # Its year's servants trained are its coverage row (an institution unknown has none: nothing to share).
        if institution is not None and ("coverage", who, "servants_trained") in settled:
            settled[("year", who, "servants_trained")] = settled[("coverage", who, "servants_trained")]
        chart = chart_publication(data["months"], who, shared["year_totals"], shared["monthly"])
        chart_settled: dict = {}
        _settle(chart, _decided(chart, minimum, {k: v for k, v in settled.items() if k in chart.values}),
                chart_settled, settled_rates)
        # A count the chart had to blank though the coverage table printed it (its last resort): the
        # rates made of it are decided again on the page.
        overridden = {k for k, blank in chart_settled.items() if blank and settled.get(k) is False}
        settled.update(chart_settled)
        if period == "month":  # the month's own page is the chart's: its panels as decided there
            index = chosen["month"] - 1
            settled.update({key[2:]: blank for key, blank in chart_settled.items() if key[:2] == ("m", index)})
        compliance = compliance_publication(shared["compliance"])
        # An institution's page prints its own rows of compliance: those are settled, not the totals.
        _settle(compliance, _decided(compliance, minimum), settled, settled_rates,
                keep=lambda k: institution is None or (len(k) > 2 and k[2] == institution))
        # What the page prints that the other pages decided: the year's totals, the levels' and the
        # overall coverage are the same numbers there.
        for key, value in ((("year", who, m), v) for m, v in shared["year_totals"].items()):
            pub.cell(key, value, count=protected(key[2]))
            if period == "year":
                pub.total(("totals", key[2]), [key])
                settled[("totals", key[2])] = settled[key]
        if institution is None:
            for level, value in shared["year_levels"].items():
                pub.cell(("year", level, "servants_trained"), value)
                if period == "year" and level != "all":
                    pub.total(("levels", level, "servants_trained"), [("year", level, "servants_trained")])
                    settled[("levels", level, "servants_trained")] = settled[("year", level, "servants_trained")]
            settled_rates[("overall_coverage",)] = settled_rates[("overall_coverage", "all")]
        else:
            pub.total(("year", who, "servants_trained"), [("coverage", who, "servants_trained")])
            settled_rates[("overall_coverage",)] = settled_rates.get(("coverage", institution))
            for row in shared["compliance"]["requirements"]:
                key = ("requirement", row["requirement_id"], institution, "rate")
                if key in settled_rates:
                    settled_rates[("requirement", row["requirement_id"], "rate")] = settled_rates[key]
    ratios = {r.key for r in pub.ratios}
    if shared is not None and minimum > 1:
        for r in pub.ratios:
            if any(k in overridden for k, _ in (*r.numerator, *r.denominator)):
                settled_rates.pop(r.key, None)
    decision = decide(pub, minimum, {k: v for k, v in settled.items() if k in pub.values},
                      {k: v for k, v in settled_rates.items() if k in ratios})
    blank, rates = decision.blanks, decision.rates

    def apply(prefix: tuple, row: dict[str, Any]) -> dict[str, Any]:
        for name in list(row):
            if (*prefix, name) in blank:
                row[name] = None
        return row

    totals = apply(("totals",), data["totals"])
    totals["suppressed"] = " ".join(m for m in (*TOTAL_COUNTS, "training_hours") if ("totals", m) in blank)
    for i, row in enumerate(data["months"]):
        apply(("months", i), row)
    for row in data["levels"]:
        apply(("levels", row["level"]), row)
    for by, rows in data["breakdowns"].items():
        for row in rows:
            apply(("breakdown", by, row["category"]), row)
        rows.sort(key=lambda r: (-(r["servants_trained"] or 0), r["category"]))
    exact_share = {}
    for row in data["coverage"]:
        apply(("coverage", row["institution"]), row)
        exact_share[row["institution"]] = row["coverage"] if row["servants_trained"] is not None else 0
        row["coverage"] = rates[("coverage", row["institution"])]
    # Lowest first; the blanked ones first of all, by name (their place among the others would bound them).
    data["coverage"].sort(key=lambda r: (r["coverage"] is not None, r["coverage"] or 0,
                                         exact_share[r["institution"]], r["name"]))
    data["overall_coverage"] = rates[("overall_coverage",)]
    compliance = data["compliance"]
    for row in compliance["requirements"]:
        rid = row["requirement_id"]
        apply(("requirement", rid), row)
        row["rate"] = rates[("requirement", rid, "rate")]
        rows = compliance["by_institution"].get(rid, [])
        for x in rows:
            apply(("requirement", rid, x["institution"]), x)
            x["rate"] = rates[("requirement", rid, x["institution"], "rate")]
        rows.sort(key=lambda x: (x["rate"] is None, x["rate"] if x["rate"] is not None else 0, x["name"] or ""))
    plan = data.get("plan")
    if plan:
        for name, row in (("total", plan.get("total")), ("outside", plan.get("outside_plan"))):
            if row:
                _apply_plan(("plan", name), row, blank, rates)
        for row in plan.get("rows", []):
            _apply_plan(("plan", row["institution"], row["topic"]), row, blank, rates)
    return data


def _apply_plan(key: tuple, row: dict[str, Any], blank: frozenset, rates: dict) -> None:
    for name in (*PLAN_ACTUALS, "training_hours"):
        if (*key, name) in blank:
            row[name] = None
    for rate, _, planned in PLAN_RATES:
        if rate in row and row.get(planned):
            row[rate] = rates[(*key, rate)]


__all__ = ["RATE_PLACES", "page_publication", "protect"]

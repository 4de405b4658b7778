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

from typing import Any

from services.reporting.suppression import COMPLIANCE_PARTS, RATE_PLACES, Publication, decide, exact

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
            pub.cell((*prefix, name), row[name])


def _hours(pub: Publication, prefix: tuple, row: dict[str, Any], leader: str) -> None:
    """Hours are no count of people, but blanked with the count they would give away."""
    if row.get("training_hours") is not None:
        pub.cell((*prefix, "training_hours"), row["training_hours"], count=False)
        pub.follows[(*prefix, "training_hours")] = (*prefix, leader)


def page_publication(data: dict[str, Any]) -> Publication:
    """The page's figures (``dashboard.dashboard_data`` before suppression) and their identities."""
    pub = Publication()
    chosen = data["selection"]
    period, month, institution = chosen["period"], chosen["month"], chosen["institution"]
    totals = data["totals"]
    _counts(pub, ("totals",), totals, TOTAL_COUNTS)
    _hours(pub, ("totals",), totals, "participations")

    # The monthly chart: the period's totals are the months it covers.
    covered = [i for i, _ in enumerate(data["months"])
               if period == "year" or (period == "ytd" and i < month) or (period == "month" and i == month - 1)]
    for i, row in enumerate(data["months"]):
        _counts(pub, ("months", i), row, ("servants_trained", "sessions_delivered"))
    for measure in ("servants_trained", "sessions_delivered"):
        pub.total(("totals", measure), [("months", i, measure) for i in covered],
                  exact(measure, "month") or len(covered) == 1)

    # State and municipal.
    for row in data["levels"]:
        _counts(pub, ("levels", row["level"]), row, ("servants_trained", "participations"))
    for measure in ("servants_trained", "participations"):
        pub.total(("totals", measure), [("levels", r["level"], measure) for r in data["levels"]],
                  exact(measure, "government_level"))

    # Topic, modality and sex.
    for by, rows in data["breakdowns"].items():
        for row in rows:
            _counts(pub, ("breakdown", by, row["category"]), row,
                    ("servants_trained", "participations", "sessions_delivered"))
        for measure in ("servants_trained", "participations", "sessions_delivered"):
            pub.total(("totals", measure), [("breakdown", by, r["category"], measure) for r in rows], exact(measure, by))

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
    compliance = data["compliance"]
    for row in compliance["requirements"]:
        rid = row["requirement_id"]
        _compliance_row(pub, ("requirement", rid), row)
        rows = compliance["by_institution"].get(rid, [])
        for x in rows:
            _compliance_row(pub, ("requirement", rid, x["institution"]), x)
        for name in COMPLIANCE_COUNTS:
            pub.total(("requirement", rid, name), [("requirement", rid, x["institution"], name) for x in rows])

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


def protect(data: dict[str, Any], minimum: int) -> dict[str, Any]:
    """The page with its blanks (None) and its rates as printed; rows ordered by what is printed, so
    that no blank's place in a ranking gives it away."""
    pub = page_publication(data)
    decision = decide(pub, minimum)
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

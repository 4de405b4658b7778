"""Plan attainment (Snapshot.plan_against_actual) on a small programme whose figures are known by
hand: planned, delivered and attainment in the cells the plan names (month x institution x topic), the
month, year to date and the total adding those cells, delivery in other cells apart, and the plan
version in force as of a moment."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from contracts.envelope import seal
from contracts.events import (
    AttendanceRecorded, CertificateIssued, CoursePublished, InstitutionRegistered, PlanTarget, ServantRegistered,
    SessionScheduled, TrainingPlanDeclared,
)
from probidad.shared.errors import RuleViolation
from services.reporting.domain.facts import fact_from
from services.reporting.domain.figures import attainment
from services.reporting.domain.ledger import Ledger

ZONE = ZoneInfo("America/Mexico_City")
KNOWN = datetime(2026, 4, 30, 12, tzinfo=UTC)  # when every delivery fact was known
V1_AT, V2_AT = datetime(2026, 1, 10, 12, tzinfo=UTC), datetime(2026, 6, 1, 12, tzinfo=UTC)


def plan(version: int, *targets: tuple) -> TrainingPlanDeclared:
    return TrainingPlanDeclared(
        plan_id=f"pl-{version}", year=2026, version=version, declared_at=V1_AT, declared_by="comptroller:ana",
        targets=[PlanTarget(month=m, institution_id=i, topic=t, sessions=s, people=p, hours=h)
                 for m, i, t, s, p, h in targets])


V1 = plan(1, (3, "in-a", "Ética", 2, 4, 16), (4, "in-a", "Ética", 1, 2, 8), (3, "in-b", "Ética", 1, 0, 0),
          (5, "in-a", "Ética", 1, 5, 20))
V2 = plan(2, (3, "in-a", "Ética", 1, 2, 8))


def envelopes(*plans: tuple[TrainingPlanDeclared, datetime]) -> list:
    """in-a: a1 and a2; in-b: b1 and b2, b2 being the same person as a1 (p1).
    s1 (Ética, 10 March): a1, a2, b1 present; a1 and a2 certified. s2 (Ética, 5 April): a1, certified.
    s3 (Conflicto, 20 March): b2, certified."""
    events = [InstitutionRegistered(institution_id=i, name=f"Institución {i}", government_level="state",
                                    headcount=100, headcount_year=2026) for i in ("in-a", "in-b")]
    events += [CoursePublished(course_id="co-e", code="E", title="Ética pública", topic="Ética", hours=4),
               CoursePublished(course_id="co-c", code="C", title="Conflicto de interés", topic="Conflicto", hours=2)]
    for sid, course, day in (("s1", "co-e", 10), ("s2", "co-e", 5), ("s3", "co-c", 20)):
        month = 4 if sid == "s2" else 3
        events.append(SessionScheduled(session_id=sid, course_id=course, modality="virtual", platform="Zoom",
                                       starts_at=datetime(2026, month, day, 16, tzinfo=UTC),
                                       ends_at=datetime(2026, month, day, 18, tzinfo=UTC),
                                       timezone="America/Mexico_City", capacity=30))
    for servant, iid, person in (("a1", "in-a", "p1"), ("a2", "in-a", None), ("b1", "in-b", None),
                                 ("b2", "in-b", "p1")):
        events.append(ServantRegistered(servant_id=servant, institution_id=iid, sex="female", person_id=person))
    for sid, servant, certified in (("s1", "a1", True), ("s1", "a2", True), ("s1", "b1", False),
                                    ("s2", "a1", True), ("s3", "b2", True)):
        events.append(AttendanceRecorded(session_id=sid, servant_id=servant, minutes_present=120, session_minutes=120,
                                         share=1.0, status="present", source_of_record="zoom"))
        if certified:
            course = "co-c" if sid == "s3" else "co-e"
            events.append(CertificateIssued(certificate_id=f"ce-{sid}-{servant}", verification_code="ABCD1234",
                                            servant_id=servant, course_id=course, session_id=sid,
                                            hours=2 if sid == "s3" else 4, issued_on=date(2026, 4, 30),
                                            issuing_authority="Contraloría"))
    return [seal(e, time=KNOWN) for e in events] + [seal(p, time=at) for p, at in plans]


def programme(*plans: tuple[TrainingPlanDeclared, datetime]) -> Ledger:
    ledger = Ledger()
    ledger.apply_all(f for e in envelopes(*plans) if (f := fact_from(e)))
    return ledger


def rows(report: dict, part: str) -> dict:
    return {(r["period"], r["institution"], r["topic"]): r for r in report[part]} if part != "total" else report[part]


def figures(row: dict) -> tuple:
    return tuple(row[k] for k in ("planned_sessions", "planned_people", "planned_hours", "sessions_delivered",
                                  "servants_trained", "training_hours", "sessions_attainment", "people_attainment",
                                  "hours_attainment"))


def test_attainment_is_actual_over_planned_and_none_when_nothing_was_planned():
    assert attainment(1, 3) == 0.3333
    assert attainment(3, 2) == 1.5
    assert attainment(0, 4) == 0.0
    assert attainment(0, 0) is None and attainment(5, 0) is None


def delivered(row: dict) -> tuple:
    return row["sessions_delivered"], row["servants_trained"], row["training_hours"]


def test_attainment_counts_only_the_cells_the_plan_names_and_the_rest_is_outside_the_plan():
    report = programme((V1, V1_AT), (V2, V2_AT)).snapshot(ZONE).plan_against_actual(2026, through_month=4)
    assert report["plan"]["version"] == 2 and report["plan"]["plan_id"] == "pl-2"
    assert report["period"] == "2026-01-01/2026-04-30" and report["through_month"] == 4
    # Version 2 names one cell: March, in-a, Ética. Only it is measured.
    months = rows(report, "months")
    assert list(months) == [("2026-03", "in-a", "Ética")]
    assert figures(months[("2026-03", "in-a", "Ética")]) == (1, 2, 8, 1, 2, 8, 1.0, 1.0, 1.0)
    assert months[("2026-03", "in-a", "Ética")]["name"] == "Institución in-a"
    ytd = rows(report, "year_to_date")
    assert list(ytd) == [("2026-01-01/2026-04-30", "in-a", "Ética")]
    # a1's April session is in no planned cell: in-a's Ética year to date is March's alone
    assert figures(ytd[("2026-01-01/2026-04-30", "in-a", "Ética")]) == (1, 2, 8, 1, 2, 8, 1.0, 1.0, 1.0)
    assert figures(report["total"]) == (1, 2, 8, 1, 2, 8, 1.0, 1.0, 1.0)
    # April, the month asked, has no planned cell: nothing planned, nothing counted
    assert report["month_total"]["period"] == "2026-04"
    assert figures(report["month_total"]) == (0, 0, 0, 0, 0, 0, None, None, None)

    outside = report["outside_plan"]
    assert {(r["period"], r["institution"], r["topic"]): delivered(r) for r in outside["months"]} == {
        ("2026-03", "in-b", "Conflicto"): (1, 1, 2),  # s3, b2 certified
        ("2026-03", "in-b", "Ética"): (1, 0, 0),      # s1, b1 present but not certified
        ("2026-04", "in-a", "Ética"): (1, 1, 4),      # s2, a1 certified
    }
    assert "planned_people" not in outside["months"][0] and "people_attainment" not in outside["total"]
    # The cells add up: s1 counts on both sides (in-a's servants in a planned cell, b1 in an unplanned
    # one), and p1 (a1 in April, b2 in March's Conflicto) in each of the two unplanned cells they trained in
    assert delivered(outside["total"]) == (3, 2, 6)
    assert delivered(outside["month_total"]) == (1, 1, 4)


def test_as_of_before_the_second_version_measures_against_the_first():
    ledger = programme((V1, V1_AT), (V2, V2_AT))
    report = ledger.snapshot(ZONE, datetime(2026, 5, 1, tzinfo=UTC)).plan_against_actual(2026, through_month=4)
    assert report["plan"]["version"] == 1
    months = rows(report, "months")
    assert list(months) == [("2026-03", "in-a", "Ética"), ("2026-03", "in-b", "Ética"), ("2026-04", "in-a", "Ética")]
    assert figures(months[("2026-03", "in-a", "Ética")]) == (2, 4, 16, 1, 2, 8, 0.5, 0.5, 0.5)
    assert figures(months[("2026-04", "in-a", "Ética")]) == (1, 2, 8, 1, 1, 4, 1.0, 0.5, 0.5)
    assert figures(months[("2026-03", "in-b", "Ética")]) == (1, 0, 0, 1, 0, 0, 1.0, None, None)
    # Year to date adds the months' cells, as the targets are added: a1, trained in March and in April, is
    # in both months' people (2 + 1 of 4 + 2 planned)
    ytd = rows(report, "year_to_date")
    assert figures(ytd[("2026-01-01/2026-04-30", "in-a", "Ética")]) == (3, 6, 24, 2, 3, 12, 0.6667, 0.5, 0.5)
    # s1 reached in-a and in-b, both planned in March: it counts in each cell, as each planned a session;
    # s3 (Conflicto) is outside
    assert figures(report["total"]) == (4, 6, 24, 3, 3, 12, 0.75, 0.5, 0.5)
    assert figures(report["month_total"]) == (1, 2, 8, 1, 1, 4, 1.0, 0.5, 0.5)
    assert [(r["institution"], r["topic"]) for r in report["outside_plan"]["months"]] == [("in-b", "Conflicto")]
    assert delivered(report["outside_plan"]["total"]) == (1, 1, 2)
    assert delivered(report["outside_plan"]["month_total"]) == (0, 0, 0)
    whole_year = ledger.snapshot(ZONE, datetime(2026, 5, 1, tzinfo=UTC)).plan_against_actual(2026)
    assert figures(rows(whole_year, "months")[("2026-05", "in-a", "Ética")]) == (1, 5, 20, 0, 0, 0, 0.0, 0.0, 0.0)
    assert whole_year["period"] == "2026" and whole_year["through_month"] == 12
    # before anything was delivered: the plan alone, nothing delivered
    early = ledger.snapshot(ZONE, datetime(2026, 2, 1, tzinfo=UTC)).plan_against_actual(2026, 4)
    assert early["plan"]["version"] == 1 and figures(early["total"]) == (4, 6, 24, 0, 0, 0, 0.0, 0.0, 0.0)
    assert delivered(early["outside_plan"]["total"]) == (0, 0, 0)
    # before the first version: no plan, the deliveries are not known either
    assert ledger.snapshot(ZONE, datetime(2026, 1, 1, tzinfo=UTC)).plan_against_actual(2026)["plan"] is None


def test_the_order_facts_arrive_in_changes_nothing_and_a_year_without_a_plan_has_only_delivery_outside_it():
    in_order = programme((V1, V1_AT), (V2, V2_AT)).snapshot(ZONE).plan_against_actual(2026, 4)
    assert programme((V2, V2_AT), (V1, V1_AT)).snapshot(ZONE).plan_against_actual(2026, 4) == in_order
    unplanned = programme().snapshot(ZONE).plan_against_actual(2026, 4)
    assert unplanned["plan"] is None and unplanned["months"] == [] and unplanned["year_to_date"] == []
    assert figures(unplanned["total"]) == (0, 0, 0, 0, 0, 0, None, None, None)
    # every cell is outside: s1 in in-a's and in-b's, p1 in three cells, a2 in one
    assert delivered(unplanned["outside_plan"]["total"]) == (4, 4, 14)


def test_one_institution_only():
    report = programme((V1, V1_AT)).snapshot(ZONE).plan_against_actual(2026, 4, institution="in-b")
    assert {r["institution"] for r in report["months"] + report["year_to_date"]} == {"in-b"}
    assert figures(report["total"]) == (1, 0, 0, 1, 0, 0, 1.0, None, None)
    assert [(r["institution"], r["topic"]) for r in report["outside_plan"]["months"]] == [("in-b", "Conflicto")]
    assert delivered(report["outside_plan"]["total"]) == (1, 1, 2)


def test_through_month_is_a_month():
    with pytest.raises(RuleViolation, match="through_month"):
        programme().snapshot(ZONE).plan_against_actual(2026, 13)


def test_a_plan_met_in_every_cell_is_met_in_the_month_year_to_date_and_total():
    # A plan whose targets are exactly what each cell delivered (every delivery is outside an empty plan).
    cells = programme().snapshot(ZONE).plan_against_actual(2026, 4)["outside_plan"]["months"]
    met = plan(3, *((int(r["period"][5:]), r["institution"], r["topic"], r["sessions_delivered"],
                     r["servants_trained"], r["training_hours"]) for r in cells))
    report = programme((met, V1_AT)).snapshot(ZONE).plan_against_actual(2026, 4)
    for row in [*report["year_to_date"], report["month_total"], report["total"]]:
        shares = [row[k] for k in ("sessions_attainment", "people_attainment", "hours_attainment")]
        # in-b's Ética planned nobody (b1 was present, not certified): no share of people or hours there
        nobody_planned = (row["institution"], row["topic"]) == ("in-b", "Ética")
        assert shares == ([1.0, None, None] if nobody_planned else [1.0] * 3), row
    assert delivered(report["outside_plan"]["total"]) == (0, 0, 0)

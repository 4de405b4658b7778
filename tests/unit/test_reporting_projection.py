"""Reporting figures on a generated programme mean exactly what the design's reporting definitions say.

The programme is the Quintana Roo bulletin's year (tests/support/programme.py): the plan sets the
bulletin's figures, and the generator's ground truth gives every other expected number.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.reporting.projection import DIMENSIONS, Ledger, Period, fact_from
from tests.support.programme import bulletin_plan, generate

ZONE = ZoneInfo("America/Mexico_City")


@pytest.fixture(scope="module")
def programme():
    return generate(bulletin_plan())


def ledger_of(envelopes) -> Ledger:
    ledger = Ledger()
    ledger.apply_all(f for e in envelopes if (f := fact_from(e)))
    return ledger


@pytest.fixture(scope="module")
def snapshot(programme):
    return ledger_of(programme.envelopes).snapshot(ZONE)


def total(snapshot, period: Period) -> dict:
    return snapshot.figures(period)[0]


JAN_NOV = Period(date(2026, 1, 1), date(2026, 11, 30))


def test_november_has_the_bulletins_sessions_delivered_and_servants_trained(programme, snapshot):
    november = total(snapshot, Period.month(2026, 11))
    assert november["sessions_delivered"] == programme.plan.months[11].sessions_delivered
    assert november["servants_trained"] == programme.plan.months[11].servants_trained
    # ... all of them through virtual platforms, as the bulletin says
    by_modality = {r["modality"]: r for r in snapshot.figures(Period.month(2026, 11), "modality")}
    assert by_modality["virtual"]["servants_trained"] == programme.plan.months[11].servants_trained


def test_servants_trained_january_to_november_are_distinct_people_not_a_sum_of_months(programme, snapshot):
    distinct = total(snapshot, JAN_NOV)["servants_trained"]
    monthly = [total(snapshot, Period.month(2026, m))["servants_trained"] for m in range(1, 12)]
    assert distinct == programme.plan.distinct_trained
    assert monthly == [programme.plan.months[m].servants_trained for m in range(1, 12)]
    assert sum(monthly) > distinct


def test_participations_count_each_servant_and_session_so_they_exceed_servants_trained(programme, snapshot):
    november = total(snapshot, Period.month(2026, 11))
    expected = [c for c in programme.completions if (c.year, c.month) == (2026, 11)]
    assert november["participations"] == len(expected) > november["servants_trained"]
    assert november["training_hours"] == pytest.approx(sum(c.hours for c in expected))


def test_a_session_at_2230_on_30_november_in_mexico_city_counts_in_november_though_utc_says_december(programme, snapshot):
    evening = snapshot.sessions[programme.evening_session_id]
    assert evening.starts_at.astimezone(UTC).date() == date(2026, 12, 1)
    assert evening.day == date(2026, 11, 30)
    in_november = {s.session_id for s in snapshot.delivered(Period.month(2026, 11))}
    in_december = {s.session_id for s in snapshot.delivered(Period.month(2026, 12))}
    assert programme.evening_session_id in in_november
    assert programme.evening_session_id not in in_december
    # Read in UTC the same facts would move the session (and its servants) into December.
    utc = ledger_of(programme.envelopes).snapshot(ZoneInfo("UTC"))
    assert programme.evening_session_id in {s.session_id for s in utc.delivered(Period.month(2026, 12))}
    assert total(utc, Period.month(2026, 11))["sessions_delivered"] == programme.plan.months[11].sessions_delivered - 1


def test_cancelled_sessions_and_sessions_nobody_attended_are_not_delivered(programme, snapshot):
    delivered = {s.session_id for s in snapshot.delivered(Period.year(2026))}
    assert delivered == {d.session_id for d in programme.delivered}
    assert not delivered & set(programme.cancelled_session_ids)
    assert not delivered & set(programme.unattended_session_ids)
    assert total(snapshot, Period.year(2026))["courses_delivered"] == len({d.course_id for d in programme.delivered})


def test_every_breakdown_matches_the_ground_truth_of_the_programme(programme, snapshot):
    year = Period.year(2026)
    for by in ("institution", "government_level", "sex", "topic", "modality", "month"):
        expected: dict[str, set[str]] = defaultdict(set)
        for c in programme.completions:
            key = {"institution": c.institution_id, "government_level": c.government_level, "sex": c.sex,
                   "topic": c.topic, "modality": c.modality, "month": f"{c.year}-{c.month:02d}"}[by]
            expected[key].add(c.servant_id)
        rows = snapshot.figures(year, by)
        assert {r[by]: r["servants_trained"] for r in rows if r["servants_trained"]} == {
            k: len(v) for k, v in expected.items()}, by


def test_state_and_municipal_servants_add_up_to_all_servants_trained(programme, snapshot):
    split = {r["government_level"]: r["servants_trained"] for r in snapshot.figures(JAN_NOV, "government_level")}
    assert set(split) == {"state", "municipal"}
    assert split["state"] + split["municipal"] == programme.plan.distinct_trained


def test_a_servant_who_moved_keeps_past_training_with_the_old_institution(programme, snapshot):
    movers = {e.event.servant_id: e.event.institution_id for e in programme.envelopes
              if e.type.endswith("servant.updated.v1")}
    before = [c for c in programme.completions if c.servant_id in movers and c.month < 7]
    assert before, "the generated programme has movers trained before they moved"
    for c in before:
        rows = {r["institution"]: r for r in snapshot.figures(Period.month(2026, c.month), "institution")}
        assert c.institution_id != movers[c.servant_id]
        assert rows[c.institution_id]["servants_trained"] >= 1


def test_certificates_issued_and_revoked_are_counted_where_they_happened(programme, snapshot):
    year = total(snapshot, Period.year(2026))
    issued = [e for e in programme.envelopes if e.type.endswith("certificate.issued.v1")
              and e.event.issued_on.year == 2026]
    assert year["certificates_issued"] == len(issued)
    assert year["certificates_revoked"] == len(programme.revoked_certificates) > 0
    # A revoked certificate is no completion: participations are exactly the standing certificates.
    assert year["participations"] == len([c for c in programme.completions if c.year == 2026])


def test_coverage_is_distinct_servants_trained_over_headcount_lowest_first(programme, snapshot):
    rows = snapshot.coverage(2026)
    trained: dict[str, set[str]] = defaultdict(set)
    for c in programme.completions:
        trained[c.institution_id].add(c.servant_id)
    assert [r["coverage"] for r in rows] == sorted(r["coverage"] for r in rows)
    assert len(rows) == len(programme.institutions)
    for r in rows:
        headcount = programme.institutions[r["institution"]][1]
        assert r["headcount"] == headcount
        assert r["servants_trained"] == len(trained[r["institution"]])
        assert r["coverage"] == pytest.approx(len(trained[r["institution"]]) / headcount, abs=1e-4)


def test_redelivered_and_out_of_order_events_change_nothing(programme, snapshot):
    shuffled = list(programme.envelopes) * 2
    random.Random(7).shuffle(shuffled)
    again = ledger_of(shuffled).snapshot(ZONE)
    for by in (None, *DIMENSIONS):
        assert again.figures(Period.year(2026), by) == snapshot.figures(Period.year(2026), by)
    assert again.coverage(2026) == snapshot.coverage(2026)


def test_as_of_a_past_date_only_what_was_known_then_counts(programme):
    ledger = ledger_of(programme.envelopes)
    as_of = datetime.combine(date(2026, 11, 15), time(23, 59, 59), ZONE)
    november = total(ledger.snapshot(ZONE, as_of), Period.month(2026, 11))
    known = [c for c in programme.completions if (c.year, c.month) == (2026, 11) and c.issued_at <= as_of]
    delivered = [d for d in programme.delivered if (d.year, d.month) == (2026, 11) and d.first_present_at <= as_of]
    assert november["servants_trained"] == len({c.servant_id for c in known})
    assert november["sessions_delivered"] == len(delivered)
    assert 0 < november["servants_trained"] < programme.plan.months[11].servants_trained


def test_a_certificate_counts_until_it_is_revoked(programme):
    ledger = ledger_of(programme.envelopes)
    revoked = programme.revoked_certificates[-1]
    facts = ledger.certificates[revoked]
    issued = next(f for f in facts if f.kind == "certificate_issued")
    withdrawn = next(f for f in facts if f.kind == "certificate_revoked")
    between = datetime.fromtimestamp((issued.known_at + withdrawn.known_at) / 2e6, UTC)
    then, now = ledger.snapshot(ZONE, between), ledger.snapshot(ZONE)

    def completed(snap) -> set[str]:
        return {p["servant_id"] for p in snap.roster(issued.session_id)["participants"] if p["completed"]}

    assert issued.servant_id in completed(then)
    assert issued.servant_id not in completed(now)
    assert len(now.revoked) == len(programme.revoked_certificates)


def test_a_rescheduled_session_belongs_to_the_month_it_was_moved_to(programme):
    ledger = ledger_of(programme.envelopes)
    facts = ledger.sessions[programme.rescheduled_session_id]
    moved = next(f for f in facts if f.kind == "session_rescheduled")
    before = ledger.snapshot(ZONE, datetime.fromtimestamp(moved.known_at / 1e6 - 1, UTC))
    after = ledger.snapshot(ZONE)
    assert before.sessions[programme.rescheduled_session_id].day.month == 10
    assert after.sessions[programme.rescheduled_session_id].day.month == 11


def test_the_auditors_roster_names_servants_only_by_pseudonymous_id(programme, snapshot):
    completions = [c for c in programme.completions if c.session_id == programme.evening_session_id]
    roster = snapshot.roster(programme.evening_session_id)
    completed = {p["servant_id"] for p in roster["participants"] if p["completed"]}
    assert completed == {c.servant_id for c in completions}
    assert roster["local_date"] == "2026-11-30" and roster["delivered"]
    absent = [p for p in roster["participants"] if not p["completed"]]
    assert absent and all(p["certificate_id"] is None for p in absent)
    assert set(roster["participants"][0]) == {"servant_id", "institution", "government_level", "enrolment",
                                              "attendance", "share", "score", "certificate_id",
                                              "certificate_revoked", "completed"}


def test_a_period_label_names_a_month_a_year_or_a_range():
    assert Period.month(2026, 12).label == "2026-12"
    assert Period.month(2026, 12).end == date(2026, 12, 31)
    assert Period.year(2026).label == "2026"
    assert JAN_NOV.label == "2026-01-01/2026-11-30"
    assert Period.month(2026, 2).end - Period.month(2026, 2).start == timedelta(days=27)

"""Reporting figures on a generated programme mean exactly what the design's reporting definitions say.

The programme is the Quintana Roo bulletin's year (probidad/ops/programme.py): the plan sets the
bulletin's figures, and the generator's ground truth gives every other expected number.
"""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from probidad.ops.programme import bulletin_plan, generate
from services.reporting.domain.facts import DIMENSIONS, Fact, fact_from, from_micros, micros
from services.reporting.domain.ledger import Ledger
from services.reporting.domain.resolved import Period

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


def test_a_session_at_2230_on_30_november_in_mexico_city_counts_in_november_though_utc_says_december(
        programme, snapshot):
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


# ---------------------------------------------------------------- resolution rules, fact by fact

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=ZONE)


def at(hours: float) -> int:
    """An envelope time ``hours`` after T0, as facts keep it."""
    return micros(T0 + timedelta(hours=hours))


def course(event_id: str, hours: float, title: str) -> Fact:
    return Fact(event_id, "course", at(hours), "course-x",
                attributes={"code": "X-1", "title": title, "topic": "Ética", "hours": 2.0})


def test_the_latest_version_known_at_the_cut_off_wins_by_time_then_event_id():
    versions = [course("e-b", 0, "first"), course("e-a", 1, "second"), course("e-c", 1, "third"),
                course("e-0", 5, "fourth")]
    for order in itertools.permutations(versions):
        ledger = Ledger()
        ledger.apply_all(order)

        def title(as_of):
            found = ledger.snapshot(ZONE, as_of).courses.get("course-x")
            return found.attributes["title"] if found else None

        assert title(None) == "fourth"
        assert title(from_micros(at(1))) == "third"  # the same envelope time: the higher event id
        assert title(T0 + timedelta(minutes=59)) == "first"
        assert title(T0 - timedelta(microseconds=1)) is None


def one_session() -> list[Fact]:
    """A session starting at T0 + 48 h; sv-1 moves after it, sv-2 registers after it, sv-3 is never registered."""
    def servant(event_id: str, hours: float, servant_id: str, institution: str) -> Fact:
        return Fact(event_id, "servant", at(hours), servant_id, None, servant_id,
                    {"institution_id": institution, "sex": "female"})

    def certificate(event_id: str, kind: str, hours: float, servant_id: str) -> Fact:
        attributes = {"course_id": "course-x"}
        if kind == "certificate_issued":
            attributes |= {"hours": 2.0, "issued_on": "2026-03-05"}
        return Fact(event_id, kind, at(hours), f"cert-{servant_id}", "ses-1", servant_id, attributes)

    starts = T0 + timedelta(hours=48)
    return [
        *(Fact(f"e-{iid}", "institution", at(-100), iid, attributes={
            "name": name, "government_level": level, "municipality": None, "headcount": 10, "headcount_year": 2026})
          for iid, name, level in (("inst-a", "A", "state"), ("inst-b", "B", "municipal"))),
        course("e-course", -100, "Ética pública"),
        Fact("e-ses", "session_scheduled", at(-50), "ses-1", "ses-1", attributes={
            "course_id": "course-x", "modality": "virtual", "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=2)).isoformat(), "organising_unit": None}),
        servant("e-sv1-a", -10, "sv-1", "inst-a"), servant("e-sv1-b", 100, "sv-1", "inst-b"),
        servant("e-sv2", 100, "sv-2", "inst-b"),
        *(Fact(f"e-att-{s}", "attendance", at(50), "ses-1", "ses-1", s,
               {"status": "present", "share": 1.0, "minutes_present": 120}) for s in ("sv-1", "sv-2", "sv-3")),
        Fact("e-att-sv3-fix", "attendance", at(90), "ses-1", "ses-1", "sv-3",
             {"status": "absent", "share": 0.0, "minutes_present": 0}),
        *(certificate(f"e-cert-{s}", "certificate_issued", 60, s) for s in ("sv-1", "sv-2", "sv-3")),
        certificate("e-revoke-sv2", "certificate_revoked", 80, "sv-2"),
    ]


def test_each_fact_counts_from_when_it_was_known_and_completions_stay_with_the_institution_of_the_session_day():
    ledger = Ledger()
    ledger.apply_all(one_session())

    def completed(snapshot) -> dict[str, str]:
        return {c.servant_id: c.who.institution_id for c in snapshot.completions}

    now = ledger.snapshot(ZONE)
    # sv-1 moved after the session: it stays with inst-a. sv-2's only version, known after the
    # session, stands in for the day. sv-3 was never registered: held, not counted. sv-2's certificate
    # was revoked.
    assert completed(now) == {"sv-1": "inst-a"}
    revoked_on = from_micros(at(80)).astimezone(ZONE).date()
    assert [(e.who.institution_id, e.day) for e in now.revoked] == [("inst-b", revoked_on)]
    assert len(now.issued) == 2
    assert now.who("sv-1", None).institution_id == "inst-b"  # today, as known now
    assert now.present["ses-1"] == ["sv-1", "sv-2"]  # sv-3's attendance was corrected to absent
    rows = {r["institution"]: (r["servants_trained"], r["certificates_revoked"])
            for r in now.figures(Period.year(2026), "institution")}
    assert rows == {"inst-a": (1, 0), "inst-b": (0, 1)}

    before_revocation = ledger.snapshot(ZONE, from_micros(at(79)))
    assert completed(before_revocation) == {"sv-1": "inst-a"}  # sv-2 is registered only at +100 h
    assert before_revocation.revoked == []
    assert before_revocation.present["ses-1"] == ["sv-1"]

    before_certificates = ledger.snapshot(ZONE, from_micros(at(59)))
    assert (before_certificates.completions, before_certificates.issued) == ([], [])
    assert ledger.snapshot(ZONE, from_micros(at(-51))).sessions == {}


def test_a_person_serving_in_two_institutions_is_one_servant_trained_and_counts_for_each_institution():
    facts = [f for f in one_session() if f.servant_id is None or f.kind == "session_scheduled"]
    for servant_id, institution in (("sv-a", "inst-a"), ("sv-b", "inst-b")):
        facts += [
            Fact(f"e-{servant_id}", "servant", at(-10), servant_id, None, servant_id,
                 {"institution_id": institution, "sex": "female", "person_id": "pe-1"}),
            Fact(f"e-att-{servant_id}", "attendance", at(50), "ses-1", "ses-1", servant_id,
                 {"status": "present", "share": 1.0, "minutes_present": 120}),
            Fact(f"e-cert-{servant_id}", "certificate_issued", at(60), f"cert-{servant_id}", "ses-1", servant_id,
                 {"course_id": "course-x", "hours": 2.0, "issued_on": "2026-03-05"}),
        ]
    ledger = Ledger()
    ledger.apply_all(facts)
    now = ledger.snapshot(ZONE)
    (whole,) = now.figures(Period.year(2026))
    assert (whole["servants_trained"], whole["participations"]) == (1, 2)
    by_institution = {r["institution"]: r["servants_trained"] for r in now.figures(Period.year(2026), "institution")}
    assert by_institution == {"inst-a": 1, "inst-b": 1}
    assert {r["institution"]: r["servants_trained"] for r in now.coverage(2026)} == {"inst-a": 1, "inst-b": 1}


# ---------------------------------------------------------------- reusing the previous snapshot


def everything(snapshot) -> list:
    """All a snapshot answers, and the views it answers from."""
    return [*(snapshot.figures(p, by) for p in (Period.year(2026), JAN_NOV) for by in (None, *DIMENSIONS)),
            snapshot.coverage(2026), [snapshot.roster(sid) for sid in list(snapshot.sessions)[:3]],
            snapshot.sessions, dict(snapshot.present), snapshot.completions, snapshot.issued, snapshot.revoked,
            snapshot.institutions, snapshot.courses, snapshot.headcounts]


def test_a_snapshot_reusing_the_previous_one_is_exactly_one_resolved_from_scratch(programme):
    """Facts arrive in batches, in any order, between snapshots: servants move, sessions are rescheduled
    or cancelled, certificates revoked, an institution and a course arrive late."""
    facts = [f for e in programme.envelopes if (f := fact_from(e))]
    rng = random.Random(11)
    rng.shuffle(facts)
    catalogue = [f for f in facts if f.kind in ("institution", "course")]
    late = [next(f for f in catalogue if f.kind == "institution"), next(f for f in catalogue if f.kind == "course")]
    rest = [f for f in facts if f.kind not in ("institution", "course")]
    rest[len(rest) // 2:len(rest) // 2] = late[:1]
    rest[len(rest) * 4 // 5:len(rest) * 4 // 5] = late[1:]
    arrivals = [f for f in catalogue if f not in late] + rest
    ledger, previous, reused, start = Ledger(), None, 0, 0
    while start < len(arrivals):
        end = start + rng.randint(50, 1500)
        ledger.apply_all(arrivals[start:end] + arrivals[max(0, start - 20):start])  # some redelivered
        start = end
        snapshot = ledger.snapshot(ZONE, previous=previous)
        assert everything(snapshot) == everything(ledger.snapshot(ZONE)), start
        if previous is not None:
            earlier = {id(c) for c in previous.completions}
            reused += any(id(c) in earlier for c in snapshot.completions)
        previous = snapshot
    assert reused >= 5, "the test should exercise reuse, not only resolutions from scratch"


def test_a_previous_snapshot_that_cannot_be_reused_is_ignored(programme):
    ledger = ledger_of(programme.envelopes)
    scratch = everything(ledger.snapshot(ZONE))
    as_of = datetime(2026, 11, 15, tzinfo=ZONE)
    assert everything(ledger.snapshot(ZONE, previous=ledger.snapshot(ZONE, as_of))) == scratch
    assert everything(ledger.snapshot(ZONE, previous=ledger_of(programme.envelopes[:5000]).snapshot(ZONE))) == scratch
    assert everything(ledger.snapshot(ZONE, previous=ledger.snapshot(ZoneInfo("UTC")))) == scratch
    then = ledger.snapshot(ZONE, as_of, previous=ledger.snapshot(ZONE))
    assert everything(then) == everything(ledger.snapshot(ZONE, as_of))


def test_the_dashboard_opens_on_the_current_year_once_it_has_figures_and_on_the_latest_year_before_that(snapshot):
    from services.reporting.dashboard import dashboard_data, year_to_open

    assert snapshot.years_delivered() == [2026]
    assert year_to_open(snapshot, date(2026, 12, 2)) == 2026
    assert year_to_open(snapshot, date(2027, 1, 1)) == 2026, "in January, last year's programme"
    assert year_to_open(snapshot, date(2025, 6, 1)) == 2025, "no figures yet: the current year"
    assert dashboard_data(snapshot, 2027, as_of=None, unit="", minimum=5)["years"] == [2026, 2027]


def published_counts(data: dict) -> list:
    """The counts of people the page publishes (sessions are the programme's activity: never blanked)."""
    return [*(data["totals"][m] for m in ("servants_trained", "participations")),
            *(m["servants_trained"] for m in data["months"]),
            *(level[k] for level in data["levels"] for k in ("servants_trained", "participations")),
            *(row["servants_trained"] for row in data["coverage"])]


@pytest.mark.parametrize("minimum", [5, 15, 40, 120])
def test_the_public_dashboard_blanks_the_small_counts_open_data_would_blank(snapshot, minimum):
    from services.reporting.dashboard import dashboard_data

    data = dashboard_data(snapshot, 2026, as_of=None, unit="", minimum=minimum)
    assert not [c for c in published_counts(data) if c is not None and 0 < c < minimum]
    whole = dashboard_data(snapshot, 2026, as_of=None, unit="", minimum=1)
    assert [m["sessions_delivered"] for m in data["months"]] == [m["sessions_delivered"] for m in whole["months"]]
    assert data["totals"]["sessions_delivered"] == whole["totals"]["sessions_delivered"], "sessions identify no one"
    raw = {row["institution"]: row["servants_trained"] for row in snapshot.coverage(2026)}
    shown = {row["institution"]: row for row in data["coverage"]}
    small = [iid for iid, count in raw.items() if 0 < count < minimum]
    assert all(shown[iid]["servants_trained"] is None and shown[iid]["coverage"] is None for iid in small)
    blanked = [iid for iid, row in shown.items() if row["servants_trained"] is None]
    if len(small) == 1:  # a lone blank could be worked out from the total: another one hides it
        assert len(blanked) == 2
    assert all((row["coverage"] is None) == (row["servants_trained"] is None) for row in shown.values())


def test_with_a_minimum_of_one_the_dashboard_shows_every_count(snapshot):
    from services.reporting.dashboard import dashboard_data

    data = dashboard_data(snapshot, 2026, as_of=None, unit="", minimum=1)
    assert None not in published_counts(data)
    assert [row["servants_trained"] for row in data["coverage"]] == \
        [row["servants_trained"] for row in snapshot.coverage(2026)]

"""Reporting's compliance projection (services/reporting/compliance.py) on a small programme whose
standings are known by hand: requirement versions in force, a transfer, a leaving, an exemption and
its withdrawal, a revoked and an expired certificate, a newcomer, and what was known as of a moment.

The programme (``envelopes``) is shared with the integration and browser tests:

* in-a (state) and in-b (municipal); courses co-e (Código de Ética, 12 months' validity) and co-c;
* rq-etica: v1 from 2026-01-01, co-e within 60 days of joining; v2 from 2026-07-01, renewal every
  12 months (first time within 60 days); rq-conflicto: co-c each year by 31 October, state only;
* a1 and c1..c5 (in-a) completed co-e on 2026-01-20 (valid to 2027-01-20); a1, c1..c3 completed co-c
  on 2026-09-10; a2 joined in-a on 2026-03-01 and never completed; a3 exempt from rq-etica from
  2026-02-01, withdrawn on 2026-10-01; a4 completed co-e on 2026-02-10, revoked on 2026-04-10; a5's
  co-e expired on 2026-05-01 and a5 moved to in-b on 2026-06-01 (recorded 2026-06-03); b1 (in-b)
  left on 2026-08-01; b2 joined in-b on 2026-11-01.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from contracts.envelope import seal
from contracts.events import (
    AttendanceRecorded, CertificateIssued, CertificateRevoked, CompetencyAttained, CoursePublished, DueRule,
    ExemptionGranted, ExemptionWithdrawn, InstitutionRegistered, PlanTarget, RequirementScope, ServantLeft,
    ServantRegistered, ServantTransferred, SessionScheduled, TrainingPlanDeclared, TrainingRequirementDeclared,
)
from services.reporting import compliance
from services.reporting.domain.facts import fact_from
from services.reporting.domain.ledger import Ledger

ZONE = ZoneInfo("America/Mexico_City")


def at(day: date, hour: int = 18) -> datetime:
    """A moment of that local day (18:00 in the programme's zone)."""
    return datetime.combine(day, time(hour), ZONE).astimezone(UTC)


def end_of(day: date) -> datetime:
    return datetime.combine(day, time.max, ZONE)


D = date
COMPLIANT_ETHICS = ("a1", "c1", "c2", "c3", "c4", "c5")
COMPLIANT_CONFLICT = ("a1", "c1", "c2", "c3")


def requirement(rid: str, version: int, effective: date, course: str, due: DueRule,
                **scope) -> TrainingRequirementDeclared:
    return TrainingRequirementDeclared(
        requirement_id=rid, version=version, effective_from=effective,
        title="Código de Ética" if course == "co-e" else "Conflicto de Interés", course_id=course,
        scope=RequirementScope(**scope), due=due, declared_at=datetime(2025, 12, 15, tzinfo=UTC),
        declared_by="comptroller:ana")


def certificate(servant: str, session: str, course: str, issued: date, valid_until: date | None) -> CertificateIssued:
    return CertificateIssued(certificate_id=f"ce-{session}-{servant}", verification_code="ABCD1234", servant_id=servant,
                             course_id=course, session_id=session, hours=4 if course == "co-e" else 2, issued_on=issued,
                             issuing_authority="Contraloría", valid_until=valid_until)


def envelopes() -> list:
    """The programme of the module's docstring, each fact sealed at the moment it became known."""
    out = []

    def known(day: date, *events) -> None:
        out.extend(seal(e, time=at(day)) for e in events)

    known(D(2025, 1, 2),
          InstitutionRegistered(institution_id="in-a", name="Secretaría de Finanzas", government_level="state",
                                headcount=40, headcount_year=2026),
          InstitutionRegistered(institution_id="in-b", name="Municipio de Bacalar", government_level="municipal",
                                headcount=20, headcount_year=2026),
          CoursePublished(course_id="co-e", code="CE", title="Código de Ética", topic="Código de Ética", hours=4,
                          validity_months=12),
          CoursePublished(course_id="co-c", code="CI", title="Conflicto de Interés", topic="Conflicto de Interés",
                          hours=2))
    sexes = {"a1": "female", "a2": "male", "a3": "female", "a4": "male", "a5": "female", "b1": "male",
             "c1": "female", "c2": "female", "c3": "male", "c4": "female", "c5": "male"}
    joined = {"a1": D(2024, 3, 1), "a3": D(2025, 6, 1), "a4": D(2025, 1, 1), "a5": D(2025, 1, 1),
              "c1": D(2024, 3, 1), "c2": D(2024, 3, 1), "c3": D(2024, 3, 1), "c4": D(2024, 3, 1), "c5": D(2024, 3, 1)}
    known(D(2025, 1, 3), *(ServantRegistered(servant_id=s, institution_id="in-a", sex=sexes[s], joined_on=j)
                           for s, j in joined.items()),
          ServantRegistered(servant_id="b1", institution_id="in-b", sex="male", joined_on=D(2025, 1, 1)))
    for sid, course, day in (("s0", "co-e", D(2025, 5, 1)), ("s1", "co-e", D(2026, 1, 20)),
                             ("s2", "co-e", D(2026, 2, 10)),
                             ("s3", "co-c", D(2026, 9, 10))):
        known(D(2025, 1, 3), SessionScheduled(
            session_id=sid, course_id=course, modality="virtual" if sid != "s3" else "in_person", platform="Zoom",
            starts_at=at(day, 10), ends_at=at(day, 12), timezone="America/Mexico_City", capacity=30))

    def completed(day: date, session: str, course: str, servants: tuple[str, ...], valid_until: date | None) -> None:
        for servant in servants:
            known(day, AttendanceRecorded(session_id=session, servant_id=servant, minutes_present=120,
                                          session_minutes=120, share=1.0, status="present", source_of_record="zoom"),
                  certificate(servant, session, course, day, valid_until))

    completed(D(2025, 5, 1), "s0", "co-e", ("a5",), D(2026, 5, 1))
    known(D(2025, 12, 15),
          requirement("rq-etica", 1, D(2026, 1, 1), "co-e", DueRule(kind="within_days_of_joining", days=60)),
          requirement("rq-conflicto", 1, D(2026, 1, 1), "co-c", DueRule(kind="yearly_by", month=10, day=31),
                      government_level="state"),
          TrainingPlanDeclared(plan_id="pl-2026", year=2026, version=1, declared_at=at(D(2025, 12, 15)),
                               declared_by="comptroller:ana", targets=[
                                   PlanTarget(month=1, institution_id="in-a", topic="Código de Ética", sessions=1,
                                              people=8, hours=32),
                                   PlanTarget(month=9, institution_id="in-a", topic="Conflicto de Interés", sessions=2,
                                              people=5, hours=10)]))
    completed(D(2026, 1, 20), "s1", "co-e", COMPLIANT_ETHICS, D(2027, 1, 20))
    known(D(2026, 2, 1), ExemptionGranted(exemption_id="ex-1", requirement_id="rq-etica", servant_id="a3",
                                          reason="incapacidad", effective_from=D(2026, 2, 1),
                                          granted_by="comptroller:ana",
                                          granted_at=at(D(2026, 2, 1))))
    completed(D(2026, 2, 10), "s2", "co-e", ("a4",), D(2027, 2, 10))
    known(D(2026, 3, 1), ServantRegistered(servant_id="a2", institution_id="in-a", sex="male", joined_on=D(2026, 3, 1)))
    known(D(2026, 4, 10), CertificateRevoked(certificate_id="ce-s2-a4", verification_code="ABCD1234", servant_id="a4",
                                             course_id="co-e", session_id="s2", reason="asistencia corregida"))
    known(D(2026, 6, 3), ServantTransferred(servant_id="a5", transfer_id="tr-1", from_institution_id="in-a",
                                            to_institution_id="in-b", effective_on=D(2026, 6, 1), sex="female",
                                            requested_by="comptroller:ana", approved_by="comptroller:ana",
                                            approved_at=at(D(2026, 6, 3))))
    known(D(2026, 6, 20),
          requirement("rq-etica", 2, D(2026, 7, 1), "co-e", DueRule(kind="renewal", months=12, days=60)))
    known(D(2026, 8, 2), ServantLeft(servant_id="b1", institution_id="in-b", left_on=D(2026, 8, 1),
                                     recorded_by="liaison:in-b:rh"))
    completed(D(2026, 9, 10), "s3", "co-c", COMPLIANT_CONFLICT, None)
    known(D(2026, 10, 1), ExemptionWithdrawn(exemption_id="ex-1", requirement_id="rq-etica", servant_id="a3",
                                             withdrawn_on=D(2026, 10, 1), withdrawn_by="comptroller:ana"))
    known(D(2026, 11, 2),
          ServantRegistered(servant_id="b2", institution_id="in-b", sex="female", joined_on=D(2026, 11, 1)))
    return out


def ledger_of(items) -> Ledger:
    ledger = Ledger()
    ledger.apply_all(f for e in items if (f := fact_from(e)))
    return ledger


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    return ledger_of(envelopes())


def states(ledger: Ledger, on: date, as_of: datetime | None = None, requirement_id: str = "rq-etica") -> dict:
    snapshot = ledger.snapshot(ZONE, as_of)
    return {s.servant_id: (s.standing.state.value, s.institution_id)
            for s in compliance.standings(snapshot, on, requirement=requirement_id)}


def counts(row: dict) -> tuple:
    return tuple(row[k] for k in ("required", "compliant", "due", "overdue", "exempt", "rate"))


def test_in_march_the_first_version_counts_a_newcomer_due_an_exempt_servant_and_a_servant_late_since_march():
    ledger = ledger_of(envelopes())
    found = states(ledger, D(2026, 3, 15), end_of(D(2026, 3, 15)))
    assert found == {**{s: ("compliant", "in-a") for s in (*COMPLIANT_ETHICS, "a4", "a5")},
                     "a2": ("due", "in-a"), "a3": ("exempt", "in-a"), "b1": ("overdue", "in-b")}


def test_a_revoked_certificate_and_an_expired_one_no_longer_satisfy_the_requirement(ledger):
    found = states(ledger, D(2026, 5, 15), end_of(D(2026, 5, 15)))
    assert found["a4"] == ("overdue", "in-a"), "revoked on 10 April"
    assert found["a5"] == ("overdue", "in-a"), "expired on 1 May"
    assert found["a2"] == ("overdue", "in-a"), "joined on 1 March, 60 days passed on 30 April"
    assert found["a3"] == ("exempt", "in-a")


def test_as_of_before_the_revocation_was_known_the_certificate_still_counts(ledger):
    assert states(ledger, D(2026, 4, 9), end_of(D(2026, 4, 9)))["a4"] == ("compliant", "in-a")
    assert states(ledger, D(2026, 3, 15), end_of(D(2026, 4, 9)))["a4"] == ("compliant", "in-a")


def test_as_known_now_a_revocation_after_a_correction_takes_the_certificate_away_on_every_date(ledger):
    # Recorded on 10 April without saying how it applies: void, the training never happened as certified.
    assert states(ledger, D(2026, 3, 15))["a4"] == ("overdue", "in-a"), "60 days from 1 January passed on 2 March"
    assert states(ledger, D(2026, 2, 10))["a4"] == ("due", "in-a"), "never completed: due by 2 March"
    assert states(ledger, D(2026, 3, 15), end_of(D(2026, 4, 10)))["a4"] == ("overdue", "in-a")


def test_a_transfer_moves_the_servant_from_its_effective_day_once_it_is_known(ledger):
    # rq-conflicto is for state institutions only: a5 leaves its scope on moving to a municipality.
    before_known = states(ledger, D(2026, 6, 2), end_of(D(2026, 6, 2)), "rq-conflicto")
    assert before_known["a5"] == ("due", "in-a"), "recorded on 3 June: not known on 2 June"
    now = states(ledger, D(2026, 6, 2), None, "rq-conflicto")
    assert "a5" not in now, "known now, in force from 1 June"
    assert states(ledger, D(2026, 6, 2))["a5"] == ("due", "in-b"), "a newcomer's 60 days in the new institution"
    assert states(ledger, D(2026, 5, 31))["a5"] == ("overdue", "in-a")


def test_a_servant_who_left_is_out_of_scope_from_the_leaving_date(ledger):
    assert states(ledger, D(2026, 6, 30))["b1"] == ("overdue", "in-b")
    assert states(ledger, D(2026, 7, 31))["b1"] == ("due", "in-b"), "version 2: 60 days from 1 July"
    assert "b1" not in states(ledger, D(2026, 8, 1))


def test_the_second_version_applies_from_its_own_date_and_counts_60_days_from_it(ledger):
    assert states(ledger, D(2026, 6, 30))["a2"] == ("overdue", "in-a"), "version 1: 60 days from joining"
    assert states(ledger, D(2026, 7, 15))["a2"] == ("due", "in-a"), "version 2: 60 days from 1 July"
    assert states(ledger, D(2026, 8, 30))["a2"] == ("due", "in-a")
    assert states(ledger, D(2026, 8, 31))["a2"] == ("overdue", "in-a")
    assert states(ledger, D(2026, 6, 25), end_of(D(2026, 6, 19)))["a2"] == ("overdue", "in-a"), \
        "version 2 was declared on 20 June"


def test_an_exemption_holds_until_it_is_withdrawn(ledger):
    assert states(ledger, D(2026, 9, 30))["a3"] == ("exempt", "in-a")
    assert states(ledger, D(2026, 10, 1))["a3"] == ("overdue", "in-a")
    assert states(ledger, D(2026, 11, 30), end_of(D(2026, 9, 30)))["a3"] == ("exempt", "in-a"), \
        "the withdrawal was not known on 30 September"


def test_a_newcomer_is_counted_from_joining_and_a_yearly_deadline_makes_the_rest_overdue(ledger):
    assert "b2" not in states(ledger, D(2026, 10, 31))
    assert states(ledger, D(2026, 11, 30))["b2"] == ("due", "in-b")
    conflict = states(ledger, D(2026, 11, 30), requirement_id="rq-conflicto")
    assert conflict == {**{s: ("compliant", "in-a") for s in COMPLIANT_CONFLICT},
                        **{s: ("overdue", "in-a") for s in ("a2", "a3", "a4", "c4", "c5")}}


def test_the_report_aggregates_per_requirement_institution_and_level(ledger):
    body = compliance.report(ledger.snapshot(ZONE), D(2026, 11, 30))
    by_requirement = {r["requirement_id"]: counts(r) for r in body["by_requirement"]}
    assert by_requirement == {"rq-etica": (11, 6, 1, 4, 0, round(6 / 11, 4)),
                              "rq-conflicto": (9, 4, 0, 5, 0, round(4 / 9, 4))}
    by_institution = {(r["requirement_id"], r["institution"]): counts(r) for r in body["by_institution"]}
    assert by_institution == {("rq-etica", "in-a"): (9, 6, 0, 3, 0, round(6 / 9, 4)),
                              ("rq-etica", "in-b"): (2, 0, 1, 1, 0, 0.0),
                              ("rq-conflicto", "in-a"): (9, 4, 0, 5, 0, round(4 / 9, 4))}
    by_level = {(r["requirement_id"], r["government_level"]): counts(r) for r in body["by_government_level"]}
    assert by_level[("rq-etica", "municipal")] == by_institution[("rq-etica", "in-b")]
    assert {r["requirement_id"]: r["version"] for r in body["requirements"]} == {"rq-etica": 2, "rq-conflicto": 1}
    assert len(body["standings"]) == 11 + 9
    a1 = next(s for s in body["standings"] if s["servant_id"] == "a1" and s["requirement_id"] == "rq-etica")
    assert a1["due_on"] == "2027-01-20" and a1["satisfied_by"]["valid_until"] == "2027-01-20"


def test_the_rate_leaves_exempt_servants_out(ledger):
    body = compliance.report(ledger.snapshot(ZONE, end_of(D(2026, 5, 15))), D(2026, 5, 15), requirement="rq-etica")
    assert [counts(r) for r in body["by_requirement"]] == [(11, 6, 0, 4, 1, 0.6)]


def test_one_institution_only(ledger):
    body = compliance.report(ledger.snapshot(ZONE), D(2026, 11, 30), institution="in-b")
    assert {s["servant_id"] for s in body["standings"]} == {"a5", "b2"}
    assert [counts(r) for r in body["by_requirement"]] == [(0, 0, 0, 0, 0, None), (2, 0, 1, 1, 0, 0.0)]


def test_a_competency_attained_satisfies_a_requirement_of_that_competency():
    items = envelopes() + [
        seal(TrainingRequirementDeclared(
            requirement_id="rq-modelo", version=1, effective_from=D(2026, 1, 1), title="Modelo de integridad",
            competency="Integridad Pública", scope=RequirementScope(institution_ids=["in-b"]),
            due=DueRule(kind="within_days_of_joining", days=30), declared_at=at(D(2026, 1, 1)),
            declared_by="comptroller:ana"), time=at(D(2026, 1, 1))),
        seal(CompetencyAttained(servant_id="b2", competency="integridad pública ", course_ids=["co-e"],
                                certificate_ids=["ce-x"], attained_on=D(2026, 11, 20)), time=at(D(2026, 11, 20)))]
    found = states(ledger_of(items), D(2026, 11, 30), requirement_id="rq-modelo")
    assert found == {"a5": ("overdue", "in-b"), "b2": ("compliant", "in-b")}


def test_a_servant_registered_before_their_institution_is_known_is_held():
    items = [e for e in envelopes() if not (e.type.endswith("institution.registered.v1") and e.subject == "in-b")]
    found = states(ledger_of(items), D(2026, 11, 30))
    assert not {s for s, (_, iid) in found.items() if iid == "in-b"}
    assert set(found) == {*COMPLIANT_ETHICS, "a2", "a3", "a4"}, "a5 moved to in-b: held with it"


def test_an_update_without_a_joining_date_does_not_bring_back_a_servant_who_left():
    from contracts.events import ServantUpdated

    items = envelopes() + [seal(ServantUpdated(servant_id="b1", institution_id="in-b", sex="male"),
                                time=at(D(2026, 9, 1)))]
    assert "b1" not in states(ledger_of(items), D(2026, 11, 30))
    back = items + [seal(ServantUpdated(servant_id="b1", institution_id="in-b", sex="male", joined_on=D(2026, 10, 1)),
                         time=at(D(2026, 10, 1)))]
    assert states(ledger_of(back), D(2026, 11, 30))["b1"] == ("due", "in-b"), "back on 1 October: 60 days from then"


def test_a_back_dated_transfer_places_the_servant_in_compliance_where_the_training_figures_do():
    # a5 moves to in-b from 1 June (recorded 3 June); a correction recorded on 20 June says a5 had moved to a third
    # institution from 25 May. Compliance and the training figures (Snapshot.who) both follow the attribution
    # rule: the later statement holds from its day on, so a5 is never placed in in-b.
    correction = ServantTransferred(servant_id="a5", transfer_id="tr-2", from_institution_id="in-a",
                                    to_institution_id="in-c", effective_on=D(2026, 5, 25), sex="female",
                                    requested_by="comptroller:ana", approved_by="comptroller:ana",
                                    approved_at=at(D(2026, 6, 20)))
    third = InstitutionRegistered(institution_id="in-c", name="Secretaría de Salud", government_level="state",
                                  headcount=30, headcount_year=2026)
    ledger = ledger_of([*envelopes(), seal(third, time=at(D(2025, 1, 2))), seal(correction, time=at(D(2026, 6, 20)))])
    snapshot = ledger.snapshot(ZONE, None)
    for day in (D(2026, 5, 24), D(2026, 5, 28), D(2026, 6, 10), D(2026, 9, 1)):
        placed = states(ledger, day)["a5"][1]
        assert placed == snapshot.who("a5", at(day, 12)).institution_id, day
    assert states(ledger, D(2026, 6, 10))["a5"][1] == "in-c"

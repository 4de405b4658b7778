"""A competency attained counts only while every certificate it lists counts (valid time), as known at the cut-off.

The rule is written once (``contracts.compliance.attainment_revoked_on``); reporting's compliance reads it on
one small programme, a requirement met by attaining the competency "Integridad pública":

* in-a (state); v1, d1, k1 and e1 (in-a, joined 2025) each hold a certificate of co-e from session s1
  (10 March 2026) and attain the competency with it that day; "Integridad pública" is required within
  30 days of joining from 1 January 2026 (due 31 January 2026);
* v1's certificate is revoked as void, recorded on 1 December 2026, after the attainment;
* d1's is revoked from 1 September 2026 (a sanction), recorded on 5 September 2026;
* e1's is revoked as void on 1 March 2026, before the certificate and the attainment were recorded
  (any order across partitions); k1's stands.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from contracts.compliance import (
    NEVER_COUNTED, Completion, Membership, RequirementVersion, ServantProfile, State, attainment_revoked_on,
    revoked_from, standing,
)
from contracts.envelope import seal
from contracts.events import (
    CertificateIssued, CertificateRevoked, CompetencyAttained, CoursePublished, DueRule, DueRuleKind,
    InstitutionRegistered, RequirementScope, ServantRegistered, SessionScheduled, TrainingRequirementDeclared,
)
from services.reporting import compliance
from services.reporting.domain.facts import fact_from
from services.reporting.domain.ledger import Ledger

D = date
ZONE = ZoneInfo("America/Mexico_City")
WITHIN_30_DAYS = DueRule(kind=DueRuleKind.within_days_of_joining, days=30)
ATTAINED = D(2026, 3, 10)


# ---------------------------------------------------------------- the rule


def test_an_attainment_is_revoked_from_the_earliest_day_one_of_its_certificates_no_longer_counts():
    assert attainment_revoked_on([]) is None, "an attainment listing no certificate: nothing withdraws it"
    assert attainment_revoked_on([None, None]) is None, "none of its certificates revoked"
    assert attainment_revoked_on([None, D(2026, 9, 1)]) == D(2026, 9, 1)
    assert attainment_revoked_on([D(2026, 9, 1), D(2026, 7, 1), None]) == D(2026, 7, 1)
    assert attainment_revoked_on([D(2026, 9, 1), revoked_from("void", None)]) == NEVER_COUNTED, "void wins"


def _integrity() -> RequirementVersion:
    return RequirementVersion("rq-integridad", 1, D(2026, 1, 1), "Integridad pública", None, " integridad  PÚBLICA",
                              RequirementScope(), WITHIN_30_DAYS)


def _holder() -> ServantProfile:
    return ServantProfile("v1", None, None, (Membership("in-a", "state", D(2025, 1, 1)),))


def test_an_attainment_resting_on_a_void_certificate_never_met_the_requirement_and_a_dated_one_until_its_date():
    def state(certificates: list, on: date) -> State:  # each certificate's revoked_on (None: not revoked)
        attained = Completion(None, "Integridad pública", ATTAINED, None, attainment_revoked_on(certificates))
        return standing(_integrity(), _holder(), [attained], [], on).state

    assert state([None], D(2026, 12, 31)) == State.compliant
    assert state([revoked_from("void", None)], ATTAINED) == State.overdue
    assert state([None, revoked_from("from_date", D(2026, 9, 1))], D(2026, 8, 31)) == State.compliant
    assert state([None, revoked_from("from_date", D(2026, 9, 1))], D(2026, 9, 1)) == State.overdue


# ---------------------------------------------------------------- reporting, on both times


def at(day: date, hour: int = 18) -> datetime:
    return datetime.combine(day, time(hour), ZONE).astimezone(UTC)


def end_of(day: date) -> datetime:
    return datetime.combine(day, time.max, ZONE)


def revoked(servant: str, recorded: date, **how) -> object:
    event = CertificateRevoked(certificate_id=f"ce-s1-{servant}", verification_code="PRB-0000-0000-0000",
                               servant_id=servant, course_id="co-e", session_id="s1", reason="revocada", **how)
    return seal(event, time=at(recorded))


SERVANTS = ("v1", "d1", "k1", "e1")


def programme() -> list:
    out = [seal(e, time=at(D(2025, 1, 3))) for e in (
        InstitutionRegistered(institution_id="in-a", name="Secretaría de Finanzas", government_level="state",
                              headcount=40, headcount_year=2026),
        CoursePublished(course_id="co-e", code="CE", title="Código de Ética", topic="Código de Ética", hours=4),
        *(ServantRegistered(servant_id=s, institution_id="in-a", sex="female", joined_on=D(2025, 1, 1))
          for s in SERVANTS),
        SessionScheduled(session_id="s1", course_id="co-e", modality="virtual", platform="Zoom",
                         starts_at=at(ATTAINED, 10), ends_at=at(ATTAINED, 12), timezone="America/Mexico_City",
                         capacity=30),
        TrainingRequirementDeclared(requirement_id="rq-integridad", version=1, effective_from=D(2026, 1, 1),
                                    title="Integridad pública", competency="Integridad pública",
                                    scope=RequirementScope(), due=WITHIN_30_DAYS,
                                    declared_at=datetime(2025, 1, 3, tzinfo=UTC), declared_by="comptroller:ana"),
    )]
    out.append(revoked("e1", D(2026, 3, 1), applies="void"))  # before its certificate and the attainment
    for servant in SERVANTS:
        out += [seal(CertificateIssued(certificate_id=f"ce-s1-{servant}", verification_code="PRB-0000-0000-0000",
                                       servant_id=servant, course_id="co-e", session_id="s1", hours=4,
                                       issued_on=ATTAINED, issuing_authority="Contraloría"), time=at(ATTAINED)),
                seal(CompetencyAttained(servant_id=servant, competency="Integridad pública", course_ids=["co-e"],
                                        certificate_ids=[f"ce-s1-{servant}"], attained_on=ATTAINED),
                     time=at(ATTAINED, 19))]
    out += [revoked("d1", D(2026, 9, 5), applies="from_date", effective_on=D(2026, 9, 1)),
            revoked("v1", D(2026, 12, 1), applies="void")]
    return out


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    ledger = Ledger()
    ledger.apply_all(f for e in programme() if (f := fact_from(e)))
    return ledger


def states(ledger: Ledger, on: date, as_of: datetime | None = None) -> dict[str, str]:
    snapshot = ledger.snapshot(ZONE, as_of)
    return {s.servant_id: s.standing.state.value for s in compliance.standings(snapshot, on)}


def test_as_known_now_a_holder_whose_attainment_rests_on_a_void_certificate_is_overdue_on_every_day(ledger):
    assert states(ledger, D(2026, 12, 31)) == {"v1": "overdue", "d1": "overdue", "k1": "compliant", "e1": "overdue"}
    for day in (ATTAINED, D(2026, 6, 30), D(2026, 8, 31)):
        found = states(ledger, day)
        assert (found["v1"], found["e1"], found["k1"]) == ("overdue", "overdue", "compliant"), day
    (row,) = compliance.report(ledger.snapshot(ZONE), D(2026, 12, 31))["by_requirement"]
    assert (row["required"], row["compliant"], row["overdue"]) == (4, 1, 3)


def test_as_of_before_the_void_revocation_was_recorded_the_attainment_still_counted(ledger):
    before = end_of(D(2026, 11, 30))
    assert states(ledger, D(2026, 12, 31), before) == {"v1": "compliant", "d1": "overdue", "k1": "compliant",
                                                        "e1": "overdue"}
    assert states(ledger, D(2026, 6, 30), end_of(D(2026, 12, 1)))["v1"] == "overdue", "recorded on 1 December"


def test_a_dated_revocation_of_its_certificate_ends_the_attainment_from_that_date_once_it_is_known(ledger):
    assert states(ledger, D(2026, 8, 31))["d1"] == "compliant"
    assert states(ledger, D(2026, 9, 1))["d1"] == "overdue"
    assert states(ledger, D(2026, 9, 1), end_of(D(2026, 9, 4)))["d1"] == "compliant", "recorded on 5 September"

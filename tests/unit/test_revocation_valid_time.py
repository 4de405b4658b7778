"""A revocation takes the training away in valid time, not from the day it was noticed.

The rule is written once (``contracts.compliance.revoked_from``, ``counted_on``); these tests read it on
both times: the day a standing or a figure is *about* (valid time) and the moment it is asked *as of*
(knowledge time). Reporting's compliance and its training figures are checked on one small programme:

* in-a (state); course co-e, required each calendar year by 31 October (rq-anual);
* v1, d1 and k1 (in-a, joined 2025) complete co-e in session s1 on 10 March 2026;
* v1's certificate is revoked as void (the attendance was wrong), recorded on 1 December 2026;
* d1's is revoked from 1 September 2026 (a sanction), recorded on 5 September 2026;
* o1's (session s1 too) is revoked by a revocation that says nothing of how (older events), recorded on
  1 December 2026: void.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from contracts.compliance import (
    NEVER_COUNTED, Completion, Membership, RequirementVersion, ServantProfile, State, counted_on, revoked_from,
    standing,
)
from contracts.envelope import seal
from contracts.events import (
    AttendanceRecorded, CertificateIssued, CertificateRevoked, CoursePublished, DueRule, DueRuleKind,
    InstitutionRegistered, RequirementScope, RevocationApplies, ServantRegistered, SessionScheduled,
    TrainingRequirementDeclared,
)
from services.reporting import compliance
from services.reporting.bulletin import bulletin_figures
from services.reporting.domain.facts import fact_from
from services.reporting.domain.ledger import Ledger
from services.reporting.domain.resolved import Period

D = date
ZONE = ZoneInfo("America/Mexico_City")
BY_OCTOBER_31 = DueRule(kind=DueRuleKind.yearly_by, month=10, day=31)


# ---------------------------------------------------------------- the rule, in valid time


def test_a_void_revocation_counts_on_no_day_and_one_from_a_date_on_the_days_before_it():
    assert revoked_from(RevocationApplies.void, None) == NEVER_COUNTED
    assert revoked_from("void", D(2026, 9, 1)) == NEVER_COUNTED, "a date means nothing to a void revocation"
    assert revoked_from(None, None) == NEVER_COUNTED, "older events: certification's revocations after a correction"
    assert revoked_from("from_date", None) == NEVER_COUNTED, "nothing says it ever held"
    assert revoked_from("from_date", D(2026, 9, 1)) == D(2026, 9, 1)
    assert not any(counted_on(NEVER_COUNTED, day) for day in (D(1, 1, 1), D(2026, 3, 10), D(9999, 12, 31)))
    assert counted_on(D(2026, 9, 1), D(2026, 8, 31)) and not counted_on(D(2026, 9, 1), D(2026, 9, 1))
    assert counted_on(None, D(2026, 9, 1))


def _yearly() -> RequirementVersion:
    return RequirementVersion("rq-anual", 1, D(2026, 1, 1), "Código de Ética", "co-e", None, RequirementScope(),
                              BY_OCTOBER_31)


def _servant() -> ServantProfile:
    return ServantProfile("v1", None, None, (Membership("in-a", "state", D(2025, 1, 1)),))


def _completion(revoked_on: date | None) -> Completion:
    return Completion("co-e", None, D(2026, 3, 10), None, revoked_on)


def test_a_void_revoked_completion_never_satisfied_the_requirement_on_any_date():
    void = _completion(revoked_from("void", None))
    for day, expected in ((D(2026, 3, 10), State.due), (D(2026, 10, 31), State.due), (D(2026, 11, 1), State.overdue),
                          (D(2026, 12, 31), State.overdue)):
        assert standing(_yearly(), _servant(), [void], [], day).state == expected, day


def test_a_completion_revoked_from_a_date_satisfied_it_until_the_day_before():
    dated = _completion(revoked_from("from_date", D(2026, 9, 1)))
    assert standing(_yearly(), _servant(), [dated], [], D(2026, 8, 31)).state == State.compliant
    assert standing(_yearly(), _servant(), [dated], [], D(2026, 9, 1)).state == State.due
    assert standing(_yearly(), _servant(), [dated], [], D(2026, 12, 31)).state == State.overdue


# ---------------------------------------------------------------- reporting, on both times


def at(day: date, hour: int = 18) -> datetime:
    return datetime.combine(day, time(hour), ZONE).astimezone(UTC)


def end_of(day: date) -> datetime:
    return datetime.combine(day, time.max, ZONE)


def revoked(servant: str, recorded: date, **how) -> object:
    event = CertificateRevoked(certificate_id=f"ce-s1-{servant}", verification_code="PRB-0000-0000-0000",
                               servant_id=servant, course_id="co-e", session_id="s1", reason="revocada", **how)
    return seal(event, time=at(recorded))


def programme() -> list:
    day = D(2026, 3, 10)
    out = [seal(e, time=at(D(2025, 1, 3))) for e in (
        InstitutionRegistered(institution_id="in-a", name="Secretaría de Finanzas", government_level="state",
                              headcount=40, headcount_year=2026),
        CoursePublished(course_id="co-e", code="CE", title="Código de Ética", topic="Código de Ética", hours=4),
        *(ServantRegistered(servant_id=s, institution_id="in-a", sex="female", joined_on=D(2025, 1, 1))
          for s in ("v1", "d1", "k1", "o1")),
        SessionScheduled(session_id="s1", course_id="co-e", modality="virtual", platform="Zoom",
                         starts_at=at(day, 10), ends_at=at(day, 12), timezone="America/Mexico_City", capacity=30),
        TrainingRequirementDeclared(requirement_id="rq-anual", version=1, effective_from=D(2026, 1, 1),
                                    title="Código de Ética", course_id="co-e", scope=RequirementScope(),
                                    due=BY_OCTOBER_31, declared_at=datetime(2025, 1, 3, tzinfo=UTC),
                                    declared_by="comptroller:ana"),
    )]
    for servant in ("v1", "d1", "k1", "o1"):
        out += [seal(AttendanceRecorded(session_id="s1", servant_id=servant, minutes_present=120, session_minutes=120,
                                        share=1.0, status="present", source_of_record="zoom"), time=at(day)),
                seal(CertificateIssued(certificate_id=f"ce-s1-{servant}", verification_code="PRB-0000-0000-0000",
                                       servant_id=servant, course_id="co-e", session_id="s1", hours=4, issued_on=day,
                                       issuing_authority="Contraloría"), time=at(day))]
    out += [revoked("d1", D(2026, 9, 5), applies="from_date", effective_on=D(2026, 9, 1)),
            revoked("v1", D(2026, 12, 1), applies="void"),
            revoked("o1", D(2026, 12, 1))]
    return out


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    ledger = Ledger()
    ledger.apply_all(f for e in programme() if (f := fact_from(e)))
    return ledger


def states(ledger: Ledger, on: date, as_of: datetime | None = None) -> dict[str, str]:
    snapshot = ledger.snapshot(ZONE, as_of)
    return {s.servant_id: s.standing.state.value for s in compliance.standings(snapshot, on)}


def test_as_known_now_a_void_revoked_holder_is_overdue_on_31_december_and_never_was_compliant(ledger):
    assert states(ledger, D(2026, 12, 31)) == {"v1": "overdue", "d1": "overdue", "k1": "compliant", "o1": "overdue"}
    for day in (D(2026, 3, 10), D(2026, 6, 30), D(2026, 8, 31), D(2026, 10, 31)):
        found = states(ledger, day)
        assert (found["v1"], found["o1"]) == ("due", "due"), f"void: not compliant on {day} either"


def test_as_of_before_the_void_revocation_was_recorded_the_old_answer_stands(ledger):
    before = end_of(D(2026, 11, 30))
    assert states(ledger, D(2026, 12, 31), before) == {"v1": "compliant", "d1": "overdue", "k1": "compliant",
                                                        "o1": "compliant"}
    assert states(ledger, D(2026, 6, 30), before)["v1"] == "compliant"
    assert states(ledger, D(2026, 6, 30), end_of(D(2026, 12, 1)))["v1"] == "due", "recorded on 1 December"


def test_a_revocation_from_a_date_ends_the_completion_from_that_date_once_it_is_known(ledger):
    assert states(ledger, D(2026, 8, 31))["d1"] == "compliant"
    assert states(ledger, D(2026, 9, 1))["d1"] == "due"
    assert states(ledger, D(2026, 9, 1), end_of(D(2026, 9, 4)))["d1"] == "compliant", "recorded on 5 September"


def test_the_training_figures_and_the_compliance_report_agree_about_a_void_certificate(ledger):
    year = Period.year(2026)
    for as_of, trained, compliant in ((None, {"d1", "k1"}, 1), (end_of(D(2026, 11, 30)), {"v1", "d1", "k1", "o1"}, 3)):
        snapshot = ledger.snapshot(ZONE, as_of)
        (figures,) = snapshot.figures(year)
        # A sanction ends d1's completion from September: the training of March stays delivered.
        assert {c.servant_id for c in snapshot.completions} == trained
        assert (figures["participations"], figures["servants_trained"]) == (len(trained), len(trained))
        (row,) = compliance.report(snapshot, D(2026, 12, 31))["by_requirement"]
        assert row["compliant"] == compliant, as_of
        compliant_servants = {s.servant_id for s in compliance.standings(snapshot, D(2026, 12, 31))
                              if s.standing.state == State.compliant}
        assert not compliant_servants - trained, "nobody complies by a certificate the figures leave out"


def test_the_bulletin_leaves_a_void_certificate_out_of_its_training_figures_and_its_compliance_sentence_alike(ledger):
    for as_of, trained, compliant in ((None, 2, 1), (end_of(D(2026, 11, 30)), 4, 3)):
        figures = bulletin_figures(ledger.snapshot(ZONE, as_of), 2026, 12, as_of=as_of, today=D(2026, 12, 31))
        (requirement,) = figures["compliance"]["requirements"]
        assert (figures["year_to_date"]["servants_trained"], requirement["compliant"]) == (trained, compliant), as_of

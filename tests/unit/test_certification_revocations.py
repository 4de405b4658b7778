"""How certification revokes: void after a correction, and the comptroller's ruling — void or from a date,
checked against the certificate's date and today, and final for the completion."""

from __future__ import annotations

from datetime import date

import pytest

from services.certification.domain.certificates import (
    HeldCertificate,
    RevocationRefused,
    StandingCertificate,
    Status,
    decide,
    decide_ruling,
    ruling,
)
from services.certification.domain.facts import Grade
from tests.unit.test_certification_rules import KEY, attendance, facts

AUTHORITY = "Secretaría de la Contraloría"
ISSUED_ON = date(2026, 11, 5)
TODAY = date(2026, 12, 7)


def issued() -> HeldCertificate:
    return decide(facts(), None, KEY, AUTHORITY).certificate


def test_a_correction_that_makes_the_completion_fail_revokes_it_as_void():
    decision = decide(facts(attendance=attendance(0.5, minutes=9)), issued(), KEY, AUTHORITY)
    (event,) = decision.events
    assert (event.applies, event.effective_on) == ("void", None)
    assert decision.certificate.revocation.void and decision.certificate.revocation.ruled_by is None
    assert decision.certificate.revocation.applies_from(ISSUED_ON) == ISSUED_ON


def test_the_comptroller_revokes_as_void_or_from_a_date_and_the_event_says_which():
    held = issued()
    void = decide_ruling(StandingCertificate(held), held.terms.certificate_id,
                         ruling(reason="  evaluación  anulada ", applies="void", effective_on=None,
                                ruled_by="comptroller:ana", issued_on=ISSUED_ON, today=TODAY))
    (event,) = void.events
    assert (event.applies, event.effective_on, event.reason) == ("void", None, "evaluación anulada")
    assert void.certificate.status is Status.revoked and void.certificate.ruled

    dated = decide_ruling(StandingCertificate(held), held.terms.certificate_id,
                          ruling(reason="sanción", applies="from_date", effective_on=date(2026, 11, 20),
                                 ruled_by="comptroller:ana", issued_on=ISSUED_ON, today=TODAY))
    (event,) = dated.events
    assert (event.applies, event.effective_on) == ("from_date", date(2026, 11, 20))
    assert dated.certificate.revocation.applies_from(ISSUED_ON) == date(2026, 11, 20)


@pytest.mark.parametrize("reason, applies, effective_on, field", [
    ("   ", "void", None, "reason"),
    ("x" * 1001, "void", None, "reason"),
    ("sanción", "void", date(2026, 11, 20), "effective_on"),
    ("sanción", "from_date", None, "effective_on"),
    ("sanción", "from_date", ISSUED_ON, "effective_on"),       # on its date nothing ever counted: void
    ("sanción", "from_date", date(2026, 12, 8), "effective_on"),  # after today
])
def test_a_ruling_that_cannot_be_is_refused_naming_the_field(reason, applies, effective_on, field):
    with pytest.raises(RevocationRefused) as refused:
        ruling(reason=reason, applies=applies, effective_on=effective_on, ruled_by="comptroller:ana",
               issued_on=ISSUED_ON, today=TODAY)
    assert (refused.value.field, refused.value.kind) == (field, "invalid")


def test_a_certificate_already_revoked_cannot_be_revoked_again():
    held = issued()
    revoked = decide(facts(attendance=attendance(0.5, minutes=9)), held, KEY, AUTHORITY).certificate
    again = ruling(reason="sanción", applies="void", effective_on=None, ruled_by="comptroller:ana",
                   issued_on=ISSUED_ON, today=TODAY)
    with pytest.raises(RevocationRefused) as refused:
        decide_ruling(StandingCertificate(revoked), held.terms.certificate_id, again)
    assert refused.value.kind == "conflict"


def test_after_a_ruling_no_later_fact_issues_the_completion_again():
    held = issued()
    ruled = decide_ruling(StandingCertificate(held), held.terms.certificate_id,
                          ruling(reason="fraude", applies="void", effective_on=None, ruled_by="comptroller:ana",
                                 issued_on=ISSUED_ON, today=TODAY)).certificate
    for later in (facts(), facts(attendance=attendance(1.0, minutes=9)), facts(grade=Grade(99.0, None))):
        assert decide(later, ruled, KEY, AUTHORITY).events == []
    # After a correction's revocation, by contrast, a completion that holds again is issued anew.
    corrected = decide(facts(attendance=attendance(0.5, minutes=9)), held, KEY, AUTHORITY).certificate
    (reissued,) = decide(facts(attendance=attendance(1.0, minutes=10)), corrected, KEY, AUTHORITY).events
    assert reissued.certificate_id != held.terms.certificate_id

"""Certification holds facts naming a session, course or enrolment it does not know yet: nothing is
decided, so no certificate can name an unknown session, until every fact it rests on is known."""

from __future__ import annotations

from itertools import permutations

from contracts.events import CertificateIssued
from services.certification.domain.certificates import decide
from services.certification.domain.facts import CompletionFacts, absorb
from tests.unit.test_certification_order import AUTHORITY, KEY, STORY


def test_no_certificate_is_issued_while_any_fact_it_rests_on_is_unknown():
    for order in permutations(STORY):
        known, held = CompletionFacts("sv-7", "s-42"), None
        for heard, (event, stamp) in enumerate(order, start=1):
            known = absorb(known, event, stamp)
            decision = decide(known, held, KEY, AUTHORITY)
            held = decision.certificate
            if heard < len(order):  # the session, its course, the seat, the presence or the grade is missing
                assert decision.events == [] and held is None, order[:heard]
            else:
                assert [type(e) for e in decision.events] == [CertificateIssued]


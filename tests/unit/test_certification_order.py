"""Facts arrive in any order and sometimes twice: the certificate comes out the same, exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import permutations
from zoneinfo import ZoneInfo

from contracts.events import (
    AssessmentGraded,
    AttendanceCorrected,
    AttendanceRecorded,
    CertificateIssued,
    CertificateRevoked,
    CoursePublished,
    EnrolmentConfirmed,
    SessionScheduled,
)
from contracts.attribution import Stamp
from services.certification.domain.certificates import Status, decide
from services.certification.domain.codes import certificate_identity
from services.certification.domain.facts import CompletionFacts, absorb

CANCUN = ZoneInfo("America/Cancun")
T0 = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
AUTHORITY = "Secretaría de la Contraloría del Estado"
KEY = b"test-code-key"
IDENTITY = certificate_identity("sv-7", "s-42", KEY)


def at(hours: float, name: str) -> Stamp:
    return Stamp.of(T0 + timedelta(hours=hours), name)


COURSE = (CoursePublished(course_id="c-ci", code="CI-02", title="Conflicto de Interés", topic="Conflicto de Interés",
                          hours=3, minimum_attendance_share=0.8, passing_score=70), at(0, "course"))
SESSION = (SessionScheduled(session_id="s-42", course_id="c-ci", modality="virtual",
                            starts_at=datetime(2026, 11, 5, 10, 0, tzinfo=CANCUN),
                            ends_at=datetime(2026, 11, 5, 13, 0, tzinfo=CANCUN), timezone="America/Cancun",
                            capacity=40), at(1, "session"))
SEAT = (EnrolmentConfirmed(enrolment_id="en-9", session_id="s-42", servant_id="sv-7", institution_id="inst-3"),
        at(2, "seat"))
PRESENT = (AttendanceRecorded(session_id="s-42", servant_id="sv-7", minutes_present=170, session_minutes=180,
                              share=170 / 180, status="present", source_of_record="zoom"), at(900, "present"))
GRADED = (AssessmentGraded(session_id="s-42", servant_id="sv-7", score=88), at(901, "graded"))
CORRECTED_DOWN = (AttendanceCorrected(session_id="s-42", servant_id="sv-7", minutes_present=90, session_minutes=180,
                                      share=0.5, status="late", reason="left at the break",
                                      corrected_by="instructor-1"), at(950, "down"))
CORRECTED_UP = (AttendanceCorrected(session_id="s-42", servant_id="sv-7", minutes_present=175, session_minutes=180,
                                    share=175 / 180, status="present", reason="reconnected from another device",
                                    corrected_by="instructor-1"), at(990, "up"))

STORY = [COURSE, SESSION, SEAT, PRESENT, GRADED]


def play(arrivals):
    """Hear facts one by one, deciding after each, as the service does; return the end state and what was published."""
    known, held, published = CompletionFacts("sv-7", "s-42"), None, []
    for event, stamp in arrivals:
        known = absorb(known, event, stamp)
        decision = decide(known, held, KEY, AUTHORITY)
        held = decision.certificate
        published.extend(decision.events)
    return held, published


def test_every_order_of_a_servants_facts_issues_the_same_single_certificate():
    outcomes = set()
    orders = list(permutations(STORY))
    assert len(orders) == 120
    for order in orders:
        held, published = play(order)
        assert [type(e) for e in published] == [CertificateIssued], order
        outcomes.add(published[0])
        assert held.status is Status.valid
    assert len(outcomes) == 1
    (certificate,) = outcomes
    assert certificate.certificate_id == IDENTITY.certificate_id
    assert certificate.verification_code == IDENTITY.verification_code
    assert (certificate.servant_id, certificate.session_id, certificate.course_id) == ("sv-7", "s-42", "c-ci")
    assert certificate.hours == 3 and certificate.score == 88
    assert certificate.issued_on.isoformat() == "2026-11-05"
    assert certificate.issuing_authority == AUTHORITY


def test_redelivered_facts_change_nothing():
    held_once, published_once = play(STORY)
    held_twice, published_twice = play([fact for fact in STORY for _ in range(2)])
    assert held_twice == held_once
    assert published_twice == published_once


def test_a_correction_that_fails_the_completion_revokes_it_with_the_reason():
    held, published = play([*STORY, CORRECTED_DOWN])
    assert [type(e) for e in published] == [CertificateIssued, CertificateRevoked]
    revoked = published[-1]
    assert revoked.certificate_id == IDENTITY.certificate_id
    assert "50%" in revoked.reason and "80%" in revoked.reason
    assert held.status is Status.revoked


def test_a_correction_that_passes_again_issues_a_new_certificate_and_the_revoked_one_stays_revoked():
    held, published = play([*STORY, CORRECTED_DOWN, CORRECTED_UP])
    assert [type(e) for e in published] == [CertificateIssued, CertificateRevoked, CertificateIssued]
    first, revoked, reissued = published
    assert revoked.certificate_id == first.certificate_id
    # A revoked code never turns valid again: the re-issue is the pair's second certificate.
    second = certificate_identity("sv-7", "s-42", KEY, issue=1)
    assert (reissued.certificate_id, reissued.verification_code) == (second.certificate_id, second.verification_code)
    assert reissued.verification_code != first.verification_code
    assert reissued.model_dump(exclude={"certificate_id", "verification_code"}) == \
        first.model_dump(exclude={"certificate_id", "verification_code"})
    assert held.status is Status.valid and held.issue == 1


def test_the_end_state_depends_on_the_facts_not_on_their_order():
    # With the correction in the mix, what happens along the way differs (heard first, the correction
    # means no certificate is ever issued), but every order ends with no standing certificate.
    for order in permutations([*STORY, CORRECTED_DOWN]):
        held, published = play(order)
        assert held is None or held.status is Status.revoked
        assert not published or isinstance(published[-1], CertificateRevoked)
    # And with the correction corrected back, every order ends with one standing certificate that says the same.
    reference = play(STORY)[1][0].model_dump(exclude={"certificate_id", "verification_code"})
    for order in permutations([SEAT, PRESENT, CORRECTED_DOWN, CORRECTED_UP]):
        held, published = play([COURSE, SESSION, GRADED, *order])
        assert held.status is Status.valid
        standing = published[-1]
        assert isinstance(standing, CertificateIssued)
        assert standing.model_dump(exclude={"certificate_id", "verification_code"}) == reference
        issued = [e.certificate_id for e in published if isinstance(e, CertificateIssued)]
        revoked = [e.certificate_id for e in published if isinstance(e, CertificateRevoked)]
        assert set(issued) - set(revoked) == {standing.certificate_id}


def test_a_regrade_above_the_pass_mark_amends_the_certificate_under_the_same_id():
    regraded = (AssessmentGraded(session_id="s-42", servant_id="sv-7", score=95), at(960, "regraded"))
    held, published = play([*STORY, regraded])
    assert [type(e) for e in published] == [CertificateIssued, CertificateIssued]
    assert published[1].certificate_id == published[0].certificate_id
    assert (published[0].score, published[1].score) == (88, 95)
    # ... and hearing the older grade last does not bring it back.
    held_late, published_late = play([*STORY[:-1], regraded, GRADED])
    assert held_late.terms.score == 95
    assert [e.score for e in published_late] == [95]

"""A certificate binds its holder: the servant's latest holder digest is signed into it, and a named
constancia's salt and printed CURP can be checked against it without the CURP ever being stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.events import CertificateIssued, CoursePublished, ServantRegistered, ServantUpdated, SessionScheduled
from contracts.holder import holder_digest, new_salt
from contracts.attribution import Stamp
from services.certification.domain.certificates import (
    HeldCertificate,
    StandingCertificate,
    Status,
    decide,
    holder_check,
)
from services.certification.domain.decisions import Completion, Rules, ServantState, decide_holder
from services.certification.domain.facts import (
    Attendance,
    CompletionFacts,
    Enrolment,
    Holder,
    course_published,
    holder_stated,
    rebinds,
    session_scheduled,
)
from services.certification.signing import CertificateSigner, verify_claims

CANCUN = ZoneInfo("America/Cancun")
T0 = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
RULES = Rules(b"test-code-key", "Secretaría Anticorrupción")
SALT = new_salt()
CURP = "GODE561231HDFRRN09"
DIGEST = holder_digest(SALT, CURP)


def stamp(minutes: int) -> Stamp:
    return Stamp.of(T0 + timedelta(minutes=minutes), f"e-{minutes}")


def registered(digest: str | None = DIGEST) -> ServantRegistered:
    return ServantRegistered(servant_id="sv-1", institution_id="inst-1", sex="female", position_level="operativo",
                             holder_digest=digest)


def updated(digest: str | None) -> ServantUpdated:
    return ServantUpdated(servant_id="sv-1", institution_id="inst-1", sex="female", position_level="operativo",
                          holder_digest=digest)


def completion() -> CompletionFacts:
    course = course_published(None, CoursePublished(
        course_id="c-1", code="CE-01", title="Código de Ética", topic="Código de Ética", hours=4,
        minimum_attendance_share=0.8, passing_score=None), stamp(0))
    starts = datetime(2026, 11, 5, 10, 0, tzinfo=CANCUN)
    session = session_scheduled(None, SessionScheduled(
        session_id="s-1", course_id="c-1", modality="virtual", starts_at=starts, ends_at=starts + timedelta(hours=4),
        timezone="America/Cancun", capacity=30), stamp(1))
    return CompletionFacts("sv-1", "s-1", course, session,
                           (Enrolment("en-1", "s-1", "sv-1", "inst-1", confirmed=True),),
                           Attendance(0.95, 228, 240, "present", stamp(2)))


def certified(holder: str | None) -> Completion:
    held = decide(completion(), None, RULES.code_key, RULES.issuing_authority, holder).certificate
    return Completion(completion(), StandingCertificate(held, "inst-1"))


def servant(holder: Holder | None) -> ServantState:
    return ServantState("sv-1", holder=holder)


def test_the_latest_statement_of_a_servants_holder_digest_holds():
    first = holder_stated(None, registered(), stamp(10))
    assert first.digest == DIGEST
    erased = holder_stated(first, updated(None), stamp(20))
    assert erased.digest is None
    assert holder_stated(erased, registered(), stamp(5)) == erased  # an older registration heard late


def test_a_certificate_carries_and_signs_its_holders_digest():
    (event,) = decide(completion(), None, RULES.code_key, RULES.issuing_authority, DIGEST).events
    assert isinstance(event, CertificateIssued) and event.holder_digest == DIGEST
    terms = decide(completion(), None, RULES.code_key, RULES.issuing_authority, DIGEST).certificate.terms
    assert terms.claims()["holder_digest"] == DIGEST
    signer = CertificateSigner(Ed25519PrivateKey.generate())
    signature = signer.sign_claims(terms.claims())
    other = holder_digest(SALT, "MAPA800101MDFRRL02")
    assert not verify_claims(signer.public, {**terms.claims(), "holder_digest": other}, signature)


def test_a_certificate_of_a_servant_without_a_digest_is_signed_and_announced_as_before():
    decision = decide(completion(), None, RULES.code_key, RULES.issuing_authority, None)
    assert "holder_digest" not in decision.certificate.terms.claims()
    assert "holder_digest" not in decision.events[0].model_fields_set


def test_a_registration_heard_after_the_certificate_binds_it_under_the_same_id():
    standing = certified(None)
    decision = decide_holder(servant(None), registered(), stamp(10), [standing], RULES)
    (amended,) = decision.events
    assert amended.certificate_id == standing.certificate.held.terms.certificate_id
    assert amended.holder_digest == DIGEST
    assert decision.fact.digest == DIGEST


def test_a_corrected_curp_rebinds_and_an_erasure_unbinds_the_servants_certificates():
    bound = Holder(DIGEST, stamp(10))
    corrected = holder_digest(SALT, "GODE561231HDFRRN08")
    (rebound,) = decide_holder(servant(bound), updated(corrected), stamp(20), [certified(DIGEST)], RULES).events
    assert rebound.holder_digest == corrected
    (unbound,) = decide_holder(servant(bound), updated(None), stamp(20), [certified(DIGEST)], RULES).events
    assert unbound.holder_digest is None


def test_an_update_that_keeps_the_digest_is_kept_but_re_judges_nothing():
    bound = Holder(DIGEST, stamp(10))
    after = holder_stated(bound, updated(DIGEST), stamp(20))
    assert not rebinds(bound, after)
    decision = decide_holder(servant(bound), updated(DIGEST), stamp(20), [certified(DIGEST)], RULES)
    assert decision.fact == after and decision.events == []
    assert decide_holder(servant(after), registered(), stamp(5), [], RULES).fact is None


def test_a_revoked_certificate_is_not_rebound():
    standing = certified(None)
    revoked = HeldCertificate(standing.certificate.held.terms, Status.revoked, 0, "cancelled")
    gone = Completion(completion(), StandingCertificate(revoked, "inst-1"))
    failing = Completion(CompletionFacts("sv-1", "s-1", gone.facts.course, gone.facts.session,
                                         (Enrolment("en-1", "s-1", "sv-1", "inst-1", cancelled=True),),
                                         gone.facts.attendance), gone.certificate)
    assert decide_holder(servant(None), registered(), stamp(10), [failing], RULES).events == []


def test_the_curp_printed_on_a_constancia_matches_only_under_its_salt():
    assert holder_check(DIGEST, SALT, CURP) == "match"
    assert holder_check(DIGEST, SALT, " gode561231hdfrrn09 ") == "match"  # as a person types it
    assert holder_check(DIGEST, SALT, "MAPA800101MDFRRL02") == "mismatch"
    assert holder_check(DIGEST, new_salt(), CURP) == "mismatch"
    assert holder_check(DIGEST, "not a salt", CURP) == "mismatch"


def test_nothing_is_compared_without_both_salt_and_curp_or_without_a_bound_holder():
    assert holder_check(DIGEST, SALT, None) is None
    assert holder_check(DIGEST, None, CURP) is None
    assert holder_check(None, SALT, CURP) is None

"""A certificate's vigencia: a course's validity_months make its certificates hold until a day, after which
verification says "expired"; a course without validity issues certificates exactly as before."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.events import CertificateIssued, CoursePublished, SessionScheduled
from contracts.attribution import Stamp
from services.certification.domain.certificates import decide, verified_status
from services.certification.domain.decisions import Rules
from services.certification.domain.facts import (
    Attendance,
    CompletionFacts,
    Enrolment,
    course_published,
    session_scheduled,
)
from services.certification.handlers import CertificationContext
from services.certification.signing import CertificateSigner, verify_claims

CANCUN = ZoneInfo("America/Cancun")
T0 = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
KEY = b"test-code-key"
AUTHORITY = "Secretaría Anticorrupción"


def stamp(minutes: int) -> Stamp:
    return Stamp.of(T0 + timedelta(minutes=minutes), f"e-{minutes}")


def published(validity_months: int | None = None) -> CoursePublished:
    return CoursePublished(course_id="c-1", code="CE-01", title="Código de Ética", topic="Código de Ética", hours=4,
                           minimum_attendance_share=0.8, passing_score=None, validity_months=validity_months)


def completion(validity_months: int | None = None, *, day: int = 31, month: int = 1) -> CompletionFacts:
    starts = datetime(2026, month, day, 10, 0, tzinfo=CANCUN)
    session = session_scheduled(None, SessionScheduled(
        session_id="s-1", course_id="c-1", modality="virtual", starts_at=starts, ends_at=starts + timedelta(hours=4),
        timezone="America/Cancun", capacity=30), stamp(1))
    attendance = Attendance(0.95, 228, 240, "present", stamp(2))
    return CompletionFacts("sv-1", "s-1", course_published(None, published(validity_months), stamp(0)),
                           session, (Enrolment("en-1", "s-1", "sv-1", "inst-1", confirmed=True),), attendance)


def issued(facts: CompletionFacts) -> CertificateIssued:
    (event,) = decide(facts, None, KEY, AUTHORITY).events
    return event


def test_a_course_keeps_the_validity_it_was_published_with():
    assert course_published(None, published(24), stamp(0)).validity_months == 24
    assert course_published(None, published(), stamp(0)).validity_months is None


def test_a_certificate_for_a_course_with_validity_holds_until_issued_on_plus_its_months():
    event = issued(completion(12, day=5, month=11))
    assert (event.issued_on, event.valid_until) == (date(2026, 11, 5), date(2027, 11, 5))


def test_a_vigencia_ending_past_a_short_month_ends_on_its_last_day():
    assert issued(completion(1, day=31, month=1)).valid_until == date(2026, 2, 28)


def test_a_certificate_for_a_course_without_validity_is_announced_exactly_as_before():
    event = issued(completion(None))
    assert event.valid_until is None
    before = CertificateIssued(**event.model_dump(exclude={"valid_until", "holder_digest"}))
    assert event.model_dump_json() == before.model_dump_json()
    assert "valid_until" not in event.model_fields_set


def test_the_vigencia_is_signed_only_when_the_certificate_has_one():
    forever = decide(completion(None), None, KEY, AUTHORITY).certificate.terms
    assert "valid_until" not in forever.claims()
    bounded = decide(completion(6), None, KEY, AUTHORITY).certificate.terms
    assert bounded.claims()["valid_until"] == "2026-07-31"
    signer = CertificateSigner(Ed25519PrivateKey.generate())
    signature = signer.sign_claims(bounded.claims())
    assert not verify_claims(signer.public, {**bounded.claims(), "valid_until": "2036-07-31"}, signature)


def test_republishing_the_course_with_a_validity_amends_its_certificate_under_the_same_id():
    held = decide(completion(None), None, KEY, AUTHORITY).certificate
    again = decide(completion(12), held, KEY, AUTHORITY)
    (amended,) = again.events
    assert amended.certificate_id == held.terms.certificate_id and amended.valid_until == date(2027, 1, 31)
    assert decide(completion(12), again.certificate, KEY, AUTHORITY).events == []


def test_a_certificate_holds_through_its_last_day_and_has_expired_the_day_after():
    until = date(2027, 11, 5)
    assert verified_status("valid", True, until, until) == "valid"
    assert verified_status("valid", True, until, until + timedelta(days=1)) == "expired"
    assert verified_status("valid", True, None, date(2099, 1, 1)) == "valid"


def test_a_revoked_certificate_stays_revoked_and_a_broken_signature_is_invalid_whatever_the_vigencia():
    past = date(2020, 1, 1)
    assert verified_status("revoked", True, past, date(2026, 1, 1)) == "revoked"
    assert verified_status("valid", False, past, date(2026, 1, 1)) == "invalid"


def test_today_is_the_programmes_date_not_utcs():
    late_evening = datetime(2026, 11, 6, 3, 30, tzinfo=UTC)  # 5 November, 21:30 in Mexico City
    ctx = CertificationContext(CertificateSigner(Ed25519PrivateKey.generate()), Rules(KEY, AUTHORITY),
                               programme_timezone="America/Mexico_City", clock=lambda: late_evening)
    assert ctx.today() == date(2026, 11, 5)
    assert replace(ctx, programme_timezone="UTC").today() == date(2026, 11, 6)

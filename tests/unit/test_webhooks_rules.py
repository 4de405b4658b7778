"""Which endpoints an agency may register, which events it may ask for, and what follows a failed delivery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts.events import AgencyRequestDecided, CertificateIssued, CertificateRevoked
from probidad.shared.errors import RuleViolation
from services.enrollment.webhooks.domain import (
    EVENT_TYPES,
    RetryPolicy,
    check_event_types,
    check_url,
    decide_after_failure,
    is_delivered,
)


@pytest.mark.parametrize("url", ["https://agencia.example.gob.mx/hooks", "https://10.0.0.4:8443/x?y=1",
                                 "http://127.0.0.1:9000/hook", "http://127.3.4.5/hook", "http://[::1]:8080/",
                                 "http://localhost:8080/hook"])
def test_https_anywhere_and_http_on_loopback_are_accepted(url):
    assert check_url(url, allow_http=False) == url


@pytest.mark.parametrize("url", ["http://agencia.example.gob.mx/hooks", "http://10.0.0.4/hook",
                                 "http://[2001:db8::1]/", "http://localhost.evil.example/"])
def test_plain_http_to_another_host_is_refused_naming_the_url(url):
    with pytest.raises(RuleViolation) as refused:
        check_url(url, allow_http=False)
    assert refused.value.field == "url" and refused.value.kind == "invalid"


def test_plain_http_anywhere_is_accepted_when_the_service_allows_it():
    assert check_url("http://agencia.example.gob.mx/hooks", allow_http=True) == "http://agencia.example.gob.mx/hooks"


@pytest.mark.parametrize("url", ["ftp://agencia.example/x", "agencia.example/hooks", "https:///nohost",
                                 "https://user:secret@agencia.example/hooks", "https://token@agencia.example/",
                                 "https://agencia.example:99999/", "https://agencia.example/" + "a" * 2000])
def test_other_schemes_missing_hosts_credentials_bad_ports_and_long_urls_are_refused(url):
    with pytest.raises(RuleViolation) as refused:
        check_url(url, allow_http=True)
    assert refused.value.field == "url"


def test_no_event_types_means_all_three_and_named_ones_are_kept_in_the_platforms_order():
    assert check_event_types(None) == check_event_types([]) == EVENT_TYPES == (
        AgencyRequestDecided.type, CertificateIssued.type, CertificateRevoked.type)
    assert check_event_types([CertificateRevoked.type, AgencyRequestDecided.type]) == (
        AgencyRequestDecided.type, CertificateRevoked.type)


def test_an_event_type_an_agency_may_not_receive_is_refused_naming_event_types():
    with pytest.raises(RuleViolation) as refused:
        check_event_types([CertificateIssued.type, "probidad.enrollment.servant.registered.v1"])
    assert refused.value.field == "event_types" and "servant.registered" in refused.value.message


POLICY = RetryPolicy(base_s=30, max_s=3600, retry_for_s=86400, jitter=0.1)
CREATED = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)


def test_waits_double_from_the_base_up_to_the_cap_and_jitter_only_lengthens_them():
    assert [POLICY.wait(n).total_seconds() for n in range(1, 10)] == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert POLICY.wait(1, spread=0.999).total_seconds() == pytest.approx(32.997)
    assert POLICY.wait(3, spread=0.5) > POLICY.wait(3)


def test_a_failure_within_the_retry_period_is_tried_again_after_its_backoff():
    now = CREATED + timedelta(minutes=5)
    after = decide_after_failure(POLICY, created_at=CREATED, attempts=3, now=now)
    assert not after.parked and after.attempts == 3 and after.retry_at == now + timedelta(seconds=120)


def test_a_failure_whose_next_try_would_fall_after_the_retry_period_parks_the_delivery():
    last_hour = CREATED + timedelta(hours=23, minutes=30)
    assert decide_after_failure(POLICY, created_at=CREATED, attempts=20, now=last_hour).parked
    early_enough = CREATED + timedelta(hours=22)
    assert not decide_after_failure(POLICY, created_at=CREATED, attempts=20, now=early_enough).parked


def test_a_replayed_delivery_that_fails_again_is_parked_again():
    days_later = CREATED + timedelta(days=3)
    assert decide_after_failure(POLICY, created_at=CREATED, attempts=40, now=days_later).parked


def test_a_day_of_failures_makes_about_thirty_attempts_then_parks():
    now, attempts = CREATED, 0
    while True:
        attempts += 1
        after = decide_after_failure(POLICY, created_at=CREATED, attempts=attempts, now=now)
        if after.parked:
            break
        assert after.retry_at is not None
        now = after.retry_at
    assert CREATED + timedelta(hours=23) <= now <= CREATED + timedelta(days=1)
    assert 25 <= attempts <= 35


@pytest.mark.parametrize(("status", "delivered"), [(200, True), (204, True), (299, True), (301, False),
                                                   (404, False), (500, False), (None, False)])
def test_only_a_2xx_answer_is_a_delivery(status, delivered):
    assert is_delivered(status) is delivered

"""A number a certificate signs (a course's hours, a score) is valid everywhere or nowhere.

Certification signs hours and scores in canonical JSON, which has no form for a number like 5e-324 or
1e-05; before, such a course was accepted by enrollment and reporting and dead-lettered by
certification alone. The bound is now the contract's (``contracts.base.PlainNumber``): every service
refuses such a fact at its door, and a record carrying one is a contract violation for every consumer.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from contracts.base import PLAIN_NUMBER_RULE, has_plain_form
from contracts.envelope import ContractViolation, open_envelope, seal, to_record
from contracts.events import AssessmentGraded, CertificateIssued, CoursePublished
from contracts.schemas import committed, published, published_breaks
from services.certification.signing import canonical_json
from services.reporting.rebuild.rows import fast_row, slow_row

NO_PLAIN_FORM = [5e-324, 1e-05, 9.99e-05]
PLAIN = [0.0001, 0.00015, 0.5, 2.5, 87.5, 100]


def course(**changed) -> CoursePublished:
    return CoursePublished(**{"course_id": "co-1", "code": "CE-1", "title": "Código de Ética",
                              "topic": "Código de Ética", "hours": 2, "passing_score": 70, **changed})


def grade(score: float) -> AssessmentGraded:
    return AssessmentGraded(session_id="se-1", servant_id="sv-1", score=score)


def certificate(**changed) -> CertificateIssued:
    return CertificateIssued(**{"certificate_id": "ce-1", "verification_code": "ABCD-2345", "servant_id": "sv-1",
                                "course_id": "co-1", "session_id": "se-1", "hours": 2, "score": 90,
                                "issued_on": date(2026, 11, 5), "issuing_authority": "Contraloría", **changed})


SIGNED_NUMBERS = {
    "a course's hours": (lambda v: course(hours=v), "hours"),
    "a course's passing score": (lambda v: course(passing_score=v), "passing_score"),
    "an evaluation's score": (grade, "score"),
    "a certificate's hours": (lambda v: certificate(hours=v), "hours"),
    "a certificate's score": (lambda v: certificate(score=v), "score"),
}


@pytest.mark.parametrize("number", SIGNED_NUMBERS)
@pytest.mark.parametrize("value", NO_PLAIN_FORM)
def test_a_signed_number_without_a_plain_form_is_refused_by_the_contract_naming_its_field(number, value) -> None:
    build, field = SIGNED_NUMBERS[number]
    with pytest.raises(ValidationError) as refused:
        build(value)
    [error] = refused.value.errors()
    assert error["loc"] == (field,)
    assert "no plain decimal form" in error["msg"] and PLAIN_NUMBER_RULE in error["msg"]


@pytest.mark.parametrize("number", SIGNED_NUMBERS)
@pytest.mark.parametrize("value", PLAIN)
def test_a_signed_number_with_a_plain_form_is_accepted(number, value) -> None:
    build, field = SIGNED_NUMBERS[number]
    assert getattr(build(value), field) == value


def test_a_score_of_zero_is_plain() -> None:
    assert grade(0).score == 0


@settings(max_examples=500, deadline=None, database=None, derandomize=True)
@given(st.floats(min_value=0, max_value=1e17, allow_nan=False) | st.sampled_from(NO_PLAIN_FORM + PLAIN))
def test_the_contract_admits_exactly_the_numbers_the_certificate_signer_can_write(value: float) -> None:
    try:
        canonical_json({"hours": value})
        signable = True
    except ValueError:
        signable = False
    assert has_plain_form(value) is signable


def _record_with(event, **raw) -> tuple[list[tuple[str, bytes]], bytes]:
    """The Kafka record of ``event`` with fields of its JSON value replaced, as another producer might write it."""
    _key, value, headers = to_record(seal(event, time=datetime(2026, 11, 5, 15, tzinfo=UTC)))
    data = {**json.loads(value), **raw}
    return [(name, text.encode()) for name, text in headers.items()], json.dumps(data).encode()


@pytest.mark.parametrize("value", NO_PLAIN_FORM)
def test_a_course_record_with_tiny_hours_is_a_contract_violation_for_every_consumer_naming_hours(value) -> None:
    headers, raw = _record_with(course(), hours=value)
    assert f'"hours": {value!r}' in raw.decode()
    # open_envelope is where every service's consumer judges a record (enrollment, attendance,
    # certification, reporting): a violation there is dead-lettered with this reason, kind "contract".
    with pytest.raises(ContractViolation, match=r"hours") as violation:
        open_envelope(headers, raw)
    assert "no plain decimal form" in str(violation.value)
    # Reporting's rebuild reads the topic by its own fast path: it reaches the same verdict.
    with pytest.raises(ContractViolation, match="hours"):
        fast_row(headers, raw, 1)
    with pytest.raises(ContractViolation, match="hours"):
        slow_row(headers, raw, 1)


def test_a_grade_record_with_a_tiny_score_is_a_contract_violation_for_every_consumer() -> None:
    headers, raw = _record_with(grade(80), score=1e-05)
    with pytest.raises(ContractViolation, match="score"):
        open_envelope(headers, raw)
    with pytest.raises(ContractViolation, match="score"):
        fast_row(headers, raw, 1)


def test_the_same_records_with_plain_numbers_are_accepted_by_every_consumer() -> None:
    headers, raw = _record_with(course(), hours=0.0001)
    assert open_envelope(headers, raw).event.hours == 0.0001
    assert fast_row(headers, raw, 1) == slow_row(headers, raw, 1)


@pytest.mark.parametrize("event", [CoursePublished, AssessmentGraded, CertificateIssued], ids=lambda e: e.__name__)
def test_the_bound_is_stated_in_the_schema_agencies_read_and_the_published_v1_accepts_as_before(event) -> None:
    schema = committed(event)
    described = [name for name, field in schema["properties"].items()
                 if PLAIN_NUMBER_RULE in field.get("description", "")]
    assert described, f"{event.type}: no field states the plain-number rule"
    assert published(event) is not None
    assert event.type not in published_breaks()

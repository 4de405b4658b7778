"""Enrollment's handlers without a database: an in-memory repository (tests/support/fakes/enrollment.py) and a
unit of work that only collects what is recorded. What a handler decides is the events it returns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts.envelope import seal
from contracts.events import (
    AgencyRequestDecided, EnrolmentConfirmed, EnrolmentRequested, EnrolmentWaitlisted, InstitutionRegistered,
    RequestRejected,
)
from probidad.shared.errors import RuleViolation
from services.enrollment.agency import handlers as agency, subscribers
from services.enrollment.context import EnrollmentContext
from services.enrollment.enrolments import handlers as enrolments
from services.enrollment.institutions import handlers as institutions
from services.enrollment.sessions.domain import SessionTerms
from tests.support.fakes.enrollment import FakeEnrollmentRepository, FakeUnitOfWork

NOW = datetime(2026, 11, 1, 15, 0, tzinfo=UTC)
SESSION = SessionTerms("se-1", NOW + timedelta(days=9), NOW + timedelta(days=9, hours=2), capacity=1)


@pytest.fixture
def repo() -> FakeEnrollmentRepository:
    repository = FakeEnrollmentRepository()
    repository.session_terms["se-1"] = SESSION
    return repository


@pytest.fixture
def uow(repo: FakeEnrollmentRepository) -> FakeUnitOfWork:
    return FakeUnitOfWork(repo)


CTX = EnrollmentContext(digest_key="k" * 32, programme_timezone="America/Cancun", clock=lambda: NOW)


async def test_a_municipal_institution_without_its_municipality_is_refused_and_nothing_is_saved(uow, repo):
    with pytest.raises(RuleViolation) as refused:
        await institutions.register_institution(repo, CTX, institution_id="in-m", name="Municipio",
                                                government_level="municipal", municipality=" ", headcount=10,
                                                headcount_year=2026)
    assert refused.value.field == "municipality"
    assert repo.saved_institutions == []
    done = await institutions.register_institution(repo, CTX, institution_id="in-m", name="Municipio",
                                                   government_level="municipal", municipality="Tulum", headcount=10,
                                                   headcount_year=2026)
    (registered,) = done.events
    assert isinstance(registered, InstitutionRegistered) and done.created
    assert (registered.headcount, registered.municipality) == (10, "Tulum")


async def test_the_last_seat_is_confirmed_and_the_next_servant_waits_first_in_line(uow, repo):
    first = await enrolments.enrol(repo, CTX, session_id="se-1", servant_id="sv-1", acting_for="in-a", now=NOW)
    second = await enrolments.enrol(repo, CTX, session_id="se-1", servant_id="sv-2", acting_for=None, now=NOW)
    assert [type(e) for e in first.events + second.events] == [EnrolmentConfirmed, EnrolmentWaitlisted]
    assert (second.enrolment.status, second.position, second.events[0].position) == ("waitlisted", 1, 1)
    assert second.enrolment.enrolled_at == NOW
    assert uow.recorded == []  # the caller records what a handler returns


async def test_another_institutions_servant_is_unknown_to_a_liaison(uow, repo):
    repo.servant_institutions["sv-b"] = "in-b"
    with pytest.raises(RuleViolation) as refused:
        await enrolments.enrol(repo, CTX, session_id="se-1", servant_id="sv-b", acting_for="in-a", now=NOW)
    assert (refused.value.field, refused.value.kind) == ("servant_id", "not_found")
    assert repo.enrolment_rows == []


def enrolment_request(request_id: str = "rq-1", session_id: str = "se-nope") -> EnrolmentRequested:
    return EnrolmentRequested(request_id=request_id, institution_id="in-a", session_id=session_id, servant_id="sv-1")


async def test_an_agency_request_that_breaks_a_rule_is_answered_with_a_rejection_and_remembered(uow, repo):
    events = await agency.decide_agency_request(repo, CTX, enrolment_request(), now=NOW)
    (rejected,) = events
    assert isinstance(rejected, RequestRejected)
    assert (rejected.request_id, rejected.field) == ("rq-1", "session_id")
    assert repo.decided[("in-a", "rq-1")].outcome == RequestRejected.type
    # Sent again (a new event id, the same request): decided once, answered once.
    assert await agency.decide_agency_request(repo, CTX, enrolment_request(), now=NOW) == []


async def test_in_secure_mode_a_decision_is_copied_for_the_outcome_topic_of_the_topic_institution(uow, repo):
    secure = EnrollmentContext(digest_key=CTX.digest_key, outcome_topics=True, clock=lambda: NOW)
    confirmed, decided = await agency.decide_agency_request(repo, secure, enrolment_request(session_id="se-1"),
                                                            topic_institution="in-a", now=NOW)
    assert isinstance(confirmed, EnrolmentConfirmed) and isinstance(decided, AgencyRequestDecided)
    assert (decided.institution_id, decided.outcome, decided.outcome_id) == \
        ("in-a", EnrolmentConfirmed.type, confirmed.enrolment_id)
    # The same request id for another request: refused, and the first decision stands.
    (reused,) = await agency.decide_agency_request(repo, CTX, enrolment_request(session_id="se-2"), now=NOW)
    assert (reused.field, repo.decided[("in-a", "rq-1")].outcome) == ("request_id", EnrolmentConfirmed.type)


async def test_a_request_naming_another_institution_than_its_topic_is_a_dead_letter_not_an_answer(uow, repo):
    envelope = seal(enrolment_request(), correlation_id="hr-7")
    envelope.extra_headers[subscribers.TOPIC_INSTITUTION_HEADER] = "in-b"
    with pytest.raises(RuleViolation, match="not the institution of this topic") as refused:
        await subscribers.on_agency_request(CTX, uow, envelope)
    assert refused.value.kind == "forbidden"  # the consumer dead-letters a broken rule as rejected
    assert repo.decided == {} and uow.recorded == []


async def test_the_subscriber_records_what_the_handler_decided_under_the_requests_correlation_id(uow, repo):
    await subscribers.subscriptions(CTX)[EnrolmentRequested.type](uow, seal(enrolment_request(), correlation_id="hr-7"))
    assert [(type(event), correlation_id) for event, correlation_id in uow.recorded] == [(RequestRejected, "hr-7")]

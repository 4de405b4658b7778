"""Enrollment's handlers without a database: an in-memory repository behind a unit of work that only
collects what is recorded. What a handler decides is the events it returns."""

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
from services.enrollment.agency.domain import DecidedRequest
from services.enrollment.context import EnrollmentContext
from services.enrollment.enrolments import handlers as enrolments
from services.enrollment.enrolments.domain import Occupancy
from services.enrollment.enrolments.repository import SeatCheck
from services.enrollment.institutions import handlers as institutions
from services.enrollment.repository import SqlEnrollmentRepository
from services.enrollment.sessions.domain import SessionTerms
from services.enrollment.tables import Enrolment, Institution

NOW = datetime(2026, 11, 1, 15, 0, tzinfo=UTC)
SESSION = SessionTerms("se-1", NOW + timedelta(days=9), NOW + timedelta(days=9, hours=2), capacity=1)


class FakeRepository:
    """The few repository methods these handlers use, over dictionaries."""

    def __init__(self) -> None:
        self.institutions: dict[str, Institution] = {"in-a": Institution(institution_id="in-a", name="A",
                                                                          government_level="state")}
        self.servants = {"sv-1": "in-a", "sv-2": "in-a"}  # servant id -> institution
        self.sessions = {"se-1": SESSION}
        self.enrolments: list[Enrolment] = []
        self.decided: dict[tuple[str, str], DecidedRequest] = {}
        self.saved_institutions: list[str] = []

    async def institution(self, institution_id: str) -> Institution | None:
        return self.institutions.get(institution_id)

    async def save_institution(self, *, institution_id: str, **values) -> tuple[Institution, bool]:
        self.saved_institutions.append(institution_id)
        created = institution_id not in self.institutions
        self.institutions[institution_id] = Institution(institution_id=institution_id, name=values["name"],
                                                        government_level=values["government_level"],
                                                        municipality=values["municipality"])
        return self.institutions[institution_id], created

    async def lock_servant(self, servant_id: str) -> bool:
        return servant_id in self.servants

    async def lock_session_terms(self, session_id: str) -> SessionTerms | None:
        return self.sessions.get(session_id)

    async def seat_check(self, session: SessionTerms, servant_id: str) -> SeatCheck:
        active = [e for e in self.enrolments if e.session_id == session.session_id]
        occupancy = Occupancy(sum(e.status == "confirmed" for e in active),
                                     sum(e.status == "waitlisted" for e in active),
                                     any(e.servant_id == servant_id for e in active))
        return SeatCheck(self.servants.get(servant_id), False, occupancy, [])

    async def add_enrolment(self, **values) -> Enrolment:
        enrolment = Enrolment(**values, number=len(self.enrolments) + 1)
        self.enrolments.append(enrolment)
        return enrolment

    async def decided_agency_request(self, institution_id: str, request_id: str) -> DecidedRequest | None:
        return self.decided.get((institution_id, request_id))

    async def record_agency_request(self, *, institution_id: str, request_id: str, digest: str, outcome: str,
                                    outcome_id: str | None, decided_at: datetime, **_) -> None:
        self.decided[(institution_id, request_id)] = DecidedRequest(
            institution_id, request_id, digest, outcome, outcome_id, decided_at)


class FakeUnitOfWork:
    def __init__(self, repository: FakeRepository) -> None:
        self.repository = repository
        self.recorded: list[tuple[object, str | None]] = []

    def part(self, key: object, make) -> FakeRepository:  # noqa: ANN001
        assert key is SqlEnrollmentRepository
        return self.repository

    def record(self, events, *, correlation_id: str | None = None, topic: str | None = None) -> list:  # noqa: ANN001
        self.recorded += [(event, correlation_id) for event in events]
        return []


@pytest.fixture
def repo() -> FakeRepository:
    return FakeRepository()


@pytest.fixture
def uow(repo: FakeRepository) -> FakeUnitOfWork:
    return FakeUnitOfWork(repo)


CTX = EnrollmentContext(digest_key="k" * 32, programme_timezone="America/Cancun", clock=lambda: NOW)


async def test_a_municipal_institution_without_its_municipality_is_refused_and_nothing_is_saved(uow, repo):
    with pytest.raises(RuleViolation) as refused:
        await institutions.register_institution(uow, CTX, institution_id="in-m", name="Municipio", government_level="municipal",
                                            municipality=" ", headcount=10, headcount_year=2026)
    assert refused.value.field == "municipality"
    assert repo.saved_institutions == []
    done = await institutions.register_institution(uow, CTX, institution_id="in-m", name="Municipio",
                                               government_level="municipal", municipality="Tulum", headcount=10,
                                               headcount_year=2026)
    (registered,) = done.events
    assert isinstance(registered, InstitutionRegistered) and done.created
    assert (registered.headcount, registered.municipality) == (10, "Tulum")


async def test_the_last_seat_is_confirmed_and_the_next_servant_waits_first_in_line(uow, repo):
    first = await enrolments.enrol(uow, CTX, session_id="se-1", servant_id="sv-1", acting_for="in-a")
    second = await enrolments.enrol(uow, CTX, session_id="se-1", servant_id="sv-2", acting_for=None)
    assert [type(e) for e in first.events + second.events] == [EnrolmentConfirmed, EnrolmentWaitlisted]
    assert (second.enrolment.status, second.position, second.events[0].position) == ("waitlisted", 1, 1)
    assert second.enrolment.enrolled_at == NOW
    assert uow.recorded == []  # the caller records what a handler returns


async def test_another_institutions_servant_is_unknown_to_a_liaison(uow, repo):
    repo.servants["sv-b"] = "in-b"
    with pytest.raises(RuleViolation) as refused:
        await enrolments.enrol(uow, CTX, session_id="se-1", servant_id="sv-b", acting_for="in-a")
    assert (refused.value.field, refused.value.kind) == ("servant_id", "not_found")
    assert repo.enrolments == []


def enrolment_request(request_id: str = "rq-1", session_id: str = "se-nope") -> EnrolmentRequested:
    return EnrolmentRequested(request_id=request_id, institution_id="in-a", session_id=session_id, servant_id="sv-1")


async def test_an_agency_request_that_breaks_a_rule_is_answered_with_a_rejection_and_remembered(uow, repo):
    events = await agency.decide_agency_request(uow, CTX, enrolment_request())
    (rejected,) = events
    assert isinstance(rejected, RequestRejected)
    assert (rejected.request_id, rejected.field) == ("rq-1", "session_id")
    assert repo.decided[("in-a", "rq-1")].outcome == RequestRejected.type
    # Sent again (a new event id, the same request): decided once, answered once.
    assert await agency.decide_agency_request(uow, CTX, enrolment_request()) == []


async def test_in_secure_mode_a_decision_is_copied_for_the_outcome_topic_of_the_topic_institution(uow, repo):
    secure = EnrollmentContext(digest_key=CTX.digest_key, outcome_topics=True, clock=lambda: NOW)
    confirmed, decided = await agency.decide_agency_request(uow, secure, enrolment_request(session_id="se-1"),
                                                              topic_institution="in-a")
    assert isinstance(confirmed, EnrolmentConfirmed) and isinstance(decided, AgencyRequestDecided)
    assert (decided.institution_id, decided.outcome, decided.outcome_id) == \
        ("in-a", EnrolmentConfirmed.type, confirmed.enrolment_id)
    # The same request id for another request: refused, and the first decision stands.
    (reused,) = await agency.decide_agency_request(uow, CTX, enrolment_request(session_id="se-2"))
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

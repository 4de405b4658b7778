"""Agency requests arriving as events get the same rules as HTTP, and an answer carrying their request id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from structlog.testing import capture_logs
from prometheus_client import REGISTRY

from contracts.envelope import seal, to_record
from contracts.events import (
    CoursePublished, EnrolmentConfirmed, EnrolmentRequested, RequestRejected, ServantRegistered, ServantSubmitted,
)
from contracts.topics import AGENCY_REQUESTS
from services.enrollment.institutions import handlers as institutions
from services.enrollment.sessions import handlers as sessions
from services.enrollment.app import create_runtime
from services.enrollment.context import EnrollmentContext
from services.enrollment.repository import SqlEnrollmentRepository
from services.enrollment.servants.domain.curp import curp_check_digit
from services.enrollment.settings import EnrollmentSettings
from services.enrollment.tables import AgencyRequest, Enrolment, Servant
from tests.support.harness import serving

GROUP = "probidad-enrollment"


def curp(body: str = "GOMA850412MYNRRN0") -> str:
    return body + curp_check_digit(body)


def agency_request_consumer(runtime):
    """Enrollment's consumer of the agency requests (its other one keeps certification's completions)."""
    (consumer,) = [c for c, topics in runtime.consumers if AGENCY_REQUESTS in topics]
    return consumer


@pytest.fixture
async def enrollment(database_url: str, tmp_path):
    """The runtime, started in the harness: ``published`` (opened envelopes), ``dead_letters`` and
    ``test_broker`` are the harness's, and ``harness`` the harness itself."""
    async with serving(create_runtime, EnrollmentSettings(database_url=database_url, state_dir=tmp_path)) as harness:
        runtime = harness.runtime
        runtime.harness, runtime.test_broker = harness, harness.broker
        runtime.published, runtime.dead_letters = harness.envelopes, harness.dead_letters
        ctx = runtime.provided(EnrollmentContext)
        async with runtime.unit_of_work() as uow:
            for done in [
                await institutions.register_institution(SqlEnrollmentRepository.of(uow), ctx, institution_id="in-a",
                                                        name="Secretaría A",
                                                    government_level="state", municipality=None, headcount=300,
                                                    headcount_year=2026),
                await institutions.register_institution(SqlEnrollmentRepository.of(uow), ctx, institution_id="in-b",
                                                        name="Municipio B",
                                                    government_level="municipal", municipality="Tulum", headcount=80,
                                                    headcount_year=2026),
                await institutions.publish_course(SqlEnrollmentRepository.of(uow), ctx, **CoursePublished(
                    course_id="co-1", code="CI-1", title="Conflicto de Interés", topic="Conflicto de Interés",
                    hours=3).model_dump(exclude={"course_id"}), course_id="co-1"),
            ]:
                uow.record(done.events)
            start = datetime(2026, 11, 10, 15, 0, tzinfo=UTC)
            uow.record((await sessions.schedule_session(
                SqlEnrollmentRepository.of(uow), ctx, session_id="se-1", course_id="co-1", modality="virtual",
                platform="Teams", venue=None,
                starts_at=start, ends_at=start + timedelta(hours=3), timezone="America/Mexico_City", capacity=1,
                instructor_id=None, organising_unit="Unidad de Ética")).events)
        await runtime.relay.drain()
        runtime.published.clear()
        yield runtime


async def send(runtime, *events, correlation_id: str | None = None) -> list:
    sent = await runtime.harness.send(*events, correlation_id=correlation_id)
    await runtime.harness.drain()
    return sent


def submitted(request_id: str, institution: str = "in-a", curp_: str | None = None, **extra) -> ServantSubmitted:
    fields = dict(name="Ana Gómez", email="ana@sefiplan.gob.mx", sex="female", position="Analista") | extra
    return ServantSubmitted(request_id=request_id, institution_id=institution, curp=curp_ or curp(), **fields)


async def test_a_submitted_servant_and_an_enrolment_by_curp_become_registration_and_seat(enrollment):
    await send(enrollment, submitted("rq-1"),
               EnrolmentRequested(request_id="rq-2", institution_id="in-a", session_id="se-1", curp=curp()),
               correlation_id="hr-batch-7")
    registered, confirmed = enrollment.published
    assert registered.type == "probidad.enrollment.servant.registered.v1"
    assert (registered.event.request_id, registered.event.institution_id) == ("rq-1", "in-a")
    assert confirmed.type == "probidad.enrollment.enrolment.confirmed.v1"
    assert (confirmed.event.request_id, confirmed.event.servant_id, confirmed.event.session_id) == \
        ("rq-2", registered.event.servant_id, "se-1")
    assert {registered.correlation_id, confirmed.correlation_id} == {"hr-batch-7"}


async def test_a_second_request_for_the_last_seat_is_waitlisted_with_its_request_id(enrollment):
    other = curp("PEHJ920101HQRRRN0")
    await send(enrollment, submitted("rq-1"), submitted("rq-2", curp_=other),
               EnrolmentRequested(request_id="rq-3", institution_id="in-a", session_id="se-1", curp=curp()),
               EnrolmentRequested(request_id="rq-4", institution_id="in-a", session_id="se-1", curp=other))
    waitlisted = enrollment.published[-1]
    assert waitlisted.type == "probidad.enrollment.enrolment.waitlisted.v1"
    assert (waitlisted.event.request_id, waitlisted.event.position) == ("rq-4", 1)


@pytest.mark.parametrize("request_, field", [
    (submitted("rq-bad-digit", curp_=curp()[:17] + str((int(curp()[17]) + 1) % 10)), "curp"),
    (submitted("rq-no-institution", institution="in-zz"), "institution_id"),
    (submitted("rq-bad-mail", email="nobody"), "email"),
    (EnrolmentRequested(request_id="rq-no-session", institution_id="in-a", session_id="se-nope", curp=curp()),
     "session_id"),
    (EnrolmentRequested(request_id="rq-stranger", institution_id="in-b", session_id="se-1", curp=curp()), "curp"),
    (EnrolmentRequested(request_id="rq-nobody", institution_id="in-a", session_id="se-1"), "servant_id"),
])
async def test_a_request_that_breaks_a_rule_is_answered_with_a_rejection_and_changes_nothing(
        enrollment, request_, field):
    await send(enrollment, submitted("rq-setup"))
    servant_id = enrollment.published[0].event.servant_id
    counted = {"request": request_.type.split(".")[2], "field": field}
    before = REGISTRY.get_sample_value("probidad_enrollment_agency_rejections_total", counted) or 0
    await send(enrollment, request_)
    (rejection,) = enrollment.published[1:]
    assert REGISTRY.get_sample_value("probidad_enrollment_agency_rejections_total", counted) == before + 1
    assert rejection.type == "probidad.enrollment.request.rejected.v1"
    assert (rejection.event.request_id, rejection.event.field) == (request_.request_id, field)
    assert rejection.event.reason and rejection.event.institution_id == request_.institution_id
    assert enrollment.dead_letters == []
    async with enrollment.database.transaction() as db:
        servant = await db.get(Servant, servant_id)
        assert (servant.institution_id, servant.email) == ("in-a", "ana@sefiplan.gob.mx")


async def test_an_agency_cannot_enrol_another_institutions_servant_by_id(enrollment):
    await send(enrollment, submitted("rq-1"))
    servant_id = enrollment.published[0].event.servant_id
    await send(enrollment, EnrolmentRequested(request_id="rq-2", institution_id="in-b", session_id="se-1",
                                              servant_id=servant_id))
    rejection = enrollment.published[-1]
    assert (rejection.type.split(".")[-2], rejection.event.field) == ("rejected", "servant_id")


async def test_a_redelivered_request_is_applied_once(enrollment):
    (envelope,) = await send(enrollment, submitted("rq-1"))
    key, value, headers = to_record(envelope)
    await enrollment.test_broker.publish(value, AGENCY_REQUESTS, key=key, headers=headers)
    await enrollment.relay.drain()
    assert [e.type.split(".")[-2] for e in enrollment.published] == ["registered"]


async def test_a_record_that_violates_the_contract_goes_to_the_dead_letters_not_to_a_rejection(enrollment):
    headers = {"ce_specversion": "1.0", "ce_id": "x-1", "ce_source": "agency", "ce_type": ServantSubmitted.type}
    await enrollment.test_broker.publish(b'{"request_id": "rq-x", "curp": "TOO-SHORT"}', AGENCY_REQUESTS,
                                         headers=headers)
    await enrollment.relay.drain()
    assert enrollment.published == []
    (letter,) = enrollment.dead_letters
    assert letter.headers["dlq_reason_kind"] == "contract" and "curp" in letter.headers["dlq_reason"]


# ------------------------------------------------------------------ one decision per request id


async def count(runtime, table) -> int:
    async with runtime.database.transaction() as db:
        return (await db.execute(select(func.count()).select_from(table))).scalar_one()


def outcomes(runtime) -> list[tuple[str, str | None]]:
    return [(e.type.split(".")[-2], e.event.request_id) for e in runtime.published]


async def test_an_enrolment_request_sent_again_under_a_new_event_id_is_decided_once(enrollment):
    await send(enrollment, submitted("rq-1"))
    request = EnrolmentRequested(request_id="rq-2", institution_id="in-a", session_id="se-1", curp=curp())
    (first,) = await send(enrollment, request)
    with capture_logs() as logs:
        (again,) = await send(enrollment, request)  # the agency's own retry: same request, new ce_id
    assert first.id != again.id
    assert outcomes(enrollment) == [("registered", "rq-1"), ("confirmed", "rq-2")]
    assert await count(enrollment, Enrolment) == 1
    confirmed = enrollment.published[-1].event
    (repeat,) = [line for line in logs if line["event"] == "agency request already decided"]
    assert (repeat["log_level"], repeat["request_id"], repeat["outcome"], repeat["outcome_id"]) == \
        ("info", "rq-2", EnrolmentConfirmed.type, confirmed.enrolment_id)
    async with enrollment.database.transaction() as db:
        decided = await db.get(AgencyRequest, ("in-a", "rq-2"))
    assert (decided.request_type, decided.outcome, decided.outcome_id) == \
        (EnrolmentRequested.type, EnrolmentConfirmed.type, confirmed.enrolment_id)
    assert enrollment.dead_letters == []


async def test_a_request_sent_twice_in_one_batch_is_decided_once(enrollment):
    await send(enrollment, submitted("rq-1"))
    request = EnrolmentRequested(request_id="rq-2", institution_id="in-a", session_id="se-1", curp=curp())
    records = [(AGENCY_REQUESTS, 0, offset, *to_record(seal(request))) for offset in (10, 11)]
    consumer = agency_request_consumer(enrollment)
    assert await consumer.process_batch(records) == {"applied": 2}
    await enrollment.relay.drain()
    assert outcomes(enrollment) == [("registered", "rq-1"), ("confirmed", "rq-2")]
    assert await count(enrollment, Enrolment) == 1


@pytest.mark.parametrize("reused", [
    EnrolmentRequested(request_id="rq-1", institution_id="in-a", session_id="se-1", curp=curp()),
    submitted("rq-1", email="ana.gomez@otra.gob.mx"),
], ids=["another-request-type", "other-content"])
async def test_a_request_id_reused_for_a_different_request_is_rejected_and_changes_nothing(enrollment, reused):
    await send(enrollment, submitted("rq-1"))
    await send(enrollment, reused)
    registered, rejection = enrollment.published
    assert rejection.type == RequestRejected.type
    assert (rejection.event.request_id, rejection.event.institution_id, rejection.event.field) == \
        ("rq-1", "in-a", "request_id")
    assert "already used for a different request" in rejection.event.reason
    assert await count(enrollment, Enrolment) == 0
    async with enrollment.database.transaction() as db:
        servant = await db.get(Servant, registered.event.servant_id)
        decided = await db.get(AgencyRequest, ("in-a", "rq-1"))
    assert servant.email == "ana@sefiplan.gob.mx"
    assert (decided.request_type, decided.outcome) == (ServantSubmitted.type, ServantRegistered.type)
    await send(enrollment, submitted("rq-1"))  # the first request, sent again: still decided once
    assert len(enrollment.published) == 2


async def test_institutions_may_use_the_same_request_id_independently(enrollment):
    beto = curp("PEHJ920101HQRRRN0")
    await send(enrollment, submitted("rq-1"), submitted("rq-1", institution="in-b", curp_=beto, name="Beto Pérez",
                                                        email=None, sex="male"))
    await send(enrollment,
               EnrolmentRequested(request_id="rq-7", institution_id="in-a", session_id="se-1", curp=curp()),
               EnrolmentRequested(request_id="rq-7", institution_id="in-b", session_id="se-1", curp=beto))
    assert [(e.type.split(".")[-2], e.event.request_id, e.event.institution_id) for e in enrollment.published] == [
        ("registered", "rq-1", "in-a"), ("registered", "rq-1", "in-b"),
        ("confirmed", "rq-7", "in-a"), ("waitlisted", "rq-7", "in-b")]
    assert (await count(enrollment, Servant), await count(enrollment, Enrolment)) == (2, 2)
    assert await count(enrollment, AgencyRequest) == 4


async def test_a_servant_submission_sent_again_under_a_new_event_id_is_answered_once(enrollment):
    request = submitted("rq-1")
    first, again = await send(enrollment, request, request)
    assert first.id != again.id
    assert outcomes(enrollment) == [("registered", "rq-1")]
    assert await count(enrollment, Servant) == 1
    # The same content under a new request id is a new request, and gets its answer.
    await send(enrollment, submitted("rq-2"))
    assert outcomes(enrollment) == [("registered", "rq-1"), ("updated", "rq-2")]


async def test_a_rejected_request_sent_again_is_not_answered_again(enrollment):
    request = EnrolmentRequested(request_id="rq-nobody", institution_id="in-a", session_id="se-1")
    await send(enrollment, request)
    await send(enrollment, request)
    assert outcomes(enrollment) == [("rejected", "rq-nobody")]

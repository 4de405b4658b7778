"""Agency requests arriving as events get the same rules as HTTP, and an answer carrying their request id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from faststream.kafka import TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from prometheus_client import REGISTRY

from contracts.envelope import open_envelope, seal, to_record
from contracts.events import (
    CoursePublished, EnrolmentRequested, ServantSubmitted,
)
from contracts.topics import AGENCY_REQUESTS, ENROLLMENT_EVENTS, dead_letter_topic
from services.enrollment import handlers
from services.enrollment.app import create_runtime
from services.enrollment.domain import curp_check_digit
from services.enrollment.settings import EnrollmentSettings

GROUP = "probidad-enrollment"


def curp(body: str = "GOMA850412MYNRRN0") -> str:
    return body + curp_check_digit(body)


@pytest.fixture
async def enrollment(database_url: str, tmp_path):
    runtime = create_runtime(EnrollmentSettings(database_url=database_url, state_dir=tmp_path))
    runtime.in_memory_broker = True
    runtime.published, runtime.dead_letters = [], []

    @runtime.broker.subscriber(ENROLLMENT_EVENTS)
    async def collect(message: KafkaMessage) -> None:
        runtime.published.append(open_envelope(message.headers, message.body))

    @runtime.broker.subscriber(dead_letter_topic(AGENCY_REQUESTS, GROUP))
    async def collect_dead(message: KafkaMessage) -> None:
        runtime.dead_letters.append(message)

    async with TestKafkaBroker(runtime.broker) as broker:
        await runtime.start()
        runtime.test_broker = broker
        async with runtime.database.transaction() as db:
            await handlers.register_institution(db, runtime.outbox, institution_id="in-a", name="Secretaría A",
                                                government_level="state", municipality=None, headcount=300,
                                                headcount_year=2026)
            await handlers.register_institution(db, runtime.outbox, institution_id="in-b", name="Municipio B",
                                                government_level="municipal", municipality="Tulum", headcount=80,
                                                headcount_year=2026)
            await handlers.publish_course(db, runtime.outbox, **CoursePublished(
                course_id="co-1", code="CI-1", title="Conflicto de Interés", topic="Conflicto de Interés",
                hours=3).model_dump(exclude={"course_id"}), course_id="co-1")
            start = datetime(2026, 11, 10, 15, 0, tzinfo=UTC)
            await handlers.schedule_session(db, runtime.outbox, session_id="se-1", course_id="co-1",
                                            modality="virtual", platform="Teams", venue=None, starts_at=start,
                                            ends_at=start + timedelta(hours=3), timezone="America/Mexico_City",
                                            capacity=1, instructor_id=None, organising_unit="Unidad de Ética")
        await runtime.relay.drain()
        runtime.published.clear()
        yield runtime
        await runtime.stop()


async def send(runtime, *events, correlation_id: str | None = None) -> list:  # noqa: ANN001
    sent = []
    for event in events:
        envelope = seal(event, correlation_id=correlation_id)
        key, value, headers = to_record(envelope)
        await runtime.test_broker.publish(value, AGENCY_REQUESTS, key=key, headers=headers)
        sent.append(envelope)
    await runtime.relay.drain()
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
    (EnrolmentRequested(request_id="rq-no-session", institution_id="in-a", session_id="se-nope", curp=curp()), "session_id"),
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
        servant = await handlers.find_servant(db, servant_id, None)
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

"""Every agency request's decision also reaches the agency's own outcome topic
(``probidad.agency.outcomes.<institution>``, in secure mode the only one it may read), in the decision's
transaction: in secure mode the outcome topic of the institution whose request topic it came on, in
development that of the registered institution the request names. The real wiring is in
tests/e2e/test_secure_kafka.py (secure) and tests/e2e/test_enrollment_agency_stream.py (development);
here the subscribers run on the in-memory broker."""

from __future__ import annotations

from dataclasses import replace

import pytest
from faststream.kafka.annotations import KafkaMessage
from sqlalchemy import text

from contracts.envelope import open_envelope, seal, to_record
from contracts.events import EnrolmentRequested
from contracts.topics import AGENCY_REQUESTS
from services.enrollment.context import EnrollmentContext
from services.enrollment.agency.subscribers import TOPIC_INSTITUTION_HEADER, subscriptions
from tests.integration.test_enrollment_agency_requests import (  # noqa: F401 — fixture
    agency_request_consumer, curp, enrollment, send, submitted,
)

OUTCOMES_IN_A = "probidad.agency.outcomes.in-a"


@pytest.fixture
async def answered(enrollment):
    """Enrollment whose subscribers answer on outcome topics, as create_runtime wires them in secure mode
    (the topic-institution header, which the secure wiring stamps from the topic, is taken as sent)."""
    consumer = agency_request_consumer(enrollment)
    consumer.handlers = subscriptions(replace(enrollment.provided(EnrollmentContext), outcome_topics=True,
                                              outcomes_to_named_institution=False))
    consumer.rewrite_record = None
    return enrollment


async def send_on_topic_of(runtime, institution: str, *requests) -> None:
    """As enrollment's secure wiring hands them over: stamped with the institution of their topic."""
    for request in requests:
        key, value, headers = to_record(seal(request))
        await runtime.test_broker.publish(value, AGENCY_REQUESTS, key=key,
                                          headers={**headers, TOPIC_INSTITUTION_HEADER: institution})
    await runtime.relay.drain()


def collect_outcomes(runtime, topic: str = OUTCOMES_IN_A) -> list:
    seen: list = []

    @runtime.broker.subscriber(topic)
    async def collect(message: KafkaMessage) -> None:
        seen.append(open_envelope(message.headers, message.body))

    return seen


async def start_collecting(runtime, topic: str = OUTCOMES_IN_A) -> list:
    seen = collect_outcomes(runtime, topic)
    await runtime.test_broker.start()  # subscribers added after the test broker started need starting
    return seen


async def test_each_decision_reaches_the_agencys_outcome_topic_with_what_it_led_to(answered):
    outcomes = await start_collecting(answered)
    other = curp("PEHJ920101HQRRRN0")
    await send_on_topic_of(answered, "in-a", submitted("rq-1"), submitted("rq-2", curp_=other),
                           EnrolmentRequested(request_id="rq-3", institution_id="in-a", session_id="se-1", curp=curp()),
                           EnrolmentRequested(request_id="rq-4", institution_id="in-a", session_id="se-1", curp=other),
                           EnrolmentRequested(request_id="rq-5", institution_id="in-a", session_id="se-nope",
                                              curp=curp()))
    servant = next(e.event for e in answered.published if e.type.endswith("servant.registered.v1")
                   and e.event.request_id == "rq-1")
    confirmed = next(e.event for e in answered.published if e.type.endswith("enrolment.confirmed.v1"))
    waitlisted = next(e.event for e in answered.published if e.type.endswith("enrolment.waitlisted.v1"))
    decided = {o.event.request_id: o for o in outcomes}
    assert [o.type for o in outcomes] == ["probidad.enrollment.request.decided.v1"] * 5
    assert (decided["rq-1"].event.outcome, decided["rq-1"].event.outcome_id) == \
        ("probidad.enrollment.servant.registered.v1", servant.servant_id)
    assert (decided["rq-3"].event.outcome, decided["rq-3"].event.outcome_id) == \
        ("probidad.enrollment.enrolment.confirmed.v1", confirmed.enrolment_id)
    assert (decided["rq-4"].event.outcome, decided["rq-4"].event.outcome_id) == \
        ("probidad.enrollment.enrolment.waitlisted.v1", waitlisted.enrolment_id)
    rejected = decided["rq-5"].event
    assert (rejected.outcome, rejected.outcome_id, rejected.field) == \
        ("probidad.enrollment.request.rejected.v1", None, "session_id")
    assert rejected.reason and rejected.request_type == "probidad.agency.enrolment.requested.v1"
    assert {o.event.institution_id for o in outcomes} == {"in-a"}
    assert {o.key for o in (x.event for x in outcomes)} == set(decided)  # keyed by request id


async def test_a_request_sent_again_gets_no_second_decision_on_the_outcome_topic(answered):
    outcomes = await start_collecting(answered)
    await send_on_topic_of(answered, "in-a", submitted("rq-1"))
    await send_on_topic_of(answered, "in-a", submitted("rq-1"))
    assert [o.event.request_id for o in outcomes] == ["rq-1"]


async def test_a_request_id_reused_for_another_request_is_answered_as_rejected_on_the_outcome_topic(answered):
    outcomes = await start_collecting(answered)
    await send_on_topic_of(answered, "in-a", submitted("rq-1"))
    await send_on_topic_of(answered, "in-a", submitted("rq-1", name="Otra Persona"))
    first, second = outcomes
    assert first.event.outcome == "probidad.enrollment.servant.registered.v1"
    assert (second.event.outcome, second.event.field) == ("probidad.enrollment.request.rejected.v1", "request_id")


async def test_in_development_each_decision_reaches_the_outcome_topic_of_the_institution_the_request_names(
        enrollment):
    """A development broker has one shared request topic: the agency still reads only its own answers."""
    in_a, in_b = await start_collecting(enrollment), collect_outcomes(enrollment, "probidad.agency.outcomes.in-b")
    await enrollment.test_broker.start()
    other = curp("PEHJ920101HQRRRN0")
    await send(enrollment, submitted("rq-1"), submitted("rq-2", institution="in-b", curp_=other),
               EnrolmentRequested(request_id="rq-3", institution_id="in-a", session_id="se-nope", curp=curp()))
    registered = {e.event.request_id: e.event for e in enrollment.published
                  if e.type.endswith("servant.registered.v1")}
    assert [(o.event.request_id, o.event.institution_id, o.event.outcome, o.event.outcome_id) for o in in_a] == [
        ("rq-1", "in-a", "probidad.enrollment.servant.registered.v1", registered["rq-1"].servant_id),
        ("rq-3", "in-a", "probidad.enrollment.request.rejected.v1", None)]
    assert [(o.event.request_id, o.event.outcome_id) for o in in_b] == [("rq-2", registered["rq-2"].servant_id)]
    assert [o.event.key for o in in_a] == ["rq-1", "rq-3"]  # keyed by request id
    # The outcome events themselves are still on the enrollment topic, as before.
    assert {e.event.request_id for e in enrollment.published if hasattr(e.event, "request_id")} >= {"rq-1", "rq-3"}


async def test_in_development_a_header_a_sender_stamps_neither_moves_nor_refuses_its_answer(enrollment):
    in_a, in_b = await start_collecting(enrollment), collect_outcomes(enrollment, "probidad.agency.outcomes.in-b")
    await enrollment.test_broker.start()
    await send_on_topic_of(enrollment, "in-b", submitted("rq-1"))  # claims in-b's topic; names in-a
    assert [e.type for e in enrollment.published] == ["probidad.enrollment.servant.registered.v1"]
    assert [o.event.request_id for o in in_a] == ["rq-1"] and in_b == []
    assert enrollment.dead_letters == []


async def test_in_development_a_request_naming_no_registered_institution_makes_no_outcome_topic(
        enrollment):
    await send(enrollment, submitted("rq-1", institution="in-nowhere"), submitted("rq-2", institution="in:a"))
    rejected = [e.event for e in enrollment.published if e.type.endswith("request.rejected.v1")]
    assert [(r.request_id, r.field) for r in rejected] == [("rq-1", "institution_id"), ("rq-2", "institution_id")]
    async with enrollment.unit_of_work() as uow:
        pending_topics = await uow.session.execute(text("SELECT DISTINCT topic FROM outbox"))
    assert {t for (t,) in pending_topics} == {"probidad.enrollment.events"}

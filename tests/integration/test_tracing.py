"""One fact, one trace: the trace context travels from an HTTP request through the outbox, the relay and the
broker to the next consumer, whose handler's events carry it on — with the OpenTelemetry SDK's in-memory
exporter (a real SDK provider, spans as an OTLP exporter would send them), on SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
from pathlib import Path

import orjson
import pytest
from faststream.kafka import TestKafkaBroker
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import select

from contracts.envelope import seal, to_record
from contracts.events import InstitutionRegistered
from contracts.topics import ENROLLMENT_EVENTS
from probidad.shared import tracing
from probidad.shared.errors import RuleViolation
from probidad.shared.service import ServiceRuntime
from probidad.shared.settings import ServiceSettings
from probidad.shared.tables import OutboxRecord
from services.enrollment.app import create_app
from services.enrollment.settings import EnrollmentSettings
from tests.support import ledger
from tests.integration.test_enrollment_agency_requests import enrollment, submitted  # noqa: F401 (fixture)
from tests.support.harness import serving

GROUP = "probidad-echo"


@pytest.fixture
def spans():
    """Tracing on for the test, every finished span kept in memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    try:
        yield exporter
    finally:
        tracing.uninstall()
        provider.shutdown()


def traceparent(trace_id: str, span_id: str) -> str:
    return f"00-{trace_id}-{span_id}-01"


def trace_of(header: str) -> str:
    return header.split("-")[1]


def named(exporter: InMemorySpanExporter, prefix: str) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name.startswith(prefix)]


def hex_trace(span: ReadableSpan) -> str:
    return format(span.context.trace_id, "032x")


async def stored_headers(runtime: ServiceRuntime) -> list[dict[str, str]]:
    async with runtime.database.transaction() as session:
        rows = await session.execute(select(OutboxRecord.headers).order_by(OutboxRecord.id))
        return [orjson.loads(h) for (h,) in rows.all()]


async def test_an_http_request_with_a_traceparent_writes_its_event_in_the_callers_trace(
        spans, database_url: str, tmp_path: Path) -> None:
    caller_trace, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    settings = EnrollmentSettings(database_url=database_url, state_dir=tmp_path)
    async with serving(create_app, settings) as service:
        async with service.client("comptroller",
                                  headers={"traceparent": traceparent(caller_trace, caller_span)}) as http:
            response = await http.post("/institutions", json={
                "institution_id": "in-salud", "name": "Secretaría de Salud", "government_level": "state",
                "headcount": 120, "headcount_year": 2026})
            assert response.status_code == 201, response.text
        (stored,) = await stored_headers(service.runtime)
        (published,) = await service.published("institution.registered.v1")

    (server,) = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert server.name == "POST /institutions"
    assert hex_trace(server) == caller_trace and format(server.parent.span_id, "016x") == caller_span
    # The row keeps the request's trace; the span it names is one of the request's spans.
    assert trace_of(stored["traceparent"]) == caller_trace
    request_spans = {format(s.context.span_id, "016x") for s in spans.get_finished_spans()
                     if hex_trace(s) == caller_trace}
    assert stored["traceparent"].split("-")[2] in request_spans
    # (Enrollment's scheduler may run a round of its own meanwhile, in a trace of its own.)
    (unit,) = [s for s in named(spans, "unit_of_work") if hex_trace(s) == caller_trace]
    assert unit.attributes["probidad.events_recorded"] == 1
    # The relay sends it on in the same trace, from a publish span that is the stored context's child.
    (publish,) = named(spans, "publish ")
    assert publish.kind == SpanKind.PRODUCER and hex_trace(publish) == caller_trace
    assert format(publish.parent.span_id, "016x") == stored["traceparent"].split("-")[2]
    assert published.extra_headers["traceparent"] == traceparent(caller_trace,
                                                                 format(publish.context.span_id, "016x"))


# A consumer whose handler writes an event in turn (an echo of each institution it hears of, once), so that one
# record's trace can be followed through a handler, the outbox, the relay and the next consumer.

async def on_institution(uow, envelope) -> None:
    event: InstitutionRegistered = envelope.event
    if event.name == "REJECT ME":
        raise RuleViolation("name", "institution name is a test rejection")
    if not event.institution_id.startswith("echo-"):
        uow.record([ledger.institution(f"echo-{event.institution_id}")])


@pytest.fixture
async def echo(database_url: str, tmp_path: Path):
    settings = ServiceSettings(service_name="echo", database_url=database_url, state_dir=tmp_path)
    runtime = ServiceRuntime(settings, ledger.TABLES, description="echo")
    runtime.consume([ENROLLMENT_EVENTS], {InstitutionRegistered.type: on_institution}, group=GROUP)
    runtime.in_memory_broker = True
    async with TestKafkaBroker(runtime.broker) as broker:
        runtime.test_broker = broker
        await runtime.start()
        try:
            yield runtime
        finally:
            await runtime.stop()


async def deliver(runtime: ServiceRuntime, event: InstitutionRegistered, **extra: str) -> str:
    envelope = seal(event)
    key, value, headers = to_record(envelope)
    await runtime.test_broker.publish(value, ENROLLMENT_EVENTS, key=key, headers={**headers, **extra})
    return envelope.id


def processed(exporter: InMemorySpanExporter, event_id: str) -> ReadableSpan:
    (found,) = [s for s in named(exporter, "process ") if s.attributes["cloudevents.event_id"] == event_id]
    return found


def handler_of(exporter: InMemorySpanExporter, record: ReadableSpan) -> ReadableSpan:
    (found,) = [s for s in named(exporter, "handle ") if s.parent.span_id == record.context.span_id]
    return found


async def test_a_consumed_record_continues_the_trace_its_headers_carry_through_the_handler_to_the_next_consumer(
        spans, echo: ServiceRuntime) -> None:
    agency_trace, agency_span = secrets.token_hex(16), secrets.token_hex(8)
    first = await deliver(echo, ledger.institution("in-a"), traceparent=traceparent(agency_trace, agency_span),
                          tracestate="agency=7")

    record = processed(spans, first)
    assert record.kind == SpanKind.CONSUMER and record.parent.is_remote
    assert (hex_trace(record), format(record.parent.span_id, "016x")) == (agency_trace, agency_span)
    assert record.attributes["probidad.outcome"] == "applied"
    handler = handler_of(spans, record)
    assert hex_trace(handler) == agency_trace
    (written,) = await stored_headers(echo)
    assert written["traceparent"] == traceparent(agency_trace, format(handler.context.span_id, "016x"))
    assert written["tracestate"] == "agency=7"

    # The echo goes out through the relay and comes back to the consumer: still the agency's trace.
    await echo.relay.drain()
    (publish,) = named(spans, "publish ")
    assert publish.parent.span_id == handler.context.span_id
    echoed = [s for s in named(spans, "process ") if s.attributes["cloudevents.event_id"] != first]
    assert len(echoed) == 1 and echoed[0].parent.span_id == publish.context.span_id
    assert {hex_trace(s) for s in spans.get_finished_spans()} == {agency_trace}


async def test_a_record_without_a_traceparent_starts_a_trace_of_its_own_which_its_events_carry(
        spans, echo: ServiceRuntime) -> None:
    first = await deliver(echo, ledger.institution("in-b"))
    record = processed(spans, first)
    assert record.parent is None
    (written,) = await stored_headers(echo)
    assert trace_of(written["traceparent"]) == hex_trace(record)
    assert "tracestate" not in written


async def test_a_record_its_handler_refuses_ends_its_span_as_an_error_and_dead_lettered(
        spans, echo: ServiceRuntime) -> None:
    refused = await deliver(echo, ledger.institution("in-x", name="REJECT ME"),
                            traceparent=traceparent(secrets.token_hex(16), "00f067aa0ba902b7"))
    attempts = [s for s in named(spans, "process ") if s.attributes["cloudevents.event_id"] == refused]
    # First in its batch, then on its own: both spans say so, the last what became of the record.
    assert [s.status.is_ok for s in attempts] == [False, False]
    assert attempts[-1].attributes["probidad.outcome"] == "dead_lettered"
    assert "test rejection" in attempts[-1].status.description
    assert await stored_headers(echo) == []


async def test_the_cloudevents_binding_spelling_ce_traceparent_is_continued_too(spans, echo: ServiceRuntime) -> None:
    agency_trace = secrets.token_hex(16)
    first = await deliver(echo, ledger.institution("in-c"),
                          ce_traceparent=traceparent(agency_trace, "00f067aa0ba902b7"))
    record = processed(spans, first)
    assert hex_trace(record) == agency_trace and record.attributes["probidad.outcome"] == "applied"


async def test_without_tracing_a_record_with_a_traceparent_is_applied_and_its_events_carry_none(
        echo: ServiceRuntime) -> None:
    assert not tracing.active() and tracing.provider() is None
    await deliver(echo, ledger.institution("in-d"),
                  traceparent=traceparent(secrets.token_hex(16), "00f067aa0ba902b7"))
    (written,) = await stored_headers(echo)  # the handler ran: the header is no contract error
    assert "traceparent" not in written and "tracestate" not in written


async def test_an_agency_request_with_a_traceparent_is_answered_in_the_agencys_trace(spans, enrollment) -> None:
    agency_trace, agency_span = secrets.token_hex(16), secrets.token_hex(8)
    await enrollment.harness.send(submitted("rq-1"), headers={"traceparent": traceparent(agency_trace, agency_span)})
    await enrollment.harness.drain()
    (registered,) = enrollment.published
    assert registered.type == "probidad.enrollment.servant.registered.v1"
    assert trace_of(registered.extra_headers["traceparent"]) == agency_trace
    (request,) = [s for s in named(spans, "process ")
                  if s.attributes["cloudevents.event_type"].endswith("submitted.v1")]
    assert format(request.parent.span_id, "016x") == agency_span


async def test_an_event_relayed_by_another_runtime_later_still_continues_the_trace_it_was_written_in(
        spans, database_url: str, tmp_path: Path) -> None:
    settings = ServiceSettings(service_name="echo", database_url=database_url, state_dir=tmp_path)
    writer = ServiceRuntime(settings, ledger.TABLES)  # never started: its relay sends nothing
    await writer._prepare_schema()
    with tracing.span("an operator's request") as request:
        async with writer.unit_of_work() as uow:
            uow.record([ledger.institution("in-later")])
    await writer.database.dispose()

    relay = ServiceRuntime(settings, ledger.TABLES)  # another instance, after the writer is gone
    relay.in_memory_broker = True
    sent: list[dict[str, str]] = []

    async def publish(topic, key, value, headers):
        sent.append(headers)

    relay.relay.publish = publish
    await relay.relay.publish_pending()
    await relay.database.dispose()
    (publish_span,) = named(spans, "publish ")
    assert publish_span.context.trace_id == request.get_span_context().trace_id
    (unit,) = named(spans, "unit_of_work")
    assert publish_span.parent.span_id == unit.context.span_id  # the span the event was recorded in
    (headers,) = sent
    assert headers["traceparent"].split("-")[2] == format(publish_span.context.span_id, "016x")

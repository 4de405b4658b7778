"""Wiring of the enrollment service: its tables, the agency-request consumer and the HTTP API."""

from __future__ import annotations

from fastapi import FastAPI

from contracts.topics import AGENCY_REQUESTS
from probidad.shared.consumer import on_session
from probidad.shared.kafka_security import institution_of_request_topic, request_topic_pattern
from probidad.shared.service import ServiceRuntime, create_http_app
from services.enrollment.api import router
from services.enrollment.settings import EnrollmentSettings
from services.enrollment.subscribers import TOPIC_INSTITUTION_HEADER, agency_subscribers
from services.enrollment.tables import TABLES

DESCRIPTION = (
    "Institutions with their headcount, the course catalogue, sessions, servants (the only home of their "
    "personal data), enrolments with capacity and waitlists. Publishes on probidad.enrollment.events; "
    "applies agency requests from probidad.agency.requests."
)


def create_runtime(settings: EnrollmentSettings | None = None) -> ServiceRuntime:
    settings = settings or EnrollmentSettings()
    runtime = ServiceRuntime(settings, TABLES, description=DESCRIPTION)
    handlers = agency_subscribers(runtime.outbox, settings.email_digest_key.get_secret_value(),
                                  outcome_topics=runtime.kafka_security.secure,
                                  programme_timezone=settings.programme_timezone)
    if not runtime.kafka_security.secure:
        runtime.consume([AGENCY_REQUESTS], on_session(handlers))
        return runtime
    # Secure mode: each agency may write only probidad.agency.requests.<its institution> (broker ACL);
    # enrollment reads all of them by pattern, so a new agency's topic is picked up without a restart.
    consumer = runtime.consume([AGENCY_REQUESTS], on_session(handlers), pattern=request_topic_pattern(settings.topic_prefix))
    consumer.process_batch = _stamp_topic_institution(consumer.process_batch, settings.topic_prefix)
    return runtime


def _stamp_topic_institution(process_batch, prefix: str):  # noqa: ANN001, ANN202
    """Give each request the institution its topic belongs to, in a header the handlers check.

    The topic is the one fact about a request the broker vouches for (Kafka does not stamp the
    producer's principal on a record); handlers see envelopes, not records, hence a header. A header
    of that name sent by the agency itself is dropped first, so it cannot claim another institution.
    """
    async def process(records):  # noqa: ANN001, ANN202
        stamped = []
        for topic, partition, offset, key, value, headers in records:
            kept = [(k, v) for k, v in (headers or ()) if k != TOPIC_INSTITUTION_HEADER]
            institution = institution_of_request_topic(topic, prefix)
            if institution is not None:
                kept.append((TOPIC_INSTITUTION_HEADER, institution.encode()))
            stamped.append((topic, partition, offset, key, value, kept))
        return await process_batch(stamped)

    return process


def create_app(settings: EnrollmentSettings | None = None) -> FastAPI:
    settings = settings or EnrollmentSettings()
    runtime = create_runtime(settings)
    return create_http_app(runtime, [router], title="Probidad enrollment", description=DESCRIPTION)

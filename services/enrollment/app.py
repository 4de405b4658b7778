"""Wiring of the enrollment service: its tables, the agency-request consumer and the HTTP API."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

from contracts.topics import AGENCY_REQUESTS, CERTIFICATION_EVENTS
from fastapi import FastAPI
from probidad.shared.kafka_security import institution_of_request_topic, request_topic_pattern
from probidad.shared.printing import SigningAuthority
from probidad.shared.service import ServiceRuntime, create_http_app

from services.enrollment.agency.subscribers import TOPIC_INSTITUTION_HEADER, subscriptions
from services.enrollment.constancias import api as constancias
from services.enrollment.context import EnrollmentContext
from services.enrollment.enrolments import api as enrolments
from services.enrollment.http import PROBLEMS
from services.enrollment.institutions import api as institutions
from services.enrollment.notifications import api as notices
from services.enrollment.notifications.scheduler import NoticeScheduler
from services.enrollment.plans import api as plans
from services.enrollment.requirements import api as requirements
from services.enrollment.requirements.subscribers import completion_subscriptions
from services.enrollment.servants import api as servants
from services.enrollment.sessions import api as sessions
from services.enrollment.settings import EnrollmentSettings
from services.enrollment.tables import TABLES
from services.enrollment.webhooks import api as webhooks
from services.enrollment.webhooks.dispatcher import WebhookDispatcher

# In the order their routes were declared before the split: a path matches the first route that fits.
ROUTERS = [institutions.router, sessions.router, servants.router, enrolments.router, plans.router,
           requirements.router, constancias.router, notices.router, webhooks.router]

DESCRIPTION = (
    "Institutions with their headcount, the course catalogue, sessions, servants (the only home of their "
    "personal data), enrolments with capacity and waitlists, the servants' life cycle, training requirements "
    "and exemptions. Publishes on probidad.enrollment.events; applies agency requests from "
    "probidad.agency.requests; keeps the completions of probidad.certification.events for the named "
    "compliance lists."
)


def create_runtime(settings: EnrollmentSettings | None = None) -> ServiceRuntime:
    settings = settings or EnrollmentSettings()
    runtime = ServiceRuntime(settings, TABLES, description=DESCRIPTION)
    secure = runtime.kafka_security.secure
    ctx = EnrollmentContext(digest_key=settings.email_digest_key.get_secret_value(),
                            programme_timezone=settings.programme_timezone, bulk_max_rows=settings.bulk_max_rows,
                            outcome_topics=True, outcomes_to_named_institution=not secure,
                            verify_base_url=f"{settings.certification_public_url.rstrip('/')}/verify",
                            signing_authority=SigningAuthority.of(settings))
    runtime.provide(ctx)
    if not secure:
        # One shared request topic; a topic-institution header a sender wrote is dropped all the same.
        runtime.consume([AGENCY_REQUESTS], subscriptions(ctx),
                        rewrite_record=partial(stamp_topic_institution, prefix=settings.topic_prefix))
    else:
        # Secure mode: each agency may write only probidad.agency.requests.<its institution> (broker ACL);
        # enrollment reads all of them by pattern, so a new agency's topic is picked up without a restart.
        runtime.consume([AGENCY_REQUESTS], subscriptions(ctx), pattern=request_topic_pattern(settings.topic_prefix),
                        rewrite_record=partial(stamp_topic_institution, prefix=settings.topic_prefix))
    # The completions the named compliance lists need (certificates, competencies).
    runtime.consume([CERTIFICATION_EVENTS], completion_subscriptions(ctx), member="completions")
    deliveries = WebhookDispatcher(runtime, settings)  # agencies' webhooks, sent beside the consumers
    runtime.provide(deliveries)
    runtime.run_beside(deliveries.run)
    # Digests to contacts and reminders to servants: decided each day, sent through the SMTP server.
    scheduler = NoticeScheduler(runtime, ctx, settings)
    runtime.provide(scheduler)
    if settings.notify_scheduler:
        runtime.run_beside(scheduler.run)
    return runtime


def stamp_topic_institution(record: tuple, *, prefix: str) -> tuple:
    """Give a request the institution its topic belongs to, in a header the handlers check.

    The topic is the one fact about a request the broker vouches for (Kafka does not stamp the
    producer's principal on a record); handlers see envelopes, not records, hence a header. A header
    of that name sent by the agency itself is dropped first, so it cannot claim another institution.
    """
    topic, partition, offset, key, value, headers = record
    pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
    kept = [(k, v) for k, v in pairs if k != TOPIC_INSTITUTION_HEADER]
    institution = institution_of_request_topic(topic, prefix)
    if institution is not None:
        kept.append((TOPIC_INSTITUTION_HEADER, institution.encode()))
    return topic, partition, offset, key, value, kept


def create_app(settings: EnrollmentSettings | None = None) -> FastAPI:
    settings = settings or EnrollmentSettings()
    runtime = create_runtime(settings)
    app = create_http_app(runtime, ROUTERS, title="Probidad enrollment", description=DESCRIPTION)
    for problem, answer in PROBLEMS.items():
        app.add_exception_handler(problem, answer)
    return app

"""Wiring of the enrollment service: its tables, the agency-request consumer and the HTTP API."""

from __future__ import annotations

from fastapi import FastAPI

from contracts.topics import AGENCY_REQUESTS
from probidad.shared.service import ServiceRuntime, create_http_app
from services.enrollment.api import router
from services.enrollment.settings import EnrollmentSettings
from services.enrollment.subscribers import agency_subscribers
from services.enrollment.tables import TABLES

DESCRIPTION = (
    "Institutions with their headcount, the course catalogue, sessions, servants (the only home of their "
    "personal data), enrolments with capacity and waitlists. Publishes on probidad.enrollment.events; "
    "applies agency requests from probidad.agency.requests."
)


def create_runtime(settings: EnrollmentSettings | None = None) -> ServiceRuntime:
    settings = settings or EnrollmentSettings()
    runtime = ServiceRuntime(settings, TABLES, description=DESCRIPTION)
    runtime.consume([AGENCY_REQUESTS], agency_subscribers(runtime.outbox, settings.email_digest_key.get_secret_value()))
    return runtime


def create_app(settings: EnrollmentSettings | None = None) -> FastAPI:
    settings = settings or EnrollmentSettings()
    runtime = create_runtime(settings)
    return create_http_app(runtime, [router], title="Probidad enrollment", description=DESCRIPTION)

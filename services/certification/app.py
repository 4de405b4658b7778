"""Wiring of the certification service: settings -> key, handlers, consumer, HTTP app."""

from __future__ import annotations

from fastapi import FastAPI

from probidad.shared.service import ServiceRuntime, create_http_app
from services.certification.api import public_router, staff_router
from services.certification.domain.decisions import Rules
from services.certification.handlers import CertificationContext
from services.certification.settings import CertificationSettings
from services.certification.signing import CertificateSigner, load_or_create_key
from services.certification.subscribers import TOPICS, prepare, subscriptions
from services.certification.tables import TABLES

DESCRIPTION = (
    "Decides completions from course, session, enrolment, attendance and assessment facts; issues, "
    "signs and revokes certificates; announces competencies attained."
)


def signer_for(settings: CertificationSettings) -> CertificateSigner:
    """The current key (which signs) with the retired keys (which only verify what they signed)."""
    key = load_or_create_key(settings.signing_key_path, settings.generated_key_path)
    try:
        return CertificateSigner(key, retired=settings.retired_keys)
    except ValueError as error:
        raise ValueError(f"PROBIDAD_RETIRED_SIGNING_KEYS: {error}") from None


def create_runtime(settings: CertificationSettings | None = None) -> ServiceRuntime:
    settings = settings or CertificationSettings()
    signer = signer_for(settings)  # before anything starts: a bad key stops the service here
    runtime = ServiceRuntime(settings, TABLES, description=DESCRIPTION)
    ctx = CertificationContext(signer=signer, rules=Rules(
        code_key=settings.certificate_code_key.get_secret_value().encode(),
        issuing_authority=settings.issuing_authority, competency_model=settings.competency_model,
        programme_timezone=settings.programme_timezone),
        programme_timezone=settings.programme_timezone)
    runtime.consume(TOPICS, subscriptions(ctx), prepare=prepare)
    # The HTTP API verifies and exports with the same key and rules as the consumer.
    runtime.provide(ctx)
    return runtime


def create_app(settings: CertificationSettings | None = None) -> FastAPI:
    settings = settings or CertificationSettings()
    runtime = create_runtime(settings)
    return create_http_app(runtime, [public_router, staff_router], title="Probidad certification",
                           description=DESCRIPTION)

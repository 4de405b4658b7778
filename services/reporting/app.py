"""Wiring of the reporting service: consumer of every platform topic, store, reader, HTTP API."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from fastapi import FastAPI

from contracts.topics import ATTENDANCE_EVENTS, CERTIFICATION_EVENTS, ENROLLMENT_EVENTS
from probidad.shared.service import ServiceRuntime, create_http_app
from services.reporting.api import router
from services.reporting.handlers import ReportingContext
from services.reporting.repository import SqlReportingRepository
from services.reporting.settings import ReportingSettings
from services.reporting.subscribers import subscriptions
from services.reporting.tables import TABLES
from services.reporting.views import ProjectionReader
from services.reporting.xapi import api as xapi_api
from services.reporting.xapi import subscribers as xapi_subscribers
from services.reporting.xapi.dispatcher import LrsDispatcher
from services.reporting.xapi.domain import Platform

TOPICS = (ENROLLMENT_EVENTS, ATTENDANCE_EVENTS, CERTIFICATION_EVENTS)
GROUP = "probidad-reporting"
XAPI_GROUP = "probidad-reporting-xapi"


def create_runtime(settings: ReportingSettings) -> ServiceRuntime:
    # The pointer row to the generation served is made by the first fact written or read
    # (services.reporting.repository), so starting needs no step past creating the schema.
    ctx = ReportingContext(zone=ZoneInfo(settings.programme_timezone), responsible_unit=settings.responsible_unit,
                           open_data_minimum_count=settings.open_data_minimum_count,
                           language=settings.programme_language, authority=settings.issuing_authority,
                           authority_en=settings.issuing_authority_en, public_url=settings.public_url,
                           signatory_name=settings.bulletin_signatory_name,
                           signatory_position=settings.bulletin_signatory_position)
    runtime = ServiceRuntime(settings, TABLES, description="Read models for oversight: figures, coverage, "
                             "rosters and open data, projected from every platform topic from offset 0.")
    runtime.consume(TOPICS, subscriptions(ctx), group=GROUP,
                    description="Every enrollment, attendance and certification event becomes a reporting fact.")
    runtime.provide(ctx)
    reader = ProjectionReader(runtime.unit_of_work, ctx, repository=SqlReportingRepository,
                              engine=settings.reporting_engine, path=settings.reporting_columnar_path,
                              memory_mb=settings.reporting_memory_mb)
    runtime.provide(reader)
    runtime.on_stop(reader.close)
    if settings.lrs_url:  # xAPI to a Learning Record Store: nothing of it runs unless one is named
        platform = Platform(settings.xapi_base, settings.programme_language, ctx.zone)
        runtime.consume(TOPICS, xapi_subscribers.subscriptions(platform), group=XAPI_GROUP, member="xapi",
                        description="Learning facts become xAPI statements queued for the Learning Record Store.")
        dispatcher = LrsDispatcher(runtime, settings)
        runtime.provide(dispatcher)
        runtime.run_beside(dispatcher.run)
    return runtime


def create_app(settings: ReportingSettings | None = None) -> FastAPI:
    settings = settings or ReportingSettings()
    return create_http_app(create_runtime(settings), [router, xapi_api.router], title="Probidad reporting",
                           description="Figures for the comptroller and oversight bodies, open data, dashboard.")

"""Wiring of the reporting service: consumer of every platform topic, store, reader, HTTP API."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from fastapi import FastAPI

from contracts.topics import ATTENDANCE_EVENTS, CERTIFICATION_EVENTS, ENROLLMENT_EVENTS
from probidad.shared.consumer import on_session
from probidad.shared.service import ServiceRuntime, create_http_app
from services.reporting.api import router
from services.reporting.settings import ReportingSettings
from services.reporting.store import ProjectionReader, ensure_pointer
from services.reporting.subscribers import HANDLERS
from services.reporting.tables import TABLES

TOPICS = (ENROLLMENT_EVENTS, ATTENDANCE_EVENTS, CERTIFICATION_EVENTS)
GROUP = "probidad-reporting"


class ReportingRuntime(ServiceRuntime):
    async def start(self) -> None:
        # The pointer row must exist before the first fact is consumed into it.
        await self.database.create_schema(self.tables)
        await ensure_pointer(self.database)
        await super().start()


def create_runtime(settings: ReportingSettings) -> ReportingRuntime:
    runtime = ReportingRuntime(settings, TABLES, description="Read models for oversight: figures, coverage, "
                               "rosters and open data, projected from every platform topic from offset 0.")
    runtime.consume(TOPICS, on_session(HANDLERS), group=GROUP,
                    description="Every enrollment, attendance and certification event becomes a reporting fact.")
    return runtime


def create_app(settings: ReportingSettings | None = None) -> FastAPI:
    settings = settings or ReportingSettings()
    runtime = create_runtime(settings)
    app = create_http_app(runtime, [router], title="Probidad reporting",
                          description="Figures for the comptroller and oversight bodies, open data, dashboard.")
    app.state.reader = ProjectionReader(runtime.database, ZoneInfo(settings.programme_timezone))
    return app

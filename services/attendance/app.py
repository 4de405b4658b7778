"""Wiring of the attendance service: its tables, the enrollment events it follows, its HTTP API."""

from __future__ import annotations

from fastapi import FastAPI

from contracts.topics import ENROLLMENT_EVENTS
from probidad.shared.service import ServiceRuntime, create_http_app
from services.attendance.api import router
from services.attendance.handlers import AttendanceContext
from services.attendance.settings import AttendanceSettings
from services.attendance.subscribers import subscriptions
from services.attendance.tables import TABLES

DESCRIPTION = (
    "Presence per servant per session — instructor marks, self check-in and Zoom/Teams/Meet reports merged into "
    "minutes present — evaluations, and the close of a session: AttendanceRecorded, AssessmentGraded, "
    "SessionClosed, then AttendanceCorrected for any later change."
)


def create_runtime(settings: AttendanceSettings) -> ServiceRuntime:
    ctx = AttendanceContext.of(settings)
    runtime = ServiceRuntime(settings, TABLES, description=DESCRIPTION)
    runtime.consume([ENROLLMENT_EVENTS], subscriptions(ctx))
    runtime.provide(ctx)
    return runtime


def create_app(settings: AttendanceSettings | None = None) -> FastAPI:
    settings = settings or AttendanceSettings()
    return create_http_app(create_runtime(settings), [router], title="Probidad attendance", description=DESCRIPTION)

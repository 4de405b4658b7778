"""Alembic environment of the attendance service: its tables plus the shared outbox and processed_event,
versioned in alembic_version_attendance (see probidad.shared.migrations)."""

from probidad.shared.migrations import run_environment
from services.attendance.tables import TABLES

run_environment("attendance", TABLES)

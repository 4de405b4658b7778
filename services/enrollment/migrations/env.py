"""Alembic environment of the enrollment service: its tables plus the shared outbox and processed_event,
versioned in alembic_version_enrollment (see probidad.shared.migrations)."""

from probidad.shared.migrations import run_environment

from services.enrollment.tables import TABLES

run_environment("enrollment", TABLES)

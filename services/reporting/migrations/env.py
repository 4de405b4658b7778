"""Alembic environment of the reporting service: its tables plus the shared outbox and processed_event,
versioned in alembic_version_reporting (see probidad.shared.migrations)."""

from probidad.shared.migrations import run_environment
from services.reporting.tables import TABLES

run_environment("reporting", TABLES)

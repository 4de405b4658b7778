"""Alembic environment of the certification service: its tables plus the shared outbox and processed_event,
versioned in alembic_version_certification (see probidad.shared.migrations)."""

from probidad.shared.migrations import run_environment
from services.certification.tables import TABLES

run_environment("certification", TABLES)

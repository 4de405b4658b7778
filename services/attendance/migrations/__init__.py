"""Attendance's schema revisions (alembic): `probidad migrate attendance`, or see CONTRIBUTING.md, "Schema changes"."""

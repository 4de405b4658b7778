"""Attendance's schema revisions (alembic): `probidad migrate attendance`; CONTRIBUTING.md, "Schema changes"."""

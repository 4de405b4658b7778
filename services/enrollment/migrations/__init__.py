"""Enrollment's schema revisions (alembic): `probidad migrate enrollment`, or see CONTRIBUTING.md, "Schema changes"."""

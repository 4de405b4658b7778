"""Enrollment's schema revisions (alembic): `probidad migrate enrollment`; CONTRIBUTING.md, "Schema changes"."""

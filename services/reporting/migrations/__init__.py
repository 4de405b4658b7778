"""Reporting's schema revisions (alembic): `probidad migrate reporting`; CONTRIBUTING.md, "Schema changes"."""

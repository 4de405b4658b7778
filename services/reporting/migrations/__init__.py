"""Reporting's schema revisions (alembic): `probidad migrate reporting`, or see CONTRIBUTING.md, "Schema changes"."""

"""Certification's schema revisions (alembic): `probidad migrate certification`, or see CONTRIBUTING.md, "Schema changes"."""

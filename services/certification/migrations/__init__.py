"""Certification's schema revisions (alembic): `probidad migrate certification`; CONTRIBUTING.md, "Schema changes"."""

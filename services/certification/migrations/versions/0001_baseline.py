"""Baseline: the schema of the last release made without migrations (certification's tables, outbox, processed_event).

A database made by that release (tables present, no version table) is stamped at this revision after
its columns are checked (probidad.shared.migrations.adopt); ``schema()`` is what it is checked against.
Frozen: a model change is a new revision, never an edit here.

Revision ID: 0001_baseline
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None


def _tables() -> dict[str, list[sa.SchemaItem]]:
    """Each table's columns, keys and indexes, new objects on every call (a Table adopts its items)."""
    return {
        "certification_attendance": [
            sa.Column("session_id", sa.String(length=64), nullable=False),
            sa.Column("servant_id", sa.String(length=64), nullable=False),
            sa.Column("share", sa.Float(), nullable=False),
            sa.Column("minutes_present", sa.Integer(), nullable=False),
            sa.Column("session_minutes", sa.Integer(), nullable=False),
            sa.Column("status", sa.String(length=20), nullable=False),
            sa.Column("stated_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("stated_rank", sa.Integer(), nullable=False),
            sa.Column("stated_by", sa.String(length=64), nullable=False),
            sa.PrimaryKeyConstraint("session_id", "servant_id"),
        ],
        "certification_certificate": [
            sa.Column("certificate_id", sa.String(length=64), nullable=False),
            sa.Column("verification_code", sa.String(length=32), nullable=False),
            sa.Column("servant_id", sa.String(length=64), nullable=False),
            sa.Column("session_id", sa.String(length=64), nullable=False),
            sa.Column("issue", sa.Integer(), nullable=False),
            sa.Column("institution_id", sa.String(length=64), nullable=True),
            sa.Column("course_id", sa.String(length=64), nullable=False),
            sa.Column("course_code", sa.String(length=40), nullable=False),
            sa.Column("course_title", sa.String(length=300), nullable=False),
            sa.Column("course_topic", sa.String(length=200), nullable=False),
            sa.Column("hours", sa.Float(), nullable=False),
            sa.Column("score", sa.Float(), nullable=True),
            sa.Column("issued_on", sa.Date(), nullable=False),
            sa.Column("issuing_authority", sa.String(length=300), nullable=False),
            sa.Column("valid_until", sa.Date(), nullable=True),
            sa.Column("holder_digest", sa.String(length=64), nullable=True),
            sa.Column("status", sa.String(length=10), nullable=False),
            sa.Column("revocation_reason", sa.Text(), nullable=True),
            sa.Column("revocation_applies", sa.String(length=20), nullable=True),
            sa.Column("revoked_effective_on", sa.Date(), nullable=True),
            sa.Column("revoked_by", sa.String(length=200), nullable=True),
            sa.Column("signature", sa.String(length=200), nullable=False),
            sa.Column("key_id", sa.String(length=64), nullable=False),
            sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("certificate_id"),
            sa.UniqueConstraint("verification_code"),
            sa.UniqueConstraint("servant_id", "session_id", "issue", name="uq_certificate_servant_session_issue"),
            sa.Index("ix_certification_certificate_servant_id", "servant_id"),
            sa.Index("ix_certification_certificate_session_id", "session_id"),
        ],
        "certification_competency": [
            sa.Column("servant_id", sa.String(length=64), nullable=False),
            sa.Column("competency", sa.String(length=200), nullable=False),
            sa.Column("course_ids", sa.Text(), nullable=False),
            sa.Column("certificate_ids", sa.Text(), nullable=False),
            sa.Column("attained_on", sa.Date(), nullable=False),
            sa.PrimaryKeyConstraint("servant_id", "competency"),
        ],
        "certification_course": [
            sa.Column("course_id", sa.String(length=64), nullable=False),
            sa.Column("code", sa.String(length=40), nullable=False),
            sa.Column("title", sa.String(length=300), nullable=False),
            sa.Column("topic", sa.String(length=200), nullable=False),
            sa.Column("competency", sa.String(length=200), nullable=True),
            sa.Column("hours", sa.Float(), nullable=False),
            sa.Column("minimum_attendance_share", sa.Float(), nullable=False),
            sa.Column("passing_score", sa.Float(), nullable=True),
            sa.Column("validity_months", sa.Integer(), nullable=True),
            sa.Column("stated_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("stated_by", sa.String(length=64), nullable=False),
            sa.PrimaryKeyConstraint("course_id"),
        ],
        "certification_enrolment": [
            sa.Column("enrolment_id", sa.String(length=64), nullable=False),
            sa.Column("session_id", sa.String(length=64), nullable=False),
            sa.Column("servant_id", sa.String(length=64), nullable=False),
            sa.Column("institution_id", sa.String(length=64), nullable=True),
            sa.Column("confirmed", sa.Boolean(), nullable=False),
            sa.Column("cancelled", sa.Boolean(), nullable=False),
            sa.PrimaryKeyConstraint("enrolment_id"),
            sa.Index("ix_certification_enrolment_servant_id", "servant_id"),
            sa.Index("ix_certification_enrolment_session_id", "session_id"),
        ],
        "certification_grade": [
            sa.Column("session_id", sa.String(length=64), nullable=False),
            sa.Column("servant_id", sa.String(length=64), nullable=False),
            sa.Column("score", sa.Float(), nullable=False),
            sa.Column("stated_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("stated_by", sa.String(length=64), nullable=False),
            sa.PrimaryKeyConstraint("session_id", "servant_id"),
        ],
        "certification_holder": [
            sa.Column("servant_id", sa.String(length=64), nullable=False),
            sa.Column("holder_digest", sa.String(length=64), nullable=True),
            sa.Column("stated_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("stated_by", sa.String(length=64), nullable=False),
            sa.PrimaryKeyConstraint("servant_id"),
        ],
        "certification_session": [
            sa.Column("session_id", sa.String(length=64), nullable=False),
            sa.Column("course_id", sa.String(length=64), nullable=True),
            sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("timezone", sa.String(length=64), nullable=True),
            sa.Column("planned_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("planned_rank", sa.Integer(), nullable=True),
            sa.Column("planned_by", sa.String(length=64), nullable=True),
            sa.Column("cancelled", sa.Boolean(), nullable=False),
            sa.Column("closed", sa.Boolean(), nullable=False),
            sa.PrimaryKeyConstraint("session_id"),
            sa.Index("ix_certification_session_course_id", "course_id"),
        ],
        "certification_transfer": [
            sa.Column("servant_id", sa.String(length=64), nullable=False),
            sa.Column("transfer_id", sa.String(length=64), nullable=False),
            sa.Column("to_institution_id", sa.String(length=64), nullable=False),
            sa.Column("effective_on", sa.Date(), nullable=False),
            sa.Column("stated_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("stated_by", sa.String(length=64), nullable=False),
            sa.PrimaryKeyConstraint("servant_id", "transfer_id"),
        ],
        "outbox": [
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("event_id", sa.String(length=64), nullable=False),
            sa.Column("topic", sa.String(length=200), nullable=False),
            sa.Column("key", sa.String(length=200), nullable=False),
            sa.Column("type", sa.String(length=200), nullable=False),
            sa.Column("headers", sa.Text(), nullable=False),
            sa.Column("payload", sa.Text(), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("event_id"),
            sa.Index("ix_outbox_published_at", "published_at"),
        ],
        "processed_event": [
            sa.Column("consumer_group", sa.String(length=200), nullable=False),
            sa.Column("event_id", sa.String(length=64), nullable=False),
            sa.Column("content_digest", sa.String(length=64), nullable=True),
            sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("consumer_group", "event_id"),
        ],
    }


def schema() -> sa.MetaData:
    metadata = sa.MetaData()
    for name, items in _tables().items():
        sa.Table(name, metadata, *items)
    return metadata


def upgrade() -> None:
    for name, items in _tables().items():
        op.create_table(name, *items)


def downgrade() -> None:
    for name in reversed(list(_tables())):
        op.drop_table(name)


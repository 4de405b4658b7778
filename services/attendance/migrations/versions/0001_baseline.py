"""Baseline: the schema of the last release made without migrations (attendance's tables, outbox, processed_event).

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
        "attendance_enrolment": [
            sa.Column("enrolment_id", sa.String(length=64), nullable=False),
            sa.Column("session_id", sa.String(length=64), nullable=False),
            sa.Column("servant_id", sa.String(length=64), nullable=False),
            sa.Column("institution_id", sa.String(length=64), nullable=True),
            sa.Column("confirmed", sa.Boolean(), nullable=False),
            sa.Column("cancelled", sa.Boolean(), nullable=False),
            sa.PrimaryKeyConstraint("enrolment_id"),
            sa.Index("ix_attendance_enrolment_session", "session_id"),
        ],
        "attendance_grade": [
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("session_id", sa.String(length=64), nullable=False),
            sa.Column("servant_id", sa.String(length=64), nullable=False),
            sa.Column("score", sa.Float(), nullable=False),
            sa.Column("graded_by", sa.String(length=100), nullable=False),
            sa.Column("graded_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.Index("ix_attendance_grade_session", "session_id", "servant_id"),
        ],
        "attendance_presence_interval": [
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("session_id", sa.String(length=64), nullable=False),
            sa.Column("servant_id", sa.String(length=64), nullable=False),
            sa.Column("started_s", sa.BigInteger(), nullable=False),
            sa.Column("ended_s", sa.BigInteger(), nullable=False),
            sa.Column("source", sa.String(length=20), nullable=False),
            sa.Column("report_id", sa.String(length=64), nullable=True),
            sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.Index("ix_attendance_interval_session", "session_id", "servant_id"),
        ],
        "attendance_presence_mark": [
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("session_id", sa.String(length=64), nullable=False),
            sa.Column("servant_id", sa.String(length=64), nullable=False),
            sa.Column("status", sa.String(length=20), nullable=False),
            sa.Column("minutes_present", sa.Integer(), nullable=True),
            sa.Column("reason", sa.String(length=1000), nullable=True),
            sa.Column("marked_by", sa.String(length=100), nullable=False),
            sa.Column("marked_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.Index("ix_attendance_mark_session", "session_id", "servant_id"),
        ],
        "attendance_record": [
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("session_id", sa.String(length=64), nullable=False),
            sa.Column("servant_id", sa.String(length=64), nullable=False),
            sa.Column("institution_id", sa.String(length=64), nullable=True),
            sa.Column("kind", sa.String(length=20), nullable=False),
            sa.Column("minutes_present", sa.Integer(), nullable=False),
            sa.Column("session_minutes", sa.Integer(), nullable=False),
            sa.Column("share", sa.Float(), nullable=False),
            sa.Column("status", sa.String(length=20), nullable=False),
            sa.Column("source_of_record", sa.String(length=20), nullable=False),
            sa.Column("reason", sa.String(length=1000), nullable=True),
            sa.Column("corrected_by", sa.String(length=100), nullable=True),
            sa.Column("event_id", sa.String(length=64), nullable=False),
            sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("seconds_present", sa.BigInteger(), nullable=True),
            sa.Column("session_seconds", sa.BigInteger(), nullable=True),
            sa.PrimaryKeyConstraint("id"),
            sa.Index("ix_attendance_record_session", "session_id", "servant_id"),
        ],
        "attendance_report_import": [
            sa.Column("report_id", sa.String(length=64), nullable=False),
            sa.Column("session_id", sa.String(length=64), nullable=False),
            sa.Column("format", sa.String(length=20), nullable=False),
            sa.Column("rows", sa.Integer(), nullable=False),
            sa.Column("matched_rows", sa.Integer(), nullable=False),
            sa.Column("unmatched_rows", sa.Integer(), nullable=False),
            sa.Column("ignored_rows", sa.Integer(), nullable=False),
            sa.Column("unmatched", sa.Text(), nullable=False),
            sa.Column("imported_by", sa.String(length=100), nullable=False),
            sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("report_id"),
            sa.Index("ix_attendance_report_import_session_id", "session_id"),
        ],
        "attendance_servant": [
            sa.Column("servant_id", sa.String(length=64), nullable=False),
            sa.Column("institution_id", sa.String(length=64), nullable=False),
            sa.Column("email_digest", sa.String(length=64), nullable=True),
            sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
            sa.Column("institution_as_of", sa.DateTime(timezone=True), nullable=True),
            sa.PrimaryKeyConstraint("servant_id"),
            sa.Index("ix_attendance_servant_email_digest", "email_digest"),
        ],
        "attendance_session": [
            sa.Column("session_id", sa.String(length=64), nullable=False),
            sa.Column("course_id", sa.String(length=64), nullable=True),
            sa.Column("instructor_id", sa.String(length=64), nullable=True),
            sa.Column("modality", sa.String(length=20), nullable=True),
            sa.Column("platform", sa.String(length=100), nullable=True),
            sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("timezone", sa.String(length=64), nullable=True),
            sa.Column("times_as_of", sa.DateTime(timezone=True), nullable=True),
            sa.Column("cancelled", sa.Boolean(), nullable=False),
            sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("closed_by", sa.String(length=100), nullable=True),
            sa.PrimaryKeyConstraint("session_id"),
        ],
        "attendance_transfer": [
            sa.Column("servant_id", sa.String(length=64), nullable=False),
            sa.Column("transfer_id", sa.String(length=64), nullable=False),
            sa.Column("from_institution_id", sa.String(length=64), nullable=False),
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


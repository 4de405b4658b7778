"""Baseline: the schema of the last release made without migrations (enrollment's tables, outbox, processed_event).

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
        "enrollment_agency_request": [
            sa.Column("institution_id", sa.String(length=64), nullable=False),
            sa.Column("request_id", sa.String(length=100), nullable=False),
            sa.Column("request_type", sa.String(length=200), nullable=False),
            sa.Column("request_digest", sa.String(length=64), nullable=False),
            sa.Column("outcome", sa.String(length=200), nullable=False),
            sa.Column("outcome_id", sa.String(length=64), nullable=True),
            sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("institution_id", "request_id"),
        ],
        "enrollment_completion": [
            sa.Column("completion_id", sa.String(length=400), nullable=False),
            sa.Column("servant_id", sa.String(length=64), nullable=False),
            sa.Column("session_id", sa.String(length=64), nullable=True),
            sa.Column("course_id", sa.String(length=64), nullable=True),
            sa.Column("competency", sa.String(length=200), nullable=True),
            sa.Column("completed_on", sa.Date(), nullable=True),
            sa.Column("valid_until", sa.Date(), nullable=True),
            sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("revoked_on", sa.Date(), nullable=True),
            sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("revocation_applies", sa.String(length=20), nullable=True),
            sa.Column("revoked_effective_on", sa.Date(), nullable=True),
            sa.Column("certificate_ids", sa.Text(), nullable=True),
            sa.Column("verification_code", sa.String(length=32), nullable=True),
            sa.Column("hours", sa.Float(), nullable=True),
            sa.Column("issuing_authority", sa.String(length=300), nullable=True),
            sa.PrimaryKeyConstraint("completion_id"),
            sa.Index("ix_enrollment_completion_servant_id", "servant_id"),
            sa.Index("ix_enrollment_completion_session_id", "session_id"),
        ],
        "enrollment_course": [
            sa.Column("course_id", sa.String(length=64), nullable=False),
            sa.Column("code", sa.String(length=40), nullable=False),
            sa.Column("title", sa.String(length=300), nullable=False),
            sa.Column("topic", sa.String(length=200), nullable=False),
            sa.Column("competency", sa.String(length=200), nullable=True),
            sa.Column("hours", sa.Float(), nullable=False),
            sa.Column("minimum_attendance_share", sa.Float(), nullable=False),
            sa.Column("passing_score", sa.Float(), nullable=True),
            sa.Column("validity_months", sa.Integer(), nullable=True),
            sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("course_id"),
            sa.UniqueConstraint("code"),
        ],
        "enrollment_enrolment": [
            sa.Column("number", sa.Integer(), nullable=False),
            sa.Column("enrolment_id", sa.String(length=64), nullable=False),
            sa.Column("session_id", sa.String(length=64), nullable=False),
            sa.Column("servant_id", sa.String(length=64), nullable=False),
            sa.Column("institution_id", sa.String(length=64), nullable=False),
            sa.Column("status", sa.String(length=20), nullable=False),
            sa.Column("request_id", sa.String(length=100), nullable=True),
            sa.Column("promoted_from_waitlist", sa.Boolean(), nullable=False),
            sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("cancellation_reason", sa.Text(), nullable=True),
            sa.PrimaryKeyConstraint("number"),
            sa.UniqueConstraint("enrolment_id", name="uq_enrolment_id"),
            sa.Index("ix_enrolment_servant_status", "servant_id", "status"),
            sa.Index("ix_enrolment_session_status", "session_id", "status"),
        ],
        "enrollment_exemption": [
            sa.Column("exemption_id", sa.String(length=64), nullable=False),
            sa.Column("requirement_id", sa.String(length=64), nullable=False),
            sa.Column("servant_id", sa.String(length=64), nullable=False),
            sa.Column("reason", sa.String(length=500), nullable=False),
            sa.Column("effective_from", sa.Date(), nullable=False),
            sa.Column("until", sa.Date(), nullable=True),
            sa.Column("granted_by", sa.String(length=200), nullable=False),
            sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("withdrawn_on", sa.Date(), nullable=True),
            sa.Column("withdrawn_by", sa.String(length=200), nullable=True),
            sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
            sa.PrimaryKeyConstraint("exemption_id"),
            sa.Index("ix_enrollment_exemption_requirement_id", "requirement_id"),
            sa.Index("ix_enrollment_exemption_servant_id", "servant_id"),
        ],
        "enrollment_headcount": [
            sa.Column("institution_id", sa.String(length=64), nullable=False),
            sa.Column("year", sa.Integer(), nullable=False),
            sa.Column("headcount", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("institution_id", "year"),
        ],
        "enrollment_institution": [
            sa.Column("institution_id", sa.String(length=64), nullable=False),
            sa.Column("name", sa.String(length=300), nullable=False),
            sa.Column("government_level", sa.String(length=20), nullable=False),
            sa.Column("municipality", sa.String(length=200), nullable=True),
            sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("institution_id"),
        ],
        "enrollment_life_event": [
            sa.Column("number", sa.Integer(), nullable=False),
            sa.Column("servant_id", sa.String(length=64), nullable=False),
            sa.Column("kind", sa.String(length=20), nullable=False),
            sa.Column("institution_id", sa.String(length=64), nullable=False),
            sa.Column("on", sa.Date(), nullable=False),
            sa.Column("reason", sa.String(length=500), nullable=True),
            sa.Column("recorded_by", sa.String(length=200), nullable=True),
            sa.Column("request_id", sa.String(length=100), nullable=True),
            sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("number"),
            sa.Index("ix_enrollment_life_event_institution_id", "institution_id"),
            sa.Index("ix_enrollment_life_event_servant_id", "servant_id"),
        ],
        "enrollment_plan_version": [
            sa.Column("plan_id", sa.String(length=64), nullable=False),
            sa.Column("year", sa.Integer(), nullable=False),
            sa.Column("version", sa.Integer(), nullable=False),
            sa.Column("declared_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("declared_by", sa.String(length=200), nullable=False),
            sa.Column("targets", sa.Text(), nullable=False),
            sa.PrimaryKeyConstraint("plan_id"),
            sa.UniqueConstraint("year", "version", name="uq_plan_year_version"),
            sa.Index("ix_enrollment_plan_version_year", "year"),
        ],
        "enrollment_requirement_version": [
            sa.Column("requirement_id", sa.String(length=64), nullable=False),
            sa.Column("version", sa.Integer(), nullable=False),
            sa.Column("effective_from", sa.Date(), nullable=False),
            sa.Column("title", sa.String(length=300), nullable=False),
            sa.Column("course_id", sa.String(length=64), nullable=True),
            sa.Column("competency", sa.String(length=200), nullable=True),
            sa.Column("scope", sa.Text(), nullable=False),
            sa.Column("due", sa.Text(), nullable=False),
            sa.Column("withdrawn", sa.Boolean(), nullable=False),
            sa.Column("declared_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("declared_by", sa.String(length=200), nullable=False),
            sa.PrimaryKeyConstraint("requirement_id", "version"),
        ],
        "enrollment_servant": [
            sa.Column("servant_id", sa.String(length=64), nullable=False),
            sa.Column("institution_id", sa.String(length=64), nullable=False),
            sa.Column("person_id", sa.String(length=64), nullable=True),
            sa.Column("sex", sa.String(length=20), nullable=False),
            sa.Column("position_level", sa.String(length=100), nullable=True),
            sa.Column("name", sa.String(length=300), nullable=True),
            sa.Column("curp", sa.String(length=18), nullable=True),
            sa.Column("email", sa.String(length=254), nullable=True),
            sa.Column("position", sa.String(length=200), nullable=True),
            sa.Column("holder_salt", sa.String(length=64), nullable=True),
            sa.Column("position_digest", sa.String(length=64), nullable=True),
            sa.Column("joined_on", sa.Date(), nullable=True),
            sa.Column("left_on", sa.Date(), nullable=True),
            sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("revision", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("servant_id"),
            sa.UniqueConstraint("institution_id", "curp", name="uq_servant_institution_curp"),
            sa.Index("ix_enrollment_servant_curp", "curp"),
            sa.Index("ix_enrollment_servant_institution_id", "institution_id"),
        ],
        "enrollment_session": [
            sa.Column("session_id", sa.String(length=64), nullable=False),
            sa.Column("course_id", sa.String(length=64), nullable=False),
            sa.Column("modality", sa.String(length=20), nullable=False),
            sa.Column("platform", sa.String(length=100), nullable=True),
            sa.Column("venue", sa.String(length=300), nullable=True),
            sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("timezone", sa.String(length=64), nullable=False),
            sa.Column("capacity", sa.Integer(), nullable=False),
            sa.Column("instructor_id", sa.String(length=64), nullable=True),
            sa.Column("organising_unit", sa.String(length=200), nullable=True),
            sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("cancellation_reason", sa.String(length=500), nullable=True),
            sa.Column("revision", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("session_id"),
            sa.Index("ix_enrollment_session_course_id", "course_id"),
            sa.Index("ix_enrollment_session_instructor_id", "instructor_id"),
            sa.Index("ix_enrollment_session_starts_at", "starts_at"),
        ],
        "enrollment_transfer": [
            sa.Column("transfer_id", sa.String(length=64), nullable=False),
            sa.Column("servant_id", sa.String(length=64), nullable=False),
            sa.Column("from_institution_id", sa.String(length=64), nullable=False),
            sa.Column("to_institution_id", sa.String(length=64), nullable=False),
            sa.Column("effective_on", sa.Date(), nullable=False),
            sa.Column("status", sa.String(length=20), nullable=False),
            sa.Column("requested_by", sa.String(length=200), nullable=False),
            sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("decided_by", sa.String(length=200), nullable=True),
            sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("reason", sa.Text(), nullable=True),
            sa.PrimaryKeyConstraint("transfer_id"),
            sa.Index("ix_enrollment_transfer_from_institution_id", "from_institution_id"),
            sa.Index("ix_enrollment_transfer_servant_id", "servant_id"),
            sa.Index("ix_enrollment_transfer_to_institution_id", "to_institution_id"),
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


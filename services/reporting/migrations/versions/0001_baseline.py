"""Baseline: the schema of the last release made without migrations (reporting's tables, outbox, processed_event).

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
        "reporting_fact": [
            sa.Column("seq", sa.Integer(), nullable=False),
            sa.Column("generation", sa.Integer(), nullable=False),
            sa.Column("event_id", sa.String(length=64), nullable=False),
            sa.Column("kind", sa.String(length=40), nullable=False),
            sa.Column("known_at", sa.BigInteger(), nullable=False),
            sa.Column("subject", sa.String(length=100), nullable=False),
            sa.Column("session_id", sa.String(length=64), nullable=True),
            sa.Column("servant_id", sa.String(length=64), nullable=True),
            sa.Column("attributes", sa.Text(), nullable=False),
            sa.PrimaryKeyConstraint("seq"),
            sa.UniqueConstraint("generation", "event_id", name="uq_reporting_fact_event"),
            sa.Index("ix_reporting_fact_generation_seq", "generation", "seq"),
        ],
        "reporting_publication": [
            sa.Column("report_id", sa.String(length=64), nullable=False),
            sa.Column("kind", sa.String(length=40), nullable=False),
            sa.Column("month", sa.String(length=7), nullable=False),
            sa.Column("as_of", sa.String(length=40), nullable=False),
            sa.Column("figures", sa.Text(), nullable=False),
            sa.Column("figures_digest", sa.String(length=64), nullable=False),
            sa.Column("published_by", sa.String(length=200), nullable=False),
            sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("report_id"),
            sa.Index("ix_reporting_publication_month", "kind", "month", "published_at"),
        ],
        "reporting_store": [
            sa.Column("id", sa.Integer(), nullable=False, autoincrement=False),
            sa.Column("generation", sa.Integer(), nullable=False),
            sa.Column("swapped_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("note", sa.String(length=500), nullable=False),
            sa.PrimaryKeyConstraint("id"),
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


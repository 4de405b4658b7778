"""Tables every service has: the transactional outbox and the processed-event record."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Text
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class OutboxRecord(SQLModel, table=True):
    """An event committed with the state change that produced it, waiting for the relay."""

    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(max_length=64, unique=True)
    topic: str = Field(max_length=200)
    key: str = Field(max_length=200)
    type: str = Field(max_length=200)
    headers: str = Field(sa_column=Column(Text, nullable=False))
    payload: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    published_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True, index=True)
    )


class ProcessedEvent(SQLModel, table=True):
    """An event a consumer group applied, committed in the same transaction as its effect."""

    __tablename__ = "processed_event"

    consumer_group: str = Field(max_length=200, primary_key=True)
    event_id: str = Field(max_length=64, primary_key=True)
    # What the event said (type, subject, data), so that an id reused for other content is told from a
    # redelivery. Empty for rows recorded before the column existed: those ids count as redeliveries.
    content_digest: str | None = Field(default=None, max_length=64)
    processed_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


SHARED_TABLES = [OutboxRecord.__table__, ProcessedEvent.__table__]

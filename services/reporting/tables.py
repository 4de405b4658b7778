"""Reporting's store: the facts it keeps, and the pointer to the generation the service reads.

Facts of every generation live in one table; ``reporting_store`` names the active generation. A
rebuild fills a new generation beside the live one and switches the pointer in one transaction, so
readers never see a half-built projection and there is no gap in service.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from probidad.shared.tables import utcnow


class ReportingFact(SQLModel, table=True):
    """One event reporting needs, reduced to ids and the attributes oversight reads (no personal data)."""

    __tablename__ = "reporting_fact"
    __table_args__ = (
        UniqueConstraint("generation", "event_id", name="uq_reporting_fact_event"),
        Index("ix_reporting_fact_generation_seq", "generation", "seq"),
    )

    seq: int | None = Field(default=None, primary_key=True)
    generation: int
    event_id: str = Field(max_length=64)
    kind: str = Field(max_length=40)
    known_at: int = Field(sa_column=Column(BigInteger, nullable=False), description="Envelope time, µs since epoch.")
    subject: str = Field(max_length=100)
    session_id: str | None = Field(default=None, max_length=64)
    servant_id: str | None = Field(default=None, max_length=64)
    attributes: str = Field(sa_column=Column(Text, nullable=False))


class ReportingStore(SQLModel, table=True):
    """The single row naming the generation of facts the service reads."""

    __tablename__ = "reporting_store"

    id: int = Field(default=1, primary_key=True)
    generation: int = 1
    swapped_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    note: str = Field(default="initial", max_length=500)


class ReportingPublication(SQLModel, table=True):
    """A report the comptroller published (ReportPublished): the moment its figures are as of, and the
    figures themselves, so the report re-renders with the same numbers and its digest can be checked.
    Not a projection of the facts: a rebuild of the facts leaves it as it is."""

    __tablename__ = "reporting_publication"
    __table_args__ = (Index("ix_reporting_publication_month", "kind", "month", "published_at"),)

    report_id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=40)
    month: str = Field(max_length=7)
    as_of: str = Field(max_length=40, description="ISO 8601, UTC: exact on every database.")
    figures: str = Field(sa_column=Column(Text, nullable=False), description="The numbers, canonical JSON.")
    figures_digest: str = Field(max_length=64)
    published_by: str = Field(max_length=200)
    published_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class XapiStatement(SQLModel, table=True):
    """An xAPI statement to send to the Learning Record Store (the outbox of services/reporting/xapi): pending
    until the LRS takes it, then sent; parked in the dead-letter list once retrying has run its time."""

    __tablename__ = "xapi_statement"
    __table_args__ = (
        Index("ix_xapi_statement_due", "status", "next_attempt_at"),
        Index("ix_xapi_statement_attended", "session_id", "servant_id", "role"),
        Index("ix_xapi_statement_certificate", "certificate_id"),
        Index("ix_xapi_statement_event", "event_id"),
    )

    statement_id: str = Field(primary_key=True, max_length=36)
    event_id: str = Field(max_length=64, description="The fact it was made of (its id derives from this one).")
    role: str = Field(max_length=20, description="registered, attended, scored, failed, completed, passed, "
                      "earned, revoked or voided.")
    session_id: str | None = Field(default=None, max_length=64)
    servant_id: str | None = Field(default=None, max_length=64)
    certificate_id: str | None = Field(default=None, max_length=64)
    voids: str | None = Field(default=None, max_length=36, description="A voiding statement's target.")
    stated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False), description="The statement, JSON, as sent.")
    status: str = Field(default="pending", max_length=10, description="pending, sent or parked.")
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    parked_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=500)


class XapiReference(SQLModel, table=True):
    """What the latest fact said of a course, session, servant or institution a statement names (ids and the
    attributes a statement carries: no personal data)."""

    __tablename__ = "xapi_reference"

    kind: str = Field(primary_key=True, max_length=20)
    ref_id: str = Field(primary_key=True, max_length=64)
    attributes: str = Field(sa_column=Column(Text, nullable=False))
    stated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    event_id: str = Field(max_length=64)


class XapiHeld(SQLModel, table=True):
    """A learning fact naming something not heard of yet: its statements wait until it is."""

    __tablename__ = "xapi_held"
    __table_args__ = (Index("ix_xapi_held_waiting", "waiting_for"),)

    event_id: str = Field(primary_key=True, max_length=64)
    event_type: str = Field(max_length=200)
    payload: str = Field(sa_column=Column(Text, nullable=False), description="The event's data, JSON.")
    stated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    waiting_for: str = Field(max_length=100, description="kind:id of what it waits for.")


TABLES = [ReportingFact.__table__, ReportingStore.__table__, ReportingPublication.__table__,
          XapiStatement.__table__, XapiReference.__table__, XapiHeld.__table__]

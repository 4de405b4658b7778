"""Certification's own tables: the facts it has heard (one row per entity, the superseding version)
and the certificates and competencies it decided. Times are stored in UTC."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class CourseFact(SQLModel, table=True):
    __tablename__ = "certification_course"

    course_id: str = Field(primary_key=True, max_length=64)
    code: str = Field(max_length=40)
    title: str = Field(max_length=300)
    topic: str = Field(max_length=200)
    competency: str | None = Field(default=None, max_length=200)
    hours: float
    minimum_attendance_share: float
    passing_score: float | None = None
    validity_months: int | None = None  # a completion's vigencia; null: it never expires
    stated_at: datetime
    stated_by: str = Field(max_length=64)


class SessionFact(SQLModel, table=True):
    __tablename__ = "certification_session"

    session_id: str = Field(primary_key=True, max_length=64)
    course_id: str | None = Field(default=None, max_length=64, index=True)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    timezone: str | None = Field(default=None, max_length=64)
    planned_at: datetime | None = None
    planned_rank: int | None = None
    planned_by: str | None = Field(default=None, max_length=64)
    cancelled: bool = False
    closed: bool = False


class EnrolmentFact(SQLModel, table=True):
    __tablename__ = "certification_enrolment"

    enrolment_id: str = Field(primary_key=True, max_length=64)
    session_id: str = Field(max_length=64, index=True)
    servant_id: str = Field(max_length=64, index=True)
    institution_id: str | None = Field(default=None, max_length=64)
    confirmed: bool = False
    cancelled: bool = False


class TransferFact(SQLModel, table=True):
    """A servant's transfer (the superseding statement of it): where certificates of sessions starting
    once it is in force are stamped (the attribution rule, ``contracts.attribution``), and where the servant
    came from (``from_institution_id``; null in rows kept before it was)."""

    __tablename__ = "certification_transfer"

    servant_id: str = Field(primary_key=True, max_length=64)
    transfer_id: str = Field(primary_key=True, max_length=64)
    to_institution_id: str = Field(max_length=64)
    from_institution_id: str | None = Field(default=None, max_length=64)
    effective_on: date
    stated_at: datetime
    stated_by: str = Field(max_length=64)


class HolderFact(SQLModel, table=True):
    """A servant's holder digest (the superseding statement of it), which their certificates bind;
    null when enrollment knows no CURP or erased the servant's data."""

    __tablename__ = "certification_holder"

    servant_id: str = Field(primary_key=True, max_length=64)
    holder_digest: str | None = Field(default=None, max_length=64)
    stated_at: datetime
    stated_by: str = Field(max_length=64)


class AttendanceFact(SQLModel, table=True):
    __tablename__ = "certification_attendance"

    session_id: str = Field(primary_key=True, max_length=64)
    servant_id: str = Field(primary_key=True, max_length=64)
    share: float
    minutes_present: int
    session_minutes: int
    status: str = Field(max_length=20)
    stated_at: datetime
    stated_rank: int
    stated_by: str = Field(max_length=64)


class GradeFact(SQLModel, table=True):
    __tablename__ = "certification_grade"

    session_id: str = Field(primary_key=True, max_length=64)
    servant_id: str = Field(primary_key=True, max_length=64)
    score: float
    stated_at: datetime
    stated_by: str = Field(max_length=64)


class CertificateRecord(SQLModel, table=True):
    """A certificate of a (servant, session), its status and its signature. ``issue`` numbers the
    certificates of one pair: a new one is issued only after the previous one was revoked."""

    __tablename__ = "certification_certificate"
    __table_args__ = (
        UniqueConstraint("servant_id", "session_id", "issue", name="uq_certificate_servant_session_issue"),
    )

    certificate_id: str = Field(primary_key=True, max_length=64)
    verification_code: str = Field(max_length=32, unique=True)
    servant_id: str = Field(max_length=64, index=True)
    session_id: str = Field(max_length=64, index=True)
    issue: int = 0
    institution_id: str | None = Field(default=None, max_length=64)
    course_id: str = Field(max_length=64)
    course_code: str = Field(max_length=40)
    course_title: str = Field(max_length=300)
    course_topic: str = Field(max_length=200)
    hours: float
    score: float | None = None
    issued_on: date
    issuing_authority: str = Field(max_length=300)
    valid_until: date | None = None  # last day the certificate holds; null: it never expires
    holder_digest: str | None = Field(default=None, max_length=64)  # the holder it binds; null: not bound
    status: str = Field(max_length=10)
    revocation_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # How a revocation applies in valid time (null in rows revoked before it was kept: void), and the
    # comptroller who ruled it (null: revoked by certification after a correction).
    revocation_applies: str | None = Field(default=None, max_length=20)
    revoked_effective_on: date | None = None
    revoked_by: str | None = Field(default=None, max_length=200)
    signature: str = Field(max_length=200)
    key_id: str = Field(max_length=64)
    changed_at: datetime


class CompetencyAttainment(SQLModel, table=True):
    __tablename__ = "certification_competency"

    servant_id: str = Field(primary_key=True, max_length=64)
    competency: str = Field(primary_key=True, max_length=200)
    course_ids: str = Field(sa_column=Column(Text, nullable=False))
    certificate_ids: str = Field(sa_column=Column(Text, nullable=False))
    attained_on: date


TABLES = [T.__table__ for T in (CourseFact, SessionFact, EnrolmentFact, AttendanceFact, GradeFact,
                                  CertificateRecord, CompetencyAttainment, TransferFact, HolderFact)]

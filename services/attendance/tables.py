"""Attendance's own tables. Presence evidence and attendance records are append-only: rows are added,
never updated or deleted, so every figure published can be traced to what was known when.

What attendance learns from enrollment (sessions, enrolments, servants) is a local copy kept current
by events; it holds no personal data — servants appear by pseudonymous id and e-mail digest only.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Index, Text
from sqlmodel import Field, SQLModel

from probidad.shared.tables import utcnow


def _when(nullable: bool = True, **kw: Any) -> Column:
    return Column(DateTime(timezone=True), nullable=nullable, **kw)


class TrainingSession(SQLModel, table=True):
    """A session as enrollment scheduled it, plus attendance's own fact: when it was closed."""

    __tablename__ = "attendance_session"

    session_id: str = Field(primary_key=True, max_length=64)
    course_id: str | None = Field(default=None, max_length=64)
    instructor_id: str | None = Field(default=None, max_length=64)
    modality: str | None = Field(default=None, max_length=20)
    platform: str | None = Field(default=None, max_length=100)
    starts_at: datetime | None = Field(default=None, sa_column=_when())
    ends_at: datetime | None = Field(default=None, sa_column=_when())
    timezone: str | None = Field(default=None, max_length=64)
    # ce_time of the event that set the times: an older (re)schedule arriving late changes nothing
    times_as_of: datetime | None = Field(default=None, sa_column=_when())
    cancelled: bool = False
    closed_at: datetime | None = Field(default=None, sa_column=_when())
    closed_by: str | None = Field(default=None, max_length=100)
    # the id of the event that set the times: of two stated at the same instant the larger id holds
    times_event_id: str | None = Field(default=None, max_length=64)


class Enrolment(SQLModel, table=True):
    __tablename__ = "attendance_enrolment"
    __table_args__ = (Index("ix_attendance_enrolment_session", "session_id"),)

    enrolment_id: str = Field(primary_key=True, max_length=64)
    session_id: str = Field(max_length=64)
    servant_id: str = Field(max_length=64)
    # the institution the enrolment was made for, as enrollment keeps it; who may see the servant in the
    # roster follows the servant's institution (Servant) once known, so a transfer moves it
    institution_id: str | None = Field(default=None, max_length=64)
    confirmed: bool = False
    cancelled: bool = False  # final: a cancellation arriving before its confirmation still wins


class Servant(SQLModel, table=True):
    """Only what matching and liaison scoping need: the institution the servant belongs to now (rosters follow
    it; new records take the institution at the session's start, from ``Transfer``) and the keyed e-mail digest.

    The two are ordered apart because they come from different facts: a ServantTransferred moves the
    institution but carries no digest, so a registration heard after it must still bring the digest
    without bringing back the institution it names."""

    __tablename__ = "attendance_servant"

    servant_id: str = Field(primary_key=True, max_length=64)
    institution_id: str = Field(max_length=64)
    email_digest: str | None = Field(default=None, max_length=64, index=True)
    # ce_time of the ServantRegistered/ServantUpdated that set the digest (NOT_YET when only a transfer is known)
    as_of: datetime = Field(sa_column=_when(nullable=False))
    # ce_time of the fact that set institution_id; null on rows written before transfers: then as_of
    institution_as_of: datetime | None = Field(default=None, sa_column=_when())
    # the ids of the events that set the digest and the institution (ties at one ce_time: the larger id holds);
    # null on rows written before they were kept
    digest_event_id: str | None = Field(default=None, max_length=64)
    institution_event_id: str | None = Field(default=None, max_length=64)


class Registration(SQLModel, table=True):
    """Every registration and update of a servant (where it placed them, when stated): with the transfers,
    what says which institution a servant served when a session started (contracts.attribution)."""

    __tablename__ = "attendance_registration"

    servant_id: str = Field(primary_key=True, max_length=64)
    event_id: str = Field(primary_key=True, max_length=64)
    institution_id: str = Field(max_length=64)
    stated_at: datetime = Field(sa_column=_when(nullable=False))


class Transfer(SQLModel, table=True):
    """A servant's transfer (its latest statement by ce_time): which institution the records a close makes
    belong to, by the session's start (the Servant row says where the servant is now, for rosters)."""

    __tablename__ = "attendance_transfer"

    servant_id: str = Field(primary_key=True, max_length=64)
    transfer_id: str = Field(primary_key=True, max_length=64)
    from_institution_id: str = Field(max_length=64)
    to_institution_id: str = Field(max_length=64)
    effective_on: date
    stated_at: datetime = Field(sa_column=_when(nullable=False))
    stated_by: str = Field(max_length=64)


class PresenceInterval(SQLModel, table=True):
    """A stretch of time a servant was there, as one source saw it (unclipped: the session may move)."""

    __tablename__ = "attendance_presence_interval"
    __table_args__ = (Index("ix_attendance_interval_session", "session_id", "servant_id"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(max_length=64)
    servant_id: str = Field(max_length=64)
    started_s: int = Field(sa_column=Column(BigInteger, nullable=False))
    ended_s: int = Field(sa_column=Column(BigInteger, nullable=False))
    source: str = Field(max_length=20)
    report_id: str | None = Field(default=None, max_length=64)
    recorded_at: datetime = Field(default_factory=utcnow, sa_column=_when(nullable=False))


class PresenceMark(SQLModel, table=True):
    """An instructor's (or the comptroller's) explicit word; the latest one for a servant counts."""

    __tablename__ = "attendance_presence_mark"
    __table_args__ = (Index("ix_attendance_mark_session", "session_id", "servant_id"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(max_length=64)
    servant_id: str = Field(max_length=64)
    status: str = Field(max_length=20)
    minutes_present: int | None = None
    reason: str | None = Field(default=None, max_length=1000)
    marked_by: str = Field(max_length=100)
    marked_at: datetime = Field(default_factory=utcnow, sa_column=_when(nullable=False))


class ReportImport(SQLModel, table=True):
    """One imported platform report: counts and the rows that matched nobody (line and reason only)."""

    __tablename__ = "attendance_report_import"

    report_id: str = Field(primary_key=True, max_length=64)
    session_id: str = Field(max_length=64, index=True)
    format: str = Field(max_length=20)
    rows: int
    matched_rows: int
    unmatched_rows: int
    ignored_rows: int
    unmatched: str = Field(sa_column=Column(Text, nullable=False))  # JSON: [{line, reason, email_digest}]
    imported_by: str = Field(max_length=100)
    imported_at: datetime = Field(default_factory=utcnow, sa_column=_when(nullable=False))


class Grade(SQLModel, table=True):
    """An evaluation score; a later grade for the same servant and session supersedes earlier ones."""

    __tablename__ = "attendance_grade"
    __table_args__ = (Index("ix_attendance_grade_session", "session_id", "servant_id"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(max_length=64)
    servant_id: str = Field(max_length=64)
    score: float
    graded_by: str = Field(max_length=100)
    graded_at: datetime = Field(default_factory=utcnow, sa_column=_when(nullable=False))


class AttendanceRecord(SQLModel, table=True):
    """History of published attendance: one 'recorded' row at close, then one row per correction."""

    __tablename__ = "attendance_record"
    __table_args__ = (Index("ix_attendance_record_session", "session_id", "servant_id"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(max_length=64)
    servant_id: str = Field(max_length=64)
    # the servant's institution when the session was closed; a correction keeps its recording's, so a
    # later transfer does not move attendance already recorded
    institution_id: str | None = Field(default=None, max_length=64)
    kind: str = Field(max_length=20)  # recorded | corrected
    minutes_present: int
    session_minutes: int
    share: float
    status: str = Field(max_length=20)
    source_of_record: str = Field(max_length=20)
    reason: str | None = Field(default=None, max_length=1000)
    corrected_by: str | None = Field(default=None, max_length=100)
    event_id: str = Field(max_length=64)
    recorded_at: datetime = Field(default_factory=utcnow, sa_column=_when(nullable=False))
    # the measure, to the second; NULL in records made before it was kept (they have only minutes)
    seconds_present: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    session_seconds: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


TABLES = [T.__table__ for T in (TrainingSession, Enrolment, Servant, PresenceInterval, PresenceMark,
                                ReportImport, Grade, AttendanceRecord, Transfer, Registration)]

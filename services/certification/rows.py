"""Certification's rows as the domain reads them, and back: the mapping the repositories share (no SQL).

A row is read by attribute: a row as the database handed it (a plain row) or a row created or changed in
this unit of work (``Pending``), of the same table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from contracts.attribution import Stamp
from contracts.events import RevocationApplies
from services.certification.domain.certificates import (
    CertificateTerms,
    HeldCertificate,
    Revocation,
    StandingCertificate,
    Status,
)
from services.certification.domain.facts import (
    Attendance,
    CourseTerms,
    Enrolment,
    Grade,
    Holder,
    SessionPlan,
    Transfer,
)

Stored = Any  # a row as read (sqlalchemy Row) or a ``Pending`` row of the same table: read by attribute


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def aware(moment: datetime | None) -> datetime | None:
    """Databases without time zones hand back naive UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def course_of(row: Stored | None) -> CourseTerms | None:
    if row is None:
        return None
    return CourseTerms(row.course_id, row.code, row.title, row.topic, row.hours, row.minimum_attendance_share,
                       row.passing_score, row.competency, Stamp.of(row.stated_at, row.stated_by),
                       row.validity_months)


def plan_of(row: Stored | None) -> SessionPlan | None:
    if row is None:
        return None
    planned = (None if row.planned_at is None
               else Stamp.of(row.planned_at, row.planned_by or "", row.planned_rank or 0))
    return SessionPlan(row.session_id, row.course_id, aware(row.starts_at), aware(row.ends_at), row.timezone,
                       planned, row.cancelled, row.closed)


def enrolment_of(row: Stored | None) -> Enrolment | None:
    if row is None:
        return None
    return Enrolment(row.enrolment_id, row.session_id, row.servant_id, row.institution_id, row.confirmed, row.cancelled)


def attendance_of(row: Stored | None) -> Attendance | None:
    if row is None:
        return None
    return Attendance(row.share, row.minutes_present, row.session_minutes, row.status,
                      Stamp.of(row.stated_at, row.stated_by, row.stated_rank))


def grade_of(row: Stored | None) -> Grade | None:
    return None if row is None else Grade(row.score, Stamp.of(row.stated_at, row.stated_by))


def transfer_of(row: Stored) -> Transfer:
    return Transfer(row.transfer_id, row.to_institution_id, row.effective_on,
                    Stamp.of(row.stated_at, row.stated_by), row.from_institution_id)


def holder_of(row: Stored | None) -> Holder | None:
    return None if row is None else Holder(row.holder_digest, Stamp.of(row.stated_at, row.stated_by))


def certificate_terms(row: Stored) -> CertificateTerms:
    """The terms a certificate row states (what its signature covers)."""
    return CertificateTerms(
        certificate_id=row.certificate_id, verification_code=row.verification_code, servant_id=row.servant_id,
        session_id=row.session_id, course_id=row.course_id, course_code=row.course_code,
        course_title=row.course_title, course_topic=row.course_topic, hours=row.hours, score=row.score,
        issued_on=row.issued_on, issuing_authority=row.issuing_authority, valid_until=row.valid_until,
        holder_digest=row.holder_digest,
    )


def revocation_of(row: Stored) -> Revocation | None:
    """How a revoked certificate's revocation applies (a row kept before it was said: void); None if valid."""
    if row.status != Status.revoked.value:
        return None
    return Revocation(RevocationApplies(row.revocation_applies or RevocationApplies.void.value),
                      row.revoked_effective_on, row.revoked_by)


def standing_of(row: Stored | None) -> StandingCertificate | None:
    if row is None:
        return None
    return StandingCertificate(HeldCertificate(certificate_terms(row), Status(row.status), row.issue,
                                               row.revocation_reason, revocation_of(row)), row.institution_id)


def stated(stamp: Stamp) -> tuple[datetime, str]:
    return utc(stamp.at), stamp.event_id


# ------------------------------------------------------------------ what is kept in memory


@dataclass
class SessionRows:
    """Every row kept about one session, by servant (rows as read, or the ``Pending`` rows they became)."""

    session_id: str
    plan: Stored = None
    enrolments: dict[str, dict[str, Stored]] = field(default_factory=dict)  # servant -> enrolment id -> row
    attendance: dict[str, Stored] = field(default_factory=dict)
    grades: dict[str, Stored] = field(default_factory=dict)
    certificates: dict[str, Stored] = field(default_factory=dict)  # servant -> latest (highest issue)
    members: set[str] = field(default_factory=set)  # every servant with a row above
    plan_state: SessionPlan | None = None  # ``plan`` as the domain reads it (made once, until saved)

    def keep_certificate(self, row: Stored) -> None:
        latest = self.certificates.get(row.servant_id)
        if latest is None or row.issue >= latest.issue:
            self.certificates[row.servant_id] = row
        self.members.add(row.servant_id)


@dataclass
class ServantRows:
    """A servant's certificates (ids; every session, every status), competencies attained, transfers and
    holder digest."""

    certificate_ids: set[str] = field(default_factory=set)
    attained: dict[str, Stored] = field(default_factory=dict)  # competency -> its attainment's row
    transfers: dict[str, Stored] = field(default_factory=dict)  # transfer id -> row
    holder: Stored = None

"""Enrollment's own tables. The only place in the platform where servants' personal data is stored."""

from __future__ import annotations

from datetime import UTC, date, datetime

from probidad.shared.tables import utcnow
from sqlalchemy import Column, DateTime, Index, Integer, Text, TypeDecorator, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator):
    """Stored in UTC, read back aware. SQLite keeps no offset, so the offset is dropped and restored."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc(nullable: bool = False, index: bool = False) -> Column:
    return Column(UTCDateTime(), nullable=nullable, index=index)


class Institution(SQLModel, table=True):
    __tablename__ = "enrollment_institution"

    institution_id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=300)
    government_level: str = Field(max_length=20)
    municipality: str | None = Field(default=None, max_length=200)
    registered_at: datetime = Field(default_factory=utcnow, sa_column=_utc())


class Headcount(SQLModel, table=True):
    """Public servants an institution declares for a year (coverage is measured against it)."""

    __tablename__ = "enrollment_headcount"

    institution_id: str = Field(primary_key=True, max_length=64)
    year: int = Field(primary_key=True)
    headcount: int


class Course(SQLModel, table=True):
    __tablename__ = "enrollment_course"

    course_id: str = Field(primary_key=True, max_length=64)
    code: str = Field(max_length=40, unique=True)
    title: str = Field(max_length=300)
    topic: str = Field(max_length=200)
    competency: str | None = Field(default=None, max_length=200)
    hours: float
    minimum_attendance_share: float = 0.8
    passing_score: float | None = None
    validity_months: int | None = None  # a completion's vigencia; None: it never expires
    published_at: datetime = Field(default_factory=utcnow, sa_column=_utc())


class TrainingSession(SQLModel, table=True):
    """One delivery of a course. Times are stored in UTC; ``timezone`` is how people read them."""

    __tablename__ = "enrollment_session"

    session_id: str = Field(primary_key=True, max_length=64)
    course_id: str = Field(max_length=64, index=True)
    modality: str = Field(max_length=20)
    platform: str | None = Field(default=None, max_length=100)
    venue: str | None = Field(default=None, max_length=300)
    starts_at: datetime = Field(sa_column=_utc(index=True))
    ends_at: datetime = Field(sa_column=_utc())
    timezone: str = Field(max_length=64)
    capacity: int
    instructor_id: str | None = Field(default=None, max_length=64, index=True)
    organising_unit: str | None = Field(default=None, max_length=200)
    cancelled_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    cancellation_reason: str | None = Field(default=None, max_length=500)
    # Bumped by every seat change: the UPDATE takes the row lock that serialises a session's seats.
    revision: int = Field(default=0, sa_column=Column(Integer, nullable=False, default=0))


class Servant(SQLModel, table=True):
    """A public servant. name, curp, email and position are personal data, blanked on erasure."""

    __tablename__ = "enrollment_servant"
    # A servant is a person in one institution: one CURP once per institution (erased CURPs are NULL).
    __table_args__ = (UniqueConstraint("institution_id", "curp", name="uq_servant_institution_curp"),)

    servant_id: str = Field(primary_key=True, max_length=64)
    institution_id: str = Field(max_length=64, index=True)
    # Shared by the servants one CURP names in several institutions, so figures count the person once;
    # kept after erasure (it is pseudonymous), so past figures do not move.
    person_id: str | None = Field(default=None, max_length=64)
    sex: str = Field(max_length=20)
    position_level: str | None = Field(default=None, max_length=100)
    name: str | None = Field(default=None, max_length=300)
    curp: str | None = Field(default=None, max_length=18, index=True)
    email: str | None = Field(default=None, max_length=254)
    position: str | None = Field(default=None, max_length=200)
    # Secret, made once per servant: binds their certificates to the CURP (contracts.holder); erased with it.
    holder_salt: str | None = Field(default=None, max_length=64)
    # Not personal data: a keyed digest of the position title (kept after erasure, requirements match it).
    position_digest: str | None = Field(default=None, max_length=64)
    joined_on: date | None = None  # first day in institution_id (of the current stretch)
    left_on: date | None = None  # set while the servant has left ("baja"); cleared by a return
    registered_at: datetime = Field(default_factory=utcnow, sa_column=_utc())
    erased_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    # Bumped by every enrolment of the servant on PostgreSQL: serialises the overlap check per person.
    revision: int = Field(default=0, sa_column=Column(Integer, nullable=False, default=0))


class Enrolment(SQLModel, table=True):
    """A servant's seat (or place on the waitlist) in a session; ``number`` is the order of arrival."""

    __tablename__ = "enrollment_enrolment"
    __table_args__ = (
        Index("ix_enrolment_session_status", "session_id", "status"),
        Index("ix_enrolment_servant_status", "servant_id", "status"),
        UniqueConstraint("enrolment_id", name="uq_enrolment_id"),
    )

    number: int | None = Field(default=None, primary_key=True)
    enrolment_id: str = Field(max_length=64)
    session_id: str = Field(max_length=64)
    servant_id: str = Field(max_length=64)
    institution_id: str = Field(max_length=64)
    status: str = Field(max_length=20)
    request_id: str | None = Field(default=None, max_length=100)
    promoted_from_waitlist: bool = False
    enrolled_at: datetime = Field(default_factory=utcnow, sa_column=_utc())
    cancelled_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    cancellation_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class AgencyRequest(SQLModel, table=True):
    """An agency request already decided, so that a re-send (same institution and request id, any
    event id) is not decided twice. ``request_digest`` is a keyed digest of the request's content;
    ``outcome`` is the type of the event that answered it, ``outcome_id`` the servant or enrolment."""

    __tablename__ = "enrollment_agency_request"

    institution_id: str = Field(primary_key=True, max_length=64)
    request_id: str = Field(primary_key=True, max_length=100)
    request_type: str = Field(max_length=200)
    request_digest: str = Field(max_length=64)
    outcome: str = Field(max_length=200)
    outcome_id: str | None = Field(default=None, max_length=64)
    decided_at: datetime = Field(default_factory=utcnow, sa_column=_utc())


class Transfer(SQLModel, table=True):
    """A move of a servant between institutions: requested (by the institution they leave), then
    completed (accepted by the one they join, or recorded by the comptroller) or declined."""

    __tablename__ = "enrollment_transfer"

    transfer_id: str = Field(primary_key=True, max_length=64)
    servant_id: str = Field(max_length=64, index=True)
    from_institution_id: str = Field(max_length=64, index=True)
    to_institution_id: str = Field(max_length=64, index=True)
    effective_on: date
    status: str = Field(max_length=20)  # requested, completed, declined
    requested_by: str = Field(max_length=200)
    requested_at: datetime = Field(default_factory=utcnow, sa_column=_utc())
    decided_by: str | None = Field(default=None, max_length=200)
    decided_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class PlanVersion(SQLModel, table=True):
    """One version of a year's training programme, as declared (TrainingPlanDeclared); the highest
    version of a year is the plan in force. ``targets`` is the event's target list as JSON."""

    __tablename__ = "enrollment_plan_version"
    __table_args__ = (UniqueConstraint("year", "version", name="uq_plan_year_version"),)

    plan_id: str = Field(primary_key=True, max_length=64)
    year: int = Field(index=True)
    version: int
    declared_at: datetime = Field(sa_column=_utc())
    declared_by: str = Field(max_length=200)
    targets: str = Field(sa_column=Column(Text, nullable=False))


class LifeEvent(SQLModel, table=True):
    """A servant's life cycle as recorded: joined (registration or return), transferred (into
    ``institution_id``) or left it, from ``on``. The compliance rule builds memberships from these;
    ``recorded_at`` lets a list be answered as known at an earlier moment."""

    __tablename__ = "enrollment_life_event"

    number: int | None = Field(default=None, primary_key=True)
    servant_id: str = Field(max_length=64, index=True)
    kind: str = Field(max_length=20)  # joined, transferred, left
    institution_id: str = Field(max_length=64, index=True)
    on: date
    reason: str | None = Field(default=None, max_length=500)
    recorded_by: str | None = Field(default=None, max_length=200)
    request_id: str | None = Field(default=None, max_length=100)
    recorded_at: datetime = Field(default_factory=utcnow, sa_column=_utc())


class RequirementRow(SQLModel, table=True):
    """One version of a training requirement (TrainingRequirementDeclared). ``scope`` is the event's
    scope as JSON plus the position titles it was declared with (``positions``, enrollment only)."""

    __tablename__ = "enrollment_requirement_version"

    requirement_id: str = Field(primary_key=True, max_length=64)
    version: int = Field(primary_key=True)
    effective_from: date
    title: str = Field(max_length=300)
    course_id: str | None = Field(default=None, max_length=64)
    competency: str | None = Field(default=None, max_length=200)
    scope: str = Field(sa_column=Column(Text, nullable=False))
    due: str = Field(sa_column=Column(Text, nullable=False))
    withdrawn: bool = False
    declared_at: datetime = Field(sa_column=_utc())
    declared_by: str = Field(max_length=200)


class ExemptionRow(SQLModel, table=True):
    __tablename__ = "enrollment_exemption"

    exemption_id: str = Field(primary_key=True, max_length=64)
    requirement_id: str = Field(max_length=64, index=True)
    servant_id: str = Field(max_length=64, index=True)
    reason: str = Field(max_length=500)
    effective_from: date
    until: date | None = None
    granted_by: str = Field(max_length=200)
    granted_at: datetime = Field(sa_column=_utc())
    withdrawn_on: date | None = None
    withdrawn_by: str | None = Field(default=None, max_length=200)
    withdrawn_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))


class CompletionRow(SQLModel, table=True):
    """A servant's completion as certification said it: a certificate (``certificate:<id>``) or a
    competency attained (``competency:<servant>:<competency>:<day>``). A revocation may arrive before
    its certificate (any order across partitions): the row then waits without ``completed_on``, and an
    attainment listing that certificate is revoked by it all the same."""

    __tablename__ = "enrollment_completion"

    completion_id: str = Field(primary_key=True, max_length=400)
    servant_id: str = Field(max_length=64, index=True)
    # A certificate's session: a session a certificate was issued from was delivered and cannot be
    # cancelled (null for competencies, and for certificates recorded before it was kept).
    session_id: str | None = Field(default=None, max_length=64, index=True)
    course_id: str | None = Field(default=None, max_length=64)
    competency: str | None = Field(default=None, max_length=200)
    completed_on: date | None = None
    valid_until: date | None = None
    recorded_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    revoked_on: date | None = None  # the day the revocation was recorded
    revoked_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    # How the revocation applies in valid time, as CertificateRevoked says (null: void).
    revocation_applies: str | None = Field(default=None, max_length=20)
    revoked_effective_on: date | None = None
    # A competency's: the certificates it was attained with, space-separated (ids have no spaces); it counts
    # only while every one of them does (null for certificates, and for competencies recorded before it was kept).
    certificate_ids: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # A certificate's, for its named constancia (null for competencies and older rows).
    verification_code: str | None = Field(default=None, max_length=32)
    hours: float | None = None
    issuing_authority: str | None = Field(default=None, max_length=300)


# ------------------------------------------------------------------ notices: contacts, e-mail, webhooks


class InstitutionContact(SQLModel, table=True):
    """A person an institution names to hear about its compliance (its liaison, its ethics committee's
    secretary): personal data, kept here only and never on a topic."""

    __tablename__ = "enrollment_contact"

    contact_id: str = Field(primary_key=True, max_length=64)
    institution_id: str = Field(max_length=64, index=True)
    name: str = Field(max_length=300)
    email: str = Field(max_length=254)
    role: str = Field(max_length=200)  # "enlace", "secretaría del comité de ética", …
    # The digests wanted, space-separated: "compliance" (counts and named due/overdue lists), "expiring"
    # (constancias expiring soon).
    digests: str = Field(max_length=200)
    added_at: datetime = Field(default_factory=utcnow, sa_column=_utc())
    added_by: str = Field(max_length=200)


class NoticeSettings(SQLModel, table=True):
    """How an institution is told: the digests' cadence and language, and whether its servants get reminders.
    An institution without a row has the defaults (weekly, Spanish, reminders on)."""

    __tablename__ = "enrollment_notice_settings"

    institution_id: str = Field(primary_key=True, max_length=64)
    digest_cadence: str = Field(default="weekly", max_length=20)  # daily | weekly | monthly | off
    language: str = Field(default="es", max_length=5)  # es | en
    reminders: bool = True
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_utc())
    updated_by: str = Field(max_length=200)


class MailMessage(SQLModel, table=True):
    """One e-mail decided: a digest to a contact or a reminder to a servant, for one period. Its id is the
    Message-ID, made from who, what and which period, so a second decision for the same period is the same
    row (never a second message). Decided in the unit of work that publishes MessageQueued; delivered
    after, by the scheduler."""

    __tablename__ = "enrollment_mail_message"
    __table_args__ = (Index("ix_mail_message_status_next", "status", "next_attempt_at"),)

    message_id: str = Field(primary_key=True, max_length=200)  # the Message-ID, without its angle brackets
    institution_id: str = Field(max_length=64, index=True)
    recipient_kind: str = Field(max_length=20)  # contact | servant
    recipient_id: str = Field(max_length=64, index=True)
    kind: str = Field(max_length=40)  # digest | due_30 | due_7 | overdue | expiry_30 | expiry_7
    about: str | None = Field(default=None, max_length=200)  # the requirement or certificate a reminder is about
    period: str = Field(max_length=64)  # the digest's period (2026-W50, 2026-12-08, 2026-12) or the date due
    language: str = Field(default="es", max_length=5)
    # Personal data, blanked when the recipient's data are erased.
    address: str | None = Field(default=None, max_length=254)
    subject: str | None = Field(default=None, max_length=500)
    body_text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    body_html: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    content_digest: str = Field(max_length=64)  # SHA-256 of subject, text and HTML as decided
    # queued | sending | sent | bounced | failed | uncertain | cancelled
    status: str = Field(default="queued", max_length=20)
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    decided_at: datetime = Field(default_factory=utcnow, sa_column=_utc())
    sent_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))


class MailSuppression(SQLModel, table=True):
    """An address no mail goes to: its owner unsubscribed, or a server refused it for good (a hard bounce).
    Kept by the address's keyed digest, so an erased servant's address is not kept to remember it."""

    __tablename__ = "enrollment_mail_suppression"

    address_digest: str = Field(primary_key=True, max_length=64)
    reason: str = Field(max_length=20)  # unsubscribed | bounced
    detail: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    suppressed_at: datetime = Field(default_factory=utcnow, sa_column=_utc())


class WebhookEndpoint(SQLModel, table=True):
    """An agency's HTTPS endpoint for its institution's events (request outcomes, its servants' certificates)."""

    __tablename__ = "enrollment_webhook_endpoint"

    endpoint_id: str = Field(primary_key=True, max_length=64)
    institution_id: str = Field(max_length=64, index=True)
    url: str = Field(max_length=2000)
    secret: str = Field(max_length=200)  # whsec_<base64>, the Standard Webhooks signing secret
    event_types: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))  # space-separated; "": all
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc())
    created_by: str = Field(max_length=200)
    removed_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))


class WebhookDelivery(SQLModel, table=True):
    """One event for one endpoint, written in the unit of work of the fact it tells; sent after, retried with
    backoff for a day, then parked where the liaison can replay it."""

    __tablename__ = "enrollment_webhook_delivery"
    __table_args__ = (UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_delivery_event"),
                      Index("ix_webhook_delivery_status_next", "status", "next_attempt_at"))

    delivery_id: str = Field(primary_key=True, max_length=100)  # webhook-id: the same on every attempt
    endpoint_id: str = Field(max_length=64, index=True)
    institution_id: str = Field(max_length=64, index=True)
    event_id: str = Field(max_length=64)  # the CloudEvent's id
    event_type: str = Field(max_length=200)
    source: str = Field(max_length=200)
    subject: str | None = Field(default=None, max_length=200)
    event_time: datetime = Field(sa_column=_utc())
    payload: str = Field(sa_column=Column(Text, nullable=False))  # the event's data, JSON
    status: str = Field(default="pending", max_length=20)  # pending | delivered | parked
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    last_status_code: int | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc())
    delivered_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    parked_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))


TABLES = [Institution.__table__, Headcount.__table__, Course.__table__, TrainingSession.__table__,
          Servant.__table__, Enrolment.__table__, AgencyRequest.__table__, Transfer.__table__,
          PlanVersion.__table__, LifeEvent.__table__, RequirementRow.__table__, ExemptionRow.__table__,
          CompletionRow.__table__, InstitutionContact.__table__, NoticeSettings.__table__, MailMessage.__table__,
          MailSuppression.__table__, WebhookEndpoint.__table__, WebhookDelivery.__table__]

"""Version 1 of every Probidad event.

Each class is one fact. Field descriptions end up in the committed JSON Schemas
(``contracts/schemas/<type>.json``) and in each service's AsyncAPI document, so an agency developer
can build a consumer or producer in any language from those files alone.

Times are ISO-8601 with an offset (``2026-11-05T10:00:00-05:00``); ``ce_time`` is always UTC.
Servants appear only by their pseudonymous ``servant_id``: no name, CURP or e-mail ever leaves the
enrollment service in an event (agency *requests* are the one inbound exception, see ServantSubmitted).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Annotated, Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from contracts.base import PLAIN_NUMBER_RULE, Event, PlainNumber
from contracts.topics import (
    AGENCY_REQUESTS, ATTENDANCE_EVENTS, CERTIFICATION_EVENTS, ENROLLMENT_EVENTS, REPORTING_EVENTS,
)

Share = Annotated[float, Field(ge=0.0, le=1.0)]
# Hours and scores are signed into certificates: each is a plain number (contracts.base.PlainNumber), the
# bound certification always applied, now stated once here so every service accepts or refuses alike.
Score = Annotated[float, Field(ge=0.0, le=100.0), PlainNumber]
CourseHours = Annotated[float, Field(gt=0, le=500), PlainNumber]
Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$")]


def _known_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except Exception as error:  # noqa: BLE001 — not found, not a key, a directory, a name too long for a path…
        raise ValueError(f"{name[:80]!r} is not an IANA time zone (e.g. America/Cancun)") from error
    return name


# A session's zone: every consumer reads the session's local day in it (attendance refused, and a name like
# "America" or one too long for a file name made a consumer fail or retry), so the contract checks it once.
IanaZone = Annotated[str, AfterValidator(_known_zone)]


def _after_start(ends_at: datetime, info: ValidationInfo) -> datetime:
    starts_at = info.data.get("starts_at")
    if starts_at is not None and ends_at <= starts_at:
        raise ValueError(f"{ends_at.isoformat()} is not after starts_at {starts_at.isoformat()}")
    return ends_at


class GovernmentLevel(str, Enum):
    state = "state"
    municipal = "municipal"


class Modality(str, Enum):
    virtual = "virtual"
    in_person = "in_person"
    hybrid = "hybrid"


class Sex(str, Enum):
    female = "female"
    male = "male"
    non_binary = "non_binary"
    undisclosed = "undisclosed"


class AttendanceStatus(str, Enum):
    present = "present"
    late = "late"
    excused = "excused"
    absent = "absent"


class AttendanceSource(str, Enum):
    instructor = "instructor"
    check_in = "check_in"
    zoom = "zoom"
    teams = "teams"
    meet = "meet"
    csv = "csv"


# ---------------------------------------------------------------- enrollment


class _Enrollment(Event):
    source = "probidad/enrollment"
    kafka_topic = ENROLLMENT_EVENTS


class InstitutionRegistered(_Enrollment):
    """A state or municipal institution joined the programme with its declared headcount.

    Re-registering the same ``institution_id`` with a new headcount (e.g. for a new year) supersedes it.
    """

    type = "probidad.enrollment.institution.registered.v1"
    key_field = subject_field = "institution_id"

    institution_id: Id
    name: str = Field(min_length=1, max_length=300, description="Official name of the institution.")
    government_level: GovernmentLevel
    municipality: str | None = Field(None, max_length=200, description="Municipality, for municipal bodies.")
    headcount: int = Field(ge=1, description="Public servants the institution declares for headcount_year.")
    headcount_year: int = Field(ge=2000, le=2100)


class CoursePublished(_Enrollment):
    """A course of the integrity programme was published (or re-published with new terms)."""

    type = "probidad.enrollment.course.published.v1"
    key_field = subject_field = "course_id"

    course_id: Id
    code: str = Field(min_length=1, max_length=40)
    title: str = Field(min_length=1, max_length=300)
    topic: str = Field(min_length=1, max_length=200, description="e.g. 'Código de Ética', 'Conflicto de Interés'.")
    competency: str | None = Field(None, max_length=200, description="Competency of the integrity model it builds.")
    hours: CourseHours = Field(description=f"Credited training hours: {PLAIN_NUMBER_RULE}.")
    minimum_attendance_share: Share = Field(0.8, description="Share of the session a servant must attend to complete.")
    passing_score: Score | None = Field(None, description="Minimum evaluation score (0 to 100, "
                                        f"{PLAIN_NUMBER_RULE}); null when the course has no evaluation.")
    validity_months: int | None = Field(None, ge=1, le=240, description="How long a completion holds (the "
                                        "constancia's vigencia): its certificate's valid_until is issued_on plus "
                                        "this many months. Null (and in older events): it never expires.")


class SessionScheduled(_Enrollment):
    """A session (one delivery of a course) was scheduled."""

    type = "probidad.enrollment.session.scheduled.v1"
    key_field = subject_field = "session_id"

    session_id: Id
    course_id: Id
    modality: Modality
    platform: str | None = Field(None, max_length=100, description="Virtual platform (Zoom, Teams, Meet…).")
    venue: str | None = Field(None, max_length=300, description="Venue of in-person or hybrid sessions.")
    starts_at: AwareDatetime
    ends_at: AwareDatetime = Field(description="After starts_at.")
    timezone: IanaZone = Field(description="IANA zone of the session, e.g. America/Cancun (a zone every "
                               "service knows).")
    capacity: int = Field(ge=1)
    instructor_id: Id | None = None
    organising_unit: str | None = Field(None, max_length=200)

    _ends_after_start = field_validator("ends_at")(_after_start)


class SessionRescheduled(_Enrollment):
    """A scheduled session moved in time (and possibly place)."""

    type = "probidad.enrollment.session.rescheduled.v1"
    key_field = subject_field = "session_id"

    session_id: Id
    starts_at: AwareDatetime
    ends_at: AwareDatetime = Field(description="After starts_at.")
    timezone: IanaZone = Field(description="IANA zone of the session, as in SessionScheduled.")
    venue: str | None = None
    reason: str | None = Field(None, max_length=500)

    _ends_after_start = field_validator("ends_at")(_after_start)


class SessionCancelled(_Enrollment):
    """A session was cancelled; it will never count as delivered."""

    type = "probidad.enrollment.session.cancelled.v1"
    key_field = subject_field = "session_id"

    session_id: Id
    reason: str | None = Field(None, max_length=500)


class ServantRegistered(_Enrollment):
    """A public servant was registered. Pseudonymous: only the attributes oversight figures need."""

    type = "probidad.enrollment.servant.registered.v1"
    key_field = subject_field = "servant_id"

    servant_id: Id = Field(description="Pseudonymous id; the link to the person stays in enrollment.")
    institution_id: Id
    sex: Sex
    position_level: str | None = Field(
        None, max_length=100, description="e.g. 'operativo', 'mando medio', 'directivo'.")
    email_digest: str | None = Field(
        None, max_length=64, description="HMAC-SHA256 of the normalised e-mail (contracts.pseudonyms); lets "
        "attendance match platform reports without the address. Null after erasure or when no e-mail is known.")
    request_id: str | None = Field(
        None, max_length=100, description="The agency request (ServantSubmitted) that led to it, if any.")
    person_id: Id | None = Field(None, description="Pseudonymous id of the person, shared by the servants one CURP "
                                 "names in several institutions (a person serving in two), so figures count them "
                                 "once; never equal to a servant id. Absent from older events: the servant id "
                                 "stands for the person.")
    joined_on: date | None = Field(None, description="First day (programme time zone) the servant serves in "
                                   "institution_id: what 'within N days of joining' requirements count from. "
                                   "Null (and in older events): unknown, the day the event was recorded stands "
                                   "for it. A joined_on after a ServantLeft's left_on brings the servant back.")
    position_digest: str | None = Field(None, max_length=64, description="HMAC-SHA256 of the normalised position "
                                        "title (contracts.pseudonyms), so requirements scoped to a position "
                                        "can be matched without the title; null when no position is known.")
    holder_digest: str | None = Field(None, max_length=64, description="Hex sha256(salt || normalised CURP) "
                                      "under the servant's secret salt (contracts.holder), which certificates "
                                      "carry to bind their holder; without the salt it reveals nothing. Null "
                                      "after erasure or when no CURP is known.")


class ServantUpdated(_Enrollment):
    """A servant's oversight attributes changed (e.g. moved to another institution)."""

    type = "probidad.enrollment.servant.updated.v1"
    key_field = subject_field = "servant_id"

    servant_id: Id
    institution_id: Id
    sex: Sex
    position_level: str | None = None
    email_digest: str | None = Field(None, max_length=64, description="As in ServantRegistered; null after erasure.")
    request_id: str | None = Field(
        None, max_length=100, description="The agency request (ServantSubmitted) that led to it, if any.")
    person_id: Id | None = Field(None, description="As in ServantRegistered.")
    joined_on: date | None = Field(None, description="As in ServantRegistered.")
    position_digest: str | None = Field(None, max_length=64, description="As in ServantRegistered.")
    holder_digest: str | None = Field(None, max_length=64, description="As in ServantRegistered.")


class ServantLeft(_Enrollment):
    """A servant left their institution ("baja"): from ``left_on`` no requirement applies to them there.

    Recorded by the comptroller or the institution's liaison (HTTP, CSV) or asked by its agency
    (DepartureReported). The reason stays in enrollment. A later ServantRegistered or ServantUpdated
    with a ``joined_on`` after ``left_on`` brings the servant back; a transfer is not a leaving
    (ServantTransferred moves them).
    """

    type = "probidad.enrollment.servant.left.v1"
    key_field = subject_field = "servant_id"

    servant_id: Id
    institution_id: Id = Field(description="The institution left.")
    left_on: date = Field(description="First day (programme time zone) the servant no longer serves there.")
    recorded_by: str = Field(max_length=200, description="Who recorded it: 'comptroller:<subject>', "
                             "'liaison:<institution id>:<subject>' or 'agency:<institution id>'.")
    request_id: str | None = Field(None, max_length=100, description="The agency request (DepartureReported) "
                                   "that led to it, if any.")


class ServantTransferred(_Enrollment):
    """A servant moved from one institution to another, from ``effective_on``.

    Its own fact, never a side effect of a registration: recorded by the comptroller, or requested by
    the liaison of the institution the servant leaves and accepted by the liaison of the one they join.
    Figures keep each completion with the institution the servant belonged to when the session started,
    so training before ``effective_on`` stays with ``from_institution_id``.
    """

    type = "probidad.enrollment.servant.transferred.v1"
    key_field = subject_field = "servant_id"

    servant_id: Id
    transfer_id: Id = Field(description="The transfer (request) this fact completes.")
    from_institution_id: Id
    to_institution_id: Id
    effective_on: date = Field(description="First day (programme time zone) the servant belongs to to_institution_id; "
                               "never after the day it was recorded.")
    sex: Sex = Field(description="As in ServantRegistered, so a consumer needs no other fact to place the servant.")
    position_level: str | None = Field(None, max_length=100)
    requested_by: str = Field(max_length=200, description="Who asked: 'comptroller' or 'liaison:<institution id>', "
                              "then ':<token subject>'.")
    approved_by: str = Field(max_length=200, description="Who made it take effect, in the same form.")
    approved_at: AwareDatetime = Field(description="When it took effect in enrollment (UTC).")


class TransferOpened(_Enrollment):
    """A transfer was asked for and waits for the joining institution's answer; nothing moved yet.

    Asked by the institution the servant leaves (over HTTP, or an agency's TransferRequested); the
    joining institution learns from it which transfer to accept or decline. No personal data, and not
    the request's free-text reason.
    """

    type = "probidad.enrollment.transfer.opened.v1"
    key_field = "servant_id"
    subject_field = "transfer_id"

    transfer_id: Id
    servant_id: Id
    from_institution_id: Id
    to_institution_id: Id
    effective_on: date = Field(description="The first day in to_institution_id if accepted, as asked.")
    requested_by: str = Field(max_length=200, description="Who asked, as in ServantTransferred "
                              "('agency:<institution id>' for an agency request).")
    requested_at: AwareDatetime
    request_id: str | None = Field(None, max_length=100, description="The agency request (TransferRequested) "
                                   "that asked for it, if any.")


class TransferDropped(_Enrollment):
    """A transfer waiting for an answer was declined (or withdrawn by the leaving institution); nothing moved."""

    type = "probidad.enrollment.transfer.dropped.v1"
    key_field = "servant_id"
    subject_field = "transfer_id"

    transfer_id: Id
    servant_id: Id
    from_institution_id: Id
    to_institution_id: Id
    declined_by: str = Field(max_length=200, description="Who declined, in the form of requested_by.")
    declined_at: AwareDatetime
    request_id: str | None = Field(None, max_length=100, description="The agency request (TransferDeclined) "
                                   "that declined it, if any.")


class EnrolmentConfirmed(_Enrollment):
    """A servant holds a seat in a session (directly, or promoted from the waitlist)."""

    type = "probidad.enrollment.enrolment.confirmed.v1"
    key_field = "session_id"
    subject_field = "enrolment_id"

    enrolment_id: Id
    session_id: Id
    servant_id: Id
    institution_id: Id
    promoted_from_waitlist: bool = False
    request_id: str | None = Field(None, description="The agency request that asked for it, if any.")


class EnrolmentWaitlisted(_Enrollment):
    """The session was full: the servant waits, in order of arrival."""

    type = "probidad.enrollment.enrolment.waitlisted.v1"
    key_field = "session_id"
    subject_field = "enrolment_id"

    enrolment_id: Id
    session_id: Id
    servant_id: Id
    institution_id: Id
    position: int = Field(ge=1, description="1 = next to be promoted.")
    request_id: str | None = None


class EnrolmentCancelled(_Enrollment):
    """An enrolment (confirmed or waitlisted) was cancelled."""

    type = "probidad.enrollment.enrolment.cancelled.v1"
    key_field = "session_id"
    subject_field = "enrolment_id"

    enrolment_id: Id
    session_id: Id
    servant_id: Id
    reason: str | None = Field(None, max_length=500)


class RequestRejected(_Enrollment):
    """An agency request could not be applied; nothing changed. Keyed by the request id."""

    type = "probidad.enrollment.request.rejected.v1"
    key_field = subject_field = "request_id"

    request_id: str = Field(min_length=1, max_length=100)
    institution_id: str | None = None
    reason: str = Field(min_length=1, max_length=1000)
    field: str | None = Field(None, description="The request field at fault, when one is.")


class MessageQueued(_Enrollment):
    """Enrollment decided to send one e-mail: a digest to an institution's contact, or a reminder to a servant.

    Written in the unit of work that decides it, once per recipient, kind and period: ``message_id`` is the
    e-mail's Message-ID, so a second decision for the same period is no second message. Who it goes to is
    a pseudonymous id (the servant's, or the contact's); the address, names and the text stay in enrollment.
    ``content_digest`` lets an audit show which text was sent without the text leaving enrollment.
    """

    type = "probidad.enrollment.message.queued.v1"
    key_field = "institution_id"
    subject_field = "message_id"

    message_id: str = Field(min_length=1, max_length=200, description="The e-mail's Message-ID, without angle "
                            "brackets; the same on every attempt to send it.")
    institution_id: Id
    recipient_kind: Literal["contact", "servant"] = Field(description="contact: one of the institution's named "
                                                          "contacts (a digest); servant: a reminder to the servant.")
    recipient_id: Id = Field(description="The contact id or the (pseudonymous) servant id.")
    kind: Literal["digest", "due_30", "due_7", "overdue", "expiry_30", "expiry_7"] = Field(description=(
        "digest: the institution's compliance digest; due_30/due_7: a requirement falls due in 30/7 days; "
        "overdue: it became overdue; expiry_30/expiry_7: a constancia expires in 30/7 days."))
    about: str | None = Field(None, max_length=200, description="The requirement id (due_*, overdue) or the "
                              "certificate id (expiry_*) a reminder is about; null for a digest.")
    period: str = Field(min_length=1, max_length=64, description="Which period: a digest's (2026-W50, 2026-12-08, "
                        "2026-12), or the day due or expiring (a reminder).")
    content_digest: str = Field(min_length=64, max_length=64, description="SHA-256 (hex) of the message's subject, "
                                "plain text and HTML as decided.")


class AgencyRequestDecided(_Enrollment):
    """An agency request was decided: the answer on the agency's own outcome topic.

    On a secure broker an agency may read only ``probidad.agency.outcomes.<its institution>``, not
    ``probidad.enrollment.events``, where the outcome itself (ServantRegistered, EnrolmentConfirmed,
    RequestRejected…) is recorded. Enrollment writes this event, once per decided request and in the
    same transaction as the decision, to the outcome topic of the institution whose request topic the
    request came on. On a development broker, where every request is on the shared topic, it is written
    to the outcome topic of the registered institution the request names.
    """

    type = "probidad.enrollment.request.decided.v1"
    # One topic per institution: the outbox is told which (Outbox.add(..., topic=...)).
    kafka_topic = "probidad.agency.outcomes.{institution_id}"
    key_field = subject_field = "request_id"

    request_id: str = Field(min_length=1, max_length=100, description="The request's own request_id.")
    institution_id: Id
    request_type: str = Field(max_length=200, description="ce_type of the request, e.g. "
                              "probidad.agency.enrolment.requested.v1.")
    outcome: str = Field(max_length=200, description="ce_type of the outcome event on probidad.enrollment.events: "
                         "probidad.enrollment.servant.registered.v1, …servant.updated.v1, …enrolment.confirmed.v1, "
                         "…enrolment.waitlisted.v1 or …request.rejected.v1.")
    outcome_id: Id | None = Field(None, description="The servant id (servant requests) or enrolment id (enrolment "
                                  "requests) it led to; null when rejected.")
    reason: str | None = Field(None, max_length=1000, description="Why it was rejected.")
    field: str | None = Field(None, description="The request field at fault, when a rejection names one.")


MAX_PLAN_TARGETS = 5000  # 12 months x institutions x topics, in one Kafka record


class PlanTarget(BaseModel):
    """What the annual programme plans for one month, institution and topic."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    month: int = Field(ge=1, le=12, description="Month of the plan year (programme time zone), 1-12.")
    institution_id: Id
    topic: str = Field(min_length=1, max_length=200, description="As courses name it (CoursePublished.topic).")
    sessions: int = Field(ge=0, le=100_000, description="Sessions to deliver.")
    people: int = Field(ge=0, le=10_000_000, description="Public servants to train.")
    hours: float = Field(
        ge=0, le=100_000_000, description="Training hours to give (course hours of every participation).")


class TrainingPlanDeclared(_Enrollment):
    """The comptroller declared (a new version of) the annual training programme of a year.

    The "Programa Anual de Capacitación": targets per month x institution x topic. Each declaration is
    the whole plan of its year: version N+1 replaces version N from the moment it was recorded (its
    ``ce_time``), so figures as of an earlier moment still measure against version N. Keyed by the
    plan year, so a year's versions stay in order in one partition.
    """

    type = "probidad.enrollment.plan.declared.v1"
    key_field = "year"
    subject_field = "plan_id"

    plan_id: Id = Field(description="This version's own id.")
    year: int = Field(ge=2000, le=2100)
    version: int = Field(ge=1, description="1, 2, ... per year; a higher version replaces a lower one.")
    declared_at: AwareDatetime = Field(description="When enrollment recorded it (UTC).")
    declared_by: str = Field(max_length=200, description="Who declared it: 'comptroller:<token subject>'.")
    targets: list[PlanTarget] = Field(max_length=MAX_PLAN_TARGETS, description="At most one target per month, "
                                      "institution and topic; a combination absent plans nothing (0).")


class DueRuleKind(str, Enum):
    within_days_of_joining = "within_days_of_joining"
    yearly_by = "yearly_by"
    renewal = "renewal"


class DueRule(BaseModel):
    """By when a requirement must be met.

    * ``within_days_of_joining``: a completion (at any time, even before joining) by ``days`` after the
      servant's ``joined_on`` — or after the requirement's ``effective_from``, for servants who joined before it;
    * ``yearly_by``: a completion within each calendar year (programme time zone), by ``month``/``day`` of it;
    * ``renewal``: a completion no older than ``months``; a servant who never had one is due as in
      ``within_days_of_joining`` (``days``, default 90), and one whose completion expired is due on its expiry.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    kind: DueRuleKind
    days: int | None = Field(None, ge=0, le=3650, description="within_days_of_joining and renewal: days after "
                             "joining (or after effective_from) by which a first completion is due.")
    month: int | None = Field(None, ge=1, le=12, description="yearly_by: month of the yearly deadline.")
    day: int | None = Field(None, ge=1, le=31, description="yearly_by: day of the yearly deadline.")
    months: int | None = Field(None, ge=1, le=240, description="renewal: months a completion holds.")


class RequirementScope(BaseModel):
    """Whom a requirement is required of: every criterion given must match; none given = all servants."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    institution_ids: list[Id] | None = Field(None, max_length=2000, description="Servants of these institutions.")
    government_level: GovernmentLevel | None = Field(None, description="Servants of institutions of this level.")
    position_levels: list[str] | None = Field(None, max_length=100, description="Servants of these position levels.")
    position_digests: list[str] | None = Field(None, max_length=1000, description="Servants in these positions: "
                                               "HMAC-SHA256 digests of the normalised titles, as ServantRegistered's "
                                               "position_digest (enrollment computes them from the titles).")


class TrainingRequirementDeclared(_Enrollment):
    """The comptroller declared (a new version of) a training requirement ("capacitación obligatoria").

    Version N+1 supersedes version N from its own ``effective_from``; figures as of an earlier date
    answer with the version then in force. A version with ``withdrawn`` true requires nothing from
    its date. Keyed by the requirement id, so its versions stay in order.
    """

    type = "probidad.enrollment.requirement.declared.v1"
    key_field = subject_field = "requirement_id"

    requirement_id: Id
    version: int = Field(ge=1, description="1, 2, ... per requirement; each supersedes the previous from its date.")
    effective_from: date = Field(description="First day (programme time zone) this version is in force.")
    title: str = Field(min_length=1, max_length=300)
    course_id: Id | None = Field(None, description="The course whose completion satisfies it (or competency).")
    competency: str | None = Field(None, max_length=200, description="The competency whose attainment "
                                   "(CompetencyAttained) satisfies it, instead of a course.")
    scope: RequirementScope
    due: DueRule
    withdrawn: bool = Field(False, description="From effective_from the requirement requires nothing.")
    declared_at: AwareDatetime = Field(description="When enrollment recorded it (UTC).")
    declared_by: str = Field(max_length=200, description="'comptroller:<token subject>'.")


class ExemptionGranted(_Enrollment):
    """A servant is exempt from a requirement from ``effective_from`` (until ``until``, if given), for a reason."""

    type = "probidad.enrollment.exemption.granted.v1"
    key_field = "servant_id"
    subject_field = "exemption_id"

    exemption_id: Id
    requirement_id: Id
    servant_id: Id
    reason: str = Field(min_length=1, max_length=500, description="Why (e.g. 'incapacidad médica', 'acreditado "
                        "por otra instancia'); no personal data beyond what the reason needs.")
    effective_from: date
    until: date | None = Field(None, description="Last day exempt; null = until withdrawn.")
    granted_by: str = Field(max_length=200)
    granted_at: AwareDatetime


class ExemptionWithdrawn(_Enrollment):
    """An exemption no longer holds from ``withdrawn_on``."""

    type = "probidad.enrollment.exemption.withdrawn.v1"
    key_field = "servant_id"
    subject_field = "exemption_id"

    exemption_id: Id
    requirement_id: Id
    servant_id: Id
    withdrawn_on: date
    withdrawn_by: str = Field(max_length=200)


# ---------------------------------------------------------------- agency requests


class _AgencyRequest(Event):
    source = "agency"
    kafka_topic = AGENCY_REQUESTS


class ServantSubmitted(_AgencyRequest):
    """An agency's HR system asks enrollment to register (or update) one of its servants.

    This is the only event that carries personal data, because enrollment needs it to register
    the person; the agency request topic therefore has a bounded retention. Outcome:
    ServantRegistered/ServantUpdated, or RequestRejected with this ``request_id``.
    """

    type = "probidad.agency.servant.submitted.v1"
    key_field = "institution_id"
    subject_field = "request_id"

    request_id: str = Field(min_length=1, max_length=100, description="Unique per request; echoed in the outcome.")
    institution_id: Id
    name: str = Field(min_length=1, max_length=300)
    curp: str = Field(min_length=18, max_length=18, description="Clave Única de Registro de Población.")
    email: str | None = Field(None, max_length=254)
    sex: Sex
    position: str | None = Field(None, max_length=200)
    position_level: str | None = Field(None, max_length=100)
    joined_on: date | None = Field(None, description="First day in the institution (programme time zone); "
                                   "the day it is decided when omitted for a new servant.")


class DepartureReported(_AgencyRequest):
    """An agency reports that one of its servants left the institution ("baja") on ``left_on``.

    Decided as a liaison's ``POST /servants/{id}/departure``. Outcome: ServantLeft carrying
    ``request_id``, or RequestRejected.
    """

    type = "probidad.agency.departure.reported.v1"
    key_field = "institution_id"
    subject_field = "request_id"

    request_id: str = Field(min_length=1, max_length=100)
    institution_id: Id
    servant_id: Id | None = Field(None, description="Pseudonymous id returned at registration.")
    curp: str | None = Field(None, min_length=18, max_length=18, description="Alternative to servant_id.")
    left_on: date = Field(description="First day no longer serving (programme time zone); not after the day decided.")
    reason: str | None = Field(None, max_length=200, description="Kept in enrollment only.")


class EnrolmentRequested(_AgencyRequest):
    """An agency asks to enrol one of its servants (by servant id or CURP) in a session.

    Outcome: EnrolmentConfirmed or EnrolmentWaitlisted carrying ``request_id``, or RequestRejected.
    """

    type = "probidad.agency.enrolment.requested.v1"
    key_field = "institution_id"
    subject_field = "request_id"

    request_id: str = Field(min_length=1, max_length=100)
    institution_id: Id
    session_id: Id
    servant_id: Id | None = Field(None, description="Pseudonymous id returned at registration.")
    curp: str | None = Field(None, min_length=18, max_length=18, description="Alternative to servant_id.")


class TransferRequested(_AgencyRequest):
    """The agency of the institution a servant leaves asks for them to move to another institution.

    Decided as a liaison's ``POST /servants/{id}/transfer``: only a servant of ``institution_id`` can
    be asked for (any other is "unknown"). Outcome: TransferOpened carrying ``request_id`` (its
    ``transfer_id`` is what the joining institution accepts), or RequestRejected.
    """

    type = "probidad.agency.transfer.requested.v1"
    key_field = "institution_id"
    subject_field = "request_id"

    request_id: str = Field(min_length=1, max_length=100)
    institution_id: Id = Field(description="The institution the servant leaves: the agency's own.")
    servant_id: Id
    to_institution_id: Id
    effective_on: date | None = Field(None, description="First day in the new institution (programme time zone); "
                                      "the day it is decided when omitted, never later.")
    reason: str | None = Field(None, max_length=500)


class TransferAccepted(_AgencyRequest):
    """The agency of the institution a servant joins accepts a transfer asked for them.

    Outcome: ServantTransferred (the move), or RequestRejected. ServantTransferred carries no request
    id: match it by ``transfer_id`` (in secure mode AgencyRequestDecided names both).
    """

    type = "probidad.agency.transfer.accepted.v1"
    key_field = "institution_id"
    subject_field = "request_id"

    request_id: str = Field(min_length=1, max_length=100)
    institution_id: Id = Field(description="The institution the servant joins: the agency's own.")
    transfer_id: Id


class TransferDeclined(_AgencyRequest):
    """The agency of either institution of a transfer declines (or, leaving, withdraws) it.

    Outcome: TransferDropped carrying ``request_id``, or RequestRejected.
    """

    type = "probidad.agency.transfer.declined.v1"
    key_field = "institution_id"
    subject_field = "request_id"

    request_id: str = Field(min_length=1, max_length=100)
    institution_id: Id
    transfer_id: Id


# ---------------------------------------------------------------- attendance


class _Attendance(Event):
    source = "probidad/attendance"
    kafka_topic = ATTENDANCE_EVENTS
    key_field = "session_id"


# Presence as AttendanceRecorded and AttendanceCorrected both state it.
AttendedShare = Annotated[Share, Field(description=(
    "seconds_present / session_seconds (older events: minutes_present / session_minutes), capped at 1 and "
    "rounded down to 4 decimals, so it never reaches a threshold the time attended does not."))]
SecondsPresent = Annotated[int | None, Field(ge=0, description=(
    "Seconds of the session attended (merged connections, clipped to the session); authoritative when "
    "present. minutes_present is this in whole minutes, rounded down. Older events have only minutes."))]
SessionSeconds = Annotated[int | None, Field(ge=1, description=(
    "The session's length in seconds; authoritative when present. session_minutes is this in whole "
    "minutes, rounded down. Older events have only minutes."))]


class AttendanceRecorded(_Attendance):
    """At the close of a session: how much of it one enrolled servant attended."""

    type = "probidad.attendance.attendance.recorded.v1"
    subject_field = "servant_id"

    session_id: Id
    servant_id: Id
    minutes_present: int = Field(ge=0)
    session_minutes: int = Field(ge=1)
    share: AttendedShare
    status: AttendanceStatus
    source_of_record: AttendanceSource
    seconds_present: SecondsPresent = None
    session_seconds: SessionSeconds = None


class AttendanceCorrected(_Attendance):
    """A recorded attendance was corrected. Records are append-only: this supersedes, never edits."""

    type = "probidad.attendance.attendance.corrected.v1"
    subject_field = "servant_id"

    session_id: Id
    servant_id: Id
    minutes_present: int = Field(ge=0)
    session_minutes: int = Field(ge=1)
    share: AttendedShare
    status: AttendanceStatus
    reason: str = Field(min_length=1, max_length=1000)
    corrected_by: str = Field(min_length=1, max_length=100)
    seconds_present: SecondsPresent = None
    session_seconds: SessionSeconds = None


class AssessmentGraded(_Attendance):
    """A servant's evaluation in a session was graded (a later grade supersedes an earlier one)."""

    type = "probidad.attendance.assessment.graded.v1"
    subject_field = "servant_id"

    session_id: Id
    servant_id: Id
    score: Score = Field(description=f"0 to 100: {PLAIN_NUMBER_RULE}.")


class SessionClosed(_Attendance):
    """Attendance of a session is final; its AttendanceRecorded events precede this one."""

    type = "probidad.attendance.session.closed.v1"
    subject_field = "session_id"

    session_id: Id
    closed_at: AwareDatetime
    enrolled: int = Field(ge=0)
    present: int = Field(ge=0)


# ---------------------------------------------------------------- certification


class _Certification(Event):
    source = "probidad/certification"
    kafka_topic = CERTIFICATION_EVENTS
    key_field = "servant_id"


class CertificateIssued(_Certification):
    """A servant completed a session: one certificate, verifiable by its code."""

    type = "probidad.certification.certificate.issued.v1"
    subject_field = "certificate_id"

    certificate_id: Id
    verification_code: str = Field(min_length=4, max_length=32)
    servant_id: Id
    course_id: Id
    session_id: Id
    hours: Annotated[float, PlainNumber] = Field(gt=0, description=f"The course's hours: {PLAIN_NUMBER_RULE}.")
    score: Score | None = Field(None, description=f"The servant's score (0 to 100, {PLAIN_NUMBER_RULE}); null "
                                "without an evaluation.")
    issued_on: date
    issuing_authority: str
    valid_until: date | None = Field(None, description="Last day the completion holds (the course's "
                                     "validity_months after issued_on); null: it never expires.")
    holder_digest: str | None = Field(None, max_length=64, description="The servant's holder_digest when the "
                                      "certificate was issued: lets a named constancia's salt and CURP be "
                                      "checked against it. Null: not bound (older certificates).")


class RevocationApplies(str, Enum):
    """How a revocation applies in valid time (the days a completion is *about*)."""

    void = "void"            # the completion never held (wrong attendance, an annulled evaluation)
    from_date = "from_date"  # it held until the day before ``effective_on`` (a sanction, a fraud discovered)


class CertificateRevoked(_Certification):
    """A certificate no longer holds: a correction made the completion fail, or the comptroller revoked it.

    ``applies`` says how, in valid time: ``void`` — the completion never counted, on any date (as known
    from this event on); ``from_date`` — it counted until the day before ``effective_on``. Absent (older
    events, all of them certification's revocations after a correction): void. ``effective_on`` is read
    only with ``from_date``; ``from_date`` without it is read as void (``contracts.compliance.revoked_from``).
    """

    type = "probidad.certification.certificate.revoked.v1"
    subject_field = "certificate_id"

    certificate_id: Id
    verification_code: str
    servant_id: Id
    course_id: Id
    session_id: Id
    reason: str = Field(min_length=1, max_length=1000)
    applies: RevocationApplies | None = Field(None, description="void: the completion never counted, on any date; "
                                              "from_date: it counted until the day before effective_on. Null (and "
                                              "in older events): void.")
    effective_on: date | None = Field(None, description="With applies from_date: the first day (programme time "
                                      "zone) the completion no longer counts.")


class CompetencyAttained(_Certification):
    """A servant holds certificates for every course the competency model lists for a competency."""

    type = "probidad.certification.competency.attained.v1"
    subject_field = "servant_id"

    servant_id: Id
    competency: str
    course_ids: list[Id]
    certificate_ids: list[Id]
    attained_on: date


# ---------------------------------------------------------------- reporting


class _Reporting(Event):
    source = "probidad/reporting"
    kafka_topic = REPORTING_EVENTS
    key_field = "report_id"


class ReportPublished(_Reporting):
    """The comptroller published a report (a monthly bulletin): its figures as known at ``as_of``.

    Reporting renders a published report from this moment and these figures, so it reads the same
    later, after corrections. ``figures_digest`` is the sha256 (hex) of the canonical JSON of
    ``figures`` (keys sorted, no spaces, UTF-8): anyone can recompute it.
    """

    type = "probidad.reporting.report.published.v1"
    subject_field = "report_id"

    report_id: Id
    kind: str = Field(min_length=1, max_length=40, description="What was published: 'bulletin'.")
    month: str = Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$",
                       description="The month reported, YYYY-MM (programme time zone).")
    as_of: AwareDatetime = Field(description="The figures are those known at this moment (UTC).")
    figures_digest: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the canonical JSON of figures.")
    figures: dict[str, Any] = Field(description="The numbers the report prints, as reporting computed them.")
    published_by: str = Field(max_length=200, description="Who published it: 'comptroller:<token subject>'.")


ALL_EVENTS: tuple[type[Event], ...] = (
    InstitutionRegistered, CoursePublished, SessionScheduled, SessionRescheduled, SessionCancelled,
    ServantRegistered, ServantUpdated, ServantTransferred, EnrolmentConfirmed, EnrolmentWaitlisted, EnrolmentCancelled,
    RequestRejected, ServantSubmitted, EnrolmentRequested, AttendanceRecorded, AttendanceCorrected,
    AssessmentGraded, SessionClosed, CertificateIssued, CertificateRevoked, CompetencyAttained,
    AgencyRequestDecided, TransferOpened, TransferDropped, TransferRequested, TransferAccepted, TransferDeclined,
    TrainingPlanDeclared, ServantLeft, TrainingRequirementDeclared, ExemptionGranted, ExemptionWithdrawn,
    DepartureReported, MessageQueued,
    ReportPublished,
)

EVENTS_BY_TYPE: dict[str, type[Event]] = {cls.type: cls for cls in ALL_EVENTS}

__all__ = [cls.__name__ for cls in ALL_EVENTS] + [
    "ALL_EVENTS", "EVENTS_BY_TYPE", "GovernmentLevel", "Modality", "Sex", "AttendanceStatus",
    "AttendanceSource", "UUID", "datetime",
    "MAX_PLAN_TARGETS", "PlanTarget", "DueRule", "DueRuleKind", "RequirementScope", "RevocationApplies",
]

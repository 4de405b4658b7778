"""The facts reporting keeps: one small pseudonymous row per event, stamped with when it became known."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from operator import attrgetter
from typing import Any

from contracts import compliance as rule
from contracts.attribution import Stamp
from contracts.base import Event
from contracts.envelope import Envelope
from contracts.events import (
    AssessmentGraded, AttendanceCorrected, AttendanceRecorded, CertificateIssued, CertificateRevoked,
    CompetencyAttained, CoursePublished, EnrolmentCancelled, EnrolmentConfirmed, ExemptionGranted, ExemptionWithdrawn,
    InstitutionRegistered, ServantLeft, ServantRegistered, ServantTransferred, ServantUpdated, SessionCancelled,
    SessionRescheduled, SessionScheduled, TrainingPlanDeclared, TrainingRequirementDeclared,
)

UNKNOWN = "unknown"
DIMENSIONS = ("month", "institution", "government_level", "topic", "modality", "sex")
PRESENT = frozenset({"present", "late"})
MEASURES = ("sessions_delivered", "courses_delivered", "servants_trained", "participations", "training_hours",
            "certificates_issued", "certificates_revoked")

# Event type -> the fact kind reporting keeps. Everything else (waitlists, requests, closings,
# transfers still waiting for an answer) is ignored: no figure depends on it. Requirements,
# exemptions, leavings and competencies feed the compliance projection (services/reporting/compliance.py).
KINDS: dict[str, str] = {
    InstitutionRegistered.type: "institution",
    CoursePublished.type: "course",
    SessionScheduled.type: "session_scheduled",
    SessionRescheduled.type: "session_rescheduled",
    SessionCancelled.type: "session_cancelled",
    ServantRegistered.type: "servant",
    ServantUpdated.type: "servant",
    ServantTransferred.type: "servant_transferred",
    EnrolmentConfirmed.type: "enrolment_confirmed",
    EnrolmentCancelled.type: "enrolment_cancelled",
    AttendanceRecorded.type: "attendance",
    AttendanceCorrected.type: "attendance",
    AssessmentGraded.type: "assessment",
    CertificateIssued.type: "certificate_issued",
    CertificateRevoked.type: "certificate_revoked",
    TrainingPlanDeclared.type: "plan",
    TrainingRequirementDeclared.type: "requirement",
    ExemptionGranted.type: "exemption_granted",
    ExemptionWithdrawn.type: "exemption_withdrawn",
    ServantLeft.type: "departure",
    CompetencyAttained.type: "competency",
}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FOREVER = 2**62


def micros(moment: datetime) -> int:
    """Exact, sortable and storable the same way on every database."""
    delta = moment.astimezone(UTC) - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


@dataclass(frozen=True, slots=True)
class Fact:
    event_id: str
    kind: str
    known_at: int  # envelope time, µs since the epoch (UTC)
    subject: str
    session_id: str | None = None
    servant_id: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


# Kind -> (field holding the session id, field holding the servant id, attributes kept). The one
# description of what a fact holds: ``fact_from`` reads it from a validated event, and the rebuild's
# fast path (services/reporting/rebuild/rows.py) from the record's JSON, so the two cannot drift apart.
FACT_FIELDS: dict[str, tuple[str | None, str | None, tuple[str, ...]]] = {
    "institution": (None, None, ("name", "government_level", "municipality", "headcount", "headcount_year")),
    "course": (None, None, ("code", "title", "topic", "hours")),
    "session_scheduled": ("session_id", None, ("course_id", "modality", "starts_at", "ends_at", "organising_unit")),
    "session_rescheduled": ("session_id", None, ("starts_at", "ends_at")),
    "session_cancelled": ("session_id", None, ()),
    "servant": (None, "servant_id", ("institution_id", "sex", "person_id", "joined_on", "position_level",
                                     "position_digest")),
    "servant_transferred": (None, "servant_id", ("from_institution_id", "to_institution_id", "sex", "effective_on",
                                                 "position_level")),
    "enrolment_confirmed": ("session_id", "servant_id", ()),
    "enrolment_cancelled": ("session_id", "servant_id", ()),
    "attendance": ("session_id", "servant_id", ("status", "share", "minutes_present")),
    "assessment": ("session_id", "servant_id", ("score",)),
    "certificate_issued": ("session_id", "servant_id", ("course_id", "hours", "issued_on", "valid_until")),
    "certificate_revoked": ("session_id", "servant_id", ("course_id", "applies", "effective_on")),
    "plan": (None, None, ("year", "version", "declared_at", "targets")),
    "requirement": (None, None, ("version", "effective_from", "title", "course_id", "competency", "scope", "due",
                                 "withdrawn")),
    "exemption_granted": (None, "servant_id", ("requirement_id", "effective_from", "until")),  # not the reason
    "exemption_withdrawn": (None, "servant_id", ("requirement_id", "withdrawn_on")),
    "departure": (None, "servant_id", ("institution_id", "left_on")),
    "competency": (None, "servant_id", ("competency", "attained_on", "certificate_ids")),
}


def _plain(value: object) -> object:
    """An attribute as the store keeps it: dates and times as ISO 8601 text, the rest as JSON has it."""
    if isinstance(value, list):  # a plan's targets
        return [v.model_dump(mode="json") if hasattr(v, "model_dump") else _plain(v) for v in value]
    if hasattr(value, "model_dump"):  # a requirement's scope and due rule (contract models)
        return value.model_dump(mode="json")
    return value.isoformat() if isinstance(value, (date, datetime)) else value


def fact_of(event: Event, stamp: Stamp) -> Fact | None:
    """The fact reporting keeps from an event stated at ``stamp`` (its moment and event id), or None when no
    figure depends on it."""
    kind = KINDS.get(event.type)
    if kind is None:
        return None
    session_field, servant_field, names = FACT_FIELDS[kind]
    return Fact(stamp.event_id, kind, micros(stamp.at), event.subject,
                getattr(event, session_field) if session_field else None,
                getattr(event, servant_field) if servant_field else None,
                {name: _plain(getattr(event, name)) for name in names})


def fact_from(envelope: Envelope) -> Fact | None:
    """``fact_of`` an envelope's event, stamped with the envelope's time and id (None for a type reporting
    does not keep, whose event it does not read)."""
    if envelope.type not in KINDS:
        return None
    return fact_of(envelope.event, envelope.stamp)


VERSION_ORDER = attrgetter("known_at", "event_id")  # which of two versions is the later one


def revoked_on(revocation: Fact) -> date:
    """The first day the certificate a ``certificate_revoked`` fact revokes no longer counts (valid time)."""
    a = revocation.attributes
    effective_on = a.get("effective_on")
    return rule.revoked_from(a.get("applies"), date.fromisoformat(effective_on) if effective_on else None)


def latest_version(facts: Sequence[Fact], cutoff: int) -> Fact | None:
    """The version known at ``cutoff`` that is last by (known_at, event_id); None if none is known yet."""
    if len(facts) == 1:  # by far the most common case: a key with a single fact
        only = facts[0]
        return only if only.known_at <= cutoff else None
    if cutoff == FOREVER:  # "now": every fact held is known, nothing to filter
        return max(facts, key=VERSION_ORDER, default=None)
    return max((f for f in facts if f.known_at <= cutoff), key=VERSION_ORDER, default=None)

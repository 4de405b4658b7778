"""xAPI 1.0.3 statements of the platform's learning facts, the pure rules: which facts make which statements,
their verbs, results and context, their ids, voiding, and what happens to a statement the LRS did not take.

* Statement ids are UUID v5 of the event id (``statement_id``): the first statement of an event is the event
  id's own, any other adds its role (``<event id>/<role>``). A redelivery, a replay or a backfill makes the
  same statement with the same id, and the LRS keeps one.
* The actor is the servant's pseudonymous id as an ``account`` under the platform's public base URL: never a
  name, an e-mail or a CURP (the events carry none, and nothing here adds one).
* Activities are the course and the session, with IRIs under ``<base>/xapi/activities/``; the session is the
  course's grouping, the course the session's parent. Context extensions carry the institution, its
  government level, the session's modality and platform.

Which verb for which fact (cmi5's verbs and result rules where they apply):

* EnrolmentConfirmed: *registered* for the session.
* AttendanceRecorded: *attended* the session, ``result.duration`` to the second.
* AttendanceCorrected: *voided* for the attended statement it replaces, and *attended* again.
* AssessmentGraded: *scored* the course (``result.score``); below the course's passing score also *failed*
  (certification decides a completion; a grade under the bar is the one fact that says the servant failed).
* CertificateIssued: *completed* and *passed* the course (cmi5: ``completion``/``success``, the moveOn
  category), and *earned* the certificate.
* CertificateRevoked: void from the start (``applies`` void, absent, or from_date without a day) - *voided*
  for the completed, passed and earned statements; from a date - *revoked*, the earlier ones standing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from contracts.base import Event
from contracts.events import (
    AssessmentGraded, AttendanceCorrected, AttendanceRecorded, CertificateIssued, CertificateRevoked,
    CoursePublished, EnrolmentConfirmed, InstitutionRegistered, ServantRegistered, ServantTransferred,
    ServantUpdated, SessionRescheduled, SessionScheduled,
)
from probidad.shared.retries import RetryPolicy

# Fixed for good: every id ever sent derives from it.
NAMESPACE = uuid.UUID("5b0c8a52-94a3-4f4e-9d55-3c1f2f7a0e61")
XAPI_VERSION = "1.0.3"

ADL = "http://adlnet.gov/expapi/verbs/"
VERBS: dict[str, str] = {
    "registered": ADL + "registered",
    "attended": ADL + "attended",
    "scored": ADL + "scored",
    "completed": ADL + "completed",
    "passed": ADL + "passed",
    "failed": ADL + "failed",
    "voided": ADL + "voided",
    "earned": "http://id.tincanapi.com/verb/earned",
}
MOVE_ON = "https://w3id.org/xapi/cmi5/context/categories/moveon"
COURSE_TYPE = "http://adlnet.gov/expapi/activities/course"
SESSION_TYPE = "http://adlnet.gov/expapi/activities/meeting"

LEARNING_EVENTS: tuple[type[Event], ...] = (EnrolmentConfirmed, AttendanceRecorded, AttendanceCorrected,
                                            AssessmentGraded, CertificateIssued, CertificateRevoked)
REFERENCE_EVENTS: tuple[type[Event], ...] = (CoursePublished, SessionScheduled, SessionRescheduled,
                                             ServantRegistered, ServantUpdated, ServantTransferred,
                                             InstitutionRegistered)


def statement_id(event_id: str, role: str | None = None) -> str:
    return str(uuid.uuid5(NAMESPACE, event_id if role is None else f"{event_id}/{role}"))


def verb_iri(base: str, role: str) -> str:
    return VERBS.get(role) or f"{base}/xapi/verbs/{role}"


# ------------------------------------------------------------------ what reporting knows of the facts' subjects


@dataclass(frozen=True)
class Reference:
    """One thing a statement names, as the latest fact about it said: ``kind`` course, session, servant or
    institution. ``merge``: the fact completes what is known (a reschedule) instead of replacing it."""

    kind: str
    ref_id: str
    attributes: dict[str, Any]
    merge: bool = False


def reference_of(event: Event) -> Reference | None:
    if isinstance(event, CoursePublished):
        return Reference("course", event.course_id, {"title": event.title, "code": event.code,
                                                     "passing_score": event.passing_score})
    if isinstance(event, SessionScheduled):
        return Reference("session", event.session_id, {
            "course_id": event.course_id, "modality": event.modality, "platform": event.platform,
            "starts_at": event.starts_at.isoformat(), "timezone": event.timezone})
    if isinstance(event, SessionRescheduled):
        return Reference("session", event.session_id, {"starts_at": event.starts_at.isoformat(),
                                                       "timezone": event.timezone}, merge=True)
    if isinstance(event, ServantRegistered | ServantUpdated):
        return Reference("servant", event.servant_id, {"institution_id": event.institution_id})
    if isinstance(event, ServantTransferred):
        return Reference("servant", event.servant_id, {"institution_id": event.to_institution_id})
    if isinstance(event, InstitutionRegistered):
        return Reference("institution", event.institution_id, {"government_level": event.government_level})
    return None


def key(kind: str, ref_id: str) -> str:
    return f"{kind}:{ref_id}"


@dataclass(frozen=True)
class Known:
    """What the store holds of a learning fact's session, course, servant and institution (None: not yet)."""

    session: Mapping[str, Any] | None = None
    course: Mapping[str, Any] | None = None
    institution_id: str | None = None
    institution: Mapping[str, Any] | None = None


def session_of(event: Event) -> str:
    return str(getattr(event, "session_id"))


def institution_named(event: Event) -> str | None:
    """The institution the fact itself names (an enrolment names the enrolling one); else the servant's."""
    return event.institution_id if isinstance(event, EnrolmentConfirmed) else None


def waiting_for(event: Event, known: Known) -> str | None:
    """The reference a fact's statements wait for, None when everything they name is known. A fact naming a
    session, course, servant or institution not heard of yet is held until it is (facts arrive in any order
    across topics), so no statement names an unknown."""
    if known.session is None:
        return key("session", session_of(event))
    if known.course is None:
        return key("course", str(getattr(event, "course_id", None) or known.session["course_id"]))
    if known.institution_id is None:
        return key("servant", str(getattr(event, "servant_id")))
    if known.institution is None:
        return key("institution", known.institution_id)
    return None


# ------------------------------------------------------------------ statements


@dataclass(frozen=True)
class Statement:
    """One statement to send, with what later facts look it up by."""

    statement_id: str
    role: str
    body: dict[str, Any]
    session_id: str | None = None
    servant_id: str | None = None
    certificate_id: str | None = None
    voids: str | None = None  # the statement a voiding statement voids


@dataclass(frozen=True)
class Earlier:
    """Statements already made that a fact refers to: the attended one a correction replaces, the completion
    statements of a certificate a revocation voids."""

    attended: str | None = None
    completion: tuple[str, ...] = ()


@dataclass(frozen=True)
class Platform:
    base: str  # the platform's public base URL, without a trailing slash
    language: str = "es"
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("America/Mexico_City"))

    @property
    def tag(self) -> str:
        return "es-MX" if self.language == "es" else "en-US"


def iso_duration(seconds: int) -> str:
    """ISO 8601 duration to the second: PT1H2M3S, PT0S."""
    hours, rest = divmod(max(seconds, 0), 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + (f"{secs}S" if secs else "")
    return "PT" + (text or "0S")


def timestamp(at: datetime) -> str:
    moment = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _actor(p: Platform, servant_id: str) -> dict[str, Any]:
    return {"objectType": "Agent", "account": {"homePage": p.base, "name": servant_id}}


def course_activity(p: Platform, course_id: str, course: Mapping[str, Any]) -> dict[str, Any]:
    return {"objectType": "Activity", "id": f"{p.base}/xapi/activities/course/{course_id}",
            "definition": {"type": COURSE_TYPE, "name": {p.tag: course["title"]}}}


def session_activity(p: Platform, session_id: str, session: Mapping[str, Any],
                     course: Mapping[str, Any]) -> dict[str, Any]:
    starts = datetime.fromisoformat(session["starts_at"]).astimezone(ZoneInfo(session.get("timezone") or "UTC"))
    return {"objectType": "Activity", "id": f"{p.base}/xapi/activities/session/{session_id}",
            "definition": {"type": SESSION_TYPE, "name": {p.tag: f"{course['title']} ({starts.date().isoformat()})"}}}


def certificate_activity(p: Platform, certificate_id: str) -> dict[str, Any]:
    return {"objectType": "Activity", "id": f"{p.base}/xapi/activities/certificate/{certificate_id}",
            "definition": {"type": f"{p.base}/xapi/activity-types/certificate",
                           "name": {p.tag: "Constancia"}}}


def extension(p: Platform, name: str) -> str:
    return f"{p.base}/xapi/extensions/{name}"


class _Builder:
    """The parts every statement of one fact shares."""

    def __init__(self, p: Platform, event: Event, event_id: str, at: datetime, known: Known) -> None:
        assert known.session is not None and known.course is not None and known.institution is not None
        self.p, self.event, self.event_id, self.at = p, event, event_id, at
        self.session_id = session_of(event)
        self.servant_id = str(getattr(event, "servant_id"))
        self.course_id = str(getattr(event, "course_id", None) or known.session["course_id"])
        self.course = course_activity(p, self.course_id, known.course)
        self.session = session_activity(p, self.session_id, known.session, known.course)
        self.extensions = {extension(p, "institution"): known.institution_id,
                           extension(p, "government-level"): known.institution["government_level"],
                           extension(p, "modality"): known.session["modality"]}
        if known.session.get("platform"):
            self.extensions[extension(p, "platform")] = known.session["platform"]
        self.made: list[Statement] = []

    def add(self, role: str, obj: dict[str, Any], *, result: dict[str, Any] | None = None,
            relation: str | None = None, category: bool = False, verb: str | None = None,
            certificate_id: str | None = None) -> None:
        context: dict[str, Any] = {"extensions": dict(self.extensions)}
        activities: dict[str, Any] = {}
        if relation == "parent":  # the session's statements: the course is their parent
            activities["parent"] = [self.course]
        elif relation == "grouping":  # the course's: the session groups them
            activities["grouping"] = [self.session]
        elif relation == "both":  # the certificate's: of the course, in the session
            activities["parent"] = [self.course]
            activities["grouping"] = [self.session]
        if category:
            activities["category"] = [{"objectType": "Activity", "id": MOVE_ON}]
        if activities:
            context["contextActivities"] = activities
        body: dict[str, Any] = {
            "id": statement_id(self.event_id, None if not self.made else role),
            "actor": _actor(self.p, self.servant_id),
            "verb": {"id": verb_iri(self.p.base, verb or role), "display": {"en-US": verb or role}},
            "object": obj, "context": context, "timestamp": timestamp(self.at)}
        if result:
            body["result"] = result
        self.made.append(Statement(body["id"], role, body, self.session_id, self.servant_id, certificate_id))

    def void(self, role: str, target: str) -> None:
        sid = statement_id(self.event_id, role)
        body = {"id": sid, "actor": _actor(self.p, self.servant_id),
                "verb": {"id": VERBS["voided"], "display": {"en-US": "voided"}},
                "object": {"objectType": "StatementRef", "id": target}, "timestamp": timestamp(self.at)}
        self.made.append(Statement(sid, "voided", body, self.session_id, self.servant_id, voids=target))


def _attended(b: _Builder, event: AttendanceRecorded | AttendanceCorrected) -> None:
    seconds = event.seconds_present if event.seconds_present is not None else event.minutes_present * 60
    b.add("attended", b.session, relation="parent", result={
        "duration": iso_duration(seconds), "completion": event.status in ("present", "late"),
        "extensions": {extension(b.p, "attended-share"): event.share, extension(b.p, "status"): event.status}})


def statements_of(p: Platform, event: Event, event_id: str, at: datetime, known: Known,
                  earlier: Earlier = Earlier()) -> list[Statement]:
    """The statements a learning fact makes, given what is known of what it names (``waiting_for`` is None)."""
    b = _Builder(p, event, event_id, at, known)
    if isinstance(event, EnrolmentConfirmed):
        b.add("registered", b.session, relation="parent")
    elif isinstance(event, AttendanceRecorded):
        _attended(b, event)
    elif isinstance(event, AttendanceCorrected):
        _attended(b, event)  # the replacement keeps the event's own id; the voiding takes a role
        if earlier.attended:
            b.void("voids-attended", earlier.attended)
    elif isinstance(event, AssessmentGraded):
        score = {"scaled": round(event.score / 100, 4), "raw": event.score, "min": 0, "max": 100}
        b.add("scored", b.course, relation="grouping", result={"score": score})
        passing = known.course.get("passing_score") if known.course else None
        if passing is not None and event.score < passing:
            b.add("failed", b.course, relation="grouping", category=True,
                  result={"score": score, "success": False, "completion": False})
    elif isinstance(event, CertificateIssued):
        b.add("completed", b.course, relation="grouping", category=True, certificate_id=event.certificate_id,
              result={"completion": True})
        passed: dict[str, Any] = {"success": True, "completion": True}
        if event.score is not None:
            passed["score"] = {"scaled": round(event.score / 100, 4), "raw": event.score, "min": 0, "max": 100}
        b.add("passed", b.course, relation="grouping", category=True, certificate_id=event.certificate_id,
              result=passed)
        earned: dict[str, Any] = {extension(p, "hours"): event.hours, extension(p, "issued-on"):
                                  event.issued_on.isoformat()}
        if event.valid_until is not None:
            earned[extension(p, "valid-until")] = event.valid_until.isoformat()
        b.add("earned", certificate_activity(p, event.certificate_id), relation="both",
              certificate_id=event.certificate_id, result={"extensions": earned})
    elif isinstance(event, CertificateRevoked):
        if revokes_from_start(event):
            for n, target in enumerate(earlier.completion):
                b.void(f"voids-{n}", target)
        else:
            assert event.effective_on is not None
            b.add("revoked", certificate_activity(p, event.certificate_id), relation="both",
                  certificate_id=event.certificate_id,
                  result={"extensions": {extension(p, "effective-on"): event.effective_on.isoformat()}})
    if b.made and b.made[0].role == "voided":
        # A revocation's first voiding statement takes the event id's own id, as every event's first does.
        first = b.made[0]
        own = statement_id(event_id)
        body = {**first.body, "id": own}
        b.made[0] = Statement(own, first.role, body, first.session_id, first.servant_id, voids=first.voids)
    return b.made


def revokes_from_start(event: CertificateRevoked) -> bool:
    """As ``contracts.compliance.revoked_from`` reads it: void, absent, or from_date without a day."""
    return event.applies != "from_date" or event.effective_on is None


# ------------------------------------------------------------------ sending


def next_attempt(policy: RetryPolicy, *, created_at: datetime, attempts: int, now: datetime,
                 spread: float = 0.0) -> datetime | None:
    """After the ``attempts``-th failed attempt: when to try again, or None to park the statement in the
    dead-letter list (the next try would come later than ``retry_for_s`` after it was queued)."""
    return policy.retry_at(created_at=created_at, attempts=attempts, now=now, spread=spread)


def answer_outcome(status_code: int | None) -> str:
    """What an LRS answer to a POST of statements means: ``sent`` (2xx); ``conflict`` (409: the LRS holds a
    different statement under one of the ids - as a batch nothing was stored, one by one that id is taken and
    sending again cannot change it); ``refused`` (another 4xx: the batch is sent one by one to find the
    statement at fault); ``failed`` (no answer, 5xx, 429: tried again later)."""
    if status_code is not None and 200 <= status_code < 300:
        return "sent"
    if status_code == 409:
        return "conflict"
    if status_code is not None and 400 <= status_code < 500 and status_code not in (408, 429):
        return "refused"
    return "failed"

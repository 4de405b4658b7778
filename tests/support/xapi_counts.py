"""What an LRS should hold for a programme's facts, counted straight from the facts (not through the mapping
code), and what it does hold, counted from the statements read back: per (verb, course, month), statements in
force only (a voided one does not count; the voiding statements are counted apart)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from contracts.envelope import Envelope
from contracts.events import (
    AssessmentGraded, AttendanceCorrected, AttendanceRecorded, CertificateIssued, CertificateRevoked,
    CoursePublished, EnrolmentConfirmed, SessionScheduled,
)

ADL = "http://adlnet.gov/expapi/verbs/"
VERBS = {ADL + v: v for v in ("registered", "attended", "scored", "failed", "completed", "passed", "voided")}
VERBS["http://id.tincanapi.com/verb/earned"] = "earned"


def verb(statement: dict[str, Any]) -> str:
    return VERBS.get(statement["verb"]["id"]) or statement["verb"]["id"].rsplit("/", 1)[-1]


def _month(envelope: Envelope) -> str:
    return envelope.time.strftime("%Y-%m")


def expected_counts(envelopes: list[Envelope]) -> Counter:
    """Statements in force per (verb, course, month): every enrolment registered; one attended per servant and
    session (the latest record or correction); every grade scored, and failed below the course's passing score;
    every certificate completed, passed and earned unless revoked as void; a revocation from a date revoked."""
    unique = list({e.id: e for e in envelopes}.values())  # a redelivered record is one fact
    events = [e.event for e in unique]
    course_of = {e.session_id: e.course_id for e in events if isinstance(e, SessionScheduled)}
    passing = {e.course_id: e.passing_score for e in events if isinstance(e, CoursePublished)}
    voided = {e.certificate_id for e in events if isinstance(e, CertificateRevoked)
              and (e.applies != "from_date" or e.effective_on is None)}
    attendance: dict[tuple[str, str], Envelope] = {}
    out: Counter = Counter()
    for envelope in unique:
        event = envelope.event
        course = course_of.get(getattr(event, "session_id", ""))
        if isinstance(event, EnrolmentConfirmed):
            out["registered", course, _month(envelope)] += 1
        elif isinstance(event, AttendanceRecorded | AttendanceCorrected):
            held = attendance.get((event.session_id, event.servant_id))
            if held is None or (envelope.time, isinstance(event, AttendanceCorrected), envelope.id) > (
                    held.time, isinstance(held.event, AttendanceCorrected), held.id):
                attendance[event.session_id, event.servant_id] = envelope
        elif isinstance(event, AssessmentGraded):
            out["scored", course, _month(envelope)] += 1
            if passing.get(course) is not None and event.score < passing[course]:
                out["failed", course, _month(envelope)] += 1
        elif isinstance(event, CertificateIssued) and event.certificate_id not in voided:
            for v in ("completed", "passed", "earned"):
                out[v, course, _month(envelope)] += 1
        elif isinstance(event, CertificateRevoked) and event.certificate_id not in voided:
            out["revoked", course, _month(envelope)] += 1
    for (session_id, _servant), envelope in attendance.items():
        out["attended", course_of.get(session_id), _month(envelope)] += 1
    return out


def counted(statements: list[dict[str, Any]], base: str) -> Counter:
    """The statements in force per (verb, course, month), as the LRS holds them."""
    voided = {s["object"]["id"] for s in statements if verb(s) == "voided"}
    out: Counter = Counter()
    for s in statements:
        if verb(s) == "voided" or s["id"] in voided:
            continue
        activities = [s["object"]["id"], *(a["id"] for group in s["context"]["contextActivities"].values()
                                           for a in group)]
        course = next(a.rsplit("/", 1)[1] for a in activities if a.startswith(f"{base}/xapi/activities/course/"))
        out[verb(s), course, s["timestamp"][:7]] += 1
    return out

"""Facts certification hears and the completion rule — pure logic, no I/O.

Certification hears facts from two topics in any order, sometimes twice. It keeps, per fact, only
the version that *supersedes* the others (``contracts.attribution``: the latest by CloudEvents time, ties
broken by kind and event id), so the state it ends in depends on the set of facts it has heard, never on
their order. ``judge`` says whether the facts kept about one (servant, session) make a completion.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import Enum
from zoneinfo import ZoneInfo

from contracts.attribution import Placement, Stamp, institution_at, supersedes
from contracts.base import Event
from contracts.compliance import add_months
from contracts.events import (
    AssessmentGraded,
    AttendanceCorrected,
    AttendanceRecorded,
    CoursePublished,
    EnrolmentCancelled,
    EnrolmentConfirmed,
    ServantRegistered,
    ServantTransferred,
    ServantUpdated,
    SessionCancelled,
    SessionRescheduled,
    SessionScheduled,
)


# Attendance shares are seconds / seconds (as the events carry them); don't let 0.7999999999 fail an 80 % rule.
SHARE_TOLERANCE = 1e-9


# ------------------------------------------------------------------ facts


@dataclass(frozen=True)
class CourseTerms:
    course_id: str
    code: str
    title: str
    topic: str
    hours: float
    minimum_attendance_share: float
    passing_score: float | None
    competency: str | None
    stamp: Stamp
    validity_months: int | None = None  # how long a completion holds; None: it never expires

    @property
    def has_evaluation(self) -> bool:
        return self.passing_score is not None

    def valid_until(self, issued_on: date) -> date | None:
        """The last day a certificate issued on ``issued_on`` for this course holds."""
        return None if self.validity_months is None else add_months(issued_on, self.validity_months)


def course_published(current: CourseTerms | None, event: CoursePublished, stamp: Stamp) -> CourseTerms:
    """A re-published course supersedes its earlier terms (only if it is the later statement)."""
    if current is not None and not supersedes(stamp, current.stamp):
        return current
    return CourseTerms(event.course_id, event.code, event.title, event.topic, event.hours,
                       event.minimum_attendance_share, event.passing_score, event.competency, stamp,
                       event.validity_months)


@dataclass(frozen=True)
class SessionPlan:
    session_id: str
    course_id: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    timezone: str | None = None
    planned: Stamp | None = None  # the schedule (or reschedule) the times come from
    cancelled: bool = False
    closed: bool = False

    @property
    def local_date(self) -> date | None:
        """The session's date where it takes place: the date a certificate carries."""
        if self.starts_at is None or self.timezone is None:
            return None
        return self.starts_at.astimezone(ZoneInfo(self.timezone)).date()


def session_scheduled(current: SessionPlan | None, event: SessionScheduled, stamp: Stamp) -> SessionPlan:
    plan = current or SessionPlan(event.session_id)
    # The course of a session is fixed when it is scheduled; the times yield to a later reschedule.
    plan = replace(plan, course_id=event.course_id)
    if supersedes(stamp, plan.planned):
        plan = replace(plan, starts_at=event.starts_at, ends_at=event.ends_at, timezone=event.timezone, planned=stamp)
    return plan


def session_rescheduled(current: SessionPlan | None, event: SessionRescheduled, stamp: Stamp) -> SessionPlan:
    plan = current or SessionPlan(event.session_id)
    if supersedes(stamp, plan.planned):
        plan = replace(plan, starts_at=event.starts_at, ends_at=event.ends_at, timezone=event.timezone, planned=stamp)
    return plan


def session_cancelled(current: SessionPlan | None, event: SessionCancelled) -> SessionPlan:
    # A cancellation is final: no later schedule revives a cancelled session.
    return replace(current or SessionPlan(event.session_id), cancelled=True)


def session_closed(current: SessionPlan | None, session_id: str) -> SessionPlan:
    return replace(current or SessionPlan(session_id), closed=True)


def may_change_decisions(before: SessionPlan | None, after: SessionPlan) -> bool:
    """Whether a change to a session's plan can change any decision about its servants.

    Closing a session cannot: a completion depends on the schedule, the course, the seat, the
    attendance and the grade (``judge``, ``certificate_terms``), never on the close. So a close
    alone re-judges nobody — it would re-judge every servant of the session to change nothing.
    """
    return before is None or replace(before, closed=after.closed) != after


class Standing(str, Enum):
    """A servant's seat in a session, from every enrolment heard for the pair."""

    unknown = "unknown"
    confirmed = "confirmed"
    cancelled = "cancelled"


@dataclass(frozen=True)
class Enrolment:
    enrolment_id: str
    session_id: str
    servant_id: str
    institution_id: str | None = None
    confirmed: bool = False
    cancelled: bool = False


def enrolment_confirmed(current: Enrolment | None, event: EnrolmentConfirmed) -> Enrolment:
    base = current or Enrolment(event.enrolment_id, event.session_id, event.servant_id)
    return replace(base, institution_id=event.institution_id, confirmed=True)


def enrolment_cancelled(current: Enrolment | None, event: EnrolmentCancelled) -> Enrolment:
    # Cancelling is final for that enrolment id, even if its confirmation is heard afterwards;
    # a servant who enrols again gets a new enrolment id.
    base = current or Enrolment(event.enrolment_id, event.session_id, event.servant_id)
    return replace(base, cancelled=True)


def standing(enrolments: list[Enrolment] | tuple[Enrolment, ...]) -> Standing:
    if any(e.confirmed and not e.cancelled for e in enrolments):
        return Standing.confirmed
    if any(e.cancelled for e in enrolments):
        return Standing.cancelled
    return Standing.unknown


@dataclass(frozen=True)
class Transfer:
    """A servant's move from ``origin`` to ``to_institution_id`` from ``effective_on`` (a local day in the
    programme's zone). ``origin`` is None for transfers kept before it was."""

    transfer_id: str
    to_institution_id: str
    effective_on: date
    stamp: Stamp
    origin: str | None = None

    @property
    def placement(self) -> Placement:
        """The transfer as the attribution rule reads it."""
        return Placement(self.to_institution_id, self.stamp, self.effective_on, self.origin)


def servant_transferred(current: Transfer | None, event: ServantTransferred, stamp: Stamp) -> Transfer:
    if current is not None and not supersedes(stamp, current.stamp):
        return current
    return Transfer(event.transfer_id, event.to_institution_id, event.effective_on, stamp, event.from_institution_id)


def institution_at_start(session: SessionPlan | None, enrolments: tuple[Enrolment, ...] | list[Enrolment],
                         transfers: tuple[Transfer, ...] | list[Transfer], zone: ZoneInfo) -> str | None:
    """The institution a certificate is stamped with: the servant's when the session started.

    The attribution rule (``contracts.attribution.institution_at``) over what certification keeps of where
    the servant served: their transfers (each in force from local midnight of its ``effective_on`` in the
    programme's ``zone``, or from when it was stated if that was earlier; of those in force when the session
    started, the one stated last holds; with none in force, the earliest transfer's origin). Certification
    keeps no registrations' institutions, so when the rule knows nothing (no transfer, or a session not yet
    scheduled) the institution that enrolled the servant stands in.
    """
    if session is not None and session.starts_at is not None and transfers:
        placed = institution_at([t.placement for t in transfers], session.starts_at, zone)
        if placed is not None:
            return placed
    return next((e.institution_id for e in enrolments if e.confirmed and not e.cancelled), None)


@dataclass(frozen=True)
class Holder:
    """The holder a servant's certificates bind: the latest ``holder_digest`` enrollment stated
    (ServantRegistered, ServantUpdated); None when it knows no CURP or erased the servant's data."""

    digest: str | None
    stamp: Stamp


def holder_stated(current: Holder | None, event: ServantRegistered | ServantUpdated, stamp: Stamp) -> Holder:
    if current is not None and not supersedes(stamp, current.stamp):
        return current
    return Holder(event.holder_digest, stamp)


def rebinds(before: Holder | None, after: Holder | None) -> bool:
    """Whether the servant's certificates must bind another holder (or none): only then are they re-judged."""
    return (before.digest if before else None) != (after.digest if after else None)


@dataclass(frozen=True)
class Attendance:
    share: float
    minutes_present: int
    session_minutes: int
    status: str
    stamp: Stamp


RECORD_RANK, CORRECTION_RANK = 0, 1


def attendance_stated(current: Attendance | None, event: AttendanceRecorded | AttendanceCorrected,
                      stamp: Stamp) -> Attendance:
    """Records are append-only: the latest statement (a correction outranking a record) holds."""
    if current is not None and not supersedes(stamp, current.stamp):
        return current
    return Attendance(event.share, event.minutes_present, event.session_minutes, event.status, stamp)


@dataclass(frozen=True)
class Grade:
    score: float
    stamp: Stamp


def assessment_graded(current: Grade | None, event: AssessmentGraded, stamp: Stamp) -> Grade:
    if current is not None and not supersedes(stamp, current.stamp):
        return current
    return Grade(event.score, stamp)


# ------------------------------------------------------------------ the completion rule


@dataclass(frozen=True)
class CompletionFacts:
    """Everything certification knows about one servant in one session."""

    servant_id: str
    session_id: str
    course: CourseTerms | None = None
    session: SessionPlan | None = None
    enrolments: tuple[Enrolment, ...] = ()
    attendance: Attendance | None = None
    grade: Grade | None = None

    @property
    def course_of_session(self) -> CourseTerms | None:
        if self.course is None or self.session is None or self.session.course_id != self.course.course_id:
            return None
        return self.course


class Outcome(str, Enum):
    pending = "pending"            # not enough is known yet
    completed = "completed"
    not_completed = "not_completed"


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reason: str = ""


def judge(facts: CompletionFacts) -> Verdict:
    """Completion: present at least the course's minimum share and, with an evaluation, passing it."""
    session, course = facts.session, facts.course_of_session
    if session is not None and session.cancelled:
        return Verdict(Outcome.not_completed, "the session was cancelled")
    seat = standing(facts.enrolments)
    if seat is Standing.cancelled:
        return Verdict(Outcome.not_completed, "the enrolment was cancelled")
    if course is not None and facts.attendance is not None:
        share, required = facts.attendance.share, course.minimum_attendance_share
        if share + SHARE_TOLERANCE < required:
            return Verdict(Outcome.not_completed,
                           f"attended {share:.0%} of the session; the course requires {required:.0%}")
    if course is not None and course.passing_score is not None and facts.grade is not None:
        if facts.grade.score < course.passing_score:
            return Verdict(Outcome.not_completed,
                           f"scored {facts.grade.score:g}; the course requires {course.passing_score:g}")
    missing = []
    if session is None or session.course_id is None or session.local_date is None:
        missing.append("session schedule")
    if course is None:
        missing.append("course terms")
    if seat is Standing.unknown:
        missing.append("confirmed enrolment")
    if facts.attendance is None:
        missing.append("attendance")
    if course is not None and course.has_evaluation and facts.grade is None:
        missing.append("evaluation grade")
    if missing:
        return Verdict(Outcome.pending, "waiting for " + ", ".join(missing))
    return Verdict(Outcome.completed)


# ------------------------------------------------------------------ one pair's facts, folded


def absorb(facts: CompletionFacts, event: Event, stamp: Stamp) -> CompletionFacts:
    """Fold one fact into what is known about one (servant, session).

    The service keeps the same facts in tables, one row per entity, merged with the functions above;
    this fold is the same rule in memory (for reasoning about order independence).
    """
    match event:
        case CoursePublished():
            if facts.course is not None and facts.course.course_id != event.course_id:
                return facts
            return replace(facts, course=course_published(facts.course, event, stamp))
        case SessionScheduled():
            return replace(facts, session=session_scheduled(facts.session, event, stamp))
        case SessionRescheduled():
            return replace(facts, session=session_rescheduled(facts.session, event, stamp))
        case SessionCancelled():
            return replace(facts, session=session_cancelled(facts.session, event))
        case EnrolmentConfirmed() | EnrolmentCancelled():
            current = next((e for e in facts.enrolments if e.enrolment_id == event.enrolment_id), None)
            updated = (enrolment_confirmed(current, event) if isinstance(event, EnrolmentConfirmed)
                       else enrolment_cancelled(current, event))
            others = tuple(e for e in facts.enrolments if e.enrolment_id != event.enrolment_id)
            return replace(facts, enrolments=tuple(sorted((*others, updated), key=lambda e: e.enrolment_id)))
        case AttendanceRecorded():
            return replace(facts, attendance=attendance_stated(facts.attendance, event,
                                                               replace(stamp, rank=RECORD_RANK)))
        case AttendanceCorrected():
            return replace(facts, attendance=attendance_stated(facts.attendance, event,
                                                               replace(stamp, rank=CORRECTION_RANK)))
        case AssessmentGraded():
            return replace(facts, grade=assessment_graded(facts.grade, event, stamp))
    return facts

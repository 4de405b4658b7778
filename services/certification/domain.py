"""Completion rules, certificate decisions and competency attainment — pure logic, no I/O.

Certification hears facts from two topics in any order, sometimes twice. It keeps, per fact, only
the version that *supersedes* the others (the latest by CloudEvents time, ties broken by kind and
event id), so the state it ends in depends on the set of facts it has heard, never on their order.
After every fact it re-judges the servant's completion of the session and compares the verdict
with the certificate it holds:

* completed, no certificate                     -> CertificateIssued;
* completed, certificate says something else    -> CertificateIssued again, same id (amended terms);
* completed, latest certificate revoked         -> CertificateIssued for a new certificate;
* not completed, valid certificate              -> CertificateRevoked with the reason, void (the facts say
                                                   the completion never held, so it never counted);
* the comptroller's ruling (``decide_ruling``)  -> CertificateRevoked with the reason, void or from a date;
                                                   final for the completion: no later fact re-issues it.

The certificate id and verification code are derived from (servant, session, issue number), so
every path to the same completion names the same certificate. A revocation is final for that
certificate: if a later correction makes the completion hold again, a *new* certificate is issued
(issue number + 1: new id, new code) and the revoked one stays revoked. Verifiers never see a
revoked code turn valid again, and every consumer can treat CertificateRevoked as the end of a
certificate id. The price: after a revoke/re-issue cycle, which id the standing certificate has
depends on whether certification ever saw the completion fail, not only on the final facts.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from enum import Enum
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo

from contracts.attribution import Placement, Stamp, institution_at, supersedes
from contracts.base import Event
from contracts.compliance import NEVER_COUNTED, add_months, revoked_from
from contracts.holder import holder_matches
from contracts.events import (
    AssessmentGraded,
    AttendanceCorrected,
    AttendanceRecorded,
    CertificateIssued,
    CertificateRevoked,
    CompetencyAttained,
    CoursePublished,
    RevocationApplies,
    EnrolmentCancelled,
    EnrolmentConfirmed,
    ServantRegistered,
    ServantTransferred,
    ServantUpdated,
    SessionCancelled,
    SessionClosed,
    SessionRescheduled,
    SessionScheduled,
)
from probidad.shared.errors import RuleViolation

# Attendance shares are seconds / seconds (as the events carry them); don't let 0.7999999999 fail an 80 % rule.
SHARE_TOLERANCE = 1e-9
CERTIFICATE_NAMESPACE = uuid.UUID("6f1c2d9e-4b7a-5c3e-9a81-0d2f6b3e7c45")
CODE_PREFIX = "PRB"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CODE_GROUPS = 3
_CODE_GROUP_LENGTH = 4


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
    if course is not None and course.has_evaluation and facts.grade is not None:
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


# ------------------------------------------------------------------ certificates


@dataclass(frozen=True)
class CertificateIdentity:
    certificate_id: str
    verification_code: str


@functools.lru_cache(maxsize=65_536)  # a pure function, asked again for every re-judgement of a completion
def certificate_identity(servant_id: str, session_id: str, code_key: bytes, issue: int = 0) -> CertificateIdentity:
    """The certificate a servant earns in a session (its ``issue``-th, after revocations): same inputs, same id and code.

    The code is an HMAC, not a plain hash, so nobody can compute a servant's code from the
    (pseudonymous) ids; 60 bits keep collisions out of reach for any realistic programme.
    """
    pair = f"{servant_id}\x1f{session_id}" + (f"\x1f{issue}" if issue else "")
    certificate_id = str(uuid.uuid5(CERTIFICATE_NAMESPACE, pair))
    digest = hmac.new(code_key, pair.encode(), hashlib.sha256).digest()
    number = int.from_bytes(digest[:8], "big") >> (64 - 5 * _CODE_GROUPS * _CODE_GROUP_LENGTH)
    symbols = "".join(_CROCKFORD[(number >> (5 * i)) & 31] for i in reversed(range(_CODE_GROUPS * _CODE_GROUP_LENGTH)))
    groups = [symbols[i:i + _CODE_GROUP_LENGTH] for i in range(0, len(symbols), _CODE_GROUP_LENGTH)]
    return CertificateIdentity(certificate_id, "-".join([CODE_PREFIX, *groups]))


# How a folio is printed, for the people told theirs cannot be one.
CODE_SHAPE = "-".join([CODE_PREFIX, *["X" * _CODE_GROUP_LENGTH] * _CODE_GROUPS])


def normalise_code(text: str) -> str | None:
    """Read a code as a person types it (any case, spaces, O for 0, I/L for 1); None if it cannot be one."""
    cleaned = "".join(ch for ch in text.upper() if ch.isalnum())
    if cleaned.startswith(CODE_PREFIX):
        cleaned = cleaned[len(CODE_PREFIX):]
    cleaned = cleaned.translate(str.maketrans({"O": "0", "I": "1", "L": "1"}))
    length = _CODE_GROUPS * _CODE_GROUP_LENGTH
    if len(cleaned) != length or any(ch not in _CROCKFORD for ch in cleaned):
        return None
    return "-".join([CODE_PREFIX, *(cleaned[i:i + _CODE_GROUP_LENGTH] for i in range(0, length, _CODE_GROUP_LENGTH))])


@dataclass(frozen=True)
class CertificateTerms:
    """What a certificate states; the signature covers exactly ``claims()``."""

    certificate_id: str
    verification_code: str
    servant_id: str
    session_id: str
    course_id: str
    course_code: str
    course_title: str
    course_topic: str
    hours: float
    score: float | None
    issued_on: date
    issuing_authority: str
    valid_until: date | None = None  # the course's vigencia after issued_on; None: it never expires
    holder_digest: str | None = None  # the servant's holder digest (contracts.holder); None: not bound

    def claims(self) -> dict:
        """What is signed. ``valid_until`` and ``holder_digest`` are claimed only when the certificate has
        them, so a certificate signed before they existed still verifies."""
        claims = {
            "certificate_id": self.certificate_id,
            "verification_code": self.verification_code,
            "servant_id": self.servant_id,
            "session_id": self.session_id,
            "course_id": self.course_id,
            "course_code": self.course_code,
            "course_title": self.course_title,
            "hours": self.hours,
            "score": self.score,
            "issued_on": self.issued_on.isoformat(),
            "issuing_authority": self.issuing_authority,
        }
        if self.valid_until is not None:
            claims["valid_until"] = self.valid_until.isoformat()
        if self.holder_digest is not None:
            claims["holder_digest"] = self.holder_digest
        return claims

    def issued(self) -> CertificateIssued:
        # The optional fields only when known: a certificate without them is announced as before.
        optional = {name: value for name, value in (("valid_until", self.valid_until),
                                                    ("holder_digest", self.holder_digest)) if value is not None}
        return CertificateIssued(
            certificate_id=self.certificate_id, verification_code=self.verification_code,
            servant_id=self.servant_id, course_id=self.course_id, session_id=self.session_id,
            hours=self.hours, score=self.score, issued_on=self.issued_on, issuing_authority=self.issuing_authority,
            **optional,
        )

    def revoked(self, reason: str, revocation: Revocation) -> CertificateRevoked:
        return CertificateRevoked(
            certificate_id=self.certificate_id, verification_code=self.verification_code,
            servant_id=self.servant_id, course_id=self.course_id, session_id=self.session_id, reason=reason[:1000],
            applies=revocation.applies, effective_on=revocation.effective_on,
        )


def certificate_terms(facts: CompletionFacts, identity: CertificateIdentity, issuing_authority: str,
                      holder_digest: str | None = None) -> CertificateTerms:
    course, session = facts.course_of_session, facts.session
    assert course is not None and session is not None and session.local_date is not None
    # Only a graded course's certificate carries a score: otherwise a late grade would rewrite it.
    score = facts.grade.score if course.has_evaluation and facts.grade is not None else None
    return CertificateTerms(
        certificate_id=identity.certificate_id, verification_code=identity.verification_code,
        servant_id=facts.servant_id, session_id=facts.session_id, course_id=course.course_id,
        course_code=course.code, course_title=course.title, course_topic=course.topic, hours=course.hours,
        score=score, issued_on=session.local_date, issuing_authority=issuing_authority,
        valid_until=course.valid_until(session.local_date), holder_digest=holder_digest,
    )


class Status(str, Enum):
    valid = "valid"
    revoked = "revoked"


EXPIRED = "expired"
INVALID = "invalid"
MATCH, MISMATCH = "match", "mismatch"


def holder_check(digest: str | None, salt: str | None, curp: str | None) -> str | None:
    """Whether the CURP printed on a named constancia is the holder its certificate binds, given the salt
    its QR code carries: "match" or "mismatch"; None when the salt or the CURP is missing or the
    certificate binds no holder (nothing to compare with)."""
    if not salt or not curp or digest is None:
        return None
    return MATCH if holder_matches(salt, curp, digest) else MISMATCH


def verified_status(status: str, signature_holds: bool, valid_until: date | None, today: date) -> str:
    """What a verifier is told about a stored certificate on ``today`` (the programme's date):

    * invalid — the stored record no longer matches its signature (nothing it says can be trusted);
    * revoked — final, whatever its vigencia;
    * expired — its vigencia ended (``valid_until`` is the last day it holds);
    * valid.
    """
    if not signature_holds:
        return INVALID
    if status == Status.revoked.value:
        return status
    if valid_until is not None and today > valid_until:
        return EXPIRED
    return status


@dataclass(frozen=True)
class Revocation:
    """How a revocation applies in valid time (``CertificateRevoked.applies``) and who ruled it.

    ``void``: the completion never counted (every revocation after a correction: the training did not
    happen as certified); ``from_date``: it counted until the day before ``effective_on``. ``ruled_by``:
    the comptroller who revoked it by the revocation route (None: certification, after a correction).
    A ruled revocation is final for the completion: no later fact re-issues it.
    """

    applies: RevocationApplies = RevocationApplies.void
    effective_on: date | None = None
    ruled_by: str | None = None

    @property
    def void(self) -> bool:
        """Void as the compliance rule reads it (``contracts.compliance.revoked_from``): counted on no day."""
        return revoked_from(self.applies, self.effective_on) == NEVER_COUNTED

    def applies_from(self, issued_on: date) -> date:
        """The first day the certificate no longer holds: its own date when void (it never held)."""
        return issued_on if self.void else self.effective_on


AFTER_CORRECTION = Revocation()  # certification's own revocations: void


@dataclass(frozen=True)
class HeldCertificate:
    """The latest certificate of a (servant, session); ``issue`` counts the ones revoked before it."""

    terms: CertificateTerms
    status: Status
    issue: int = 0
    revocation_reason: str | None = None
    revocation: Revocation | None = None  # with status revoked (None in rows kept before it was: void)

    @property
    def ruled(self) -> bool:
        return self.status is Status.revoked and self.revocation is not None and self.revocation.ruled_by is not None


@dataclass(frozen=True)
class Decision:
    """What to keep and what to tell the world after re-judging one completion."""

    certificate: HeldCertificate | None
    events: list[Event] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.events)


def decide(facts: CompletionFacts, held: HeldCertificate | None, code_key: bytes, issuing_authority: str,
           holder_digest: str | None = None) -> Decision:
    """``holder_digest``: the servant's latest (None: unknown or erased), which the certificate binds."""
    if held is not None and held.ruled:
        return Decision(held)  # the comptroller's revocation stands whatever the facts say later
    verdict = judge(facts)
    if verdict.outcome is Outcome.completed:
        if held is None:
            issue = 0
        elif held.status is Status.revoked:
            issue = held.issue + 1
        else:
            issue = held.issue
        identity = certificate_identity(facts.servant_id, facts.session_id, code_key, issue)
        terms = certificate_terms(facts, identity, issuing_authority, holder_digest)
        if held is not None and held.status is Status.valid and held.terms == terms:
            return Decision(held)
        # A valid certificate whose terms changed (a regrade, a reschedule) is amended under its id.
        return Decision(HeldCertificate(terms, Status.valid, issue), [terms.issued()])
    if held is None or held.status is Status.revoked:
        return Decision(held)
    reason = verdict.reason if verdict.outcome is Outcome.not_completed else f"no longer complete: {verdict.reason}"
    # The facts now say the completion never held: the revocation is void, on every date.
    return Decision(HeldCertificate(held.terms, Status.revoked, held.issue, reason, AFTER_CORRECTION),
                    [held.terms.revoked(reason, AFTER_CORRECTION)])


class RevocationRefused(RuleViolation):
    """The comptroller's revocation cannot be done: ``field`` is the input at fault, ``kind`` how to answer
    (invalid 422, not_found 404, conflict 409)."""


@dataclass(frozen=True)
class Ruling:
    """A comptroller's revocation of one certificate: why, and how it applies in valid time."""

    reason: str
    revocation: Revocation


def ruling(*, reason: str, applies: RevocationApplies | str, effective_on: date | None, ruled_by: str,
           issued_on: date, today: date) -> Ruling:
    """A revocation as the comptroller asks for it, checked against the certificate's date and today.

    Void takes no date (it applies from the start). From a date needs one after the certificate's own date
    (on or before it, nothing ever counted: that is void) and not after today (a verifier is told
    REVOCADA at once, so the day it applies from cannot be still to come)."""
    reason = " ".join(reason.split())
    if not reason:
        raise RevocationRefused("reason", "say why the certificate is revoked")
    if len(reason) > 1000:
        raise RevocationRefused("reason", "at most 1000 characters")
    applies = RevocationApplies(applies)
    if applies is RevocationApplies.void:
        if effective_on is not None:
            raise RevocationRefused("effective_on", "a void revocation applies from the start: give no date")
        return Ruling(reason, Revocation(applies, None, ruled_by))
    if effective_on is None:
        raise RevocationRefused("effective_on", "a revocation from a date needs the date it applies from")
    if effective_on <= issued_on:
        raise RevocationRefused("effective_on", f"on or before the certificate's date ({issued_on.isoformat()}) "
                                "it never counted: revoke it as void")
    if effective_on > today:
        raise RevocationRefused("effective_on", f"after today ({today.isoformat()}): a revocation applies from a "
                                "day already begun")
    return Ruling(reason, Revocation(applies, effective_on, ruled_by))


def decide_ruling(standing: StandingCertificate | None, certificate_id: str, ruling: Ruling) -> Decision:
    """Revoke the certificate ``certificate_id`` by the comptroller's ruling: it must be the latest of its
    (servant, session) and still valid."""
    held = standing.held if standing is not None else None
    if held is None:
        raise RevocationRefused("certificate", f"no certificate {certificate_id}", "not_found")
    if held.terms.certificate_id != certificate_id:  # an earlier one: a new one is issued only after a revocation
        raise RevocationRefused("certificate", f"certificate {certificate_id} is already revoked", "conflict")
    if held.status is Status.revoked:
        raise RevocationRefused("certificate", f"certificate {held.terms.verification_code} is already revoked",
                                "conflict")
    revoked = HeldCertificate(held.terms, Status.revoked, held.issue, ruling.reason, ruling.revocation)
    return Decision(revoked, [held.terms.revoked(ruling.reason, ruling.revocation)])


# ------------------------------------------------------------------ competencies


@dataclass(frozen=True)
class CertificateHolding:
    """A valid certificate, as the competency model sees it."""

    certificate_id: str
    course_id: str
    course_code: str
    course_topic: str
    issued_on: date


def _satisfies(requirement: str, holding: CertificateHolding) -> bool:
    wanted = requirement.casefold()
    return wanted in (holding.course_code.casefold(), holding.course_topic.casefold())


def still_attained(already_attained: Mapping[str, Collection[str]],
                   holdings: list[CertificateHolding]) -> set[str]:
    """The competencies whose kept attainment still counts: every certificate it lists is still valid.

    ``already_attained``: each competency attained, with the certificate ids its attainment lists. One
    resting on a certificate since revoked (as void or from a date) counts no longer, so a servant who
    retrains attains it again."""
    valid = {h.certificate_id for h in holdings}
    return {competency for competency, certificate_ids in already_attained.items()
            if all(certificate_id in valid for certificate_id in certificate_ids)}


def competencies_attained(servant_id: str, model: dict[str, list[str]], holdings: list[CertificateHolding],
                          already_attained: Mapping[str, Collection[str]]) -> list[CompetencyAttained]:
    """Competencies newly attained: every requirement met by a valid certificate. Announced once while
    the certificates it lists stay valid (``still_attained``); again, with new ones, after a revocation."""
    attained = []
    counting = still_attained(already_attained, holdings)
    for competency in sorted(model):
        if competency in counting:
            continue
        chosen: list[CertificateHolding] = []
        for requirement in model[competency]:
            # With several certificates for a requirement, the earliest counts (stable across replays).
            candidates = sorted((h for h in holdings if _satisfies(requirement, h)),
                                key=lambda h: (h.issued_on, h.certificate_id))
            if not candidates:
                break
            chosen.append(candidates[0])
        else:
            unique = {h.certificate_id: h for h in chosen}.values()
            attained.append(CompetencyAttained(
                servant_id=servant_id, competency=competency,
                course_ids=sorted({h.course_id for h in unique}),
                certificate_ids=sorted(h.certificate_id for h in unique),
                attained_on=max(h.issued_on for h in unique),
            ))
    return attained


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
            updated = (enrolment_confirmed if isinstance(event, EnrolmentConfirmed) else enrolment_cancelled)(current, event)
            others = tuple(e for e in facts.enrolments if e.enrolment_id != event.enrolment_id)
            return replace(facts, enrolments=tuple(sorted((*others, updated), key=lambda e: e.enrolment_id)))
        case AttendanceRecorded():
            return replace(facts, attendance=attendance_stated(facts.attendance, event, replace(stamp, rank=RECORD_RANK)))
        case AttendanceCorrected():
            return replace(facts, attendance=attendance_stated(facts.attendance, event,
                                                               replace(stamp, rank=CORRECTION_RANK)))
        case AssessmentGraded():
            return replace(facts, grade=assessment_graded(facts.grade, event, stamp))
    return facts


# ------------------------------------------------------------------ decisions a handler asks for
#
# Each ``decide_*`` takes what is kept (the completion, session or servant the fact is about), merges the
# fact with the supersede rules above and, if that changed anything, re-judges every completion it can
# affect: the certificates to keep, the competencies attained and the events to publish.


@dataclass(frozen=True)
class Rules:
    """What every decision applies besides the facts."""

    code_key: bytes
    issuing_authority: str
    competency_model: dict[str, list[str]] = field(default_factory=dict)
    # The programme's zone (``settings.programme_timezone``): a transfer is in force from its local midnight.
    programme_timezone: str = "America/Mexico_City"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.programme_timezone)


@dataclass(frozen=True)
class StandingCertificate:
    """The latest certificate of a (servant, session), with the institution it is stamped with (the
    stamp is neither signed nor published: it says which liaison may list the certificate)."""

    held: HeldCertificate
    institution_id: str | None = None


@dataclass(frozen=True)
class Completion:
    """One (servant, session) as kept: its facts and its latest certificate."""

    facts: CompletionFacts
    certificate: StandingCertificate | None = None


@dataclass(frozen=True)
class SessionState:
    """A session as kept: its plan, its course's terms and every servant's completion in it (by servant id)."""

    session_id: str
    plan: SessionPlan | None
    course: CourseTerms | None
    completions: tuple[Completion, ...] = ()

    @property
    def servant_ids(self) -> list[str]:
        return [c.facts.servant_id for c in self.completions]


@dataclass(frozen=True)
class ServantState:
    """What a decision about a servant reads beyond one session."""

    servant_id: str
    transfers: tuple[Transfer, ...] = ()
    valid: tuple[CertificateHolding, ...] = ()  # valid certificates, every session
    # competency -> the certificate ids its kept attainment lists
    attained: Mapping[str, frozenset[str]] = field(default_factory=dict)
    holder: Holder | None = None

    @property
    def holder_digest(self) -> str | None:
        return self.holder.digest if self.holder is not None else None


@dataclass(frozen=True)
class CertificateChange:
    """A certificate to keep (issued, amended or revoked), stamped with ``institution_id``."""

    session_id: str
    servant_id: str
    certificate: HeldCertificate
    institution_id: str | None
    events: tuple[Event, ...]


@dataclass(frozen=True)
class Restamp:
    """A certificate whose only change is its servant's institution at the session's start (a transfer)."""

    session_id: str
    servant_id: str
    certificate_id: str
    institution_id: str


F = TypeVar("F")


@dataclass
class Consequences:
    certificates: list[CertificateChange] = field(default_factory=list)
    restamps: list[Restamp] = field(default_factory=list)
    attainments: list[CompetencyAttained] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


@dataclass(frozen=True)
class FactDecision(Generic[F]):
    """The fact to keep (None: it changes nothing, an older or repeated statement) and its consequences."""

    fact: F | None
    consequences: Consequences = field(default_factory=Consequences)

    @property
    def events(self) -> list[Event]:
        return self.consequences.events


def _reconsider(facts: CompletionFacts, standing: StandingCertificate | None, servant: ServantState, rules: Rules,
                out: Consequences, *, restamp: bool = False) -> ServantState:
    """Re-judge one completion and collect any change to its certificate (and, when it becomes valid, the
    competencies it completes); ``restamp``: the servant's institution at the session's start may have
    changed (a transfer) even if nothing else did. Returns the servant as the change leaves them."""
    held = standing.held if standing is not None else None
    decision = decide(facts, held, rules.code_key, rules.issuing_authority, servant.holder_digest)
    if not decision.changed:
        if restamp and standing is not None:
            institution = institution_at_start(facts.session, facts.enrolments, servant.transfers, rules.zone)
            if institution is not None and institution != standing.institution_id:
                out.restamps.append(Restamp(facts.session_id, facts.servant_id, held.terms.certificate_id,
                                            institution))
        return servant
    new = decision.certificate
    terms = new.terms
    same = standing is not None and standing.held.terms.certificate_id == terms.certificate_id
    institution = (institution_at_start(facts.session, facts.enrolments, servant.transfers, rules.zone)
                   or (standing.institution_id if same else None))
    out.certificates.append(CertificateChange(facts.session_id, facts.servant_id, new, institution,
                                              tuple(decision.events)))
    out.events.extend(decision.events)
    valid = tuple(h for h in servant.valid if h.certificate_id != terms.certificate_id)
    if new.status is Status.valid:
        valid += (CertificateHolding(terms.certificate_id, terms.course_id, terms.course_code, terms.course_topic,
                                     terms.issued_on),)
    return _attain(replace(servant, valid=valid), rules, out)


def _attain(servant: ServantState, rules: Rules, out: Consequences) -> ServantState:
    """Collect the competencies ``servant`` attains with the certificates now valid (after a revocation too:
    other valid certificates may meet every requirement of an attainment that no longer counts)."""
    attained = competencies_attained(servant.servant_id, rules.competency_model, list(servant.valid),
                                     servant.attained)
    if not attained:
        return servant
    out.attainments.extend(attained)
    out.events.extend(attained)
    # A new attainment replaces the one kept for its competency.
    return replace(servant, attained={**servant.attained,
                                      **{a.competency: frozenset(a.certificate_ids) for a in attained}})


def competencies_after_ruling(servant: ServantState, certificate_id: str, rules: Rules) -> list[CompetencyAttained]:
    """The competencies attained anew once the comptroller revokes ``certificate_id``: those whose kept
    attainment lists it, when the servant's other valid certificates meet every requirement."""
    out = Consequences()
    _attain(replace(servant, valid=tuple(h for h in servant.valid if h.certificate_id != certificate_id)), rules, out)
    return out.attainments


def _facts(facts: CompletionFacts, *, attendance: Attendance | None = None, grade: Grade | None = None,
           enrolments: tuple[Enrolment, ...] | None = None) -> CompletionFacts:
    """``facts`` with what is given in place of what they hold (``dataclasses.replace`` costs several
    times more, and this runs once per fact heard)."""
    return CompletionFacts(facts.servant_id, facts.session_id, facts.course, facts.session,
                           facts.enrolments if enrolments is None else enrolments,
                           facts.attendance if attendance is None else attendance,
                           facts.grade if grade is None else grade)


def _reconsider_sessions(states: list[SessionState], servants: dict[str, ServantState], rules: Rules,
                         out: Consequences, facts_of: Callable[[CompletionFacts], CompletionFacts]) -> None:
    for state in states:
        for completion in state.completions:
            servant_id = completion.facts.servant_id
            servants[servant_id] = _reconsider(facts_of(completion.facts), completion.certificate,
                                               servants[servant_id], rules, out)


def decide_course_published(current: CourseTerms | None, event: CoursePublished, stamp: Stamp,
                            sessions: list[SessionState], servants: dict[str, ServantState],
                            rules: Rules) -> FactDecision[CourseTerms]:
    """``sessions``: the course's sessions (in id order); ``servants``: every servant of them."""
    after = course_published(current, event, stamp)
    if after == current:
        return FactDecision(None)
    out = Consequences()
    _reconsider_sessions(sessions, dict(servants), rules, out, lambda facts: replace(facts, course=after))
    return FactDecision(after, out)


def decide_session(state: SessionState, event: SessionScheduled | SessionRescheduled | SessionCancelled,
                   stamp: Stamp, course: CourseTerms | None, servants: dict[str, ServantState],
                   rules: Rules) -> FactDecision[SessionPlan]:
    """``course``: the terms of the course the session is of once the event is heard (a schedule names
    it); ``servants``: every servant of the session."""
    before = state.plan
    match event:
        case SessionScheduled():
            after = session_scheduled(before, event, stamp)
        case SessionRescheduled():
            after = session_rescheduled(before, event, stamp)
        case _:
            after = session_cancelled(before, event)
    if after == before:
        return FactDecision(None)
    out = Consequences()
    if may_change_decisions(before, after):
        _reconsider_sessions([state], dict(servants), rules, out,
                             lambda facts: replace(facts, session=after, course=course))
    return FactDecision(after, out)


def decide_session_closed(current: SessionPlan | None, event: SessionClosed) -> FactDecision[SessionPlan]:
    """A close re-judges nobody: no completion depends on it (``may_change_decisions``), and a session
    heard of only by its close has no schedule, so none of its completions holds, before or after."""
    after = session_closed(current, event.session_id)
    return FactDecision(None if after == current else after)


def decide_enrolment(completion: Completion, stored: Enrolment | None, event: EnrolmentConfirmed | EnrolmentCancelled,
                     servant: ServantState, rules: Rules) -> FactDecision[Enrolment]:
    """``completion``: the event's (servant, session); ``stored``: the enrolment with the event's id,
    wherever it is kept (an id is not trusted to name its session: a stored one keeps its own)."""
    change = enrolment_confirmed if isinstance(event, EnrolmentConfirmed) else enrolment_cancelled
    after = change(stored, event)
    if after == stored:
        return FactDecision(None)
    facts = completion.facts
    if (after.session_id, after.servant_id) == (facts.session_id, facts.servant_id):
        others = tuple(e for e in facts.enrolments if e.enrolment_id != after.enrolment_id)
        facts = _facts(facts, enrolments=tuple(sorted((*others, after), key=lambda e: e.enrolment_id)))
    out = Consequences()
    _reconsider(facts, completion.certificate, servant, rules, out)
    return FactDecision(after, out)


def decide_attendance(completion: Completion, event: AttendanceRecorded | AttendanceCorrected, stamp: Stamp,
                      servant: ServantState, rules: Rules) -> FactDecision[Attendance]:
    rank = CORRECTION_RANK if isinstance(event, AttendanceCorrected) else RECORD_RANK
    before = completion.facts.attendance
    after = attendance_stated(before, event, Stamp(stamp.at, rank, stamp.event_id))
    if after == before:
        return FactDecision(None)
    out = Consequences()
    _reconsider(_facts(completion.facts, attendance=after), completion.certificate, servant, rules, out)
    return FactDecision(after, out)


def decide_grade(completion: Completion, event: AssessmentGraded, stamp: Stamp, servant: ServantState,
                 rules: Rules) -> FactDecision[Grade]:
    before = completion.facts.grade
    after = assessment_graded(before, event, stamp)
    if after == before:
        return FactDecision(None)
    out = Consequences()
    _reconsider(_facts(completion.facts, grade=after), completion.certificate, servant, rules, out)
    return FactDecision(after, out)


def decide_transfer(servant: ServantState, event: ServantTransferred, stamp: Stamp, certified: list[Completion],
                    rules: Rules) -> FactDecision[Transfer]:
    """A transfer moves the stamp of the servant's certificates of sessions starting from its effective day.

    ``certified``: the servant's completions with a certificate (any status), in session order. A
    certificate issued before the transfer was heard is restamped in place (no new signature, no event),
    so every order of the same facts stamps alike.
    """
    before = next((t for t in servant.transfers if t.transfer_id == event.transfer_id), None)
    after = servant_transferred(before, event, stamp)
    if after == before:
        return FactDecision(None)
    others = tuple(t for t in servant.transfers if t.transfer_id != event.transfer_id)
    servant = replace(servant, transfers=(*others, after))
    out = Consequences()
    for completion in certified:
        servant = _reconsider(completion.facts, completion.certificate, servant, rules, out, restamp=True)
    return FactDecision(after, out)


def decide_holder(servant: ServantState, event: ServantRegistered | ServantUpdated, stamp: Stamp,
                  certified: list[Completion], rules: Rules) -> FactDecision[Holder]:
    """A servant's holder digest, bound into every valid certificate of theirs: one that changes (a CURP
    corrected, the data erased) amends them under the same ids, so every order of the same facts binds alike.

    ``certified``: the servant's completions with a certificate (any status), in session order; asked
    for only when the digest changes (``rebinds``) — a registration repeated unchanged re-judges nothing.
    """
    before = servant.holder
    after = holder_stated(before, event, stamp)
    if after == before:
        return FactDecision(None)
    out = Consequences()
    if rebinds(before, after):
        servant = replace(servant, holder=after)
        for completion in certified:
            servant = _reconsider(completion.facts, completion.certificate, servant, rules, out)
    return FactDecision(after, out)

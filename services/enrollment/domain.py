"""Enrollment rules. Pure: takes the state a handler loaded, returns a decision and the events it records.

Nothing here touches the database, the network or the clock; the handlers do that and call in.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from contracts.base import Event
from contracts.events import (
    AgencyRequestDecided,
    CoursePublished,
    DueRule,
    DueRuleKind,
    EnrolmentCancelled,
    EnrolmentConfirmed,
    EnrolmentWaitlisted,
    GovernmentLevel,
    MAX_PLAN_TARGETS,
    InstitutionRegistered,
    Modality,
    PlanTarget,
    RequestRejected,
    RequirementScope,
    ServantLeft,
    ServantRegistered,
    ServantTransferred,
    ServantUpdated,
    SessionCancelled,
    SessionRescheduled,
    SessionScheduled,
    Sex,
    TrainingPlanDeclared,
    TrainingRequirementDeclared,
    ExemptionGranted,
    ExemptionWithdrawn,
    TransferDropped,
    TransferOpened,
)
from contracts.holder import holder_digest, new_salt
from contracts.pseudonyms import email_digest, position_digest

Kind = Literal["invalid", "not_found", "conflict", "forbidden", "gone"]


class RuleViolation(Exception):
    """A request breaks a rule. ``field`` names the input at fault; ``kind`` says how a caller should see it."""

    def __init__(self, field: str | None, message: str, kind: Kind = "invalid") -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message
        self.kind = kind


def confine(acting_for: str | None, institution_id: str, field_name: str = "institution_id") -> None:
    """``acting_for`` is the institution a caller is confined to (a liaison's, or the agency's that
    sent a request); ``None`` means the comptroller, who may act for any institution."""
    if acting_for is not None and acting_for != institution_id:
        raise RuleViolation(field_name, f"you act for institution {acting_for} only", "forbidden")


# ------------------------------------------------------------------ institutions and courses


def decide_institution(*, institution_id: str, name: str, government_level: GovernmentLevel | str,
                       municipality: str | None, headcount: int, headcount_year: int) -> list[Event]:
    """Register an institution, or restate it (a new year's headcount supersedes nothing older)."""
    level = GovernmentLevel(government_level)
    if level is GovernmentLevel.municipal and not (municipality or "").strip():
        raise RuleViolation("municipality", "a municipal institution needs its municipality")
    return [InstitutionRegistered(institution_id=institution_id, name=name, government_level=level,
                                  municipality=municipality, headcount=headcount, headcount_year=headcount_year)]


def decide_course(*, course_id: str, code_used_by: str | None, code: str, title: str, topic: str,
                  competency: str | None, hours: float, minimum_attendance_share: float,
                  passing_score: float | None, validity_months: int | None = None) -> list[Event]:
    """Publish a course, or re-publish it with new terms; ``code_used_by`` is another course holding
    the code, if any (a code stays unique in the catalogue)."""
    if code_used_by is not None:
        raise RuleViolation("code", f"course {code_used_by} already uses code {code!r}", "conflict")
    if minimum_attendance_share <= 0:
        raise RuleViolation("minimum_attendance_share", "must be above 0 (0.8 = 80 % of the session)")
    return [CoursePublished(course_id=course_id, code=code, title=title, topic=topic, competency=competency,
                            hours=hours, minimum_attendance_share=minimum_attendance_share,
                            passing_score=passing_score, validity_months=validity_months)]


# ------------------------------------------------------------------ CURP

CURP_DICTIONARY = "0123456789ABCDEFGHIJKLMNÑOPQRSTUVWXYZ"
# RENAPO's format: four letters of the name, birth date, sex, state of birth (NE = born abroad),
# three inner consonants, a differentiator (digit before 2000, letter from 2000) and the check digit.
CURP_PATTERN = re.compile(
    r"^[A-Z][AEIOUX][A-Z]{2}"
    r"(?P<yy>\d{2})(?P<mm>0[1-9]|1[0-2])(?P<dd>0[1-9]|[12]\d|3[01])"
    r"(?P<sex>[HMX])"
    r"(?:AS|B[CS]|C[CLMSH]|D[FG]|G[TR]|HG|JC|M[CNS]|N[ETL]|OC|PL|Q[TR]|S[PLR]|T[CSL]|VZ|YN|ZS)"
    r"[B-DF-HJ-NP-TV-Z]{3}"
    r"(?P<differentiator>[A-Z\d])"
    r"(?P<check>\d)$"
)


def curp_check_digit(first_17: str) -> str:
    """RENAPO check digit: weights 18..2 over the first 17 characters, then (10 - sum mod 10) mod 10."""
    if len(first_17) != 17:
        raise ValueError("the check digit is computed over exactly 17 characters")
    total = sum(CURP_DICTIONARY.index(char) * (18 - i) for i, char in enumerate(first_17))
    return str((10 - total % 10) % 10)


def validate_curp(raw: str, field_name: str = "curp") -> str:
    """The CURP in canonical form (upper case, no spaces), or RuleViolation saying what is wrong."""
    curp = (raw or "").strip().upper()
    if len(curp) != 18:
        raise RuleViolation(field_name, f"a CURP has 18 characters, got {len(curp)}")
    match = CURP_PATTERN.match(curp)
    if not match:
        raise RuleViolation(field_name, "not in the official CURP format")
    born_2000s = match["differentiator"].isalpha()
    year = (2000 if born_2000s else 1900) + int(match["yy"])
    try:
        date(year, int(match["mm"]), int(match["dd"]))
    except ValueError:
        raise RuleViolation(field_name, "the birth date it encodes does not exist") from None
    if curp_check_digit(curp[:17]) != curp[17]:
        raise RuleViolation(field_name, "check digit does not match (mistyped CURP?)")
    return curp


def sex_from_curp(curp: str) -> Sex:
    """The sex a (valid) CURP records: H hombre, M mujer, X non-binary."""
    return {"H": Sex.male, "M": Sex.female, "X": Sex.non_binary}[curp[10]]


# ------------------------------------------------------------------ servants

# What HR exports write in a sex column. Single letters follow the CURP (H hombre, M mujer, X).
_SEX_WORDS = {
    "female": Sex.female, "mujer": Sex.female, "femenino": Sex.female, "f": Sex.female, "m": Sex.female,
    "male": Sex.male, "hombre": Sex.male, "masculino": Sex.male, "h": Sex.male,
    "non_binary": Sex.non_binary, "non-binary": Sex.non_binary, "no binario": Sex.non_binary,
    "no binaria": Sex.non_binary, "x": Sex.non_binary,
    "undisclosed": Sex.undisclosed, "no especificado": Sex.undisclosed, "prefiere no decir": Sex.undisclosed,
}


def parse_sex(raw: str | None, curp: str | None = None, field_name: str = "sex") -> Sex:
    """A sex from free text; when the column is empty, the one the (valid) CURP records."""
    text = (raw or "").strip().lower()
    if not text:
        if curp:
            return sex_from_curp(curp)
        raise RuleViolation(field_name, "missing (female, male, non_binary or undisclosed)")
    if text not in _SEX_WORDS:
        raise RuleViolation(field_name, f"{raw!r} is not one of female, male, non_binary, undisclosed "
                            "(or mujer/hombre, M/H as in the CURP)")
    return _SEX_WORDS[text]


_EMAIL = re.compile(r"^[^@\s,;<>]+@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)+$")


def validate_email(raw: str | None, field_name: str = "email") -> str | None:
    if raw is None or not raw.strip():
        return None
    email = raw.strip()
    if len(email) > 254 or not _EMAIL.match(email):
        raise RuleViolation(field_name, f"{email!r} is not an e-mail address")
    return email


@dataclass(frozen=True)
class ServantDetails:
    """What an institution submits about a person (personal data included)."""

    institution_id: str
    name: str
    curp: str
    sex: Sex
    email: str | None = None
    position: str | None = None
    position_level: str | None = None
    joined_on: date | None = None  # None: today for a new servant, unchanged for one already registered


@dataclass(frozen=True)
class ServantRecord:
    """A registered servant as enrollment knows them; personal fields are None after erasure."""

    servant_id: str
    institution_id: str
    sex: Sex
    position_level: str | None
    name: str | None
    curp: str | None
    email: str | None
    position: str | None
    erased: bool = False
    holder_salt: str | None = None  # secret (contracts.holder); None after erasure
    joined_on: date | None = None
    left_on: date | None = None  # set while the servant has left
    position_digest: str | None = None


@dataclass(frozen=True)
class ServantDecision:
    servant: ServantRecord
    created: bool
    events: list[Event]
    joined: date | None = None  # a stretch in the institution starts that day (registration or return)


def _digest(email: str | None, key: str) -> str | None:
    return email_digest(email, key) if email else None


def decide_servant(existing: ServantRecord | None, details: ServantDetails, *, new_servant_id: str,
                   person_id: str, digest_key: str, today: date, request_id: str | None = None) -> ServantDecision:
    """Register a person in an institution, or update the servant that institution already has under the CURP.

    A servant is a person *in one institution*: ``existing`` is only ever the caller's institution's own
    servant with this CURP. The same CURP registered by another institution becomes that institution's
    own servant (a second appointment, or a new job before the old one recorded the move), so nobody's
    record is taken over and the answer is the same whether or not the CURP is held elsewhere.
    ``person_id`` ties the servants one CURP names together, so the figures count the person once.
    """
    name = details.name.strip()
    if not name:
        raise RuleViolation("name", "must not be empty")
    curp = validate_curp(details.curp)
    if existing is not None and existing.institution_id != details.institution_id:
        raise ValueError("existing must be a servant of the institution registering")  # a handler's bug, not input
    email = validate_email(details.email)
    if details.joined_on is not None and details.joined_on > today:
        raise RuleViolation("joined_on", f"must not be after today ({today.isoformat()}); register the servant "
                            "on or after their first day")
    joined_on, left_on, joined = _joining(existing, details.joined_on, today)
    record = ServantRecord(
        servant_id=existing.servant_id if existing else new_servant_id,
        institution_id=details.institution_id, sex=Sex(details.sex), position_level=details.position_level,
        name=name, curp=curp, email=email, position=details.position, joined_on=joined_on, left_on=left_on,
        position_digest=position_digest(details.position, digest_key),
    )
    # Made once and kept: every certificate of the servant names the same holder.
    record = replace(record, holder_salt=(existing.holder_salt if existing else None) or new_salt())
    attributes = dict(servant_id=record.servant_id, institution_id=record.institution_id, sex=record.sex,
                      position_level=record.position_level, email_digest=_digest(email, digest_key),
                      person_id=person_id, request_id=request_id,
                      holder_digest=holder_digest(record.holder_salt, curp), joined_on=record.joined_on,
                      position_digest=record.position_digest)
    if existing is None:
        return ServantDecision(record, True, [ServantRegistered(**attributes)], joined)
    seen_by_oversight_changed = (
        existing.institution_id != record.institution_id or existing.sex != record.sex
        or existing.position_level != record.position_level
        or _digest(existing.email, digest_key) != attributes["email_digest"]
        or existing.holder_salt is None  # registered before holders were bound: publish it once
        or existing.joined_on != record.joined_on or existing.position_digest != record.position_digest
    )
    # An agency always gets an outcome for its request, even when nothing oversight sees changed.
    events: list[Event] = [ServantUpdated(**attributes)] if seen_by_oversight_changed or request_id else []
    return ServantDecision(record, False, events, joined)


def _joining(existing: ServantRecord | None, given: date | None, today: date) -> tuple[date, date | None, date | None]:
    """(joined_on, left_on, the day a stretch starts if one does) for a registration.

    A new servant joins on the day given (today when none). One registered again after leaving comes
    back when the day given is on or after their leaving day; without a day they stay left. A day
    given for a servant still serving corrects their joining day.
    """
    if existing is None:
        return given or today, None, given or today
    current = existing.joined_on or today
    if existing.left_on is not None:
        if given is not None and given >= existing.left_on:
            return given, None, given
        return (given or current), existing.left_on, None
    return (given or current), None, None


def decide_erasure(servant: ServantRecord) -> ServantDecision:
    """ARCO cancellation: forget name, CURP, e-mail and position; the pseudonymous id and the
    attributes the figures need (institution, sex, level) stay, so past figures do not move."""
    if servant.erased:
        raise RuleViolation("servant_id", "personal data already erased", "conflict")
    # The position's keyed digest stays like the position level: requirements scoped to it still apply.
    erased = replace(servant, name=None, curp=None, email=None, position=None, erased=True, holder_salt=None)
    event = ServantUpdated(servant_id=servant.servant_id, institution_id=servant.institution_id, sex=servant.sex,
                           position_level=servant.position_level, email_digest=None, joined_on=servant.joined_on,
                           position_digest=servant.position_digest)
    return ServantDecision(erased, False, [event])


# ------------------------------------------------------------------ transfers


@dataclass(frozen=True)
class TransferTerms:
    """A transfer as asked: which servant, from and to which institution, from which day, asked by whom."""

    transfer_id: str
    servant_id: str
    from_institution_id: str
    to_institution_id: str
    effective_on: date
    requested_by: str


def check_transfer(servant: ServantRecord, to_institution_id: str, effective_on: date, today: date) -> None:
    """What a transfer must satisfy when it is asked for and again when it takes effect."""
    if servant.left_on is not None:
        raise RuleViolation("servant_id", f"the servant left {servant.institution_id} on "
                            f"{servant.left_on.isoformat()}; register them in the new institution instead", "conflict")
    if to_institution_id == servant.institution_id:
        raise RuleViolation("to_institution_id", f"the servant already belongs to {to_institution_id}", "conflict")
    if effective_on > today:
        # A transfer changes the servant's institution when it is recorded; one dated ahead would make
        # enrollment and the figures disagree about where the servant is until that day.
        raise RuleViolation("effective_on", f"must not be after today ({today.isoformat()}); record the transfer "
                            "on or after the day it takes effect")


def open_transfer(servant: ServantRecord, terms: TransferTerms, *, pending: str | None, today: date,
                  requested_at: datetime, request_id: str | None = None) -> TransferOpened:
    """A transfer asked for: checked as it will be when it takes effect, one waiting answer per servant.
    The fact is what the joining institution learns the transfer id from."""
    check_transfer(servant, terms.to_institution_id, terms.effective_on, today)
    if pending is not None:
        raise RuleViolation("servant_id", f"transfer {pending} of this servant is waiting for an answer", "conflict")
    return TransferOpened(transfer_id=terms.transfer_id, servant_id=terms.servant_id,
                          from_institution_id=terms.from_institution_id, to_institution_id=terms.to_institution_id,
                          effective_on=terms.effective_on, requested_by=terms.requested_by,
                          requested_at=requested_at, request_id=request_id)


def check_answerable(status: str) -> None:
    if status != "requested":
        raise RuleViolation("transfer_id", f"this transfer is already {status}", "conflict")


def decline_transfer(terms: TransferTerms, *, declined_by: str, declined_at: datetime,
                     request_id: str | None = None) -> TransferDropped:
    """Either institution (or the comptroller) declines or withdraws a requested transfer: nothing moves."""
    return TransferDropped(transfer_id=terms.transfer_id, servant_id=terms.servant_id,
                           from_institution_id=terms.from_institution_id, to_institution_id=terms.to_institution_id,
                           declined_by=declined_by, declined_at=declined_at, request_id=request_id)


def check_may_accept(acting_for: str | None, terms: TransferTerms) -> None:
    if acting_for is not None and acting_for != terms.to_institution_id:
        raise RuleViolation("transfer_id", "only the institution the servant joins (or the comptroller) accepts a "
                            "transfer", "forbidden")


def check_joining(terms: TransferTerms, twin: str | None) -> None:
    """A person is one servant per institution: ``twin`` is the servant the joining institution already
    has under the person's CURP. Asked only of whoever completes a transfer, never of the one asking."""
    if twin is not None:
        raise RuleViolation("servant_id", f"institution {terms.to_institution_id} already has this person as "
                            f"servant {twin}; decline this transfer (their record stays with "
                            f"{terms.from_institution_id})", "conflict")


def decide_transfer(servant: ServantRecord, terms: TransferTerms, *, approved_by: str, approved_at: datetime,
                    today: date) -> tuple[ServantRecord, ServantTransferred]:
    """The transfer takes effect: the servant belongs to the new institution, and the fact says since when."""
    if servant.institution_id != terms.from_institution_id:
        raise RuleViolation("transfer_id", f"the servant no longer belongs to {terms.from_institution_id}", "conflict")
    check_transfer(servant, terms.to_institution_id, terms.effective_on, today)
    # joined_on is the first day in the servant's institution: in the new one, the transfer's day.
    moved = replace(servant, institution_id=terms.to_institution_id, joined_on=terms.effective_on)
    return moved, ServantTransferred(
        servant_id=servant.servant_id, transfer_id=terms.transfer_id, from_institution_id=terms.from_institution_id,
        to_institution_id=terms.to_institution_id, effective_on=terms.effective_on, sex=servant.sex,
        position_level=servant.position_level, requested_by=terms.requested_by, approved_by=approved_by,
        approved_at=approved_at)


# ------------------------------------------------------------------ sessions

MAX_SESSION_LENGTH = timedelta(days=7)


def zone(name: str, field_name: str = "timezone") -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise RuleViolation(field_name, f"unknown IANA time zone {name!r}") from None


def session_times(starts_at: datetime, ends_at: datetime, timezone: str) -> tuple[datetime, datetime]:
    """Start and end as aware datetimes in the session's zone (a naive time is read in that zone)."""
    tz = zone(timezone)
    start = starts_at.replace(tzinfo=tz) if starts_at.tzinfo is None else starts_at.astimezone(tz)
    end = ends_at.replace(tzinfo=tz) if ends_at.tzinfo is None else ends_at.astimezone(tz)
    if end <= start:
        raise RuleViolation("ends_at", "must be after starts_at")
    if end - start > MAX_SESSION_LENGTH:
        raise RuleViolation("ends_at", "a session lasts at most 7 days; schedule a series of sessions instead")
    return start, end


def check_delivery(modality: Modality | str, platform: str | None, venue: str | None) -> None:
    """Virtual sessions need a platform, in-person ones a venue, hybrid ones both."""
    modality = Modality(modality)
    if modality in (Modality.virtual, Modality.hybrid) and not (platform or "").strip():
        raise RuleViolation("platform", f"a {modality.value} session needs its platform (Zoom, Teams, Meet…)")
    if modality in (Modality.in_person, Modality.hybrid) and not (venue or "").strip():
        raise RuleViolation("venue", f"a {modality.value} session needs its venue")


@dataclass(frozen=True)
class SessionTerms:
    """What the seat rules need to know about a session."""

    session_id: str
    starts_at: datetime
    ends_at: datetime
    capacity: int
    cancelled: bool = False

    def overlaps(self, other: "SessionTerms") -> bool:
        return self.starts_at < other.ends_at and other.starts_at < self.ends_at


def decide_schedule(*, session_id: str, course_id: str, modality: Modality | str, platform: str | None,
                    venue: str | None, starts_at: datetime, ends_at: datetime, timezone: str, capacity: int,
                    instructor_id: str | None, organising_unit: str | None) -> list[Event]:
    """A new session of a course; its times as the fact states them (aware, in the session's zone)."""
    check_delivery(modality, platform, venue)
    start, end = session_times(starts_at, ends_at, timezone)
    return [SessionScheduled(session_id=session_id, course_id=course_id, modality=modality, platform=platform,
                             venue=venue, starts_at=start, ends_at=end, timezone=timezone, capacity=capacity,
                             instructor_id=instructor_id, organising_unit=organising_unit)]


@dataclass(frozen=True)
class Commitment:
    """A servant enrolled in the session being moved also holds an active enrolment in ``session``."""

    servant_id: str
    session: SessionTerms


class RescheduleConflict(RuleViolation):
    """Moving the session would put enrolled servants in two sessions at once; ``conflicts`` names each
    servant and the session they already hold at the new time."""

    def __init__(self, conflicts: Sequence[Commitment]) -> None:
        named = ", ".join(f"servant {c.servant_id} in session {c.session.session_id}" for c in conflicts[:20])
        more = f" and {len(conflicts) - 20} more" if len(conflicts) > 20 else ""
        super().__init__("starts_at", "at the new time the session overlaps other sessions of servants enrolled "
                         f"in it ({named}{more}); cancel those enrolments or choose another time", "conflict")
        self.conflicts = list(conflicts)


def decide_reschedule(session: SessionTerms, starts_at: datetime, ends_at: datetime, timezone: str,
                      venue: str | None, reason: str | None,
                      commitments: Sequence[Commitment] = ()) -> list[Event]:
    """Move a session. ``commitments``: the other active enrolments of the servants enrolled in it (the
    handler may pass only those near the new time). The enrolment rule holds here too: nobody may end up
    in two sessions at once, so a move that would do that is refused whole, naming every conflict."""
    if session.cancelled:
        raise RuleViolation("session_id", "a cancelled session cannot be rescheduled", "conflict")
    start, end = session_times(starts_at, ends_at, timezone)
    moved = replace(session, starts_at=start, ends_at=end)
    conflicts = sorted((c for c in commitments if c.session.session_id != session.session_id
                        and not c.session.cancelled and c.session.overlaps(moved)),
                       key=lambda c: (c.servant_id, c.session.starts_at, c.session.session_id))
    if conflicts:
        raise RescheduleConflict(conflicts)
    return [SessionRescheduled(session_id=session.session_id, starts_at=start, ends_at=end, timezone=timezone,
                               venue=venue, reason=reason)]


def decide_session_cancellation(session: SessionTerms, reason: str | None, *, certificates: int = 0) -> list[Event]:
    """Cancel a session that will not be (or was not) held. ``certificates``: how many certificates
    certification has said it issued from it. A session with any was delivered: cancelling it would
    revoke training that happened, so it is refused; an attendance correction or a comptroller's
    revocation undoes training, each with its reason. A past session without certificates can still be
    cancelled (a cancellation recorded late): enrollment learns of delivery only through certificates."""
    if session.cancelled:
        raise RuleViolation("session_id", "the session is already cancelled", "conflict")
    if certificates:
        raise RuleViolation(
            "session_id", f"session {session.session_id} was delivered: {certificates} certificate(s) were "
            "issued from it, and a delivered session cannot be cancelled; to undo training, correct the "
            "attendance (attendance service) or revoke the certificates with a reason (certification service)",
            "conflict")
    return [SessionCancelled(session_id=session.session_id, reason=reason)]


# ------------------------------------------------------------------ seats

SeatStatus = Literal["confirmed", "waitlisted", "cancelled"]


@dataclass(frozen=True)
class Seat:
    """One enrolment in a session; ``number`` orders arrivals (the waitlist is first come, first served)."""

    enrolment_id: str
    servant_id: str
    institution_id: str
    status: SeatStatus
    number: int


@dataclass(frozen=True)
class EnrolmentDecision:
    status: SeatStatus
    position: int | None
    events: list[Event] = field(default_factory=list)


@dataclass(frozen=True)
class Occupancy:
    """How full a session is, and whether the servant asking already holds a seat or a place in line."""

    confirmed: int
    waitlisted: int
    servant_already_in: bool = False

    @classmethod
    def of(cls, seats: Sequence[Seat], servant_id: str) -> "Occupancy":
        active = [s for s in seats if s.status != "cancelled"]
        return cls(sum(1 for s in active if s.status == "confirmed"), sum(1 for s in active if s.status == "waitlisted"),
                   any(s.servant_id == servant_id for s in active))


def decide_enrolment(session: SessionTerms, servant_id: str, institution_id: str, occupancy: Occupancy,
                     commitments: Sequence[SessionTerms], *, enrolment_id: str,
                     request_id: str | None = None) -> EnrolmentDecision:
    """Seat a servant, or put them on the waitlist when the session is full.

    ``commitments`` are the other sessions where the servant already holds an active (confirmed or
    waitlisted) enrolment; the handler may pass only those near this session's time.
    """
    if session.cancelled:
        raise RuleViolation("session_id", "the session is cancelled", "conflict")
    if occupancy.servant_already_in:
        raise RuleViolation("servant_id", "the servant is already enrolled in this session", "conflict")
    for other in commitments:
        if other.session_id != session.session_id and not other.cancelled and other.overlaps(session):
            raise RuleViolation("session_id", f"the servant is already enrolled in session {other.session_id}, "
                                "which overlaps this one", "conflict")
    common = dict(enrolment_id=enrolment_id, session_id=session.session_id, servant_id=servant_id,
                  institution_id=institution_id, request_id=request_id)
    if occupancy.confirmed < session.capacity:
        return EnrolmentDecision("confirmed", None, [EnrolmentConfirmed(**common)])
    position = occupancy.waitlisted + 1
    return EnrolmentDecision("waitlisted", position, [EnrolmentWaitlisted(position=position, **common)])


@dataclass(frozen=True)
class CancellationDecision:
    promoted: list[Seat]
    events: list[Event]


def decide_cancellation(session: SessionTerms, seats: Sequence[Seat], enrolment_id: str,
                        reason: str | None) -> CancellationDecision:
    """Cancel one enrolment; a seat that frees up goes to the earliest waitlisted servants."""
    seat = next((s for s in seats if s.enrolment_id == enrolment_id), None)
    if seat is None:
        raise RuleViolation("enrolment_id", "no such enrolment in this session", "not_found")
    if seat.status == "cancelled":
        raise RuleViolation("enrolment_id", "the enrolment is already cancelled", "conflict")
    events: list[Event] = [EnrolmentCancelled(enrolment_id=seat.enrolment_id, session_id=session.session_id,
                                              servant_id=seat.servant_id, reason=reason)]
    promoted: list[Seat] = []
    if not session.cancelled:
        remaining = [s for s in seats if s.enrolment_id != enrolment_id]
        free = session.capacity - sum(1 for s in remaining if s.status == "confirmed")
        waiting = sorted((s for s in remaining if s.status == "waitlisted"), key=lambda s: s.number)
        for next_in_line in waiting[:max(free, 0)]:
            promoted.append(next_in_line)
            events.append(EnrolmentConfirmed(enrolment_id=next_in_line.enrolment_id, session_id=session.session_id,
                                             servant_id=next_in_line.servant_id,
                                             institution_id=next_in_line.institution_id,
                                             promoted_from_waitlist=True))
    return CancellationDecision(promoted, events)


def waitlist_positions(seats: Sequence[Seat]) -> dict[str, int]:
    """Current place in line of each waitlisted enrolment (1 = next to be promoted)."""
    waiting = sorted((s for s in seats if s.status == "waitlisted"), key=lambda s: s.number)
    return {s.enrolment_id: i for i, s in enumerate(waiting, start=1)}


# ------------------------------------------------------------------ agency requests


def request_digest(request: Event, key: str) -> str:
    """A stable digest of an agency request's content: HMAC-SHA256, under the platform's digest key, of
    the canonical JSON of its type and every field. Keyed, because a ServantSubmitted carries personal
    data; the digest stays when that data is erased and must not let anyone confirm a guess of it."""
    canonical = json.dumps({"type": request.type, "data": request.model_dump(mode="json")}, sort_keys=True,
                           separators=(",", ":"), ensure_ascii=False)
    return hmac.new(key.encode(), canonical.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class DecidedRequest:
    """An agency request enrollment already answered."""

    institution_id: str
    request_id: str
    digest: str
    outcome: str
    outcome_id: str | None
    decided_at: datetime


def is_repeat(decided: DecidedRequest | None, digest: str) -> bool:
    """Whether an agency request was already decided, so that sending it again changes nothing.

    A request id names one request of an institution: reusing it for a request with other content is
    the agency's mistake, refused without touching anything (the first request's outcome stands).
    """
    if decided is None:
        return False
    if decided.digest != digest:
        raise RuleViolation("request_id", f"{decided.request_id!r} was already used for a different request of "
                            f"institution {decided.institution_id}; give each request its own request_id",
                            "conflict")
    return True


def check_request_topic(request: Event, topic_institution: str | None) -> None:
    """Secure mode: a request names the institution of the topic it came on (the one fact the broker
    vouches for). Refused as a broken message, not answered: an answer would go to the institution
    the request names."""
    institution_id = getattr(request, "institution_id")
    if topic_institution is not None and topic_institution != institution_id:
        raise RuleViolation(None, f"institution_id {institution_id!r} is not the institution of this topic "
                            f"({topic_institution!r}): an agency acts only for its own institution", "forbidden")


@dataclass(frozen=True)
class RequestOutcome:
    """What an agency request led to: the type of the event that answered it and its servant, enrolment
    or transfer (a rejection's reason and field)."""

    type: str
    id: str | None = None
    reason: str | None = None
    field: str | None = None


def reject_request(request: Event, violation: RuleViolation) -> tuple[RequestOutcome, RequestRejected]:
    """A request that breaks a rule is a normal outcome, answered with its request id and the field at fault."""
    reason = violation.message[:1000]
    rejected = RequestRejected(request_id=getattr(request, "request_id"),
                               institution_id=getattr(request, "institution_id"), reason=reason,
                               field=violation.field)
    return RequestOutcome(RequestRejected.type, None, reason, violation.field), rejected


def request_decided(request: Event, outcome: RequestOutcome, topic_institution: str) -> AgencyRequestDecided:
    """The copy of a decision for the agency's own outcome topic (that of ``topic_institution``)."""
    return AgencyRequestDecided(request_id=getattr(request, "request_id"), institution_id=topic_institution,
                                request_type=request.type, outcome=outcome.type, outcome_id=outcome.id,
                                reason=outcome.reason, field=outcome.field)


# ------------------------------------------------------------------ the annual training programme

PLAN_CSV_COLUMNS = ("year", "month", "institution_id", "topic", "sessions", "people", "hours")
MAX_PLAN_BYTES = 900_000  # the event's JSON, under the producer's 1 MiB record limit
_PLAN_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")
_BOUNDS = {"year": (2000, 2100), "month": (1, 12), "sessions": (0, 100_000), "people": (0, 10_000_000),
           "hours": (0, 100_000_000)}


@dataclass(frozen=True)
class PlanLine:
    """One target as given, with where it came from (``targets.3`` in JSON, ``row 5`` in a CSV file),
    so that a refusal names it."""

    source: str
    month: int
    institution_id: str
    topic: str
    sessions: int
    people: int
    hours: float


def plan_field(source: str, name: str) -> str:
    """How a refusal names a target's field: ``row 5, hours`` (CSV) or ``targets.3.hours`` (JSON)."""
    return f"{source}, {name}" if source.startswith("row ") else f"{source}.{name}"


def _plan_number(source: str, name: str, raw: str, whole: bool) -> int | float:
    text = raw.strip()
    low, high = _BOUNDS[name]
    kind = "a whole number" if whole else "a number"
    try:
        value: int | float = int(text) if whole else float(text)
    except ValueError:
        raise RuleViolation(plan_field(source, name), f"must be {kind} from {low} to {high}, got {raw!r}") from None
    if not (low <= value <= high):  # also refuses nan and inf
        raise RuleViolation(plan_field(source, name), f"must be {kind} from {low} to {high}, got {raw!r}")
    return value


def parse_plan_csv(data: bytes) -> tuple[int, list[PlanLine]]:
    """The year and targets of a plan file: a header row naming at least ``PLAN_CSV_COLUMNS`` (any
    order; other columns are ignored), then one target per row, every row of the same year. Rows are
    numbered as a spreadsheet shows them (the header is row 1); blank rows are skipped. The first bad
    value refuses the whole file, naming its row and column."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise RuleViolation("file", f"not UTF-8 text (byte {error.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise RuleViolation("file", f"empty; expected a header row {','.join(PLAN_CSV_COLUMNS)}")
        names = [h.strip().lower() for h in header]
        missing = [c for c in PLAN_CSV_COLUMNS if c not in names]
        if missing:
            raise RuleViolation("header", f"missing column(s) {', '.join(missing)}; expected "
                                f"{','.join(PLAN_CSV_COLUMNS)}")
        where = {c: names.index(c) for c in PLAN_CSV_COLUMNS}
        year: int | None = None
        year_row = 0
        lines: list[PlanLine] = []
        for cells in reader:
            row = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            source = f"row {row}"
            if len(lines) >= MAX_PLAN_TARGETS:
                raise RuleViolation(source, f"a plan holds at most {MAX_PLAN_TARGETS} targets")
            if len(cells) < len(names):
                cells = cells + [""] * (len(names) - len(cells))
            value = {c: cells[i] for c, i in where.items()}
            row_year = int(_plan_number(source, "year", value["year"], whole=True))
            if year is None:
                year, year_row = row_year, row
            elif row_year != year:
                raise RuleViolation(plan_field(source, "year"), f"every row must be of the same year: {row_year} "
                                    f"here, {year} in row {year_row}")
            institution_id = value["institution_id"].strip()
            if not _PLAN_ID.match(institution_id):
                raise RuleViolation(plan_field(source, "institution_id"),
                                    f"expected an institution id (letters, digits, . _ : -), got {value['institution_id']!r}")
            topic = value["topic"].strip()
            if not 1 <= len(topic) <= 200:
                raise RuleViolation(plan_field(source, "topic"), "must be 1 to 200 characters")
            lines.append(PlanLine(source, int(_plan_number(source, "month", value["month"], whole=True)),
                                  institution_id, topic,
                                  int(_plan_number(source, "sessions", value["sessions"], whole=True)),
                                  int(_plan_number(source, "people", value["people"], whole=True)),
                                  float(_plan_number(source, "hours", value["hours"], whole=False))))
    except csv.Error as error:
        raise RuleViolation(f"row {reader.line_num}", f"not valid CSV ({error})") from None
    if year is None:
        raise RuleViolation("file", "no targets: the file holds a header row only")
    return year, lines


def decide_plan(*, plan_id: str, year: int, version: int, lines: Sequence[PlanLine], known_institutions: set[str],
                declared_at: datetime, declared_by: str) -> TrainingPlanDeclared:
    """Declare version ``version`` of the year's programme: the whole plan, replacing the previous one
    from now on. Refused: no targets, a month, institution and topic planned twice, an institution the
    programme does not know, a plan too large for one event."""
    if not lines:
        raise RuleViolation("targets", "a plan needs at least one target")
    if len(lines) > MAX_PLAN_TARGETS:
        raise RuleViolation("targets", f"a plan holds at most {MAX_PLAN_TARGETS} targets")
    seen: dict[tuple[int, str, str], str] = {}
    for line in lines:
        key = (line.month, line.institution_id, line.topic)
        if key in seen:
            raise RuleViolation(plan_field(line.source, "topic"), f"month {line.month}, institution "
                                f"{line.institution_id} and topic {line.topic!r} are already planned in {seen[key]}")
        seen[key] = line.source
        if not line.topic.strip():
            raise RuleViolation(plan_field(line.source, "topic"), "must not be blank")
        if line.institution_id not in known_institutions:
            raise RuleViolation(plan_field(line.source, "institution_id"),
                                f"unknown institution {line.institution_id!r}")
    event = TrainingPlanDeclared(
        plan_id=plan_id, year=year, version=version, declared_at=declared_at, declared_by=declared_by,
        targets=[PlanTarget(month=line.month, institution_id=line.institution_id, topic=line.topic,
                            sessions=line.sessions, people=line.people, hours=line.hours) for line in lines])
    if len(event.model_dump_json()) > MAX_PLAN_BYTES:
        raise RuleViolation("targets", f"the plan is larger than {MAX_PLAN_BYTES} bytes as an event; shorten its topic names")
    return event


# ------------------------------------------------------------------ leaving ("baja")


def decide_departure(servant: ServantRecord, *, left_on: date, today: date, recorded_by: str,
                     request_id: str | None = None) -> tuple[ServantRecord, ServantLeft]:
    """The servant no longer serves in their institution from ``left_on`` (its first day away)."""
    if servant.left_on is not None:
        raise RuleViolation("servant_id", f"the servant already left {servant.institution_id} on "
                            f"{servant.left_on.isoformat()}", "conflict")
    if left_on > today:
        raise RuleViolation("left_on", f"must not be after today ({today.isoformat()}); record the leaving on or "
                            "after the day it takes effect")
    if servant.joined_on is not None and left_on <= servant.joined_on:
        raise RuleViolation("left_on", f"must be after the day the servant joined ({servant.joined_on.isoformat()})")
    return replace(servant, left_on=left_on), ServantLeft(
        servant_id=servant.servant_id, institution_id=servant.institution_id, left_on=left_on,
        recorded_by=recorded_by, request_id=request_id)


def check_still_serving(servant_id: str, left_on: date | None, institution_id: str, session_day: date) -> None:
    """A servant who left cannot be enrolled in a session starting on or after their leaving day."""
    if left_on is not None and session_day >= left_on:
        raise RuleViolation("servant_id", f"servant {servant_id} left {institution_id} on {left_on.isoformat()}, "
                            f"before this session ({session_day.isoformat()})", "conflict")


# ------------------------------------------------------------------ training requirements and exemptions


@dataclass(frozen=True)
class RequirementTerms:
    """A requirement as the comptroller states it (positions by title; enrollment digests them)."""

    title: str
    course_id: str | None
    competency: str | None
    effective_from: date
    due: DueRule
    institution_ids: tuple[str, ...] = ()
    government_level: GovernmentLevel | None = None
    position_levels: tuple[str, ...] = ()
    positions: tuple[str, ...] = ()


def check_due(due: DueRule) -> DueRule:
    """Each kind of due rule with what it needs (422 naming the missing field)."""
    if due.kind == DueRuleKind.within_days_of_joining and due.days is None:
        raise RuleViolation("due.days", "a within_days_of_joining rule needs days (e.g. 90)")
    if due.kind == DueRuleKind.yearly_by:
        if due.month is None:
            raise RuleViolation("due.month", "a yearly_by rule needs month and day of its yearly deadline")
        if due.day is None:
            raise RuleViolation("due.day", "a yearly_by rule needs month and day of its yearly deadline")
        if due.day > (29 if due.month == 2 else 30 if due.month in (4, 6, 9, 11) else 31):
            raise RuleViolation("due.day", f"month {due.month} has no day {due.day}")
    if due.kind == DueRuleKind.renewal and due.months is None:
        raise RuleViolation("due.months", "a renewal rule needs months (how long a completion holds)")
    return due


def decide_requirement(terms: RequirementTerms, *, requirement_id: str, latest: TrainingRequirementDeclared | None,
                       course_known: bool, known_institutions: set[str], digest_key: str, declared_at: datetime,
                       declared_by: str) -> TrainingRequirementDeclared:
    """Declare version 1 of a requirement, or the next version of one (superseding it from its date)."""
    if (terms.course_id is None) == (terms.competency is None):
        raise RuleViolation("course_id", "give exactly one of course_id and competency")
    if terms.course_id is not None and not course_known:
        raise RuleViolation("course_id", f"unknown course {terms.course_id!r}")
    if terms.competency is not None and not terms.competency.strip():
        raise RuleViolation("competency", "must not be blank")
    if not terms.title.strip():
        raise RuleViolation("title", "must not be blank")
    for institution_id in terms.institution_ids:
        if institution_id not in known_institutions:
            raise RuleViolation("scope.institution_ids", f"unknown institution {institution_id!r}")
    if latest is not None and terms.effective_from < latest.effective_from:
        raise RuleViolation("effective_from", f"must not be before version {latest.version}'s "
                            f"({latest.effective_from.isoformat()}): a later version supersedes from its own date")
    digests = sorted({position_digest(p, digest_key) for p in terms.positions if p.strip()})
    scope = RequirementScope(institution_ids=sorted(set(terms.institution_ids)) or None,
                             government_level=terms.government_level,
                             position_levels=sorted({p.strip() for p in terms.position_levels if p.strip()}) or None,
                             position_digests=digests or None)
    return TrainingRequirementDeclared(
        requirement_id=requirement_id, version=(latest.version if latest else 0) + 1,
        effective_from=terms.effective_from, title=terms.title.strip(), course_id=terms.course_id,
        competency=terms.competency.strip() if terms.competency else None, scope=scope, due=check_due(terms.due),
        declared_at=declared_at, declared_by=declared_by)


def decide_requirement_withdrawal(latest: TrainingRequirementDeclared | None, *, requirement_id: str,
                                  effective_from: date, declared_at: datetime,
                                  declared_by: str) -> TrainingRequirementDeclared:
    """A withdrawal is the next version, requiring nothing from its date (the terms stay for the record)."""
    if latest is None:
        raise RuleViolation("requirement_id", f"unknown requirement {requirement_id!r}", "not_found")
    if latest.withdrawn:
        raise RuleViolation("requirement_id", f"the requirement is already withdrawn from "
                            f"{latest.effective_from.isoformat()}", "conflict")
    if effective_from < latest.effective_from:
        raise RuleViolation("effective_from", f"must not be before version {latest.version}'s "
                            f"({latest.effective_from.isoformat()})")
    return latest.model_copy(update=dict(version=latest.version + 1, effective_from=effective_from, withdrawn=True,
                                         declared_at=declared_at, declared_by=declared_by))


def decide_exemption(*, exemption_id: str, servant_id: str, requirement_id: str, requirement_known: bool,
                     reason: str, effective_from: date, until: date | None, granted_by: str,
                     granted_at: datetime) -> ExemptionGranted:
    if not requirement_known:
        raise RuleViolation("requirement_id", f"unknown requirement {requirement_id!r}")
    if not reason.strip():
        raise RuleViolation("reason", "an exemption needs its reason")
    if until is not None and until < effective_from:
        raise RuleViolation("until", f"must not be before effective_from ({effective_from.isoformat()})")
    return ExemptionGranted(exemption_id=exemption_id, requirement_id=requirement_id, servant_id=servant_id,
                            reason=reason.strip(), effective_from=effective_from, until=until, granted_by=granted_by,
                            granted_at=granted_at)


def decide_exemption_withdrawal(*, exemption_id: str, requirement_id: str, servant_id: str, effective_from: date,
                                withdrawn_already: date | None, withdrawn_on: date,
                                withdrawn_by: str) -> ExemptionWithdrawn:
    if withdrawn_already is not None:
        raise RuleViolation("exemption_id", f"the exemption is already withdrawn from "
                            f"{withdrawn_already.isoformat()}", "conflict")
    if withdrawn_on < effective_from:
        raise RuleViolation("withdrawn_on", f"must not be before the exemption's effective_from "
                            f"({effective_from.isoformat()})")
    return ExemptionWithdrawn(exemption_id=exemption_id, requirement_id=requirement_id, servant_id=servant_id,
                              withdrawn_on=withdrawn_on, withdrawn_by=withdrawn_by)


# ------------------------------------------------------------------ the departures file

DEPARTURE_ALIASES = {
    "servant_id": "servant_id", "servant id": "servant_id", "id servidor": "servant_id", "id": "servant_id",
    "curp": "curp",
    "left_on": "left_on", "left on": "left_on", "fecha baja": "left_on", "fecha de baja": "left_on", "baja": "left_on",
    "reason": "reason", "motivo": "reason", "motivo de baja": "reason", "causa": "reason",
}


@dataclass(frozen=True)
class DepartureLine:
    line: int
    servant_id: str | None
    curp: str | None
    left_on: str | None
    reason: str | None


def _header(name: str) -> str:
    plain = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    for separator in "_-()./":
        plain = plain.replace(separator, " ")
    return " ".join(plain.lower().split())


def parse_departures_csv(data: bytes) -> list[DepartureLine]:
    """Rows of a departures file: a header naming servant_id or curp, and left_on (English or Spanish:
    curp, fecha_baja, motivo…), then one leaving per row. Rows are numbered as a spreadsheet shows them
    (the header is row 1); blank rows are skipped. Values are checked per row, by the import."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise RuleViolation("file", f"not UTF-8 text (byte {error.start})") from None
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        header = next(reader, None)
        if header is None:
            raise RuleViolation("file", "empty; expected a header row servant_id (or curp),left_on,reason")
        columns = {i: DEPARTURE_ALIASES.get(_header(h)) for i, h in enumerate(header)}
        named = set(columns.values())
        if "left_on" not in named:
            raise RuleViolation("header", "missing column left_on (or fecha_baja)")
        if not named & {"servant_id", "curp"}:
            raise RuleViolation("header", "missing column servant_id or curp")
        lines = []
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            value = {name: (cells[i].strip() or None) if i < len(cells) else None
                     for i, name in columns.items() if name}
            lines.append(DepartureLine(reader.line_num, value.get("servant_id"), value.get("curp"),
                                       value.get("left_on"), value.get("reason")))
    except csv.Error as error:
        raise RuleViolation(f"row {reader.line_num}", f"not valid CSV ({error})") from None
    return lines


def parse_day(raw: str | None, field_name: str) -> date:
    """A day as a file gives it: YYYY-MM-DD, or DD/MM/YYYY as Mexican spreadsheets write it."""
    text = (raw or "").strip()
    if not text:
        raise RuleViolation(field_name, "missing (YYYY-MM-DD or DD/MM/YYYY)")
    try:
        if re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}", text):
            d, m, y = (int(x) for x in text.split("/"))
            return date(y, m, d)
        return date.fromisoformat(text)
    except ValueError:
        raise RuleViolation(field_name, f"{raw!r} is not a date (YYYY-MM-DD or DD/MM/YYYY)") from None

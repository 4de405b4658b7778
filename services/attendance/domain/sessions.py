"""What enrollment tells attendance, with no I/O: sessions, servants, transfers and enrolments, and where a
servant served when a session started.

These facts arrive in any order and sometimes twice: each is applied with the contract's ``supersedes``
(the statement made later holds; at the same instant the larger event id, so every replica keeps the same
one whatever order it heard them in).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from contracts.attribution import Placement, Stamp, institution_at, supersedes
from contracts.events import (
    EnrolmentCancelled, EnrolmentConfirmed, ServantRegistered, ServantTransferred, ServantUpdated,
    SessionRescheduled, SessionScheduled,
)
from services.attendance.domain.errors import AttendanceError, NotFound
from services.attendance.domain.intervals import SessionWindow, epoch


def utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return utc_of(moment)


def utc_of(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# ---------------------------------------------------------------- transfers


@dataclass(frozen=True)
class Transfer:
    """A servant's transfer, as its latest statement (by ce_time, then event id) says."""

    servant_id: str
    transfer_id: str
    from_institution_id: str
    to_institution_id: str
    effective_on: date
    stated_at: datetime
    event_id: str

    @property
    def stamp(self) -> Stamp:
        return Stamp.of(self.stated_at, self.event_id)

    @property
    def placement(self) -> Placement:
        return Placement(self.to_institution_id, self.stamp, self.effective_on, self.from_institution_id)


def transfer_stated(current: Transfer | None, event: ServantTransferred, stamp: Stamp) -> Transfer:
    stated = Transfer(event.servant_id, event.transfer_id, event.from_institution_id, event.to_institution_id,
                      event.effective_on, stamp.at, stamp.event_id)
    return stated if current is None or supersedes(stated.stamp, current.stamp) else current


@dataclass(frozen=True)
class Registration:
    """One registration or update of a servant: where it placed them, from when it was stated."""

    servant_id: str
    event_id: str
    institution_id: str
    stated_at: datetime

    @property
    def placement(self) -> Placement:
        return Placement(self.institution_id, Stamp.of(self.stated_at, self.event_id))


def registration_stated(event: ServantRegistered | ServantUpdated, stamp: Stamp) -> Registration:
    return Registration(event.servant_id, stamp.event_id, event.institution_id, stamp.at)


def institution_at_start(session: TrainingSession, placements: Iterable[Placement], otherwise: str | None,
                         zone: ZoneInfo) -> str | None:
    """The servant's institution when the session started, by the attribution rule every service applies
    (``contracts.attribution.institution_at``: registrations and updates in force from when stated, transfers
    from local midnight of their effective day in the programme's ``zone``). With nothing known of the
    servant's placements, ``otherwise`` (where the servant is now, or the enrolment's institution)."""
    found = institution_at(placements, session.start, zone)
    return otherwise if found is None else found


# ---------------------------------------------------------------- what enrollment tells us (any order)


@dataclass(frozen=True)
class TrainingSession:
    """A session as enrollment scheduled it, plus attendance's own fact: when it was closed."""

    session_id: str
    course_id: str | None = None
    instructor_id: str | None = None
    modality: str | None = None
    platform: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    timezone: str | None = None
    times_as_of: datetime | None = None  # ce_time of the fact that set the times
    cancelled: bool = False
    closed_at: datetime | None = None
    closed_by: str | None = None
    times_event_id: str = ""  # the id of that fact: a tie at the same ce_time goes to the larger id

    @property
    def scheduled(self) -> bool:
        return self.starts_at is not None

    @property
    def start(self) -> datetime:
        """When the session starts, in UTC; only a scheduled session has a start."""
        return utc_of(self._known(self.starts_at))

    @property
    def end(self) -> datetime:
        return utc_of(self._known(self.ends_at))

    @property
    def window(self) -> SessionWindow:
        # the times and the zone are set together (``_with_times``): a scheduled session has all three
        return SessionWindow(self.session_id, epoch(self.start), epoch(self.end), self.timezone or "UTC")

    def _known(self, moment: datetime | None) -> datetime:
        if moment is None:
            raise NotFound(None, f"session {self.session_id} is not known (yet) to attendance")
        return moment


def _with_times(session: TrainingSession, starts_at: datetime, ends_at: datetime, zone: str,
                stamp: Stamp) -> TrainingSession:
    if ends_at <= starts_at:
        raise AttendanceError(None, f"session {session.session_id}: ends_at {ends_at.isoformat()} "
                                    "is not after starts_at")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise AttendanceError(None, f"session {session.session_id}: unknown IANA time zone {zone!r}") from error
    held = None if session.times_as_of is None else Stamp.of(session.times_as_of, session.times_event_id)
    if not supersedes(stamp, held):
        return session  # an older schedule arriving late must not undo a newer one
    return replace(session, starts_at=utc(starts_at), ends_at=utc(ends_at), timezone=zone, times_as_of=stamp.at,
                   times_event_id=stamp.event_id)


def session_scheduled(current: TrainingSession | None, event: SessionScheduled, stamp: Stamp) -> TrainingSession:
    session = replace(current or TrainingSession(event.session_id), course_id=event.course_id,
                      instructor_id=event.instructor_id, modality=event.modality, platform=event.platform)
    return _with_times(session, event.starts_at, event.ends_at, event.timezone, stamp)


def session_rescheduled(current: TrainingSession | None, event: SessionRescheduled, stamp: Stamp) -> TrainingSession:
    return _with_times(current or TrainingSession(event.session_id), event.starts_at, event.ends_at,
                       event.timezone, stamp)


def session_cancelled(current: TrainingSession | None, session_id: str) -> TrainingSession:
    return replace(current or TrainingSession(session_id), cancelled=True)  # final, whatever arrives later


# The as_of of a servant known only from a transfer: any registration or update brings its digest.
NOT_YET = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Servant:
    """The servant's institution now (rosters follow it) and e-mail digest, ordered apart: a transfer moves
    the institution but carries no digest, so a registration heard after it still brings the digest
    without bringing back the institution it names."""

    servant_id: str
    institution_id: str
    email_digest: str | None
    as_of: datetime  # ce_time of the registration or update that set the digest
    institution_as_of: datetime  # ce_time of the fact that set the institution
    digest_event_id: str = ""  # the ids of those facts: a tie at the same ce_time goes to the larger id
    institution_event_id: str = ""

    @property
    def digest_stamp(self) -> Stamp:
        return Stamp.of(self.as_of, self.digest_event_id)

    @property
    def institution_stamp(self) -> Stamp:
        return Stamp.of(self.institution_as_of, self.institution_event_id)


def servant_stated(current: Servant | None, event: ServantRegistered | ServantUpdated, stamp: Stamp) -> Servant:
    if current is None:
        return Servant(event.servant_id, event.institution_id, event.email_digest, stamp.at, stamp.at,
                       stamp.event_id, stamp.event_id)
    servant = current
    if supersedes(stamp, servant.digest_stamp):
        servant = replace(servant, email_digest=event.email_digest, as_of=stamp.at, digest_event_id=stamp.event_id)
    if supersedes(stamp, servant.institution_stamp):  # an older fact must not move them back
        servant = replace(servant, institution_id=event.institution_id, institution_as_of=stamp.at,
                          institution_event_id=stamp.event_id)
    return servant


def servant_transferred(current: Servant | None, event: ServantTransferred, stamp: Stamp) -> Servant:
    """From now on the servant is the new institution's in rosters; records keep the institution at the
    session's start (``institution_at_start``)."""
    if current is None:  # heard before the registration, which then brings only the digest
        return Servant(event.servant_id, event.to_institution_id, None, NOT_YET, stamp.at, "", stamp.event_id)
    if supersedes(stamp, current.institution_stamp):
        return replace(current, institution_id=event.to_institution_id, institution_as_of=stamp.at,
                       institution_event_id=stamp.event_id)
    return current


@dataclass(frozen=True)
class Enrolment:
    enrolment_id: str
    session_id: str
    servant_id: str
    # the institution the enrolment was made for; rosters follow the servant's once known
    institution_id: str | None = None
    confirmed: bool = False
    cancelled: bool = False  # final: a cancellation arriving before its confirmation still wins


def enrolment_confirmed(current: Enrolment | None, event: EnrolmentConfirmed) -> Enrolment:
    enrolment = current or Enrolment(event.enrolment_id, event.session_id, event.servant_id)
    return replace(enrolment, institution_id=event.institution_id, confirmed=True)


def enrolment_cancelled(current: Enrolment | None, event: EnrolmentCancelled) -> Enrolment:
    return replace(current or Enrolment(event.enrolment_id, event.session_id, event.servant_id), cancelled=True)

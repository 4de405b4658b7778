"""Application handlers: load through the repository, ask the domain, save, and return the events.

Every handler runs inside the caller's unit of work and returns what it decided with the events it
recorded; the caller hands them to ``uow.record``. HTTP routes, the bulk import and the agency-request
subscribers all go through these same functions, so the rules hold whichever way a request arrives.
("Session" in this service means a training session.)

``acting_for`` is the institution a caller is confined to (a liaison's, or the agency's that sent a
request); ``None`` means the comptroller, who may act for any institution.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Generic, TypeVar

from contracts.base import Event
from contracts.events import (
    CertificateIssued, CertificateRevoked, CompetencyAttained, DepartureReported, EnrolmentConfirmed,
    EnrolmentRequested, EnrolmentWaitlisted, GovernmentLevel, Modality, ServantLeft, ServantRegistered,
    ServantSubmitted, ServantTransferred, ServantUpdated, TransferAccepted, TransferDeclined, TransferDropped,
    TransferOpened, TransferRequested,
)
from probidad.shared.kafka_security import SecurityError, check_institution
from probidad.shared.logs import get_logger
from probidad.shared.printing import SigningAuthority
from probidad.shared.settings import ServiceSettings
from probidad.shared.unit_of_work import UnitOfWork
from services.enrollment import domain
from services.enrollment.domain import RequestOutcome, RuleViolation, ServantDetails
from services.enrollment.metrics import AGENCY_REJECTIONS, ENROLMENT_DECISIONS
from services.enrollment.repository import (
    EnrollmentRepository, record, requirement_event, requirement_positions, seat, terms, transfer_terms,
)
from services.enrollment.tables import (
    Course, Enrolment, ExemptionRow, Institution, PlanVersion, RequirementRow, Servant, TrainingSession, Transfer,
)

log = get_logger(__name__)
T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:20]}"


@dataclass(frozen=True)
class EnrollmentContext:
    """What handlers need besides the unit of work, built once at wiring."""

    digest_key: str  # the platform's e-mail and request digest key
    programme_timezone: str = ServiceSettings.model_fields["programme_timezone"].default  # decides "today"
    bulk_max_rows: int = 1000
    # Each agency decision is also answered on the agency's own outcome topic (probidad.agency.outcomes.<it>):
    # in secure mode that of the institution whose topic the request came on; in development
    # (``outcomes_to_named_institution``: one shared request topic, no broker vouching for anyone) that of the
    # institution the request names, so an agency reads its answers there too.
    outcome_topics: bool = False
    outcomes_to_named_institution: bool = False
    clock: Callable[[], datetime] = utcnow
    verify_base_url: str = "http://127.0.0.1:8003/verify"  # certification's public verification page
    signing_authority: SigningAuthority = SigningAuthority()  # who signs the constancias printed

    def now(self) -> datetime:
        return self.clock()

    def today(self, now: datetime | None = None) -> date:
        """The programme's date (its time zone), as a transfer's ``effective_on`` is read."""
        return (now or self.now()).astimezone(domain.zone(self.programme_timezone)).date()


@dataclass(frozen=True)
class Done(Generic[T]):
    """What a handler changed (the row the API answers with), whether it is new, and the events it recorded."""

    row: T
    events: list[Event]
    created: bool = False


@dataclass(frozen=True)
class Enrolled:
    enrolment: Enrolment
    position: int | None
    events: list[Event]


@dataclass(frozen=True)
class Cancelled:
    enrolment: Enrolment
    promoted: list[Enrolment]
    events: list[Event]


def repository(uow: UnitOfWork) -> EnrollmentRepository:
    """The unit of work's repository (one per unit of work; a test hands its own through ``uow.part``)."""
    return uow.part(EnrollmentRepository, lambda: EnrollmentRepository(uow))


# ------------------------------------------------------------------ lookups that are rules


async def require_institution(repo: EnrollmentRepository, institution_id: str, field_name: str = "institution_id",
                              kind: domain.Kind = "invalid") -> Institution:
    institution = await repo.institution(institution_id)
    if institution is None:
        raise RuleViolation(field_name, f"unknown institution {institution_id!r}", kind)
    return institution


async def find_institution(repo: EnrollmentRepository, institution_id: str, acting_for: str | None) -> Institution:
    """The institution, as long as the caller may see it: to another institution's liaison it is as
    unknown as one that does not exist (404 either way)."""
    if acting_for is not None and acting_for != institution_id:
        raise RuleViolation("institution_id", f"unknown institution {institution_id!r}", "not_found")
    return await require_institution(repo, institution_id, kind="not_found")


async def find_servant(repo: EnrollmentRepository, servant_id: str, acting_for: str | None,
                       field_name: str = "servant_id", kind: domain.Kind = "not_found") -> Servant:
    """The servant, as long as the caller may see them (another institution's servant is "unknown")."""
    servant = await repo.servant(servant_id)
    if servant is None or (acting_for is not None and servant.institution_id != acting_for):
        raise RuleViolation(field_name, f"unknown servant {servant_id!r}", kind)
    return servant


async def find_transfer(repo: EnrollmentRepository, transfer_id: str, acting_for: str | None) -> Transfer:
    """A transfer its caller may see: the comptroller any, a liaison those from or to its institution."""
    transfer = await repo.transfer(transfer_id)
    if transfer is None or (acting_for is not None and acting_for not in (transfer.from_institution_id,
                                                                         transfer.to_institution_id)):
        raise RuleViolation("transfer_id", f"unknown transfer {transfer_id!r}", "not_found")
    return transfer


async def find_enrolment(repo: EnrollmentRepository, enrolment_id: str, acting_for: str | None) -> Enrolment:
    found = await repo.enrolment(enrolment_id)
    if found is None or (acting_for is not None and found.institution_id != acting_for):
        raise RuleViolation("enrolment_id", f"unknown enrolment {enrolment_id!r}", "not_found")
    return found


async def find_session(repo: EnrollmentRepository, session_id: str) -> TrainingSession:
    session = await repo.training_session(session_id)
    if session is None:
        raise RuleViolation("session_id", f"unknown session {session_id!r}", "not_found")
    return session


async def resolve_servant_id(repo: EnrollmentRepository, *, servant_id: str | None, curp: str | None,
                             acting_for: str | None) -> str:
    if servant_id:
        return servant_id
    if not curp:
        raise RuleViolation("servant_id", "give the servant_id or the curp of the servant to enrol")
    curp = domain.validate_curp(curp)
    found = await repo.servant_ids_with_curp(curp, acting_for)
    if not found:
        raise RuleViolation("curp", "no registered servant has this CURP" +
                            (f" in institution {acting_for}" if acting_for else ""))
    if len(found) > 1:  # only the comptroller sees several: the person serves in more than one institution
        raise RuleViolation("curp", f"the CURP names servants of several institutions ({', '.join(found)}); "
                            "give the servant_id of the one to enrol", "conflict")
    return found[0]


# ------------------------------------------------------------------ institutions and courses


async def register_institution(uow: UnitOfWork, ctx: EnrollmentContext, *, institution_id: str, name: str,
                               government_level: GovernmentLevel | str, municipality: str | None, headcount: int,
                               headcount_year: int) -> Done[Institution]:
    """Register an institution, or restate it (a new year's headcount supersedes nothing older)."""
    events = domain.decide_institution(institution_id=institution_id, name=name, government_level=government_level,
                                       municipality=municipality, headcount=headcount, headcount_year=headcount_year)
    institution, created = await repository(uow).save_institution(
        institution_id=institution_id, name=name, government_level=GovernmentLevel(government_level).value,
        municipality=municipality, headcount=headcount, headcount_year=headcount_year)
    return Done(institution, events, created)


async def publish_course(uow: UnitOfWork, ctx: EnrollmentContext, *, course_id: str, code: str, title: str,
                         topic: str, competency: str | None, hours: float, minimum_attendance_share: float,
                         passing_score: float | None, validity_months: int | None = None) -> Done[Course]:
    """Publish a course, or re-publish it with new terms (its code stays unique in the catalogue)."""
    repo = repository(uow)
    values = dict(code=code, title=title, topic=topic, competency=competency, hours=hours,
                  minimum_attendance_share=minimum_attendance_share, passing_score=passing_score,
                  validity_months=validity_months)
    events = domain.decide_course(course_id=course_id, code_used_by=await repo.course_using_code(code, course_id),
                                  **values)
    course, created = await repo.save_course(course_id, values)
    return Done(course, events, created)


# ------------------------------------------------------------------ sessions


async def schedule_session(uow: UnitOfWork, ctx: EnrollmentContext, *, session_id: str, course_id: str,
                           modality: Modality, platform: str | None, venue: str | None, starts_at: datetime,
                           ends_at: datetime, timezone: str | None, capacity: int, instructor_id: str | None,
                           organising_unit: str | None) -> Done[TrainingSession]:
    """Schedule a session of a course; a time without an offset is read in ``timezone`` (the programme's
    zone when None)."""
    repo = repository(uow)
    timezone = timezone or ctx.programme_timezone
    if await repo.training_session(session_id) is not None:
        raise RuleViolation("session_id", f"session {session_id!r} already exists", "conflict")
    if await repo.course(course_id) is None:
        raise RuleViolation("course_id", f"unknown course {course_id!r}")
    events = domain.decide_schedule(session_id=session_id, course_id=course_id, modality=modality, platform=platform,
                                    venue=venue, starts_at=starts_at, ends_at=ends_at, timezone=timezone,
                                    capacity=capacity, instructor_id=instructor_id, organising_unit=organising_unit)
    scheduled = events[0]
    session = await repo.add_session(
        session_id=session_id, course_id=course_id, modality=Modality(modality).value, platform=platform, venue=venue,
        starts_at=scheduled.starts_at, ends_at=scheduled.ends_at, timezone=timezone, capacity=capacity,
        instructor_id=instructor_id, organising_unit=organising_unit)
    return Done(session, events, True)


async def _locked_session(repo: EnrollmentRepository, session_id: str) -> TrainingSession:
    session = await repo.lock_session(session_id)
    if session is None:
        raise RuleViolation("session_id", f"unknown session {session_id!r}", "not_found")
    return session


async def reschedule_session(uow: UnitOfWork, ctx: EnrollmentContext, session_id: str, *, starts_at: datetime,
                             ends_at: datetime, timezone: str | None, venue: str | None,
                             reason: str | None) -> Done[TrainingSession]:
    repo = repository(uow)
    # The enrolled servants' rows first, in id order, then the session's (the enrolment path's order):
    # none of them can take an overlapping seat elsewhere while the new time is being checked.
    for seated in sorted({s.servant_id for s in await repo.active_seats(session_id)}):
        await repo.lock_servant(seated)
    session = await _locked_session(repo, session_id)
    timezone = timezone or session.timezone
    venue = venue if venue is not None else session.venue
    start, end = domain.session_times(starts_at, ends_at, timezone)
    events = domain.decide_reschedule(terms(session), starts_at, ends_at, timezone, venue, reason,
                                      await repo.commitments_overlapping(session_id, start, end))
    await repo.reschedule_session(session, starts_at=events[0].starts_at, ends_at=events[0].ends_at,
                                  timezone=timezone, venue=venue)
    return Done(session, events)


async def cancel_session(uow: UnitOfWork, ctx: EnrollmentContext, session_id: str, *,
                         reason: str | None) -> Done[TrainingSession]:
    repo = repository(uow)
    session = await _locked_session(repo, session_id)
    events = domain.decide_session_cancellation(terms(session), reason,
                                                certificates=await repo.certificates_from_session(session_id))
    await repo.cancel_session(session, at=ctx.now(), reason=reason)
    return Done(session, events)


# ------------------------------------------------------------------ servants


async def register_servant(uow: UnitOfWork, ctx: EnrollmentContext, details: ServantDetails, *,
                           acting_for: str | None, request_id: str | None = None) -> Done[Servant]:
    """Register a person in an institution under a new pseudonymous id, or update the servant that
    institution already has under the CURP. Another institution's servant with the CURP is never
    touched, nor looked at beyond the person id they share (see ``domain.decide_servant``)."""
    domain.confine(acting_for, details.institution_id)
    repo = repository(uow)
    await require_institution(repo, details.institution_id)
    curp = domain.validate_curp(details.curp)
    # Two transactions registering the same new CURP at once would both insert; one waits here instead.
    # (The unique index on institution and CURP refuses any late twin from another process on SQLite.)
    await repo.hold(curp)
    holders = await repo.servants_with_curp(curp)
    existing = next((s for s in holders if s.institution_id == details.institution_id), None)
    person_id = next((s.person_id for s in holders if s.person_id), None) or new_id("pe")
    now = ctx.now()
    before = record(existing) if existing else None
    decision = domain.decide_servant(before, details, new_servant_id=new_id("sv"),
                                     person_id=existing.person_id if existing and existing.person_id else person_id,
                                     digest_key=ctx.digest_key, today=ctx.today(now), request_id=request_id)
    servant = await repo.save_servant(existing, decision.servant, person_id=person_id)
    if decision.joined is not None:  # a new servant, or one coming back after leaving
        repo.add_life_event(servant_id=servant.servant_id, kind="joined", institution_id=servant.institution_id,
                            on=decision.joined, recorded_at=now, request_id=request_id)
    elif before is not None and before.joined_on != decision.servant.joined_on and before.left_on is None:
        await repo.correct_joining(servant.servant_id, decision.servant.joined_on)
    return Done(servant, decision.events, decision.created)


async def erase_servant(uow: UnitOfWork, ctx: EnrollmentContext, servant_id: str, *,
                        acting_for: str | None) -> Done[Servant]:
    repo = repository(uow)
    servant = await find_servant(repo, servant_id, acting_for)
    decision = domain.decide_erasure(record(servant))
    await repo.erase_servant(servant, at=ctx.now())
    return Done(servant, decision.events)


# ------------------------------------------------------------------ transfers


async def _complete(repo: EnrollmentRepository, servant: Servant, transfer: Transfer, *, approved_by: str,
                    now: datetime, today: date) -> list[Event]:
    asked = transfer_terms(transfer)
    # Asked only of whoever completes a transfer (the joining institution or the comptroller), never
    # of the institution asking: a person is one servant per institution.
    if servant.curp:
        domain.check_joining(asked, await repo.servant_in(servant.curp, transfer.to_institution_id))
    moved, event = domain.decide_transfer(record(servant), asked, approved_by=approved_by, approved_at=now,
                                          today=today)
    await repo.complete_transfer(transfer, servant, moved, by=approved_by, at=now)
    repo.add_life_event(servant_id=servant.servant_id, kind="transferred", institution_id=transfer.to_institution_id,
                        on=transfer.effective_on, recorded_at=now, recorded_by=approved_by)
    return [event]


async def request_transfer(uow: UnitOfWork, ctx: EnrollmentContext, servant_id: str, *, to_institution_id: str,
                           effective_on: date | None, acting_for: str | None, requested_by: str,
                           reason: str | None = None, request_id: str | None = None) -> Done[Transfer]:
    """Ask for a servant to move (from ``effective_on``, today when None). The comptroller's request takes
    effect at once; a liaison may ask only for its own servants (the institution they leave), and the
    joining institution's liaison accepts it."""
    repo = repository(uow)
    now = ctx.now()
    today = ctx.today(now)
    servant = await find_servant(repo, servant_id, acting_for)  # another institution's servant is "unknown"
    await repo.lock_servant(servant_id)
    await require_institution(repo, to_institution_id, "to_institution_id")
    asked = domain.TransferTerms(new_id("tr"), servant_id, servant.institution_id, to_institution_id,
                                 effective_on or today, requested_by)
    opened = domain.open_transfer(record(servant), asked, pending=await repo.pending_transfer(servant_id),
                                  today=today, requested_at=now, request_id=request_id)
    transfer = await repo.add_transfer(asked, requested_at=now, reason=reason)
    if acting_for is None:
        events = await _complete(repo, servant, transfer, approved_by=requested_by, now=now, today=today)
    else:  # the joining institution learns from this fact which transfer it is asked to answer
        events = [opened]
    return Done(transfer, events)


async def answer_transfer(uow: UnitOfWork, ctx: EnrollmentContext, transfer_id: str, *, accept: bool,
                          acting_for: str | None, answered_by: str, request_id: str | None = None) -> Done[Transfer]:
    """Accept (the joining institution or the comptroller) or decline (either institution, or the
    comptroller) a requested transfer."""
    repo = repository(uow)
    now = ctx.now()
    transfer = await find_transfer(repo, transfer_id, acting_for)
    await repo.lock_servant(transfer.servant_id)
    await repo.reload(transfer)
    domain.check_answerable(transfer.status)
    asked = transfer_terms(transfer)
    if not accept:
        dropped = domain.decline_transfer(asked, declined_by=answered_by, declined_at=now, request_id=request_id)
        await repo.decline_transfer(transfer, by=answered_by, at=now)
        return Done(transfer, [dropped])
    domain.check_may_accept(acting_for, asked)
    servant = await repo.servant(transfer.servant_id, fresh=True)
    events = await _complete(repo, servant, transfer, approved_by=answered_by, now=now, today=ctx.today(now))
    return Done(transfer, events)


# ------------------------------------------------------------------ enrolments


async def enrol(uow: UnitOfWork, ctx: EnrollmentContext, *, session_id: str, servant_id: str | None = None,
                curp: str | None = None, acting_for: str | None, request_id: str | None = None,
                channel: str = "http") -> Enrolled:
    """Seat a servant in a session, or waitlist them when it is full (counted per ``channel``)."""
    try:
        enrolled = await _enrol(repository(uow), ctx, session_id=session_id, servant_id=servant_id,
                                curp=curp, acting_for=acting_for, request_id=request_id)
    except RuleViolation:
        ENROLMENT_DECISIONS.labels(channel, "rejected").inc()
        raise
    ENROLMENT_DECISIONS.labels(channel, enrolled.enrolment.status).inc()
    return enrolled


async def _enrol(repo: EnrollmentRepository, ctx: EnrollmentContext, *, session_id: str, servant_id: str | None,
                 curp: str | None, acting_for: str | None, request_id: str | None) -> Enrolled:
    servant_id = await resolve_servant_id(repo, servant_id=servant_id, curp=curp, acting_for=acting_for)
    # Row locks: the servant's first, then the session's (the same order everywhere, so two requests
    # never wait on each other in a cycle). The servant's lock makes one person's overlap checks
    # happen one at a time.
    if not await repo.lock_servant(servant_id):
        raise RuleViolation("servant_id", f"unknown servant {servant_id!r}", "not_found")
    session = await repo.lock_session_terms(session_id)
    if session is None:
        raise RuleViolation("session_id", f"unknown session {session_id!r}")
    check = await repo.seat_check(session, servant_id)
    if check.institution_id is None or (acting_for is not None and check.institution_id != acting_for):
        raise RuleViolation("servant_id", f"unknown servant {servant_id!r}", "not_found")
    if check.erased:
        raise RuleViolation("servant_id", "this servant's personal data was erased; register them again to enrol",
                            "conflict")
    domain.check_still_serving(servant_id, check.left_on, check.institution_id, ctx.today(session.starts_at))
    decision = domain.decide_enrolment(session, servant_id, check.institution_id, check.occupancy,
                                       check.commitments, enrolment_id=new_id("en"), request_id=request_id)
    enrolment = await repo.add_enrolment(
        enrolment_id=decision.events[0].enrolment_id, session_id=session_id, servant_id=servant_id,
        institution_id=check.institution_id, status=decision.status, request_id=request_id, enrolled_at=ctx.now())
    return Enrolled(enrolment, decision.position, decision.events)


async def cancel_enrolment(uow: UnitOfWork, ctx: EnrollmentContext, enrolment_id: str, *, reason: str | None,
                           acting_for: str | None) -> Cancelled:
    """Cancel an enrolment; the enrolments promoted from the waitlist take its seat."""
    repo = repository(uow)
    enrolment = await find_enrolment(repo, enrolment_id, acting_for)
    session = await _locked_session(repo, enrolment.session_id)
    await repo.reload(enrolment)
    seats = await repo.active_seats(session.session_id)
    if enrolment.status == "cancelled":
        seats.append(enrolment)
    decision = domain.decide_cancellation(terms(session), [seat(s) for s in seats], enrolment_id, reason)
    by_id = {s.enrolment_id: s for s in seats}
    promoted = [by_id[p.enrolment_id] for p in decision.promoted]
    await repo.cancel_enrolment(enrolment, promoted, at=ctx.now(), reason=reason)
    return Cancelled(enrolment, promoted, decision.events)


# ------------------------------------------------------------------ bulk import


@dataclass(frozen=True)
class ImportLine:
    """One line of an HR export: blank cells are None, the others stripped (the CURP and sex as given,
    so that a refusal quotes them as the file has them)."""

    institution_id: str | None = None
    name: str | None = None
    curp: str | None = None
    email: str | None = None
    sex: str | None = None
    position: str | None = None
    position_level: str | None = None
    session_id: str | None = None
    joined_on: str | None = None  # as the file has it (YYYY-MM-DD or DD/MM/YYYY)


@dataclass
class Imported:
    servant_id: str
    servant: str  # registered, updated or existing
    events: list[Event] = field(default_factory=list)
    enrolled: Enrolled | None = None


def institution_for(acting_for: str | None, given: str | None) -> str:
    """The institution a registration names: a liaison's own when it names none."""
    if given:
        return given
    if acting_for:
        return acting_for
    raise RuleViolation("institution_id", "required")


async def import_line(uow: UnitOfWork, ctx: EnrollmentContext, line: ImportLine, *,
                      acting_for: str | None) -> Imported:
    """Register (or update) the person, and enrol them when the line names a session. A line with only
    a CURP and a session enrols a servant already registered."""
    if not (line.curp or "").strip():
        raise RuleViolation("curp", "missing")
    curp = domain.validate_curp(line.curp)
    enrol_only = not line.name and line.session_id
    if not line.name and not enrol_only:
        raise RuleViolation("name", "missing")
    if enrol_only:
        servant_id = await resolve_servant_id(repository(uow), servant_id=None, curp=curp,
                                              acting_for=acting_for)
        imported = Imported(servant_id, "existing")
    else:
        details = ServantDetails(institution_id=institution_for(acting_for, line.institution_id), name=line.name or "",
                                 curp=curp, sex=domain.parse_sex(line.sex, curp), email=line.email,
                                 position=line.position, position_level=line.position_level,
                                 joined_on=domain.parse_day(line.joined_on, "joined_on") if line.joined_on else None)
        registered = await register_servant(uow, ctx, details, acting_for=acting_for)
        imported = Imported(registered.row.servant_id, "registered" if registered.created else "updated",
                            list(registered.events))
    if line.session_id:
        imported.enrolled = await enrol(uow, ctx, session_id=line.session_id, servant_id=imported.servant_id,
                                        acting_for=acting_for, channel="import")
        imported.events += imported.enrolled.events
    return imported


# ------------------------------------------------------------------ agency requests

# A request decided: what it led to, and the events recording it.
Decided = tuple[RequestOutcome, list[Event]]


async def _servant_submitted(uow: UnitOfWork, ctx: EnrollmentContext, request: ServantSubmitted) -> Decided:
    details = ServantDetails(institution_id=request.institution_id, name=request.name, curp=request.curp,
                             sex=request.sex, email=request.email, position=request.position,
                             position_level=request.position_level, joined_on=request.joined_on)
    done = await register_servant(uow, ctx, details, acting_for=request.institution_id, request_id=request.request_id)
    return RequestOutcome((ServantRegistered if done.created else ServantUpdated).type, done.row.servant_id), done.events


async def _enrolment_requested(uow: UnitOfWork, ctx: EnrollmentContext, request: EnrolmentRequested) -> Decided:
    try:
        await require_institution(repository(uow), request.institution_id)
    except RuleViolation:
        ENROLMENT_DECISIONS.labels("agency", "rejected").inc()
        raise
    enrolled = await enrol(uow, ctx, session_id=request.session_id, servant_id=request.servant_id, curp=request.curp,
                           acting_for=request.institution_id, request_id=request.request_id, channel="agency")
    confirmed = enrolled.enrolment.status == "confirmed"
    return (RequestOutcome((EnrolmentConfirmed if confirmed else EnrolmentWaitlisted).type,
                           enrolled.enrolment.enrolment_id), enrolled.events)


# Transfers: an agency acts as its institution's liaison would, through the same handlers, so a
# servant or transfer of another institution is "unknown" in the very words of the HTTP 404.
async def _transfer_requested(uow: UnitOfWork, ctx: EnrollmentContext, request: TransferRequested) -> Decided:
    done = await request_transfer(uow, ctx, request.servant_id, to_institution_id=request.to_institution_id,
                                  effective_on=request.effective_on, acting_for=request.institution_id,
                                  requested_by=f"agency:{request.institution_id}", reason=request.reason,
                                  request_id=request.request_id)
    return RequestOutcome(TransferOpened.type, done.row.transfer_id), done.events


async def _transfer_answered(uow: UnitOfWork, ctx: EnrollmentContext,
                             request: TransferAccepted | TransferDeclined) -> Decided:
    accept = isinstance(request, TransferAccepted)
    done = await answer_transfer(uow, ctx, request.transfer_id, accept=accept, acting_for=request.institution_id,
                                 answered_by=f"agency:{request.institution_id}", request_id=request.request_id)
    return RequestOutcome((ServantTransferred if accept else TransferDropped).type, done.row.transfer_id), done.events


async def _departure_reported(uow: UnitOfWork, ctx: EnrollmentContext, request: DepartureReported) -> Decided:
    done = await record_departure(uow, ctx, servant_id=request.servant_id, curp=request.curp, left_on=request.left_on,
                                  reason=request.reason, acting_for=request.institution_id,
                                  recorded_by=f"agency:{request.institution_id}", request_id=request.request_id)
    return RequestOutcome(ServantLeft.type, done.row.servant_id), done.events


_AGENCY_REQUESTS: dict[type, Callable[..., Awaitable[Decided]]] = {
    ServantSubmitted: _servant_submitted, EnrolmentRequested: _enrolment_requested,
    TransferRequested: _transfer_requested, TransferAccepted: _transfer_answered, TransferDeclined: _transfer_answered,
    DepartureReported: _departure_reported,
}
AGENCY_REQUEST_TYPES = tuple(kind.type for kind in _AGENCY_REQUESTS)


def _rejected(request: Event, violation: RuleViolation) -> Decided:
    log.info("agency request rejected", request_id=getattr(request, "request_id"), field=violation.field,
             reason=violation.message)
    AGENCY_REJECTIONS.labels(request.type.split(".")[2], violation.field or "none").inc()
    outcome, rejection = domain.reject_request(request, violation)
    return outcome, [rejection]


async def decide_agency_request(uow: UnitOfWork, ctx: EnrollmentContext, request: Event, *,
                                topic_institution: str | None = None) -> list[Event]:
    """Decide an agency request once per institution and request id, whatever its event id.

    A request that breaks a rule is answered with RequestRejected (and remembered as decided); one sent
    again gets no second decision and no event; a request id reused for other content is refused with
    RequestRejected, field request_id, and nothing is remembered. ``topic_institution`` is the
    institution of the topic the request came on (secure mode): a request naming another raises
    RuleViolation, a broken message rather than an answer. Each answer is also written as
    AgencyRequestDecided for the agency's outcome topic (``ctx.outcome_topics``, see ``_answer``).
    """
    domain.check_request_topic(request, topic_institution)
    institution_id, request_id = getattr(request, "institution_id"), getattr(request, "request_id")
    repo = repository(uow)
    digest = domain.request_digest(request, ctx.digest_key)
    decided = await repo.decided_agency_request(institution_id, request_id)
    try:
        repeat = domain.is_repeat(decided, digest)
    except RuleViolation as violation:  # the request id names another request: refuse, remember nothing
        outcome, events = _rejected(request, violation)
        return events + await _answer(uow, ctx, request, outcome, topic_institution)
    if repeat:
        log.info("agency request already decided", request_id=request_id, institution_id=institution_id,
                 outcome=decided.outcome, outcome_id=decided.outcome_id, decided_at=decided.decided_at.isoformat())
        return []
    try:
        outcome, events = await _AGENCY_REQUESTS[type(request)](uow, ctx, request)
    except RuleViolation as violation:
        outcome, events = _rejected(request, violation)
    await repo.record_agency_request(institution_id=institution_id, request_id=request_id, request_type=request.type,
                                     digest=digest, outcome=outcome.type, outcome_id=outcome.id, decided_at=ctx.now())
    return events + await _answer(uow, ctx, request, outcome, topic_institution)


async def _answer(uow: UnitOfWork, ctx: EnrollmentContext, request: Event, outcome: RequestOutcome,
                  topic_institution: str | None) -> list[Event]:
    """The decision for the agency's outcome topic. In secure mode a request on the shared topic (which
    only the comptroller's operator may write) has none; in development every request is on the shared
    topic and is answered to the institution it names, when that institution is registered (a request
    naming no real institution makes no topic)."""
    if not ctx.outcome_topics:
        return []
    institution = topic_institution
    if ctx.outcomes_to_named_institution:
        institution = getattr(request, "institution_id")
        try:
            check_institution(institution)
        except SecurityError:  # an id no topic can be named after (a ':' or '.'): no such institution either
            return []
        if await repository(uow).institution(institution) is None:
            return []
    if institution is None:
        return []
    return [domain.request_decided(request, outcome, institution)]


# ------------------------------------------------------------------ the annual training programme


async def declare_plan(uow: UnitOfWork, ctx: EnrollmentContext, *, year: int, lines: list[domain.PlanLine],
                       declared_by: str) -> Done[PlanVersion]:
    """Declare the next version of the year's programme (the whole plan; it replaces the previous one)."""
    repo = repository(uow)
    latest = await repo.latest_plan(year, lock=True)
    known = await repo.known_institutions(sorted({line.institution_id for line in lines}))
    declared = domain.decide_plan(plan_id=new_id("pl"), year=year, version=(latest.version if latest else 0) + 1,
                                  lines=lines, known_institutions=known, declared_at=ctx.now(),
                                  declared_by=declared_by)
    return Done(await repo.add_plan(declared), [declared], True)


# ------------------------------------------------------------------ leaving ("baja")


async def record_departure(uow: UnitOfWork, ctx: EnrollmentContext, *, servant_id: str | None, curp: str | None,
                           left_on: date, reason: str | None, acting_for: str | None, recorded_by: str,
                           request_id: str | None = None) -> Done[Servant]:
    """The servant left their institution from ``left_on``: their history stays, requirements stop."""
    repo = repository(uow)
    if not servant_id and not curp:
        raise RuleViolation("servant_id", "give the servant_id or the curp of the servant who left")
    servant_id = await resolve_servant_id(repo, servant_id=servant_id, curp=curp, acting_for=acting_for)
    servant = await find_servant(repo, servant_id, acting_for)  # another institution's servant is "unknown"
    await repo.lock_servant(servant_id)
    await repo.reload(servant)
    now = ctx.now()
    left, event = domain.decide_departure(record(servant), left_on=left_on, today=ctx.today(now),
                                          recorded_by=recorded_by, request_id=request_id)
    await repo.mark_left(servant, left.left_on)
    repo.add_life_event(servant_id=servant_id, kind="left", institution_id=servant.institution_id, on=left_on,
                        recorded_at=now, reason=reason, recorded_by=recorded_by, request_id=request_id)
    return Done(servant, [event])


# ------------------------------------------------------------------ training requirements and exemptions


async def declare_requirement(uow: UnitOfWork, ctx: EnrollmentContext, terms_: domain.RequirementTerms, *,
                              requirement_id: str, declared_by: str) -> Done[RequirementRow]:
    """Version 1 of a requirement, or the next version of an existing one."""
    repo = repository(uow)
    latest = await repo.latest_requirement(requirement_id, lock=True)
    course_known = terms_.course_id is not None and await repo.course(terms_.course_id) is not None
    known = await repo.known_institutions(sorted(set(terms_.institution_ids)))
    declared = domain.decide_requirement(terms_, requirement_id=requirement_id,
                                         latest=requirement_event(latest) if latest else None,
                                         course_known=course_known, known_institutions=known,
                                         digest_key=ctx.digest_key, declared_at=ctx.now(), declared_by=declared_by)
    return Done(await repo.add_requirement(declared, [p.strip() for p in terms_.positions if p.strip()]),
                [declared], declared.version == 1)


async def withdraw_requirement(uow: UnitOfWork, ctx: EnrollmentContext, requirement_id: str, *,
                               effective_from: date | None, declared_by: str) -> Done[RequirementRow]:
    repo = repository(uow)
    latest = await repo.latest_requirement(requirement_id, lock=True)
    now = ctx.now()
    withdrawn = domain.decide_requirement_withdrawal(
        requirement_event(latest) if latest else None, requirement_id=requirement_id,
        effective_from=effective_from or ctx.today(now), declared_at=now, declared_by=declared_by)
    positions = requirement_positions(latest) if latest else []
    return Done(await repo.add_requirement(withdrawn, positions), [withdrawn])


async def grant_exemption(uow: UnitOfWork, ctx: EnrollmentContext, servant_id: str, *, requirement_id: str,
                          reason: str, effective_from: date | None, until: date | None, acting_for: str | None,
                          granted_by: str) -> Done[ExemptionRow]:
    repo = repository(uow)
    await find_servant(repo, servant_id, acting_for)
    now = ctx.now()
    granted = domain.decide_exemption(
        exemption_id=new_id("ex"), servant_id=servant_id, requirement_id=requirement_id,
        requirement_known=await repo.latest_requirement(requirement_id) is not None, reason=reason,
        effective_from=effective_from or ctx.today(now), until=until, granted_by=granted_by, granted_at=now)
    return Done(await repo.add_exemption(granted), [granted], True)


async def withdraw_exemption(uow: UnitOfWork, ctx: EnrollmentContext, exemption_id: str, *,
                             withdrawn_on: date | None, acting_for: str | None, withdrawn_by: str) -> Done[ExemptionRow]:
    repo = repository(uow)
    row = await repo.exemption(exemption_id)
    if row is None:
        raise RuleViolation("exemption_id", f"unknown exemption {exemption_id!r}", "not_found")
    try:
        await find_servant(repo, row.servant_id, acting_for)
    except RuleViolation:  # another institution's servant's exemption is unknown too
        raise RuleViolation("exemption_id", f"unknown exemption {exemption_id!r}", "not_found") from None
    now = ctx.now()
    withdrawn = domain.decide_exemption_withdrawal(
        exemption_id=exemption_id, requirement_id=row.requirement_id, servant_id=row.servant_id,
        effective_from=row.effective_from, withdrawn_already=row.withdrawn_on,
        withdrawn_on=withdrawn_on or ctx.today(now), withdrawn_by=withdrawn_by)
    await repo.withdraw_exemption(row, on=withdrawn.withdrawn_on, by=withdrawn_by, at=now)
    return Done(row, [withdrawn])


# ------------------------------------------------------------------ completions (certification's facts)


async def certificate_issued(uow: UnitOfWork, ctx: EnrollmentContext, event: CertificateIssued,
                             at: datetime) -> None:
    await repository(uow).record_completion(
        f"certificate:{event.certificate_id}", servant_id=event.servant_id, course_id=event.course_id,
        competency=None, completed_on=event.issued_on, valid_until=event.valid_until, recorded_at=at,
        verification_code=event.verification_code, hours=event.hours, issuing_authority=event.issuing_authority,
        session_id=event.session_id)


async def certificate_revoked(uow: UnitOfWork, ctx: EnrollmentContext, event: CertificateRevoked,
                              at: datetime) -> None:
    """Kept as recorded on its day, with how it applies in valid time (void, or from a date): the compliance
    rule reads both (``contracts.compliance.revoked_from``)."""
    await repository(uow).revoke_completion(
        f"certificate:{event.certificate_id}", servant_id=event.servant_id, course_id=event.course_id,
        revoked_on=ctx.today(at), revoked_at=at, applies=event.applies, effective_on=event.effective_on,
        session_id=event.session_id)


async def competency_attained(uow: UnitOfWork, ctx: EnrollmentContext, event: CompetencyAttained,
                              at: datetime) -> None:
    """Kept with the certificates it lists: it counts only while each of them does
    (``contracts.compliance.attainment_revoked_on``), whichever of the attainment and a revocation came first."""
    await repository(uow).record_completion(
        f"competency:{event.servant_id}:{event.competency}:{event.attained_on.isoformat()}"[:400],
        servant_id=event.servant_id, course_id=None, competency=event.competency, completed_on=event.attained_on,
        valid_until=None, recorded_at=at, certificate_ids=event.certificate_ids)

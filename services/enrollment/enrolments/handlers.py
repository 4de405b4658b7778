"""Handlers of enrolments and the bulk import: load through the repository, ask the domain, save, and return the
events."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime

from contracts.base import Event
from probidad.shared.errors import RuleViolation
from probidad.shared.logs import get_logger
from probidad.shared.unit_of_work import UnitOfWork

from services.enrollment.context import EnrollmentContext, new_id
from services.enrollment.enrolments.domain import check_still_serving, decide_cancellation, decide_enrolment
from services.enrollment.enrolments.ports import Enrolment, EnrolmentsRepository
from services.enrollment.enrolments.rows import seat
from services.enrollment.metrics import ENROLMENT_DECISIONS
from services.enrollment.servants.domain import ServantDetails
from services.enrollment.servants.domain.curp import parse_sex, validate_curp
from services.enrollment.servants.domain.files import parse_day
from services.enrollment.servants.handlers import institution_for, register_servant, resolve_servant_id
from services.enrollment.sessions.handlers import locked_session
from services.enrollment.sessions.rows import terms

log = get_logger(__name__)


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


async def find_enrolment(repo: EnrolmentsRepository, enrolment_id: str, acting_for: str | None) -> Enrolment:
    found = await repo.enrolment(enrolment_id)
    if found is None or (acting_for is not None and found.institution_id != acting_for):
        raise RuleViolation("enrolment_id", f"unknown enrolment {enrolment_id!r}", "not_found")
    return found


# ------------------------------------------------------------------ enrolments


async def enrol(repo: EnrolmentsRepository, ctx: EnrollmentContext, *, session_id: str, servant_id: str | None = None,
                curp: str | None = None, acting_for: str | None, request_id: str | None = None,
                channel: str = "http", now: datetime) -> Enrolled:
    """Seat a servant in a session, or waitlist them when it is full (counted per ``channel``)."""
    try:
        enrolled = await _enrol(repo, ctx, session_id=session_id, servant_id=servant_id,
                                curp=curp, acting_for=acting_for, request_id=request_id, now=now)
    except RuleViolation:
        ENROLMENT_DECISIONS.labels(channel, "rejected").inc()
        raise
    ENROLMENT_DECISIONS.labels(channel, enrolled.enrolment.status).inc()
    return enrolled


async def _enrol(repo: EnrolmentsRepository, ctx: EnrollmentContext, *, session_id: str, servant_id: str | None,
                 curp: str | None, acting_for: str | None, request_id: str | None, now: datetime) -> Enrolled:
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
    check_still_serving(servant_id, check.left_on, check.institution_id, ctx.today(session.starts_at))
    enrolment_id = new_id("en", institution_id=acting_for, request_id=request_id)
    decision = decide_enrolment(session, servant_id, check.institution_id, check.occupancy,
                                       check.commitments, enrolment_id=enrolment_id, request_id=request_id)
    enrolment = await repo.add_enrolment(
        enrolment_id=decision.events[0].enrolment_id, session_id=session_id, servant_id=servant_id,
        institution_id=check.institution_id, status=decision.status, request_id=request_id, enrolled_at=now)
    return Enrolled(enrolment, decision.position, decision.events)


async def cancel_enrolment(repo: EnrolmentsRepository, ctx: EnrollmentContext, enrolment_id: str, *, reason: str | None,
                           acting_for: str | None, now: datetime) -> Cancelled:
    """Cancel an enrolment; the enrolments promoted from the waitlist take its seat."""
    enrolment = await find_enrolment(repo, enrolment_id, acting_for)
    session = await locked_session(repo, enrolment.session_id)
    await repo.reload(enrolment)
    seats = await repo.active_seats(session.session_id)
    if enrolment.status == "cancelled":
        seats.append(enrolment)
    decision = decide_cancellation(terms(session), [seat(s) for s in seats], enrolment_id, reason)
    by_id = {s.enrolment_id: s for s in seats}
    promoted = [by_id[p.enrolment_id] for p in decision.promoted]
    await repo.cancel_enrolment(enrolment, promoted, at=now, reason=reason)
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


async def import_line(repo: EnrolmentsRepository, ctx: EnrollmentContext, line: ImportLine, *,
                      acting_for: str | None, now: datetime) -> Imported:
    """Register (or update) the person, and enrol them when the line names a session. A line with only
    a CURP and a session enrols a servant already registered."""
    if not (line.curp or "").strip():
        raise RuleViolation("curp", "missing")
    curp = validate_curp(line.curp)
    enrol_only = not line.name and line.session_id
    if not line.name and not enrol_only:
        raise RuleViolation("name", "missing")
    if enrol_only:
        servant_id = await resolve_servant_id(repo, servant_id=None, curp=curp,
                                              acting_for=acting_for)
        imported = Imported(servant_id, "existing")
    else:
        details = ServantDetails(institution_id=institution_for(acting_for, line.institution_id), name=line.name or "",
                                 curp=curp, sex=parse_sex(line.sex, curp), email=line.email,
                                 position=line.position, position_level=line.position_level,
                                 joined_on=parse_day(line.joined_on, "joined_on") if line.joined_on else None)
        registered = await register_servant(repo, ctx, details, acting_for=acting_for, now=now)
        imported = Imported(registered.row.servant_id, "registered" if registered.created else "updated",
                            list(registered.events))
    if line.session_id:
        imported.enrolled = await enrol(repo, ctx, session_id=line.session_id, servant_id=imported.servant_id,
                                        acting_for=acting_for, channel="import", now=now)
        imported.events += imported.enrolled.events
    return imported




# A unit of work of its own for each line: one line's refusal leaves the others standing.
ImportUnit = Callable[[], AbstractAsyncContextManager[tuple[EnrolmentsRepository, UnitOfWork]]]


async def import_lines(unit: ImportUnit, ctx: EnrollmentContext, lines: Sequence[tuple[int, ImportLine]], *,
                       acting_for: str | None, now: datetime) -> list[tuple[int, Imported | RuleViolation]]:
    """Import the lines of an HR export, each in its own unit of work (recording its events): what each
    line led to, or the rule it broke."""
    outcomes: list[tuple[int, Imported | RuleViolation]] = []
    for number, line in lines:
        try:
            async with unit() as (repo, uow):
                imported = await import_line(repo, ctx, line, acting_for=acting_for, now=now)
                uow.record(imported.events)
        except RuleViolation as violation:
            outcomes.append((number, violation))
            continue
        outcomes.append((number, imported))
    return outcomes

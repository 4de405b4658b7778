"""Application handlers: load state, ask the domain, save state, put the recorded events in the outbox.

Every handler runs inside the caller's unit of work (``db`` is the database session; "session" in this
service means a training session). HTTP routes, the bulk import and the agency-request subscribers
all go through these same functions, so the rules hold whichever way a request arrives.

``acting_for`` is the institution a caller is confined to (a liaison's, or the agency's that sent a
request); ``None`` means the comptroller, who may act for any institution.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, insert, select, text, update

from contracts.events import (
    CoursePublished, GovernmentLevel, InstitutionRegistered, Modality, SessionScheduled, TransferDropped, TransferOpened,
)
from probidad.shared.outbox import Outbox
from services.enrollment import domain
from services.enrollment.domain import RuleViolation, Seat, ServantDetails, ServantRecord, SessionTerms
from services.enrollment.tables import (
    AgencyRequest, Course, Enrolment, Headcount, Institution, Servant, TrainingSession, Transfer,
)

ACTIVE = ("confirmed", "waitlisted")


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:20]}"


def _emit(db, outbox: Outbox, events, correlation_id: str | None) -> None:  # noqa: ANN001
    for event in events:
        outbox.add(db, event, correlation_id=correlation_id)


def _confine(acting_for: str | None, institution_id: str, field: str = "institution_id") -> None:
    if acting_for is not None and acting_for != institution_id:
        raise RuleViolation(field, f"you act for institution {acting_for} only", "forbidden")


# ------------------------------------------------------------------ institutions


async def register_institution(db, outbox: Outbox, *, institution_id: str, name: str,  # noqa: ANN001
                               government_level: GovernmentLevel, municipality: str | None, headcount: int,
                               headcount_year: int, correlation_id: str | None = None) -> tuple[Institution, bool]:
    """Register an institution, or restate it (a new year's headcount supersedes nothing older)."""
    level = GovernmentLevel(government_level)
    if level is GovernmentLevel.municipal and not (municipality or "").strip():
        raise RuleViolation("municipality", "a municipal institution needs its municipality")
    institution = await db.get(Institution, institution_id)
    created = institution is None
    if created:
        institution = Institution(institution_id=institution_id, name=name, government_level=level.value,
                                  municipality=municipality)
        db.add(institution)
    else:
        institution.name, institution.government_level, institution.municipality = name, level.value, municipality
    year = await db.get(Headcount, (institution_id, headcount_year))
    if year is None:
        db.add(Headcount(institution_id=institution_id, year=headcount_year, headcount=headcount))
    else:
        year.headcount = headcount
    _emit(db, outbox, [InstitutionRegistered(
        institution_id=institution_id, name=name, government_level=level, municipality=municipality,
        headcount=headcount, headcount_year=headcount_year)], correlation_id)
    await db.flush()
    return institution, created


async def headcounts(db, institution_id: str) -> dict[int, int]:  # noqa: ANN001
    rows = await db.execute(select(Headcount).where(Headcount.institution_id == institution_id))
    return {h.year: h.headcount for h in rows.scalars()}


async def require_institution(db, institution_id: str, field: str = "institution_id",  # noqa: ANN001
                              kind: domain.Kind = "invalid") -> Institution:
    institution = await db.get(Institution, institution_id)
    if institution is None:
        raise RuleViolation(field, f"unknown institution {institution_id!r}", kind)
    return institution


# ------------------------------------------------------------------ courses


async def publish_course(db, outbox: Outbox, *, course_id: str, code: str, title: str, topic: str,  # noqa: ANN001
                         competency: str | None, hours: float, minimum_attendance_share: float,
                         passing_score: float | None, correlation_id: str | None = None) -> tuple[Course, bool]:
    """Publish a course, or re-publish it with new terms (its code stays unique in the catalogue)."""
    clash = (await db.execute(select(Course.course_id).where(Course.code == code, Course.course_id != course_id))).first()
    if clash:
        raise RuleViolation("code", f"course {clash[0]} already uses code {code!r}", "conflict")
    if minimum_attendance_share <= 0:
        raise RuleViolation("minimum_attendance_share", "must be above 0 (0.8 = 80 % of the session)")
    course = await db.get(Course, course_id)
    created = course is None
    values = dict(code=code, title=title, topic=topic, competency=competency, hours=hours,
                  minimum_attendance_share=minimum_attendance_share, passing_score=passing_score)
    if created:
        course = Course(course_id=course_id, **values)
        db.add(course)
    else:
        for name, value in values.items():
            setattr(course, name, value)
    _emit(db, outbox, [CoursePublished(course_id=course_id, **values)], correlation_id)
    await db.flush()
    return course, created


# ------------------------------------------------------------------ sessions


def terms(session: TrainingSession) -> SessionTerms:
    return SessionTerms(session.session_id, session.starts_at, session.ends_at, session.capacity,
                        session.cancelled_at is not None)


def local_times(session: TrainingSession) -> tuple[datetime, datetime]:
    tz = ZoneInfo(session.timezone)
    return session.starts_at.astimezone(tz), session.ends_at.astimezone(tz)


async def schedule_session(db, outbox: Outbox, *, session_id: str, course_id: str, modality: Modality,  # noqa: ANN001
                           platform: str | None, venue: str | None, starts_at: datetime, ends_at: datetime,
                           timezone: str, capacity: int, instructor_id: str | None, organising_unit: str | None,
                           correlation_id: str | None = None) -> TrainingSession:
    if await db.get(TrainingSession, session_id) is not None:
        raise RuleViolation("session_id", f"session {session_id!r} already exists", "conflict")
    if await db.get(Course, course_id) is None:
        raise RuleViolation("course_id", f"unknown course {course_id!r}")
    domain.check_delivery(modality, platform, venue)
    start, end = domain.session_times(starts_at, ends_at, timezone)
    session = TrainingSession(session_id=session_id, course_id=course_id, modality=Modality(modality).value,
                              platform=platform, venue=venue, starts_at=start, ends_at=end, timezone=timezone,
                              capacity=capacity, instructor_id=instructor_id, organising_unit=organising_unit)
    db.add(session)
    _emit(db, outbox, [SessionScheduled(
        session_id=session_id, course_id=course_id, modality=modality, platform=platform, venue=venue,
        starts_at=start, ends_at=end, timezone=timezone, capacity=capacity, instructor_id=instructor_id,
        organising_unit=organising_unit)], correlation_id)
    await db.flush()
    return session


async def _lock_session(db, session_id: str, field: str, kind: domain.Kind) -> TrainingSession:  # noqa: ANN001
    # Taking the row lock first serialises everything that changes this session's seats.
    await db.execute(update(TrainingSession).where(TrainingSession.session_id == session_id)
                     .values(revision=TrainingSession.revision + 1).execution_options(synchronize_session=False))
    session = await db.get(TrainingSession, session_id, populate_existing=True)
    if session is None:
        raise RuleViolation(field, f"unknown session {session_id!r}", kind)
    return session


async def reschedule_session(db, outbox: Outbox, session_id: str, *, starts_at: datetime, ends_at: datetime,  # noqa: ANN001
                             timezone: str | None, venue: str | None, reason: str | None,
                             correlation_id: str | None = None) -> TrainingSession:
    session = await _lock_session(db, session_id, "session_id", "not_found")
    timezone = timezone or session.timezone
    venue = venue if venue is not None else session.venue
    events = domain.decide_reschedule(terms(session), starts_at, ends_at, timezone, venue, reason)
    session.starts_at, session.ends_at = events[0].starts_at, events[0].ends_at
    session.timezone, session.venue = timezone, venue
    _emit(db, outbox, events, correlation_id)
    await db.flush()
    return session


async def cancel_session(db, outbox: Outbox, session_id: str, *, reason: str | None, now: datetime,  # noqa: ANN001
                         correlation_id: str | None = None) -> TrainingSession:
    session = await _lock_session(db, session_id, "session_id", "not_found")
    events = domain.decide_session_cancellation(terms(session), reason)
    session.cancelled_at, session.cancellation_reason = now, reason
    _emit(db, outbox, events, correlation_id)
    await db.flush()
    return session


# ------------------------------------------------------------------ servants


def record(servant: Servant) -> ServantRecord:
    return ServantRecord(servant.servant_id, servant.institution_id, domain.Sex(servant.sex), servant.position_level,
                         servant.name, servant.curp, servant.email, servant.position, servant.erased_at is not None)


async def register_servant(db, outbox: Outbox, details: ServantDetails, *, digest_key: str,  # noqa: ANN001
                           acting_for: str | None, request_id: str | None = None,
                           correlation_id: str | None = None) -> tuple[Servant, bool]:
    """Register a person in an institution under a new pseudonymous id, or update the servant that
    institution already has under the CURP. Another institution's servant with the CURP is never
    touched, nor looked at beyond the person id they share (see ``domain.decide_servant``)."""
    _confine(acting_for, details.institution_id)
    await require_institution(db, details.institution_id)
    curp = domain.validate_curp(details.curp)
    # Two transactions registering the same new CURP at once would both insert; one waits here instead.
    # (The unique index on institution and CURP refuses any late twin from another process on SQLite.)
    await _hold(db, curp)
    holders = (await db.execute(select(Servant).where(Servant.curp == curp)
                                .order_by(Servant.registered_at, Servant.servant_id))).scalars().all()
    existing = next((s for s in holders if s.institution_id == details.institution_id), None)
    person_id = next((s.person_id for s in holders if s.person_id), None) or new_id("pe")
    decision = domain.decide_servant(record(existing) if existing else None, details, new_servant_id=new_id("sv"),
                                     person_id=existing.person_id if existing and existing.person_id else person_id,
                                     digest_key=digest_key, request_id=request_id)
    new = decision.servant
    servant = existing or Servant(servant_id=new.servant_id, institution_id=new.institution_id, sex=new.sex.value,
                                  person_id=person_id)
    servant.institution_id, servant.sex, servant.position_level = new.institution_id, new.sex.value, new.position_level
    servant.name, servant.curp, servant.email, servant.position = new.name, new.curp, new.email, new.position
    if decision.created:
        db.add(servant)
    _emit(db, outbox, decision.events, correlation_id)
    await db.flush()
    return servant, decision.created


async def find_servant(db, servant_id: str, acting_for: str | None, field: str = "servant_id",  # noqa: ANN001
                       kind: domain.Kind = "not_found") -> Servant:
    """The servant, as long as the caller may see them (another institution's servant is "unknown")."""
    servant = await db.get(Servant, servant_id)
    if servant is None or (acting_for is not None and servant.institution_id != acting_for):
        raise RuleViolation(field, f"unknown servant {servant_id!r}", kind)
    return servant


async def erase_servant(db, outbox: Outbox, servant_id: str, *, acting_for: str | None, now: datetime,  # noqa: ANN001
                        correlation_id: str | None = None) -> Servant:
    servant = await find_servant(db, servant_id, acting_for)
    decision = domain.decide_erasure(record(servant))
    servant.name = servant.curp = servant.email = servant.position = None
    servant.erased_at = now
    _emit(db, outbox, decision.events, correlation_id)
    await db.flush()
    return servant


# ------------------------------------------------------------------ transfers


def _terms(transfer: Transfer) -> domain.TransferTerms:
    return domain.TransferTerms(transfer.transfer_id, transfer.servant_id, transfer.from_institution_id,
                                transfer.to_institution_id, transfer.effective_on, transfer.requested_by)


async def _complete(db, outbox: Outbox, servant: Servant, transfer: Transfer, *, approved_by: str,  # noqa: ANN001
                    now: datetime, today: date, correlation_id: str | None) -> None:
    # Asked only of whoever completes a transfer (the joining institution or the comptroller), never
    # of the institution asking: a person is one servant per institution.
    if servant.curp:
        twin = (await db.execute(select(Servant.servant_id).where(
            Servant.curp == servant.curp, Servant.institution_id == transfer.to_institution_id))).first()
        if twin is not None:
            raise RuleViolation("servant_id", f"institution {transfer.to_institution_id} already has this person as "
                                f"servant {twin[0]}; decline this transfer (their record stays with "
                                f"{transfer.from_institution_id})", "conflict")
    moved, event = domain.decide_transfer(record(servant), _terms(transfer), approved_by=approved_by,
                                          approved_at=now, today=today)
    servant.institution_id = moved.institution_id
    transfer.status, transfer.decided_by, transfer.decided_at = "completed", approved_by, now
    _emit(db, outbox, [event], correlation_id)
    await db.flush()


async def request_transfer(db, outbox: Outbox, servant_id: str, *, to_institution_id: str,  # noqa: ANN001
                           effective_on: date, acting_for: str | None, requested_by: str, now: datetime,
                           today: date, reason: str | None = None, request_id: str | None = None,
                           correlation_id: str | None = None) -> Transfer:
    """Ask for a servant to move. The comptroller's request takes effect at once; a liaison may ask only
    for its own servants (the institution they leave), and the joining institution's liaison accepts it."""
    servant = await find_servant(db, servant_id, acting_for)  # another institution's servant is "unknown"
    await _lock_servant(db, servant_id)
    await require_institution(db, to_institution_id, "to_institution_id")
    domain.check_transfer(record(servant), to_institution_id, effective_on, today)
    pending = (await db.execute(select(Transfer.transfer_id).where(
        Transfer.servant_id == servant_id, Transfer.status == "requested"))).first()
    if pending is not None:
        raise RuleViolation("servant_id", f"transfer {pending[0]} of this servant is waiting for an answer", "conflict")
    transfer = Transfer(transfer_id=new_id("tr"), servant_id=servant_id, from_institution_id=servant.institution_id,
                        to_institution_id=to_institution_id, effective_on=effective_on, status="requested",
                        requested_by=requested_by, requested_at=now, reason=reason)
    db.add(transfer)
    if acting_for is None:
        await _complete(db, outbox, servant, transfer, approved_by=requested_by, now=now, today=today,
                        correlation_id=correlation_id)
    else:  # the joining institution learns from this fact which transfer it is asked to answer
        _emit(db, outbox, [TransferOpened(
            transfer_id=transfer.transfer_id, servant_id=servant_id, from_institution_id=transfer.from_institution_id,
            to_institution_id=to_institution_id, effective_on=effective_on, requested_by=requested_by,
            requested_at=now, request_id=request_id)], correlation_id)
    await db.flush()
    return transfer


async def find_transfer(db, transfer_id: str, acting_for: str | None) -> Transfer:  # noqa: ANN001
    """A transfer its caller may see: the comptroller any, a liaison those from or to its institution."""
    transfer = await db.get(Transfer, transfer_id)
    if transfer is None or (acting_for is not None and acting_for not in (transfer.from_institution_id,
                                                                         transfer.to_institution_id)):
        raise RuleViolation("transfer_id", f"unknown transfer {transfer_id!r}", "not_found")
    return transfer


async def answer_transfer(db, outbox: Outbox, transfer_id: str, *, accept: bool, acting_for: str | None,  # noqa: ANN001
                          answered_by: str, now: datetime, today: date, request_id: str | None = None,
                          correlation_id: str | None = None) -> Transfer:
    """Accept (the joining institution or the comptroller) or decline (either institution, or the
    comptroller) a requested transfer."""
    transfer = await find_transfer(db, transfer_id, acting_for)
    await _lock_servant(db, transfer.servant_id)
    await db.refresh(transfer)
    if transfer.status != "requested":
        raise RuleViolation("transfer_id", f"this transfer is already {transfer.status}", "conflict")
    if not accept:
        transfer.status, transfer.decided_by, transfer.decided_at = "declined", answered_by, now
        _emit(db, outbox, [TransferDropped(
            transfer_id=transfer.transfer_id, servant_id=transfer.servant_id,
            from_institution_id=transfer.from_institution_id, to_institution_id=transfer.to_institution_id,
            declined_by=answered_by, declined_at=now, request_id=request_id)], correlation_id)
        await db.flush()
        return transfer
    if acting_for is not None and acting_for != transfer.to_institution_id:
        raise RuleViolation("transfer_id", "only the institution the servant joins (or the comptroller) accepts a "
                            "transfer", "forbidden")
    servant = await db.get(Servant, transfer.servant_id, populate_existing=True)
    await _complete(db, outbox, servant, transfer, approved_by=answered_by, now=now, today=today,
                    correlation_id=correlation_id)
    return transfer


async def _lock_servant(db, servant_id: str) -> None:  # noqa: ANN001
    # The servant's row lock, as an enrolment takes it: a transfer and a seat decision about the same
    # person happen one after the other. SQLite's transactions of a process already take turns.
    if db.bind.dialect.name != "sqlite":
        await db.execute(_LOCK_SERVANT, {"the_servant": servant_id})


# ------------------------------------------------------------------ enrolments


@dataclass(frozen=True)
class Enrolled:
    enrolment: Enrolment
    position: int | None


def seat(enrolment: Enrolment) -> Seat:
    return Seat(enrolment.enrolment_id, enrolment.servant_id, enrolment.institution_id, enrolment.status,  # type: ignore[arg-type]
                enrolment.number or 0)


async def _seats(db, session_id: str) -> list[Enrolment]:  # noqa: ANN001
    rows = await db.execute(select(Enrolment).where(Enrolment.session_id == session_id, Enrolment.status.in_(ACTIVE))
                            .order_by(Enrolment.number))
    return list(rows.scalars())


# The seat decision is the hot path (and runs while the session is locked), so its statements are
# built once, on the tables themselves, with bound parameters: no per-request statement building, no
# ORM unit-of-work for what is a lock, a count and an insert.
_enrolments, _sessions, _servants = Enrolment.__table__, TrainingSession.__table__, Servant.__table__


def _seats_held(*condition):  # noqa: ANN001, ANN202
    return (select(func.count()).select_from(_enrolments)
            .where(_enrolments.c.session_id == bindparam("session_id"), *condition).scalar_subquery())


_LOCK_SERVANT = (update(_servants).where(_servants.c.servant_id == bindparam("the_servant"))
                 .values(revision=_servants.c.revision + 1).returning(_servants.c.servant_id))
_LOCK_SESSION = (update(_sessions).where(_sessions.c.session_id == bindparam("the_session"))
                 .values(revision=_sessions.c.revision + 1)
                 .returning(_sessions.c.session_id, _sessions.c.starts_at, _sessions.c.ends_at, _sessions.c.capacity,
                            _sessions.c.cancelled_at))
_SEAT_CHECK = select(
    select(_servants.c.institution_id).where(_servants.c.servant_id == bindparam("servant_id")).scalar_subquery(),
    select(_servants.c.erased_at).where(_servants.c.servant_id == bindparam("servant_id")).scalar_subquery(),
    _seats_held(_enrolments.c.status == "confirmed"),
    _seats_held(_enrolments.c.status == "waitlisted"),
    _seats_held(_enrolments.c.status != "cancelled", _enrolments.c.servant_id == bindparam("servant_id")),
    # the first of the servant's other active sessions that shares this one's time, if any
    select(_sessions.c.session_id).join(_enrolments, _enrolments.c.session_id == _sessions.c.session_id)
    .where(_enrolments.c.servant_id == bindparam("servant_id"), _enrolments.c.status != "cancelled",
           _sessions.c.cancelled_at.is_(None), _sessions.c.session_id != bindparam("session_id"),
           _sessions.c.starts_at < bindparam("ends_at", type_=_sessions.c.ends_at.type),
           _sessions.c.ends_at > bindparam("starts_at", type_=_sessions.c.starts_at.type))
    .limit(1).scalar_subquery(),
)


@dataclass(frozen=True)
class _SeatCheck:
    institution_id: str | None  # None: no such servant
    erased: bool
    occupancy: domain.Occupancy
    commitments: list[SessionTerms]


async def _seat_check(db, session: SessionTerms, servant_id: str) -> _SeatCheck:  # noqa: ANN001
    """The servant, how full the session is, whether the servant is in it, and the first of the servant's
    other sessions that shares its time — in one round trip."""
    institution_id, erased_at, confirmed, waitlisted, mine, clashing = (await db.execute(_SEAT_CHECK, {
        "session_id": session.session_id, "servant_id": servant_id, "starts_at": session.starts_at,
        "ends_at": session.ends_at})).one()
    commitments = []
    if clashing is not None:  # rare: load its times so the domain judges (and names) the overlap itself
        commitments.append(terms(await db.get(TrainingSession, clashing)))
    return _SeatCheck(institution_id, erased_at is not None,
                      domain.Occupancy(int(confirmed), int(waitlisted), bool(mine)), commitments)


async def resolve_servant_id(db, *, servant_id: str | None, curp: str | None, acting_for: str | None) -> str:  # noqa: ANN001
    if servant_id:
        return servant_id
    if not curp:
        raise RuleViolation("servant_id", "give the servant_id or the curp of the servant to enrol")
    curp = domain.validate_curp(curp)
    query = select(Servant.servant_id).where(Servant.curp == curp)
    if acting_for is not None:
        query = query.where(Servant.institution_id == acting_for)
    found = (await db.execute(query.order_by(Servant.servant_id))).scalars().all()
    if not found:
        raise RuleViolation("curp", "no registered servant has this CURP" +
                            (f" in institution {acting_for}" if acting_for else ""))
    if len(found) > 1:  # only the comptroller sees several: the person serves in more than one institution
        raise RuleViolation("curp", f"the CURP names servants of several institutions ({', '.join(found)}); "
                            "give the servant_id of the one to enrol", "conflict")
    return found[0]


async def enrol(db, outbox: Outbox, *, session_id: str, servant_id: str | None = None, curp: str | None = None,  # noqa: ANN001
                acting_for: str | None, request_id: str | None = None,
                correlation_id: str | None = None) -> Enrolled:
    """Seat a servant in a session, or waitlist them when it is full."""
    servant_id = await resolve_servant_id(db, servant_id=servant_id, curp=curp, acting_for=acting_for)
    if db.bind.dialect.name != "sqlite":
        # Row locks: the servant's first, then the session's (the same order everywhere, so two requests
        # never wait on each other in a cycle). The servant's lock makes one person's overlap checks
        # happen one at a time. SQLite needs only the session's UPDATE: its first write locks the database.
        if (await db.execute(_LOCK_SERVANT, {"the_servant": servant_id})).first() is None:
            raise RuleViolation("servant_id", f"unknown servant {servant_id!r}", "not_found")
    locked = (await db.execute(_LOCK_SESSION, {"the_session": session_id})).first()
    if locked is None:
        raise RuleViolation("session_id", f"unknown session {session_id!r}")
    session = SessionTerms(locked.session_id, locked.starts_at, locked.ends_at, locked.capacity,
                           locked.cancelled_at is not None)
    check = await _seat_check(db, session, servant_id)
    if check.institution_id is None or (acting_for is not None and check.institution_id != acting_for):
        raise RuleViolation("servant_id", f"unknown servant {servant_id!r}", "not_found")
    if check.erased:
        raise RuleViolation("servant_id", "this servant's personal data was erased; register them again to enrol",
                            "conflict")
    decision = domain.decide_enrolment(session, servant_id, check.institution_id, check.occupancy,
                                       check.commitments, enrolment_id=new_id("en"), request_id=request_id)
    enrolment = Enrolment(enrolment_id=decision.events[0].enrolment_id, session_id=session_id, servant_id=servant_id,
                          institution_id=check.institution_id, status=decision.status, request_id=request_id,
                          enrolled_at=utcnow())
    await db.execute(insert(_enrolments).values(
        enrolment_id=enrolment.enrolment_id, session_id=session_id, servant_id=servant_id,
        institution_id=enrolment.institution_id, status=enrolment.status, request_id=request_id,
        promoted_from_waitlist=False, enrolled_at=enrolment.enrolled_at))
    _emit(db, outbox, decision.events, correlation_id)
    return Enrolled(enrolment, decision.position)


async def find_enrolment(db, enrolment_id: str, acting_for: str | None) -> Enrolment:  # noqa: ANN001
    found = (await db.execute(select(Enrolment).where(Enrolment.enrolment_id == enrolment_id))).scalars().first()
    if found is None or (acting_for is not None and found.institution_id != acting_for):
        raise RuleViolation("enrolment_id", f"unknown enrolment {enrolment_id!r}", "not_found")
    return found


async def cancel_enrolment(db, outbox: Outbox, enrolment_id: str, *, reason: str | None, acting_for: str | None,  # noqa: ANN001
                           now: datetime, correlation_id: str | None = None) -> tuple[Enrolment, list[Enrolment]]:
    """Cancel an enrolment; returns it and the enrolments promoted from the waitlist into its seat."""
    enrolment = await find_enrolment(db, enrolment_id, acting_for)
    session = await _lock_session(db, enrolment.session_id, "session_id", "not_found")
    await db.refresh(enrolment)
    seats = await _seats(db, session.session_id)
    if enrolment.status == "cancelled":
        seats.append(enrolment)
    decision = domain.decide_cancellation(terms(session), [seat(s) for s in seats], enrolment_id, reason)
    enrolment.status, enrolment.cancelled_at, enrolment.cancellation_reason = "cancelled", now, reason
    by_id = {s.enrolment_id: s for s in seats}
    promoted = [by_id[p.enrolment_id] for p in decision.promoted]
    for moved in promoted:
        moved.status, moved.promoted_from_waitlist = "confirmed", True
    _emit(db, outbox, decision.events, correlation_id)
    await db.flush()
    return enrolment, promoted


async def waitlist_positions(db, session_ids: list[str]) -> dict[str, int]:  # noqa: ANN001
    """Place in line (1 = next) of every waitlisted enrolment of these sessions, in one query."""
    if not session_ids:
        return {}
    rows = await db.execute(select(Enrolment.enrolment_id, Enrolment.session_id)
                            .where(Enrolment.session_id.in_(session_ids), Enrolment.status == "waitlisted")
                            .order_by(Enrolment.session_id, Enrolment.number))
    positions: dict[str, int] = {}
    place: dict[str, int] = {}
    for enrolment_id, session_id in rows.all():
        place[session_id] = place.get(session_id, 0) + 1
        positions[enrolment_id] = place[session_id]
    return positions


async def waitlist_position(db, enrolment: Enrolment) -> int | None:  # noqa: ANN001
    if enrolment.status != "waitlisted":
        return None
    return (await waitlist_positions(db, [enrolment.session_id])).get(enrolment.enrolment_id)


# ------------------------------------------------------------------ agency requests


async def _hold(db, name: str) -> None:  # noqa: ANN001
    """On PostgreSQL, lock ``name`` until the transaction ends; concurrent holders of the same name wait.
    SQLite needs nothing: the transactions of a process take turns (``Database.transaction``)."""
    if db.bind.dialect.name == "postgresql":
        await db.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"), {"name": name})


async def decided_agency_request(db, institution_id: str, request_id: str) -> domain.DecidedRequest | None:  # noqa: ANN001
    """The earlier decision on this request of this institution, if any.

    On PostgreSQL the request is locked for the rest of the transaction first, so two consumers handed
    the same request at once (a rebalance, a re-send under another key) decide it one after the other:
    the second sees the first's decision. On SQLite one process applies agency requests one at a time.
    """
    await _hold(db, f"agency-request {institution_id} {request_id}")
    found = await db.get(AgencyRequest, (institution_id, request_id))
    if found is None:
        return None
    return domain.DecidedRequest(found.institution_id, found.request_id, found.request_digest, found.outcome,
                                 found.outcome_id, found.decided_at)


async def record_agency_request(db, *, institution_id: str, request_id: str, request_type: str,  # noqa: ANN001
                                digest: str, outcome: str, outcome_id: str | None) -> None:
    """Remember that this request was decided, in the transaction of the decision itself."""
    db.add(AgencyRequest(institution_id=institution_id, request_id=request_id, request_type=request_type,
                         request_digest=digest, outcome=outcome, outcome_id=outcome_id, decided_at=utcnow()))
    await db.flush()


def utcnow() -> datetime:
    return datetime.now(UTC)

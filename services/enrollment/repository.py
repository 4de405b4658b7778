"""Enrollment's storage: the only module with SQL, and where rows become the domain's records.

"Session" in this service means a training session; the database session is ``self.db``. Every
method runs in the caller's unit of work. On PostgreSQL the correctness of concurrent requests rests
on the locks taken here: a transaction-scoped advisory lock per CURP (registration) and per agency
request (one decision each), and row locks (``UPDATE … revision + 1``, i.e. ``SELECT … FOR UPDATE``)
on the servant, then the session, before any seat is decided. SQLite's transactions of a process
already take turns (``Database.transaction``), so it needs only the session's UPDATE.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, text, update

from contracts.events import (
    DueRule, ExemptionGranted, RequirementScope, TrainingPlanDeclared, TrainingRequirementDeclared,
)
from probidad.shared.unit_of_work import UnitOfWork
from services.enrollment import domain
from services.enrollment.domain import Seat, ServantRecord, SessionTerms
from services.enrollment.tables import (
    AgencyRequest, CompletionRow, Course, Enrolment, ExemptionRow, Headcount, Institution, LifeEvent, PlanVersion,
    RequirementRow, Servant, TrainingSession, Transfer,
)

ACTIVE = ("confirmed", "waitlisted")
IN_LIST = 500  # ids per IN (…) list, so none grows without bound


# ------------------------------------------------------------------ rows -> the domain's records


def record(servant: Servant) -> ServantRecord:
    return ServantRecord(servant.servant_id, servant.institution_id, domain.Sex(servant.sex), servant.position_level,
                         servant.name, servant.curp, servant.email, servant.position, servant.erased_at is not None,
                         holder_salt=servant.holder_salt,
                         joined_on=servant.joined_on, left_on=servant.left_on,
                         position_digest=servant.position_digest)


def requirement_event(row: RequirementRow) -> TrainingRequirementDeclared:
    scope = json.loads(row.scope)
    scope.pop("positions", None)
    return TrainingRequirementDeclared(
        requirement_id=row.requirement_id, version=row.version, effective_from=row.effective_from, title=row.title,
        course_id=row.course_id, competency=row.competency, scope=RequirementScope(**scope),
        due=DueRule(**json.loads(row.due)), withdrawn=row.withdrawn, declared_at=row.declared_at,
        declared_by=row.declared_by)


def requirement_positions(row: RequirementRow) -> list[str]:
    """The position titles the version was declared with (its event carries only their digests)."""
    return list(json.loads(row.scope).get("positions") or [])


def terms(session: TrainingSession) -> SessionTerms:
    return SessionTerms(session.session_id, session.starts_at, session.ends_at, session.capacity,
                        session.cancelled_at is not None)


def seat(enrolment: Enrolment) -> Seat:
    return Seat(enrolment.enrolment_id, enrolment.servant_id, enrolment.institution_id, enrolment.status,  # type: ignore[arg-type]
                enrolment.number or 0)


def transfer_terms(transfer: Transfer) -> domain.TransferTerms:
    return domain.TransferTerms(transfer.transfer_id, transfer.servant_id, transfer.from_institution_id,
                                transfer.to_institution_id, transfer.effective_on, transfer.requested_by)


def plan_lines(plan: PlanVersion) -> list[domain.PlanLine]:
    return [domain.PlanLine(f"targets.{i}", t["month"], t["institution_id"], t["topic"], t["sessions"], t["people"],
                            t["hours"]) for i, t in enumerate(json.loads(plan.targets))]

# ------------------------------------------------------------------ the seat decision's statements

# The seat decision is the hot path (and runs while the session is locked), so its statements are
# built once, on the tables themselves, with bound parameters: no per-request statement building, no
# ORM unit-of-work for what is a lock, a count and an insert.
_enrolments, _sessions, _servants = Enrolment.__table__, TrainingSession.__table__, Servant.__table__


def _seats_held(*condition):  # noqa: ANN002, ANN202 — SQL expressions
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
    select(_servants.c.left_on).where(_servants.c.servant_id == bindparam("servant_id")).scalar_subquery(),
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
class SeatCheck:
    institution_id: str | None  # None: no such servant
    erased: bool
    occupancy: domain.Occupancy
    commitments: list[SessionTerms]
    left_on: date | None = None  # the servant left their institution that day


class EnrollmentRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self.db = uow.session

    @property
    def _dialect(self) -> str:
        return self.db.bind.dialect.name

    async def hold(self, name: str) -> None:
        """On PostgreSQL, lock ``name`` until the transaction ends; concurrent holders of the same name wait.
        SQLite needs nothing: the transactions of a process take turns (``Database.transaction``)."""
        if self._dialect == "postgresql":
            await self.db.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"), {"name": name})

    # -------------------------------------------------------------- institutions

    async def institution(self, institution_id: str) -> Institution | None:
        return await self.db.get(Institution, institution_id)

    async def save_institution(self, *, institution_id: str, name: str, government_level: str,
                               municipality: str | None, headcount: int, headcount_year: int) -> tuple[Institution, bool]:
        institution = await self.db.get(Institution, institution_id)
        created = institution is None
        if institution is None:
            institution = Institution(institution_id=institution_id, name=name, government_level=government_level,
                                      municipality=municipality)
            self.db.add(institution)
        else:
            institution.name, institution.government_level, institution.municipality = name, government_level, municipality
        year = await self.db.get(Headcount, (institution_id, headcount_year))
        if year is None:
            self.db.add(Headcount(institution_id=institution_id, year=headcount_year, headcount=headcount))
        else:
            year.headcount = headcount
        await self.db.flush()
        return institution, created

    async def institutions(self) -> list[Institution]:
        return list((await self.db.execute(select(Institution).order_by(Institution.institution_id))).scalars())

    async def headcounts(self, institution_ids: Sequence[str]) -> dict[str, dict[int, int]]:
        """Declared headcount per year of each institution, a query per bounded IN list."""
        found: dict[str, dict[int, int]] = {i: {} for i in institution_ids}
        for start in range(0, len(institution_ids), IN_LIST):
            rows = await self.db.execute(select(Headcount).where(
                Headcount.institution_id.in_(institution_ids[start:start + IN_LIST])))
            for h in rows.scalars():
                found[h.institution_id][h.year] = h.headcount
        return found

    async def known_institutions(self, institution_ids: Sequence[str]) -> set[str]:
        """Those of ``institution_ids`` that are registered, a query per bounded IN list."""
        found: set[str] = set()
        for start in range(0, len(institution_ids), IN_LIST):
            rows = await self.db.execute(select(Institution.institution_id).where(
                Institution.institution_id.in_(institution_ids[start:start + IN_LIST])))
            found.update(rows.scalars())
        return found

    # -------------------------------------------------------------- the annual training programme

    async def latest_plan(self, year: int, *, lock: bool = False) -> PlanVersion | None:
        """The year's plan in force (its highest version). ``lock``: first take the year's lock until
        the transaction ends (PostgreSQL), so two declarations of a year number their versions in turn."""
        if lock:
            await self.hold(f"plan {year}")
        return (await self.db.execute(select(PlanVersion).where(PlanVersion.year == year)
                                      .order_by(PlanVersion.version.desc()).limit(1))).scalars().first()

    async def add_plan(self, declared: TrainingPlanDeclared) -> PlanVersion:
        row = PlanVersion(plan_id=declared.plan_id, year=declared.year, version=declared.version,
                          declared_at=declared.declared_at, declared_by=declared.declared_by,
                          targets=json.dumps([t.model_dump() for t in declared.targets], ensure_ascii=False))
        self.db.add(row)
        await self.db.flush()
        return row

    # -------------------------------------------------------------- courses

    async def course(self, course_id: str) -> Course | None:
        return await self.db.get(Course, course_id)

    async def course_using_code(self, code: str, other_than: str) -> str | None:
        clash = (await self.db.execute(select(Course.course_id).where(Course.code == code,
                                                                      Course.course_id != other_than))).first()
        return clash[0] if clash else None

    async def save_course(self, course_id: str, values: dict[str, Any]) -> tuple[Course, bool]:
        course = await self.db.get(Course, course_id)
        created = course is None
        if course is None:
            course = Course(course_id=course_id, **values)
            self.db.add(course)
        else:
            for name, value in values.items():
                setattr(course, name, value)
        await self.db.flush()
        return course, created

    async def courses(self) -> list[Course]:
        return list((await self.db.execute(select(Course).order_by(Course.code))).scalars())

    # -------------------------------------------------------------- sessions

    async def training_session(self, session_id: str) -> TrainingSession | None:
        return await self.db.get(TrainingSession, session_id)

    async def add_session(self, **values: Any) -> TrainingSession:
        session = TrainingSession(**values)
        self.db.add(session)
        await self.db.flush()
        return session

    async def lock_session(self, session_id: str) -> TrainingSession | None:
        # Taking the row lock first serialises everything that changes this session's seats.
        await self.db.execute(update(TrainingSession).where(TrainingSession.session_id == session_id)
                              .values(revision=TrainingSession.revision + 1)
                              .execution_options(synchronize_session=False))
        return await self.db.get(TrainingSession, session_id, populate_existing=True)

    async def reschedule_session(self, session: TrainingSession, *, starts_at: datetime, ends_at: datetime,
                                 timezone: str, venue: str | None) -> None:
        session.starts_at, session.ends_at, session.timezone, session.venue = starts_at, ends_at, timezone, venue
        await self.db.flush()

    async def cancel_session(self, session: TrainingSession, *, at: datetime, reason: str | None) -> None:
        session.cancelled_at, session.cancellation_reason = at, reason
        await self.db.flush()

    async def sessions(self, *, course_id: str | None, starting_from: datetime | None,
                       starting_before: datetime | None, instructor_id: str | None = None,
                       instructors_only: bool = False) -> list[TrainingSession]:
        query = select(TrainingSession).order_by(TrainingSession.starts_at)
        if course_id:
            query = query.where(TrainingSession.course_id == course_id)
        if starting_from:
            query = query.where(TrainingSession.starts_at >= starting_from)
        if starting_before:
            query = query.where(TrainingSession.starts_at < starting_before)
        if instructors_only:
            query = query.where(TrainingSession.instructor_id == instructor_id)
        return list((await self.db.execute(query)).scalars())

    async def seat_counts(self, session_ids: Sequence[str]) -> dict[tuple[str, str], int]:
        """(session id, status) -> enrolments, for many sessions, a query per bounded IN list."""
        counts: dict[tuple[str, str], int] = {}
        for start in range(0, len(session_ids), IN_LIST):
            rows = await self.db.execute(
                select(Enrolment.session_id, Enrolment.status, func.count())
                .where(Enrolment.session_id.in_(session_ids[start:start + IN_LIST]), Enrolment.status.in_(ACTIVE))
                .group_by(Enrolment.session_id, Enrolment.status))
            counts |= {(session_id, status): n for session_id, status, n in rows.all()}
        return counts

    async def roster(self, session_id: str) -> list[tuple[Enrolment, str | None]]:
        """The session's active enrolments in order of arrival, with the servant's name."""
        rows = await self.db.execute(
            select(Enrolment, Servant.name).join(Servant, Servant.servant_id == Enrolment.servant_id)
            .where(Enrolment.session_id == session_id, Enrolment.status.in_(ACTIVE))
            .order_by(Enrolment.number))
        return [(enrolment, name) for enrolment, name in rows.all()]

    # -------------------------------------------------------------- servants

    async def servant(self, servant_id: str, *, fresh: bool = False) -> Servant | None:
        return await self.db.get(Servant, servant_id, populate_existing=fresh)

    async def servants_with_curp(self, curp: str) -> list[Servant]:
        """Every institution's servant with this CURP, first registered first."""
        return list((await self.db.execute(select(Servant).where(Servant.curp == curp)
                                           .order_by(Servant.registered_at, Servant.servant_id))).scalars())

    async def servant_ids_with_curp(self, curp: str, institution_id: str | None = None) -> list[str]:
        query = select(Servant.servant_id).where(Servant.curp == curp)
        if institution_id is not None:
            query = query.where(Servant.institution_id == institution_id)
        return list((await self.db.execute(query.order_by(Servant.servant_id))).scalars())

    async def save_servant(self, existing: Servant | None, new: ServantRecord, *, person_id: str) -> Servant:
        servant = existing or Servant(servant_id=new.servant_id, institution_id=new.institution_id, sex=new.sex.value,
                                      person_id=person_id)
        servant.institution_id, servant.sex, servant.position_level = new.institution_id, new.sex.value, new.position_level
        servant.name, servant.curp, servant.email, servant.position = new.name, new.curp, new.email, new.position
        servant.holder_salt = new.holder_salt
        servant.joined_on, servant.left_on, servant.position_digest = new.joined_on, new.left_on, new.position_digest
        if existing is None:
            self.db.add(servant)
        await self.db.flush()
        return servant

    async def erase_servant(self, servant: Servant, *, at: datetime) -> None:
        servant.name = servant.curp = servant.email = servant.position = None
        servant.holder_salt = None  # no constancia can bind this person again
        servant.erased_at = at
        await self.db.flush()

    async def lock_servant(self, servant_id: str) -> bool:
        """The servant's row lock, as an enrolment takes it: a transfer and a seat decision about the same
        person happen one after the other. False when PostgreSQL finds no such servant; SQLite's
        transactions of a process already take turns, so it takes no lock (and answers True)."""
        if self._dialect == "sqlite":
            return True
        return (await self.db.execute(_LOCK_SERVANT, {"the_servant": servant_id})).first() is not None

    async def servants(self, *, curp: str | None, institution_id: str | None, of_institution: str | None,
                       limit: int, offset: int) -> list[Servant]:
        """Servants in order of registration; ``of_institution`` confines the list as ``institution_id``
        filters it (both hold when both are given)."""
        query = select(Servant).order_by(Servant.registered_at, Servant.servant_id).limit(limit).offset(offset)
        if curp:
            query = query.where(Servant.curp == curp)
        if of_institution is not None:
            query = query.where(Servant.institution_id == of_institution)
        if institution_id:
            query = query.where(Servant.institution_id == institution_id)
        return list((await self.db.execute(query)).scalars())

    # -------------------------------------------------------------- transfers

    async def transfer(self, transfer_id: str) -> Transfer | None:
        return await self.db.get(Transfer, transfer_id)

    async def reload(self, row: object) -> None:
        """Read ``row`` again (after the lock that makes what it says final was taken)."""
        await self.db.refresh(row)

    async def pending_transfer(self, servant_id: str) -> str | None:
        pending = (await self.db.execute(select(Transfer.transfer_id).where(
            Transfer.servant_id == servant_id, Transfer.status == "requested"))).first()
        return pending[0] if pending else None

    async def servant_in(self, curp: str, institution_id: str) -> str | None:
        """The servant ``institution_id`` has under this CURP, if any."""
        twin = (await self.db.execute(select(Servant.servant_id).where(
            Servant.curp == curp, Servant.institution_id == institution_id))).first()
        return twin[0] if twin else None

    async def add_transfer(self, terms_: domain.TransferTerms, *, requested_at: datetime,
                           reason: str | None) -> Transfer:
        transfer = Transfer(transfer_id=terms_.transfer_id, servant_id=terms_.servant_id,
                            from_institution_id=terms_.from_institution_id, to_institution_id=terms_.to_institution_id,
                            effective_on=terms_.effective_on, status="requested", requested_by=terms_.requested_by,
                            requested_at=requested_at, reason=reason)
        self.db.add(transfer)
        await self.db.flush()
        return transfer

    async def complete_transfer(self, transfer: Transfer, servant: Servant, moved: ServantRecord, *,
                                by: str, at: datetime) -> None:
        servant.institution_id = moved.institution_id
        transfer.status, transfer.decided_by, transfer.decided_at = "completed", by, at
        await self.db.flush()

    async def decline_transfer(self, transfer: Transfer, *, by: str, at: datetime) -> None:
        transfer.status, transfer.decided_by, transfer.decided_at = "declined", by, at
        await self.db.flush()

    async def transfers(self, *, status: str | None, of_institution: str | None) -> list[Transfer]:
        """Transfers in order of request; ``of_institution``: only those from or to it."""
        query = select(Transfer).order_by(Transfer.requested_at, Transfer.transfer_id)
        if status:
            query = query.where(Transfer.status == status)
        if of_institution is not None:
            query = query.where((Transfer.from_institution_id == of_institution)
                                | (Transfer.to_institution_id == of_institution))
        return list((await self.db.execute(query)).scalars())

    # -------------------------------------------------------------- enrolments

    async def lock_session_terms(self, session_id: str) -> SessionTerms | None:
        """Lock the session's row (after the servant's, the same order everywhere, so two requests never
        wait on each other in a cycle) and read what the seat rules need of it."""
        locked = (await self.db.execute(_LOCK_SESSION, {"the_session": session_id})).first()
        if locked is None:
            return None
        return SessionTerms(locked.session_id, locked.starts_at, locked.ends_at, locked.capacity,
                            locked.cancelled_at is not None)

    async def seat_check(self, session: SessionTerms, servant_id: str) -> SeatCheck:
        """The servant, how full the session is, whether the servant is in it, and the first of the servant's
        other sessions that shares its time — in one round trip."""
        institution_id, erased_at, left_on, confirmed, waitlisted, mine, clashing = (await self.db.execute(_SEAT_CHECK, {
            "session_id": session.session_id, "servant_id": servant_id, "starts_at": session.starts_at,
            "ends_at": session.ends_at})).one()
        commitments = []
        if clashing is not None:  # rare: load its times so the domain judges (and names) the overlap itself
            commitments.append(terms(await self.db.get(TrainingSession, clashing)))
        return SeatCheck(institution_id, erased_at is not None,
                         domain.Occupancy(int(confirmed), int(waitlisted), bool(mine)), commitments,
                         left_on if left_on is None or isinstance(left_on, date) else date.fromisoformat(left_on))

    async def commitments_overlapping(self, session_id: str, starts_at: datetime,
                                      ends_at: datetime) -> list[domain.Commitment]:
        """The other active enrolments, in sessions not cancelled that share [starts_at, ends_at), of the
        servants actively enrolled in ``session_id``: what a reschedule to that time would clash with."""
        mine, theirs = _enrolments.alias("mine"), _enrolments.alias("theirs")
        rows = await self.db.execute(
            select(mine.c.servant_id, TrainingSession)
            .join(theirs, (theirs.c.servant_id == mine.c.servant_id) & (theirs.c.session_id != mine.c.session_id))
            .join(TrainingSession, TrainingSession.session_id == theirs.c.session_id)
            .where(mine.c.session_id == session_id, mine.c.status.in_(ACTIVE), theirs.c.status.in_(ACTIVE),
                   TrainingSession.cancelled_at.is_(None), TrainingSession.starts_at < ends_at,
                   TrainingSession.ends_at > starts_at)
            .order_by(mine.c.servant_id, TrainingSession.starts_at))
        return [domain.Commitment(servant_id, terms(session)) for servant_id, session in rows.all()]

    async def add_enrolment(self, *, enrolment_id: str, session_id: str, servant_id: str, institution_id: str,
                            status: str, request_id: str | None, enrolled_at: datetime) -> Enrolment:
        enrolment = Enrolment(enrolment_id=enrolment_id, session_id=session_id, servant_id=servant_id,
                              institution_id=institution_id, status=status, request_id=request_id,
                              enrolled_at=enrolled_at)
        await self.db.execute(insert(_enrolments).values(
            enrolment_id=enrolment_id, session_id=session_id, servant_id=servant_id, institution_id=institution_id,
            status=status, request_id=request_id, promoted_from_waitlist=False, enrolled_at=enrolled_at))
        return enrolment

    async def enrolment(self, enrolment_id: str) -> Enrolment | None:
        return (await self.db.execute(select(Enrolment).where(Enrolment.enrolment_id == enrolment_id))).scalars().first()

    async def active_seats(self, session_id: str) -> list[Enrolment]:
        rows = await self.db.execute(select(Enrolment).where(Enrolment.session_id == session_id,
                                                             Enrolment.status.in_(ACTIVE))
                                     .order_by(Enrolment.number))
        return list(rows.scalars())

    async def cancel_enrolment(self, enrolment: Enrolment, promoted: Sequence[Enrolment], *, at: datetime,
                               reason: str | None) -> None:
        enrolment.status, enrolment.cancelled_at, enrolment.cancellation_reason = "cancelled", at, reason
        for moved in promoted:
            moved.status, moved.promoted_from_waitlist = "confirmed", True
        await self.db.flush()

    async def waitlist_positions(self, session_ids: Sequence[str]) -> dict[str, int]:
        """Place in line (1 = next) of every waitlisted enrolment of these sessions, a query per IN list."""
        positions: dict[str, int] = {}
        place: dict[str, int] = {}
        for start in range(0, len(session_ids), IN_LIST):
            rows = await self.db.execute(
                select(Enrolment.enrolment_id, Enrolment.session_id)
                .where(Enrolment.session_id.in_(session_ids[start:start + IN_LIST]), Enrolment.status == "waitlisted")
                .order_by(Enrolment.session_id, Enrolment.number))
            for enrolment_id, session_id in rows.all():
                place[session_id] = place.get(session_id, 0) + 1
                positions[enrolment_id] = place[session_id]
        return positions

    async def enrolments(self, *, session_id: str | None, servant_id: str | None, include_cancelled: bool,
                         institution_id: str | None, limit: int, offset: int) -> list[Enrolment]:
        query = select(Enrolment).order_by(Enrolment.number).limit(limit).offset(offset)
        if session_id:
            query = query.where(Enrolment.session_id == session_id)
        if servant_id:
            query = query.where(Enrolment.servant_id == servant_id)
        if not include_cancelled:
            query = query.where(Enrolment.status.in_(ACTIVE))
        if institution_id is not None:
            query = query.where(Enrolment.institution_id == institution_id)
        return list((await self.db.execute(query)).scalars())

    # -------------------------------------------------------------- agency requests

    async def decided_agency_request(self, institution_id: str, request_id: str) -> domain.DecidedRequest | None:
        """The earlier decision on this request of this institution, if any.

        On PostgreSQL the request is locked for the rest of the transaction first, so two consumers handed
        the same request at once (a rebalance, a re-send under another key) decide it one after the other:
        the second sees the first's decision. On SQLite one process applies agency requests one at a time.
        """
        await self.hold(f"agency-request {institution_id} {request_id}")
        found = await self.db.get(AgencyRequest, (institution_id, request_id))
        if found is None:
            return None
        return domain.DecidedRequest(found.institution_id, found.request_id, found.request_digest, found.outcome,
                                     found.outcome_id, found.decided_at)

    async def record_agency_request(self, *, institution_id: str, request_id: str, request_type: str, digest: str,
                                    outcome: str, outcome_id: str | None, decided_at: datetime) -> None:
        """Remember that this request was decided, in the transaction of the decision itself."""
        self.db.add(AgencyRequest(institution_id=institution_id, request_id=request_id, request_type=request_type,
                                  request_digest=digest, outcome=outcome, outcome_id=outcome_id,
                                  decided_at=decided_at))
        await self.db.flush()


    # -------------------------------------------------------------- the life cycle

    def add_life_event(self, *, servant_id: str, kind: str, institution_id: str, on: date, recorded_at: datetime,
                       reason: str | None = None, recorded_by: str | None = None,
                       request_id: str | None = None) -> None:
        self.db.add(LifeEvent(servant_id=servant_id, kind=kind, institution_id=institution_id, on=on,
                              recorded_at=recorded_at, reason=reason, recorded_by=recorded_by, request_id=request_id))

    async def correct_joining(self, servant_id: str, on: date) -> None:
        """A corrected joining day replaces the first day of the servant's current stretch."""
        latest = (await self.db.execute(select(LifeEvent).where(LifeEvent.servant_id == servant_id,
                                                                LifeEvent.kind.in_(("joined", "transferred")))
                                        .order_by(LifeEvent.number.desc()).limit(1))).scalars().first()
        if latest is not None:
            latest.on = on

    async def mark_left(self, servant: Servant, left_on: date) -> None:
        servant.left_on = left_on
        await self.db.flush()

    async def _per_servant(self, model, servant_ids: Sequence[str], *where, order_by=()) -> dict[str, list]:  # noqa: ANN001
        """Rows of ``model`` (a table with ``servant_id``) for each of the servants, in ``order_by`` order;
        every servant asked has a list, empty when nothing matched."""
        found: dict[str, list] = {i: [] for i in servant_ids}
        for start in range(0, len(servant_ids), IN_LIST):
            rows = await self.db.execute(select(model).where(
                model.servant_id.in_(servant_ids[start:start + IN_LIST]), *where).order_by(*order_by))
            for row in rows.scalars():
                found[row.servant_id].append(row)
        return found

    async def life_events(self, servant_ids: Sequence[str]) -> dict[str, list[LifeEvent]]:
        return await self._per_servant(LifeEvent, servant_ids, order_by=(LifeEvent.number,))

    async def servants_ever_in(self, institution_id: str) -> list[Servant]:
        """Servants who belong, or ever belonged, to the institution (by registration or transfer)."""
        ever = select(LifeEvent.servant_id).where(LifeEvent.institution_id == institution_id)
        query = (select(Servant).where((Servant.institution_id == institution_id) | Servant.servant_id.in_(ever))
                 .order_by(Servant.name, Servant.servant_id))
        return list((await self.db.execute(query)).scalars())

    # -------------------------------------------------------------- requirements and exemptions

    async def latest_requirement(self, requirement_id: str, *, lock: bool = False) -> RequirementRow | None:
        if lock:
            await self.hold(f"requirement {requirement_id}")
        return (await self.db.execute(select(RequirementRow).where(RequirementRow.requirement_id == requirement_id)
                                      .order_by(RequirementRow.version.desc()).limit(1))).scalars().first()

    async def add_requirement(self, declared: TrainingRequirementDeclared, positions: Sequence[str]) -> RequirementRow:
        scope = declared.scope.model_dump(mode="json") | {"positions": sorted(set(positions)) or None}
        row = RequirementRow(requirement_id=declared.requirement_id, version=declared.version,
                             effective_from=declared.effective_from, title=declared.title,
                             course_id=declared.course_id, competency=declared.competency,
                             scope=json.dumps(scope, ensure_ascii=False),
                             due=declared.due.model_dump_json(), withdrawn=declared.withdrawn,
                             declared_at=declared.declared_at, declared_by=declared.declared_by)
        self.db.add(row)
        await self.db.flush()
        return row

    async def requirement_versions(self, requirement_id: str | None = None) -> list[RequirementRow]:
        query = select(RequirementRow).order_by(RequirementRow.requirement_id, RequirementRow.version)
        if requirement_id is not None:
            query = query.where(RequirementRow.requirement_id == requirement_id)
        return list((await self.db.execute(query)).scalars())

    async def add_exemption(self, granted: ExemptionGranted) -> ExemptionRow:
        row = ExemptionRow(exemption_id=granted.exemption_id, requirement_id=granted.requirement_id,
                           servant_id=granted.servant_id, reason=granted.reason, effective_from=granted.effective_from,
                           until=granted.until, granted_by=granted.granted_by, granted_at=granted.granted_at)
        self.db.add(row)
        await self.db.flush()
        return row

    async def exemption(self, exemption_id: str) -> ExemptionRow | None:
        return await self.db.get(ExemptionRow, exemption_id)

    async def withdraw_exemption(self, row: ExemptionRow, *, on: date, by: str, at: datetime) -> None:
        row.withdrawn_on, row.withdrawn_by, row.withdrawn_at = on, by, at
        await self.db.flush()

    async def exemptions_of(self, servant_ids: Sequence[str]) -> dict[str, list[ExemptionRow]]:
        return await self._per_servant(ExemptionRow, servant_ids, order_by=(ExemptionRow.granted_at,))

    # -------------------------------------------------------------- completions (from certification)

    async def _completion(self, completion_id: str, servant_id: str) -> CompletionRow:
        row = await self.db.get(CompletionRow, completion_id)
        if row is None:
            row = CompletionRow(completion_id=completion_id, servant_id=servant_id)
            self.db.add(row)
        return row

    async def record_completion(self, completion_id: str, *, servant_id: str, course_id: str | None,
                                competency: str | None, completed_on: date, valid_until: date | None,
                                recorded_at: datetime, verification_code: str | None = None,
                                hours: float | None = None, issuing_authority: str | None = None,
                                session_id: str | None = None, certificate_ids: Sequence[str] = ()) -> None:
        """A certificate issued (with what its named constancia prints) or a competency attained (with the
        certificates it rests on); the same one told again changes nothing new."""
        row = await self._completion(completion_id, servant_id)
        row.course_id, row.competency, row.completed_on, row.valid_until = course_id, competency, completed_on, valid_until
        row.certificate_ids = " ".join(certificate_ids) or row.certificate_ids
        row.verification_code, row.hours, row.issuing_authority = verification_code, hours, issuing_authority
        row.session_id = row.session_id or session_id
        row.recorded_at = row.recorded_at or recorded_at
        await self.db.flush()

    async def certificates_of(self, servant_ids: Sequence[str]) -> dict[str, list[CompletionRow]]:
        """The servants' certificates enrollment was told of (revoked ones included), oldest first."""
        return await self._per_servant(CompletionRow, servant_ids, CompletionRow.verification_code.is_not(None),
                                       order_by=(CompletionRow.completed_on, CompletionRow.completion_id))

    async def revoke_completion(self, completion_id: str, *, servant_id: str, course_id: str, revoked_on: date,
                                revoked_at: datetime, applies: str | None = None,
                                effective_on: date | None = None, session_id: str | None = None) -> None:
        """A certificate revoked (recorded on ``revoked_on``), applying in valid time as ``applies`` and
        ``effective_on`` say; a revocation is final, so one told again changes nothing."""
        row = await self._completion(completion_id, servant_id)
        row.course_id = row.course_id or course_id
        row.session_id = row.session_id or session_id
        if row.revoked_on is None:
            row.revoked_on, row.revoked_at = revoked_on, revoked_at
            row.revocation_applies, row.revoked_effective_on = applies, effective_on
        await self.db.flush()

    async def certificates_from_session(self, session_id: str) -> int:
        """How many certificates certification has said it issued from the session (revoked ones too)."""
        return (await self.db.execute(select(func.count()).select_from(CompletionRow).where(
            CompletionRow.session_id == session_id))).scalar_one()

    async def completions_of(self, servant_ids: Sequence[str]) -> dict[str, list[CompletionRow]]:
        """Every completion row of the servants, a revocation still waiting for its certificate included: an
        attainment listing that certificate is revoked by it."""
        return await self._per_servant(CompletionRow, servant_ids)

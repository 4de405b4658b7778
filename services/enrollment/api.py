"""HTTP API of the enrollment service: translates requests into handler calls, nothing more.

Roles (bearer JWT): the comptroller does everything; an institution liaison registers and enrols its
own institution's servants and sees nothing of other institutions' people; an instructor reads the
rosters of its sessions. Another institution's servant or enrolment is answered as unknown (404).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select

from contracts.events import GovernmentLevel, Id, Modality, Score, Sex, Share
from probidad.shared.auth import Principal, require
from services.enrollment import domain, handlers
from services.enrollment.domain import RuleViolation, ServantDetails
from services.enrollment.metrics import ENROLMENT_DECISIONS
from services.enrollment.tables import Course, Enrolment, Institution, Servant, TrainingSession, Transfer

router = APIRouter()

# Every integer the API takes is bounded, so none reaches a database beyond what it stores: a number
# past SQLite's signed 64-bit integers made the driver raise (a 500) instead of a 422 naming the field.
MAX_HEADCOUNT = 10_000_000  # far above the largest government's payroll
MAX_OFFSET = 2**31 - 1

STATUS = {"invalid": 422, "not_found": 404, "conflict": 409, "forbidden": 403}

Comptroller = Annotated[Principal, Depends(require("comptroller"))]
Registrar = Annotated[Principal, Depends(require("comptroller", "liaison"))]
Reader = Annotated[Principal, Depends(require("comptroller", "liaison", "instructor"))]


def acting_for(principal: Principal) -> str | None:
    """The institution a caller is confined to (None: the comptroller, who may act for all)."""
    return None if principal.role == "comptroller" else principal.institution_id


def http_error(violation: RuleViolation) -> HTTPException:
    return HTTPException(STATUS[violation.kind], str(violation))


@asynccontextmanager
async def unit_of_work(request: Request) -> AsyncIterator:
    """One transaction; a broken rule rolls it back whole and becomes a 4xx naming the field.

    (On SQLite the process's transactions take turns; ``Database.transaction`` sees to it.)"""
    runtime = request.app.state.runtime
    try:
        async with runtime.database.transaction() as db:
            yield db
    except RuleViolation as violation:
        raise http_error(violation) from violation
    except sa_exc.IntegrityError as error:
        raise HTTPException(409, "a concurrent request changed the same record; retry") from error


def _runtime(request: Request):  # noqa: ANN202
    return request.app.state.runtime


# ------------------------------------------------------------------ institutions


class InstitutionIn(BaseModel):
    institution_id: Id | None = Field(None, description="Your own id for it; generated when omitted.")
    name: str = Field(min_length=1, max_length=300)
    government_level: GovernmentLevel
    municipality: str | None = Field(None, max_length=200)
    headcount: int = Field(ge=1, le=MAX_HEADCOUNT, description="Public servants declared for headcount_year.")
    headcount_year: int = Field(ge=2000, le=2100)


class InstitutionOut(BaseModel):
    institution_id: str
    name: str
    government_level: GovernmentLevel
    municipality: str | None
    headcounts: dict[int, int] = Field(description="Declared headcount per year.")


async def _institution_out(db, institution: Institution) -> InstitutionOut:  # noqa: ANN001
    return InstitutionOut(institution_id=institution.institution_id, name=institution.name,
                          government_level=institution.government_level, municipality=institution.municipality,
                          headcounts=await handlers.headcounts(db, institution.institution_id))


@router.post("/institutions", response_model=InstitutionOut, status_code=201, tags=["institutions"],
             responses={200: {"description": "Institution restated (e.g. a new year's headcount)"}})
async def register_institution(body: InstitutionIn, request: Request, response: Response,
                               _: Comptroller) -> InstitutionOut:
    """Register a state or municipal institution with its headcount; again with the same id to restate it."""
    rt = _runtime(request)
    async with unit_of_work(request) as db:
        institution, created = await handlers.register_institution(
            db, rt.outbox, institution_id=body.institution_id or handlers.new_id("in"), name=body.name,
            government_level=body.government_level, municipality=body.municipality, headcount=body.headcount,
            headcount_year=body.headcount_year, correlation_id=request.headers.get("x-correlation-id"))
        out = await _institution_out(db, institution)
    response.status_code = 201 if created else 200
    return out


@router.get("/institutions", response_model=list[InstitutionOut], tags=["institutions"])
async def list_institutions(request: Request, _: Reader) -> list[InstitutionOut]:
    async with unit_of_work(request) as db:
        rows = (await db.execute(select(Institution).order_by(Institution.institution_id))).scalars().all()
        return [await _institution_out(db, i) for i in rows]


@router.get("/institutions/{institution_id}", response_model=InstitutionOut, tags=["institutions"])
async def get_institution(institution_id: str, request: Request, _: Reader) -> InstitutionOut:
    async with unit_of_work(request) as db:
        institution = await handlers.require_institution(db, institution_id, kind="not_found")
        return await _institution_out(db, institution)


# ------------------------------------------------------------------ courses


class CourseIn(BaseModel):
    course_id: Id | None = Field(None, description="Your own id for it; generated when omitted.")
    code: str = Field(min_length=1, max_length=40, description="Catalogue code, unique.")
    title: str = Field(min_length=1, max_length=300)
    topic: str = Field(min_length=1, max_length=200, description="e.g. 'Código de Ética', 'Conflicto de Interés'.")
    competency: str | None = Field(None, max_length=200, description="Competency of the integrity model it builds.")
    hours: float = Field(gt=0, le=500)
    minimum_attendance_share: Share = Field(0.8, description="Share of a session to attend to complete it.")
    passing_score: Score | None = Field(None, description="Minimum evaluation score; null = no evaluation.")


class CourseOut(CourseIn):
    course_id: str


def _course_out(course: Course) -> CourseOut:
    return CourseOut.model_validate(course, from_attributes=True)


@router.post("/courses", response_model=CourseOut, status_code=201, tags=["catalogue"],
             responses={200: {"description": "Course re-published with new terms"}})
async def publish_course(body: CourseIn, request: Request, response: Response, _: Comptroller) -> CourseOut:
    """Publish a course of the integrity programme; again with the same id to change its terms."""
    rt = _runtime(request)
    async with unit_of_work(request) as db:
        course, created = await handlers.publish_course(
            db, rt.outbox, **body.model_dump(exclude={"course_id"}), course_id=body.course_id or handlers.new_id("co"),
            correlation_id=request.headers.get("x-correlation-id"))
        out = _course_out(course)
    response.status_code = 201 if created else 200
    return out


@router.get("/courses", response_model=list[CourseOut], tags=["catalogue"])
async def list_courses(request: Request, _: Reader) -> list[CourseOut]:
    async with unit_of_work(request) as db:
        return [_course_out(c) for c in (await db.execute(select(Course).order_by(Course.code))).scalars()]


@router.get("/courses/{course_id}", response_model=CourseOut, tags=["catalogue"])
async def get_course(course_id: str, request: Request, _: Reader) -> CourseOut:
    async with unit_of_work(request) as db:
        course = await db.get(Course, course_id)
        if course is None:
            raise HTTPException(404, f"course_id: unknown course {course_id!r}")
        return _course_out(course)


# ------------------------------------------------------------------ sessions


class SessionIn(BaseModel):
    session_id: Id | None = Field(None, description="Your own id for it; generated when omitted.")
    course_id: Id
    modality: Modality
    platform: str | None = Field(None, max_length=100, description="Zoom, Teams, Meet… (virtual and hybrid).")
    venue: str | None = Field(None, max_length=300, description="Where (in-person and hybrid).")
    starts_at: datetime = Field(description="With an offset, or local time in `timezone`.")
    ends_at: datetime
    timezone: str | None = Field(None, max_length=64, description="IANA zone; the programme's zone when omitted.")
    capacity: int = Field(ge=1, le=100_000)
    instructor_id: Id | None = None
    organising_unit: str | None = Field(None, max_length=200)


class RescheduleIn(BaseModel):
    starts_at: datetime
    ends_at: datetime
    timezone: str | None = Field(None, max_length=64, description="Keeps the session's zone when omitted.")
    venue: str | None = Field(None, max_length=300, description="Keeps the venue when omitted.")
    reason: str | None = Field(None, max_length=500)


class CancelIn(BaseModel):
    reason: str | None = Field(None, max_length=500)


class SessionOut(BaseModel):
    session_id: str
    course_id: str
    modality: Modality
    platform: str | None
    venue: str | None
    starts_at: datetime
    ends_at: datetime
    timezone: str
    capacity: int
    instructor_id: str | None
    organising_unit: str | None
    cancelled: bool
    confirmed: int = Field(description="Seats taken.")
    waitlisted: int


async def _seat_counts(db, session_ids: list[str]) -> dict[tuple[str, str], int]:  # noqa: ANN001
    """(session id, status) -> enrolments, for many sessions in one query."""
    if not session_ids:
        return {}
    rows = await db.execute(
        select(Enrolment.session_id, Enrolment.status, func.count())
        .where(Enrolment.session_id.in_(session_ids), Enrolment.status.in_(handlers.ACTIVE))
        .group_by(Enrolment.session_id, Enrolment.status))
    return {(session_id, status_): n for session_id, status_, n in rows.all()}


def _session_view(session: TrainingSession, counts: dict[tuple[str, str], int]) -> SessionOut:
    start, end = handlers.local_times(session)
    return SessionOut(session_id=session.session_id, course_id=session.course_id, modality=session.modality,
                      platform=session.platform, venue=session.venue, starts_at=start, ends_at=end,
                      timezone=session.timezone, capacity=session.capacity, instructor_id=session.instructor_id,
                      organising_unit=session.organising_unit, cancelled=session.cancelled_at is not None,
                      confirmed=counts.get((session.session_id, "confirmed"), 0),
                      waitlisted=counts.get((session.session_id, "waitlisted"), 0))


async def _session_out(db, session: TrainingSession) -> SessionOut:  # noqa: ANN001
    return _session_view(session, await _seat_counts(db, [session.session_id]))


@router.post("/sessions", response_model=SessionOut, status_code=201, tags=["sessions"])
async def schedule_session(body: SessionIn, request: Request, _: Comptroller) -> SessionOut:
    """Schedule a session of a course (virtual, in-person or hybrid) with its capacity."""
    rt = _runtime(request)
    async with unit_of_work(request) as db:
        session = await handlers.schedule_session(
            db, rt.outbox, **body.model_dump(exclude={"session_id", "timezone"}),
            session_id=body.session_id or handlers.new_id("se"),
            timezone=body.timezone or rt.settings.programme_timezone,
            correlation_id=request.headers.get("x-correlation-id"))
        return await _session_out(db, session)


@router.get("/sessions", response_model=list[SessionOut], tags=["sessions"])
async def list_sessions(request: Request, principal: Reader, course_id: str | None = None,
                        starting_from: datetime | None = Query(None, alias="from"),
                        starting_before: datetime | None = Query(None, alias="to")) -> list[SessionOut]:
    query = select(TrainingSession).order_by(TrainingSession.starts_at)
    if course_id:
        query = query.where(TrainingSession.course_id == course_id)
    for bound, name in ((starting_from, "from"), (starting_before, "to")):
        if bound is not None and bound.tzinfo is None:
            raise HTTPException(422, f"{name}: give an offset, e.g. 2026-11-01T00:00:00-06:00")
    if starting_from:
        query = query.where(TrainingSession.starts_at >= starting_from)
    if starting_before:
        query = query.where(TrainingSession.starts_at < starting_before)
    if principal.role == "instructor":
        query = query.where(TrainingSession.instructor_id == principal.instructor_id)
    async with unit_of_work(request) as db:
        sessions = list((await db.execute(query)).scalars())
        counts: dict[tuple[str, str], int] = {}
        for start in range(0, len(sessions), 500):  # bounded IN lists
            counts |= await _seat_counts(db, [s.session_id for s in sessions[start:start + 500]])
        return [_session_view(s, counts) for s in sessions]


async def _session(db, session_id: str) -> TrainingSession:  # noqa: ANN001
    session = await db.get(TrainingSession, session_id)
    if session is None:
        raise HTTPException(404, f"session_id: unknown session {session_id!r}")
    return session


@router.get("/sessions/{session_id}", response_model=SessionOut, tags=["sessions"])
async def get_session(session_id: str, request: Request, _: Reader) -> SessionOut:
    async with unit_of_work(request) as db:
        return await _session_out(db, await _session(db, session_id))


@router.post("/sessions/{session_id}/reschedule", response_model=SessionOut, tags=["sessions"])
async def reschedule_session(session_id: str, body: RescheduleIn, request: Request, _: Comptroller) -> SessionOut:
    rt = _runtime(request)
    async with unit_of_work(request) as db:
        session = await handlers.reschedule_session(db, rt.outbox, session_id, **body.model_dump(),
                                                    correlation_id=request.headers.get("x-correlation-id"))
        return await _session_out(db, session)


@router.post("/sessions/{session_id}/cancel", response_model=SessionOut, tags=["sessions"])
async def cancel_session(session_id: str, request: Request, _: Comptroller, body: CancelIn | None = None) -> SessionOut:
    rt = _runtime(request)
    async with unit_of_work(request) as db:
        session = await handlers.cancel_session(db, rt.outbox, session_id, reason=body.reason if body else None,
                                                now=handlers.utcnow(),
                                                correlation_id=request.headers.get("x-correlation-id"))
        return await _session_out(db, session)


class RosterLine(BaseModel):
    enrolment_id: str
    servant_id: str
    name: str | None = Field(description="Null once the servant's personal data was erased.")
    institution_id: str
    status: Literal["confirmed", "waitlisted"]
    waitlist_position: int | None
    promoted_from_waitlist: bool


class Roster(BaseModel):
    session: SessionOut
    enrolments: list[RosterLine]


@router.get("/sessions/{session_id}/roster", response_model=Roster, tags=["sessions"])
async def roster(session_id: str, request: Request, principal: Reader) -> Roster:
    """Who holds a seat and who waits, in order. Instructors: their own sessions; liaisons: their own people."""
    async with unit_of_work(request) as db:
        session = await _session(db, session_id)
        if principal.role == "instructor" and session.instructor_id != principal.instructor_id:
            raise HTTPException(403, "session_id: you are not the instructor of this session")
        rows = (await db.execute(
            select(Enrolment, Servant.name).join(Servant, Servant.servant_id == Enrolment.servant_id)
            .where(Enrolment.session_id == session_id, Enrolment.status.in_(handlers.ACTIVE))
            .order_by(Enrolment.number))).all()
        positions = domain.waitlist_positions([handlers.seat(e) for e, _ in rows])
        scope = acting_for(principal) if principal.role == "liaison" else None
        lines = [RosterLine(enrolment_id=e.enrolment_id, servant_id=e.servant_id, name=name,
                            institution_id=e.institution_id, status=e.status,
                            waitlist_position=positions.get(e.enrolment_id),
                            promoted_from_waitlist=e.promoted_from_waitlist)
                 for e, name in rows if scope is None or e.institution_id == scope]
        return Roster(session=await _session_out(db, session), enrolments=lines)


# ------------------------------------------------------------------ servants


class ServantIn(BaseModel):
    institution_id: Id | None = Field(None, description="A liaison's own institution when omitted.")
    name: str = Field(min_length=1, max_length=300)
    curp: str = Field(min_length=18, max_length=18, description="Checked by format and check digit.")
    email: str | None = Field(None, max_length=254)
    sex: Sex
    position: str | None = Field(None, max_length=200)
    position_level: str | None = Field(None, max_length=100, description="e.g. operativo, mando medio, directivo.")


class ServantOut(BaseModel):
    servant_id: str = Field(description="Pseudonymous id: the only way the servant appears in events.")
    institution_id: str
    name: str | None
    curp: str | None
    email: str | None
    sex: Sex
    position: str | None
    position_level: str | None
    erased: bool


def _servant_out(servant: Servant) -> ServantOut:
    return ServantOut(servant_id=servant.servant_id, institution_id=servant.institution_id, name=servant.name,
                      curp=servant.curp, email=servant.email, sex=servant.sex, position=servant.position,
                      position_level=servant.position_level, erased=servant.erased_at is not None)


def _institution_for(principal: Principal, given: str | None) -> str:
    if given:
        return given
    if principal.role == "liaison" and principal.institution_id:
        return principal.institution_id
    raise HTTPException(422, "institution_id: required")


@router.post("/servants", response_model=ServantOut, status_code=201, tags=["servants"],
             responses={200: {"description": "A servant of this institution with this CURP was already registered; "
                                   "updated"},
                        409: {"description": "curp: not a CURP the caller may register for this institution "
                              "(the same answer whatever the reason; a move is a transfer)"}})
async def register_servant(body: ServantIn, request: Request, response: Response, principal: Registrar) -> ServantOut:
    """Register a public servant (or update the one with the same CURP); returns the pseudonymous id."""
    rt = _runtime(request)
    details = ServantDetails(institution_id=_institution_for(principal, body.institution_id), name=body.name,
                             curp=body.curp, sex=body.sex, email=body.email, position=body.position,
                             position_level=body.position_level)
    async with unit_of_work(request) as db:
        servant, created = await handlers.register_servant(
            db, rt.outbox, details, digest_key=rt.settings.email_digest_key.get_secret_value(),
            acting_for=acting_for(principal), correlation_id=request.headers.get("x-correlation-id"))
        out = _servant_out(servant)
    response.status_code = 201 if created else 200
    return out


@router.get("/servants", response_model=list[ServantOut], tags=["servants"])
async def list_servants(request: Request, principal: Registrar, institution_id: str | None = None,
                        curp: str | None = Query(None, description="Find one person by CURP."),
                        limit: int = Query(100, ge=1, le=1000),
                        offset: int = Query(0, ge=0, le=MAX_OFFSET)) -> list[ServantOut]:
    query = select(Servant).order_by(Servant.registered_at, Servant.servant_id).limit(limit).offset(offset)
    if curp:
        try:
            query = query.where(Servant.curp == domain.validate_curp(curp))
        except RuleViolation as violation:
            raise http_error(violation) from violation
    scope = acting_for(principal)
    if scope is not None:
        query = query.where(Servant.institution_id == scope)
    if institution_id:
        query = query.where(Servant.institution_id == institution_id)
    async with unit_of_work(request) as db:
        return [_servant_out(s) for s in (await db.execute(query)).scalars()]


@router.get("/servants/{servant_id}", response_model=ServantOut, tags=["servants"])
async def get_servant(servant_id: str, request: Request, principal: Registrar) -> ServantOut:
    async with unit_of_work(request) as db:
        return _servant_out(await handlers.find_servant(db, servant_id, acting_for(principal)))


@router.delete("/servants/{servant_id}/personal-data", response_model=ServantOut, tags=["servants"])
async def erase_personal_data(servant_id: str, request: Request, principal: Comptroller) -> ServantOut:
    """ARCO cancellation: erase name, CURP, e-mail and position. The pseudonymous id and the figures stay."""
    rt = _runtime(request)
    async with unit_of_work(request) as db:
        servant = await handlers.erase_servant(db, rt.outbox, servant_id, acting_for=acting_for(principal),
                                               now=handlers.utcnow(),
                                               correlation_id=request.headers.get("x-correlation-id"))
        return _servant_out(servant)


# ------------------------------------------------------------------ transfers


class TransferIn(BaseModel):
    to_institution_id: Id
    effective_on: date | None = Field(None, description="First day in the new institution (programme time "
                                      "zone); today when omitted, never later.")
    reason: str | None = Field(None, max_length=500)


class TransferOut(BaseModel):
    transfer_id: str
    servant_id: str
    from_institution_id: str
    to_institution_id: str
    effective_on: date
    status: Literal["requested", "completed", "declined"]
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None


def _transfer_out(transfer) -> TransferOut:  # noqa: ANN001
    return TransferOut.model_validate(transfer, from_attributes=True)


def _who(principal: Principal) -> str:
    """Who acted, as a transfer records it: the role, a liaison's institution, and the token's subject."""
    if principal.role == "comptroller":
        return f"comptroller:{principal.subject}"
    return f"liaison:{principal.institution_id}:{principal.subject}"


def _programme_today(request: Request) -> date:
    return handlers.utcnow().astimezone(domain.zone(_runtime(request).settings.programme_timezone)).date()


@router.post("/servants/{servant_id}/transfer", response_model=TransferOut, status_code=201, tags=["servants"],
             responses={202: {"description": "Requested by a liaison: waits for the joining institution"}})
async def transfer_servant(servant_id: str, body: TransferIn, request: Request, response: Response,
                           principal: Registrar) -> TransferOut:
    """Move a servant to another institution from a date. The comptroller's transfer takes effect at
    once (201); a liaison asks for its own servant (202) and the joining institution accepts it."""
    rt = _runtime(request)
    today = _programme_today(request)
    async with unit_of_work(request) as db:
        transfer = await handlers.request_transfer(
            db, rt.outbox, servant_id, to_institution_id=body.to_institution_id,
            effective_on=body.effective_on or today, acting_for=acting_for(principal), requested_by=_who(principal),
            now=handlers.utcnow(), today=today, reason=body.reason,
            correlation_id=request.headers.get("x-correlation-id"))
        out = _transfer_out(transfer)
    response.status_code = 201 if out.status == "completed" else 202
    return out


@router.get("/transfers", response_model=list[TransferOut], tags=["servants"])
async def list_transfers(request: Request, principal: Registrar,
                         status: Literal["requested", "completed", "declined"] | None = None) -> list[TransferOut]:
    """Transfers from or to the caller's institution (all of them for the comptroller)."""
    query = select(Transfer).order_by(Transfer.requested_at, Transfer.transfer_id)
    if status:
        query = query.where(Transfer.status == status)
    scope = acting_for(principal)
    if scope is not None:
        query = query.where((Transfer.from_institution_id == scope) | (Transfer.to_institution_id == scope))
    async with unit_of_work(request) as db:
        return [_transfer_out(t) for t in (await db.execute(query)).scalars()]


async def _answer(request: Request, principal: Principal, transfer_id: str, accept: bool) -> TransferOut:
    rt = _runtime(request)
    async with unit_of_work(request) as db:
        transfer = await handlers.answer_transfer(
            db, rt.outbox, transfer_id, accept=accept, acting_for=acting_for(principal), answered_by=_who(principal),
            now=handlers.utcnow(), today=_programme_today(request),
            correlation_id=request.headers.get("x-correlation-id"))
        return _transfer_out(transfer)


@router.post("/transfers/{transfer_id}/accept", response_model=TransferOut, tags=["servants"])
async def accept_transfer(transfer_id: str, request: Request, principal: Registrar) -> TransferOut:
    """The joining institution (or the comptroller) accepts: the servant moves, ServantTransferred is published."""
    return await _answer(request, principal, transfer_id, accept=True)


@router.post("/transfers/{transfer_id}/decline", response_model=TransferOut, tags=["servants"])
async def decline_transfer(transfer_id: str, request: Request, principal: Registrar) -> TransferOut:
    """Either institution (or the comptroller) declines or withdraws a requested transfer: nothing moves."""
    return await _answer(request, principal, transfer_id, accept=False)


# ------------------------------------------------------------------ enrolments


class EnrolmentIn(BaseModel):
    session_id: Id
    servant_id: Id | None = Field(None, description="The servant's pseudonymous id…")
    curp: str | None = Field(None, min_length=18, max_length=18, description="…or their CURP.")


class EnrolmentOut(BaseModel):
    enrolment_id: str
    session_id: str
    servant_id: str
    institution_id: str
    status: Literal["confirmed", "waitlisted", "cancelled"]
    waitlist_position: int | None = Field(None, description="1 = next to be promoted.")
    promoted_from_waitlist: bool = False


def _enrolment_out(enrolment: Enrolment, position: int | None = None) -> EnrolmentOut:
    return EnrolmentOut(enrolment_id=enrolment.enrolment_id, session_id=enrolment.session_id,
                        servant_id=enrolment.servant_id, institution_id=enrolment.institution_id,
                        status=enrolment.status, waitlist_position=position,
                        promoted_from_waitlist=enrolment.promoted_from_waitlist)


@router.post("/enrolments", response_model=EnrolmentOut, status_code=201, tags=["enrolments"])
async def enrol(body: EnrolmentIn, request: Request, principal: Registrar) -> EnrolmentOut:
    """Enrol a servant in a session: a seat while there is one, else a place on the waitlist."""
    rt = _runtime(request)
    try:
        async with unit_of_work(request) as db:
            enrolled = await handlers.enrol(db, rt.outbox, session_id=body.session_id, servant_id=body.servant_id,
                                            curp=body.curp, acting_for=acting_for(principal),
                                            correlation_id=request.headers.get("x-correlation-id"))
    except HTTPException:
        ENROLMENT_DECISIONS.labels("http", "rejected").inc()
        raise
    ENROLMENT_DECISIONS.labels("http", enrolled.enrolment.status).inc()
    return _enrolment_out(enrolled.enrolment, enrolled.position)


@router.get("/enrolments", response_model=list[EnrolmentOut], tags=["enrolments"])
async def list_enrolments(request: Request, principal: Registrar, session_id: str | None = None,
                          servant_id: str | None = None, include_cancelled: bool = False,
                          limit: int = Query(500, ge=1, le=5000),
                          offset: int = Query(0, ge=0, le=MAX_OFFSET)) -> list[EnrolmentOut]:
    query = select(Enrolment).order_by(Enrolment.number).limit(limit).offset(offset)
    if session_id:
        query = query.where(Enrolment.session_id == session_id)
    if servant_id:
        query = query.where(Enrolment.servant_id == servant_id)
    if not include_cancelled:
        query = query.where(Enrolment.status.in_(handlers.ACTIVE))
    scope = acting_for(principal)
    if scope is not None:
        query = query.where(Enrolment.institution_id == scope)
    async with unit_of_work(request) as db:
        enrolments = list((await db.execute(query)).scalars())
        waiting = sorted({e.session_id for e in enrolments if e.status == "waitlisted"})
        positions: dict[str, int] = {}
        for start in range(0, len(waiting), 500):
            positions |= await handlers.waitlist_positions(db, waiting[start:start + 500])
        return [_enrolment_out(e, positions.get(e.enrolment_id)) for e in enrolments]


@router.get("/enrolments/{enrolment_id}", response_model=EnrolmentOut, tags=["enrolments"])
async def get_enrolment(enrolment_id: str, request: Request, principal: Registrar) -> EnrolmentOut:
    async with unit_of_work(request) as db:
        enrolment = await handlers.find_enrolment(db, enrolment_id, acting_for(principal))
        return _enrolment_out(enrolment, await handlers.waitlist_position(db, enrolment))


class CancellationOut(BaseModel):
    cancelled: EnrolmentOut
    promoted: list[EnrolmentOut] = Field(description="Waitlisted enrolments that took the freed seat.")


@router.post("/enrolments/{enrolment_id}/cancel", response_model=CancellationOut, tags=["enrolments"])
async def cancel_enrolment(enrolment_id: str, request: Request, principal: Registrar,
                           body: CancelIn | None = None) -> CancellationOut:
    """Cancel an enrolment; the earliest waitlisted servant takes the seat it frees."""
    rt = _runtime(request)
    async with unit_of_work(request) as db:
        cancelled, promoted = await handlers.cancel_enrolment(
            db, rt.outbox, enrolment_id, reason=body.reason if body else None, acting_for=acting_for(principal),
            now=handlers.utcnow(), correlation_id=request.headers.get("x-correlation-id"))
        return CancellationOut(cancelled=_enrolment_out(cancelled), promoted=[_enrolment_out(p) for p in promoted])


# ------------------------------------------------------------------ bulk import


class ImportRow(BaseModel):
    """One line of an HR export. Loose on purpose: every problem is reported per row, never as a 422."""

    line: int | None = Field(None, description="Line in the source file, echoed in the report (never stored).")
    institution_id: str | None = None
    name: str | None = None
    curp: str | None = None
    email: str | None = None
    sex: str | None = Field(None, description="female/male/non_binary/undisclosed, mujer/hombre, M/H; "
                            "taken from the CURP when empty.")
    position: str | None = None
    position_level: str | None = None
    session_id: str | None = Field(None, description="Also enrol the servant in this session.")


class ImportIn(BaseModel):
    rows: list[ImportRow]


class ImportResult(BaseModel):
    line: int
    accepted: bool
    servant_id: str | None = None
    servant: Literal["registered", "updated", "existing"] | None = None
    enrolment_id: str | None = None
    enrolment: Literal["confirmed", "waitlisted"] | None = None
    waitlist_position: int | None = None
    field: str | None = None
    reason: str | None = None


class ImportReport(BaseModel):
    accepted: int
    rejected: int
    results: list[ImportResult]


def _clean(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


@router.post("/servants/import", response_model=ImportReport, tags=["servants"])
async def import_servants(body: ImportIn, request: Request, principal: Registrar) -> ImportReport:
    """Register (and optionally enrol) many servants. Each row commits alone: a bad row changes nothing
    and is reported with its field and reason; the good rows go through."""
    rt = _runtime(request)
    if len(body.rows) > rt.settings.bulk_max_rows:
        raise HTTPException(413, f"rows: at most {rt.settings.bulk_max_rows} rows per request; send chunks")
    results = []
    for index, row in enumerate(body.rows, start=1):
        line = row.line or index
        try:
            results.append(await _import_row(request, principal, row, line))
        except (RuleViolation, HTTPException, sa_exc.IntegrityError) as problem:
            if isinstance(problem, RuleViolation):
                field, reason = problem.field, problem.message
            elif isinstance(problem, sa_exc.IntegrityError):
                field, reason = None, "a concurrent request changed the same servant; retry the row"
            else:
                field, _, reason = str(problem.detail).partition(": ")
                field, reason = (field, reason) if reason else (None, field)
            results.append(ImportResult(line=line, accepted=False, field=field, reason=reason))
    accepted = sum(r.accepted for r in results)
    return ImportReport(accepted=accepted, rejected=len(results) - accepted, results=results)


async def _import_row(request: Request, principal: Registrar, row: ImportRow, line: int) -> ImportResult:
    """One line: register (or update) the person, and enrol them when the line names a session. A line
    with only a CURP and a session enrols a servant already registered."""
    rt = _runtime(request)
    if not _clean(row.curp):
        raise RuleViolation("curp", "missing")
    curp = domain.validate_curp(row.curp or "")
    enrol_only = not _clean(row.name) and _clean(row.session_id)
    if not _clean(row.name) and not enrol_only:
        raise RuleViolation("name", "missing")
    scope = acting_for(principal)
    correlation_id = request.headers.get("x-correlation-id")
    async with rt.database.transaction() as db:
        if enrol_only:
            servant_id = await handlers.resolve_servant_id(db, servant_id=None, curp=curp, acting_for=scope)
            result = ImportResult(line=line, accepted=True, servant_id=servant_id, servant="existing")
        else:
            details = ServantDetails(institution_id=_institution_for(principal, _clean(row.institution_id)),
                                     name=_clean(row.name) or "", curp=curp, sex=domain.parse_sex(row.sex, curp),
                                     email=_clean(row.email), position=_clean(row.position),
                                     position_level=_clean(row.position_level))
            servant, created = await handlers.register_servant(
                db, rt.outbox, details, digest_key=rt.settings.email_digest_key.get_secret_value(),
                acting_for=scope, correlation_id=correlation_id)
            result = ImportResult(line=line, accepted=True, servant_id=servant.servant_id,
                                  servant="registered" if created else "updated")
        if _clean(row.session_id):
            enrolled = await handlers.enrol(db, rt.outbox, session_id=_clean(row.session_id) or "",
                                            servant_id=result.servant_id, acting_for=scope,
                                            correlation_id=correlation_id)
            ENROLMENT_DECISIONS.labels("import", enrolled.enrolment.status).inc()
            result.enrolment_id = enrolled.enrolment.enrolment_id
            result.enrolment = enrolled.enrolment.status  # type: ignore[assignment]
            result.waitlist_position = enrolled.position
    return result

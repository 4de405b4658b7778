"""HTTP API of the enrollment service: translates requests into handler and view calls, nothing more.

Roles (bearer JWT): the comptroller does everything; an institution liaison registers and enrols its
own institution's servants and sees nothing of other institutions' people; an instructor reads the
rosters of its sessions. Another institution's servant or enrolment is answered as unknown (404).
A broken rule (``RuleViolation``) is answered as a Problem naming the field at fault.
"""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError

from contracts.events import (
    MAX_PLAN_TARGETS, CourseHours, DueRule, GovernmentLevel, Id, Modality, PlanTarget, RequirementScope, Score, Sex,
    Share,
)
from probidad.shared.auth import Principal
from probidad.shared.as_of import parse_as_of
from probidad.shared.dependencies import Comptroller, Provided, Reader, Registrar, Runtime
from probidad.shared.problems import Problem
from services.enrollment import domain, handlers, views
from services.enrollment.constancias import file_name as constancia_file_name, render_constancia
from services.enrollment.domain import (
    PlanLine, RequirementTerms, RescheduleConflict, RuleViolation, ServantDetails, parse_departures_csv, parse_plan_csv,
)
from services.enrollment.handlers import EnrollmentContext
from services.enrollment.repository import requirement_event, requirement_positions
from services.enrollment.tables import Course, Enrolment, ExemptionRow, PlanVersion, RequirementRow, Servant, Transfer

router = APIRouter()

# Every integer the API takes is bounded, so none reaches a database beyond what it stores: a number
# past SQLite's signed 64-bit integers made the driver raise (a 500) instead of a 422 naming the field.
MAX_HEADCOUNT = 10_000_000  # far above the largest government's payroll
MAX_OFFSET = 2**31 - 1

STATUS = {"invalid": 422, "not_found": 404, "conflict": 409, "forbidden": 403, "gone": 410}
CONCURRENT_CHANGE = "a concurrent request changed the same record; retry"

Context = Provided(EnrollmentContext)


async def _correlation_id(request: Request) -> str | None:
    return request.headers.get("x-correlation-id")


CorrelationId = Annotated[str | None, Depends(_correlation_id)]


def acting_for(principal: Principal) -> str | None:
    """The institution a caller is confined to (None: the comptroller, who may act for all)."""
    return None if principal.role == "comptroller" else principal.institution_id


# A route's unit of work rolls back whole on any error; these answer the two a request can cause.
async def rule_violated(_request: Request, violation: RuleViolation) -> JSONResponse:
    """A broken rule: a 4xx naming the field at fault."""
    return JSONResponse(Problem(detail=str(violation)).model_dump(exclude_none=True),
                        status_code=STATUS[violation.kind])


async def changed_concurrently(_request: Request, _error: IntegrityError) -> JSONResponse:
    return JSONResponse(Problem(detail=CONCURRENT_CHANGE).model_dump(exclude_none=True), status_code=409)


async def reschedule_conflicts(_request: Request, conflict: RescheduleConflict) -> JSONResponse:
    """A move that would put enrolled servants in two sessions at once: 409 naming each servant and session."""
    body = Problem(detail=str(conflict)).model_dump(exclude_none=True)
    body["conflicts"] = [{"servant_id": c.servant_id, "session_id": c.session.session_id,
                          "starts_at": c.session.starts_at.isoformat(), "ends_at": c.session.ends_at.isoformat()}
                         for c in conflict.conflicts]
    return JSONResponse(body, status_code=409)


PROBLEMS = {RuleViolation: rule_violated, RescheduleConflict: reschedule_conflicts,
            IntegrityError: changed_concurrently}


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


def _institution_out(view: views.InstitutionView) -> InstitutionOut:
    institution = view.institution
    return InstitutionOut(institution_id=institution.institution_id, name=institution.name,
                          government_level=institution.government_level, municipality=institution.municipality,
                          headcounts=view.headcounts)


@router.post("/institutions", response_model=InstitutionOut, status_code=201, tags=["institutions"],
             responses={200: {"description": "Institution restated (e.g. a new year's headcount)"}})
async def register_institution(body: InstitutionIn, runtime: Runtime, ctx: Context, correlation_id: CorrelationId,
                               response: Response, _: Comptroller) -> InstitutionOut:
    """Register a state or municipal institution with its headcount; again with the same id to restate it."""
    async with runtime.unit_of_work(correlation_id=correlation_id) as uow:
        done = await handlers.register_institution(
            uow, ctx, institution_id=body.institution_id or handlers.new_id("in"), name=body.name,
            government_level=body.government_level, municipality=body.municipality, headcount=body.headcount,
            headcount_year=body.headcount_year)
        uow.record(done.events)
        out = _institution_out(await views.institution(uow, done.row))
    response.status_code = 201 if done.created else 200
    return out


@router.get("/institutions", response_model=list[InstitutionOut], tags=["institutions"])
async def list_institutions(runtime: Runtime, _: Reader) -> list[InstitutionOut]:
    async with runtime.unit_of_work() as uow:
        return [_institution_out(i) for i in await views.institutions(uow)]


@router.get("/institutions/{institution_id}", response_model=InstitutionOut, tags=["institutions"])
async def get_institution(institution_id: str, runtime: Runtime, _: Reader) -> InstitutionOut:
    async with runtime.unit_of_work() as uow:
        return _institution_out(await views.institution_by_id(uow, institution_id))


# ------------------------------------------------------------------ courses


class CourseIn(BaseModel):
    course_id: Id | None = Field(None, description="Your own id for it; generated when omitted.")
    code: str = Field(min_length=1, max_length=40, description="Catalogue code, unique.")
    title: str = Field(min_length=1, max_length=300)
    topic: str = Field(min_length=1, max_length=200, description="e.g. 'Código de Ética', 'Conflicto de Interés'.")
    competency: str | None = Field(None, max_length=200, description="Competency of the integrity model it builds.")
    hours: CourseHours = Field(description="Credited training hours, above 0 and at most 500: a whole number or a "
                               "decimal of at least 0.0001 without an exponent (the contract's bound, as "
                               "certificates sign it).")
    minimum_attendance_share: Share = Field(0.8, description="Share of a session to attend to complete it.")
    passing_score: Score | None = Field(None, description="Minimum evaluation score; null = no evaluation.")
    validity_months: int | None = Field(None, ge=1, le=240, description="How long a completion holds (the "
                                        "constancia's vigencia); its certificates carry valid_until. Null: "
                                        "it never expires.")


class CourseOut(CourseIn):
    course_id: str
    # As stored: a course published before the contract stated its plain-number bound still reads.
    hours: float
    passing_score: float | None


def _course_out(course: Course) -> CourseOut:
    return CourseOut.model_validate(course, from_attributes=True)


@router.post("/courses", response_model=CourseOut, status_code=201, tags=["catalogue"],
             responses={200: {"description": "Course re-published with new terms"}})
async def publish_course(body: CourseIn, runtime: Runtime, ctx: Context, correlation_id: CorrelationId,
                         response: Response, _: Comptroller) -> CourseOut:
    """Publish a course of the integrity programme; again with the same id to change its terms."""
    async with runtime.unit_of_work(correlation_id=correlation_id) as uow:
        done = await handlers.publish_course(uow, ctx, **body.model_dump(exclude={"course_id"}),
                                             course_id=body.course_id or handlers.new_id("co"))
        uow.record(done.events)
        out = _course_out(done.row)
    response.status_code = 201 if done.created else 200
    return out


@router.get("/courses", response_model=list[CourseOut], tags=["catalogue"])
async def list_courses(runtime: Runtime, _: Reader) -> list[CourseOut]:
    async with runtime.unit_of_work() as uow:
        return [_course_out(c) for c in await views.courses(uow)]


@router.get("/courses/{course_id}", response_model=CourseOut, tags=["catalogue"])
async def get_course(course_id: str, runtime: Runtime, _: Reader) -> CourseOut:
    async with runtime.unit_of_work() as uow:
        return _course_out(await views.course(uow, course_id))


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


def _session_out(view: views.SessionView) -> SessionOut:
    session = view.session
    return SessionOut(session_id=session.session_id, course_id=session.course_id, modality=session.modality,
                      platform=session.platform, venue=session.venue, starts_at=view.starts_at, ends_at=view.ends_at,
                      timezone=session.timezone, capacity=session.capacity, instructor_id=session.instructor_id,
                      organising_unit=session.organising_unit, cancelled=session.cancelled_at is not None,
                      confirmed=view.confirmed, waitlisted=view.waitlisted)


@router.post("/sessions", response_model=SessionOut, status_code=201, tags=["sessions"])
async def schedule_session(body: SessionIn, runtime: Runtime, ctx: Context, correlation_id: CorrelationId,
                           _: Comptroller) -> SessionOut:
    """Schedule a session of a course (virtual, in-person or hybrid) with its capacity."""
    async with runtime.unit_of_work(correlation_id=correlation_id) as uow:
        done = await handlers.schedule_session(uow, ctx, **body.model_dump(exclude={"session_id"}),
                                               session_id=body.session_id or handlers.new_id("se"))
        uow.record(done.events)
        return _session_out(await views.session(uow, done.row))


@router.get("/sessions", response_model=list[SessionOut], tags=["sessions"])
async def list_sessions(runtime: Runtime, principal: Reader, course_id: str | None = None,
                        starting_from: datetime | None = Query(None, alias="from"),
                        starting_before: datetime | None = Query(None, alias="to")) -> list[SessionOut]:
    for bound, name in ((starting_from, "from"), (starting_before, "to")):
        if bound is not None and bound.tzinfo is None:
            raise HTTPException(422, f"{name}: give an offset, e.g. 2026-11-01T00:00:00-06:00")
    async with runtime.unit_of_work() as uow:
        found = await views.sessions(uow, course_id=course_id, starting_from=starting_from,
                                     starting_before=starting_before, as_instructor=principal.role == "instructor",
                                     instructor_id=principal.instructor_id)
        return [_session_out(s) for s in found]


@router.get("/sessions/{session_id}", response_model=SessionOut, tags=["sessions"])
async def get_session(session_id: str, runtime: Runtime, _: Reader) -> SessionOut:
    async with runtime.unit_of_work() as uow:
        return _session_out(await views.session_by_id(uow, session_id))


@router.post("/sessions/{session_id}/reschedule", response_model=SessionOut, tags=["sessions"])
async def reschedule_session(session_id: str, body: RescheduleIn, runtime: Runtime, ctx: Context,
                             correlation_id: CorrelationId, _: Comptroller) -> SessionOut:
    async with runtime.unit_of_work(correlation_id=correlation_id) as uow:
        done = await handlers.reschedule_session(uow, ctx, session_id, **body.model_dump())
        uow.record(done.events)
        return _session_out(await views.session(uow, done.row))


@router.post("/sessions/{session_id}/cancel", response_model=SessionOut, tags=["sessions"])
async def cancel_session(session_id: str, runtime: Runtime, ctx: Context, correlation_id: CorrelationId,
                         _: Comptroller, body: CancelIn | None = None) -> SessionOut:
    async with runtime.unit_of_work(correlation_id=correlation_id) as uow:
        done = await handlers.cancel_session(uow, ctx, session_id, reason=body.reason if body else None)
        uow.record(done.events)
        return _session_out(await views.session(uow, done.row))


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
async def roster(session_id: str, runtime: Runtime, principal: Reader) -> Roster:
    """Who holds a seat and who waits, in order. Instructors: their own sessions; liaisons: their own people."""
    async with runtime.unit_of_work() as uow:
        found = await views.roster(uow, session_id, as_instructor=principal.role == "instructor",
                                   instructor_id=principal.instructor_id,
                                   liaison_of=principal.institution_id if principal.role == "liaison" else None)
    lines = [RosterLine(enrolment_id=line.enrolment.enrolment_id, servant_id=line.enrolment.servant_id,
                        name=line.name, institution_id=line.enrolment.institution_id, status=line.enrolment.status,
                        waitlist_position=line.position,
                        promoted_from_waitlist=line.enrolment.promoted_from_waitlist)
             for line in found.lines]
    return Roster(session=_session_out(found.session), enrolments=lines)


# ------------------------------------------------------------------ servants


class ServantIn(BaseModel):
    institution_id: Id | None = Field(None, description="A liaison's own institution when omitted.")
    name: str = Field(min_length=1, max_length=300)
    curp: str = Field(min_length=18, max_length=18, description="Checked by format and check digit.")
    email: str | None = Field(None, max_length=254)
    sex: Sex
    position: str | None = Field(None, max_length=200)
    position_level: str | None = Field(None, max_length=100, description="e.g. operativo, mando medio, directivo.")
    joined_on: date | None = Field(None, description="First day in the institution (programme time zone): what "
                                   "'within N days of joining' requirements count from. Today for a new servant "
                                   "when omitted; on or after their leaving day it brings back one who left.")


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
    joined_on: date | None = None
    left_on: date | None = Field(None, description="Set while the servant has left the institution.")


def _servant_out(servant: Servant) -> ServantOut:
    return ServantOut(servant_id=servant.servant_id, institution_id=servant.institution_id, name=servant.name,
                      curp=servant.curp, email=servant.email, sex=servant.sex, position=servant.position,
                      position_level=servant.position_level, erased=servant.erased_at is not None,
                      joined_on=servant.joined_on, left_on=servant.left_on)


@router.post("/servants", response_model=ServantOut, status_code=201, tags=["servants"],
             responses={200: {"description": "A servant of this institution with this CURP was already registered; "
                                   "updated"},
                        409: {"description": "curp: not a CURP the caller may register for this institution "
                              "(the same answer whatever the reason; a move is a transfer)"}})
async def register_servant(body: ServantIn, runtime: Runtime, ctx: Context, correlation_id: CorrelationId,
                           response: Response, principal: Registrar) -> ServantOut:
    """Register a public servant (or update the one with the same CURP); returns the pseudonymous id."""
    scope = acting_for(principal)
    details = ServantDetails(institution_id=handlers.institution_for(scope, body.institution_id), name=body.name,
                             curp=body.curp, sex=body.sex, email=body.email, position=body.position,
                             position_level=body.position_level, joined_on=body.joined_on)
    async with runtime.unit_of_work(correlation_id=correlation_id) as uow:
        done = await handlers.register_servant(uow, ctx, details, acting_for=scope)
        uow.record(done.events)
        out = _servant_out(done.row)
    response.status_code = 201 if done.created else 200
    return out


@router.get("/servants", response_model=list[ServantOut], tags=["servants"])
async def list_servants(runtime: Runtime, principal: Registrar, institution_id: str | None = None,
                        curp: str | None = Query(None, description="Find one person by CURP."),
                        limit: int = Query(100, ge=1, le=1000),
                        offset: int = Query(0, ge=0, le=MAX_OFFSET)) -> list[ServantOut]:
    async with runtime.unit_of_work() as uow:
        found = await views.servants(uow, acting_for=acting_for(principal), institution_id=institution_id, curp=curp,
                                     limit=limit, offset=offset)
        return [_servant_out(s) for s in found]


@router.get("/servants/{servant_id}", response_model=ServantOut, tags=["servants"])
async def get_servant(servant_id: str, runtime: Runtime, principal: Registrar) -> ServantOut:
    async with runtime.unit_of_work() as uow:
        return _servant_out(await views.servant(uow, servant_id, acting_for=acting_for(principal)))


@router.delete("/servants/{servant_id}/personal-data", response_model=ServantOut, tags=["servants"])
async def erase_personal_data(servant_id: str, runtime: Runtime, ctx: Context, correlation_id: CorrelationId,
                              principal: Comptroller) -> ServantOut:
    """ARCO cancellation: erase name, CURP, e-mail and position. The pseudonymous id and the figures stay."""
    async with runtime.unit_of_work(correlation_id=correlation_id) as uow:
        done = await handlers.erase_servant(uow, ctx, servant_id, acting_for=acting_for(principal))
        uow.record(done.events)
        return _servant_out(done.row)


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


def _transfer_out(transfer: Transfer) -> TransferOut:
    return TransferOut.model_validate(transfer, from_attributes=True)


def _who(principal: Principal) -> str:
    """Who acted, as a transfer records it: the role, a liaison's institution, and the token's subject."""
    if principal.role == "comptroller":
        return f"comptroller:{principal.subject}"
    return f"liaison:{principal.institution_id}:{principal.subject}"


@router.post("/servants/{servant_id}/transfer", response_model=TransferOut, status_code=201, tags=["servants"],
             responses={202: {"description": "Requested by a liaison: waits for the joining institution"}})
async def transfer_servant(servant_id: str, body: TransferIn, runtime: Runtime, ctx: Context,
                           correlation_id: CorrelationId, response: Response, principal: Registrar) -> TransferOut:
    """Move a servant to another institution from a date. The comptroller's transfer takes effect at
    once (201); a liaison asks for its own servant (202) and the joining institution accepts it."""
    async with runtime.unit_of_work(correlation_id=correlation_id) as uow:
        done = await handlers.request_transfer(
            uow, ctx, servant_id, to_institution_id=body.to_institution_id, effective_on=body.effective_on,
            acting_for=acting_for(principal), requested_by=_who(principal), reason=body.reason)
        uow.record(done.events)
        out = _transfer_out(done.row)
    response.status_code = 201 if out.status == "completed" else 202
    return out


@router.get("/transfers", response_model=list[TransferOut], tags=["servants"])
async def list_transfers(runtime: Runtime, principal: Registrar,
                         status: Literal["requested", "completed", "declined"] | None = None) -> list[TransferOut]:
    """Transfers from or to the caller's institution (all of them for the comptroller)."""
    async with runtime.unit_of_work() as uow:
        return [_transfer_out(t) for t in await views.transfers(uow, status=status, acting_for=acting_for(principal))]


async def _answer(runtime: Runtime, ctx: EnrollmentContext, correlation_id: str | None, principal: Principal,
                  transfer_id: str, accept: bool) -> TransferOut:
    async with runtime.unit_of_work(correlation_id=correlation_id) as uow:
        done = await handlers.answer_transfer(uow, ctx, transfer_id, accept=accept, acting_for=acting_for(principal),
                                              answered_by=_who(principal))
        uow.record(done.events)
        return _transfer_out(done.row)


@router.post("/transfers/{transfer_id}/accept", response_model=TransferOut, tags=["servants"])
async def accept_transfer(transfer_id: str, runtime: Runtime, ctx: Context, correlation_id: CorrelationId,
                          principal: Registrar) -> TransferOut:
    """The joining institution (or the comptroller) accepts: the servant moves, ServantTransferred is published."""
    return await _answer(runtime, ctx, correlation_id, principal, transfer_id, accept=True)


@router.post("/transfers/{transfer_id}/decline", response_model=TransferOut, tags=["servants"])
async def decline_transfer(transfer_id: str, runtime: Runtime, ctx: Context, correlation_id: CorrelationId,
                           principal: Registrar) -> TransferOut:
    """Either institution (or the comptroller) declines or withdraws a requested transfer: nothing moves."""
    return await _answer(runtime, ctx, correlation_id, principal, transfer_id, accept=False)


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
async def enrol(body: EnrolmentIn, runtime: Runtime, ctx: Context, correlation_id: CorrelationId,
                principal: Registrar) -> EnrolmentOut:
    """Enrol a servant in a session: a seat while there is one, else a place on the waitlist."""
    async with runtime.unit_of_work(correlation_id=correlation_id) as uow:
        enrolled = await handlers.enrol(uow, ctx, session_id=body.session_id, servant_id=body.servant_id,
                                        curp=body.curp, acting_for=acting_for(principal), channel="http")
        uow.record(enrolled.events)
    return _enrolment_out(enrolled.enrolment, enrolled.position)


@router.get("/enrolments", response_model=list[EnrolmentOut], tags=["enrolments"])
async def list_enrolments(runtime: Runtime, principal: Registrar, session_id: str | None = None,
                          servant_id: str | None = None, include_cancelled: bool = False,
                          limit: int = Query(500, ge=1, le=5000),
                          offset: int = Query(0, ge=0, le=MAX_OFFSET)) -> list[EnrolmentOut]:
    async with runtime.unit_of_work() as uow:
        found = await views.enrolments(uow, acting_for=acting_for(principal), session_id=session_id,
                                       servant_id=servant_id, include_cancelled=include_cancelled, limit=limit,
                                       offset=offset)
        return [_enrolment_out(e.enrolment, e.position) for e in found]


@router.get("/enrolments/{enrolment_id}", response_model=EnrolmentOut, tags=["enrolments"])
async def get_enrolment(enrolment_id: str, runtime: Runtime, principal: Registrar) -> EnrolmentOut:
    async with runtime.unit_of_work() as uow:
        found = await views.enrolment(uow, enrolment_id, acting_for=acting_for(principal))
        return _enrolment_out(found.enrolment, found.position)


class CancellationOut(BaseModel):
    cancelled: EnrolmentOut
    promoted: list[EnrolmentOut] = Field(description="Waitlisted enrolments that took the freed seat.")


@router.post("/enrolments/{enrolment_id}/cancel", response_model=CancellationOut, tags=["enrolments"])
async def cancel_enrolment(enrolment_id: str, runtime: Runtime, ctx: Context, correlation_id: CorrelationId,
                           principal: Registrar, body: CancelIn | None = None) -> CancellationOut:
    """Cancel an enrolment; the earliest waitlisted servant takes the seat it frees."""
    async with runtime.unit_of_work(correlation_id=correlation_id) as uow:
        done = await handlers.cancel_enrolment(uow, ctx, enrolment_id, reason=body.reason if body else None,
                                               acting_for=acting_for(principal))
        uow.record(done.events)
        return CancellationOut(cancelled=_enrolment_out(done.enrolment),
                               promoted=[_enrolment_out(p) for p in done.promoted])


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
    joined_on: str | None = Field(None, description="First day in the institution: YYYY-MM-DD or DD/MM/YYYY "
                                  "(a file's fecha_ingreso); today for a new servant when empty.")


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
async def import_servants(body: ImportIn, runtime: Runtime, ctx: Context, correlation_id: CorrelationId,
                          principal: Registrar) -> ImportReport:
    """Register (and optionally enrol) many servants. Each row commits alone: a bad row changes nothing
    and is reported with its field and reason; the good rows go through."""
    if len(body.rows) > ctx.bulk_max_rows:
        raise HTTPException(413, f"rows: at most {ctx.bulk_max_rows} rows per request; send chunks")
    scope = acting_for(principal)
    results = []
    for index, row in enumerate(body.rows, start=1):
        line = row.line or index
        try:
            async with runtime.unit_of_work(correlation_id=correlation_id) as uow:
                imported = await handlers.import_line(uow, ctx, _import_line(row), acting_for=scope)
                uow.record(imported.events)
        except RuleViolation as violation:
            results.append(ImportResult(line=line, accepted=False, field=violation.field, reason=violation.message))
            continue
        except IntegrityError:
            results.append(ImportResult(line=line, accepted=False,
                                        reason="a concurrent request changed the same servant; retry the row"))
            continue
        result = ImportResult(line=line, accepted=True, servant_id=imported.servant_id,
                              servant=imported.servant)  # type: ignore[arg-type]
        if imported.enrolled is not None:
            result.enrolment_id = imported.enrolled.enrolment.enrolment_id
            result.enrolment = imported.enrolled.enrolment.status  # type: ignore[assignment]
            result.waitlist_position = imported.enrolled.position
        results.append(result)
    accepted = sum(r.accepted for r in results)
    return ImportReport(accepted=accepted, rejected=len(results) - accepted, results=results)


def _import_line(row: ImportRow) -> handlers.ImportLine:
    return handlers.ImportLine(institution_id=_clean(row.institution_id), name=_clean(row.name), curp=row.curp,
                               email=_clean(row.email), sex=row.sex, position=_clean(row.position),
                               position_level=_clean(row.position_level), session_id=_clean(row.session_id),
                               joined_on=_clean(row.joined_on))


# ------------------------------------------------------------------ the annual training programme

MAX_PLAN_FILE_BYTES = 4_000_000


class PlanIn(BaseModel):
    year: int = Field(ge=2000, le=2100)
    targets: list[PlanTarget] = Field(min_length=1, max_length=MAX_PLAN_TARGETS, description="The whole plan of "
                                      "the year: at most one target per month, institution and topic.")


class PlanOut(BaseModel):
    plan_id: str
    year: int
    version: int = Field(description="1, 2, ... per year; this version replaced the previous one at declared_at.")
    declared_at: datetime
    declared_by: str
    targets: list[PlanTarget]


def _plan_out(plan: PlanVersion, lines: list[PlanLine]) -> PlanOut:
    return PlanOut(plan_id=plan.plan_id, year=plan.year, version=plan.version, declared_at=plan.declared_at,
                   declared_by=plan.declared_by,
                   targets=[PlanTarget(month=line.month, institution_id=line.institution_id, topic=line.topic,
                                       sessions=line.sessions, people=line.people, hours=line.hours) for line in lines])


async def _declare_plan(runtime: Runtime, ctx: EnrollmentContext, correlation_id: str | None, principal: Principal,
                        year: int, lines: list[PlanLine]) -> PlanOut:
    async with runtime.unit_of_work(correlation_id=correlation_id) as uow:
        done = await handlers.declare_plan(uow, ctx, year=year, lines=lines,
                                           declared_by=f"comptroller:{principal.subject}")
        uow.record(done.events)
    return _plan_out(done.row, lines)


@router.post("/plans", response_model=PlanOut, status_code=201, tags=["programme"])
async def declare_plan(body: PlanIn, runtime: Runtime, ctx: Context, correlation_id: CorrelationId,
                       principal: Comptroller) -> PlanOut:
    """Declare the year's training programme (a new version of it, replacing the previous one from now)."""
    lines = [PlanLine(f"targets.{i}", t.month, t.institution_id, t.topic.strip(), t.sessions, t.people, t.hours)
             for i, t in enumerate(body.targets)]
    return await _declare_plan(runtime, ctx, correlation_id, principal, body.year, lines)


@router.post("/plans/import", response_model=PlanOut, status_code=201, tags=["programme"])
async def import_plan(request: Request, runtime: Runtime, ctx: Context, correlation_id: CorrelationId,
                      principal: Comptroller) -> PlanOut:
    """Declare the year's programme from a CSV file (the request body, or the multipart field ``file``):
    a header row ``year,month,institution_id,topic,sessions,people,hours``, then one target per row.
    The first bad value refuses the whole file (422 naming its row and column); nothing is declared."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_PLAN_FILE_BYTES:
        raise HTTPException(413, f"file: larger than {MAX_PLAN_FILE_BYTES} bytes")
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        upload = (await request.form()).get("file")
        if upload is None or isinstance(upload, str):
            raise HTTPException(422, "file: send the plan as the 'file' field")
        data = await upload.read()
    else:
        data = await request.body()
    if len(data) > MAX_PLAN_FILE_BYTES:
        raise HTTPException(413, f"file: larger than {MAX_PLAN_FILE_BYTES} bytes")
    year, lines = parse_plan_csv(data)
    return await _declare_plan(runtime, ctx, correlation_id, principal, year, lines)


@router.get("/plans/{year}", response_model=PlanOut, tags=["programme"])
async def get_plan(year: Annotated[int, Path(ge=2000, le=2100)], runtime: Runtime, principal: Reader) -> PlanOut:
    """The year's programme in force (its latest version); a liaison sees its own institution's targets."""
    async with runtime.unit_of_work() as uow:
        plan, lines = await views.plan(uow, year, acting_for=acting_for(principal))
    return _plan_out(plan, lines)


# ------------------------------------------------------------------ leaving ("baja")

MAX_DEPARTURES_FILE_BYTES = 4_000_000


class DepartureIn(BaseModel):
    left_on: date = Field(description="First day no longer serving (programme time zone); not after today.")
    reason: str | None = Field(None, max_length=500, description="Kept in enrollment only (renuncia, jubilación…).")


@router.post("/servants/{servant_id}/departure", response_model=ServantOut, tags=["servants"])
async def record_departure(servant_id: str, body: DepartureIn, runtime: Runtime, ctx: Context,
                           correlation_id: CorrelationId, principal: Registrar) -> ServantOut:
    """The servant left the institution ("baja") from ``left_on``: ServantLeft. Their history stays; no
    requirement applies to them from that day, and they cannot be enrolled in a session starting then or later."""
    async with runtime.unit_of_work(correlation_id=correlation_id) as uow:
        done = await handlers.record_departure(uow, ctx, servant_id=servant_id, curp=None, left_on=body.left_on,
                                               reason=body.reason, acting_for=acting_for(principal),
                                               recorded_by=_who(principal))
        uow.record(done.events)
        return _servant_out(done.row)


class DepartureResult(BaseModel):
    line: int
    accepted: bool
    servant_id: str | None = None
    left_on: date | None = None
    field: str | None = None
    reason: str | None = None


class DepartureReport(BaseModel):
    accepted: int
    rejected: int
    results: list[DepartureResult]


async def _file(request: Request, limit: int) -> bytes:
    """A file sent as the request body, or as the multipart field ``file``."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"file: larger than {limit} bytes")
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        upload = (await request.form()).get("file")
        if upload is None or isinstance(upload, str):
            raise HTTPException(422, "file: send the file as the 'file' field")
        data = await upload.read()
    else:
        data = await request.body()
    if len(data) > limit:
        raise HTTPException(413, f"file: larger than {limit} bytes")
    return data


@router.post("/servants/departures/import", response_model=DepartureReport, tags=["servants"])
async def import_departures(request: Request, runtime: Runtime, ctx: Context, correlation_id: CorrelationId,
                            principal: Registrar) -> DepartureReport:
    """Record many leavings from a CSV file (the body, or the multipart field ``file``): a header naming
    ``servant_id`` or ``curp``, ``left_on`` and optionally ``reason`` (or fecha_baja, motivo), dates as
    YYYY-MM-DD or DD/MM/YYYY. Each row commits alone: a bad row is reported with its field and reason."""
    lines = parse_departures_csv(await _file(request, MAX_DEPARTURES_FILE_BYTES))
    if len(lines) > ctx.bulk_max_rows:
        raise HTTPException(413, f"rows: at most {ctx.bulk_max_rows} rows per request; send chunks")
    scope = acting_for(principal)
    results = []
    for line in lines:
        try:
            left_on = domain.parse_day(line.left_on, "left_on")
            async with runtime.unit_of_work(correlation_id=correlation_id) as uow:
                done = await handlers.record_departure(uow, ctx, servant_id=line.servant_id, curp=line.curp,
                                                       left_on=left_on, reason=line.reason, acting_for=scope,
                                                       recorded_by=_who(principal))
                uow.record(done.events)
        except RuleViolation as violation:
            results.append(DepartureResult(line=line.line, accepted=False, field=violation.field,
                                           reason=violation.message))
            continue
        except IntegrityError:
            results.append(DepartureResult(line=line.line, accepted=False,
                                           reason="a concurrent request changed the same servant; retry the row"))
            continue
        results.append(DepartureResult(line=line.line, accepted=True, servant_id=done.row.servant_id, left_on=left_on))
    accepted = sum(r.accepted for r in results)
    return DepartureReport(accepted=accepted, rejected=len(results) - accepted, results=results)


# ------------------------------------------------------------------ training requirements


class ScopeIn(BaseModel):
    """Whom it is required of: every criterion given must match; none = every servant."""

    institution_ids: list[Id] | None = Field(None, max_length=2000)
    government_level: GovernmentLevel | None = None
    position_levels: list[str] | None = Field(None, max_length=100)
    positions: list[str] | None = Field(None, max_length=1000, description="Position titles (compared without "
                                        "accents, case or extra spaces); published as their keyed digests.")


class RequirementIn(BaseModel):
    requirement_id: Id | None = Field(None, description="Generated when omitted; an existing one gets version N+1.")
    title: str = Field(min_length=1, max_length=300)
    course_id: Id | None = Field(None, description="The course whose certificate satisfies it (or competency).")
    competency: str | None = Field(None, max_length=200, description="The competency whose attainment satisfies it.")
    scope: ScopeIn = Field(default_factory=ScopeIn)
    due: DueRule
    effective_from: date | None = Field(None, description="First day in force (programme time zone); today when "
                                        "omitted.")


class WithdrawIn(BaseModel):
    effective_from: date | None = Field(None, description="First day it requires nothing; today when omitted.")


class RequirementVersionOut(BaseModel):
    version: int
    effective_from: date
    title: str
    course_id: str | None
    competency: str | None
    scope: RequirementScope
    positions: list[str] = Field(description="The position titles the scope was declared with.")
    due: DueRule
    withdrawn: bool
    declared_at: datetime
    declared_by: str


class RequirementOut(BaseModel):
    requirement_id: str
    in_force: RequirementVersionOut | None = Field(description="The version in force on the day asked; null when "
                                                   "none is yet, or it is withdrawn.")
    versions: list[RequirementVersionOut]


def _version_out(row: RequirementRow) -> RequirementVersionOut:
    e = requirement_event(row)
    return RequirementVersionOut(version=e.version, effective_from=e.effective_from, title=e.title,
                                 course_id=e.course_id, competency=e.competency, scope=e.scope,
                                 positions=requirement_positions(row), due=e.due, withdrawn=e.withdrawn,
                                 declared_at=e.declared_at, declared_by=e.declared_by)


def _requirement_out(view: views.RequirementView) -> RequirementOut:
    return RequirementOut(requirement_id=view.requirement_id,
                          in_force=_version_out(view.in_force) if view.in_force else None,
                          versions=[_version_out(v) for v in view.versions])


def _moment(ctx: EnrollmentContext, as_of: str | None) -> tuple[date, datetime | None]:
    """``as_of`` (a date: its end in the programme's zone, or a date-time) as the day judged and the
    moment of knowledge; none: today, as known now."""
    zone = domain.zone(ctx.programme_timezone)
    moment = parse_as_of(as_of, zone)
    return (ctx.today(), None) if moment is None else (moment.astimezone(zone).date(), moment)


@router.post("/requirements", response_model=RequirementOut, status_code=201, tags=["requirements"],
             responses={200: {"description": "A new version of an existing requirement"}})
async def declare_requirement(body: RequirementIn, runtime: Runtime, ctx: Context, correlation_id: CorrelationId,
                              response: Response, principal: Comptroller) -> RequirementOut:
    """Declare a training requirement ("capacitación obligatoria"), or its next version: which course or
    competency, of whom, by when. Published as TrainingRequirementDeclared."""
    scope = body.scope
    terms_ = RequirementTerms(title=body.title, course_id=body.course_id, competency=body.competency,
                              effective_from=body.effective_from or ctx.today(), due=body.due,
                              institution_ids=tuple(scope.institution_ids or ()),
                              government_level=scope.government_level,
                              position_levels=tuple(scope.position_levels or ()), positions=tuple(scope.positions or ()))
    async with runtime.unit_of_work(correlation_id=correlation_id) as uow:
        done = await handlers.declare_requirement(uow, ctx, terms_,
                                                  requirement_id=body.requirement_id or handlers.new_id("rq"),
                                                  declared_by=f"comptroller:{principal.subject}")
        uow.record(done.events)
        (view,) = await views.requirements(uow, on=ctx.today(), known_by=None, requirement_id=done.row.requirement_id)
    response.status_code = 201 if done.created else 200
    return _requirement_out(view)


@router.post("/requirements/{requirement_id}/withdraw", response_model=RequirementOut, tags=["requirements"])
async def withdraw_requirement(requirement_id: str, runtime: Runtime, ctx: Context, correlation_id: CorrelationId,
                               principal: Comptroller, body: WithdrawIn | None = None) -> RequirementOut:
    """Withdraw a requirement from a date: a last version that requires nothing."""
    async with runtime.unit_of_work(correlation_id=correlation_id) as uow:
        done = await handlers.withdraw_requirement(uow, ctx, requirement_id,
                                                   effective_from=body.effective_from if body else None,
                                                   declared_by=f"comptroller:{principal.subject}")
        uow.record(done.events)
        (view,) = await views.requirements(uow, on=ctx.today(), known_by=None, requirement_id=requirement_id)
    return _requirement_out(view)


@router.get("/requirements", response_model=list[RequirementOut], tags=["requirements"])
async def list_requirements(runtime: Runtime, ctx: Context, _: Reader,
                            as_of: str | None = Query(None, description="Date or date-time: the versions known "
                                                      "then, and the one in force that day."),
                            on: date | None = Query(None, description="The day whose version in force is shown "
                                                    "(default: the as-of day, or today).")) -> list[RequirementOut]:
    day, known_by = _moment(ctx, as_of)
    on = on or day
    async with runtime.unit_of_work() as uow:
        return [_requirement_out(v) for v in await views.requirements(uow, on=on, known_by=known_by)]


@router.get("/requirements/{requirement_id}", response_model=RequirementOut, tags=["requirements"])
async def get_requirement(requirement_id: str, runtime: Runtime, ctx: Context, _: Reader,
                          as_of: str | None = Query(None, description="Date or date-time: the versions known then."),
                          on: date | None = Query(None, description="The day whose version in force is shown "
                                                  "(default: the as-of day, or today).")) -> RequirementOut:
    day, known_by = _moment(ctx, as_of)
    on = on or day
    async with runtime.unit_of_work() as uow:
        (view,) = await views.requirements(uow, on=on, known_by=known_by, requirement_id=requirement_id)
    return _requirement_out(view)


# ------------------------------------------------------------------ exemptions


class ExemptionIn(BaseModel):
    requirement_id: Id
    reason: str = Field(min_length=1, max_length=500, description="Why (incapacidad médica, acreditado por otra "
                        "instancia…); no personal data beyond what the reason needs.")
    effective_from: date | None = Field(None, description="First day exempt; today when omitted.")
    until: date | None = Field(None, description="Last day exempt; null = until withdrawn.")


class ExemptionWithdrawIn(BaseModel):
    withdrawn_on: date | None = Field(None, description="First day no longer exempt; today when omitted.")


class ExemptionOut(BaseModel):
    exemption_id: str
    requirement_id: str
    servant_id: str
    reason: str
    effective_from: date
    until: date | None
    granted_by: str
    granted_at: datetime
    withdrawn_on: date | None
    withdrawn_by: str | None


def _exemption_out(row: ExemptionRow) -> ExemptionOut:
    return ExemptionOut.model_validate(row, from_attributes=True)


@router.post("/servants/{servant_id}/exemptions", response_model=ExemptionOut, status_code=201,
             tags=["requirements"])
async def grant_exemption(servant_id: str, body: ExemptionIn, runtime: Runtime, ctx: Context,
                          correlation_id: CorrelationId, principal: Registrar) -> ExemptionOut:
    """Exempt a servant from a requirement, for a reason (the comptroller, or the servant's liaison)."""
    async with runtime.unit_of_work(correlation_id=correlation_id) as uow:
        done = await handlers.grant_exemption(uow, ctx, servant_id, requirement_id=body.requirement_id,
                                              reason=body.reason, effective_from=body.effective_from,
                                              until=body.until, acting_for=acting_for(principal),
                                              granted_by=_who(principal))
        uow.record(done.events)
        return _exemption_out(done.row)


@router.get("/servants/{servant_id}/exemptions", response_model=list[ExemptionOut], tags=["requirements"])
async def list_exemptions(servant_id: str, runtime: Runtime, principal: Registrar) -> list[ExemptionOut]:
    """The servant's exemptions, withdrawn ones included (the comptroller, or the servant's liaison)."""
    async with runtime.unit_of_work() as uow:
        return [_exemption_out(row) for row in await views.exemptions(uow, servant_id, acting_for=acting_for(principal))]


@router.post("/exemptions/{exemption_id}/withdraw", response_model=ExemptionOut, tags=["requirements"])
async def withdraw_exemption(exemption_id: str, runtime: Runtime, ctx: Context, correlation_id: CorrelationId,
                             principal: Registrar, body: ExemptionWithdrawIn | None = None) -> ExemptionOut:
    async with runtime.unit_of_work(correlation_id=correlation_id) as uow:
        done = await handlers.withdraw_exemption(uow, ctx, exemption_id,
                                                 withdrawn_on=body.withdrawn_on if body else None,
                                                 acting_for=acting_for(principal), withdrawn_by=_who(principal))
        uow.record(done.events)
        return _exemption_out(done.row)


# ------------------------------------------------------------------ the named compliance list


class ComplianceLineOut(BaseModel):
    servant_id: str
    name: str | None = Field(description="Null once the servant's personal data was erased.")
    curp: str | None
    position: str | None
    requirement_id: str
    requirement: str = Field(description="The title of the version in force.")
    version: int
    state: Literal["compliant", "due", "overdue", "exempt"]
    due_on: date | None = Field(description="Due and overdue: the last day to meet it; compliant with a renewal: "
                                "the last day the completion holds; else null.")


class ComplianceOut(BaseModel):
    institution_id: str
    on: date = Field(description="The day judged (programme time zone).")
    as_of: datetime | None = Field(description="The moment of knowledge; null: as known now.")
    state: str
    lines: list[ComplianceLineOut]


class ComplianceQuery:
    def __init__(self, ctx: Context, as_of: str | None = Query(None, description="Date or date-time: the standing "
                                                                "that day, as known then."),
                 on: date | None = Query(None, description="The day judged (programme time zone), as known at "
                                         "as_of; default: the as-of day, or today."),
                 requirement_id: str | None = Query(None, max_length=64),
                 state: str = Query("overdue", description=f"One of {', '.join(views.STATES)}.")) -> None:
        if state not in views.STATES:
            raise HTTPException(422, f"state: must be one of {', '.join(views.STATES)}")
        self.on, self.known_by = _moment(ctx, as_of)
        if on is not None:
            self.on = on
        self.requirement_id, self.state = requirement_id, state


async def _compliance(runtime: Runtime, institution_id: str, principal: Principal,
                      q: ComplianceQuery) -> list[views.ComplianceLine]:
    async with runtime.unit_of_work() as uow:
        return await views.compliance_list(uow, institution_id, acting_for=acting_for(principal), on=q.on,
                                           known_by=q.known_by, requirement_id=q.requirement_id, state=q.state)


@router.get("/institutions/{institution_id}/compliance", response_model=ComplianceOut, tags=["requirements"])
async def compliance_list(institution_id: str, runtime: Runtime, principal: Registrar,
                          q: ComplianceQuery = Depends()) -> ComplianceOut:
    """The institution's named list: each servant serving there on the day, with their standing on each
    requirement in force that applies to them (overdue ones by default). The comptroller and the
    institution's liaison only; to another institution's liaison the institution is unknown (404)."""
    lines = await _compliance(runtime, institution_id, principal, q)
    return ComplianceOut(institution_id=institution_id, on=q.on, as_of=q.known_by, state=q.state, lines=[
        ComplianceLineOut(servant_id=l.servant.servant_id, name=l.servant.name, curp=l.servant.curp,
                          position=l.servant.position, requirement_id=l.requirement.requirement_id,
                          requirement=l.requirement.title, version=l.requirement.version,
                          state=l.standing.state.value, due_on=l.standing.due_on) for l in lines])


@router.get("/institutions/{institution_id}/compliance.csv", response_class=PlainTextResponse,
            tags=["requirements"])
async def compliance_csv(institution_id: str, runtime: Runtime, principal: Registrar,
                         q: ComplianceQuery = Depends()) -> PlainTextResponse:
    """The same list as CSV (UTF-8) for the ethics committee: servant_id, name, curp, position,
    requirement_id, requirement, state, due_on."""
    lines = await _compliance(runtime, institution_id, principal, q)
    return PlainTextResponse(views.compliance_csv(lines), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="compliance-{institution_id}-{q.on.isoformat()}.csv"'})


# ------------------------------------------------------------------ named constancias


class ConstanciaOut(BaseModel):
    verification_code: str
    course_id: str | None
    course_title: str | None
    issued_on: date | None
    valid_until: date | None
    revoked: bool = Field(description="A revoked certificate's constancia is not printed.")
    pdf: str = Field(description="Path of the printable constancia (with the holder's name and CURP).")


@router.get("/servants/{servant_id}/constancias", response_model=list[ConstanciaOut], tags=["constancias"])
async def list_constancias(servant_id: str, runtime: Runtime, principal: Registrar) -> list[ConstanciaOut]:
    """The servant's certificates, each printable as a named constancia (the comptroller, or the
    servant's liaison)."""
    async with runtime.unit_of_work() as uow:
        found = await views.constancias(uow, servant_id, acting_for=acting_for(principal))
    return [ConstanciaOut(verification_code=c.row.verification_code, course_id=c.row.course_id,
                          course_title=c.course_title, issued_on=c.row.completed_on, valid_until=c.row.valid_until,
                          revoked=c.row.revoked_on is not None,
                          pdf=f"/servants/{servant_id}/constancias/{c.row.verification_code}.pdf") for c in found]


@router.get("/servants/{servant_id}/constancias/{code}.pdf", response_class=Response, tags=["constancias"],
            responses={200: {"content": {"application/pdf": {}}}, 410: {"description": "Personal data erased"}})
async def constancia_pdf(servant_id: str, code: str, runtime: Runtime, ctx: Context,
                         principal: Registrar) -> Response:
    """The named constancia: holder's full name and CURP, course, hours, date, folio, and a QR code to the
    verification page, which can check the printed CURP against the signed certificate. 410 once the
    servant's personal data was erased (ARCO); 409 for a revoked certificate."""
    async with runtime.unit_of_work() as uow:
        named = await views.named_constancia(uow, ctx, servant_id, code, acting_for=acting_for(principal))
    return Response(render_constancia(named), media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{constancia_file_name(named)}"'})


@router.get("/institutions/{institution_id}/constancias.zip", response_class=Response, tags=["constancias"],
            responses={200: {"content": {"application/zip": {}}}})
async def institution_constancias(institution_id: str, runtime: Runtime, ctx: Context,
                                  principal: Registrar) -> Response:
    """Every printable constancia of the institution's servants in one ZIP, for the liaison's personnel
    files (revoked certificates and erased servants left out); 404 to another institution's liaison."""
    async with runtime.unit_of_work() as uow:
        named = await views.institution_constancias(uow, ctx, institution_id, acting_for=acting_for(principal))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for constancia in named:
            archive.writestr(f"{constancia.curp}/{constancia_file_name(constancia)}", render_constancia(constancia))
    return Response(buffer.getvalue(), media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="constancias-{institution_id}.zip"'})

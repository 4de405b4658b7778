"""HTTP API of sessions: translates requests into handler and view calls, nothing more."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from contracts.events import Id, Modality
from fastapi import APIRouter, Query
from probidad.shared.dependencies import Comptroller, Reader, Runtime
from probidad.shared.errors import RuleViolation
from pydantic import BaseModel, Field

from services.enrollment.context import new_id
from services.enrollment.http import CancelIn, Context, CorrelationId, storage
from services.enrollment.sessions import handlers, views

router = APIRouter()


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
        done = await handlers.schedule_session(storage(uow), ctx, **body.model_dump(exclude={"session_id"}),
                                               session_id=body.session_id or new_id("se"))
        uow.record(done.events)
        return _session_out(await views.session(storage(uow), done.row))


@router.get("/sessions", response_model=list[SessionOut], tags=["sessions"])
async def list_sessions(runtime: Runtime, principal: Reader, course_id: str | None = None,
                        starting_from: datetime | None = Query(None, alias="from"),
                        starting_before: datetime | None = Query(None, alias="to")) -> list[SessionOut]:
    for bound, name in ((starting_from, "from"), (starting_before, "to")):
        if bound is not None and bound.tzinfo is None:
            raise RuleViolation(name, "give an offset, e.g. 2026-11-01T00:00:00-06:00")
    async with runtime.unit_of_work() as uow:
        found = await views.sessions(storage(uow), course_id=course_id, starting_from=starting_from,
                                     starting_before=starting_before, as_instructor=principal.role == "instructor",
                                     instructor_id=principal.instructor_id)
        return [_session_out(s) for s in found]


@router.get("/sessions/{session_id}", response_model=SessionOut, tags=["sessions"])
async def get_session(session_id: str, runtime: Runtime, _: Reader) -> SessionOut:
    async with runtime.unit_of_work() as uow:
        return _session_out(await views.session_by_id(storage(uow), session_id))


@router.post("/sessions/{session_id}/reschedule", response_model=SessionOut, tags=["sessions"])
async def reschedule_session(session_id: str, body: RescheduleIn, runtime: Runtime, ctx: Context,
                             correlation_id: CorrelationId, _: Comptroller) -> SessionOut:
    async with runtime.unit_of_work(correlation_id=correlation_id) as uow:
        done = await handlers.reschedule_session(storage(uow), ctx, session_id, **body.model_dump())
        uow.record(done.events)
        return _session_out(await views.session(storage(uow), done.row))


@router.post("/sessions/{session_id}/cancel", response_model=SessionOut, tags=["sessions"])
async def cancel_session(session_id: str, runtime: Runtime, ctx: Context, correlation_id: CorrelationId,
                         _: Comptroller, body: CancelIn | None = None) -> SessionOut:
    async with runtime.unit_of_work(correlation_id=correlation_id) as uow:
        done = await handlers.cancel_session(storage(uow), ctx, session_id, reason=body.reason if body else None,
                                             now=ctx.now())
        uow.record(done.events)
        return _session_out(await views.session(storage(uow), done.row))


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
        found = await views.roster(storage(uow), session_id, as_instructor=principal.role == "instructor",
                                   instructor_id=principal.instructor_id,
                                   liaison_of=principal.institution_id if principal.role == "liaison" else None)
    lines = [RosterLine(enrolment_id=line.enrolment.enrolment_id, servant_id=line.enrolment.servant_id,
                        name=line.name, institution_id=line.enrolment.institution_id, status=line.enrolment.status,
                        waitlist_position=line.position,
                        promoted_from_waitlist=line.enrolment.promoted_from_waitlist)
             for line in found.lines]
    return Roster(session=_session_out(found.session), enrolments=lines)



"""HTTP API of attendance: translates requests into handler and view calls (the shared app answers a broken
rule with its 4xx).

Roles: instructors act on the sessions they teach, the comptroller on any; liaisons read their
institution's records. Self check-in needs no token: the session's code is the credential.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, Field

from contracts.events import AttendanceStatus, Id, Score
from probidad.shared.auth import Principal
from probidad.shared.dependencies import Anyone, Manager, Provided, Registrar, Runtime
from probidad.shared.unit_of_work import UnitOfWork
from services.attendance import handlers, views
from services.attendance.domain.commands import Record
from services.attendance.domain.intervals import Decision
from services.attendance.domain.reports import parse_grades
from services.attendance.handlers import AttendanceContext
from services.attendance.repository import SqlAttendanceRepository

router = APIRouter(tags=["attendance"])
Context = Provided(AttendanceContext)


def _repository(uow: UnitOfWork) -> SqlAttendanceRepository:
    return SqlAttendanceRepository.of(uow)


def _correlation(request: Request) -> str | None:
    return request.headers.get("x-correlation-id")


def _iso(moment: datetime | int | None) -> str | None:
    if moment is None:
        return None
    if isinstance(moment, int):
        moment = datetime.fromtimestamp(moment, UTC)
    return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment).isoformat()


# ---------------------------------------------------------------- models


class DecisionOut(BaseModel):
    servant_id: str
    minutes_present: int
    minutes_present_exact: float = Field(description=(
        "Minutes present with one decimal, rounded down (114 min 58 s is 114.9): what completion is "
        "decided on, to the second. minutes_present is the same in whole minutes."))
    seconds_present: int | None = Field(None, description="The measure; null in records made before it was kept.")
    session_minutes: int
    share: float
    status: str
    source_of_record: str

    @classmethod
    def of(cls, decision: Decision) -> "DecisionOut":
        return cls(servant_id=decision.servant_id, minutes_present=decision.minutes_present,
                   minutes_present_exact=decision.minutes_exact, seconds_present=decision.seconds_present,
                   session_minutes=decision.session_minutes, share=decision.share, status=decision.status,
                   source_of_record=decision.source_of_record)


class SessionOut(BaseModel):
    session_id: str
    course_id: str | None
    instructor_id: str | None
    modality: str | None
    starts_at: str | None
    ends_at: str | None
    timezone: str | None
    cancelled: bool
    closed_at: str | None
    attendance: list[DecisionOut] = Field(description="Provisional until the session is closed.")


class MarkIn(BaseModel):
    servant_id: Id
    status: AttendanceStatus
    minutes_present: int | None = Field(None, ge=0, description="Omit to keep the measured minutes.")
    reason: str | None = Field(None, min_length=1, max_length=1000, description="Required once the session is closed.")


class MarkOut(BaseModel):
    attendance: DecisionOut
    corrected: bool = Field(description="True when the change was published as an AttendanceCorrected.")


class CheckInIn(BaseModel):
    code: str = Field(min_length=4, max_length=32, description="The code shown in the session.")
    servant_id: Id | None = None
    email: str | None = Field(None, max_length=254, description="Alternative to servant_id; never stored.")


class CheckInOut(BaseModel):
    servant_id: str
    checked_in_at: str
    already_checked_in: bool


class UnmatchedOut(BaseModel):
    line: int
    name: str
    email: str | None
    reason: str


class IgnoredOut(BaseModel):
    line: int
    name: str
    reason: str


class CorrectionOut(BaseModel):
    servant_id: str
    minutes_before: int
    status_before: str
    minutes_after: int
    status_after: str


class ImportOut(BaseModel):
    report_id: str
    format: str
    rows: int
    matched_rows: int
    servants: dict[str, int] = Field(description="Servant id -> whole minutes within the session according to this "
                                     "report.")
    servant_seconds: dict[str, int] = Field(description="Servant id -> seconds within the session according to this "
                                            "report.")
    unmatched: list[UnmatchedOut]
    ignored: list[IgnoredOut]
    warnings: list[str]
    corrections: list[CorrectionOut]


class GradeIn(BaseModel):
    servant_id: Id | None = None
    email: str | None = Field(None, max_length=254)
    score: Score = Field(description="0 to 100: a whole number or a decimal of at least 0.0001 without an exponent "
                       "(the contract's bound, as certificates sign it).")


class GradesIn(BaseModel):
    grades: list[GradeIn] = Field(min_length=1, max_length=20_000)


class GradesOut(BaseModel):
    graded: int
    published: bool = Field(description="Grades of a closed session are published at once.")


class ClosingOut(BaseModel):
    session_id: str
    closed_at: str
    enrolled: int
    present: int
    graded: int
    attendance: list[DecisionOut]


class RecordOut(BaseModel):
    session_id: str
    servant_id: str
    institution_id: str | None
    kind: Literal["recorded", "corrected"]
    minutes_present: int
    minutes_present_exact: float = Field(description=(
        "Minutes present with one decimal, rounded down (114 min 58 s is 114.9): what completion is "
        "decided on, to the second. minutes_present is the same in whole minutes."))
    seconds_present: int | None = Field(None, description="The measure; null in records made before it was kept.")
    session_minutes: int
    share: float
    status: str
    source_of_record: str
    reason: str | None
    corrected_by: str | None
    recorded_at: str
    event_id: str


def _record(r: Record) -> RecordOut:
    return RecordOut(session_id=r.session_id, servant_id=r.servant_id, institution_id=r.institution_id, kind=r.kind,
                     minutes_present=r.minutes_present, minutes_present_exact=r.minutes_exact,
                     seconds_present=r.seconds_present, session_minutes=r.session_minutes, share=r.share,
                     status=r.status, source_of_record=r.source_of_record, reason=r.reason,
                     corrected_by=r.corrected_by, recorded_at=_iso(r.recorded_at), event_id=r.event_id)


# ---------------------------------------------------------------- routes


@router.get("/sessions/{session_id}", response_model=SessionOut)
async def read_session(session_id: str, runtime: Runtime, ctx: Context, principal: Anyone) -> SessionOut:
    async with runtime.unit_of_work() as uow:
        session, decided = await views.session_attendance(_repository(uow), ctx, principal, session_id)
    return SessionOut(session_id=session.session_id, course_id=session.course_id,
                      instructor_id=session.instructor_id, modality=session.modality,
                      starts_at=_iso(session.starts_at), ends_at=_iso(session.ends_at), timezone=session.timezone,
                      cancelled=session.cancelled, closed_at=_iso(session.closed_at),
                      attendance=[DecisionOut.of(d) for d in decided])


@router.get("/sessions/{session_id}/check-in-code")
async def read_check_in_code(session_id: str, runtime: Runtime, ctx: Context, principal: Manager) -> dict:
    """The code to show in the room; it is accepted only while the session runs."""
    async with runtime.unit_of_work() as uow:
        code = await views.check_in_code(_repository(uow), ctx, principal, session_id)
    return {"session_id": code.session_id, "code": code.code, "valid_from": _iso(code.valid_from),
            "valid_until": _iso(code.valid_until)}


@router.post("/sessions/{session_id}/check-ins", response_model=CheckInOut, status_code=201)
async def check_in(session_id: str, body: CheckInIn, runtime: Runtime, ctx: Context) -> CheckInOut:
    async with runtime.unit_of_work() as uow:
        done = await handlers.check_in(_repository(uow), ctx, session_id, body.code, servant_id=body.servant_id,
                                       email=body.email, now=datetime.now(UTC))
    return CheckInOut(servant_id=done.servant_id, checked_in_at=_iso(done.checked_in_at),
                      already_checked_in=done.already)


@router.post("/sessions/{session_id}/marks", response_model=MarkOut)
async def mark(session_id: str, body: MarkIn, request: Request, runtime: Runtime, ctx: Context,
               principal: Manager) -> MarkOut:
    async with runtime.unit_of_work(correlation_id=_correlation(request)) as uow:
        done = await handlers.mark(_repository(uow), ctx, principal, session_id, body.servant_id, body.status.value,
                                            body.minutes_present, body.reason)
        uow.record(done.events)
    return MarkOut(attendance=DecisionOut.of(done.decision), corrected=done.corrected)


async def _upload(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, f"file: larger than {limit} bytes")
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise HTTPException(422, "file: send the report as the 'file' field")
        data = await upload.read()
    else:
        data = await request.body()
    if len(data) > limit:
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, f"file: larger than {limit} bytes")
    if not data.strip():
        raise HTTPException(422, "file: the request carries no report")
    return data


@router.post("/sessions/{session_id}/reports", response_model=ImportOut, status_code=201)
async def import_report(
    session_id: str, request: Request, runtime: Runtime, ctx: Context, principal: Manager,
    format: Literal["auto", "zoom", "teams", "meet", "csv"] = Query("auto"),  # noqa: A002
    reason: str | None = Query(None, min_length=1, max_length=1000, description="Required once the session is closed."),
) -> ImportOut:
    """Import a platform attendance report: the file as the request body (or multipart field ``file``)."""
    data = await _upload(request, ctx.max_report_bytes)
    async with runtime.unit_of_work(correlation_id=_correlation(request)) as uow:
        summary = await handlers.import_report(_repository(uow), ctx, principal, session_id, data,
                                               now=datetime.now(UTC), format=format, reason=reason)
        uow.record(summary.events)
    return ImportOut(
        report_id=summary.report_id, format=summary.format, rows=summary.rows, matched_rows=summary.matched_rows,
        servants=summary.servants, servant_seconds=summary.seconds,
        unmatched=[UnmatchedOut(line=u.line, name=u.name, email=u.email, reason=u.reason) for u in summary.unmatched],
        ignored=[IgnoredOut(line=i.line, name=i.name, reason=i.reason) for i in summary.ignored],
        warnings=summary.warnings,
        corrections=[CorrectionOut(servant_id=c.servant_id, minutes_before=c.before[0], status_before=c.before[1],
                                   minutes_after=c.after[0], status_after=c.after[1]) for c in summary.corrections])


@router.post("/sessions/{session_id}/grades", response_model=GradesOut)
async def grade(session_id: str, body: GradesIn, request: Request, runtime: Runtime, ctx: Context,
                principal: Manager) -> GradesOut:
    return await _grade(request, runtime, ctx, principal, session_id,
                        [(g.servant_id, g.email, g.score) for g in body.grades])


@router.post("/sessions/{session_id}/grades.csv", response_model=GradesOut)
async def grade_sheet(session_id: str, request: Request, runtime: Runtime, ctx: Context,
                      principal: Manager) -> GradesOut:
    """Grades as CSV: servant_id and/or email, score."""
    data = await _upload(request, ctx.max_report_bytes)
    grades = parse_grades(data)
    return await _grade(request, runtime, ctx, principal, session_id, grades)


async def _grade(request: Request, runtime: Runtime, ctx: AttendanceContext, principal: Principal, session_id: str,
                 grades: list) -> GradesOut:
    async with runtime.unit_of_work(correlation_id=_correlation(request)) as uow:
        graded = await handlers.grade(_repository(uow), ctx, principal, session_id, grades)
        uow.record(graded.events)
    return GradesOut(graded=len(graded.grades), published=graded.published)


@router.post("/sessions/{session_id}/close", response_model=ClosingOut)
async def close(session_id: str, request: Request, runtime: Runtime, ctx: Context, principal: Manager) -> ClosingOut:
    """Final attendance: AttendanceRecorded per enrolled servant, AssessmentGraded where scored, SessionClosed."""
    async with runtime.unit_of_work(correlation_id=_correlation(request)) as uow:
        closing = await handlers.close(_repository(uow), ctx, principal, session_id, now=datetime.now(UTC))
        uow.record(closing.events)
    return ClosingOut(session_id=session_id, closed_at=_iso(closing.closed_at), enrolled=closing.enrolled,
                      present=closing.present, graded=closing.graded,
                      attendance=[DecisionOut.of(d) for d in closing.decisions])


@router.get("/sessions/{session_id}/records", response_model=list[RecordOut])
async def session_records(session_id: str, runtime: Runtime, principal: Anyone,
                          history: bool = Query(False, description="Every recording and correction, oldest first."),
                          ) -> list[RecordOut]:
    async with runtime.unit_of_work() as uow:
        found = await views.session_records(_repository(uow), principal, session_id, history=history)
    return [_record(r) for r in found]


@router.get("/records", response_model=list[RecordOut])
async def records(runtime: Runtime, principal: Registrar, institution_id: str | None = Query(None),
                  servant_id: str | None = Query(None)) -> list[RecordOut]:
    """Current attendance records; a liaison sees only its institution's."""
    async with runtime.unit_of_work() as uow:
        found = await views.records(_repository(uow), principal, institution_id=institution_id, servant_id=servant_id)
    return [_record(r) for r in found]

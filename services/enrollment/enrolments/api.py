"""HTTP API of enrolments and the bulk import: translates requests into handler and view calls, nothing more."""

from __future__ import annotations

from functools import partial
from typing import Literal

from contracts.events import Id
from fastapi import APIRouter, HTTPException, Query
from probidad.shared.dependencies import Registrar, Runtime
from probidad.shared.errors import RuleViolation
from pydantic import BaseModel, Field

from services.enrollment.enrolments import handlers, views
from services.enrollment.http import MAX_OFFSET, CancelIn, Context, CorrelationId, acting_for, row_unit, storage
from services.enrollment.tables import Enrolment

router = APIRouter()


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
        enrolled = await handlers.enrol(storage(uow), ctx, session_id=body.session_id, servant_id=body.servant_id,
                                        curp=body.curp, acting_for=acting_for(principal), channel="http", now=ctx.now())
        uow.record(enrolled.events)
    return _enrolment_out(enrolled.enrolment, enrolled.position)


@router.get("/enrolments", response_model=list[EnrolmentOut], tags=["enrolments"])
async def list_enrolments(runtime: Runtime, principal: Registrar, session_id: str | None = None,
                          servant_id: str | None = None, include_cancelled: bool = False,
                          limit: int = Query(500, ge=1, le=5000),
                          offset: int = Query(0, ge=0, le=MAX_OFFSET)) -> list[EnrolmentOut]:
    async with runtime.unit_of_work() as uow:
        found = await views.enrolments(storage(uow), acting_for=acting_for(principal), session_id=session_id,
                                       servant_id=servant_id, include_cancelled=include_cancelled, limit=limit,
                                       offset=offset)
        return [_enrolment_out(e.enrolment, e.position) for e in found]


@router.get("/enrolments/{enrolment_id}", response_model=EnrolmentOut, tags=["enrolments"])
async def get_enrolment(enrolment_id: str, runtime: Runtime, principal: Registrar) -> EnrolmentOut:
    async with runtime.unit_of_work() as uow:
        found = await views.enrolment(storage(uow), enrolment_id, acting_for=acting_for(principal))
        return _enrolment_out(found.enrolment, found.position)


class CancellationOut(BaseModel):
    cancelled: EnrolmentOut
    promoted: list[EnrolmentOut] = Field(description="Waitlisted enrolments that took the freed seat.")


@router.post("/enrolments/{enrolment_id}/cancel", response_model=CancellationOut, tags=["enrolments"])
async def cancel_enrolment(enrolment_id: str, runtime: Runtime, ctx: Context, correlation_id: CorrelationId,
                           principal: Registrar, body: CancelIn | None = None) -> CancellationOut:
    """Cancel an enrolment; the earliest waitlisted servant takes the seat it frees."""
    async with runtime.unit_of_work(correlation_id=correlation_id) as uow:
        done = await handlers.cancel_enrolment(storage(uow), ctx, enrolment_id, reason=body.reason if body else None,
                                               acting_for=acting_for(principal), now=ctx.now())
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
    lines = [(row.line or index, _import_line(row)) for index, row in enumerate(body.rows, start=1)]
    outcomes = await handlers.import_lines(partial(row_unit, runtime, correlation_id), ctx, lines,
                                           acting_for=acting_for(principal), now=ctx.now())
    results = [_import_result(line, outcome) for line, outcome in outcomes]
    accepted = sum(r.accepted for r in results)
    return ImportReport(accepted=accepted, rejected=len(results) - accepted, results=results)


def _import_result(line: int, outcome: handlers.Imported | RuleViolation) -> ImportResult:
    if isinstance(outcome, RuleViolation):
        return ImportResult(line=line, accepted=False, field=outcome.field, reason=outcome.message)
    result = ImportResult(line=line, accepted=True, servant_id=outcome.servant_id,
                          servant=outcome.servant)  # type: ignore[arg-type]
    if outcome.enrolled is not None:
        result.enrolment_id = outcome.enrolled.enrolment.enrolment_id
        result.enrolment = outcome.enrolled.enrolment.status  # type: ignore[assignment]
        result.waitlist_position = outcome.enrolled.position
    return result


def _import_line(row: ImportRow) -> handlers.ImportLine:
    return handlers.ImportLine(institution_id=_clean(row.institution_id), name=_clean(row.name), curp=row.curp,
                               email=_clean(row.email), sex=row.sex, position=_clean(row.position),
                               position_level=_clean(row.position_level), session_id=_clean(row.session_id),
                               joined_on=_clean(row.joined_on))



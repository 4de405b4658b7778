"""HTTP API of servants, transfers and leaving: translates requests into handler and view calls, nothing more."""

from __future__ import annotations

from datetime import date, datetime
from functools import partial
from typing import Literal

from contracts.events import Id, Sex
from fastapi import APIRouter, HTTPException, Query, Request, Response
from probidad.shared.auth import Principal
from probidad.shared.dependencies import Comptroller, Registrar, Runtime
from pydantic import BaseModel, Field

from services.enrollment.context import EnrollmentContext
from services.enrollment.http import MAX_OFFSET, Context, CorrelationId, acting_for, read_upload, row_unit, storage, who
from services.enrollment.servants import handlers, views
from services.enrollment.servants.domain import ServantDetails
from services.enrollment.servants.domain.files import parse_departures_csv
from services.enrollment.tables import Servant, Transfer

router = APIRouter()


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
        done = await handlers.register_servant(storage(uow), ctx, details, acting_for=scope, now=ctx.now())
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
        found = await views.servants(storage(uow), acting_for=acting_for(principal), institution_id=institution_id,
                                     curp=curp,
                                     limit=limit, offset=offset)
        return [_servant_out(s) for s in found]


@router.get("/servants/{servant_id}", response_model=ServantOut, tags=["servants"])
async def get_servant(servant_id: str, runtime: Runtime, principal: Registrar) -> ServantOut:
    async with runtime.unit_of_work() as uow:
        return _servant_out(await views.servant(storage(uow), servant_id, acting_for=acting_for(principal)))


@router.delete("/servants/{servant_id}/personal-data", response_model=ServantOut, tags=["servants"])
async def erase_personal_data(servant_id: str, runtime: Runtime, ctx: Context, correlation_id: CorrelationId,
                              principal: Comptroller) -> ServantOut:
    """ARCO cancellation: erase name, CURP, e-mail and position. The pseudonymous id and the figures stay."""
    async with runtime.unit_of_work(correlation_id=correlation_id) as uow:
        done = await handlers.erase_servant(storage(uow), ctx, servant_id, acting_for=acting_for(principal),
                                            now=ctx.now())
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


@router.post("/servants/{servant_id}/transfer", response_model=TransferOut, status_code=201, tags=["servants"],
             responses={202: {"description": "Requested by a liaison: waits for the joining institution"}})
async def transfer_servant(servant_id: str, body: TransferIn, runtime: Runtime, ctx: Context,
                           correlation_id: CorrelationId, response: Response, principal: Registrar) -> TransferOut:
    """Move a servant to another institution from a date. The comptroller's transfer takes effect at
    once (201); a liaison asks for its own servant (202) and the joining institution accepts it."""
    async with runtime.unit_of_work(correlation_id=correlation_id) as uow:
        done = await handlers.request_transfer(
            storage(uow), ctx, servant_id, to_institution_id=body.to_institution_id, effective_on=body.effective_on,
            acting_for=acting_for(principal), requested_by=who(principal), reason=body.reason, now=ctx.now())
        uow.record(done.events)
        out = _transfer_out(done.row)
    response.status_code = 201 if out.status == "completed" else 202
    return out


@router.get("/transfers", response_model=list[TransferOut], tags=["servants"])
async def list_transfers(runtime: Runtime, principal: Registrar,
                         status: Literal["requested", "completed", "declined"] | None = None) -> list[TransferOut]:
    """Transfers from or to the caller's institution (all of them for the comptroller)."""
    async with runtime.unit_of_work() as uow:
        return [_transfer_out(t) for t in await views.transfers(storage(uow), status=status,
                                                                acting_for=acting_for(principal))]


async def _answer(runtime: Runtime, ctx: EnrollmentContext, correlation_id: str | None, principal: Principal,
                  transfer_id: str, accept: bool) -> TransferOut:
    async with runtime.unit_of_work(correlation_id=correlation_id) as uow:
        done = await handlers.answer_transfer(storage(uow), ctx, transfer_id, accept=accept,
                                              acting_for=acting_for(principal),
                                              answered_by=who(principal), now=ctx.now())
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
        done = await handlers.record_departure(storage(uow), ctx, servant_id=servant_id, curp=None,
                                               left_on=body.left_on,
                                               reason=body.reason, acting_for=acting_for(principal),
                                               recorded_by=who(principal), now=ctx.now())
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


@router.post("/servants/departures/import", response_model=DepartureReport, tags=["servants"])
async def import_departures(request: Request, runtime: Runtime, ctx: Context, correlation_id: CorrelationId,
                            principal: Registrar) -> DepartureReport:
    """Record many leavings from a CSV file (the body, or the multipart field ``file``): a header naming
    ``servant_id`` or ``curp``, ``left_on`` and optionally ``reason`` (or fecha_baja, motivo), dates as
    YYYY-MM-DD or DD/MM/YYYY. Each row commits alone: a bad row is reported with its field and reason."""
    lines = parse_departures_csv(await read_upload(request, MAX_DEPARTURES_FILE_BYTES))
    if len(lines) > ctx.bulk_max_rows:
        raise HTTPException(413, f"rows: at most {ctx.bulk_max_rows} rows per request; send chunks")
    outcomes = await handlers.record_departures(partial(row_unit, runtime, correlation_id), ctx, lines,
                                                acting_for=acting_for(principal), recorded_by=who(principal),
                                                now=ctx.now())
    results = [DepartureResult(line=o.line, accepted=False, field=o.refused.field, reason=o.refused.message)
               if o.refused is not None else
               DepartureResult(line=o.line, accepted=True, servant_id=o.servant_id, left_on=o.left_on)
               for o in outcomes]
    accepted = sum(r.accepted for r in results)
    return DepartureReport(accepted=accepted, rejected=len(results) - accepted, results=results)



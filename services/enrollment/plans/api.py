"""HTTP API of the annual training programme: translates requests into handler and view calls, nothing more."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from contracts.events import MAX_PLAN_TARGETS, PlanTarget
from fastapi import APIRouter, Path, Request
from probidad.shared.auth import Principal
from probidad.shared.dependencies import Comptroller, Reader, Runtime
from pydantic import BaseModel, Field

from services.enrollment.context import EnrollmentContext
from services.enrollment.http import Context, CorrelationId, acting_for, read_upload, storage
from services.enrollment.plans import handlers, views
from services.enrollment.plans.domain import PlanLine, parse_plan_csv
from services.enrollment.tables import PlanVersion

router = APIRouter()


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
        done = await handlers.declare_plan(storage(uow), ctx, year=year, lines=lines,
                                           declared_by=f"comptroller:{principal.subject}", now=ctx.now())
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
    year, lines = parse_plan_csv(await read_upload(request, MAX_PLAN_FILE_BYTES, "plan"))
    return await _declare_plan(runtime, ctx, correlation_id, principal, year, lines)


@router.get("/plans/{year}", response_model=PlanOut, tags=["programme"])
async def get_plan(year: Annotated[int, Path(ge=2000, le=2100)], runtime: Runtime, principal: Reader) -> PlanOut:
    """The year's programme in force (its latest version); a liaison sees its own institution's targets."""
    async with runtime.unit_of_work() as uow:
        plan, lines = await views.plan(storage(uow), year, acting_for=acting_for(principal))
    return _plan_out(plan, lines)



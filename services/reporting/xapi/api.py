"""HTTP API of the xAPI projection, for the comptroller's operators: how sending goes, the dead-letter list, replays."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from probidad.shared.dependencies import Comptroller, Runtime
from services.reporting.settings import ReportingSettings
from services.reporting.xapi.repository import SqlXapiRepository

router = APIRouter(tags=["xapi"], prefix="/xapi")


class StatusOut(BaseModel):
    enabled: bool = Field(description="Whether statements are sent (PROBIDAD_LRS_URL is set).")
    lrs: str | None = Field(description="Where they go, without credentials.")
    pending: int = Field(description="Queued, not taken by the LRS yet (retrying included).")
    retrying: int = Field(description="Pending after a failed attempt.")
    sent: int
    parked: int = Field(description="Given up after PROBIDAD_LRS_RETRY_FOR_S: the dead-letter list.")
    held: int = Field(description="Learning facts waiting for what they name (a session, course, servant or "
                      "institution not heard of yet).")


class ParkedOut(BaseModel):
    statement_id: str
    event_id: str
    verb: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    parked_at: datetime | None


class ReplayedOut(BaseModel):
    replayed: int


@router.get("/status", response_model=StatusOut)
async def status(runtime: Runtime, principal: Comptroller) -> StatusOut:
    settings = runtime.settings
    lrs = settings.lrs_url if isinstance(settings, ReportingSettings) else ""
    async with runtime.unit_of_work() as uow:
        counts = await SqlXapiRepository(uow).counts()
    return StatusOut(enabled=bool(lrs), lrs=lrs or None, **counts)


@router.get("/dead-letters", response_model=list[ParkedOut])
async def dead_letters(runtime: Runtime, principal: Comptroller,
                       limit: int = Query(500, ge=1, le=10_000)) -> list[ParkedOut]:
    """Statements given up after PROBIDAD_LRS_RETRY_FOR_S of failures, oldest first."""
    async with runtime.unit_of_work() as uow:
        parked = await SqlXapiRepository(uow).parked(limit)
    return [ParkedOut(statement_id=p.statement_id, event_id=p.event_id, verb=p.role, attempts=p.attempts,
                      last_status_code=p.last_status_code, last_error=p.last_error, parked_at=p.parked_at)
            for p in parked]


@router.post("/dead-letters/replay", response_model=ReplayedOut)
async def replay(runtime: Runtime, principal: Comptroller,
                 statement_id: str | None = Query(None, max_length=36, description="One statement; all if omitted."),
                 ) -> ReplayedOut:
    """Send parked statements again now (under the same ids), with a new retry time."""
    async with runtime.unit_of_work() as uow:
        return ReplayedOut(replayed=await SqlXapiRepository(uow).replay_parked(statement_id, at=datetime.now(UTC)))

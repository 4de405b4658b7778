"""What every router of enrollment's HTTP API shares: the caller's scope, its correlation id, uploads, and the
answers to the two errors a request's unit of work can end in besides a broken rule (which the shared app answers)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from probidad.shared.auth import Principal
from probidad.shared.dependencies import Provided, Runtime
from probidad.shared.errors import RuleViolation
from probidad.shared.problems import Problem
from probidad.shared.unit_of_work import UnitOfWork
from pydantic import BaseModel, Field

from services.enrollment.context import EnrollmentContext
from services.enrollment.repository import ConcurrentChange, SqlEnrollmentRepository
from services.enrollment.sessions.domain import RescheduleConflict

# Every integer the API takes is bounded, so none reaches a database beyond what it stores: a number
# past SQLite's signed 64-bit integers made the driver raise (a 500) instead of a 422 naming the field.
MAX_HEADCOUNT = 10_000_000  # far above the largest government's payroll
MAX_OFFSET = 2**31 - 1

CONCURRENT_CHANGE = "a concurrent request changed the same record; retry"

Context = Provided(EnrollmentContext)


async def _correlation_id(request: Request) -> str | None:
    return request.headers.get("x-correlation-id")


CorrelationId = Annotated[str | None, Depends(_correlation_id)]


def acting_for(principal: Principal) -> str | None:
    """The institution a caller is confined to (None: the comptroller, who may act for all)."""
    return None if principal.role == "comptroller" else principal.institution_id


# A route's unit of work rolls back whole on any error; these answer the two a request can cause besides a
# broken rule.


async def changed_concurrently(_request: Request, _error: Exception) -> JSONResponse:
    return JSONResponse(Problem(detail=CONCURRENT_CHANGE).model_dump(exclude_none=True), status_code=409)


async def reschedule_conflicts(_request: Request, conflict: RescheduleConflict) -> JSONResponse:
    """A move that would put enrolled servants in two sessions at once: 409 naming each servant and session."""
    body = Problem(detail=str(conflict)).model_dump(exclude_none=True)
    body["conflicts"] = [{"servant_id": c.servant_id, "session_id": c.session.session_id,
                          "starts_at": c.session.starts_at.isoformat(), "ends_at": c.session.ends_at.isoformat()}
                         for c in conflict.conflicts]
    return JSONResponse(body, status_code=409)


PROBLEMS: dict[type[Exception], Callable[[Request, Any], Awaitable[JSONResponse]]] = {
    RescheduleConflict: reschedule_conflicts, ConcurrentChange: changed_concurrently}


class CancelIn(BaseModel):
    reason: str | None = Field(None, max_length=500)


def who(principal: Principal) -> str:
    """Who acted, as a transfer records it: the role, a liaison's institution, and the token's subject."""
    if principal.role == "comptroller":
        return f"comptroller:{principal.subject}"
    return f"liaison:{principal.institution_id}:{principal.subject}"


async def read_upload(request: Request, limit: int, what: str = "file") -> bytes:
    """A file sent as the request body, or as the multipart field ``file`` (``what`` names it in the refusal)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"file: larger than {limit} bytes")
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        upload = (await request.form()).get("file")
        if upload is None or isinstance(upload, str):
            raise HTTPException(422, f"file: send the {what} as the 'file' field")
        data = await upload.read()
    else:
        data = await request.body()
    if len(data) > limit:
        raise HTTPException(413, f"file: larger than {limit} bytes")
    return data




def storage(uow: UnitOfWork) -> SqlEnrollmentRepository:
    """The unit of work's repository, which every handler and view of the API takes."""
    return SqlEnrollmentRepository.of(uow)


@asynccontextmanager
async def row_unit(runtime: Runtime, correlation_id: str | None) -> AsyncIterator[tuple[SqlEnrollmentRepository,
                                                                                        UnitOfWork]]:
    """One row of a file in its own unit of work, with its repository; a concurrent change to the same servant
    is that row's refusal (the others go through), not the request's."""
    try:
        async with runtime.unit_of_work(correlation_id=correlation_id) as uow:
            yield storage(uow), uow
    except ConcurrentChange:
        raise RuleViolation(None, "a concurrent request changed the same servant; retry the row", "conflict") from None

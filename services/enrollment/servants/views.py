"""Reads of servants and transfers for the HTTP API, through the repository."""

from __future__ import annotations

from probidad.shared.unit_of_work import UnitOfWork

from services.enrollment.context import repository
from services.enrollment.servants.curp import validate_curp
from services.enrollment.servants.handlers import find_servant
from services.enrollment.tables import Servant, Transfer

# ------------------------------------------------------------------ servants and transfers


async def servants(uow: UnitOfWork, *, acting_for: str | None, institution_id: str | None, curp: str | None,
                   limit: int, offset: int) -> list[Servant]:
    return await repository(uow).servants(
        curp=validate_curp(curp) if curp else None, institution_id=institution_id, of_institution=acting_for,
        limit=limit, offset=offset)


async def servant(uow: UnitOfWork, servant_id: str, *, acting_for: str | None) -> Servant:
    return await find_servant(repository(uow), servant_id, acting_for)



async def transfers(uow: UnitOfWork, *, status: str | None, acting_for: str | None) -> list[Transfer]:
    """Transfers from or to the caller's institution (all of them for the comptroller)."""
    return await repository(uow).transfers(status=status, of_institution=acting_for)



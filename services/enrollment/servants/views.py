"""Reads of servants and transfers for the HTTP API, through the repository."""

from __future__ import annotations

from services.enrollment.servants.domain.curp import validate_curp
from services.enrollment.servants.handlers import find_servant
from services.enrollment.servants.ports import Servant, ServantsRepository, Transfer

# ------------------------------------------------------------------ servants and transfers


async def servants(repo: ServantsRepository, *, acting_for: str | None, institution_id: str | None, curp: str | None,
                   limit: int, offset: int) -> list[Servant]:
    return await repo.servants(
        curp=validate_curp(curp) if curp else None, institution_id=institution_id, of_institution=acting_for,
        limit=limit, offset=offset)


async def servant(repo: ServantsRepository, servant_id: str, *, acting_for: str | None) -> Servant:
    return await find_servant(repo, servant_id, acting_for)



async def transfers(repo: ServantsRepository, *, status: str | None, acting_for: str | None) -> list[Transfer]:
    """Transfers from or to the caller's institution (all of them for the comptroller)."""
    return await repo.transfers(status=status, of_institution=acting_for)



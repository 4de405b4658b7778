"""What the handlers and views of servants, their transfers and life cycle may ask of storage (the SQL class in
repository.py
satisfies it; a test hands a fake). The rows it answers with are the tables' classes, named here for them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol

from services.enrollment.institutions.ports import InstitutionsRepository
from services.enrollment.servants.domain import ServantRecord, TransferTerms
from services.enrollment.tables import Servant as Servant
from services.enrollment.tables import Transfer as Transfer


class ServantsRepository(InstitutionsRepository, Protocol):
    def add_life_event(self, *, servant_id: str, kind: str, institution_id: str, on: date, recorded_at: datetime,
                       reason: str | None = None, recorded_by: str | None = None,
                       request_id: str | None = None) -> None:
        ...

    async def add_transfer(self, terms_: TransferTerms, *, requested_at: datetime,
                           reason: str | None) -> Transfer:
        ...

    async def complete_transfer(self, transfer: Transfer, servant: Servant, moved: ServantRecord, *,
                                by: str, at: datetime) -> None:
        ...

    async def correct_joining(self, servant_id: str, on: date) -> None:
        """A corrected joining day replaces the first day of the servant's current stretch."""
        ...

    async def decline_transfer(self, transfer: Transfer, *, by: str, at: datetime) -> None:
        ...

    async def erase_servant(self, servant: Servant, *, at: datetime) -> None:
        ...

    async def hold(self, name: str) -> None:
        """On PostgreSQL, lock ``name`` until the transaction ends; concurrent holders of the same name wait.
        SQLite needs nothing: the transactions of a process take turns (``Database.transaction``)."""
        ...

    async def lock_servant(self, servant_id: str) -> bool:
        """The servant's row lock, as an enrolment takes it: a transfer and a seat decision about the same
        person happen one after the other. False when PostgreSQL finds no such servant; SQLite's
        transactions of a process already take turns, so it takes no lock (and answers True)."""
        ...

    async def mark_left(self, servant: Servant, left_on: date) -> None:
        ...

    async def pending_transfer(self, servant_id: str) -> str | None:
        ...

    async def reload(self, row: object) -> None:
        """Read ``row`` again (after the lock that makes what it says final was taken)."""
        ...

    async def save_servant(self, existing: Servant | None, new: ServantRecord, *, person_id: str) -> Servant:
        ...

    async def servant(self, servant_id: str, *, fresh: bool = False) -> Servant | None:
        ...

    async def servant_ids_with_curp(self, curp: str, institution_id: str | None = None) -> list[str]:
        ...

    async def servant_in(self, curp: str, institution_id: str) -> str | None:
        """The servant ``institution_id`` has under this CURP, if any."""
        ...

    async def servants(self, *, curp: str | None, institution_id: str | None, of_institution: str | None,
                       limit: int, offset: int) -> list[Servant]:
        """Servants in order of registration; ``of_institution`` confines the list as ``institution_id``
        filters it (both hold when both are given)."""
        ...

    async def servants_with_curp(self, curp: str) -> list[Servant]:
        """Every institution's servant with this CURP, first registered first."""
        ...

    async def transfer(self, transfer_id: str) -> Transfer | None:
        ...

    async def transfers(self, *, status: str | None, of_institution: str | None) -> list[Transfer]:
        """Transfers in order of request; ``of_institution``: only those from or to it."""
        ...

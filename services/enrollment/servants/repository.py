"""Storage of servants, their transfers and life cycle: the only SQL for it, and where its rows become the domain's
records."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import bindparam, select, update

from services.enrollment.base_repository import SqlStore, _servants
from services.enrollment.servants.domain import ServantRecord, TransferTerms
from services.enrollment.tables import LifeEvent, Servant, Transfer

_LOCK_SERVANT = (update(_servants).where(_servants.c.servant_id == bindparam("the_servant"))
                 .values(revision=_servants.c.revision + 1).returning(_servants.c.servant_id))


class SqlServantsRepository(SqlStore):

    # -------------------------------------------------------------- servants

    async def servant(self, servant_id: str, *, fresh: bool = False) -> Servant | None:
        return await self.db.get(Servant, servant_id, populate_existing=fresh)

    async def servants_with_curp(self, curp: str) -> list[Servant]:
        """Every institution's servant with this CURP, first registered first."""
        return list((await self.db.execute(select(Servant).where(Servant.curp == curp)
                                           .order_by(Servant.registered_at, Servant.servant_id))).scalars())

    async def servant_ids_with_curp(self, curp: str, institution_id: str | None = None) -> list[str]:
        query = select(Servant.servant_id).where(Servant.curp == curp)
        if institution_id is not None:
            query = query.where(Servant.institution_id == institution_id)
        return list((await self.db.execute(query.order_by(Servant.servant_id))).scalars())

    async def save_servant(self, existing: Servant | None, new: ServantRecord, *, person_id: str) -> Servant:
        servant = existing or Servant(servant_id=new.servant_id, institution_id=new.institution_id, sex=new.sex.value,
                                      person_id=person_id)
        servant.institution_id, servant.sex = new.institution_id, new.sex.value
        servant.position_level = new.position_level
        servant.name, servant.curp, servant.email, servant.position = new.name, new.curp, new.email, new.position
        servant.holder_salt = new.holder_salt
        servant.joined_on, servant.left_on, servant.position_digest = new.joined_on, new.left_on, new.position_digest
        if existing is None:
            self.db.add(servant)
        await self.db.flush()
        return servant

    async def erase_servant(self, servant: Servant, *, at: datetime) -> None:
        servant.name = servant.curp = servant.email = servant.position = None
        servant.holder_salt = None  # no constancia can bind this person again
        servant.erased_at = at
        # The e-mails decided for them go with it: those waiting are cancelled, and no address or text is kept.
        await self._forget_messages_to("servant", servant.servant_id, subject_too=True,
                                       reason="the servant's personal data were erased")
        await self.db.flush()

    async def lock_servant(self, servant_id: str) -> bool:
        """The servant's row lock, as an enrolment takes it: a transfer and a seat decision about the same
        person happen one after the other. False when PostgreSQL finds no such servant; SQLite's
        transactions of a process already take turns, so it takes no lock (and answers True)."""
        if self._dialect == "sqlite":
            return True
        return (await self.db.execute(_LOCK_SERVANT, {"the_servant": servant_id})).first() is not None

    async def servants(self, *, curp: str | None, institution_id: str | None, of_institution: str | None,
                       limit: int, offset: int) -> list[Servant]:
        """Servants in order of registration; ``of_institution`` confines the list as ``institution_id``
        filters it (both hold when both are given)."""
        query = select(Servant).order_by(Servant.registered_at, Servant.servant_id).limit(limit).offset(offset)
        if curp:
            query = query.where(Servant.curp == curp)
        if of_institution is not None:
            query = query.where(Servant.institution_id == of_institution)
        if institution_id:
            query = query.where(Servant.institution_id == institution_id)
        return list((await self.db.execute(query)).scalars())

    # -------------------------------------------------------------- transfers

    async def transfer(self, transfer_id: str) -> Transfer | None:
        return await self.db.get(Transfer, transfer_id)

    async def pending_transfer(self, servant_id: str) -> str | None:
        pending = (await self.db.execute(select(Transfer.transfer_id).where(
            Transfer.servant_id == servant_id, Transfer.status == "requested"))).first()
        return pending[0] if pending else None

    async def servant_in(self, curp: str, institution_id: str) -> str | None:
        """The servant ``institution_id`` has under this CURP, if any."""
        twin = (await self.db.execute(select(Servant.servant_id).where(
            Servant.curp == curp, Servant.institution_id == institution_id))).first()
        return twin[0] if twin else None

    async def add_transfer(self, terms_: TransferTerms, *, requested_at: datetime,
                           reason: str | None) -> Transfer:
        transfer = Transfer(transfer_id=terms_.transfer_id, servant_id=terms_.servant_id,
                            from_institution_id=terms_.from_institution_id, to_institution_id=terms_.to_institution_id,
                            effective_on=terms_.effective_on, status="requested", requested_by=terms_.requested_by,
                            requested_at=requested_at, reason=reason)
        self.db.add(transfer)
        await self.db.flush()
        return transfer

    async def complete_transfer(self, transfer: Transfer, servant: Servant, moved: ServantRecord, *,
                                by: str, at: datetime) -> None:
        servant.institution_id = moved.institution_id
        transfer.status, transfer.decided_by, transfer.decided_at = "completed", by, at
        await self.db.flush()

    async def decline_transfer(self, transfer: Transfer, *, by: str, at: datetime) -> None:
        transfer.status, transfer.decided_by, transfer.decided_at = "declined", by, at
        await self.db.flush()

    async def transfers(self, *, status: str | None, of_institution: str | None) -> list[Transfer]:
        """Transfers in order of request; ``of_institution``: only those from or to it."""
        query = select(Transfer).order_by(Transfer.requested_at, Transfer.transfer_id)
        if status:
            query = query.where(Transfer.status == status)
        if of_institution is not None:
            query = query.where((Transfer.from_institution_id == of_institution)
                                | (Transfer.to_institution_id == of_institution))
        return list((await self.db.execute(query)).scalars())

    # -------------------------------------------------------------- the life cycle

    def add_life_event(self, *, servant_id: str, kind: str, institution_id: str, on: date, recorded_at: datetime,
                       reason: str | None = None, recorded_by: str | None = None,
                       request_id: str | None = None) -> None:
        self.db.add(LifeEvent(servant_id=servant_id, kind=kind, institution_id=institution_id, on=on,
                              recorded_at=recorded_at, reason=reason, recorded_by=recorded_by, request_id=request_id))

    async def correct_joining(self, servant_id: str, on: date) -> None:
        """A corrected joining day replaces the first day of the servant's current stretch."""
        latest = (await self.db.execute(select(LifeEvent).where(LifeEvent.servant_id == servant_id,
                                                                LifeEvent.kind.in_(("joined", "transferred")))
                                        .order_by(LifeEvent.number.desc()).limit(1))).scalars().first()
        if latest is not None:
            latest.on = on

    async def mark_left(self, servant: Servant, left_on: date) -> None:
        servant.left_on = left_on
        await self.db.flush()

    async def life_events(self, servant_ids: Sequence[str]) -> dict[str, list[LifeEvent]]:
        return await self._per_servant(LifeEvent, servant_ids, order_by=(LifeEvent.number,))

    async def servants_ever_in(self, institution_id: str) -> list[Servant]:
        """Servants who belong, or ever belonged, to the institution (by registration or transfer)."""
        ever = select(LifeEvent.servant_id).where(LifeEvent.institution_id == institution_id)
        query = (select(Servant).where((Servant.institution_id == institution_id) | Servant.servant_id.in_(ever))
                 .order_by(Servant.name, Servant.servant_id))
        return list((await self.db.execute(query)).scalars())


"""What every part of enrollment's storage shares: the database session, advisory locks, bounded IN lists."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from probidad.shared.unit_of_work import UnitOfWork
from sqlalchemy import ColumnElement, select, text, update

from services.enrollment.tables import (
    CompletionRow,
    Enrolment,
    ExemptionRow,
    LifeEvent,
    MailMessage,
    Servant,
    TrainingSession,
)

ACTIVE = ("confirmed", "waitlisted")
IN_LIST = 500  # ids per IN (…) list, so none grows without bound


_enrolments, _sessions, _servants = Enrolment.__table__, TrainingSession.__table__, Servant.__table__


class SqlStore:
    """The unit of work's database session (``self.db``; "session" in this service means a training session)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.db = uow.session

    @property
    def _dialect(self) -> str:
        return self.db.bind.dialect.name

    async def hold(self, name: str) -> None:
        """On PostgreSQL, lock ``name`` until the transaction ends; concurrent holders of the same name wait.
        SQLite needs nothing: the transactions of a process take turns (``Database.transaction``)."""
        if self._dialect == "postgresql":
            await self.db.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"), {"name": name})

    async def reload(self, row: object) -> None:
        """Read ``row`` again (after the lock that makes what it says final was taken)."""
        await self.db.refresh(row)

    async def _present(self, column: Any, keys: Sequence[str]) -> set[str]:
        """Those of ``keys`` found in ``column`` (a key column), a query per bounded IN list."""
        found: set[str] = set()
        wanted = sorted(set(keys))
        for start in range(0, len(wanted), IN_LIST):
            rows = await self.db.execute(select(column).where(column.in_(wanted[start:start + IN_LIST])))
            found.update(rows.scalars())
        return found

    async def _forget_messages_to(self, recipient_kind: str, recipient_id: str, *, reason: str,
                                  subject_too: bool) -> None:
        """The e-mails to someone whose personal data go (an erased servant, a removed contact): those still
        waiting are cancelled with ``reason``, and no address or text of any is kept (nor its subject, if asked)."""
        mine = (MailMessage.recipient_kind == recipient_kind) & (MailMessage.recipient_id == recipient_id)
        await self.db.execute(update(MailMessage).where(mine, MailMessage.status == "queued")
                              .values(status="cancelled", last_error=reason))
        blanked: dict[str, None] = {"address": None, "body_text": None, "body_html": None}
        if subject_too:
            blanked["subject"] = None
        await self.db.execute(update(MailMessage).where(mine).values(**blanked))

    async def _per_servant(self, model: type[LifeEvent | ExemptionRow | CompletionRow], servant_ids: Sequence[str],
                           *where: ColumnElement[bool],
                           order_by: Sequence[Any] = ()) -> dict[str, list[Any]]:
        """Rows of ``model`` (a table with ``servant_id``) for each of the servants, in ``order_by`` order;
        every servant asked has a list, empty when nothing matched."""
        found: dict[str, list[Any]] = {i: [] for i in servant_ids}
        for start in range(0, len(servant_ids), IN_LIST):
            rows = await self.db.execute(select(model).where(
                model.servant_id.in_(servant_ids[start:start + IN_LIST]), *where).order_by(*order_by))
            for row in rows.scalars():
                found[row.servant_id].append(row)
        return found


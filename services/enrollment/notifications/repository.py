"""Storage of contacts, notice settings, e-mail messages and suppressed addresses: the only SQL for them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime

from probidad.shared.database import Database
from sqlalchemy import func, select, text

from services.enrollment.base_repository import SqlStore
from services.enrollment.tables import InstitutionContact, MailMessage, MailSuppression, NoticeSettings, TrainingSession

WAITING = ("queued", "sending")
# One scheduler at a time decides and sends (several instances share the database): a session-level advisory
# lock, held by one connection for the whole round and dropped with it if the process dies.
_SCHEDULER_LOCK = 0x70726F6E  # "pron"


class SqlNotificationsRepository(SqlStore):

    # -------------------------------------------------------------- contacts and settings

    async def contacts(self, institution_id: str | None = None) -> list[InstitutionContact]:
        query = select(InstitutionContact).order_by(InstitutionContact.institution_id, InstitutionContact.added_at,
                                                    InstitutionContact.contact_id)
        if institution_id is not None:
            query = query.where(InstitutionContact.institution_id == institution_id)
        return list((await self.db.execute(query)).scalars())

    async def contact(self, contact_id: str) -> InstitutionContact | None:
        return await self.db.get(InstitutionContact, contact_id)

    async def add_contact(self, contact: InstitutionContact) -> None:
        self.db.add(contact)
        await self.db.flush()

    async def remove_contact(self, contact: InstitutionContact) -> None:
        await self._forget_messages_to("contact", contact.contact_id, subject_too=False,
                                       reason="the recipient's personal data were erased")
        await self.db.delete(contact)
        await self.db.flush()

    async def notice_settings(self, institution_id: str) -> NoticeSettings | None:
        return await self.db.get(NoticeSettings, institution_id)

    async def save_notice_settings(self, settings: NoticeSettings) -> NoticeSettings:
        saved = await self.db.merge(settings)
        await self.db.flush()
        return saved

    # -------------------------------------------------------------- suppressed addresses

    async def suppressed(self, address_digests: Sequence[str]) -> set[str]:
        return await self._present(MailSuppression.address_digest, address_digests)

    async def suppress(self, address_digest: str, *, reason: str, detail: str | None, at: datetime) -> bool:
        if await self.db.get(MailSuppression, address_digest) is not None:
            return False
        self.db.add(MailSuppression(address_digest=address_digest, reason=reason, detail=detail, suppressed_at=at))
        await self.db.flush()
        return True

    # -------------------------------------------------------------- messages

    async def message(self, message_id: str, *, lock: bool = False) -> MailMessage | None:
        if lock and self._dialect == "postgresql":
            return (await self.db.execute(select(MailMessage).where(MailMessage.message_id == message_id)
                                          .with_for_update().execution_options(populate_existing=True))).scalars().first()
        return await self.db.get(MailMessage, message_id, populate_existing=lock)

    async def known_messages(self, message_ids: Sequence[str]) -> set[str]:
        return await self._present(MailMessage.message_id, message_ids)

    async def queue_message(self, message: MailMessage) -> None:
        self.db.add(message)
        await self.db.flush()

    async def messages_due(self, now: datetime, limit: int) -> list[str]:
        rows = await self.db.execute(
            select(MailMessage.message_id)
            .where(MailMessage.status == "queued",
                   MailMessage.next_attempt_at.is_(None) | (MailMessage.next_attempt_at <= now))
            .order_by(MailMessage.decided_at, MailMessage.message_id).limit(limit))
        return list(rows.scalars())

    async def work_waiting(self, now: datetime) -> bool:
        """Whether a message waits to be sent now, or was left half-sent: one indexed query."""
        due = select(MailMessage.message_id).where(
            (MailMessage.status == "sending") | ((MailMessage.status == "queued") & (
                MailMessage.next_attempt_at.is_(None) | (MailMessage.next_attempt_at <= now)))).limit(1)
        return (await self.db.execute(due)).first() is not None

    async def messages_in(self, status: str) -> list[MailMessage]:
        return list((await self.db.execute(select(MailMessage).where(MailMessage.status == status)
                                           .order_by(MailMessage.decided_at))).scalars())

    async def messages_of(self, institution_id: str, *, status: str | None, limit: int,
                          offset: int) -> list[MailMessage]:
        query = (select(MailMessage).where(MailMessage.institution_id == institution_id)
                 .order_by(MailMessage.decided_at.desc(), MailMessage.message_id).limit(limit).offset(offset))
        if status is not None:
            query = query.where(MailMessage.status == status)
        return list((await self.db.execute(query)).scalars())

    async def retry_queue(self) -> int:
        return int((await self.db.execute(select(func.count()).select_from(MailMessage).where(
            MailMessage.status == "queued", MailMessage.attempts > 0))).scalar_one())

    # -------------------------------------------------------------- what reminders offer

    async def open_sessions(self, course_ids: Sequence[str], *, starting_after: datetime) -> list[TrainingSession]:
        if not course_ids:
            return []
        rows = await self.db.execute(
            select(TrainingSession).where(TrainingSession.course_id.in_(sorted(set(course_ids))),
                                          TrainingSession.cancelled_at.is_(None),
                                          TrainingSession.starts_at > starting_after)
            .order_by(TrainingSession.starts_at, TrainingSession.session_id))
        return list(rows.scalars())


@asynccontextmanager
async def scheduler_turn(database: Database) -> AsyncIterator[bool]:
    """Whether this process holds the scheduler's turn, for the block. On PostgreSQL a session-level advisory lock
    on a connection of its own (another instance holding it: False); SQLite serves one process, always True."""
    if not database.is_postgres:
        yield True
        return
    async with database.engine.connect() as connection:
        got = bool((await connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _SCHEDULER_LOCK}))
                   .scalar())
        await connection.commit()
        try:
            yield got
        finally:
            if got:
                await connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _SCHEDULER_LOCK})
                await connection.commit()


"""What the handlers and views of notices (contacts, e-mail digests and reminders) may ask of storage (the SQL class in
repository.py satisfies it; a test hands a fake). The rows it answers with are the tables' classes, named here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from services.enrollment.constancias.ports import ConstanciasRepository
from services.enrollment.requirements.ports import RequirementsRepository
from services.enrollment.tables import Course as Course
from services.enrollment.tables import InstitutionContact as InstitutionContact
from services.enrollment.tables import MailMessage as MailMessage
from services.enrollment.tables import NoticeSettings as NoticeSettings
from services.enrollment.tables import TrainingSession as TrainingSession


class NotificationsRepository(RequirementsRepository, ConstanciasRepository, Protocol):
    # -------------------------------------------------------------- contacts and settings
    async def contacts(self, institution_id: str | None = None) -> list[InstitutionContact]:
        """An institution's contacts (every institution's when None), in the order they were added."""
        ...

    async def contact(self, contact_id: str) -> InstitutionContact | None:
        ...

    async def add_contact(self, contact: InstitutionContact) -> None:
        ...

    async def remove_contact(self, contact: InstitutionContact) -> None:
        """Deletes the contact (personal data) and blanks, cancelling those still waiting, its messages."""
        ...

    async def notice_settings(self, institution_id: str) -> NoticeSettings | None:
        ...

    async def save_notice_settings(self, settings: NoticeSettings) -> NoticeSettings:
        ...

    # -------------------------------------------------------------- suppressed addresses
    async def suppressed(self, address_digests: Sequence[str]) -> set[str]:
        """Those of the digests no mail may go to (unsubscribed, or refused by a server for good)."""
        ...

    async def suppress(self, address_digest: str, *, reason: str, detail: str | None, at: datetime) -> bool:
        """Stop mail to the address; False when it already was."""
        ...

    # -------------------------------------------------------------- messages
    async def message(self, message_id: str, *, lock: bool = False) -> MailMessage | None:
        """``lock``: the row lock, so one sender at a time changes it (PostgreSQL; SQLite's transactions take turns)."""
        ...

    async def known_messages(self, message_ids: Sequence[str]) -> set[str]:
        """Those of the ids already decided (whatever became of them)."""
        ...

    async def queue_message(self, message: MailMessage) -> None:
        ...

    async def messages_due(self, now: datetime, limit: int) -> list[str]:
        """Ids of queued messages whose next attempt is due, oldest decision first."""
        ...

    async def work_waiting(self, now: datetime) -> bool:
        """Whether a message waits to be sent now, or was left half-sent."""
        ...

    async def messages_in(self, status: str) -> list[MailMessage]:
        ...

    async def messages_of(self, institution_id: str, *, status: str | None, limit: int,
                          offset: int) -> list[MailMessage]:
        ...

    async def retry_queue(self) -> int:
        """Queued messages that failed at least once and wait for another attempt."""
        ...

    # -------------------------------------------------------------- what reminders offer
    async def open_sessions(self, course_ids: Sequence[str], *, starting_after: datetime) -> list[TrainingSession]:
        """Sessions of the courses, not cancelled, starting after the moment, soonest first."""
        ...

    async def seat_counts(self, session_ids: Sequence[str]) -> dict[tuple[str, str], int]:
        """(session id, status) -> enrolments, for many sessions, a query per bounded IN list."""
        ...

"""Reads of contacts and messages for the HTTP API, through the repository."""

from __future__ import annotations

from services.enrollment.context import EnrollmentContext
from services.enrollment.institutions.handlers import find_institution
from services.enrollment.notifications import domain
from services.enrollment.notifications.ports import InstitutionContact, MailMessage, NotificationsRepository


async def contacts(repo: NotificationsRepository, institution_id: str, *,
                   acting_for: str | None) -> list[InstitutionContact]:
    await find_institution(repo, institution_id, acting_for)
    return await repo.contacts(institution_id)


async def messages(repo: NotificationsRepository, institution_id: str, *, acting_for: str | None, status: str | None,
                   limit: int, offset: int) -> list[MailMessage]:
    await find_institution(repo, institution_id, acting_for)
    return await repo.messages_of(institution_id, status=status, limit=limit, offset=offset)


def unsubscribe_valid(ctx: EnrollmentContext, token: str) -> bool:
    return domain.unsubscribed_digest(token, ctx.digest_key) is not None

"""HTTP API of notices: an institution's contacts and how it is told, the messages decided for it, a round of the
scheduler run now, and the unsubscribe page of every e-mail. Translates requests into handler calls, nothing more."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Response
from fastapi.responses import HTMLResponse
from probidad.shared.dependencies import Comptroller, Provided, Registrar, Runtime
from pydantic import BaseModel, Field

from services.enrollment.context import utcnow
from services.enrollment.http import Context, acting_for, storage, who
from services.enrollment.notifications import handlers, views
from services.enrollment.notifications.pages import unsubscribe_page
from services.enrollment.notifications.scheduler import NoticeScheduler

router = APIRouter()
Scheduler = Provided(NoticeScheduler)

EMAIL = r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$"
DigestSection = Literal["compliance", "expiring"]


class ContactIn(BaseModel):
    name: str = Field(min_length=1, max_length=300)
    email: str = Field(max_length=254, pattern=EMAIL, description="Where the digests go.")
    role: str = Field(min_length=1, max_length=200, description="e.g. 'Enlace de capacitación', 'Secretaría del "
                      "Comité de Ética'.")
    digests: list[DigestSection] = Field(["compliance", "expiring"], max_length=2, description=(
        "compliance: counts per requirement and the named lists of who is overdue and who falls due within 30 "
        "days; expiring: the constancias expiring within 60 days. Empty: none (the contact is kept)."))


class ContactOut(BaseModel):
    contact_id: str
    institution_id: str
    name: str
    email: str
    role: str
    digests: list[str]
    added_at: datetime
    added_by: str


class NoticesIn(BaseModel):
    digest_cadence: Literal["daily", "weekly", "monthly", "off"] = "weekly"
    language: Literal["es", "en"] = "es"
    reminders: bool = Field(True, description="Remind the institution's servants by e-mail (30 and 7 days before a "
                            "requirement falls due or a constancia expires, and once when overdue).")


class NoticesOut(NoticesIn):
    institution_id: str
    updated_by: str


class MessageOut(BaseModel):
    message_id: str
    recipient_kind: str
    recipient_id: str
    kind: str
    about: str | None
    period: str
    subject: str | None
    status: str = Field(description="queued, sending, sent, bounced, failed, uncertain or cancelled.")
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    decided_at: datetime
    sent_at: datetime | None


class RoundOut(BaseModel):
    held_turn: bool = Field(description="False: another instance was running a round; nothing was done here.")
    decided: int
    sent: int
    retrying: int
    bounced: int
    failed: int
    uncertain: int
    cancelled: int


def _contact_out(contact: handlers.InstitutionContact) -> ContactOut:
    return ContactOut(contact_id=contact.contact_id, institution_id=contact.institution_id, name=contact.name,
                      email=contact.email, role=contact.role, digests=contact.digests.split(),
                      added_at=contact.added_at, added_by=contact.added_by)


def _notices_out(row: handlers.NoticeSettings) -> NoticesOut:
    return NoticesOut(institution_id=row.institution_id, digest_cadence=row.digest_cadence,  # type: ignore[arg-type]
                      language=row.language, reminders=row.reminders, updated_by=row.updated_by)  # type: ignore[arg-type]


@router.post("/institutions/{institution_id}/contacts", response_model=ContactOut, status_code=201, tags=["notices"])
async def add_contact(institution_id: str, body: ContactIn, runtime: Runtime, principal: Registrar) -> ContactOut:
    """Name a person who receives the institution's digests (personal data: kept in enrollment, never published)."""
    async with runtime.unit_of_work() as uow:
        contact = await handlers.add_contact(storage(uow), institution_id, name=body.name, email=body.email,
                                             role=body.role, digests=body.digests, acting_for=acting_for(principal),
                                             by=who(principal), now=utcnow())
        return _contact_out(contact)


@router.get("/institutions/{institution_id}/contacts", response_model=list[ContactOut], tags=["notices"])
async def list_contacts(institution_id: str, runtime: Runtime, principal: Registrar) -> list[ContactOut]:
    async with runtime.unit_of_work() as uow:
        return [_contact_out(c) for c in await views.contacts(storage(uow), institution_id,
                                                              acting_for=acting_for(principal))]


@router.delete("/institutions/{institution_id}/contacts/{contact_id}", status_code=204, tags=["notices"])
async def remove_contact(institution_id: str, contact_id: str, runtime: Runtime, principal: Registrar) -> Response:
    """Remove a contact: their data are deleted, and messages to them still waiting are cancelled."""
    async with runtime.unit_of_work() as uow:
        await handlers.remove_contact(storage(uow), institution_id, contact_id, acting_for=acting_for(principal))
    return Response(status_code=204)


@router.get("/institutions/{institution_id}/notices", response_model=NoticesOut, tags=["notices"])
async def get_notices(institution_id: str, runtime: Runtime, principal: Registrar) -> NoticesOut:
    async with runtime.unit_of_work() as uow:
        return _notices_out(await handlers.notice_settings(storage(uow), institution_id,
                                                           acting_for=acting_for(principal)))


@router.put("/institutions/{institution_id}/notices", response_model=NoticesOut, tags=["notices"])
async def set_notices(institution_id: str, body: NoticesIn, runtime: Runtime, principal: Registrar) -> NoticesOut:
    """How often the institution's contacts get their digest, in which language, and whether its servants are
    reminded."""
    async with runtime.unit_of_work() as uow:
        row = await handlers.set_notice_settings(storage(uow), institution_id, digest_cadence=body.digest_cadence,
                                                 language=body.language, reminders=body.reminders,
                                                 acting_for=acting_for(principal), by=who(principal), now=utcnow())
        return _notices_out(row)


@router.get("/institutions/{institution_id}/messages", response_model=list[MessageOut], tags=["notices"])
async def list_messages(institution_id: str, runtime: Runtime, principal: Registrar,
                        status: Literal["queued", "sending", "sent", "bounced", "failed", "uncertain",
                                        "cancelled"] | None = None,
                        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                        offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0) -> list[MessageOut]:
    """The e-mails decided for the institution, newest first: to whom (by id), what, for which period, and what
    became of them (their text is not kept once sent)."""
    async with runtime.unit_of_work() as uow:
        rows = await views.messages(storage(uow), institution_id, acting_for=acting_for(principal), status=status,
                                    limit=limit, offset=offset)
        return [MessageOut.model_validate(row, from_attributes=True) for row in rows]


@router.post("/notifications/run", response_model=RoundOut, tags=["notices"])
async def run_now(scheduler: Scheduler, _: Comptroller,
                  on: Annotated[date | None, Query(description="The programme day to decide for (today when "
                                                   "omitted): the digests of its period and the reminders due on "
                                                   "it.")] = None,
                  decide: bool = True) -> RoundOut:
    """Run one round of the scheduler now (`probidad notify run --now`): decide what is due, send what waits."""
    done = await scheduler.round(decide=decide, today=on)
    return RoundOut.model_validate(done.as_dict())


@router.post("/mail/messages/{message_id}/resend", response_model=MessageOut, tags=["notices"])
async def resend(message_id: str, runtime: Runtime, _: Comptroller) -> MessageOut:
    """Send an uncertain or failed message again, once an operator has checked it did not arrive."""
    async with runtime.unit_of_work() as uow:
        row = await handlers.resend(storage(uow), message_id, now=utcnow())
        return MessageOut.model_validate(row, from_attributes=True)


@router.get("/mail/unsubscribe", response_class=HTMLResponse, tags=["notices"], include_in_schema=True)
async def unsubscribe_form(token: Annotated[str, Query(min_length=1, max_length=300)], ctx: Context) -> HTMLResponse:
    """The page an e-mail's unsubscribe link opens: asks to confirm (a link checker opening it changes nothing)."""
    valid = views.unsubscribe_valid(ctx, token)
    return HTMLResponse(unsubscribe_page(token=token, state="confirm" if valid else "invalid"),
                        status_code=200 if valid else 400)


@router.post("/mail/unsubscribe", response_class=HTMLResponse, tags=["notices"])
async def unsubscribe(token: Annotated[str, Query(min_length=1, max_length=300)], runtime: Runtime, ctx: Context,
                      one_click: Annotated[str | None, Form(alias="List-Unsubscribe")] = None) -> HTMLResponse:
    """Stop all mail to the address the link was sent to (also the one-click unsubscribe of RFC 8058, whose body
    ``List-Unsubscribe=One-Click`` says the same)."""
    del one_click  # the token alone decides
    if not views.unsubscribe_valid(ctx, token):
        return HTMLResponse(unsubscribe_page(token=token, state="invalid"), status_code=400)
    async with runtime.unit_of_work() as uow:
        await handlers.unsubscribe(storage(uow), ctx, token, now=utcnow())
    return HTMLResponse(unsubscribe_page(token=token, state="done"))

"""Notices: an institution's contacts and how it is told; which digests and reminders are due, decided once per
period (the message row and its MessageQueued in one unit of work); and what each attempt to send came to.

A message is decided once: its id is its Message-ID, drawn from who, what and which period, so deciding the same
day again (another round, a restart, another instance) finds it known and writes nothing. Sending is the
scheduler's (scheduler.py), one message at a time: ``attempt`` re-reads it under its row lock and checks it may
still go (not sent, address not suppressed, the servant neither erased nor gone), the sender marks it ``sending``
once the SMTP server took the recipient, and ``record_outcome`` says what happened. A message found ``sending``
by the next holder of the scheduler's turn was interrupted mid-send: whether the server took it is unknown, and
it is marked ``uncertain`` rather than sent twice.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from contracts.events import MessageQueued
from contracts.pseudonyms import email_digest
from probidad.shared.errors import RuleViolation

from services.enrollment.context import EnrollmentContext
from services.enrollment.institutions.handlers import find_institution
from services.enrollment.notifications import domain
from services.enrollment.notifications.domain import Expiring, Reminder, RetryTerms, Standing
from services.enrollment.notifications.ports import (
    InstitutionContact,
    MailMessage,
    NoticeSettings,
    NotificationsRepository,
    TrainingSession,
)
from services.enrollment.notifications.render import OpenSession, Rendered, render_digest, render_reminder
from services.enrollment.requirements.views import compliance_list

OPEN_SESSIONS_SHOWN = 5  # a reminder lists the soonest sessions of its course, no more


@dataclass(frozen=True)
class MailTerms:
    """What the messages' links and ids are made from (the service's settings)."""

    public_url: str  # where people reach enrollment: unsubscribe and CSV links
    domain: str  # ends every Message-ID (the From's domain)

    def unsubscribe_url(self, address: str, key: str) -> str:
        token = domain.unsubscribe_token(email_digest(address, key), key)
        return f"{self.public_url.rstrip('/')}/mail/unsubscribe?token={token}"

    def csv_url(self, institution_id: str) -> str:
        return f"{self.public_url.rstrip('/')}/institutions/{institution_id}/compliance.csv?state=all"


# ------------------------------------------------------------------ contacts and settings


async def add_contact(repo: NotificationsRepository, institution_id: str, *, name: str, email: str, role: str,
                      digests: Sequence[str], acting_for: str | None, by: str, now: datetime) -> InstitutionContact:
    await find_institution(repo, institution_id, acting_for)
    unknown = sorted(set(digests) - set(domain.DIGEST_SECTIONS))
    if unknown:
        raise RuleViolation("digests", f"unknown digest {unknown[0]!r}: choose among "
                            f"{', '.join(domain.DIGEST_SECTIONS)}", "invalid")
    contact = InstitutionContact(contact_id=f"ct-{secrets.token_hex(10)}", institution_id=institution_id,
                                 name=name.strip(), email=email.strip(), role=role.strip(),
                                 digests=" ".join(s for s in domain.DIGEST_SECTIONS if s in digests),
                                 added_at=now, added_by=by)
    await repo.add_contact(contact)
    return contact


async def find_contact(repo: NotificationsRepository, institution_id: str, contact_id: str, *,
                       acting_for: str | None) -> InstitutionContact:
    await find_institution(repo, institution_id, acting_for)
    contact = await repo.contact(contact_id)
    if contact is None or contact.institution_id != institution_id:
        raise RuleViolation("contact_id", f"institution {institution_id} has no contact {contact_id!r}", "not_found")
    return contact


async def remove_contact(repo: NotificationsRepository, institution_id: str, contact_id: str, *,
                         acting_for: str | None) -> None:
    await repo.remove_contact(await find_contact(repo, institution_id, contact_id, acting_for=acting_for))


def defaults(institution_id: str) -> NoticeSettings:
    return NoticeSettings(institution_id=institution_id, digest_cadence="weekly", language="es", reminders=True,
                          updated_by="default")


async def notice_settings(repo: NotificationsRepository, institution_id: str, *,
                          acting_for: str | None) -> NoticeSettings:
    await find_institution(repo, institution_id, acting_for)
    return await repo.notice_settings(institution_id) or defaults(institution_id)


async def set_notice_settings(repo: NotificationsRepository, institution_id: str, *, digest_cadence: str,
                              language: str, reminders: bool, acting_for: str | None, by: str,
                              now: datetime) -> NoticeSettings:
    await find_institution(repo, institution_id, acting_for)
    if digest_cadence not in domain.CADENCES:
        raise RuleViolation("digest_cadence", f"choose among {', '.join(domain.CADENCES)}", "invalid")
    if language not in domain.LANGUAGES:
        raise RuleViolation("language", f"choose among {', '.join(domain.LANGUAGES)}", "invalid")
    return await repo.save_notice_settings(NoticeSettings(
        institution_id=institution_id, digest_cadence=digest_cadence, language=language, reminders=reminders,
        updated_at=now, updated_by=by))


# ------------------------------------------------------------------ deciding what is due


async def institutions_told(repo: NotificationsRepository) -> list[str]:
    """Every institution, each decided in its own unit of work."""
    return [i.institution_id for i in await repo.institutions()]


@dataclass(frozen=True)
class Situation:
    """An institution's servants as the compliance rule sees them on a day, and the constancias they hold."""

    standings: list[Standing]
    held: list[Expiring]
    servants: dict[str, tuple[str | None, str | None]]  # servant id -> (name, e-mail) of those serving there
    course_titles: dict[str, str]


async def situation(repo: NotificationsRepository, institution_id: str, today: date) -> Situation:
    lines = await compliance_list(repo, institution_id, acting_for=None, on=today, known_by=None, state="all")
    standings = [Standing(line.servant.servant_id, line.servant.name, line.servant.position,
                          line.requirement.requirement_id, line.requirement.title, line.requirement.course_id,
                          line.standing.state.value, line.standing.due_on) for line in lines]
    serving = [s for s in await repo.servants_ever_in(institution_id)
               if s.institution_id == institution_id and (s.left_on is None or s.left_on > today)
               and s.erased_at is None]
    titles = {c.course_id: c.title for c in await repo.courses()}
    certificates = await repo.certificates_of([s.servant_id for s in serving])
    names = {s.servant_id: s.name for s in serving}
    held = [Expiring(servant_id, names[servant_id], row.completion_id.removeprefix("certificate:"), row.course_id,
                     titles.get(row.course_id or "", row.course_id or ""), row.valid_until)
            for servant_id, rows in certificates.items() for row in rows
            if row.valid_until is not None and row.completed_on is not None and row.revoked_on is None]
    return Situation(standings, held, {s.servant_id: (s.name, s.email) for s in serving}, titles)


def _message(*, message_id: str, institution_id: str, recipient_kind: str, recipient_id: str, kind: str,
             about: str | None, period: str, language: str, address: str, rendered: Rendered,
             now: datetime) -> tuple[MailMessage, MessageQueued]:
    digest = domain.content_digest(rendered.subject, rendered.text, rendered.html)
    row = MailMessage(message_id=message_id, institution_id=institution_id, recipient_kind=recipient_kind,
                      recipient_id=recipient_id, kind=kind, about=about, period=period, language=language,
                      address=address, subject=rendered.subject, body_text=rendered.text, body_html=rendered.html,
                      content_digest=digest, status="queued", decided_at=now)
    event = MessageQueued(message_id=message_id, institution_id=institution_id, recipient_kind=recipient_kind,
                          recipient_id=recipient_id, kind=kind, about=about, period=period, content_digest=digest)
    return row, event


async def _open_sessions(repo: NotificationsRepository, reminders: Sequence[Reminder], titles: dict[str, str],
                         now: datetime) -> dict[str, list[OpenSession]]:
    courses = sorted({r.course_id for r in reminders if r.course_id})
    sessions = await repo.open_sessions(courses, starting_after=now)
    taken = await repo.seat_counts([s.session_id for s in sessions])
    by_course: dict[str, list[OpenSession]] = defaultdict(list)
    for s in sessions:
        if len(by_course[s.course_id]) < OPEN_SESSIONS_SHOWN:
            by_course[s.course_id].append(_open(s, titles.get(s.course_id, s.course_id),
                                                taken.get((s.session_id, "confirmed"), 0)))
    return by_course


def _open(session: TrainingSession, title: str, confirmed: int) -> OpenSession:
    return OpenSession(session_id=session.session_id, course_title=title, starts_at=session.starts_at,
                       timezone=session.timezone, modality=session.modality,
                       place=session.venue or session.platform, seats_left=max(0, session.capacity - confirmed))


async def decide_messages(repo: NotificationsRepository, ctx: EnrollmentContext, institution_id: str, *,
                          today: date, now: datetime, terms: MailTerms) -> list[MessageQueued]:
    """The institution's digests (to each contact, once per period of its cadence) and reminders (to each servant
    with an address, once per deadline and kind) due on ``today`` and not decided yet: queued, with their events."""
    institution = await find_institution(repo, institution_id, None)
    settings = await repo.notice_settings(institution_id) or defaults(institution_id)
    period = domain.digest_period(settings.digest_cadence, today)
    contacts = await repo.contacts(institution_id) if period else []
    if not contacts and not settings.reminders:
        return []
    seen = await situation(repo, institution_id, today)
    candidates: list[tuple[str, str, str, object]] = []  # (message id, address, recipient id, what)
    for contact in contacts:
        if period and contact.digests:
            candidates.append((domain.message_id("digest", period, None, contact.contact_id, terms.domain),
                               contact.email, contact.contact_id, contact))
    reminders = domain.reminders_due(seen.standings, seen.held, today) if settings.reminders else []
    for reminder in reminders:
        address = seen.servants.get(reminder.servant_id, (None, None))[1]
        if address:
            candidates.append((domain.message_id(reminder.kind, reminder.period, reminder.about, reminder.servant_id,
                                                 terms.domain), address, reminder.servant_id, reminder))
    known = await repo.known_messages([c[0] for c in candidates])
    barred = await repo.suppressed([email_digest(c[1], ctx.digest_key) for c in candidates])
    waiting = [c for c in candidates if c[0] not in known and email_digest(c[1], ctx.digest_key) not in barred]
    if not waiting:
        return []
    sessions = await _open_sessions(repo, [c[3] for c in waiting if isinstance(c[3], Reminder)], seen.course_titles,
                                    now)
    events: list[MessageQueued] = []
    for message_id, address, recipient_id, what in waiting:
        unsubscribe = terms.unsubscribe_url(address, ctx.digest_key)
        if isinstance(what, Reminder):
            rendered = render_reminder(language=settings.language, servant_name=seen.servants[recipient_id][0],
                                       institution_name=institution.name, reminder=what, today=today,
                                       open_sessions=sessions.get(what.course_id or "", []),
                                       unsubscribe_url=unsubscribe)
            row, event = _message(message_id=message_id, institution_id=institution_id, recipient_kind="servant",
                                  recipient_id=recipient_id, kind=what.kind, about=what.about, period=what.period,
                                  language=settings.language, address=address, rendered=rendered, now=now)
        else:
            assert isinstance(what, InstitutionContact) and period is not None
            rendered = render_digest(
                language=settings.language, institution_name=institution.name, contact_name=what.name,
                cadence=settings.digest_cadence, period=period, today=today, sections=what.digests.split(),
                counts=domain.requirement_counts(seen.standings, today), overdue=domain.overdue(seen.standings),
                due_soon=domain.due_soon(seen.standings, today), expiring=domain.expiring_soon(seen.held, today),
                csv_url=terms.csv_url(institution_id), unsubscribe_url=unsubscribe)
            row, event = _message(message_id=message_id, institution_id=institution_id, recipient_kind="contact",
                                  recipient_id=recipient_id, kind="digest", about=None, period=period,
                                  language=settings.language, address=address, rendered=rendered, now=now)
        await repo.queue_message(row)
        events.append(event)
    return events


# ------------------------------------------------------------------ sending, one attempt at a time


@dataclass(frozen=True)
class Attempt:
    """A message that may go now, as it was decided."""

    message_id: str
    kind: str
    address: str
    subject: str
    text: str
    html: str
    language: str


async def attempt(repo: NotificationsRepository, ctx: EnrollmentContext, message_id: str, *,
                  now: datetime) -> Attempt | None:
    """The message if it may still go now; None when it went, or may not go any more (then it is cancelled
    with the reason: the address suppressed, the servant's data erased, the servant gone, the contact removed)."""
    row = await repo.message(message_id, lock=True)
    if row is None or row.status != "queued":
        return None
    reason = await _barred(repo, ctx, row, now)
    if reason is not None:
        row.status, row.last_error = "cancelled", reason
        row.address = row.body_text = row.body_html = None
        return None
    assert row.address is not None and row.subject is not None
    return Attempt(row.message_id, row.kind, row.address, row.subject, row.body_text or "", row.body_html or "",
                   row.language)


async def _barred(repo: NotificationsRepository, ctx: EnrollmentContext, row: MailMessage, now: datetime) -> str | None:
    if not row.address:
        return "no address"
    if await repo.suppressed([email_digest(row.address, ctx.digest_key)]):
        return "the address is suppressed (unsubscribed, or refused for good)"
    if row.recipient_kind == "servant":
        servant = await repo.servant(row.recipient_id)
        if servant is None or servant.erased_at is not None:
            return "the servant's personal data were erased"
        if servant.left_on is not None and servant.left_on <= ctx.today(now):
            return "the servant has left"
        if servant.institution_id != row.institution_id:
            return "the servant moved to another institution"
    elif await repo.contact(row.recipient_id) is None:
        return "the contact was removed"
    return None


async def mark_sending(repo: NotificationsRepository, message_id: str) -> None:
    """The SMTP server took the recipient: from here, a crash leaves it unknown whether the message went."""
    row = await repo.message(message_id, lock=True)
    if row is not None and row.status == "queued":
        row.status = "sending"


async def record_outcome(repo: NotificationsRepository, ctx: EnrollmentContext, message_id: str, *, outcome: str,
                         detail: str, now: datetime, retry: RetryTerms) -> str:
    """What an attempt came to (accepted, transient, refused, unknown): the message's new status."""
    row = await repo.message(message_id, lock=True)
    if row is None:
        return "gone"
    row.attempts += 1
    row.last_error = None if outcome == "accepted" else detail[:2000]
    after = domain.after_attempt(outcome, attempts=row.attempts, decided_at=row.decided_at, now=now, retry=retry)
    row.status, row.next_attempt_at = after.status, after.next_attempt_at
    if after.suppress_address and row.address:
        await repo.suppress(email_digest(row.address, ctx.digest_key), reason="bounced", detail=detail[:2000], at=now)
    if after.status == "sent":
        row.sent_at = now
    if after.status in ("sent", "bounced"):
        # What stays is who, what, when and the content's digest; the text and the address go.
        row.address = row.body_text = row.body_html = None
    return row.status


async def work_waiting(repo: NotificationsRepository, *, now: datetime) -> bool:
    """Whether a round has anything to send (or to settle): the idle scheduler asks only this."""
    return await repo.work_waiting(now)


async def settle_interrupted(repo: NotificationsRepository) -> list[str]:
    """Messages a previous holder of the scheduler's turn left ``sending`` (it died mid-send): ``uncertain``, never
    sent again without an operator (the server may have taken them). Called only by the turn's holder."""
    settled = []
    for row in await repo.messages_in("sending"):
        row.status = "uncertain"
        row.last_error = "interrupted while the SMTP server was taking it: it may or may not have been delivered"
        settled.append(row.message_id)
    return settled


async def resend(repo: NotificationsRepository, message_id: str, *, now: datetime) -> MailMessage:
    """An operator sends an uncertain (or failed) message again, having checked it did not arrive."""
    row = await repo.message(message_id, lock=True)
    if row is None:
        raise RuleViolation("message_id", f"no message {message_id!r}", "not_found")
    if row.status not in ("uncertain", "failed"):
        raise RuleViolation("message_id", f"message {message_id} is {row.status}: only an uncertain or failed "
                            "message is sent again", "conflict")
    if not row.address:
        raise RuleViolation("message_id", "its address and text were erased: it cannot be sent again", "gone")
    row.status, row.next_attempt_at = "queued", now
    return row


async def unsubscribe(repo: NotificationsRepository, ctx: EnrollmentContext, token: str, *, now: datetime) -> None:
    """No more mail to the address the token was made for; messages to it still waiting are cancelled when
    their turn comes. Unsubscribing twice is the same as once."""
    address_digest = domain.unsubscribed_digest(token, ctx.digest_key)
    if address_digest is None:
        raise RuleViolation("token", "this unsubscribe link is not valid (it may have been cut short)", "invalid")
    await repo.suppress(address_digest, reason="unsubscribed", detail=None, at=now)

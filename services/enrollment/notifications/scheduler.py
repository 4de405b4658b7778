"""The notice scheduler: decides each day's digests and reminders and sends what waits, one process at a time.

An entry point like the Kafka subscribers: it only turns time into handler calls, each in its own unit of work.
Every ``poll`` it sends the messages whose attempt is due; from ``notify_from_hour`` of the programme's day it also
decides, once per ``notify_interval_s``, what is due that day for every institution. ``probidad notify run --now``
(``POST /notifications/run``) runs one whole round at once. On PostgreSQL the round holds the scheduler's advisory
lock, so several instances never decide or send the same message; the one holding it settles first what a dead
holder left half-sent.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from probidad.shared import tracing
from probidad.shared.logs import get_logger
from probidad.shared.loops import keep_running
from probidad.shared.mail import Outgoing, SmtpServer, send
from probidad.shared.service import ServiceRuntime

from services.enrollment.context import EnrollmentContext
from services.enrollment.metrics import MAIL_DECIDED, MAIL_OUTCOMES, MAIL_RETRY_QUEUE
from services.enrollment.notifications import domain, handlers
from services.enrollment.notifications.domain import RetryTerms
from services.enrollment.notifications.handlers import MailTerms
from services.enrollment.notifications.repository import scheduler_turn
from services.enrollment.repository import SqlEnrollmentRepository
from services.enrollment.sessions.domain import zone
from services.enrollment.settings import EnrollmentSettings

log = get_logger(__name__)

POLL_S = 1.0  # how often waiting messages are looked at (one indexed query)
BATCH = 100  # messages taken per look


@dataclass
class Round:
    """What one round did: messages decided and what became of each attempt."""

    held_turn: bool = True
    decided: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    interrupted: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"held_turn": self.held_turn, "decided": self.decided, "sent": self.outcomes["sent"],
                "retrying": self.outcomes["queued"], "bounced": self.outcomes["bounced"],
                "failed": self.outcomes["failed"], "uncertain": self.outcomes["uncertain"] + len(self.interrupted),
                "cancelled": self.outcomes["cancelled"]}


class NoticeScheduler:
    def __init__(self, runtime: ServiceRuntime, ctx: EnrollmentContext, settings: EnrollmentSettings) -> None:
        self.runtime = runtime
        self.ctx = ctx
        self.settings = settings
        self.smtp = SmtpServer.of(settings)
        self.terms = MailTerms(public_url=settings.public_url, domain=domain.mail_domain(settings.mail_from))
        self.retry = RetryTerms(settings.mail_retry_base_s, settings.mail_retry_max_s, settings.mail_give_up_after_s)
        self._one_round = asyncio.Lock()  # this process's rounds take turns (the HTTP run and the loop)
        self._decided_at = float("-inf")

    async def run(self) -> None:
        """Forever, beside the service: decide when it is time, send what waits (a failing round is tried again at
        the next poll: probidad.shared.loops)."""
        await keep_running(self._tick, what="notice round", retry_in_s=POLL_S)

    async def _tick(self) -> float:
        now = datetime.now(UTC)
        decide = (time.monotonic() - self._decided_at >= self.settings.notify_interval_s
                  and now.astimezone(zone(self.ctx.programme_timezone)).hour >= self.settings.notify_from_hour)
        if decide or await self._work_waiting(now):
            await self.round(decide=decide, now=now)
        if decide:
            self._decided_at = time.monotonic()
        return POLL_S

    async def _work_waiting(self, now: datetime) -> bool:
        async with self.runtime.unit_of_work(traced=False) as uow:  # every second: no trace of its own
            return await handlers.work_waiting(SqlEnrollmentRepository.of(uow), now=now)

    async def round(self, *, decide: bool, now: datetime | None = None, today: date | None = None) -> Round:
        """One round: settle what a dead sender left, decide (when asked) for every institution, send what waits."""
        now = now or datetime.now(UTC)
        today = today or self.ctx.today(now)
        done = Round()
        async with self._one_round, scheduler_turn(self.runtime.database) as mine:
            if not mine:
                done.held_turn = False
                return done
            # One trace per round that does something, its units of work inside it.
            with tracing.span("notice round", attributes={"probidad.decide": decide}):
                await self._round(done, decide=decide, today=today, now=now)
        return done

    async def _round(self, done: Round, *, decide: bool, today: date, now: datetime) -> None:
        async with self.runtime.unit_of_work() as uow:
            done.interrupted = await handlers.settle_interrupted(SqlEnrollmentRepository.of(uow))
        for message_id in done.interrupted:
            MAIL_OUTCOMES.labels("uncertain").inc()
            log.warning("message interrupted mid-send: not sent again without an operator", message_id=message_id)
        if decide:
            done.decided = await self._decide(today, now)
        await self._send_waiting(done)
        async with self.runtime.unit_of_work() as uow:
            MAIL_RETRY_QUEUE.set(await SqlEnrollmentRepository.of(uow).retry_queue())

    async def _decide(self, today: date, now: datetime) -> int:
        async with self.runtime.unit_of_work() as uow:
            institution_ids = await handlers.institutions_told(SqlEnrollmentRepository.of(uow))
        decided = 0
        for institution_id in institution_ids:  # one unit of work each: the messages commit with their events
            async with self.runtime.unit_of_work() as uow:
                events = await handlers.decide_messages(SqlEnrollmentRepository.of(uow), self.ctx, institution_id,
                                                        today=today, now=now, terms=self.terms)
                uow.record(events)
            for event in events:
                MAIL_DECIDED.labels(event.kind).inc()
            decided += len(events)
        if decided:
            log.info("messages decided", count=decided, day=today.isoformat())
        return decided

    async def _send_waiting(self, done: Round) -> None:
        while True:
            async with self.runtime.unit_of_work() as uow:
                due = await SqlEnrollmentRepository.of(uow).messages_due(datetime.now(UTC), BATCH)
            for message_id in due:
                done.outcomes[await self._send_one(message_id)] += 1
            if len(due) < BATCH:
                return

    async def _send_one(self, message_id: str) -> str:
        async with self.runtime.unit_of_work() as uow:
            going = await handlers.attempt(SqlEnrollmentRepository.of(uow), self.ctx, message_id,
                                           now=datetime.now(UTC))
        if going is None:
            MAIL_OUTCOMES.labels("cancelled").inc()
            return "cancelled"

        async def sending() -> None:
            async with self.runtime.unit_of_work() as uow:
                await handlers.mark_sending(SqlEnrollmentRepository.of(uow), message_id)

        unsubscribe = self.terms.unsubscribe_url(going.address, self.ctx.digest_key)
        outcome = await send(self.smtp, Outgoing(
            message_id=going.message_id, sender=self.settings.mail_from, to=going.address, subject=going.subject,
            text=going.text, html=going.html, language=going.language,
            headers=(("List-Unsubscribe", f"<{unsubscribe}>"),
                     ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))), before_data=sending)
        async with self.runtime.unit_of_work() as uow:
            status = await handlers.record_outcome(SqlEnrollmentRepository.of(uow), self.ctx, message_id,
                                                   outcome=outcome.outcome, detail=outcome.detail,
                                                   now=datetime.now(UTC), retry=self.retry)
        MAIL_OUTCOMES.labels({"queued": "retried"}.get(status, status)).inc()
        if status != "sent":
            log.warning("message not sent", message_id=message_id, status=status, smtp_code=outcome.code,
                        detail=outcome.detail)
        return status

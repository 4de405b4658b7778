"""Idempotent consumer with dead-lettering and retry — the only way services consume events.

For each Kafka record, in order:

1. ``open_envelope`` judges it; a record that is not a valid event goes to
   ``<topic>.<group>.dlq`` with the reason and its original topic/partition/offset in headers.
2. In one database transaction: the event id is inserted into ``processed_event`` for this group
   and the handler applies the effect (and adds any outgoing events to the outbox). An id already
   there means a redelivery: nothing happens.
3. Only after that commit is the offset committed (``AckPolicy.MANUAL``). A crash in between
   redelivers the record, and step 2 makes it a no-op.

Records arrive in batches (all a poll returns, up to a few hundred): one transaction and one offset
commit per batch instead of per record, which is what lets a consumer keep up with thousands of
events per second. Order within each partition is kept.

Transient faults (database or broker unavailable) are retried with backoff, forever: never skipped.
Any other failure of a handler is a message it can never apply; it is dead-lettered with the reason.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import exc as sa_exc
from sqlalchemy import insert, select

from contracts.envelope import ContractViolation, Envelope, open_envelope
from contracts.topics import dead_letter_topic
from probidad.shared.database import Database
from probidad.shared.logs import bound_contextvars, get_logger
from probidad.shared.metrics import DEAD_LETTERS, EVENTS_CONSUMED, HANDLER_RETRIES
from probidad.shared.tables import ProcessedEvent

log = get_logger(__name__)

Handler = Callable[..., Awaitable[None]]  # (session, envelope) -> None
# (session, envelopes) -> None: called once per batch, in its transaction, before its handlers, with
# the events about to be applied — lets a service read at once what the batch's handlers will ask for.
Prepare = Callable[..., Awaitable[None]]
Record = tuple  # (topic, partition, offset, key, value, headers) of one Kafka record


class Rejected(Exception):
    """A handler refuses an event for good (a business rule it violates); it is dead-lettered."""


# PostgreSQL aborts one of two transactions that deadlock (40P01) or cannot be serialised (40001):
# run again, it succeeds.
_RETRY_SQLSTATES = frozenset({"40P01", "40001"})


def _sqlstate(error: BaseException) -> str | None:
    seen = 0
    while error is not None and seen < 5:
        state = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
        if isinstance(state, str):
            return state
        error = getattr(error, "orig", None) or error.__cause__
        seen += 1
    return None


def is_transient(error: BaseException) -> bool:
    if isinstance(error, (sa_exc.OperationalError, sa_exc.InterfaceError, ConnectionError, TimeoutError, OSError)):
        return True
    if isinstance(error, sa_exc.DBAPIError) and _sqlstate(error) in _RETRY_SQLSTATES:
        return True
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    return type(error).__module__.startswith("aiokafka") and "Connection" in type(error).__name__


@dataclass
class Backoff:
    first_s: float = 0.1
    max_s: float = 10.0

    def delays(self) -> Iterable[float]:
        delay = self.first_s
        while True:
            yield delay * (0.5 + random.random() / 2)
            delay = min(delay * 2, self.max_s)


@dataclass
class DeadLetter:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]


@dataclass
class IdempotentConsumer:
    service: str
    group: str
    database: Database
    handlers: dict[str, Handler]
    send_dead_letter: Callable[[DeadLetter], Awaitable[None]]
    backoff: Backoff = field(default_factory=Backoff)
    last_event_time: dict[str, datetime] = field(default_factory=dict)
    prepare: Prepare | None = None

    async def _open(self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None,
                    headers) -> tuple[Envelope, Handler] | str:  # noqa: ANN001
        """The record's envelope and handler, or the outcome when there is nothing to apply."""
        try:
            envelope = open_envelope(headers, value)
        except ContractViolation as violation:
            await self.dead_letter(topic, partition, offset, key, value, headers, str(violation), "contract")
            return "dead_lettered"
        self.last_event_time[topic] = envelope.time
        handler = self.handlers.get(envelope.type)
        if handler is None:
            EVENTS_CONSUMED.labels(self.service, self.group, envelope.type, "ignored").inc()
            return "ignored"
        return envelope, handler

    async def process(self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None,
                      headers) -> str:  # noqa: ANN001
        """Apply one record; returns the outcome. Safe to call again with the same record."""
        opened = await self._open(topic, partition, offset, key, value, headers)
        if isinstance(opened, str):
            return opened
        envelope, handler = opened
        with bound_contextvars(event_id=envelope.id, event_type=envelope.type,
                               correlation_id=envelope.correlation_id, group=self.group):
            try:
                applied = await self._with_retry(lambda: self._apply(envelope, handler))
            except Exception as error:  # not transient: this record can never be applied
                reason = f"{type(error).__name__}: {error}"
                kind = "rejected" if isinstance(error, Rejected) else "handler_error"
                if kind == "handler_error":
                    log.exception("handler failed; dead-lettering", topic=topic, partition=partition, offset=offset)
                await self.dead_letter(topic, partition, offset, key, value, headers, reason, kind)
                return "dead_lettered"
            outcome = "applied" if applied else "duplicate"
            EVENTS_CONSUMED.labels(self.service, self.group, envelope.type, outcome).inc()
            if applied:
                log.info("event applied", topic=topic, partition=partition, offset=offset)
            return outcome

    async def process_batch(self, records: list[Record]) -> dict[str, int]:
        """Apply a batch of records in one transaction (one commit, then one offset commit).

        Same guarantees as ``process``: invalid records are dead-lettered, redeliveries are no-ops,
        transient faults are retried. If any handler fails for good, the batch's transaction is rolled
        back and its records are applied one by one, so only the failing record is dead-lettered.
        """
        outcomes: Counter[str] = Counter()
        opened: list[tuple[Record, Envelope, Handler]] = []
        for record in records:
            found = await self._open(*record)
            if isinstance(found, str):
                outcomes[found] += 1
            else:
                opened.append((record, *found))
        if not opened:
            return dict(outcomes)
        try:
            applied = await self._with_retry(lambda: self._apply_batch(opened))
        except Exception:  # noqa: BLE001 — one record can never be applied: find it, one by one
            log.warning("batch failed; applying its records one by one", size=len(opened))
            for record, _envelope, _handler in opened:
                outcomes[await self.process(*record)] += 1
            return dict(outcomes)
        for (_record, envelope, _handler), was_applied in zip(opened, applied, strict=True):
            outcome = "applied" if was_applied else "duplicate"
            EVENTS_CONSUMED.labels(self.service, self.group, envelope.type, outcome).inc()
            outcomes[outcome] += 1
        return dict(outcomes)

    async def _apply_batch(self, opened: list[tuple[Record, Envelope, Handler]]) -> list[bool]:
        ids = list(dict.fromkeys(envelope.id for _r, envelope, _h in opened))
        async with self.database.transaction() as session:
            seen: set[str] = set()
            for chunk in range(0, len(ids), 500):
                found = await session.execute(
                    select(ProcessedEvent.event_id).where(
                        ProcessedEvent.consumer_group == self.group,
                        ProcessedEvent.event_id.in_(ids[chunk:chunk + 500]),
                    )
                )
                seen.update(found.scalars())
            applied: list[bool] = []
            fresh: list[tuple[Record, Envelope, Handler]] = []
            for item in opened:
                envelope = item[1]
                applied.append(envelope.id not in seen)
                if envelope.id not in seen:
                    seen.add(envelope.id)
                    fresh.append(item)
            if fresh:
                now = datetime.now(UTC)
                await session.execute(insert(ProcessedEvent.__table__), [
                    {"consumer_group": self.group, "event_id": envelope.id, "processed_at": now}
                    for _record, envelope, _handler in fresh])
                if self.prepare is not None:
                    await self.prepare(session, [envelope for _record, envelope, _handler in fresh])
            for _record, envelope, handler in fresh:
                with bound_contextvars(event_id=envelope.id, event_type=envelope.type,
                                       correlation_id=envelope.correlation_id, group=self.group):
                    await handler(session, envelope)
                    # One line per applied event: grep a correlation id to follow a flow across services.
                    log.info("event applied", topic=_record[0], partition=_record[1], offset=_record[2])
        return applied

    async def _seen(self, session, event_id: str) -> bool:  # noqa: ANN001
        found = await session.execute(
            select(ProcessedEvent.event_id).where(
                ProcessedEvent.consumer_group == self.group, ProcessedEvent.event_id == event_id
            )
        )
        return found.first() is not None

    async def _apply(self, envelope: Envelope, handler: Handler) -> bool:
        try:
            async with self.database.transaction() as session:
                if await self._seen(session, envelope.id):
                    return False
                session.add(ProcessedEvent(consumer_group=self.group, event_id=envelope.id))
                await handler(session, envelope)
            return True
        except sa_exc.IntegrityError:
            # Another instance of this group may have committed the same event first.
            async with self.database.transaction() as session:
                if await self._seen(session, envelope.id):
                    return False
            raise

    async def _with_retry(self, attempt: Callable[[], Awaitable[bool]]) -> bool:
        for delay in self.backoff.delays():
            try:
                return await attempt()
            except Exception as error:
                if not is_transient(error):
                    raise
                HANDLER_RETRIES.labels(self.service, self.group).inc()
                log.warning("transient fault; retrying", error=repr(error), retry_in_s=round(delay, 3))
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def dead_letter(self, topic, partition, offset, key, value, headers, reason: str, kind: str) -> None:  # noqa: ANN001
        original: dict[str, str] = {}
        for name, raw in (headers.items() if hasattr(headers, "items") else headers or []):
            original[name] = raw.decode(errors="replace") if isinstance(raw, (bytes, bytearray)) else str(raw)
        original.update({
            "dlq_reason": reason[:2000],
            "dlq_reason_kind": kind,
            "dlq_original_topic": topic,
            "dlq_original_partition": str(partition),
            "dlq_original_offset": str(offset),
            "dlq_consumer_group": self.group,
            "dlq_failed_at": datetime.now(UTC).isoformat(),
        })
        letter = DeadLetter(dead_letter_topic(topic, self.group), key, value, original)
        # The offset is committed after this returns, so the letter must be acknowledged first.
        await self._with_retry(lambda: self._send(letter))
        DEAD_LETTERS.labels(self.service, self.group, topic, kind).inc()
        EVENTS_CONSUMED.labels(self.service, self.group, original.get("ce_type", "unknown"), "dead_lettered").inc()
        log.warning("dead-lettered", topic=topic, partition=partition, offset=offset, reason=reason, dlq=letter.topic)

    async def _send(self, letter: DeadLetter) -> bool:
        await self.send_dead_letter(letter)
        return True

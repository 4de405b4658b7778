"""Idempotent consumer with dead-lettering and retry — the only way services consume events.

Every Kafka record a service receives is decided here, by project code, from its raw bytes (key,
value and headers exactly as the broker returned them; the subscriber in ``probidad.shared.kafka``
hands them over undecoded). Each record ends in exactly one of these outcomes:

* **applied** — its handler ran and the event id was recorded, in one transaction;
* **duplicate** — its event id was already recorded by this group: nothing happens (a redelivery);
* **ignored** — a valid event of a type this group has no handler for;
* **dead-lettered** — sent to ``<topic>.<group>.dlq`` with the reason (``dlq_reason``, ``dlq_reason_kind``)
  and its original topic/partition/offset in headers.

How a record is decided:

1. ``open_envelope`` judges it. Any exception while decoding it (bad UTF-8, bad JSON, a number too
   long to convert, nesting too deep, a wrong shape, an unknown ``ce_type``, …) is a contract error:
   the record is dead-lettered (``dlq_reason_kind=contract``). Nothing raised there reaches the loop.
2. In one database transaction: the event id is inserted into ``processed_event`` for this group
   and the handler applies the effect (and adds any outgoing events to the outbox).
3. Only after that commit — and after every dead letter of the batch was acknowledged by the broker —
   is the offset committed (``AckPolicy.MANUAL``). A crash in between redelivers the record, and
   step 2 makes it a no-op.

Records arrive in batches (all a poll returns, up to a few hundred): one transaction and one offset
commit per batch instead of per record, which is what lets a consumer keep up with thousands of
events per second. Order within each partition is kept.

Failures:

* Transient faults (database or broker unavailable, a PostgreSQL deadlock) are retried with backoff,
  forever: never skipped, never dead-lettered.
* A handler raising a domain's ``RuleViolation`` (a business rule) is
  dead-lettered at once (``rejected``); any other handler error is tried ``HANDLER_ATTEMPTS`` times,
  then dead-lettered (``handler_error``).
* A dead letter never exceeds the producer's request limit: header values, key and value are cut to
  fit (``DEAD_LETTER_MAX_BYTES``) and ``dlq_reason`` says what was cut; a letter the broker still
  refuses for good is sent again with the coordinates and reason only.

* **dead-lettered as a reused id** — its event id was already applied by this group for *other*
  content (type, subject or data differ): a producer's bug or a forgery, never applied
  (``dlq_reason_kind=contract``). ``processed_event`` keeps a digest of what each id said.
Dead letters are sent at least once: a record redelivered before its offset was committed (a crash,
a rebalance) is dead-lettered again; its ``dlq_original_topic/partition/offset`` identify it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from datetime import UTC, datetime

from sqlalchemy import exc as sa_exc
from sqlalchemy import insert, select

from contracts.envelope import ContractViolation, Envelope, open_envelope
from contracts.events import EVENTS_BY_TYPE
from contracts.topics import dead_letter_topic
from probidad.shared import tracing
from probidad.shared.database import Database
from probidad.shared.errors import RuleViolation
from probidad.shared.logs import bound_contextvars, get_logger
from probidad.shared.metrics import DEAD_LETTERS, EVENTS_CONSUMED, HANDLER_RETRIES
from probidad.shared.outbox import Outbox
from probidad.shared.tables import ProcessedEvent
from probidad.shared.unit_of_work import unit_of_work

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

log = get_logger(__name__)
T = TypeVar("T")

Handler = Callable[..., Awaitable[None]]  # (uow, envelope) -> None
# (uow, envelopes) -> None: called once per batch, in its unit of work, before its handlers, with the
# events about to be applied — lets a service read at once what the batch's handlers will ask for.
Prepare = Callable[..., Awaitable[None]]
Record = tuple  # (topic, partition, offset, key, value, headers) of one Kafka record
Headers = Mapping[str, Any] | Iterable[tuple[str, Any]] | None  # a record's headers, as open_envelope takes them


# A handler error that is not transient may still pass (a lock timeout the driver reports oddly):
# try a few times before dead-lettering.
HANDLER_ATTEMPTS = 3

# Dead letters stay under the producer's max_request_size (1 MiB), framing included.
DEAD_LETTER_MAX_BYTES = 1_000_000
DEAD_LETTER_HEADER_CHARS = 4096
DEAD_LETTER_HEADERS_BYTES = 64 * 1024
DEAD_LETTER_KEY_BYTES = 4096
# What is kept of a value too large to travel whole: enough to recognise it.
DEAD_LETTER_KEPT_VALUE_BYTES = 64 * 1024


def content_digest(envelope: Envelope) -> str:
    """What an event says — its type, subject and data, not when or by which record it came — as a
    SHA-256 hex digest: the same for every redelivery of one event, different for other content."""
    data = json.dumps(envelope.event.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{envelope.type}\n{envelope.subject}\n{data}".encode()).hexdigest()


def _repeat(recorded: str | None, digest: str) -> str:
    """A seen id: a redelivery if it says what it said then (or was recorded before digests were)."""
    return "duplicate" if recorded in (None, digest) else "reused"


# Faults that pass: PostgreSQL aborts one of two transactions that deadlock (40P01) or cannot be
# serialised (40001); a server shutting down, restarting or starting up (57P01 admin shutdown, 57P02
# crash shutdown, 57P03 cannot connect now — "the database system is shutting down / starting up");
# too many connections (53300); and every connection exception (class 08). Run again, they succeed.
_RETRY_SQLSTATES = frozenset({"40P01", "40001", "57P01", "57P02", "57P03", "53300"})
_RETRY_SQLSTATE_CLASSES = ("08",)


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
    state = _sqlstate(error)
    if state is not None and (state in _RETRY_SQLSTATES or state.startswith(_RETRY_SQLSTATE_CLASSES)):
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
    # Where the events the handlers record go; a consumer whose handlers record none may go without.
    outbox: Outbox = field(default_factory=Outbox)
    # Rewrites a record before it is judged (e.g. stamps a header from the topic it came on, the one
    # fact about a record the broker vouches for). Must be idempotent: a record may pass twice.
    rewrite_record: Callable[[Record], Record] | None = None

    async def _open(self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None,
                    headers: Headers, letters: list[DeadLetter]) -> tuple[Envelope, Handler] | str:
        """The record's envelope and handler, or the outcome when there is nothing to apply (a record
        that is not a valid event adds its dead letter to ``letters``)."""
        try:
            envelope = open_envelope(headers, value)
        except Exception as error:  # noqa: BLE001 — whatever decoding raises, the record is judged
            reason = str(error) if isinstance(error, ContractViolation) else \
                f"record could not be decoded: {type(error).__name__}: {error}"
            letters.append(self.letter(topic, partition, offset, key, value, headers, reason, "contract"))
            return "dead_lettered"
        self.last_event_time[topic] = envelope.time
        handler = self.handlers.get(envelope.type)
        if handler is None:
            EVENTS_CONSUMED.labels(self.service, self.group, envelope.type, "ignored").inc()
            return "ignored"
        return envelope, handler

    async def process(self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None,
                      headers: Headers) -> str:
        """Apply one record; returns the outcome. Safe to call again with the same record."""
        if self.rewrite_record is not None:
            topic, partition, offset, key, value, headers = self.rewrite_record(
                (topic, partition, offset, key, value, headers))
        return await self._process(topic, partition, offset, key, value, headers)

    async def _process(self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None,
                       headers: Headers) -> str:
        """``process`` of a record already rewritten."""
        letters: list[DeadLetter] = []
        opened = await self._open(topic, partition, offset, key, value, headers, letters)
        if isinstance(opened, str):
            await self.send_letters(letters)
            return opened
        envelope, handler = opened
        span = tracing.processing(topic, partition, offset, self.group, envelope.id, envelope.type,
                                  envelope.extra_headers)
        try:
            with tracing.current(span):  # its log lines name the record's trace
                return await self._decide(topic, partition, offset, key, value, headers, envelope, handler, span)
        finally:
            tracing.end(span)

    async def _decide(self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None,
                      headers: Headers, envelope: Envelope, handler: Handler, span: tracing.Span | None) -> str:
        """Apply one opened record (in its own unit of work) and say the outcome: ``_process``'s second half."""
        with bound_contextvars(event_id=envelope.id, event_type=envelope.type,
                               correlation_id=envelope.correlation_id, group=self.group):
            try:
                applied = await self._with_retry(lambda: self._apply(envelope, handler, span),
                                                 attempts=HANDLER_ATTEMPTS)
            except Exception as error:  # not transient: this record can never be applied
                reason = f"{type(error).__name__}: {error}"
                kind = "rejected" if isinstance(error, RuleViolation) else "handler_error"
                tracing.outcome(span, "dead_lettered", error)
                if kind == "handler_error":
                    log.exception("handler failed; dead-lettering", topic=topic, partition=partition, offset=offset,
                                  attempts=HANDLER_ATTEMPTS)
                await self.send_letters([self.letter(topic, partition, offset, key, value, headers, reason, kind)])
                return "dead_lettered"
            if applied == "reused":
                reason = self._reused(envelope)
                tracing.outcome(span, "dead_lettered", reason)
                await self.send_letters([self.letter(topic, partition, offset, key, value, headers, reason,
                                                     "contract")])
                return "dead_lettered"
            tracing.outcome(span, applied)
            EVENTS_CONSUMED.labels(self.service, self.group, envelope.type, applied).inc()
            if applied == "applied":
                log.info("event applied", topic=topic, partition=partition, offset=offset)
            return applied

    async def process_batch(self, records: list[Record]) -> dict[str, int]:
        """Apply a batch of records in one transaction (one commit, then one offset commit).

        Same guarantees as ``process``: invalid records are dead-lettered, redeliveries are no-ops,
        transient faults are retried. If any handler fails for good, the batch's transaction is rolled
        back and its records are applied one by one, so only the failing record is dead-lettered.
        Returns once every record is decided (its dead letter, if any, acknowledged by the broker).
        """
        if self.rewrite_record is not None:
            records = [self.rewrite_record(record) for record in records]
        outcomes: Counter[str] = Counter()
        opened: list[tuple[Record, Envelope, Handler]] = []
        letters: list[DeadLetter] = []
        for record in records:
            found = await self._open(*record, letters)
            if isinstance(found, str):
                outcomes[found] += 1
            else:
                opened.append((record, *found))
        # Dead letters first and all at once: waiting for each send would cost milliseconds per record.
        await self.send_letters(letters)
        if not opened:
            return dict(outcomes)
        # With tracing on, a span per record, each in the trace its headers carry (see probidad.shared.tracing).
        spans = {id(envelope): tracing.processing(record[0], record[1], record[2], self.group, envelope.id,
                                                  envelope.type, envelope.extra_headers)
                 for record, envelope, _handler in opened} if tracing.active() else None
        try:
            applied = await self._with_retry(lambda: self._apply_batch(opened, spans))
        except Exception:  # noqa: BLE001 — one record can never be applied: find it, one by one
            if spans is not None:  # each record is applied again, in a span of its own
                tracing.end_all(list(spans.values()), "its batch failed; applied again on its own")
            log.warning("batch failed; applying its records one by one", size=len(opened))
            for record, _envelope, _handler in opened:
                outcomes[await self._process(*record)] += 1
            return dict(outcomes)
        reused: list[DeadLetter] = []
        for (record, envelope, _handler), outcome in zip(opened, applied, strict=True):
            if outcome == "reused":
                reused.append(self.letter(*record, self._reused(envelope), "contract"))
                outcome = "dead_lettered"
            else:
                EVENTS_CONSUMED.labels(self.service, self.group, envelope.type, outcome).inc()
            outcomes[outcome] += 1
            if spans is not None:
                tracing.outcome(spans[id(envelope)], outcome)
                tracing.end(spans[id(envelope)])
        await self.send_letters(reused)
        return dict(outcomes)

    def _reused(self, envelope: Envelope) -> str:
        return (f"ce_id {envelope.id!r} was already applied by {self.group} for other content "
                f"(type, subject or data differ): an event id names one event only")

    async def _apply_batch(self, opened: list[tuple[Record, Envelope, Handler]],
                           spans: dict[int, tracing.Span | None] | None = None) -> list[str]:
        """Apply the fresh records of a batch in one transaction; per record: applied, duplicate or reused.
        ``spans``: each record's span by ``id(envelope)`` (tracing on); the batch's unit of work is a child of
        its first record's."""
        with tracing.current(spans[id(opened[0][1])] if spans else None):
            return await self._apply_in_one(opened, spans)

    async def _apply_in_one(self, opened: list[tuple[Record, Envelope, Handler]],
                            spans: dict[int, tracing.Span | None] | None) -> list[str]:
        ids = list(dict.fromkeys(envelope.id for _r, envelope, _h in opened))
        async with unit_of_work(self.database, self.outbox) as uow:
            session = uow.session
            seen: dict[str, str | None] = {}  # event id -> the digest it was applied with
            for chunk in range(0, len(ids), 500):
                found = await session.execute(
                    select(ProcessedEvent.event_id, ProcessedEvent.content_digest).where(
                        ProcessedEvent.consumer_group == self.group,
                        ProcessedEvent.event_id.in_(ids[chunk:chunk + 500]),
                    )
                )
                seen.update((event_id, digest) for event_id, digest in found)
            outcomes: list[str] = []
            fresh: list[tuple[Record, Envelope, Handler, str]] = []
            for record, envelope, handler in opened:
                digest = content_digest(envelope)
                if envelope.id in seen:
                    outcomes.append(_repeat(seen[envelope.id], digest))
                    continue
                seen[envelope.id] = digest
                fresh.append((record, envelope, handler, digest))
                outcomes.append("applied")
            if fresh:
                now = datetime.now(UTC)
                await session.execute(insert(ProcessedEvent.__table__), [
                    {"consumer_group": self.group, "event_id": envelope.id, "content_digest": digest,
                     "processed_at": now}
                    for _record, envelope, _handler, digest in fresh])
                if self.prepare is not None:
                    await self.prepare(uow, [envelope for _record, envelope, _handler, _digest in fresh])
            for record, envelope, handler, _digest in fresh:
                with bound_contextvars(event_id=envelope.id, event_type=envelope.type,
                                       correlation_id=envelope.correlation_id, group=self.group), \
                        tracing.handling(spans.get(id(envelope)) if spans else None, envelope.type):
                    await handler(uow, envelope)
                    # One line per applied event: grep a correlation id to follow a flow across services.
                    log.info("event applied", topic=record[0], partition=record[1], offset=record[2])
        return outcomes

    async def _seen(self, session: AsyncSession, event_id: str) -> tuple[bool, str | None]:
        """Whether this group applied ``event_id``, and the digest it was applied with."""
        found = (await session.execute(
            select(ProcessedEvent.content_digest).where(
                ProcessedEvent.consumer_group == self.group, ProcessedEvent.event_id == event_id
            )
        )).first()
        return (found is not None, found[0] if found is not None else None)

    async def _apply(self, envelope: Envelope, handler: Handler, span: tracing.Span | None = None) -> str:
        digest = content_digest(envelope)
        try:
            with tracing.current(span):
                async with unit_of_work(self.database, self.outbox) as uow:
                    seen, recorded = await self._seen(uow.session, envelope.id)
                    if seen:
                        return _repeat(recorded, digest)
                    uow.session.add(ProcessedEvent(consumer_group=self.group, event_id=envelope.id,
                                                   content_digest=digest))
                    with tracing.handling(span, envelope.type):
                        await handler(uow, envelope)
            return "applied"
        except sa_exc.IntegrityError:
            # Another instance of this group may have committed the same event first.
            async with self.database.transaction() as session:
                seen, recorded = await self._seen(session, envelope.id)
                if seen:
                    return _repeat(recorded, digest)
            raise

    async def _with_retry(self, attempt: Callable[[], Awaitable[T]], *, attempts: int | None = 1) -> T:
        """Run ``attempt``: transient faults are retried without end, other errors ``attempts`` times
        (``None``: without end too)."""
        failures = 0
        for delay in self.backoff.delays():
            try:
                return await attempt()
            except Exception as error:
                if not is_transient(error):
                    failures += 1
                    # A business rule says no for good: asking again changes nothing.
                    if isinstance(error, RuleViolation) or (attempts is not None and failures >= attempts):
                        raise
                    log.warning("handler failed; trying again", error=repr(error), attempt=failures,
                                retry_in_s=round(delay, 3))
                else:
                    HANDLER_RETRIES.labels(self.service, self.group).inc()
                    log.warning("transient fault; retrying", error=repr(error), retry_in_s=round(delay, 3))
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    def letter(self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None,
               headers: Headers, reason: str, kind: str) -> DeadLetter:
        """The dead letter of one record: its key, value and headers, with the reason and coordinates,
        cut to fit under ``DEAD_LETTER_MAX_BYTES``."""
        cuts: list[str] = []  # what this letter leaves out of the record, for its reason
        original: dict[str, str] = {}
        header_bytes, left_out = 0, 0
        for name, raw in (headers.items() if hasattr(headers, "items") else headers or []):
            # Bytes that are not UTF-8 stay readable as \xNN escapes (header values must be text here).
            text = raw.decode(errors="backslashreplace") if isinstance(raw, (bytes, bytearray)) else \
                ("" if raw is None else str(raw))
            # A name the record reader could not decode as UTF-8 holds lone surrogates: \xNN escapes too.
            name = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            name = name[:DEAD_LETTER_HEADER_CHARS]
            if header_bytes > DEAD_LETTER_HEADERS_BYTES:
                left_out += 1
                continue
            if len(text) > DEAD_LETTER_HEADER_CHARS:
                cuts.append(f"header {name[:80]!r} of {len(text)} characters cut to {DEAD_LETTER_HEADER_CHARS}")
                text = text[:DEAD_LETTER_HEADER_CHARS]
            header_bytes += len(name.encode(errors="backslashreplace")) + len(text.encode(errors="backslashreplace"))
            original[name] = text
        if left_out:
            cuts.append(f"{left_out} header(s) left out")
        if key is not None and len(key) > DEAD_LETTER_KEY_BYTES:
            cuts.insert(0, f"key of {len(key)} bytes cut to {DEAD_LETTER_KEY_BYTES}")
            key = key[:DEAD_LETTER_KEY_BYTES]
        room = DEAD_LETTER_MAX_BYTES - header_bytes - len(key or b"") - 4096  # 4 KiB for our own headers
        if value is not None and len(value) > room:
            kept = max(0, min(room, DEAD_LETTER_KEPT_VALUE_BYTES))
            cuts.insert(0, f"value of {len(value)} bytes cut to its first {kept} in this dead letter")
            value = value[:kept]
        if cuts:
            reason = f"{reason[:1500]} [{'; '.join(cuts)[:480]}]"
        original.update(self._coordinates(topic, partition, offset, reason, kind))
        return DeadLetter(dead_letter_topic(topic, self.group), key, value, original)

    def _coordinates(self, topic: str, partition: int, offset: int, reason: str, kind: str) -> dict[str, str]:
        return {
            "dlq_reason": reason[:2000],
            "dlq_reason_kind": kind,
            "dlq_original_topic": topic,
            "dlq_original_partition": str(partition),
            "dlq_original_offset": str(offset),
            "dlq_consumer_group": self.group,
            "dlq_failed_at": datetime.now(UTC).isoformat(),
        }

    async def dead_letter(self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None,
                          headers: Headers, reason: str, kind: str) -> None:
        await self.send_letters([self.letter(topic, partition, offset, key, value, headers, reason, kind)])

    async def send_letters(self, letters: list[DeadLetter]) -> None:
        """Send dead letters concurrently; returns once the broker acknowledged every one."""
        if letters:
            await asyncio.gather(*(self._deliver(letter) for letter in letters))

    async def _deliver(self, letter: DeadLetter) -> None:
        # The offset is committed after this returns, so the letter must be acknowledged first.
        try:
            await self._with_retry(lambda: self._send(letter))
        except Exception as error:  # noqa: BLE001 — the broker refuses this letter for good (size, policy)
            log.warning("dead letter refused; sending its reason and coordinates only", error=repr(error),
                        dlq=letter.topic)
            headers = {name: text for name, text in letter.headers.items() if name.startswith(("dlq_", "ce_"))}
            headers = {name: text[:DEAD_LETTER_HEADER_CHARS] for name, text in headers.items()}
            refusal = f"{type(error).__name__}: {error}"[:300]
            headers["dlq_reason"] = f"{headers['dlq_reason'][:1500]} [key, value and other headers left out: {refusal}]"
            # Only transient faults are retried now: this letter holds nothing the broker could refuse.
            bare = DeadLetter(letter.topic, None, None, headers)
            await self._with_retry(lambda: self._send(bare), attempts=None)
            letter = bare
        h = letter.headers
        DEAD_LETTERS.labels(self.service, self.group, h["dlq_original_topic"], h["dlq_reason_kind"]).inc()
        # A label per type the platform knows: a producer inventing types must not grow the metrics without end.
        event_type = h.get("ce_type", "")
        EVENTS_CONSUMED.labels(self.service, self.group, event_type if event_type in EVENTS_BY_TYPE else "unknown",
                               "dead_lettered").inc()
        log.warning("dead-lettered", topic=h["dlq_original_topic"], partition=h["dlq_original_partition"],
                    offset=h["dlq_original_offset"], reason=h["dlq_reason"], dlq=letter.topic)

    async def _send(self, letter: DeadLetter) -> bool:
        await self.send_dead_letter(letter)
        return True

"""Transactional outbox: events commit with the state that produced them; a relay publishes them.

Writers hand events to their unit of work (``probidad.shared.unit_of_work``), which inserts the rows
``Outbox.row`` makes in the same transaction as the state. ``OutboxRelay`` runs beside
the service, takes unpublished rows in commit order, sends them as one batch (idempotent producer,
acks=all — configured on the broker), waits for every acknowledgement, then marks them published.
A crash between send and mark republishes the batch with the same ``ce_id``s, which idempotent
consumers ignore: at-least-once on the wire, exactly-once in effect.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import func, select, text, update

from contracts.base import Event
from contracts.envelope import Envelope, seal, to_record
from probidad.shared import tracing
from probidad.shared.database import Database
from probidad.shared.logs import get_logger
from probidad.shared.metrics import OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE, OUTBOX_PUBLISHED, OUTBOX_RELAY_ERRORS
from probidad.shared.tables import OutboxRecord

if TYPE_CHECKING:
    from aiokafka import AIOKafkaProducer
    from faststream.kafka import KafkaBroker
    from sqlmodel.ext.asyncio.session import AsyncSession

log = get_logger(__name__)

# publish(topic, key, value, headers) -> an awaitable resolved when the broker acknowledged the record
Publish = Callable[[str, bytes, bytes, dict[str, str]], Awaitable[Awaitable[object] | object]]

# Only one relay per database publishes at a time, so events leave in commit order.
_RELAY_LOCK = 0x70726F62


RELAY_WARNING_INTERVAL_S = 60.0  # while the broker stays away, one warning a minute


OUTBOX = OutboxRecord.__table__


class Outbox:
    def __init__(self, topic_prefix: str = "") -> None:
        self.topic_prefix = topic_prefix
        self.wake = asyncio.Event()

    def row(self, event: Event, *, correlation_id: str | None = None,
            topic: str | None = None) -> tuple[dict, Envelope]:
        """The outbox row that publishes ``event``, and its envelope. ``topic`` (a name inside the
        prefix, like ``kafka_topic``) overrides the event class's topic: an event written to one of many
        topics of a family, e.g. ``probidad.agency.outcomes.<institution>``, names its own."""
        name = topic or event.kafka_topic
        if "{" in name:  # one topic of a family, named by the event's own fields
            try:
                name = name.format(**{field: getattr(event, field) for field in type(event).model_fields})
            except (KeyError, IndexError, ValueError) as error:
                # Refused here, in the writer's transaction, rather than left in the outbox as a row the
                # relay could never send (it retries a failing batch, never skips).
                raise ValueError(f"{event.type} is written to one of the topics {name!r}: {error!r}") from None
        envelope = seal(event, correlation_id=correlation_id)
        key, value, headers = to_record(envelope)
        # The trace it was written in travels with it: stored in the row, so a relay minutes later (another
        # process, after a restart) still sends it on in that trace. Nothing is added when tracing is off.
        tracing.inject(headers)
        return {
            "event_id": envelope.id,
            "topic": f"{self.topic_prefix}{name}",
            "key": key.decode(),
            "type": event.type,
            "headers": orjson.dumps(headers).decode(),
            "payload": value.decode(),
            "created_at": envelope.time,
            "published_at": None,
        }, envelope


def broker_publisher(broker: KafkaBroker) -> Publish:
    """Adapts a FastStream KafkaBroker: sends without waiting, so a batch is in flight at once."""

    async def publish(topic: str, key: bytes, value: bytes, headers: dict[str, str]) -> Any:
        return await broker.publish(
            value, topic, key=key, headers=headers, correlation_id=headers.get("correlation_id"), no_confirm=True
        )

    return publish


def producer_publisher(producer: AIOKafkaProducer) -> Publish:  # a started one
    """Sends through a plain aiokafka producer without waiting, so a batch is in flight at once."""

    async def publish(topic: str, key: bytes, value: bytes, headers: dict[str, str]) -> Awaitable[object]:
        return await producer.send(topic, value, key=key, headers=[(k, v.encode()) for k, v in headers.items()])

    return publish


class OutboxRelay:
    def __init__(self, database: Database, outbox: Outbox, publish: Publish, *, service: str,
                 batch_size: int = 500, interval_s: float = 0.05,
                 reconnect: Callable[[], Awaitable[Publish]] | None = None, send_timeout_s: float = 30.0) -> None:
        self.database = database
        self.outbox = outbox
        self.publish = publish
        # Makes a fresh producer after a failed round. An idempotent producer whose batches expired
        # while the brokers were away keeps failing with OutOfOrderSequenceNumber for good; a new one
        # (a new producer id) sends the same rows, which consumers take as redeliveries at worst.
        self.reconnect = reconnect
        # Creates topics before the first event is sent to them (a broker that does not create topics on
        # first write, and a topic of a family, e.g. one agency's outcome topic, that nobody made yet);
        # ``ready_topics`` are those known to exist. None: every topic is made beforehand.
        self.make_topics: Callable[[list[str]], Awaitable[None]] | None = None
        self.ready_topics: set[str] = set()
        self.send_timeout_s = send_timeout_s
        self.service = service
        self.batch_size = batch_size
        self.interval_s = interval_s
        self._stopping = asyncio.Event()
        self._one_round_at_a_time = asyncio.Lock()

    async def publish_pending(self) -> int:
        """Publish one batch; returns how many events went out."""
        async with self._one_round_at_a_time:
            return await self._publish_batch()

    async def _publish_batch(self) -> int:
        if self.database.is_postgres:
            # Several instances share the database: the round holds the advisory lock, in one
            # transaction, from reading the rows to marking them, so events leave in commit order.
            async with self.database.transaction() as session:
                got = await session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _RELAY_LOCK})
                if not got.scalar():
                    return 0
                rows = await self._pending(session)
                if not rows:
                    return 0
                await self._send(rows)
                await self._mark(session, rows)
        else:
            # SQLite: one process per database file, and one round at a time in it. The round holds no
            # transaction while the broker acknowledges: the process's transactions take turns (see
            # ``Database``), and a consumer or request should not wait for the broker.
            async with self.database.transaction() as session:
                rows = await self._pending(session)
            if not rows:
                return 0
            await self._send(rows)
            async with self.database.transaction() as session:
                await self._mark(session, rows)
        for topic, count in Counter(row.topic for row in rows).items():
            OUTBOX_PUBLISHED.labels(self.service, topic).inc(count)
        return len(rows)

    async def _pending(self, session: AsyncSession) -> list:
        # Core rows, not ORM objects: the relay only reads them once and marks them by id.
        query = (
            select(OUTBOX.c.id, OUTBOX.c.topic, OUTBOX.c.key, OUTBOX.c.payload, OUTBOX.c.headers)
            .where(OUTBOX.c.published_at.is_(None))
            .order_by(OUTBOX.c.id)
            .limit(self.batch_size)
        )
        return list((await session.execute(query)).all())

    async def _send(self, rows: list) -> None:
        """Send every row without waiting in between, then wait until the broker acknowledged them all.

        Bounded: with every broker away the producer retries inside itself and its acknowledgements never
        come, so the round would wait without failing — no fresh producer, no backlog counted. Past
        ``send_timeout_s`` the round fails and is retried like any other (consumers ignore a resend)."""
        if self.make_topics is not None:
            if new := sorted({row.topic for row in rows} - self.ready_topics):
                # Failing or too slow (the broker away), the round fails and is tried again, like a send.
                await asyncio.wait_for(self.make_topics(new), timeout=self.send_timeout_s)
                self.ready_topics.update(new)

        traced = tracing.active()
        spans: list = []  # with tracing on: each event's publish span, ended when the broker acknowledged it

        async def send_all() -> None:
            pending = []
            for row in rows:
                headers = orjson.loads(row.headers)
                if traced:
                    spans.append(tracing.publishing(row.topic, headers))
                pending.append(await self.publish(row.topic, row.key.encode(), row.payload.encode(), headers))
            for n, sent in enumerate(pending):
                if isinstance(sent, Awaitable):
                    await sent
                if traced:
                    tracing.end(spans[n])
                    spans[n] = None

        try:
            await asyncio.wait_for(send_all(), timeout=self.send_timeout_s)
        except TimeoutError:
            tracing.end_all(spans, "not acknowledged in time")
            raise TimeoutError(
                f"the broker acknowledged {len(rows)} events in no {self.send_timeout_s:.0f} s") from None
        except BaseException as error:
            tracing.end_all(spans, error)
            raise

    @staticmethod
    async def _mark(session: AsyncSession, rows: list) -> None:
        await session.execute(
            update(OUTBOX).where(OUTBOX.c.id.in_([row.id for row in rows])).values(published_at=datetime.now(UTC))
        )

    async def _waiting(self) -> tuple[int, float]:
        """How many events wait to be published and how long the oldest has (0 when none): one statement."""
        async with self.database.transaction() as session:
            count, oldest = (await session.execute(
                select(func.count(), func.min(OUTBOX.c.created_at)).where(OUTBOX.c.published_at.is_(None)))).one()
        if oldest is None:
            return int(count), 0.0
        if oldest.tzinfo is None:  # SQLite hands back naive UTC
            oldest = oldest.replace(tzinfo=UTC)
        return int(count), max(0.0, (datetime.now(UTC) - oldest).total_seconds())

    async def oldest_age_s(self) -> float:
        """Seconds the oldest unpublished event has waited (0 when none waits)."""
        _count, age = await self._waiting()
        OUTBOX_OLDEST_AGE.labels(self.service).set(age)
        return age

    async def backlog(self) -> int:
        async with self.database.transaction() as session:
            result = await session.execute(
                select(func.count()).select_from(OUTBOX).where(OUTBOX.c.published_at.is_(None))
            )
            return int(result.scalar_one())

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Publish until the outbox is empty (used at shutdown and by tests)."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while await self.publish_pending() or await self.backlog():
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("outbox did not drain")
            await asyncio.sleep(0.05)

    async def _count_backlog(self, counted_at: float) -> float:
        """Set the backlog gauge from the database, at most once a second; returns when it was counted."""
        now = asyncio.get_running_loop().time()
        if now - counted_at < 1.0:
            return counted_at
        count, age = await self._waiting()
        OUTBOX_BACKLOG.labels(self.service).set(count)
        OUTBOX_OLDEST_AGE.labels(self.service).set(age)
        return now

    async def run(self) -> None:
        backoff = 0.1
        counted_at = float("-inf")
        loop = asyncio.get_running_loop()
        failing_since: float | None = None
        next_warning = 0.0
        while not self._stopping.is_set():
            self.outbox.wake.clear()  # before the round: a commit during it wakes the next one
            try:
                sent = await self.publish_pending()
                backoff = 0.1
                if sent < self.batch_size and not self.database.is_postgres:
                    # The round took every row waiting when it began: nothing is left behind. (Counting
                    # would be one more transaction per round, in turn with every other on SQLite.)
                    OUTBOX_BACKLOG.labels(self.service).set(0)
                    OUTBOX_OLDEST_AGE.labels(self.service).set(0)
                else:  # on PostgreSQL another instance may hold the relay lock: count
                    counted_at = await self._count_backlog(counted_at)
                if sent == self.batch_size:
                    continue
            except asyncio.CancelledError:
                raise
            except Exception as error:  # broker or database down: retry the same batch, never skip it
                OUTBOX_RELAY_ERRORS.labels(self.service).inc()
                failing_since = failing_since or loop.time()
                if loop.time() >= next_warning:  # once, then at a steady low rate while it lasts
                    log.warning("outbox relay round failed; retrying", error=repr(error), retry_in_s=backoff,
                                failing_for_s=round(loop.time() - failing_since))
                    next_warning = loop.time() + RELAY_WARNING_INTERVAL_S
                try:  # the backlog alert is for exactly this: events piling up while the broker is away
                    counted_at = await self._count_backlog(counted_at)
                except Exception:  # noqa: BLE001 — the database may be what is down
                    pass
                await asyncio.sleep(backoff * random.uniform(0.8, 1.2))  # jitter: instances do not retry in step
                backoff = min(backoff * 2, 5.0)
                if self.reconnect is not None:
                    try:
                        self.publish = await self.reconnect()
                    except asyncio.CancelledError:
                        raise
                    except Exception as reconnecting:  # noqa: BLE001 — still away: the next round tries again
                        log.debug("relay producer not reconnected", error=repr(reconnecting))
                continue
            if failing_since is not None:
                log.info("outbox relay recovered", failed_for_s=round(loop.time() - failing_since))
                failing_since, next_warning = None, 0.0
            # Sleep until a commit adds events (or the idle poll comes round: a safety net only).
            try:
                await asyncio.wait_for(self.outbox.wake.wait(), timeout=self.interval_s)
            except TimeoutError:
                pass

    def stop(self) -> None:
        self._stopping.set()
        self.outbox.wake.set()

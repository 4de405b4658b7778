"""Rebuild reporting from offset 0 into a fresh generation of the store, then swap it in.

The rebuild reads every platform topic up to the end offsets it finds when it starts, with a bare
aiokafka consumer (no consumer group: it never disturbs the live service's offsets), turns records
into facts with the same ``open_envelope`` + ``fact_from`` as the live path, and bulk-inserts them
into a new generation while the service keeps serving the old one. The swap then copies over the
facts the live consumer added meanwhile and moves the pointer, in one transaction.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from datetime import datetime

from contracts.envelope import REQUIRED_HEADERS, SPEC_VERSION, ContractViolation, Envelope, open_envelope
from contracts.events import EVENTS_BY_TYPE
from probidad.shared.database import Database
from services.reporting.projection import KINDS, fact_from
from services.reporting.store import (
    COLUMNS, active_generation, drop_generations_except, ensure_pointer, fact_row, fact_values, insert_new_facts,
    last_seq, next_generation, swap,
)
from services.reporting.tables import TABLES

Progress = Callable[[int, int | None], None]  # (records read, records to read)
KEPT_TYPES = frozenset(t.encode() for t in KINDS)


@dataclass(frozen=True)
class RebuildReport:
    generation: int
    previous_generation: int
    records: int
    facts: int
    invalid: int
    carried_over: int
    seconds: float

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


def _type_of(headers: Sequence[tuple[str, Any]] | None) -> bytes | None:
    for name, value in headers or ():
        if name == "ce_type":
            return value if isinstance(value, bytes) else str(value).encode()
    return None


_SPEC = SPEC_VERSION.encode()


def decode(headers: Sequence[tuple[str, Any]] | None, value: bytes | None) -> Envelope:
    """``open_envelope``'s verdict, reached faster for the records that are fine.

    A well-formed record is validated by the same event model straight from its JSON bytes; anything
    unusual (a missing header, a bad value) is judged by ``open_envelope`` itself, so a record the
    live consumer would dead-letter is refused here for the same reason.
    """
    try:
        h = {name: raw for name, raw in headers or ()}
        if h.get("ce_specversion") == _SPEC and all(h.get(name) for name in REQUIRED_HEADERS) and value:
            event = EVENTS_BY_TYPE[h["ce_type"].decode()].model_validate_json(value)
            raw_time = h.get("ce_time")
            identifier = h["ce_id"].decode()
            correlation = h.get("ce_correlationid") or h.get("correlation_id")
            subject = h.get("ce_subject")
            return Envelope(
                event=event, id=identifier, source=h["ce_source"].decode(),
                time=datetime.fromisoformat(raw_time.decode().replace("Z", "+00:00")),
                correlation_id=correlation.decode() if correlation else identifier,
                subject=subject.decode() if subject else event.subject,
            )
    except Exception:  # noqa: BLE001 — the authoritative judgment below says what is wrong
        pass
    return open_envelope(headers, value)


def decode_chunk(items: Sequence[tuple[Any, bytes | None]], generation: int, tuples: bool) -> tuple[list[Any], int]:
    """Records -> store rows of their facts (and how many records were invalid). Pure; runs in workers."""
    as_row = fact_values if tuples else fact_row
    rows: list[Any] = []
    invalid = 0
    for headers, value in items:
        # Types no figure depends on are skipped unread, as the live consumer ignores them.
        if _type_of(headers) not in KEPT_TYPES:
            continue
        try:
            envelope = decode(headers, value)
        except ContractViolation:
            invalid += 1  # the live consumer dead-letters these; they never become facts
            continue
        fact = fact_from(envelope)
        if fact is not None:
            rows.append(as_row(fact, generation))
    return rows, invalid


def default_workers() -> int:
    """Decoding processes beside the one reading Kafka and writing the store."""
    return max(1, (os.cpu_count() or 2) - 1)


async def rebuild_store(database: Database, batches: AsyncIterator[Sequence[Any]], *, total: int | None = None,
                        batch_size: int = 20_000, workers: int = 0, progress: Progress | None = None,
                        before_swap: Callable[[], Awaitable[None]] | None = None) -> RebuildReport:
    """Fill a new generation from ``batches`` of Kafka records, then make it the one served.

    With ``workers`` > 0, records are decoded in that many processes while this one keeps fetching
    and inserting: decoding, fetching and writing then use separate cores.
    """
    started = time.perf_counter()
    await database.create_schema(TABLES)
    await ensure_pointer(database)
    async with database.transaction() as session:
        old = await active_generation(session)
    new = await next_generation(database)
    watermark = await last_seq(database, old)
    dialect = database.engine.dialect.name
    tuples = dialect == "sqlite"
    rows: list[Any] = []
    records = facts = invalid = 0
    writing: asyncio.Task | None = None

    async def write(chunk: list[Any]) -> None:
        async with database.transaction() as session:
            if tuples:  # straight to the driver: no per-row parameter processing
                connection = await session.connection()
                await connection.exec_driver_sql(SQLITE_INSERT, chunk)
            else:
                await session.execute(insert_new_facts(dialect), chunk)

    async def flush() -> None:
        # The insert runs (in the driver, off the event loop) while the next batch is decoded.
        nonlocal rows, writing
        if writing is not None:
            await writing
            writing = None
        if rows:
            writing = asyncio.create_task(write(rows))
            rows = []

    async def take(decoded: tuple[list[Any], int]) -> None:
        nonlocal facts, invalid
        rows.extend(decoded[0])
        facts += len(decoded[0])
        invalid += decoded[1]
        if len(rows) >= batch_size:
            await flush()

    loop = asyncio.get_running_loop()
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) if workers else None
    pending: deque[asyncio.Future] = deque()
    try:
        async for batch in batches:
            records += len(batch)
            items = [(record.headers, record.value) for record in batch]
            if pool is None:
                await take(decode_chunk(items, new, tuples))
            else:
                pending.append(loop.run_in_executor(pool, decode_chunk, items, new, tuples))
                while len(pending) > 2 * workers:
                    await take(await pending.popleft())
            if progress:
                progress(records, total)
        while pending:
            await take(await pending.popleft())
        await flush()
        await flush()
    finally:
        if writing is not None and not writing.done():
            writing.cancel()
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    if before_swap is not None:
        await before_swap()
    carried = await swap(database, old, new, watermark,
                         note=f"rebuilt from offset 0: {records} records, {facts} facts")
    await drop_generations_except(database, new)
    return RebuildReport(new, old, records, facts, invalid, carried, time.perf_counter() - started)


SQLITE_INSERT = (f"INSERT INTO reporting_fact ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))}) "
                 "ON CONFLICT (generation, event_id) DO NOTHING")


class KafkaSnapshot:
    """Every record of ``topics`` from the beginning up to the end offsets found at ``open``."""

    def __init__(self, bootstrap: str, topics: Sequence[str], *, max_records: int = 20_000) -> None:
        self.bootstrap = bootstrap
        self.topics = list(topics)
        self.max_records = max_records
        self.total = 0
        self.ends: dict[TopicPartition, int] = {}
        self._consumer: AIOKafkaConsumer | None = None

    async def open(self) -> "KafkaSnapshot":
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
                                    auto_offset_reset="earliest", fetch_max_bytes=64 * 1024 * 1024,
                                    max_partition_fetch_bytes=16 * 1024 * 1024)
        await consumer.start()
        self._consumer = consumer
        known = await consumer.topics()
        await consumer._client.force_metadata_update()  # noqa: SLF001 — partitions of unsubscribed topics
        partitions = [TopicPartition(t, p) for t in self.topics if t in known
                      for p in sorted(consumer.partitions_for_topic(t) or ())]
        if partitions:
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            begins = await consumer.beginning_offsets(partitions)
            ends = await consumer.end_offsets(partitions)
            self.ends = {tp: ends[tp] for tp in partitions if ends[tp] > begins[tp]}
            self.total = sum(ends[tp] - begins[tp] for tp in partitions)
        return self

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def batches(self) -> AsyncIterator[list[Any]]:
        consumer = self._consumer
        assert consumer is not None, "open() first"
        remaining = dict(self.ends)
        for tp in list(remaining):
            if await consumer.position(tp) >= remaining[tp]:
                del remaining[tp]
        while remaining:
            fetched = await consumer.getmany(*remaining, timeout_ms=1000, max_records=self.max_records)
            for tp, records in fetched.items():
                end = remaining.get(tp)
                if end is None:
                    continue
                yield [r for r in records if r.offset < end] if records[-1].offset >= end else records
            for tp in list(remaining):
                if await consumer.position(tp) >= remaining[tp]:
                    del remaining[tp]


async def rebuild_from_kafka(database: Database, bootstrap: str, topics: Sequence[str], *,
                             batch_size: int = 20_000, workers: int | None = None, progress: Progress | None = None,
                             on_total: Callable[[int], None] | None = None) -> RebuildReport:
    source = await KafkaSnapshot(bootstrap, topics).open()
    try:
        if on_total:
            on_total(source.total)
        if workers is None:  # small topics are not worth starting processes for
            workers = default_workers() if source.total > 50_000 else 0
        return await rebuild_store(database, source.batches(), total=source.total, batch_size=batch_size,
                                   workers=workers, progress=progress)
    finally:
        await source.close()

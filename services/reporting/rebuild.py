"""Rebuild reporting from offset 0 into a fresh generation of the store, then swap it in.

The rebuild reads every platform topic up to the end offsets it finds when it starts, with a bare
aiokafka consumer (no consumer group: it never disturbs the live service's offsets), turns records
into store rows with ``rows.fast_row`` (the live path's ``open_envelope`` + ``fact_from`` verdict and
fact, reached without building models for the records that are plainly fine) and fills a new
generation while the service keeps serving the old one. The swap then copies over the facts the
live consumer added meanwhile and moves the pointer, in one transaction.

How the rows get in, fast: they are appended, in the order read, to a session-local staging table
with no index (SQLite: a TEMP table, written in the driver's thread while the next records are read
and decoded; PostgreSQL: a TEMP table filled with COPY). At the end, one ``INSERT … SELECT … ORDER BY
event_id`` moves them into ``reporting_fact``: the unique index on (generation, event_id) is then
filled in key order instead of at random (random inserts of a million ids into it cost more than
everything else together), and ``ON CONFLICT DO NOTHING`` keeps the first occurrence of a repeated
event, as the live consumer does.

On a machine with two cores or more, ``rebuild_from_kafka`` has worker processes read and decode
(``services.reporting.parallel``); ``workers=1`` keeps everything in this process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from contracts.envelope import ContractViolation
from probidad.shared.database import Database
from services.reporting.rows import fast_row
from services.reporting.store import (
    COLUMNS, active_generation, drop_generations_except, ensure_pointer, last_seq, next_generation, swap,
)
from services.reporting.tables import TABLES

Progress = Callable[[int, int | None], None]  # (records read, records to read)


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


def rows_of(records: Iterable[Any], generation: int) -> tuple[list[tuple], int]:
    """Kafka records (``.headers``, ``.value``) -> store rows of their facts, and how many were invalid.

    Types no figure depends on are skipped, as the live consumer ignores them; records the live
    consumer would dead-letter never become facts.
    """
    rows: list[tuple] = []
    keep = rows.append
    invalid = 0
    for record in records:
        try:
            row = fast_row(record.headers, record.value, generation)
        except ContractViolation:
            invalid += 1
            continue
        if row is not None:
            keep(row)
    return rows, invalid


STAGING = "reporting_fact_load"
_COLUMNS = ", ".join(COLUMNS)
_MOVE = (f"INSERT INTO reporting_fact ({_COLUMNS}) SELECT {_COLUMNS} FROM {STAGING} ORDER BY event_id, ord "
         "ON CONFLICT (generation, event_id) DO NOTHING")


class _SqliteLoader:
    """Staging in a TEMP table of the one connection the rebuild holds: no index, and no lock on the
    main database (the live consumer keeps writing) until the final move."""

    def __init__(self, connection) -> None:  # noqa: ANN001 — SQLAlchemy AsyncConnection
        self.connection = connection

    async def open(self) -> None:
        await self.connection.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{STAGING}")
        await self.connection.exec_driver_sql(
            f"CREATE TEMP TABLE {STAGING} (ord INTEGER PRIMARY KEY, generation, event_id, kind, known_at, "
            "subject, session_id, servant_id, attributes)")
        await self.connection.commit()

    async def write(self, rows: list[tuple]) -> None:
        await self.connection.exec_driver_sql(
            f"INSERT INTO {STAGING} ({_COLUMNS}) VALUES ({', '.join('?' * len(COLUMNS))})", rows)
        await self.connection.commit()

    async def move(self) -> None:
        await self.connection.exec_driver_sql("PRAGMA cache_size=-131072")  # sort in memory: 128 MiB
        await self.connection.exec_driver_sql(_MOVE)
        await self.connection.commit()


class _PostgresLoader:
    """Staging in a TEMP table (not WAL-logged) filled with COPY, on the rebuild's own connection."""

    def __init__(self, connection) -> None:  # noqa: ANN001 — SQLAlchemy AsyncConnection
        self.connection = connection
        self.driver: Any = None

    async def open(self) -> None:
        raw = await self.connection.get_raw_connection()
        self.driver = raw.driver_connection  # asyncpg
        await self.driver.execute(
            f"DROP TABLE IF EXISTS pg_temp.{STAGING}; "
            f"CREATE TEMP TABLE {STAGING} (ord bigint GENERATED ALWAYS AS IDENTITY, generation integer, "
            "event_id varchar, kind varchar, known_at bigint, subject varchar, session_id varchar, "
            "servant_id varchar, attributes text)")

    async def write(self, rows: list[tuple]) -> None:
        await self.driver.copy_records_to_table(STAGING, records=rows, columns=list(COLUMNS))

    async def move(self) -> None:
        async with self.driver.transaction():
            await self.driver.execute(_MOVE)


async def rebuild_store(database: Database, batches: AsyncIterator[Sequence[Any]], *, total: int | None = None,
                        batch_size: int = 20_000, progress: Progress | None = None,
                        before_swap: Callable[[], Awaitable[None]] | None = None) -> RebuildReport:
    """Fill a new generation from ``batches`` of Kafka records, then make it the one served.

    Reading and decoding go on in this thread while the previous chunk of rows is written (the
    database driver works in its own thread, or on the server).
    """
    started = time.perf_counter()
    old, new, watermark = await prepare(database)
    records = facts = invalid = 0
    async with database.engine.connect() as connection:
        loader = _PostgresLoader(connection) if database.is_postgres else _SqliteLoader(connection)
        await loader.open()
        rows: list[tuple] = []
        writing: asyncio.Task | None = None

        async def flush() -> None:
            nonlocal rows, writing
            if writing is not None:
                await writing
                writing = None
            if rows:
                writing = asyncio.create_task(loader.write(rows))
                rows = []

        try:
            async for batch in batches:
                records += len(batch)
                decoded, bad = rows_of(batch, new)
                rows += decoded
                facts += len(decoded)
                invalid += bad
                if len(rows) >= batch_size:
                    await flush()
                if progress:
                    progress(records, total)
            await flush()
            await flush()
            await loader.move()
        finally:
            if writing is not None and not writing.done():
                writing.cancel()
            # Closing the connection drops the staging table with it (cheaper than DROP TABLE).
            await connection.invalidate()
    return await finish(database, old, new, watermark, records, facts, invalid, started, before_swap)


async def prepare(database: Database) -> tuple[int, int, int]:
    """The generation served, the one to fill, and the last sequence number of the served one."""
    await database.create_schema(TABLES)
    await ensure_pointer(database)
    async with database.transaction() as session:
        old = await active_generation(session)
    new = await next_generation(database)
    return old, new, await last_seq(database, old)


async def finish(database: Database, old: int, new: int, watermark: int, records: int, facts: int, invalid: int,
                 started: float, before_swap: Callable[[], Awaitable[None]] | None = None) -> RebuildReport:
    """Swap the filled generation in (carrying over what the live consumer added meanwhile)."""
    if before_swap is not None:
        await before_swap()
    carried = await swap(database, old, new, watermark,
                         note=f"rebuilt from offset 0: {records} records, {facts} facts")
    await drop_generations_except(database, new)
    return RebuildReport(new, old, records, facts, invalid, carried, time.perf_counter() - started)


class KafkaSnapshot:
    """Every record of ``topics`` from the beginning up to the end offsets found at ``open``."""

    def __init__(self, bootstrap: str, topics: Sequence[str], *, max_records: int = 20_000) -> None:
        self.bootstrap = bootstrap
        self.topics = list(topics)
        self.max_records = max_records
        self.total = 0
        self.begins: dict[TopicPartition, int] = {}
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
            self.begins = {tp: begins[tp] for tp in partitions if ends[tp] > begins[tp]}
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
                             batch_size: int = 20_000, progress: Progress | None = None,
                             on_total: Callable[[int], None] | None = None,
                             workers: int | None = None) -> RebuildReport:
    """``workers``: processes reading and decoding (``parallel.rebuild_in_parallel``); 1 reads and decodes
    in this process; None picks ``parallel.default_workers()``."""
    from services.reporting.parallel import default_workers, rebuild_in_parallel

    workers = default_workers() if workers is None else workers
    source = await KafkaSnapshot(bootstrap, topics).open()
    try:
        if on_total:
            on_total(source.total)
        if workers > 1 and len(source.ends) > 1:
            await source.close()  # the workers read; the offsets found are all the parent needs
            return await rebuild_in_parallel(database, source, workers, batch_size=batch_size, progress=progress)
        return await rebuild_store(database, source.batches(), total=source.total, batch_size=batch_size,
                                   progress=progress)
    finally:
        await source.close()

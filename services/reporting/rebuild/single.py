"""The rebuild in one process: records read, decoded and written while the previous chunk is stored.

Records become store rows with ``rows.fast_row`` (the live path's ``open_envelope`` + ``fact_from``
verdict and fact, reached without building models for the records that are plainly fine). They are
appended, in the order read, to a session-local staging table with no index (SQLite: a TEMP table,
written in the driver's thread while the next records are read and decoded; PostgreSQL: a TEMP table
filled with COPY), then moved into the new generation in one ordered statement
(``repository.staging``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any

from contracts.envelope import ContractViolation
from probidad.shared.database import Database
from services.reporting.rebuild.generation import Progress, RebuildReport, finish, prepare
from services.reporting.rebuild.rows import fast_row
from services.reporting.repository import staging


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
    async with staging(database) as loader:
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
    return await finish(database, old, new, watermark, records, facts, invalid, started, before_swap)

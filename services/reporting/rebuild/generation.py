"""A rebuild's bookkeeping around the load: which generation it fills, and the swap that serves it."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from probidad.shared.database import Database
from services.reporting.repository import (
    active_generation, drop_generations_except, ensure_pointer, last_seq, next_generation, swap,
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


async def prepare(database: Database) -> tuple[int, int, int]:
    """The generation served, the one to fill, and the last sequence number of the served one."""
    await database.create_schema(TABLES)
    await ensure_pointer(database)
    old = await active_generation(database)
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

"""On SQLite, the transactions of one process take turns: all commit, and none sees another half-done."""

from __future__ import annotations

import asyncio

from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, update

from probidad.shared.database import Database

COUNTERS = Table("counter", MetaData(), Column("name", String(20), primary_key=True), Column("value", Integer))


async def test_concurrent_read_modify_write_transactions_on_sqlite_all_commit_and_lose_no_update(
        sqlite_url: str) -> None:
    database = Database(sqlite_url)
    async with database.engine.begin() as connection:
        await connection.run_sync(COUNTERS.metadata.create_all)
    async with database.transaction() as session:
        await session.execute(insert(COUNTERS).values(name="seats", value=0))

    async def take_a_seat() -> None:
        async with database.transaction() as session:
            # Read, let every other task run, then write what was read plus one. Interleaved, the
            # driver's transactions would not isolate the read: updates would be lost, or SQLite
            # would answer "database is locked".
            seen = (await session.execute(select(COUNTERS.c.value).where(COUNTERS.c.name == "seats"))).scalar_one()
            await asyncio.sleep(0.001)
            await session.execute(update(COUNTERS).where(COUNTERS.c.name == "seats").values(value=seen + 1))

    await asyncio.gather(*(take_a_seat() for _ in range(30)))
    async with database.transaction() as session:
        assert (await session.execute(select(COUNTERS.c.value))).scalar_one() == 30
    await database.dispose()

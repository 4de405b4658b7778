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


async def test_a_postgresql_deadlock_is_a_transient_fault_that_the_consumer_retries(postgres_url: str) -> None:
    from sqlalchemy import text

    from probidad.shared.consumer import is_transient

    database = Database(postgres_url)
    first_holds, second_holds = asyncio.Event(), asyncio.Event()
    failures: list[BaseException] = []

    async def lock_both(mine: int, theirs: int, holds: asyncio.Event, other_holds: asyncio.Event) -> None:
        try:
            async with database.transaction() as session:
                await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": mine})
                holds.set()
                await other_holds.wait()
                await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": theirs})
        except Exception as error:  # noqa: BLE001 — the one PostgreSQL chose to abort
            failures.append(error)

    await asyncio.wait_for(asyncio.gather(lock_both(1, 2, first_holds, second_holds),
                                          lock_both(2, 1, second_holds, first_holds)), 30)
    await database.dispose()
    assert len(failures) == 1, "PostgreSQL aborts exactly one of the two"
    assert is_transient(failures[0]), repr(failures[0])

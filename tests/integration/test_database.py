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


async def test_sqlite_statements_run_on_the_event_loops_thread_without_a_driver_thread(sqlite_url: str) -> None:
    import threading

    from sqlalchemy import event

    database = Database(sqlite_url)
    ran_on: set[int] = set()
    event.listen(database.engine.sync_engine, "before_cursor_execute",
                 lambda *_args: ran_on.add(threading.get_ident()))
    threads_before = threading.active_count()
    async with database.engine.begin() as connection:
        await connection.run_sync(COUNTERS.metadata.create_all)
    async with database.transaction() as session:
        await session.execute(insert(COUNTERS).values(name="seats", value=1))
        assert threading.active_count() == threads_before, "no worker thread per connection"
    async with database.transaction() as session:
        assert (await session.execute(select(COUNTERS.c.value))).scalar_one() == 1
    await database.dispose()
    assert ran_on == {threading.get_ident()}


async def test_sqlite_errors_reach_the_caller_as_sqlalchemy_errors_and_roll_back(sqlite_url: str) -> None:
    import pytest
    from sqlalchemy import exc

    database = Database(sqlite_url)
    async with database.engine.begin() as connection:
        await connection.run_sync(COUNTERS.metadata.create_all)
    async with database.transaction() as session:
        await session.execute(insert(COUNTERS).values(name="seats", value=1))
    with pytest.raises(exc.IntegrityError):
        async with database.transaction() as session:
            await session.execute(update(COUNTERS).values(value=2))
            await session.execute(insert(COUNTERS).values(name="seats", value=3))
    async with database.transaction() as session:
        assert (await session.execute(select(COUNTERS.c.value))).scalar_one() == 1, "the update was rolled back"
    await database.dispose()


async def test_a_sqlite_write_waits_for_another_processs_lock_without_stopping_the_event_loop(sqlite_url: str) -> None:
    import sqlite3
    import time

    database = Database(sqlite_url)
    async with database.engine.begin() as connection:
        await connection.run_sync(COUNTERS.metadata.create_all)
    other = sqlite3.connect(sqlite_url.split(":///", 1)[1], isolation_level=None)  # as a rebuild's process would
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO counter VALUES ('rebuild', 1)")
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async def release_later() -> None:
        await asyncio.sleep(0.5)
        other.execute("COMMIT")

    ticker, releaser = asyncio.create_task(tick()), asyncio.create_task(release_later())
    started = time.monotonic()
    async with database.transaction() as session:
        await session.execute(insert(COUNTERS).values(name="seats", value=1))
    waited = time.monotonic() - started
    ticker.cancel()
    await releaser
    other.close()
    async with database.transaction() as session:
        assert dict((await session.execute(select(COUNTERS.c.name, COUNTERS.c.value))).all()) == {
            "rebuild": 1, "seats": 1}
    await database.dispose()
    assert waited >= 0.45, "the write waited for the lock instead of failing"
    assert ticks >= 20, f"the event loop ran while the write waited ({ticks} ticks in {waited:.2f} s)"

"""Async database access: a SQLite file by default, PostgreSQL by URL.

Every service owns its database, brought to its schema by its migrations (``probidad.shared.migrations``);
``Database.create_schema`` creates only the tables it is given (plus the shared outbox and processed-event
tables) for what has no migrations: test services, benchmarks.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Generator, Iterable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import aiosqlite
from sqlalchemy import Table, event
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_connection, AsyncAdapt_aiosqlite_dbapi
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.util.concurrency import await_
from sqlmodel.ext.asyncio.session import AsyncSession


_SQLITE_BUSY = 5  # another connection holds the lock (the primary result code, not BUSY_SNAPSHOT)
_BUSY_TIMEOUT_MS = 30_000


class _RunHere:
    """Stands in for aiosqlite's queue to its worker thread: runs each call at once, in the caller.

    The connection waits for no lock here (busy timeout 0). A call that finds another process
    holding the file's write lock is run again on a worker thread that waits up to 30 s for it, so the
    event loop — heartbeats, health checks, other requests — keeps running meanwhile.
    """

    def __init__(self, connection: _SameThreadConnection) -> None:
        self.connection = connection

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except sqlite3.OperationalError as error:
            if future is None or error.sqlite_errorcode != _SQLITE_BUSY:
                _settle(future, error=error)
                return
            waiting = asyncio.get_running_loop().run_in_executor(None, self._wait_for_the_lock, function)
            waiting.add_done_callback(lambda done: _settle(future, outcome=done))
        except BaseException as error:  # noqa: BLE001 — handed to the awaiting caller, as aiosqlite does
            _settle(future, error=error)
        else:
            _settle(future, result=result)

    def _wait_for_the_lock(self, function: Callable[[], Any]) -> Any:
        raw = self.connection._connection
        raw.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        try:
            return function()
        finally:
            raw.execute("PRAGMA busy_timeout = 0")


def _settle(future: asyncio.Future[Any] | None, *, result: Any = None, error: BaseException | None = None,
            outcome: asyncio.Future[Any] | None = None) -> None:
    if future is None or future.done():
        return
    if outcome is not None:
        error = outcome.exception()
        result = None if error is not None else outcome.result()
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class _SameThreadConnection(aiosqlite.Connection):
    """aiosqlite's connection, with its statements run on the event loop's thread instead of its own.

    A process's SQLite transactions already take turns (see ``Database``), and a statement takes
    microseconds to a few milliseconds, so the worker thread bought no concurrency. What it cost was
    a thread hand-off and a loop wake-up per statement: enrolling over HTTP on SQLite went from 0.45
    to 0.9 of a bare one-insert endpoint (``bench/enrollment_throughput.py``). Only a statement that
    must wait for another process's lock (a reporting rebuild writing its new generation) leaves
    the loop's thread (see ``_RunHere``).
    """

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _RunHere(self)

    def __await__(self) -> Generator[Any, None, aiosqlite.Connection]:  # connects without aiosqlite's thread
        return self._connect().__await__()


class _SameThreadDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, database: str, **kwargs: Any) -> AsyncAdapt_aiosqlite_connection:
        return AsyncAdapt_aiosqlite_connection(self, await_(_SameThreadConnection(
            partial(sqlite3.connect, database, **kwargs))))


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # No busy wait on the loop's thread (see _RunHere); check_same_thread off for its worker thread.
        engine = create_async_engine(url, module=_SameThreadDBAPI(aiosqlite, sqlite3),
                                     connect_args={"timeout": 0, "check_same_thread": False})

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        # SQLite has one writer at a time. Left to itself, a second transaction of this process (the
        # outbox relay beside a consumer, an HTTP request beside both) waits in SQLite's busy handler,
        # which sleeps and polls — up to 100 ms a try — and loses the race to the transaction that
        # just committed. Taking turns on an asyncio lock instead hands over at once, in arrival order.
        self._turns = asyncio.Lock() if self.engine.dialect.name == "sqlite" else None

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    async def create_schema(self, tables: Iterable[Table]) -> None:
        from probidad.shared.tables import SHARED_TABLES

        every = [*SHARED_TABLES, *tables]
        async with self.engine.begin() as connection:
            await connection.run_sync(lambda sync: SHARED_TABLES[0].metadata.create_all(sync, tables=every))

    async def drop_schema(self, tables: Iterable[Table]) -> None:
        from probidad.shared.tables import SHARED_TABLES

        async with self.engine.begin() as connection:
            await connection.run_sync(
                lambda sync: SHARED_TABLES[0].metadata.drop_all(sync, tables=[*SHARED_TABLES, *tables])
            )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One transaction (a ``UnitOfWork`` runs in one): commits on success, rolls back on any exception.

        On SQLite the transactions of this process take turns (see ``__init__``); never open a second
        one on the same database while holding one.
        """
        if self._turns is None:
            async with self.sessions() as session, session.begin():
                yield session
            return
        async with self._turns, self.sessions() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


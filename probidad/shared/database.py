"""Async database access: a SQLite file by default, PostgreSQL by URL.

Every service owns its database; ``Database.create_schema`` creates only the tables it is given
(its own plus the shared outbox and processed-event tables), never another service's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import Table, event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001
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

        async with self.engine.begin() as connection:
            await connection.run_sync(
                lambda sync: SHARED_TABLES[0].metadata.create_all(sync, tables=[*SHARED_TABLES, *tables])
            )

    async def drop_schema(self, tables: Iterable[Table]) -> None:
        from probidad.shared.tables import SHARED_TABLES

        async with self.engine.begin() as connection:
            await connection.run_sync(
                lambda sync: SHARED_TABLES[0].metadata.drop_all(sync, tables=[*SHARED_TABLES, *tables])
            )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits on success, rolls back on any exception.

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

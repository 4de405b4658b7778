"""Async database access: a SQLite file by default, PostgreSQL by URL.

Every service owns its database; ``Database.create_schema`` creates only the tables it is given
(its own plus the shared outbox and processed-event tables), never another service's.
"""

from __future__ import annotations

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
        """One unit of work: commits on success, rolls back on any exception."""
        async with self.sessions() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()

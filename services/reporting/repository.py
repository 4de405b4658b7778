"""Reading and writing reporting's facts, the pointer to the generation served, and the atomic switch
between generations. The only module of the service with SQL.

The live consumer adds each fact to the active generation, inside the consumer's unit of work, after
taking a shared lock on the pointer row; a rebuild's swap takes the exclusive lock. So a fact is
either written before the swap (and copied into the new generation by it) or after it (into the new
generation directly) — never lost in between. SQLite serialises writers anyway.

The pointer row is made on first use — by the first fact written, the first read, or a rebuild —
so the service needs no start-up step of its own after the schema is created.

A rebuild loads its rows outside any unit of work, on a connection of its own: ``staging`` (one
process) and ``StagingFile`` + ``move_staged_files`` (worker processes) hold that SQL.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Row as SqlRow
from sqlalchemy import Table, and_, delete, exists, func, insert, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased
from sqlalchemy.sql.dml import Insert
from sqlmodel.ext.asyncio.session import AsyncSession

from probidad.shared.database import Database
from probidad.shared.unit_of_work import UnitOfWork
from services.reporting.bulletin import Publication, canonical_json
from services.reporting.domain.facts import Fact
from services.reporting.domain.ledger import Ledger
from services.reporting.tables import ReportingFact, ReportingPublication, ReportingStore

FACTS = ReportingFact.__table__
POINTER = ReportingStore.__table__
PUBLICATIONS = ReportingPublication.__table__
COLUMNS = ("generation", "event_id", "kind", "known_at", "subject", "session_id", "servant_id", "attributes")


def fact_row(fact: Fact, generation: int) -> dict[str, Any]:
    return {"generation": generation, "event_id": fact.event_id, "kind": fact.kind, "known_at": fact.known_at,
            "subject": fact.subject, "session_id": fact.session_id, "servant_id": fact.servant_id,
            "attributes": orjson.dumps(fact.attributes).decode()}


def fact_values(fact: Fact, generation: int) -> tuple:
    """``fact_row`` as a tuple in ``COLUMNS`` order, for driver-level bulk inserts."""
    return (generation, fact.event_id, fact.kind, fact.known_at, fact.subject, fact.session_id, fact.servant_id,
            orjson.dumps(fact.attributes).decode())


def row_fact(row: SqlRow[Any]) -> Fact:
    return Fact(row.event_id, row.kind, row.known_at, row.subject, row.session_id, row.servant_id,
                orjson.loads(row.attributes))


# What a refresh reads, in the order ``apply_rows`` unpacks it.
LOADED = (FACTS.c.seq, FACTS.c.event_id, FACTS.c.kind, FACTS.c.known_at, FACTS.c.subject, FACTS.c.session_id,
          FACTS.c.servant_id, FACTS.c.attributes)


def apply_rows(ledger: Ledger, rows: Iterable[Any], after: int) -> int:
    """Apply rows selected as ``LOADED``, in sequence order; the last sequence number (``after`` if none).

    Rows are unpacked by position: reading a SQLAlchemy row's columns by name costs about as much as
    building the fact, and a refresh does it for every fact the consumer wrote.
    """
    apply, loads = ledger.apply, orjson.loads
    for after, event_id, kind, known_at, subject, session_id, servant_id, attributes in rows:
        apply(Fact(event_id, kind, known_at, subject, session_id, servant_id, loads(attributes)))
    return after


def _insert_ignoring(table: Table, dialect: str, index_elements: Sequence[str]) -> Insert:
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table).on_conflict_do_nothing(index_elements=list(index_elements))


def insert_new_facts(dialect: str) -> Insert:
    """INSERT that skips a fact already in the generation (redeliveries, rebuild/live overlap)."""
    return _insert_ignoring(FACTS, dialect, ["generation", "event_id"])


# ------------------------------------------------------------------ statements on one transaction


async def _ensure_pointer(session: AsyncSession) -> None:
    if (await session.execute(select(POINTER.c.id))).first() is None:
        dialect = session.get_bind().dialect.name
        await session.execute(_insert_ignoring(POINTER, dialect, ["id"]).values(
            id=1, generation=1, swapped_at=datetime.now(UTC), note="initial"))


async def _served_generation(session: AsyncSession, *, share_lock: bool = False) -> int | None:
    query = select(POINTER.c.generation).where(POINTER.c.id == 1)
    if share_lock:
        query = query.with_for_update(read=True)  # FOR SHARE on PostgreSQL; SQLite locks the file
    return (await session.execute(query)).scalar_one_or_none()


async def _active_generation(session: AsyncSession) -> int:
    found = await _served_generation(session)
    return 1 if found is None else found


async def _pointer(session: AsyncSession) -> dict[str, Any]:
    row = (await session.execute(select(POINTER))).first()
    facts = (await session.execute(
        select(func.count()).select_from(FACTS).where(FACTS.c.generation == (row.generation if row else 1))
    )).scalar_one()
    return {"generation": row.generation if row else 1, "swapped_at": row.swapped_at.isoformat() if row else None,
            "note": row.note if row else None, "facts": facts}


class SqlReportingRepository:
    """Reporting's facts in one unit of work: the live consumer's writes, and the reads of a refresh.

    A consumer batch shares one repository (``of``): the pointer is read, and share-locked, once per
    unit of work, and the batch's facts are written together in one statement just before the commit.
    """

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.session = uow.session
        self._generation: int | None = None
        self._rows: list[dict[str, Any]] = []

    @classmethod
    def of(cls, uow: UnitOfWork) -> SqlReportingRepository:
        """The unit of work's repository (one per consumer batch)."""
        return uow.part(cls, lambda: cls(uow))

    @property
    def is_postgres(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    async def add_fact(self, fact: Fact) -> None:
        """Record a fact in the active generation, written when the unit of work completes."""
        if self._generation is None:
            generation = await _served_generation(self.session, share_lock=True)
            if generation is None:  # a fresh store: make the row, then hold it as any writer does
                await _ensure_pointer(self.session)
                generation = await _served_generation(self.session, share_lock=True)
            self._generation = generation
        if not self._rows:
            self.uow.before_commit(self, self._write_facts)
        self._rows.append(fact_row(fact, self._generation))

    async def _write_facts(self) -> None:
        rows, self._rows = self._rows, []
        if rows:
            await self.session.execute(insert_new_facts(self.session.get_bind().dialect.name), rows)

    async def ensure_pointer(self) -> None:
        await _ensure_pointer(self.session)

    async def active_generation(self) -> int:
        return await _active_generation(self.session)

    async def count_facts(self, generation: int) -> int:
        return (await self.session.execute(
            select(func.count()).select_from(FACTS).where(FACTS.c.generation == generation))).scalar_one()

    async def load_facts(self, ledger: Ledger, generation: int, after: int) -> int:
        """Apply to ``ledger`` the facts of ``generation`` after sequence number ``after``; the last one."""
        result = await self.session.stream(
            select(*LOADED).where(FACTS.c.generation == generation, FACTS.c.seq > after).order_by(FACTS.c.seq)
        )
        async for partition in result.partitions(5000):
            after = apply_rows(ledger, partition, after)
        return after

    async def fact_rows(self, generation: int, after: int, upto: int | None = None,
                        batch: int = 20_000) -> AsyncIterator[list[tuple]]:
        """The store rows (``LOADED``: seq, event_id, …, attributes as JSON text) of ``generation`` after
        sequence number ``after`` (up to ``upto``), in sequence order, ``batch`` at a time."""
        query = select(*LOADED).where(FACTS.c.generation == generation, FACTS.c.seq > after)
        if upto is not None:
            query = query.where(FACTS.c.seq <= upto)
        result = await self.session.stream(query.order_by(FACTS.c.seq))
        async for partition in result.partitions(batch):
            yield [tuple(row) for row in partition]

    async def count_range(self, generation: int, after: int, upto: int) -> int:
        """How many facts of ``generation`` have a sequence number in (after, upto]."""
        return (await self.session.execute(select(func.count()).select_from(FACTS).where(
            FACTS.c.generation == generation, FACTS.c.seq > after, FACTS.c.seq <= upto))).scalar_one()

    async def pointer(self) -> dict[str, Any]:
        return await _pointer(self.session)

    # -- publications (the reports the comptroller published)

    async def add_publication(self, publication: Publication) -> None:
        await self.session.execute(insert(PUBLICATIONS).values(
            report_id=publication.report_id, kind=publication.kind, month=publication.month,
            as_of=publication.as_of.astimezone(UTC).isoformat(), figures=canonical_json(publication.figures),
            figures_digest=publication.figures_digest, published_by=publication.published_by,
            published_at=datetime.now(UTC)))

    async def publication(self, report_id: str) -> Publication | None:
        row = (await self.session.execute(select(PUBLICATIONS).where(PUBLICATIONS.c.report_id == report_id))).first()
        return _publication(row) if row is not None else None

    async def publications(self, kind: str, month: str | None = None) -> list[Publication]:
        """Newest first."""
        query = select(PUBLICATIONS).where(PUBLICATIONS.c.kind == kind)
        if month is not None:
            query = query.where(PUBLICATIONS.c.month == month)
        rows = await self.session.execute(query.order_by(PUBLICATIONS.c.published_at.desc(),
                                                         PUBLICATIONS.c.report_id.desc()))
        return [_publication(row) for row in rows]


def _publication(row: SqlRow[Any]) -> Publication:
    return Publication(report_id=row.report_id, month=row.month, as_of=datetime.fromisoformat(row.as_of),
                       figures=orjson.loads(row.figures), figures_digest=row.figures_digest,
                       published_by=row.published_by, kind=row.kind)


# ------------------------------------------------------------------ generations (operator commands, rebuild)


async def ensure_pointer(database: Database) -> None:
    async with database.transaction() as session:
        await _ensure_pointer(session)


async def active_generation(database: Database) -> int:
    async with database.transaction() as session:
        return await _active_generation(session)


async def pointer(database: Database) -> dict[str, Any]:
    async with database.transaction() as session:
        return await _pointer(session)


async def swap(database: Database, old: int, new: int, watermark: int, note: str) -> int:
    """Make ``new`` the active generation, carrying over facts the live consumer added meanwhile.

    ``watermark`` is the last sequence number of ``old`` when the rebuild began: anything after it
    was applied live while the rebuild ran and may be past the offsets the rebuild read.
    """
    async with database.transaction() as session:
        lock = select(POINTER.c.generation).where(POINTER.c.id == 1).with_for_update()
        current = (await session.execute(lock)).scalar_one()
        if current != old:
            raise RuntimeError(f"another rebuild swapped in generation {current} meanwhile")
        newer = aliased(FACTS)
        recent = select(*[(FACTS.c[c] if c != "generation" else literal(new).label("generation"))
                          for c in COLUMNS]).where(
            FACTS.c.generation == old, FACTS.c.seq > watermark,
            ~exists().where(and_(newer.c.generation == new, newer.c.event_id == FACTS.c.event_id)),
        )
        copied = await session.execute(insert(FACTS).from_select(list(COLUMNS), recent))
        await session.execute(update(POINTER).where(POINTER.c.id == 1).values(
            generation=new, swapped_at=datetime.now(UTC), note=note[:500]))
        return copied.rowcount or 0


async def drop_generations_except(database: Database, keep: int) -> int:
    async with database.transaction() as session:
        result = await session.execute(delete(FACTS).where(FACTS.c.generation != keep))
        return result.rowcount or 0


async def last_seq(database: Database, generation: int) -> int:
    async with database.transaction() as session:
        return (await session.execute(
            select(func.coalesce(func.max(FACTS.c.seq), 0)).where(FACTS.c.generation == generation))).scalar_one()


async def next_generation(database: Database) -> int:
    async with database.transaction() as session:
        highest = (await session.execute(select(func.coalesce(func.max(FACTS.c.generation), 0)))).scalar_one()
        current = await _active_generation(session)
    return max(highest, current) + 1


# ------------------------------------------------------------------ a rebuild's bulk load
#
# Rows are appended, in the order read, to a staging table with no index; one ``INSERT … SELECT …
# ORDER BY event_id, ord`` then moves them into ``reporting_fact``: the unique index on (generation,
# event_id) is filled in key order instead of at random, and ``ON CONFLICT DO NOTHING`` keeps the
# first occurrence of a repeated event, as the live consumer does.

STAGING = "reporting_fact_load"
_COLUMNS = ", ".join(COLUMNS)
_MOVE = (f"INSERT INTO reporting_fact ({_COLUMNS}) SELECT {_COLUMNS} FROM {STAGING} ORDER BY event_id, ord "
         "ON CONFLICT (generation, event_id) DO NOTHING")


class _SqliteStaging:
    """Staging in a TEMP table of the one connection the rebuild holds: no index, and no lock on the
    main database (the live consumer keeps writing) until the final move."""

    def __init__(self, connection: AsyncConnection) -> None:
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


class _PostgresStaging:
    """Staging in a TEMP table (not WAL-logged) filled with COPY, on the rebuild's own connection."""

    def __init__(self, connection: AsyncConnection) -> None:
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


Staging = _SqliteStaging | _PostgresStaging


@asynccontextmanager
async def staging(database: Database) -> AsyncIterator[Staging]:
    """A staging table on a connection of its own: ``write`` rows (``fact_values`` order), then ``move``."""
    async with database.engine.connect() as connection:
        loader = _PostgresStaging(connection) if database.is_postgres else _SqliteStaging(connection)
        await loader.open()
        try:
            yield loader
        finally:
            # Closing the connection drops the staging table with it (cheaper than DROP TABLE).
            await connection.invalidate()


# A worker process's staging: a SQLite file of its own (no journal, no index), rows prefixed by ``ord``.
_LOAD = "staging"
STAGING_COLUMNS = ("ord", *COLUMNS)


class StagingFile:
    """The rows one rebuild worker decoded, appended to its own SQLite file in one transaction."""

    def __init__(self, path: str) -> None:
        self.store = sqlite3.connect(path, isolation_level=None)
        self.store.execute("PRAGMA journal_mode=OFF")
        self.store.execute("PRAGMA synchronous=OFF")
        self.store.execute(f"CREATE TABLE {_LOAD} ({', '.join(STAGING_COLUMNS)})")
        self.store.execute("BEGIN")
        self._insert = f"INSERT INTO {_LOAD} VALUES ({', '.join('?' * len(STAGING_COLUMNS))})"

    def append(self, rows: list[tuple]) -> None:
        self.store.executemany(self._insert, rows)

    def commit(self) -> None:
        self.store.execute("COMMIT")

    def close(self) -> None:
        self.store.close()


async def move_staged_files(database: Database, paths: list[str], batch_size: int) -> None:
    """Move the workers' staging files into ``reporting_fact`` in one ordered INSERT (SQLite: straight
    from the attached files; PostgreSQL: through a TEMP table filled with COPY)."""
    if database.is_postgres:
        await _move_postgres(database, paths, batch_size)
    else:
        await _move_sqlite(database, paths)


async def _move_sqlite(database: Database, paths: list[str]) -> None:
    async with database.engine.connect() as connection:
        try:
            sources = []
            for i, path in enumerate(paths):
                await connection.exec_driver_sql(f"ATTACH DATABASE ? AS load{i}", (path,))
                sources.append(f"SELECT {', '.join(STAGING_COLUMNS)} FROM load{i}.{_LOAD}")
            await connection.exec_driver_sql("PRAGMA cache_size=-131072")  # sort in memory: 128 MiB
            await connection.exec_driver_sql(
                f"INSERT INTO reporting_fact ({_COLUMNS}) SELECT {_COLUMNS} FROM ({' UNION ALL '.join(sources)}) "
                "ORDER BY event_id, ord ON CONFLICT (generation, event_id) DO NOTHING")
            await connection.commit()
        finally:
            await connection.invalidate()  # detaches the staging files (and drops nothing else)


async def _move_postgres(database: Database, paths: list[str], batch_size: int) -> None:
    async with database.engine.connect() as connection:
        try:
            driver = (await connection.get_raw_connection()).driver_connection  # asyncpg
            await driver.execute(
                f"DROP TABLE IF EXISTS pg_temp.{STAGING}; "
                f"CREATE TEMP TABLE {STAGING} (ord bigint, generation integer, event_id varchar, kind varchar, "
                "known_at bigint, subject varchar, session_id varchar, servant_id varchar, attributes text)")
            for path in paths:
                source = sqlite3.connect(path, check_same_thread=False)
                try:
                    cursor = source.execute(f"SELECT {', '.join(STAGING_COLUMNS)} FROM {_LOAD}")
                    while rows := await asyncio.to_thread(cursor.fetchmany, batch_size):
                        await driver.copy_records_to_table(STAGING, records=rows, columns=list(STAGING_COLUMNS))
                finally:
                    source.close()
            async with driver.transaction():
                await driver.execute(_MOVE)
        finally:
            await connection.invalidate()  # drops the staging table with the session

"""Reading and writing reporting's facts, and the atomic switch between generations.

The live consumer adds each fact to the active generation, inside the consumer's transaction, after
taking a shared lock on the pointer row; a rebuild's swap takes the exclusive lock. So a fact is
either written before the swap (and copied into the new generation by it) or after it (into the new
generation directly) — never lost in between. SQLite serialises writers anyway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import and_, event, exists, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from probidad.shared.database import Database
from services.reporting.projection import Fact, Ledger, Snapshot
from services.reporting.tables import ReportingFact, ReportingStore

FACTS = ReportingFact.__table__
POINTER = ReportingStore.__table__
COLUMNS = ("generation", "event_id", "kind", "known_at", "subject", "session_id", "servant_id", "attributes")


def fact_row(fact: Fact, generation: int) -> dict[str, Any]:
    return {"generation": generation, "event_id": fact.event_id, "kind": fact.kind, "known_at": fact.known_at,
            "subject": fact.subject, "session_id": fact.session_id, "servant_id": fact.servant_id,
            "attributes": orjson.dumps(fact.attributes).decode()}


def fact_values(fact: Fact, generation: int) -> tuple:
    """``fact_row`` as a tuple in ``COLUMNS`` order, for driver-level bulk inserts."""
    return (generation, fact.event_id, fact.kind, fact.known_at, fact.subject, fact.session_id, fact.servant_id,
            orjson.dumps(fact.attributes).decode())


def row_fact(row: Any) -> Fact:
    return Fact(row.event_id, row.kind, row.known_at, row.subject, row.session_id, row.servant_id,
                orjson.loads(row.attributes))


# What ``ProjectionReader`` reads, in the order ``apply_rows`` unpacks it.
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


def insert_new_facts(dialect: str):  # noqa: ANN201
    """INSERT that skips a fact already in the generation (redeliveries, rebuild/live overlap)."""
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(FACTS).on_conflict_do_nothing(index_elements=["generation", "event_id"])


async def ensure_pointer(database: Database) -> None:
    async with database.transaction() as session:
        if (await session.execute(select(POINTER.c.id))).first() is None:
            await session.execute(insert(POINTER).values(id=1, generation=1, swapped_at=datetime.now(UTC),
                                                         note="initial"))


async def active_generation(session, *, share_lock: bool = False) -> int:  # noqa: ANN001
    query = select(POINTER.c.generation).where(POINTER.c.id == 1)
    if share_lock:
        query = query.with_for_update(read=True)  # FOR SHARE on PostgreSQL; SQLite locks the file
    found = (await session.execute(query)).scalar_one_or_none()
    return 1 if found is None else found


_PENDING = "reporting_pending_facts"


async def add_fact(session, fact: Fact) -> None:  # noqa: ANN001
    """Record a fact in the active generation (the caller's transaction commits it).

    The consumer applies a whole poll in one transaction: the pointer is read (and share-locked)
    once per transaction, and the facts are written together, in one statement, just before the
    commit (``_write_pending_facts``).
    """
    pending = session.info.get(_PENDING)
    if pending is None:
        generation = await active_generation(session, share_lock=True)
        pending = session.info[_PENDING] = {"generation": generation, "rows": []}
    pending["rows"].append(fact_row(fact, pending["generation"]))


@event.listens_for(Session, "before_commit")
def _write_pending_facts(session: Session) -> None:
    # Runs inside the async session's greenlet, so the synchronous execute is allowed here.
    pending = session.info.pop(_PENDING, None)
    if pending and pending["rows"]:
        session.execute(insert_new_facts(session.bind.dialect.name), pending["rows"])


@event.listens_for(Session, "after_rollback")
def _drop_pending_facts(session: Session) -> None:
    session.info.pop(_PENDING, None)


async def pointer(database: Database) -> dict[str, Any]:
    async with database.transaction() as session:
        row = (await session.execute(select(POINTER))).first()
        facts = (await session.execute(
            select(func.count()).select_from(FACTS).where(FACTS.c.generation == (row.generation if row else 1))
        )).scalar_one()
    return {"generation": row.generation if row else 1, "swapped_at": row.swapped_at.isoformat() if row else None,
            "note": row.note if row else None, "facts": facts}


class ProjectionReader:
    """The service's in-memory ledger, caught up with the store before each read.

    Loads only facts added since the last read; reloads everything when the pointer moved (a rebuild
    was swapped in) or when a row committed out of sequence order (several writers on PostgreSQL).
    """

    def __init__(self, database: Database, zone: ZoneInfo) -> None:
        self.database = database
        self.zone = zone
        self.ledger = Ledger()
        self.generation: int | None = None
        self.last_seq = 0
        self._lock = asyncio.Lock()
        self._snapshot: tuple[tuple[int | None, int], Snapshot] | None = None

    async def refresh(self) -> Ledger:
        async with self._lock:
            while True:
                async with self.database.transaction() as session:
                    generation = await active_generation(session)
                    if generation != self.generation:
                        ledger, last = Ledger(), 0
                    else:
                        ledger, last = self.ledger, self.last_seq
                    last = await self._load(session, ledger, generation, last)
                    if self.database.is_postgres and await self._missed_any(session, ledger, generation):
                        ledger = Ledger()
                        last = await self._load(session, ledger, generation, 0)
                    moved = await active_generation(session) != generation
                if not moved:
                    self.ledger, self.generation, self.last_seq = ledger, generation, last
                    return ledger

    @staticmethod
    async def _missed_any(session, ledger: Ledger, generation: int) -> bool:  # noqa: ANN001
        # Several PostgreSQL writers may commit a lower sequence number after a higher one was read.
        # SQLite has one writer at a time, so its sequence numbers appear in commit order.
        count = (await session.execute(
            select(func.count()).select_from(FACTS).where(FACTS.c.generation == generation))).scalar_one()
        return count != len(ledger)

    @staticmethod
    async def _load(session, ledger: Ledger, generation: int, after: int) -> int:  # noqa: ANN001
        result = await session.stream(
            select(*LOADED).where(FACTS.c.generation == generation, FACTS.c.seq > after).order_by(FACTS.c.seq)
        )
        async for partition in result.partitions(5000):
            after = apply_rows(ledger, partition, after)
        return after

    async def snapshot(self, as_of: datetime | None = None) -> Snapshot:
        ledger = await self.refresh()
        if as_of is not None:
            return ledger.snapshot(self.zone, as_of)
        key = (self.generation, ledger.revision)
        if self._snapshot is None or self._snapshot[0] != key:
            # The last snapshot lets the new one reuse whatever the facts since could not change.
            previous = self._snapshot[1] if self._snapshot is not None else None
            self._snapshot = (key, ledger.snapshot(self.zone, previous=previous))
        return self._snapshot[1]


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
        recent = select(*[(FACTS.c[c] if c != "generation" else _literal(new)) for c in COLUMNS]).where(
            FACTS.c.generation == old, FACTS.c.seq > watermark,
            ~exists().where(and_(newer.c.generation == new, newer.c.event_id == FACTS.c.event_id)),
        )
        copied = await session.execute(insert(FACTS).from_select(list(COLUMNS), recent))
        await session.execute(update(POINTER).where(POINTER.c.id == 1).values(
            generation=new, swapped_at=datetime.now(UTC), note=note[:500]))
        return copied.rowcount or 0


def _literal(value: int):  # noqa: ANN202
    from sqlalchemy import literal

    return literal(value).label("generation")


async def drop_generations_except(database: Database, keep: int) -> int:
    from sqlalchemy import delete

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
        current = await active_generation(session)
    return max(highest, current) + 1

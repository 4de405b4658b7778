"""Reporting's columnar reader against the real store (SQLite and PostgreSQL): each reporting instance keeps
its own DuckDB copy of the facts, appended from the store by sequence number, and every instance, restart,
rebuild and engine gives the figures the store's facts give.

The readers here are ``ProjectionReader`` over the service's own unit of work, as the app wires them, each
with a file of its own; the facts go into the store the way the live consumer writes them
(``SqlReportingRepository.add_fact``), or — for what only a race between writers or a rebuild leaves behind —
as rows with the sequence number or generation such a writer would give them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, text

from probidad.shared.database import Database
from probidad.shared.outbox import Outbox
from probidad.shared.unit_of_work import UnitOfWork, unit_of_work
from services.reporting import views
from services.reporting.app import create_app
from services.reporting.columnar.copy_repository import ColumnarLedger
from services.reporting.domain.facts import DIMENSIONS, Fact
from services.reporting.domain.resolved import Period
from services.reporting.handlers import ReportingContext
from services.reporting.repository import (
    FACTS, SqlReportingRepository, fact_row, insert_new_facts, last_seq, pointer, swap,
)
from services.reporting.settings import ReportingSettings
from services.reporting.tables import TABLES
from services.reporting.views import ProjectionReader
from tests.support.harness import serving
from tests.support.reporting_programmes import ZONE, generated_facts

CTX = ReportingContext(zone=ZONE, responsible_unit="Unidad de Ética, Integridad y Prevención de Conflictos de Interés",
                       open_data_minimum_count=3)
YEAR = 2026
PAST = datetime(2026, 10, 1, 12, 0, tzinfo=ZONE)  # a cut-off inside the programme's year: an as-of answer
FACTS_OF_THE_YEAR = generated_facts(0.05)  # about 900 facts: sessions, attendance, certificates, revocations
ANOTHER_PROGRAMME = generated_facts(0.05, seed=7)  # what a rebuild from other topics would hold


@dataclass
class Store:
    """The reporting service's database and the unit of work its consumer and readers use."""

    database: Database

    def unit_of_work(self) -> AbstractAsyncContextManager[UnitOfWork]:
        return unit_of_work(self.database, Outbox())

    def reader(self, path: Path | None, engine: str = "columnar") -> ProjectionReader:
        return ProjectionReader(self.unit_of_work, CTX, repository=SqlReportingRepository, engine=engine,
                                path=str(path) if path else None, memory_mb=128)

    async def add(self, facts: Iterable[Fact]) -> None:
        """Record facts as the live consumer does: in the active generation, idempotent by event id."""
        async with self.unit_of_work() as uow:
            repository = SqlReportingRepository.of(uow)
            for fact in facts:
                await repository.add_fact(fact)

    async def count(self) -> int:
        return (await pointer(self.database))["facts"]


async def opened_store(url: str) -> AsyncIterator[Store]:
    database = Database(url)
    await database.create_schema(TABLES)
    try:
        yield Store(database)
    finally:
        await database.dispose()


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    async for found in opened_store(database_url):
        yield found


@pytest.fixture
async def postgres_store(postgres_url: str) -> AsyncIterator[Store]:
    async for found in opened_store(postgres_url):
        yield found


@pytest.fixture
def readers() -> Iterable[Callable[[ProjectionReader], ProjectionReader]]:
    """Closes every reader a test opened (its DuckDB file stays where the test put it)."""
    opened: list[ProjectionReader] = []

    def keep(reader: ProjectionReader) -> ProjectionReader:
        opened.append(reader)
        return reader

    yield keep
    for reader in opened:
        reader.close()


async def answers(reader: ProjectionReader) -> dict[str, Any]:
    """What the service answers over HTTP, for the programme's year and a month of it: figures by every
    dimension, the year by institution as of a past cut-off, coverage and the public dashboard."""
    out: dict[str, Any] = {}
    for by in (None, *DIMENSIONS):
        out[f"{YEAR} by {by}"] = (await views.figures(reader, CTX, Period.year(YEAR), by, None))["rows"]
    for by in (None, "institution"):
        out[f"November by {by}"] = (await views.figures(reader, CTX, Period.month(YEAR, 11), by, None))["rows"]
    out["as of the past, by institution"] = (
        await views.figures(reader, CTX, Period.year(YEAR), "institution", PAST))["rows"]
    out["coverage"] = (await views.coverage(reader, CTX, YEAR, None, None))["rows"]
    out["dashboard"] = await views.dashboard(reader, CTX, YEAR, None)
    return out


def year_total(found: dict[str, Any]) -> dict[str, Any]:
    [row] = found[f"{YEAR} by None"]
    return row


class AppendSpy:
    """Counts the store rows a columnar copy is handed (``append_rows``), whether or not it keeps them."""

    def __init__(self, columnar: ColumnarLedger, monkeypatch: pytest.MonkeyPatch) -> None:
        self.rows = 0
        original = columnar.append_rows

        def counted(rows: Any, *args: Any, **kwargs: Any) -> int:
            self.rows += len(rows)
            return original(rows, *args, **kwargs)

        monkeypatch.setattr(columnar, "append_rows", counted)


# ---------------------------------------------------------------- several instances, restarts


async def test_two_reporting_instances_over_one_store_give_the_same_answers_as_facts_arrive(store, readers,
                                                                                               tmp_path):
    first = readers(store.reader(tmp_path / "instance-a.duckdb"))
    second = readers(store.reader(tmp_path / "instance-b.duckdb"))
    half = len(FACTS_OF_THE_YEAR) // 2
    await store.add(FACTS_OF_THE_YEAR[:half])
    early = await answers(first)
    assert await answers(second) == early
    await store.add(FACTS_OF_THE_YEAR[half:])
    later = await answers(second)
    assert await answers(first) == later
    # the second half changed what is answered: both instances read the new facts, not their first copy
    assert year_total(later)["certificates_issued"] > year_total(early)["certificates_issued"]
    assert year_total(later)["servants_trained"] > 0
    assert len(first.columnar) == len(second.columnar) == await store.count()


async def test_a_restarted_instance_continues_from_its_file_without_reading_history_again(store, readers,
                                                                                          tmp_path, monkeypatch):
    path = tmp_path / "instance.duckdb"
    half = len(FACTS_OF_THE_YEAR) // 2
    await store.add(FACTS_OF_THE_YEAR[:half])
    first = store.reader(path)
    try:
        before = await answers(first)
    finally:
        first.close()  # the instance stops
    held = await store.count()
    restarted_from = store.reader(path)
    # the restart found the copy on disk: every fact is there before anything is read from the store
    assert len(restarted_from.columnar) == restarted_from.columnar.revision == held
    spy = AppendSpy(restarted_from.columnar, monkeypatch)
    readers(restarted_from)
    assert await answers(restarted_from) == before
    assert spy.rows == 0 and restarted_from.columnar.revision == held
    # facts that arrive after the restart are the only rows it reads, and it answers as a fresh instance
    await store.add(FACTS_OF_THE_YEAR[half:])
    after = await answers(restarted_from)
    assert spy.rows == len(FACTS_OF_THE_YEAR) - half
    assert len(restarted_from.columnar) == await store.count()
    assert after == await answers(readers(store.reader(tmp_path / "fresh.duckdb")))
    assert after != before


class Stopped(Exception):
    """The instance stopped (killed, out of disk) at that point."""


async def test_an_instance_stopped_between_appending_and_marking_holds_each_fact_once_after_restart(
        store, readers, tmp_path, monkeypatch):
    path = tmp_path / "instance.duckdb"
    await store.add(FACTS_OF_THE_YEAR)
    stopping = store.reader(path)
    mark = stopping.columnar.mark

    def stop_after_appending(generation: int, last: int) -> None:
        if last > 0:  # the first batch was appended, its sequence number not yet recorded
            raise Stopped
        mark(generation, last)

    monkeypatch.setattr(stopping.columnar, "mark", stop_after_appending)
    with pytest.raises(Stopped):
        await stopping.refresh()
    stopping.close()
    restarted = readers(store.reader(path))
    found = await answers(restarted)
    assert len(restarted.columnar) == await store.count()
    assert found == await answers(readers(store.reader(tmp_path / "fresh.duckdb")))


# ---------------------------------------------------------------- rows committed out of sequence order


async def reserve_seq(store: Store) -> int:
    """A sequence number taken by a writer that has not committed yet (PostgreSQL hands them out at insert)."""
    async with store.database.transaction() as session:
        return (await session.execute(text("SELECT nextval(pg_get_serial_sequence('reporting_fact', 'seq'))"))
                ).scalar_one()


async def commit_late(store: Store, fact: Fact, seq: int) -> None:
    """The late writer commits its row, with the sequence number it took earlier."""
    async with store.database.transaction() as session:
        await session.execute(insert(FACTS).values(seq=seq, **fact_row(fact, 1)))


def late_ones(facts: list[Fact]) -> tuple[list[Fact], list[Fact]]:
    """Two certificates held back (each changes the year's figures), and the rest."""
    late = [f for f in facts if f.kind == "certificate_issued"][-2:]
    return late, [f for f in facts if f not in late]


async def test_a_row_committed_after_higher_sequence_numbers_were_read_is_found_once(postgres_store, readers,
                                                                                    tmp_path, monkeypatch):
    store = postgres_store
    (late_low, late_high), rest = late_ones(FACTS_OF_THE_YEAR)
    reader = readers(store.reader(tmp_path / "instance.duckdb"))
    low = await reserve_seq(store)  # taken before anything below was written
    await store.add(rest[:400])
    await answers(reader)  # read past ``low`` and counted the whole store: everything up to here settled
    high = await reserve_seq(store)
    await store.add(rest[400:])
    await answers(reader)  # read past ``high`` (within the range counted on every read)
    await commit_late(store, late_high, high)
    # a late row after the last whole count is found by the next read, however soon
    await reader.refresh()
    assert len(reader.columnar) == await store.count()
    await commit_late(store, late_low, low)
    # a late row below the last whole count is found by the next whole count
    monkeypatch.setattr(views, "WHOLE_COUNT_S", 0.0)
    found = await answers(reader)
    assert len(reader.columnar) == await store.count() == len(FACTS_OF_THE_YEAR)
    assert found == await answers(readers(store.reader(tmp_path / "fresh.duckdb")))
    assert found == await answers(readers(store.reader(None, engine="ledger")))
    # and read once: another whole count adds nothing
    await reader.refresh()
    assert len(reader.columnar) == len(FACTS_OF_THE_YEAR)


# ---------------------------------------------------------------- a rebuilt generation, the engine setting


async def test_a_swapped_in_generation_replaces_the_copy_and_its_figures(store, readers, tmp_path):
    await store.add(FACTS_OF_THE_YEAR)
    reader = readers(store.reader(tmp_path / "instance.duckdb"))
    before = await answers(reader)
    # a rebuild filled generation 2 from other topics and swaps it in
    async with store.database.transaction() as session:
        await session.execute(insert_new_facts(session.get_bind().dialect.name),
                              [fact_row(f, 2) for f in ANOTHER_PROGRAMME])
    await swap(store.database, 1, 2, await last_seq(store.database, 1), "rebuilt from the topics")
    after = await answers(reader)
    assert reader.columnar.generation == 2
    assert len(reader.columnar) == await store.count() == len({f.event_id for f in ANOTHER_PROGRAMME})
    assert after != before
    assert after == await answers(readers(store.reader(tmp_path / "fresh.duckdb")))
    assert after == await answers(readers(store.reader(None, engine="ledger")))


async def test_the_ledger_engine_still_serves_and_gives_the_columnar_figures(store, readers, tmp_path):
    await store.add(FACTS_OF_THE_YEAR)
    ledger = readers(store.reader(None, engine="ledger"))
    assert ledger.columnar is None
    columnar = readers(store.reader(tmp_path / "instance.duckdb"))
    assert await answers(ledger) == await answers(columnar)
    assert year_total(await answers(ledger))["sessions_delivered"] > 0


async def test_the_service_set_to_the_ledger_engine_answers_over_http_as_the_columnar_reader(database_url, readers,
                                                                                              tmp_path):
    settings = ReportingSettings(database_url=database_url, state_dir=tmp_path, reporting_engine="ledger",
                                 programme_timezone=str(ZONE))
    async with serving(create_app, settings, dead_letters=False) as harness:
        store = Store(harness.runtime.database)
        await store.add(FACTS_OF_THE_YEAR)
        assert harness.runtime.provided(ProjectionReader).engine == "ledger"
        columnar = readers(store.reader(tmp_path / "instance.duckdb"))
        client = harness.client("comptroller")
        for by in (None, *DIMENSIONS):
            response = await client.get("/reports/figures", params={"year": YEAR, **({"by": by} if by else {})})
            assert response.status_code == 200, response.text
            assert response.json()["rows"] == (await views.figures(columnar, CTX, Period.year(YEAR), by, None))["rows"]

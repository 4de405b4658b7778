"""Schema migrations, on SQLite and PostgreSQL: a database made by the last release (its DDL and rows, recorded
in tests/fixtures/schema by tests/support/release_schema.py) is upgraded to head and keeps every row, and
head's schema is the models' — a model change without its revision fails here."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, inspect, select
from sqlalchemy.engine import Connection

from probidad.shared.database import Database
from probidad.shared.migrations import (
    SchemaNotAdoptable, SchemaNotCurrent, bring_to_head, current_revision, head_revision, schema_differences,
    service_metadata,
)

SERVICES = ("enrollment", "attendance", "certification", "reporting")
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "schema"
ROOT = Path(__file__).resolve().parents[2]
CLI = "from probidad.ops.cli import app; app()"


def _tables(service: str) -> list:
    return importlib.import_module(f"services.{service}.tables").TABLES


def _decoded(value: Any) -> Any:
    if isinstance(value, dict) and "datetime" in value:
        return datetime.fromisoformat(value["datetime"])
    if isinstance(value, dict) and "date" in value:
        return date.fromisoformat(value["date"])
    return value


def release_rows(service: str, *, without: tuple[str, str] | None = None) -> dict[str, list[dict[str, Any]]]:
    recorded = json.loads((FIXTURES / service / "rows.json").read_text())
    rows = {table: [{column: _decoded(value) for column, value in row.items()} for row in table_rows]
            for table, table_rows in recorded.items()}
    if without:
        for row in rows[without[0]]:
            row.pop(without[1])
    return rows


def release_ddl(service: str, dialect: str, *, without: tuple[str, str] | None = None) -> list[str]:
    """The release's CREATE statements; ``without`` (table, column): as a release older still made that table."""
    statements = [s.strip() for s in (FIXTURES / service / f"{dialect}.sql").read_text().split(";\n") if s.strip()]
    if without:
        table, column = without
        for n, statement in enumerate(statements):
            if statement.startswith(f"CREATE TABLE {table} ("):
                lines = [line for line in statement.splitlines() if not line.strip().startswith(f"{column} ")]
                assert len(lines) == len(statement.splitlines()) - 1, f"{table}.{column} not in the fixture"
                statements[n] = "\n".join(lines)
    return statements


async def make_release_database(url: str, service: str, *, without: tuple[str, str] | None = None
                                ) -> dict[str, list[dict[str, Any]]]:
    """A database as the last release's code left it: its tables, no version table, a few rows in each."""
    database = Database(url)
    rows = release_rows(service, without=without)

    def fill(connection: Connection) -> None:
        for statement in release_ddl(service, connection.dialect.name, without=without):
            connection.exec_driver_sql(statement)
        present = MetaData()
        present.reflect(connection)
        for table, table_rows in rows.items():
            connection.execute(present.tables[table].insert(), table_rows)

    try:
        async with database.engine.begin() as connection:
            await connection.run_sync(fill)
    finally:
        await database.dispose()
    return rows


def _comparable(value: Any) -> Any:
    """SQLite keeps no offset: compare instants as naive UTC."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


async def rows_read_by_the_models(url: str, service: str, wanted: dict[str, list[dict[str, Any]]]
                                  ) -> dict[str, list[dict[str, Any]]]:
    """Every table's rows as today's models read them, restricted to the columns the release's rows had."""
    tables = service_metadata(_tables(service)).tables
    database = Database(url)
    found: dict[str, list[dict[str, Any]]] = {}
    try:
        async with database.engine.connect() as connection:
            for name, rows in wanted.items():
                columns = [tables[name].c[column] for column in rows[0]]
                result = await connection.execute(select(*columns))
                found[name] = [dict(row._mapping) for row in result]
    finally:
        await database.dispose()
    return found


def _as_multiset(rows: list[dict[str, Any]]) -> Counter:
    return Counter(tuple(sorted((k, repr(_comparable(v))) for k, v in row.items())) for row in rows)


async def _revision_and_differences(url: str, service: str) -> tuple[str | None, list]:
    database = Database(url)
    try:
        async with database.engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: (current_revision(sync, service), schema_differences(sync, service, _tables(service))))
    finally:
        await database.dispose()


def _dialect(url: str) -> str:
    return "postgresql" if url.startswith("postgresql") else "sqlite"


# ------------------------------------------------------------------ the last release's database


@pytest.mark.parametrize("service", SERVICES)
async def test_a_database_made_by_the_last_release_is_upgraded_to_head_and_every_row_is_found(
        database_url: str, service: str) -> None:
    rows = await make_release_database(database_url, service)

    database = Database(database_url)
    try:
        assert await bring_to_head(database, service) == head_revision(service)
    finally:
        await database.dispose()

    found = await rows_read_by_the_models(database_url, service, rows)
    for table, release in rows.items():
        assert _as_multiset(found[table]) == _as_multiset(release), f"{service}: {table} lost or changed rows"
    revision, differences = await _revision_and_differences(database_url, service)
    assert revision == head_revision(service)
    assert differences == [], f"{service}: upgraded release database differs from the models: {differences}"


async def test_a_release_database_that_lacks_an_optional_column_added_since_gains_it(database_url: str) -> None:
    # processed_event.content_digest was once added by start-up's ALTER; a database older than it ends at head too
    missing = ("processed_event", "content_digest")
    rows = await make_release_database(database_url, "attendance", without=missing)

    database = Database(database_url)
    try:
        await bring_to_head(database, "attendance")
        async with database.engine.connect() as connection:
            columns = await connection.run_sync(
                lambda sync: {c["name"] for c in inspect(sync).get_columns("processed_event")})
    finally:
        await database.dispose()

    assert "content_digest" in columns
    found = await rows_read_by_the_models(database_url, "attendance", rows)
    assert _as_multiset(found["processed_event"]) == _as_multiset(rows["processed_event"])
    assert (await _revision_and_differences(database_url, "attendance")) == (head_revision("attendance"), [])


async def test_a_release_database_that_lacks_a_required_column_is_refused_naming_it_and_left_unstamped(
        database_url: str) -> None:
    await make_release_database(database_url, "attendance", without=("processed_event", "processed_at"))

    database = Database(database_url)
    try:
        with pytest.raises(SchemaNotAdoptable, match=r"processed_event\.processed_at"):
            await bring_to_head(database, "attendance")
    finally:
        await database.dispose()
    revision, _differences = await _revision_and_differences(database_url, "attendance")
    assert revision is None


# ------------------------------------------------------------------ head is the models


@pytest.mark.parametrize("service", SERVICES)
async def test_a_new_database_upgraded_to_head_has_exactly_the_models_schema(database_url: str, service: str) -> None:
    database = Database(database_url)
    try:
        await bring_to_head(database, service)
    finally:
        await database.dispose()
    revision, differences = await _revision_and_differences(database_url, service)
    assert revision == head_revision(service)
    assert differences == [], (f"{service}: the models differ from head; add a revision (alembic -c services/"
                               f"{service}/migrations/alembic.ini revision --autogenerate -m ...): {differences}")


def reflected_schema(connection: Connection) -> dict[str, Any]:
    """Everything the database says about its tables (column types, defaults such as a sequence,
    keys, indexes), the version tables left out."""
    inspector = inspect(connection)
    found = {}
    for table in sorted(inspector.get_table_names()):
        if table.startswith("alembic_version"):
            continue
        found[table] = {
            "columns": [(c["name"], str(c["type"]), c["nullable"], c.get("default"))
                        for c in inspector.get_columns(table)],
            "key": inspector.get_pk_constraint(table)["constrained_columns"],
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                              for i in inspector.get_indexes(table)),
            "unique": sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)),
        }
    return found


@pytest.fixture
async def second_database_url(database_url: str, tmp_path: Path):
    """Another empty database on the same server as ``database_url``."""
    if not database_url.startswith("postgresql"):
        yield f"sqlite+aiosqlite:///{tmp_path / 'second.db'}"
        return
    from tests.conftest import POSTGRES_ADMIN_URL, _fresh_postgres

    async with _fresh_postgres(POSTGRES_ADMIN_URL) as url:
        yield url


@pytest.mark.parametrize("service", SERVICES)
async def test_a_release_database_upgraded_to_head_is_the_same_as_a_new_one_down_to_keys_indexes_and_sequences(
        database_url: str, second_database_url: str, service: str) -> None:
    await make_release_database(database_url, service)
    schemas = []
    for url in (database_url, second_database_url):
        database = Database(url)
        try:
            await bring_to_head(database, service)
            async with database.engine.connect() as connection:
                schemas.append(await connection.run_sync(reflected_schema))
        finally:
            await database.dispose()
    upgraded, new = schemas
    assert upgraded.keys() == new.keys()
    for table in new:
        assert upgraded[table] == new[table], f"{service}: {table}"


async def test_services_sharing_one_database_each_keep_their_own_revision(database_url: str) -> None:
    database = Database(database_url)
    try:
        for service in SERVICES:
            await bring_to_head(database, service)
        async with database.engine.connect() as connection:
            names = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    finally:
        await database.dispose()
    assert {f"alembic_version_{service}" for service in SERVICES} <= names
    for service in SERVICES:
        assert (await _revision_and_differences(database_url, service)) == (head_revision(service), [])


async def test_a_database_migrated_by_a_newer_version_stops_the_start_up_naming_its_revision(database_url: str) -> None:
    from sqlalchemy import text

    database = Database(database_url)
    try:
        await bring_to_head(database, "reporting")
        async with database.engine.begin() as connection:
            await connection.execute(text("UPDATE alembic_version_reporting SET version_num = 'f00d_from_a_newer_one'"))
        with pytest.raises(SchemaNotCurrent, match="f00d_from_a_newer_one.*newer version"):
            await bring_to_head(database, "reporting")
    finally:
        await database.dispose()


async def test_instances_starting_together_on_one_postgresql_database_migrate_it_once_between_them(
        postgres_url: str) -> None:
    import asyncio

    databases = [Database(postgres_url) for _ in range(3)]
    try:
        heads = await asyncio.gather(*(bring_to_head(database, "enrollment") for database in databases))
    finally:
        for database in databases:
            await database.dispose()
    assert heads == [head_revision("enrollment")] * 3
    assert (await _revision_and_differences(postgres_url, "enrollment")) == (head_revision("enrollment"), [])


# ------------------------------------------------------------------ start-up and the operator


async def test_the_service_upgrades_a_release_database_when_it_starts(database_url: str, tmp_path: Path) -> None:
    from faststream.kafka import TestKafkaBroker

    from services.attendance.app import create_runtime
    from services.attendance.settings import AttendanceSettings

    rows = await make_release_database(database_url, "attendance")
    runtime = create_runtime(AttendanceSettings(database_url=database_url, state_dir=tmp_path))
    runtime.in_memory_broker = True
    async with TestKafkaBroker(runtime.broker):
        await runtime.start()
        await runtime.stop()
    found = await rows_read_by_the_models(database_url, "attendance", rows)
    assert _as_multiset(found["attendance_servant"]) == _as_multiset(rows["attendance_servant"])
    assert (await _revision_and_differences(database_url, "attendance")) == (head_revision("attendance"), [])


async def test_when_the_operator_runs_migrations_a_service_behind_head_refuses_to_start_until_probidad_migrate_ran(
        database_url: str, tmp_path: Path) -> None:
    from faststream.kafka import TestKafkaBroker

    from services.attendance.app import create_runtime
    from services.attendance.settings import AttendanceSettings

    await make_release_database(database_url, "attendance")
    settings = AttendanceSettings(database_url=database_url, state_dir=tmp_path, schema_migrations="operator")
    runtime = create_runtime(settings)
    runtime.in_memory_broker = True
    async with TestKafkaBroker(runtime.broker):
        with pytest.raises(SchemaNotCurrent) as refused:
            await runtime.start()
        await runtime.stop()
    said = str(refused.value)
    assert "made before migrations" in said and head_revision("attendance") in said and "probidad migrate" in said
    assert (await _revision_and_differences(database_url, "attendance"))[0] is None, "nothing was migrated"

    migrated = subprocess.run([sys.executable, "-c", CLI, "migrate", "attendance", "--database-url",
                               database_url], cwd=ROOT, capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PROBIDAD_STATE_DIR": str(tmp_path)})
    assert migrated.returncode == 0, migrated.stderr
    assert f"attendance: nothing -> {head_revision('attendance')} (head)" in migrated.stdout

    runtime = create_runtime(settings)
    runtime.in_memory_broker = True
    async with TestKafkaBroker(runtime.broker):
        await runtime.start()
        await runtime.stop()


def test_probidad_migrate_sql_prints_the_statements_without_touching_the_database(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'reporting.db'}"
    shown = subprocess.run([sys.executable, "-c", CLI, "migrate", "reporting", "--sql",
                            "--database-url", url], cwd=ROOT, capture_output=True, text=True, timeout=120,
                           env={**os.environ, "PROBIDAD_STATE_DIR": str(tmp_path)})
    assert shown.returncode == 0, shown.stderr
    for table in ("reporting_fact", "reporting_store", "reporting_publication", "outbox", "processed_event",
                  "alembic_version_reporting"):
        assert f"CREATE TABLE {table} " in shown.stdout
    assert "UPDATE alembic_version_reporting" in shown.stdout or "INSERT INTO alembic_version_reporting" in shown.stdout
    made = inspect_sqlite_tables(tmp_path / "reporting.db")
    assert made == set(), f"--sql created tables: {made}"


def inspect_sqlite_tables(path: Path) -> set[str]:
    import sqlite3

    if not path.exists():
        return set()
    with sqlite3.connect(path) as connection:
        return {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

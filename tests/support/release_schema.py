"""Record what a database made by the current release looks like, for the migration test to upgrade later.

    python -m tests.support.release_schema [out_dir]

writes, for each service, ``<out_dir>/<service>/{sqlite,postgresql}.sql`` — the DDL the release's code
creates its tables with (``create_all``: CREATE TABLE and CREATE INDEX, statements separated by blank
lines) — and ``rows.json``, a handful of rows per table (dates and times tagged). Run it at a release
(default out_dir: tests/fixtures/schema); the files are then frozen: later code must upgrade them.
"""

from __future__ import annotations

import importlib
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, DateTime, Float, Integer, MetaData, String, Table, Text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlalchemy.types import TypeDecorator

SERVICES = ("enrollment", "attendance", "certification", "reporting")
ROWS_PER_TABLE = 3
DIALECTS = {"sqlite": sqlite.dialect(), "postgresql": postgresql.dialect()}
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "schema"


def release_metadata(service: str) -> MetaData:
    from probidad.shared.tables import SHARED_TABLES

    metadata = MetaData()
    for table in [*SHARED_TABLES, *importlib.import_module(f"services.{service}.tables").TABLES]:
        table.to_metadata(metadata)
    return metadata


def ddl(metadata: MetaData, dialect_name: str) -> str:
    dialect = DIALECTS[dialect_name]
    statements = []
    for table in metadata.sorted_tables:
        statements.append(str(CreateTable(table).compile(dialect=dialect)).strip())
        statements += [str(CreateIndex(index).compile(dialect=dialect)).strip()
                       for index in sorted(table.indexes, key=lambda i: i.name)]
    text = ";\n\n".join(statements) + ";\n"
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def _generated_key(table: Table) -> str | None:
    """The integer primary key the database numbers itself (left out of the rows, as the code does)."""
    return table.autoincrement_column.name if table.autoincrement_column is not None else None


def _value(table: Table, column: Any, n: int) -> Any:
    kind = column.type.impl if isinstance(column.type, TypeDecorator) else column.type
    if column.nullable and n == ROWS_PER_TABLE:
        return None  # the last row of each table leaves every optional column empty
    if isinstance(kind, Boolean):
        return n % 2 == 0
    if isinstance(kind, (BigInteger, Integer)):
        return 1_000_000_000_000 * n + len(column.name) if isinstance(kind, BigInteger) else 100 * n + len(column.name)
    if isinstance(kind, Float):
        return n + 0.25
    if isinstance(kind, DateTime):
        moment = datetime(2026, 3, n, 9 + n, 30, 15, 123456, tzinfo=UTC)
        return {"datetime": (moment if kind.timezone else moment.replace(tzinfo=None)).isoformat()}
    if isinstance(kind, Date):
        return {"date": date(2026, 4, n).isoformat()}
    if isinstance(kind, Text):
        return json.dumps({"table": table.name, "column": column.name, "row": n})
    if isinstance(kind, String):
        tail = str(n)
        room = (kind.length or 64) - len(tail) - 1
        return f"{column.name[:room]}-{tail}" if room > 0 else tail
    raise TypeError(f"{table.name}.{column.name}: no sample for {kind!r}")


def rows(metadata: MetaData) -> dict[str, list[dict[str, Any]]]:
    found = {}
    for table in metadata.sorted_tables:
        generated = _generated_key(table)
        found[table.name] = [{column.name: _value(table, column, n) for column in table.columns
                              if column.name != generated} for n in range(1, ROWS_PER_TABLE + 1)]
    return found


def record(out_dir: Path) -> None:
    for service in SERVICES:
        metadata = release_metadata(service)
        target = out_dir / service
        target.mkdir(parents=True, exist_ok=True)
        for dialect_name in DIALECTS:
            (target / f"{dialect_name}.sql").write_text(ddl(metadata, dialect_name))
        (target / "rows.json").write_text(json.dumps(rows(metadata), indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    record(Path(sys.argv[1]) if len(sys.argv) > 1 else FIXTURES)

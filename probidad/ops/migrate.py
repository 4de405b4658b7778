"""``probidad migrate [service] [--sql]``: bring services' databases to their code's schema, or show the SQL.

A service migrates its own database when it starts (``probidad up`` relies on that: the first instance
of each service starts, and migrates, before any other), unless ``PROBIDAD_SCHEMA_MIGRATIONS=operator``:
then the operator runs this first, and a service finding its database behind refuses to start.
Each service's database is where the service would find it: its settings (``PROBIDAD_DATABASE_URL``,
else its SQLite file in ``PROBIDAD_STATE_DIR``), or ``--database-url`` for one named service.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer

from probidad.ops.platform import SERVICES

NAMES = tuple(name for name, _port in SERVICES)


async def _revisions(service: str, url: str) -> tuple[str | None, bool]:
    """The database's revision, and whether it holds tables from before migrations (no revision yet)."""
    from sqlalchemy import inspect

    from probidad.shared.database import Database
    from probidad.shared.migrations import current_revision

    database = Database(url)
    try:
        async with database.engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: (current_revision(sync, service), bool(inspect(sync).get_table_names())))
    finally:
        await database.dispose()


async def _upgrade(service: str, url: str) -> str:
    from probidad.shared.database import Database
    from probidad.shared.migrations import bring_to_head

    database = Database(url)
    try:
        return await bring_to_head(database, service)
    finally:
        await database.dispose()


def _print_sql(service: str, url: str, current: str | None, made_before: bool) -> None:
    from alembic import command

    from probidad.shared.migrations import alembic_config

    config = alembic_config(service, url)
    print(f"-- {service}: from {current or 'an empty database'} to head")
    if current is None and made_before:
        print("-- This database was made before migrations: the service (or `probidad migrate` without --sql) "
              "checks its columns and stamps it at the baseline; what follows is the baseline from nothing.")
    command.upgrade(config, f"{current}:head" if current else "head", sql=True)


def migrate(
    service: Annotated[str | None, typer.Argument(help=f"One of {', '.join(NAMES)}; default: all of them.",
                                                  show_default=False)] = None,
    sql: Annotated[bool, typer.Option("--sql", help="Print the SQL that would bring each database to head "
                                      "(from its current revision) instead of running it.")] = False,
    database_url: Annotated[str | None, typer.Option("--database-url", help="The named service's database "
                                                     "(sqlite+aiosqlite:// or postgresql+asyncpg://).",
                                                     show_default=False)] = None,
) -> None:
    """Bring each service's database to its schema (alembic upgrade head), or print the SQL (--sql)."""
    if service is not None and service not in NAMES:
        raise typer.BadParameter(f"unknown service {service!r}; one of {', '.join(NAMES)}", param_hint="SERVICE")
    if database_url and service is None:
        raise typer.BadParameter("name the service whose database it is", param_hint="--database-url")
    from probidad.shared.migrations import database_url_of

    for name in [service] if service else NAMES:
        url = database_url or database_url_of(name)
        try:
            current, made_before = asyncio.run(_revisions(name, url))
        except Exception as error:  # noqa: BLE001 — an unreachable database: say so, with the address tried
            if not sql:
                typer.echo(f"{name}: cannot reach its database ({error})", err=True)
                raise typer.Exit(1) from error
            current, made_before = None, False
        if sql:
            _print_sql(name, url, current, made_before)
            continue
        head = asyncio.run(_upgrade(name, url))
        said = "already at" if current == head else f"{current or 'nothing'} ->"
        typer.echo(f"{name}: {said} {head} (head)")
    sys.stdout.flush()


TOP_LEVEL_COMMANDS = {"migrate": migrate}

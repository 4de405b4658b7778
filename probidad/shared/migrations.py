"""Schema migrations: a service's database is brought to its code's schema by the service's own revisions.

A service's revisions live in the package ``services.<name>.migrations`` (alembic: ``env.py`` calls
``run_environment``; ``versions/`` starts with a baseline that creates the schema of the last release
made without migrations). Each service records its revision in its own version table,
``alembic_version_<name>``, so services sharing one database (development) never read each other's.

At start-up ``bring_to_head`` upgrades the database to head, or — when the operator runs migrations
(``PROBIDAD_SCHEMA_MIGRATIONS=operator``) — refuses to start unless it already is there. A database made
before migrations (tables present, no version table) is adopted: its columns are checked against the
baseline, the optional columns that start-up used to add are added, and it is stamped at the baseline
before the later revisions run. A service without a migrations package (a test service) gets its tables
made by ``Database.create_schema``.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, Table, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.types import TypeDecorator

from probidad.shared.logs import get_logger

log = get_logger(__name__)


class SchemaNotCurrent(RuntimeError):
    """The database is not at the revision the code needs and the service may not migrate it itself."""


class SchemaNotAdoptable(RuntimeError):
    """A database made before migrations lacks something the baseline cannot add (a required column)."""


def version_table(service: str) -> str:
    return f"alembic_version_{service}"


def migrations_directory(service: str) -> Path | None:
    """Where ``services.<service>.migrations`` is, without importing the service; None if it has none."""
    try:
        spec = importlib.util.find_spec(f"services.{service}.migrations")
    except ModuleNotFoundError:
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def alembic_config(service: str, url: str | None = None) -> Config:
    """The service's alembic configuration, built in code (no logging set-up: the service has its own)."""
    directory = migrations_directory(service)
    if directory is None:
        raise LookupError(f"{service} has no migrations (services/{service}/migrations)")
    config = Config()
    config.set_main_option("script_location", str(directory))
    config.attributes["service"] = service
    if url:
        config.attributes["url"] = url  # not a main option: a password may hold a '%'
    return config


def head_revision(service: str) -> str:
    head = ScriptDirectory.from_config(alembic_config(service)).get_current_head()
    assert head is not None, f"{service} has no revisions"
    return head


def service_metadata(tables: Iterable[Table]) -> MetaData:
    """The schema a service's code expects: its own tables plus the shared ones (outbox, processed_event).

    Every model shares SQLModel's one MetaData; a copy holding only this service's tables is what its
    migrations are compared with."""
    from probidad.shared.tables import SHARED_TABLES

    metadata = MetaData()
    for table in [*SHARED_TABLES, *tables]:
        table.to_metadata(metadata)
    return metadata


def current_revision(connection: Connection, service: str) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": version_table(service)})
    return context.get_current_revision()


# ------------------------------------------------------------------ start-up


async def bring_to_head(database: Any, service: str, *, operator_runs: bool = False) -> str:
    """Upgrade the service's database to head (adopting one made before migrations) and return head.

    ``operator_runs``: the operator runs migrations (``probidad migrate``); a database behind head stops
    the start-up with ``SchemaNotCurrent`` instead."""
    async with database.engine.begin() as connection:
        return await connection.run_sync(lambda sync: _bring_to_head(sync, service, operator_runs=operator_runs))


def _bring_to_head(connection: Connection, service: str, *, operator_runs: bool) -> str:
    config = alembic_config(service)
    script = ScriptDirectory.from_config(config)
    head = script.get_current_head()
    _take_turns(connection, service)
    current = current_revision(connection, service)
    if current == head:
        return head
    if current is not None and current not in {known.revision for known in script.walk_revisions()}:
        raise SchemaNotCurrent(f"{service}: the database is at revision {current}, which this code does not know "
                               f"(its head is {head}): it was migrated by a newer version; run that version")
    baseline = _baseline_schema(script)
    made_before_migrations = current is None and _has_any_table(connection, baseline)
    if operator_runs:
        found = current or ("none: made before migrations" if made_before_migrations else "none: empty")
        raise SchemaNotCurrent(
            f"{service}: the database is at revision {found}, this code needs {head} (head); migrations are run "
            f"by the operator (PROBIDAD_SCHEMA_MIGRATIONS=operator): run `probidad migrate {service}` first")
    config.attributes["connection"] = connection
    if made_before_migrations:
        adopt(connection, baseline, service)
        command.stamp(config, script.get_base())
    log.info("migrating the database", service=service, current=current, head=head)
    command.upgrade(config, "head")
    return head


def _take_turns(connection: Connection, service: str) -> None:
    """On PostgreSQL, instances of a service starting together migrate one at a time (the lock ends with
    the transaction); SQLite holds one service process per file."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": version_table(service)})


def _baseline_schema(script: ScriptDirectory) -> MetaData:
    """The schema the service's first revision creates (its module's ``schema()``): that of the last
    release before migrations."""
    base = script.get_revision(script.get_base())
    return base.module.schema()


def _has_any_table(connection: Connection, schema: MetaData) -> bool:
    inspector = inspect(connection)
    return any(inspector.has_table(name) for name in schema.tables)


def adopt(connection: Connection, baseline: MetaData, service: str) -> None:
    """Make a database from before migrations whole at the baseline: create the baseline tables it lacks
    and add the optional columns its tables gained since it was made (what start-up used to do). A
    required column it lacks cannot be made up: that stops here, naming it."""
    inspector = inspect(connection)
    missing_required: list[str] = []
    additions: list[tuple[Table, Any]] = []
    for table in baseline.sorted_tables:
        if not inspector.has_table(table.name):
            continue
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            if column.nullable:
                additions.append((table, column))
            else:
                missing_required.append(f"{table.name}.{column.name}")
    if missing_required:
        raise SchemaNotAdoptable(
            f"{service}: this database was made before migrations and lacks required columns the baseline has: "
            f"{', '.join(missing_required)}; it cannot be adopted")
    preparer = connection.dialect.identifier_preparer
    for table, column in additions:
        kind = column.type.compile(dialect=connection.dialect)
        connection.execute(text(
            f"ALTER TABLE {preparer.quote(table.name)} ADD COLUMN {preparer.quote(column.name)} {kind}"))
    baseline.create_all(connection, checkfirst=True)
    log.info("adopted a database made before migrations", service=service,
             added_columns=[f"{t.name}.{c.name}" for t, c in additions])


# ------------------------------------------------------------------ checks


def schema_differences(connection: Connection, service: str, tables: Iterable[Table]) -> list[Any]:
    """What alembic's autogenerate finds between the database and the models: empty when head is the models."""
    context = MigrationContext.configure(connection, opts=_context_options(service, service_metadata(tables)))
    return compare_metadata(context, service_metadata(tables))


# ------------------------------------------------------------------ env.py


def run_environment(service: str, tables: Iterable[Table]) -> None:
    """The body of ``services/<service>/migrations/env.py``: offline (``--sql``) or on a connection —
    the one start-up hands over, else one to the database named by ``-x url=…``, ``sqlalchemy.url`` or
    the service's settings (``PROBIDAD_DATABASE_URL``, else its SQLite file in ``PROBIDAD_STATE_DIR``)."""
    from alembic import context

    config = context.config
    if config.config_file_name is not None and config.attributes.get("connection") is None:
        from logging.config import fileConfig

        fileConfig(config.config_file_name, disable_existing_loggers=False)
    options = _context_options(service, service_metadata(tables))
    if context.is_offline_mode():
        context.configure(url=_url(config, service), literal_binds=True, dialect_opts={"paramstyle": "named"},
                          **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection, service, options)
        return
    asyncio.run(_run_on_url(_url(config, service), service, options))


async def _run_on_url(url: str, service: str, options: dict[str, Any]) -> None:
    from probidad.shared.database import make_engine

    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: _run_on(sync, service, options))
    finally:
        await engine.dispose()


def _run_on(connection: Connection, service: str, options: dict[str, Any]) -> None:
    from alembic import context

    _take_turns(connection, service)
    context.configure(connection=connection, **options)
    with context.begin_transaction():
        context.run_migrations()


def _url(config: Config, service: str) -> str:
    url = (config.attributes.get("url") or context_argument("url") or config.get_main_option("sqlalchemy.url"))
    return url or database_url_of(service)


def database_url_of(service: str) -> str:
    """Where the service finds its database: ``PROBIDAD_DATABASE_URL``, else its SQLite file in
    ``PROBIDAD_STATE_DIR`` (no service's settings change where its database is)."""
    from probidad.shared.settings import ServiceSettings

    return ServiceSettings(service_name=service).resolved_database_url


def context_argument(name: str) -> str | None:
    from alembic import context

    try:
        return context.get_x_argument(as_dictionary=True).get(name)
    except Exception:  # noqa: BLE001 — no alembic command line (called from code)
        return None


def _context_options(service: str, target: MetaData) -> dict[str, Any]:
    def ours(name: str | None, kind: str, _parents: dict) -> bool:
        # Another service's tables and version table, in a database shared in development, are not ours
        # to compare (nor to drop); a table named after this service that the models no longer have is.
        if kind == "table" and name not in target.tables:
            return bool(name) and name.startswith(f"{service}_")
        return True

    return {
        "target_metadata": target,
        "version_table": version_table(service),
        "include_name": ours,
        "compare_type": True,
        "render_as_batch": True,  # SQLite alters a table by copying it: autogenerate writes batch operations
        "render_item": render_item,
    }


def render_item(kind: str, item: Any, _context: Any) -> str | bool:
    """Write a column type as the plain SQLAlchemy type the database stores (SQLModel's AutoString,
    enrollment's UTCDateTime), so revisions import nothing from the models."""
    if kind == "type" and isinstance(item, TypeDecorator):
        return f"sa.{item.impl!r}"
    return False

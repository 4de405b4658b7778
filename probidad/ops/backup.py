"""``probidad backup`` and ``probidad restore``: the four services' databases and certification's signing key.

A backup is one directory (mode 0700)::

    manifest.json                 what was taken, when, from where, with the checksum of every other file
    <service>.dump                one per service: ``pg_dump --format=custom`` of its database
    certification-signing-key.pem certification's Ed25519 PRIVATE key (mode 0600: a secret; whoever holds
                                  it can sign certificates the public will accept)
    retired-key-<n>.pem           the retired public keys named by files (public: verification only)

What makes it safe to take while the platform runs:

* Each database is dumped from one snapshot (``pg_export_snapshot`` held open while ``pg_dump --snapshot``
  runs), and the manifest's row counts are counted in that same snapshot, so a restore can prove it got
  back exactly what was dumped.
* The consumer groups' committed offsets are read BEFORE any database is dumped. A service commits an
  offset only after the transaction holding the record's effect (and its event id) has committed, so every
  record below a recorded offset is already in the database the dump sees later. Records between the
  recorded offset and the dump are re-read after a restore and found in ``processed_event``: duplicates,
  which the consumer skips.

Why restore resets the consumer groups: a consumer starts at its group's committed offset. Offsets
committed after the backup point past records whose effects the restored database no longer has: left
alone, the services would skip them, and everything they said would be lost. ``restore`` therefore sets
each group back to the offsets recorded in the manifest (the groups must have no running member), so the
services read those records again; the ones already applied before the snapshot are recognised by their
event id and skipped. Outbox rows that were still unpublished in the snapshot are published again with
their original event ids: consumers that had them already skip them as duplicates.

Kafka must still hold those records: the topics keep events forever, but agency requests are kept only
``AGENCY_REQUEST_RETENTION_MS`` (7 days). ``restore`` refuses when a partition's earliest offset is past
the one recorded (the records in between are gone) unless ``--accept-loss``.

What a service derives again from a record read again gets the ids it had (enrollment draws the ids of what
an agency's request creates from the request), so downstream nothing is doubled. What a backup cannot bring
back: writes a service accepted over HTTP after its snapshot live only in its database (their events stay on
the topics, and the other services read them again); they must be entered again, or the database kept by
PostgreSQL's continuous archiving where that loss is not acceptable.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from probidad.ops.pgctl import PgCtlError, find_bin_dir

SERVICES = ("enrollment", "attendance", "certification", "reporting")
FORMAT = "probidad-backup/1"
MANIFEST = "manifest.json"
KEY_FILE = "certification-signing-key.pem"
Say = Callable[[str], object]


class BackupError(RuntimeError):
    """A problem the operator can act on; the command prints it and exits with 1."""


def consumer_group(service: str) -> str:
    """The consumer group a service's consumers commit their offsets in (probidad.shared.service)."""
    return f"probidad-{service}"


# ------------------------------------------------------------------ where things are


@dataclass(frozen=True)
class Target:
    """One service's database, as libpq takes it."""

    service: str
    url: str  # the SQLAlchemy URL, as the service is configured
    host: str
    port: int
    user: str
    password: str | None
    database: str

    @classmethod
    def of(cls, service: str, url: str) -> Target:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        if not parsed.drivername.startswith("postgresql"):
            raise BackupError(f"{service}: its database is {parsed.drivername} ({parsed.render_as_string()}); "
                              "backup and restore work on PostgreSQL (a SQLite file is copied while its service "
                              "is stopped)")
        if not parsed.database:
            raise BackupError(f"{service}: the database URL names no database")
        return cls(service, url, parsed.host or "127.0.0.1", parsed.port or 5432, parsed.username or "postgres",
                   parsed.password, parsed.database)

    @property
    def where(self) -> str:
        return f"{self.database} on {self.host}:{self.port}"

    def libpq_env(self) -> dict[str, str]:
        env = {**os.environ, "PGHOST": self.host, "PGPORT": str(self.port), "PGUSER": self.user,
               "PGDATABASE": self.database, "PGCONNECT_TIMEOUT": "10"}
        env.pop("PGPASSWORD", None)
        if self.password:
            env["PGPASSWORD"] = self.password  # the environment, never the command line (ps shows that)
        return env

    def asyncpg_dsn(self, database: str | None = None) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "user": self.user, "password": self.password,
                "database": database or self.database}


def targets(database_urls: Iterable[str] = (), template: str | None = None) -> dict[str, Target]:
    """Each service's database: ``service=URL`` given, else the template (``…/probidad_{service}``), else
    where the service itself finds it (``PROBIDAD_DATABASE_URL``; a ``{service}`` in it is filled in)."""
    from probidad.shared.migrations import database_url_of

    given: dict[str, str] = {}
    for entry in database_urls:
        service, sep, url = entry.partition("=")
        if not sep or service not in SERVICES:
            raise BackupError(f"--database-url {entry!r}: write SERVICE=URL, SERVICE one of {', '.join(SERVICES)}")
        given[service] = url
    found: dict[str, Target] = {}
    for service in SERVICES:
        configured = os.environ.get("PROBIDAD_DATABASE_URL", "")
        url = given.get(service) or (template.format(service=service) if template else None) or (
            configured.format(service=service) if "{service}" in configured else database_url_of(service))
        found[service] = Target.of(service, url)
    places = [(t.host, t.port, t.database) for t in found.values()]
    if len(set(places)) < len(places):
        raise BackupError("two services share one database; give each its own (--database-url SERVICE=URL "
                          "or --postgres …/probidad_{service})")
    return found


def signing_key_path(given: Path | None = None) -> Path:
    """Certification's signing key file: ``--signing-key``, else its settings (PROBIDAD_SIGNING_KEY_PATH,
    else the key it generated in PROBIDAD_STATE_DIR)."""
    if given is not None:
        return given
    configured = os.environ.get("PROBIDAD_SIGNING_KEY_PATH")
    if configured:
        return Path(configured)
    from probidad.shared.settings import ServiceSettings

    # Where CertificationSettings.generated_key_path is, without validating certification's other settings
    # (this command may run where its secrets are not set).
    return ServiceSettings(service_name="certification").state_dir / KEY_FILE


def retired_key_entries() -> list[str]:
    raw = os.environ.get("PROBIDAD_RETIRED_SIGNING_KEYS", "")
    return [entry.strip() for entry in raw.replace("\n", ",").split(",") if entry.strip()]


def kafka_settings(bootstrap: str | None, topic_prefix: str | None) -> tuple[str, str, dict[str, Any]]:
    from probidad.shared.kafka_security import KafkaSecurity
    from probidad.shared.settings import ServiceSettings

    settings = ServiceSettings()
    return (bootstrap or settings.kafka_bootstrap, settings.topic_prefix if topic_prefix is None else topic_prefix,
            KafkaSecurity.from_settings(settings).aiokafka())


# ------------------------------------------------------------------ small helpers


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _tool(name: str) -> str:
    """``pg_dump`` / ``pg_restore`` of Debian's highest PostgreSQL version: the server's binaries
    (``find_bin_dir``), else a client-only install (``postgresql-client``), else the one on PATH."""
    try:
        return str(find_bin_dir() / name)
    except PgCtlError:
        pass
    root = Path("/usr/lib/postgresql")
    found = sorted((path for path in root.glob(f"*/bin/{name}") if path.is_file()),
                   key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0)
    if found:
        return str(found[-1])
    on_path = shutil.which(name)
    if on_path:
        return on_path
    raise BackupError(f"{name} not found: apt-get install postgresql-client (its major version at least the server's)")


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    result = subprocess.run(command, env=env, capture_output=True, text=True, cwd="/")
    if result.returncode != 0:
        raise BackupError(f"{what} failed:\n{(result.stderr or result.stdout).strip()}")


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def _write_private(path: Path, data: bytes) -> None:
    """Write a secret: created 0600 (never readable by others, not even for a moment), then moved into place."""
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(draft, path)


# ------------------------------------------------------------------ Kafka: the groups' committed offsets


def _ours(topic: str, prefix: str) -> bool:
    """A topic of this deployment: the platform's and the agencies' (``<prefix>probidad.…``); not a dead-letter
    topic (no group reads those)."""
    return topic.startswith(f"{prefix}probidad.") and not topic.endswith(".dlq")


async def committed_offsets(bootstrap: str, prefix: str, security: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Group -> {"topic:partition": committed offset} for the four services' groups and this deployment's topics."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **security)
    await admin.start()
    try:
        found: dict[str, dict[str, int]] = {}
        for service in SERVICES:
            group = consumer_group(service)
            offsets = await admin.list_consumer_group_offsets(group)
            found[group] = {f"{tp.topic}:{tp.partition}": meta.offset for tp, meta in sorted(offsets.items())
                            if _ours(tp.topic, prefix) and meta.offset >= 0}
        return found
    finally:
        await admin.close()


async def _commit(bootstrap: str, security: dict[str, Any], group: str, offsets: dict[str, int | None]) -> int:
    """Commit ``offsets`` ("topic:partition" -> offset; None: the partition's beginning) for ``group``, as a
    client outside the group. The broker refuses while the group has members: the services must be stopped."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.errors import KafkaError
    from aiokafka.structs import OffsetAndMetadata

    partitions = {key: TopicPartition(key.rsplit(":", 1)[0], int(key.rsplit(":", 1)[1])) for key in offsets}
    if not partitions:
        return 0
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False, **security)
    await consumer.start()
    try:
        consumer.assign(list(partitions.values()))
        missing = [partitions[key] for key, offset in offsets.items() if offset is None]
        beginnings = await consumer.beginning_offsets(missing) if missing else {}
        try:
            await consumer.commit({tp: OffsetAndMetadata(offsets[key] if offsets[key] is not None else beginnings[tp],
                                                         "") for key, tp in partitions.items()})
        except KafkaError as error:
            raise BackupError(f"the broker refused to set the offsets of consumer group {group} "
                              f"({type(error).__name__}): stop every instance of the services before restoring"
                              ) from error
    finally:
        await consumer.stop()
    return len(partitions)


async def check_groups_idle(bootstrap: str, prefix: str, security: dict[str, Any], say: Say,
                            wait_s: float = 45.0) -> None:
    """Commit each group's current offsets again (no change): refused while a member is in the group. A
    service stopped a moment ago may still be one (a static member, PROBIDAD_KAFKA_INSTANCE_ID, stays until its
    session times out; a killed one too), so wait up to ``wait_s``."""
    import logging

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # each refused commit is our answer, not a fault
    deadline = time.monotonic() + wait_s
    for group, offsets in (await committed_offsets(bootstrap, prefix, security)).items():
        said = False
        while True:
            try:
                await _commit(bootstrap, security, group, dict(offsets))
                break
            except BackupError:
                if time.monotonic() > deadline:
                    raise
                if not said:
                    say(f"waiting for consumer group {group} to have no members (a service stopped a moment ago "
                        "may stay a member until its session times out)")
                    said = True
                await asyncio.sleep(2)


async def reset_offsets(bootstrap: str, prefix: str, security: dict[str, Any], recorded: dict[str, dict[str, int]],
                        say: Say) -> None:
    """Set each group back to the offsets of the backup. A partition of ours the group committed since
    (none then) goes back to its beginning: the group had read nothing of it when the backup was taken."""
    now = await committed_offsets(bootstrap, prefix, security)
    for group, then in recorded.items():
        later = now.get(group, {})
        wanted: dict[str, int | None] = {key: then.get(key) for key in {*then, *later}}
        count = await _commit(bootstrap, security, group, wanted)
        moved = sum(1 for key in wanted if later.get(key) != wanted[key])
        say(f"  {group}: {count} partitions set to the backup's offsets ({moved} moved back)")


async def records_gone(bootstrap: str, security: dict[str, Any], recorded: dict[str, dict[str, int]]) -> list[str]:
    """Partitions whose earliest record is past the offset recorded: retention deleted records a restore needs."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    wanted = {key for offsets in recorded.values() for key in offsets}
    if not wanted:
        return []
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, **security)
    await consumer.start()
    try:
        partitions = [TopicPartition(key.rsplit(":", 1)[0], int(key.rsplit(":", 1)[1])) for key in sorted(wanted)]
        beginnings = await consumer.beginning_offsets(partitions)
    finally:
        await consumer.stop()
    gone = []
    for group, offsets in recorded.items():
        for key, offset in offsets.items():
            topic, partition = key.rsplit(":", 1)
            first = beginnings[TopicPartition(topic, int(partition))]
            if first > offset:
                gone.append(f"{group} {key}: needs offset {offset}, the earliest kept is {first}")
    return gone


async def topic_retention(bootstrap: str, security: dict[str, Any], topics: Iterable[str]) -> dict[str, str | None]:
    """Each topic's ``retention.ms`` (-1: forever), for the record; None where the broker would not say."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    names = sorted(set(topics))
    found: dict[str, str | None] = dict.fromkeys(names)
    if not names:
        return found
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **security)
    await admin.start()
    try:
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name, {"retention.ms": None})
                                                  for name in names])
        for response in responses:
            for resource in response.resources:
                # (error_code, error_message, resource_type, resource_name, config_entries)
                for entry in resource[4]:
                    if entry[0] == "retention.ms":
                        found[resource[3]] = entry[1]
    except Exception:  # noqa: BLE001 — for the record only: a broker refusing DescribeConfigs leaves it unknown
        pass
    finally:
        await admin.close()
    return found


# ------------------------------------------------------------------ PostgreSQL


async def _connect(target: Target, database: str | None = None) -> Any:
    import asyncpg

    return await asyncpg.connect(**target.asyncpg_dsn(database), timeout=10)


async def _tables(connection: Any) -> list[str]:
    rows = await connection.fetch("SELECT schemaname, tablename FROM pg_tables "
                                  "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2")
    return [f"{row[0]}.{row[1]}" for row in rows]


async def _counts(connection: Any, tables: list[str]) -> dict[str, int]:
    counts = {}
    for name in tables:
        schema, table = name.split(".", 1)
        counts[name] = int(await connection.fetchval(f'SELECT count(*) FROM "{schema}"."{table}"'))
    return counts


async def _revision(connection: Any, service: str, tables: list[str]) -> str | None:
    from probidad.shared.migrations import version_table

    name = version_table(service)
    if f"public.{name}" not in tables:
        return None
    return await connection.fetchval(f'SELECT version_num FROM "{name}"')


async def dump_database(target: Target, path: Path) -> dict[str, Any]:
    """``pg_dump`` of one database from a snapshot held open meanwhile, with its facts counted in that snapshot."""
    connection = await _connect(target)
    try:
        transaction = connection.transaction(isolation="repeatable_read", readonly=True)
        await transaction.start()
        try:
            snapshot = await connection.fetchval("SELECT pg_export_snapshot()")
            tables = await _tables(connection)
            rows = await _counts(connection, tables)
            revision = await _revision(connection, target.service, tables)
            size = int(await connection.fetchval("SELECT pg_database_size(current_database())"))
            server = await connection.fetchval("SHOW server_version")
            command = [_tool("pg_dump"), "--format=custom", f"--snapshot={snapshot}", "--no-password",
                       f"--file={path}", target.database]
            await asyncio.to_thread(_run, command, target.libpq_env(), f"pg_dump of {target.where}")
        finally:
            await transaction.rollback()
    finally:
        await connection.close()
    os.chmod(path, 0o600)  # servants' personal data (enrollment) is in it
    return {"database": target.database, "host": f"{target.host}:{target.port}", "server_version": server,
            "alembic_revision": revision, "size_bytes": size, "rows": rows, "file": path.name,
            "dump_bytes": path.stat().st_size, "sha256": sha256_of(path)}


async def database_state(target: Target) -> tuple[str, list[str]]:
    """("absent" | "empty" | "holds tables", the tables) of a restore target; also who else is connected."""
    import asyncpg

    try:
        connection = await _connect(target)
    except asyncpg.InvalidCatalogNameError:
        return "absent", []
    try:
        tables = await _tables(connection)
        others = await connection.fetchval("SELECT count(*) FROM pg_stat_activity "
                                           "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    finally:
        await connection.close()
    if others:
        raise BackupError(f"{target.service}: {others} other connection(s) to {target.where}; stop the services "
                          "(and anything else using it) before restoring")
    return ("holds tables" if tables else "empty"), tables


async def prepare_database(target: Target, state: str) -> None:
    """Make the target an empty database: create it when absent, empty its public schema when replaced."""
    if state == "absent":
        connection = await _connect(target, "postgres")
        try:
            await connection.execute(f'CREATE DATABASE "{target.database}"')
        finally:
            await connection.close()
    elif state == "holds tables":
        connection = await _connect(target)
        try:
            await connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        finally:
            await connection.close()


async def restore_database(target: Target, path: Path, recorded: dict[str, Any]) -> None:
    """``pg_restore`` in one transaction (all or nothing), then prove the rows and revision are the backup's."""
    command = [_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
               "--no-password", f"--dbname={target.database}", str(path)]
    await asyncio.to_thread(_run, command, target.libpq_env(), f"pg_restore into {target.where}")
    connection = await _connect(target)
    try:
        tables = await _tables(connection)
        rows = await _counts(connection, tables)
        revision = await _revision(connection, target.service, tables)
        await connection.execute("ANALYZE")  # the planner's statistics are not in a dump
    finally:
        await connection.close()
    if rows != recorded["rows"]:
        differing = sorted(name for name in {*rows, *recorded["rows"]} if rows.get(name) != recorded["rows"].get(name))
        raise BackupError(f"{target.service}: restored rows differ from the backup's in {', '.join(differing)}")
    if revision != recorded["alembic_revision"]:
        raise BackupError(f"{target.service}: restored at revision {revision}, the backup says "
                          f"{recorded['alembic_revision']}")


# ------------------------------------------------------------------ backup


def _clock(say: Say) -> Say:
    started = time.monotonic()
    return lambda line: say(f"[{time.monotonic() - started:6.1f}s] {line}")


def _key_facts(path: Path) -> dict[str, str]:
    from services.certification.signing import PublicKey, b64url, load_private_key

    public = PublicKey(load_private_key(path).public_key())
    return {"key_id": public.key_id, "public_key": b64url(public.raw)}


def take_backup(output: Path, found: dict[str, Target], key_path: Path, bootstrap: str, prefix: str,
                security: dict[str, Any], say: Say = print) -> dict[str, Any]:
    """Write a backup into ``output`` (a new directory) and return its manifest."""
    say = _clock(say)
    output = output.resolve()  # the PostgreSQL tools run from /
    if output.exists() and any(output.iterdir()):
        raise BackupError(f"{output} exists and is not empty; name a new directory")
    if not key_path.is_file():
        raise BackupError(f"no signing key at {key_path}: without it the restored certification cannot sign "
                          "(give --signing-key, or set PROBIDAD_SIGNING_KEY_PATH / PROBIDAD_STATE_DIR as the "
                          "service has them)")
    draft = output.with_name(f"{output.name}.partial")
    if draft.exists():
        shutil.rmtree(draft)
    draft.mkdir(mode=0o700, parents=True)
    started = datetime.now(UTC)
    # Offsets first: everything below them is in the databases dumped after (see the module's docstring).
    say(f"reading the consumer groups' committed offsets from {bootstrap}")
    offsets = asyncio.run(committed_offsets(bootstrap, prefix, security))
    retention = asyncio.run(topic_retention(bootstrap, security,
                                            {key.rsplit(":", 1)[0] for group in offsets.values() for key in group}))
    databases: dict[str, Any] = {}
    for service, target in found.items():
        say(f"{service}: dumping {target.where}")
        databases[service] = asyncio.run(dump_database(target, draft / f"{service}.dump"))
        facts = databases[service]
        say(f"{service}: {_megabytes(facts['size_bytes'])} database, {sum(facts['rows'].values()):,} rows in "
            f"{len(facts['rows'])} tables -> {_megabytes(facts['dump_bytes'])} dump")
    say(f"certification's signing key: {key_path} (a SECRET: kept with mode 0600 in the backup)")
    _write_private(draft / KEY_FILE, key_path.read_bytes())
    key = {"file": KEY_FILE, "source_path": str(key_path), **_key_facts(key_path), "secret": True}
    retired = []
    for n, entry in enumerate(retired_key_entries(), start=1):
        copied = None
        if Path(entry).is_file():
            copied = f"retired-key-{n}.pem"
            shutil.copyfile(entry, draft / copied)
        retired.append({"entry": entry, "file": copied})
    files = {path.name: sha256_of(path) for path in sorted(draft.iterdir())}
    manifest = {
        "format": FORMAT,
        "taken_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "probidad_version": _version(),
        "pg_dump": subprocess.run([_tool("pg_dump"), "--version"], capture_output=True, text=True).stdout.strip(),
        "kafka": {"bootstrap": bootstrap, "topic_prefix": prefix, "consumer_groups": offsets,
                  "retention_ms": retention},
        "databases": databases,
        "signing_key": key,
        "retired_signing_keys": retired,
        "files": files,
    }
    (draft / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    if output.exists():
        output.rmdir()
    draft.rename(output)
    say(f"backup complete: {output} ({_megabytes(sum((output / name).stat().st_size for name in files))})")
    return manifest


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("probidad")
    except PackageNotFoundError:
        return "unknown"


# ------------------------------------------------------------------ restore


def read_manifest(backup: Path) -> dict[str, Any]:
    """The backup's manifest, once every file it lists is there with its checksum."""
    try:
        manifest = json.loads((backup / MANIFEST).read_text())
    except FileNotFoundError:
        raise BackupError(f"{backup} holds no {MANIFEST}: not a backup, or one that did not finish") from None
    except ValueError as error:
        raise BackupError(f"{backup / MANIFEST} is not valid JSON ({error})") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{backup}: format {manifest.get('format')!r}, this version restores {FORMAT}")
    for name, digest in manifest["files"].items():
        path = backup / name
        if not path.is_file():
            raise BackupError(f"{backup}: {name} is missing")
        if sha256_of(path) != digest:
            raise BackupError(f"{backup}: {name} does not match its checksum in the manifest (damaged or altered)")
    for service in SERVICES:
        recorded = manifest["databases"].get(service)
        if recorded is None or manifest["files"].get(recorded["file"]) != recorded["sha256"]:
            raise BackupError(f"{backup}: the manifest holds no checked dump of {service}")
    if manifest["files"].get(KEY_FILE) is None:
        raise BackupError(f"{backup}: the manifest holds no signing key")
    return manifest


def restore_backup(backup: Path, found: dict[str, Target], key_path: Path, bootstrap: str, prefix: str,
                   security: dict[str, Any], *, replace: bool = False, accept_loss: bool = False,
                   say: Say = print) -> dict[str, Any]:
    """Restore ``backup``: check everything first, then the databases, the key, and the groups' offsets."""
    say = _clock(say)
    backup = backup.resolve()
    manifest = read_manifest(backup)
    say(f"backup of {manifest['taken_at']}: manifest and {len(manifest['files'])} checksums verified")
    if manifest["kafka"]["topic_prefix"] != prefix:
        raise BackupError(f"the backup is of topic prefix {manifest['kafka']['topic_prefix']!r}, this platform's is "
                          f"{prefix!r}")
    states = {service: asyncio.run(database_state(target)) for service, target in found.items()}
    occupied = [f"{service} ({found[service].where}: {', '.join(tables[:3])}{'…' if len(tables) > 3 else ''})"
                for service, (state, tables) in states.items() if state == "holds tables"]
    if occupied and not replace:
        raise BackupError("refusing to restore over databases that hold tables: " + "; ".join(occupied) +
                          ". Restore into empty databases, or add --replace to drop what they hold")
    key_bytes = (backup / KEY_FILE).read_bytes()
    if key_path.exists() and key_path.read_bytes() != key_bytes and not replace:
        raise BackupError(f"a different signing key is at {key_path}; certificates it signed would no longer "
                          "verify once replaced. Move it away yourself, or add --replace (it is kept beside, "
                          "renamed)")
    groups = manifest["kafka"]["consumer_groups"]
    asyncio.run(check_groups_idle(bootstrap, prefix, security, say))
    gone = asyncio.run(records_gone(bootstrap, security, groups))
    if gone and not accept_loss:
        raise BackupError("Kafka no longer holds records the restored services must read again (retention "
                          "deleted them); what they said would be lost:\n  " + "\n  ".join(gone) +
                          "\nAdd --accept-loss to restore anyway")
    for service, target in found.items():
        recorded = manifest["databases"][service]
        state = states[service][0]
        if state != "empty":
            say(f"{service}: {'creating' if state == 'absent' else 'emptying (--replace)'} {target.where}")
            asyncio.run(prepare_database(target, state))
        say(f"{service}: restoring {_megabytes(recorded['dump_bytes'])} into {target.where}")
        asyncio.run(restore_database(target, backup / recorded["file"], recorded))
        say(f"{service}: {sum(recorded['rows'].values()):,} rows in {len(recorded['rows'])} tables, as in the "
            f"backup; revision {recorded['alembic_revision']}")
    if key_path.exists() and key_path.read_bytes() != key_bytes:
        aside = key_path.with_name(f"{key_path.name}.replaced-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
        key_path.rename(aside)
        say(f"the signing key that was at {key_path} is kept at {aside} (mode unchanged)")
    key_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    _write_private(key_path, key_bytes)
    say(f"signing key {manifest['signing_key']['key_id']} back at {key_path} (mode 0600)")
    for entry in manifest.get("retired_signing_keys", []):
        if entry["file"] and not Path(entry["entry"]).exists():
            Path(entry["entry"]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(backup / entry["file"], entry["entry"])
            say(f"retired key put back at {entry['entry']}")
    say("setting the consumer groups back to the backup's offsets")
    asyncio.run(reset_offsets(bootstrap, prefix, security, groups, say))
    say("restore complete: start the services; they read again what came after the backup")
    return manifest


# ------------------------------------------------------------------ command line

DatabaseUrls = Annotated[list[str] | None, typer.Option(
    "--database-url", help="SERVICE=URL of one service's database (repeatable); default: the services' settings "
    "(PROBIDAD_DATABASE_URL, where {service} is filled in).", show_default=False)]
PostgresTemplate = Annotated[str | None, typer.Option(
    "--postgres", help="URL template for the four databases, e.g. "
    "postgresql+asyncpg://probidad@127.0.0.1:5433/probidad_{service}", show_default=False)]
SigningKey = Annotated[Path | None, typer.Option(
    "--signing-key", help="certification's signing key file; default: PROBIDAD_SIGNING_KEY_PATH, else the key "
    "generated in PROBIDAD_STATE_DIR.", show_default=False)]
Bootstrap = Annotated[str | None, typer.Option("--bootstrap", help="Kafka bootstrap; default PROBIDAD_KAFKA_BOOTSTRAP.",
                                               show_default=False)]
TopicPrefix = Annotated[str | None, typer.Option("--topic-prefix", help="default PROBIDAD_TOPIC_PREFIX.",
                                                 show_default=False)]


def _problems() -> tuple[type[BaseException], ...]:
    from aiokafka.errors import KafkaError
    from asyncpg import PostgresError

    return (BackupError, KafkaError, PostgresError, OSError)


_PROBLEMS = _problems()


def _said(error: BaseException) -> str:
    return str(error) if isinstance(error, BackupError) else f"{type(error).__name__}: {error}"


def backup(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="New directory to write; default "
                                                "probidad-backup-<UTC time>.", show_default=False)] = None,
    database_url: DatabaseUrls = None, postgres: PostgresTemplate = None, signing_key: SigningKey = None,
    bootstrap: Bootstrap = None, topic_prefix: TopicPrefix = None,
) -> None:
    """Back up the four databases, certification's signing key and the consumer groups' offsets (the platform
    may keep running)."""
    target = output or Path(f"probidad-backup-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
    try:
        servers, prefix, security = kafka_settings(bootstrap, topic_prefix)
        take_backup(target, targets(database_url or [], postgres), signing_key_path(signing_key), servers, prefix,
                    security, say=typer.echo)
    except _PROBLEMS as error:
        typer.echo(f"backup failed: {_said(error)}", err=True)
        raise typer.Exit(1) from error
    typer.echo(f"{target / KEY_FILE} is certification's PRIVATE signing key: keep the backup where only operators "
               "can read it.")


def restore(
    backup_dir: Annotated[Path, typer.Argument(help="A directory `probidad backup` wrote.", show_default=False)],
    replace: Annotated[bool, typer.Option("--replace", help="Drop what the target databases hold (and set aside a "
                                          "different signing key) instead of refusing.")] = False,
    accept_loss: Annotated[bool, typer.Option("--accept-loss", help="Restore even when Kafka no longer holds "
                                              "records the services must read again.")] = False,
    database_url: DatabaseUrls = None, postgres: PostgresTemplate = None, signing_key: SigningKey = None,
    bootstrap: Bootstrap = None, topic_prefix: TopicPrefix = None,
) -> None:
    """Restore a backup into empty databases (the services stopped), the signing key back in place, and the
    consumer groups set back to the backup's offsets."""
    try:
        servers, prefix, security = kafka_settings(bootstrap, topic_prefix)
        restore_backup(backup_dir, targets(database_url or [], postgres), signing_key_path(signing_key), servers,
                       prefix, security, replace=replace, accept_loss=accept_loss, say=typer.echo)
    except _PROBLEMS as error:
        typer.echo(f"restore stopped: {_said(error)}", err=True)
        raise typer.Exit(1) from error


TOP_LEVEL_COMMANDS = {"backup": backup, "restore": restore}

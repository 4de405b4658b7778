"""What ``probidad restore`` refuses before it touches anything, and where ``probidad backup`` finds each database."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from probidad.ops.backup import FORMAT, KEY_FILE, MANIFEST, SERVICES, BackupError, read_manifest, targets


def _backup(directory: Path) -> Path:
    """A backup directory as ``take_backup`` leaves it: the files, and a manifest naming their checksums."""
    directory.mkdir()
    files = {f"{service}.dump": f"dump of {service}".encode() for service in SERVICES} | {KEY_FILE: b"key"}
    for name, data in files.items():
        (directory / name).write_bytes(data)
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    manifest = {"format": FORMAT, "files": digests, "databases": {
        service: {"file": f"{service}.dump", "sha256": digests[f"{service}.dump"]} for service in SERVICES}}
    (directory / MANIFEST).write_text(json.dumps(manifest))
    return directory


def test_a_whole_backup_is_read_with_every_checksum_holding(tmp_path: Path) -> None:
    manifest = read_manifest(_backup(tmp_path / "b"))
    assert set(manifest["databases"]) == set(SERVICES)


def test_a_dump_changed_after_the_backup_is_refused_by_name(tmp_path: Path) -> None:
    backup = _backup(tmp_path / "b")
    with (backup / "reporting.dump").open("ab") as dump:
        dump.write(b"!")
    with pytest.raises(BackupError, match="reporting.dump does not match its checksum"):
        read_manifest(backup)


def test_a_backup_missing_its_signing_key_is_refused(tmp_path: Path) -> None:
    backup = _backup(tmp_path / "b")
    (backup / KEY_FILE).unlink()
    with pytest.raises(BackupError, match=f"{KEY_FILE} is missing"):
        read_manifest(backup)


def test_a_directory_without_a_manifest_is_no_backup(tmp_path: Path) -> None:
    (tmp_path / "half").mkdir()
    with pytest.raises(BackupError, match="holds no manifest.json"):
        read_manifest(tmp_path / "half")


def test_a_template_names_each_services_own_database() -> None:
    found = targets(template="postgresql+asyncpg://ops:secret@db:5432/probidad_{service}")
    assert {service: (t.host, t.port, t.user, t.database) for service, t in found.items()} == {
        service: ("db", 5432, "ops", f"probidad_{service}") for service in SERVICES}
    assert found["enrollment"].libpq_env()["PGPASSWORD"] == "secret"  # never on the command line


def test_services_sharing_one_database_are_refused() -> None:
    with pytest.raises(BackupError, match="share one database"):
        targets(template="postgresql+asyncpg://ops@db:5432/probidad")


def test_a_sqlite_database_is_not_backed_up_by_pg_dump() -> None:
    with pytest.raises(BackupError, match="PostgreSQL"):
        targets(["enrollment=sqlite+aiosqlite:///x.db"], template="postgresql+asyncpg://ops@db/probidad_{service}")

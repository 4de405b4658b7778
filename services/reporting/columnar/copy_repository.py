"""The columnar copy of reporting's store: a DuckDB file per instance, appended by sequence number."""

from __future__ import annotations

import itertools
import shutil
import tempfile
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import orjson

from contracts import compliance as rule
from services.reporting.columnar.snapshot_repository import VERSION_ORDER_SQL, ColumnarSnapshot
from services.reporting.domain.facts import FOREVER, Fact, from_micros, micros, revoked_on

OPEN = 2**63 - 1  # known_until of the latest version: later than every cut-off, "now" (FOREVER) included
SCHEMA_VERSION = "1"

_TABLES = {
    "meta": "key VARCHAR, value VARCHAR",
    # every fact as the store keeps it: what rosters, plans and compliance read back into facts
    "fact_log": "seq BIGINT, event_id VARCHAR, kind VARCHAR, known_at BIGINT, subject VARCHAR, session_id VARCHAR, "
                "servant_id VARCHAR, attributes VARCHAR",
    "institution_f": "seq BIGINT, event_id VARCHAR, known_at BIGINT, institution_id VARCHAR, name VARCHAR, "
                     "government_level VARCHAR",
    "course_f": "seq BIGINT, event_id VARCHAR, known_at BIGINT, course_id VARCHAR, title VARCHAR, topic VARCHAR",
    "session_f": "seq BIGINT, event_id VARCHAR, kind VARCHAR, known_at BIGINT, session_id VARCHAR, course_id VARCHAR, "
                 "modality VARCHAR, starts_at VARCHAR, starts_us BIGINT, day DATE, organising_unit VARCHAR",
    # institution_id: the one a registration names, or a transfer's destination; effective_us: from when the
    # version is in force (contracts.attribution.in_force_from: a transfer's effective day's local midnight,
    # never later than it was known)
    "servant_f": "seq BIGINT, event_id VARCHAR, kind VARCHAR, known_at BIGINT, servant_id VARCHAR, "
                 "institution_id VARCHAR, sex VARCHAR, person_id VARCHAR, effective_us BIGINT",
    "attendance_f": "seq BIGINT, event_id VARCHAR, known_at BIGINT, known_until BIGINT, session_id VARCHAR, "
                    "servant_id VARCHAR, status VARCHAR",
    # revoked_from: contracts.compliance.revoked_from of a revocation; known_day: the local date it became known
    "certificate_f": "seq BIGINT, event_id VARCHAR, kind VARCHAR, known_at BIGINT, known_until BIGINT, "
                     "certificate_id VARCHAR, session_id VARCHAR, servant_id VARCHAR, hours DOUBLE, issued_on DATE, "
                     "revoked_from DATE, known_day DATE",
}
_VERSIONED = {  # table -> the columns naming one chain of versions
    "attendance_f": ("session_id", "servant_id"),
    "certificate_f": ("certificate_id", "kind"),
}
_RARE = frozenset({"certificate_revoked", "servant_transferred", "session_scheduled", "session_rescheduled",
                   "session_cancelled", "institution", "course"})
_STORE_ROW = tuple[int, str, str, int, str, str | None, str | None, str]  # seq, event_id, kind, known_at, subject,
# session_id, servant_id, attributes (JSON text): a row of the store's reporting_fact


class ColumnarLedger:
    """Reporting's facts in a DuckDB database, and the snapshots resolved from them.

    ``path`` None: an in-memory database (tests); otherwise a file, one per reporting instance, which a
    restart reopens and continues (``last_seq``). ``memory_mb`` bounds what DuckDB holds in memory; the
    rest spills to disk beside the file.
    """

    def __init__(self, zone: ZoneInfo, path: str | Path | None = None, memory_mb: int = 512,
                 threads: int | None = None) -> None:
        self.zone = zone
        self._scratch: str | None = None
        if path is None:
            self._scratch = tempfile.mkdtemp(prefix="reporting-columnar-")
            path = Path(self._scratch) / "facts.duckdb"
        self.path = Path(path)
        config = {"memory_limit": f"{memory_mb}MB", "preserve_insertion_order": "false",
                  "temp_directory": str(self.path.with_suffix(".tmp"))}
        if threads:
            config["threads"] = str(threads)
        self._db = duckdb.connect(str(self.path), config=config)
        self._lock = threading.RLock()
        self._db.create_function("counted_on", rule.counted_on, [duckdb.sqltype("DATE"), duckdb.sqltype("DATE")],
                                 duckdb.sqltype("BOOLEAN"), null_handling="special", side_effects=False)
        for table, columns in _TABLES.items():
            self._db.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns})")
        if self._meta("zone") not in (None, str(zone)) or self._meta("schema") not in (None, SCHEMA_VERSION):
            self.reset()  # local dates were computed in another zone, or by another layout: start again
        self._set_meta("zone", str(zone))
        self._set_meta("schema", SCHEMA_VERSION)
        self._count = self._scalar("SELECT count(*) FROM fact_log")
        self.revision = self._count
        self._snapshots: OrderedDict[tuple[int, int], ColumnarSnapshot] = OrderedDict()
        self._unheld: list[list[str]] = []  # the tables of snapshots nobody holds, to drop
        self._names = itertools.count()

    # -- bookkeeping

    def _scalar(self, sql: str, params: Sequence[object] = ()) -> int:
        with self._lock:
            return self._db.execute(sql, list(params)).fetchone()[0]

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM meta WHERE key = ?", [key])
            self._db.execute("INSERT INTO meta VALUES (?, ?)", [key, value])

    @property
    def generation(self) -> int | None:
        """The store generation these facts were copied from (None: not set)."""
        with self._lock:
            value = self._meta("generation")
        return int(value) if value is not None else None

    @property
    def last_seq(self) -> int:
        with self._lock:
            return int(self._meta("last_seq") or 0)

    def mark(self, generation: int, last_seq: int) -> None:
        """Record which store generation, up to which sequence number, the copy holds."""
        with self._lock:
            self._set_meta("generation", str(generation))
            self._set_meta("last_seq", str(last_seq))

    def reset(self, generation: int | None = None) -> None:
        """Forget every fact (a rebuilt ``generation`` is copied again from the store, from sequence 0)."""
        with self._lock:
            self._drop_snapshots()
            self._db.execute("BEGIN TRANSACTION")
            for table in _TABLES:
                if table != "meta":
                    self._db.execute(f"DELETE FROM {table}")
            self._db.execute("DELETE FROM meta WHERE key IN ('generation', 'last_seq')")
            if generation is not None:
                self.mark(generation, 0)
            self._db.execute("COMMIT")
            self._count = 0
            self.revision += 1

    def __len__(self) -> int:
        return self._count

    def close(self) -> None:
        with self._lock:
            self._drop_snapshots()
            self._db.close()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)

    @property
    def newest(self) -> datetime | None:
        """Envelope time of the newest fact held (how fresh the projection is)."""
        latest = self._scalar("SELECT max(known_at) FROM fact_log")
        return from_micros(latest) if latest is not None else None

    # -- appending

    def append(self, facts: Iterable[Fact]) -> int:
        """Add facts not held yet (by event id), in the order given; the number added."""
        with self._lock:
            start = self._scalar("SELECT coalesce(max(seq), 0) FROM fact_log")
            rows = [(start + i, f.event_id, f.kind, f.known_at, f.subject, f.session_id, f.servant_id,
                     orjson.dumps(f.attributes).decode()) for i, f in enumerate(facts, 1)]
            return self.append_rows(rows, deduplicate=True)

    def append_rows(self, rows: Sequence[_STORE_ROW], *, deduplicate: bool = False,
                    mark: tuple[int, int] | None = None) -> int:
        """Add store rows (``seq`` … ``attributes`` as JSON text); the number added.

        The store holds each event once per generation, so its rows need no check unless ``deduplicate``
        (facts handed in directly, or a range of the store read again to fill a gap). ``mark`` (generation,
        last sequence number) is recorded in the same transaction as the rows: a copy stopped at any moment
        reopens holding each row once, and knowing which.
        """
        if not rows:
            return 0
        with self._lock:
            self._db.execute("BEGIN TRANSACTION")
            try:
                added = self._append(rows, deduplicate)
                if mark is not None:
                    self.mark(*mark)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            if added:
                self._count += added
                self.revision += 1
                self._drop_snapshots()
            return added

    def _append(self, rows: Sequence[_STORE_ROW], deduplicate: bool) -> int:
        if deduplicate:
            rows = self._unseen(rows)
            if not rows:
                return 0
        self._db.execute("CREATE OR REPLACE TEMP TABLE batch AS SELECT "
                         + ", ".join(f"unnest(?::{_type('fact_log', n)}[]) AS {n}" for n in _columns("fact_log")),
                         [list(column) for column in zip(*rows)])
        self._db.execute("INSERT INTO fact_log SELECT * FROM batch")
        # The kinds most facts are of, typed in SQL; the rare ones whose local dates depend on the zone, in
        # Python (``_split``), with the functions the reference uses.
        self._db.execute(f"""INSERT INTO attendance_f SELECT seq, event_id, known_at, {OPEN}, session_id, servant_id,
                             json_extract_string(attributes, '$.status') FROM batch WHERE kind = 'attendance'""")
        self._db.execute(f"""INSERT INTO certificate_f SELECT seq, event_id, kind, known_at, {OPEN}, subject,
                             session_id, servant_id, CAST(json_extract(attributes, '$.hours') AS DOUBLE),
                             CAST(json_extract_string(attributes, '$.issued_on') AS DATE), NULL, NULL
                             FROM batch WHERE kind = 'certificate_issued'""")
        self._db.execute("""INSERT INTO servant_f SELECT seq, event_id, kind, known_at, servant_id,
                            json_extract_string(attributes, '$.institution_id'),
                            json_extract_string(attributes, '$.sex'),
                            json_extract_string(attributes, '$.person_id'), known_at
                            FROM batch WHERE kind = 'servant'""")
        columns = {table: [] for table in ("institution_f", "course_f", "session_f", "servant_f", "certificate_f")}
        self._split([row for row in rows if row[2] in _RARE], columns)
        for table, values in columns.items():
            if values:
                names = _columns(table)
                self._db.execute(f"INSERT INTO {table} ({', '.join(names)}) SELECT "
                                 + ", ".join(f"unnest(?::{_type(table, n)}[])" for n in names),
                                 [list(column) for column in zip(*values)])
        for table, chain in _VERSIONED.items():
            self._chain(table, chain)
        self._db.execute("DROP TABLE batch")
        return len(rows)

    def _unseen(self, rows: Sequence[_STORE_ROW]) -> list[_STORE_ROW]:
        first: dict[str, _STORE_ROW] = {}
        for row in rows:
            first.setdefault(row[1], row)
        held = {r[0] for r in self._db.execute(
            "SELECT event_id FROM fact_log WHERE event_id IN (SELECT unnest(?::VARCHAR[]))", [list(first)]).fetchall()}
        return [row for event_id, row in first.items() if event_id not in held]

    def _split(self, rows: Sequence[_STORE_ROW], columns: dict[str, list[tuple]]) -> None:
        """The rare kinds' rows into their typed tables: sessions, transfers, revocations, institutions, courses."""
        zone, loads = self.zone, orjson.loads
        for seq, event_id, kind, known_at, subject, session_id, servant_id, text in rows:
            a = loads(text)
            if kind == "certificate_revoked":
                fact = Fact(event_id, kind, known_at, subject, session_id, servant_id, a)
                columns["certificate_f"].append((
                    seq, event_id, kind, known_at, OPEN, subject, session_id, servant_id, None, None, revoked_on(fact),
                    from_micros(known_at).astimezone(zone).date()))
            elif kind == "servant_transferred":
                # effective_us: contracts.attribution.in_force_from of the transfer, in µs
                midnight = datetime.combine(date.fromisoformat(a["effective_on"]), time.min, zone)
                columns["servant_f"].append((seq, event_id, kind, known_at, servant_id, a["to_institution_id"],
                                             a["sex"], None, min(known_at, micros(midnight))))
            elif kind.startswith("session_"):
                starts = a.get("starts_at")
                starts_at = datetime.fromisoformat(starts) if starts else None
                columns["session_f"].append((
                    seq, event_id, kind, known_at, session_id, a.get("course_id"), a.get("modality"), starts,
                    micros(starts_at) if starts_at else None, starts_at.astimezone(zone).date() if starts_at else None,
                    a.get("organising_unit")))
            elif kind == "institution":
                columns["institution_f"].append((seq, event_id, known_at, subject, a["name"], a["government_level"]))
            elif kind == "course":
                columns["course_f"].append((seq, event_id, known_at, subject, a["title"], a["topic"]))

    def _chain(self, table: str, chain: tuple[str, ...]) -> None:
        """Set ``known_until`` on every chain of versions the batch touched that has more than one version:
        most batches add first versions only, and then no older row changes."""
        keys = ", ".join(chain)
        touched = f"(SELECT DISTINCT {keys} FROM {table} WHERE event_id IN (SELECT event_id FROM batch))"
        self._db.execute(f"""
            CREATE OR REPLACE TEMP TABLE chains AS
            SELECT {keys} FROM {table} WHERE ({keys}) IN {touched} GROUP BY {keys} HAVING count(*) > 1""")
        if not self._db.execute("SELECT count(*) FROM chains").fetchone()[0]:
            return
        self._db.execute(f"""
            UPDATE {table} SET known_until = n.next
            FROM (SELECT event_id AS id,
                         lead(known_at, 1, {OPEN}) OVER (PARTITION BY {keys} ORDER BY {VERSION_ORDER_SQL}) AS next
                  FROM {table} WHERE ({keys}) IN (SELECT ({keys}) FROM chains)) AS n
            WHERE {table}.event_id = n.id AND {table}.known_until <> n.next""")

    # -- snapshots

    def snapshot(self, as_of: datetime | None = None) -> ColumnarSnapshot:
        """The facts as known at ``as_of`` (None: now), resolved once and kept until new facts arrive."""
        cutoff = micros(as_of) if as_of is not None else FOREVER
        key = (self.revision, cutoff)
        with self._lock:
            found = self._snapshots.get(key)
            if found is not None:
                self._snapshots.move_to_end(key)
                return found
            self._drop_unheld()
            found = ColumnarSnapshot(self, as_of, cutoff, f"s{next(self._names)}_")
            # Its tables go when nobody holds it any more (a request may still be reading an evicted one).
            weakref.finalize(found, self._unheld.append, found.tables)
            self._snapshots[key] = found
            while len(self._snapshots) > 4:  # "now" and a few past cut-offs asked over and over (a bulletin's)
                self._snapshots.popitem(last=False)
            return found

    def _drop_snapshots(self) -> None:
        self._snapshots.clear()

    def _drop_unheld(self) -> None:
        while self._unheld:
            for table in self._unheld.pop():
                self._db.execute(f"DROP TABLE IF EXISTS {table}")

    @property
    def lock(self) -> threading.RLock:
        """Held while a snapshot resolves or is read: one connection, one statement at a time."""
        return self._lock

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection of its own to the same database, for a long read beside appends."""
        with self._lock:
            return self._db.cursor()

    def count_range(self, after: int, upto: int) -> int:
        """How many facts held have a sequence number in (after, upto]."""
        return self._scalar("SELECT count(*) FROM fact_log WHERE seq > ? AND seq <= ?", [after, upto])

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, list(params)).fetchall()

    def execute(self, sql: str) -> None:
        with self._lock:
            self._db.execute(sql)

    def facts(self, where: str, params: Sequence[Any] = ()) -> list[Fact]:
        """Facts of the log matching ``where``, in the order they were appended."""
        rows = self.query("SELECT event_id, kind, known_at, subject, session_id, servant_id, attributes FROM fact_log "
                          f"WHERE {where} ORDER BY seq", params)
        loads = orjson.loads
        return [Fact(e, k, t, s, sid, vid, loads(a)) for e, k, t, s, sid, vid, a in rows]


def _columns(table: str) -> list[str]:
    return [part.split()[0] for part in _TABLES[table].split(", ")]


def _type(table: str, column: str) -> str:
    return dict(part.split(" ", 1) for part in _TABLES[table].split(", "))[column]

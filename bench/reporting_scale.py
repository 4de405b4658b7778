"""Reporting at a nation's scale: a running reporting service over 1 M and 10 M facts, its memory and latency.

    python bench/reporting_scale.py [--facts 1000000,10000000] [--repeat 5] [--engines ledger,columnar]
                                    [--memory-mb 512] [--per-year 1000000]
                                    [--admin-url postgresql://probidad@127.0.0.1:5433/probidad]
                                    [--bootstrap 127.0.0.1:9092]

    python bench/reporting_scale.py --facts 100000     # a few minutes

One year of the project's generator (probidad/ops/programme.py: the bulletin's year scaled to about
``--per-year`` facts — servants, sessions, enrolments, attendance and its corrections, grades,
certificates and revocations, moves — with the comptroller's oversight facts: requirements, exemptions,
leavings, transfers, an annual plan) is reduced to facts as the consumer does and written with COPY into
the reporting store (``reporting_fact``, generation 1) of a fresh PostgreSQL database. Larger sizes
are that year copied inside PostgreSQL, one copy per earlier year (generating 10 M facts in Python
takes too long): every date, session and certificate moved back a year per copy, fresh event ids, the
same institutions, courses and servants (one state's history over several years). The comptroller's
oversight facts are kept for the current year only.

For each size the reporting service is started as its own process (``python -m services.reporting``,
on an empty topic prefix, so everything it knows comes from the store) and asked, once it answers
``/health``:

* the year's figures now — the first question after start is the catch-up: the engine takes in every
  fact of the store (the columnar engine appends them to its own file); ``facts / seconds that first
  answer took`` is the append rate (the start, launch to ``/health``, is printed apart);
* then ``--repeat`` rounds of: the year's figures now, a month, ``by=institution``, the same year as
  of a past cut-off, the dashboard, the compliance report.

Its RSS is read from /proc after the catch-up and after every question (VmRSS, and VmHWM, the peak).
The baseline, in the same run, is the in-memory Ledger (``PROBIDAD_REPORTING_ENGINE=ledger``) at the
smallest size: each latency and memory figure of the columnar engine is printed beside its ratio to the
baseline (baseline / columnar: above 1 is faster or smaller). Answers to the figures questions are
compared between the two engines at the same size. The issue's targets (at 10 M facts) are printed
beside the largest size measured. Wall-clock times on a shared machine: one quiet run per point.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reporting_rebuild import TOPICS, oversight_envelopes

from probidad.ops.platform import launch, stop_services, wait_until_healthy
from probidad.ops.programme import bulletin_plan, generate, scaled_plan
from probidad.shared.auth import issue_token
from probidad.shared.database import Database
from probidad.shared.kafka import ensure_topics
from probidad.shared.settings import DEV_JWT_SECRET
from services.reporting.domain.facts import fact_from
from services.reporting.repository import COLUMNS, fact_values
from services.reporting.settings import ReportingSettings
from services.reporting.tables import TABLES

ZONE = ZoneInfo("America/Mexico_City")
YEAR = 2026  # the generator's year: the current one
DATABASE = "probidad_bench_scale"
FACTS_PER_SERVANT = 4.75  # a generated year: 950,110 facts for 200,000 servants and 800 sessions
SERVANTS_PER_SESSION = 250
# Oversight of the current year only: older copies of requirements, exemptions, leavings and moves
# would declare the same requirement many times over, which no comptroller does.
CURRENT_ONLY = ("requirement", "exemption_granted", "exemption_withdrawn", "departure", "servant_transferred")
QUESTIONS = {  # name -> (path, query)
    "year now": ("/reports/figures", {"year": str(YEAR)}),
    "month": ("/reports/figures", {"month": f"{YEAR}-11"}),
    "by institution": ("/reports/figures", {"year": str(YEAR), "by": "institution"}),
    "as of": ("/reports/figures", {"year": str(YEAR), "as_of": f"{YEAR}-07-15"}),
    "dashboard": ("/dashboard", {}),
    "compliance": ("/reports/compliance", {}),
}
FIGURES = ("year now", "month", "by institution", "as of")  # JSON answers compared between engines
TOKEN = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'comptroller')}"}
# The issue's targets at 10 M facts: p95 ceilings in seconds per question, RSS and append rate.
TARGET_P95 = {"year now": 0.2, "month": 0.2, "by institution": 0.2, "as of": 2.0, "dashboard": 1.0}
TARGET_RSS_MB = 1024
TARGET_APPEND = 50_000


# ---------------------------------------------------------------- the facts


def one_year(facts: int) -> list[tuple]:
    """The generator's year sized to about ``facts`` facts, with the comptroller's oversight facts, as the
    consumer stores them (``COLUMNS`` order, generation 1), by envelope time."""
    servants = max(200, round(facts / FACTS_PER_SERVANT))
    base = bulletin_plan()
    plan = scaled_plan(servants / base.servants, sessions_scale=max(servants / SERVANTS_PER_SESSION, 4) / base.sessions,
                       correct_every=53)
    assert plan.year == YEAR and ZoneInfo(plan.timezone) == ZONE
    envelopes = generate(plan).envelopes
    envelopes += oversight_envelopes(envelopes)
    found = [fact for envelope in envelopes if (fact := fact_from(envelope)) is not None]
    del envelopes
    found.sort(key=lambda f: (f.known_at, f.event_id))
    return [fact_values(f, 1) for f in found]


def shifted(column: str, years: int) -> str:
    """SQL moving ``column``'s text back ``years`` years: dates, years and session ids (they begin with
    their date) — but not servant ids, which also name a year (``sv-2026-…``) and stay the same people."""
    earlier, following = str(YEAR - years), str(YEAR + 1 - years)
    return (f"replace(replace(replace(replace(replace({column}, 'sv-{YEAR}-', '~sv~'), '{YEAR + 1}', '~next~'), "
            f"'{YEAR}', '{earlier}'), '~next~', '{following}'), '~sv~', 'sv-{YEAR}-')")


def copy_year(years: int, last_of_year: int) -> str:
    """INSERT of the generated year (sequence numbers up to ``last_of_year``) moved back ``years`` years,
    with fresh event ids; known-at moves back by the days between the two New Years."""
    shift = (date(YEAR, 1, 1) - date(YEAR - years, 1, 1)).days * 86_400 * 1_000_000
    values = {"generation": "generation", "event_id": f"event_id || '-y{years}'", "kind": "kind",
              "known_at": f"known_at - {shift}", "subject": shifted("subject", years),
              "session_id": shifted("session_id", years), "servant_id": "servant_id",
              "attributes": shifted("attributes", years)}
    kinds = ", ".join(f"'{k}'" for k in CURRENT_ONLY)
    return (f"INSERT INTO reporting_fact ({', '.join(COLUMNS)}) SELECT {', '.join(values[c] for c in COLUMNS)} "
            f"FROM reporting_fact WHERE seq <= {last_of_year} AND kind NOT IN ({kinds}) ORDER BY seq")


INDEXES = (
    ("ALTER TABLE reporting_fact DROP CONSTRAINT IF EXISTS uq_reporting_fact_event",
     "ALTER TABLE reporting_fact ADD CONSTRAINT uq_reporting_fact_event UNIQUE (generation, event_id)"),
    ("DROP INDEX IF EXISTS ix_reporting_fact_generation_seq",
     "CREATE INDEX ix_reporting_fact_generation_seq ON reporting_fact (generation, seq)"),
)


class Store:
    """The fresh database and its reporting store, grown a year at a time (indexes dropped meanwhile)."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url.replace("postgresql+asyncpg://", "postgresql://")
        base = self.admin_url.rsplit("/", 1)[0]
        self.url = f"{base}/{DATABASE}"
        self.service_url = self.url.replace("postgresql://", "postgresql+asyncpg://")
        self.years = 0
        self.last_of_year = 0

    async def _admin(self, statement: str) -> None:
        connection = await asyncpg.connect(self.admin_url)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    async def create(self, year: list[tuple]) -> None:
        await self.drop()
        await self._admin(f'CREATE DATABASE "{DATABASE}"')
        database = Database(self.service_url)
        try:
            await database.create_schema(TABLES)
        finally:
            await database.dispose()
        connection = await asyncpg.connect(self.url)
        try:
            for drop, _ in INDEXES:
                await connection.execute(drop)
            await connection.copy_records_to_table("reporting_fact", records=year, columns=list(COLUMNS))
            await connection.execute("INSERT INTO reporting_store (id, generation, swapped_at, note) "
                                     "VALUES (1, 1, $1, 'bench')", datetime.now(UTC))
            self.last_of_year = await connection.fetchval("SELECT max(seq) FROM reporting_fact")
            self.years = 1
            for _, create in INDEXES:
                await connection.execute(create)
            await connection.execute("ANALYZE reporting_fact")
        finally:
            await connection.close()

    async def grow(self, years: int) -> int:
        """Hold ``years`` years of history; the facts held."""
        connection = await asyncpg.connect(self.url)
        try:
            if years > self.years:
                for drop, _ in INDEXES:
                    await connection.execute(drop)
                for back in range(self.years, years):
                    await connection.execute(copy_year(back, self.last_of_year))
                self.years = years
                for _, create in INDEXES:
                    await connection.execute(create)
                await connection.execute("ANALYZE reporting_fact")
            return await connection.fetchval("SELECT count(*) FROM reporting_fact WHERE generation = 1")
        finally:
            await connection.close()

    async def drop(self) -> None:
        await self._admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


# ---------------------------------------------------------------- the service


def memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process, in MB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0]) / 1024
    return found["VmRSS"], found["VmHWM"]


@dataclass
class Run:
    engine: str
    facts: int
    first_answer_s: float = 0.0  # the first question after start: the catch-up
    healthy_s: float = 0.0  # launch -> /health answered
    rss_caught_up: float = 0.0
    rss_after: float = 0.0
    peak: float = 0.0
    seconds: dict[str, list[float]] = field(default_factory=dict)
    answers: dict[str, object] = field(default_factory=dict)

    def p(self, question: str, q: float) -> float:
        """Nearest-rank percentile of the question's latencies."""
        times = sorted(self.seconds[question])
        return times[max(0, math.ceil(q * len(times)) - 1)]

    @property
    def append_rate(self) -> float:
        return self.facts / self.first_answer_s


def ask(client: httpx.Client, question: str) -> tuple[float, object]:
    path, params = QUESTIONS[question]
    started = time.perf_counter()
    response = client.get(path, params=params, headers=TOKEN)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"{question}: {response.status_code} {response.text[:500]}")
    return elapsed, (response.json() if question in FIGURES else None)


def measure(engine: str, facts: int, store: Store, args: argparse.Namespace, work: Path) -> Run:
    prefix = f"benchscale{uuid.uuid4().hex[:8]}."
    asyncio.run(ensure_topics(args.bootstrap, [prefix + t for t in TOPICS]))
    env = {"PROBIDAD_DATABASE_URL": store.service_url, "PROBIDAD_KAFKA_BOOTSTRAP": args.bootstrap,
           "PROBIDAD_TOPIC_PREFIX": prefix, "PROBIDAD_STATE_DIR": str(work), "PROBIDAD_JWT_SECRET": DEV_JWT_SECRET,
           "PROBIDAD_REPORTING_ENGINE": engine, "PROBIDAD_REPORTING_MEMORY_MB": str(args.memory_mb),
           "PROBIDAD_REPORTING_COLUMNAR_PATH": str(work / f"reporting-{engine}-{facts}.duckdb")}
    run = Run(engine, facts)
    log = work / f"reporting-{engine}-{facts}.log"
    started = time.perf_counter()
    service = launch("reporting", args.port, {**os.environ, **env}, log)
    try:
        wait_until_healthy([service], timeout_s=120)
        run.healthy_s = time.perf_counter() - started
        pid = service.process.pid
        with httpx.Client(base_url=service.url, timeout=3600) as client:
            run.first_answer_s, run.answers["year now"] = ask(client, "year now")
            run.rss_caught_up, _ = memory_mb(pid)
            for _ in range(args.repeat):  # rounds, so that no question only ever follows itself
                for question in QUESTIONS:
                    elapsed, answer = ask(client, question)
                    run.seconds.setdefault(question, []).append(elapsed)
                    if answer is not None:
                        run.answers[question] = answer
        run.rss_after, run.peak = memory_mb(pid)
    except Exception:
        print(f"--- the service's log ({engine}, {facts:,} facts):\n{log.read_text()[-4000:]}", file=sys.stderr)
        raise
    finally:
        stop_services([service])
    return run


# ---------------------------------------------------------------- the table


def ratio(baseline: float, value: float) -> str:
    return f"{baseline / value:.1f}x" if value > 0 else "-"


def report(runs: list[Run], baseline: Run | None) -> None:
    headers = ["facts", "engine", "RSS caught up / after / peak MB", "start s", "first answer s", "appends/s",
               *[f"{q} p50/p95 ms" for q in QUESTIONS]]
    rows = []
    for run in runs:
        against = baseline is not None and run is not baseline

        def versus(mine: float, theirs: float) -> str:
            return f" ({ratio(theirs, mine)})" if against else ""

        rows.append([
            f"{run.facts:,}", run.engine,
            f"{run.rss_caught_up:,.0f} / {run.rss_after:,.0f} / {run.peak:,.0f}"
            + (versus(run.peak, baseline.peak) if baseline else ""),
            f"{run.healthy_s:.1f}",
            f"{run.first_answer_s:.1f}" + (versus(run.first_answer_s, baseline.first_answer_s) if baseline else ""),
            f"{run.append_rate:,.0f}",
            *[f"{run.p(q, .5) * 1000:,.0f}/{run.p(q, .95) * 1000:,.0f}"
              + (versus(run.p(q, .95), baseline.p(q, .95)) if baseline else "") for q in QUESTIONS]])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print()
    print(" | ".join(h.ljust(w) for h, w in zip(headers, widths)))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths)))
    if baseline is not None:
        print(f"(x): baseline / this run — the Ledger at {baseline.facts:,} facts — of the peak RSS, the first "
              "answer and each p95; above 1 is smaller or faster")


def targets(run: Run) -> None:
    print(f"\nTargets (the issue's, at 10 M facts) against the columnar engine at {run.facts:,} facts:")
    checks = [("RSS (peak)", f"{run.peak:,.0f} MB", f"<= {TARGET_RSS_MB:,} MB", run.peak <= TARGET_RSS_MB),
              ("appending", f"{run.append_rate:,.0f} facts/s", f">= {TARGET_APPEND:,} facts/s",
               run.append_rate >= TARGET_APPEND)]
    checks += [(f"{q} p95", f"{run.p(q, .95) * 1000:,.0f} ms", f"<= {limit * 1000:,.0f} ms",
                run.p(q, .95) <= limit) for q, limit in TARGET_P95.items()]
    for name, value, target, met in checks:
        print(f"  {name:<20} {value:>18}   target {target:<18} {'met' if met else 'MISSED'}")


def compare(runs: list[Run]) -> None:
    by_size: dict[int, list[Run]] = {}
    for run in runs:
        by_size.setdefault(run.facts, []).append(run)
    for facts, same in by_size.items():
        if len(same) > 1:
            differing = [q for q in FIGURES if len({repr(r.answers.get(q)) for r in same}) > 1]
            print(f"answers at {facts:,} facts, {' vs '.join(r.engine for r in same)}: "
                  + (f"DIFFER in {', '.join(differing)}" if differing else "identical figures"))


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facts", default="1000000,10000000", help="Sizes, comma-separated.")
    parser.add_argument("--per-year", type=int, default=1_000_000,
                        help="Facts of the generated year (at most the smallest size); larger sizes copy it.")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--engines", default="ledger,columnar",
                        help="ledger: the baseline, at the smallest size only; columnar: at every size.")
    parser.add_argument("--memory-mb", type=int, default=512, help="The columnar engine's memory limit.")
    parser.add_argument("--admin-url", default="postgresql://probidad@127.0.0.1:5433/probidad")
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--port", type=int, default=18_604)
    args = parser.parse_args()
    sizes = sorted(int(s.replace("_", "")) for s in args.facts.split(","))
    engines = args.engines.split(",")
    if "columnar" in engines and "reporting_engine" not in ReportingSettings.model_fields:
        print("this reporting service has no columnar engine yet (no PROBIDAD_REPORTING_ENGINE): the Ledger only")
        engines = [e for e in engines if e != "columnar"] or ["ledger"]
        if "ledger" not in engines:
            engines.append("ledger")

    started = time.perf_counter()
    year = one_year(min(args.per_year, sizes[0]))
    per_year = len(year)
    print(f"generated one year: {per_year:,} facts in {time.perf_counter() - started:.0f}s")
    plan = ([("ledger", sizes[0])] if "ledger" in engines else []) + \
        ([("columnar", s) for s in sizes] if "columnar" in engines else [])

    store = Store(args.admin_url)
    runs: list[Run] = []
    try:
        started = time.perf_counter()
        asyncio.run(store.create(year))
        del year
        print(f"loaded it into {DATABASE} with COPY in {time.perf_counter() - started:.0f}s")
        with tempfile.TemporaryDirectory(prefix="reporting-scale-") as tmp:
            for engine, size in plan:
                years = max(1, round(size / per_year))
                started = time.perf_counter()
                held = asyncio.run(store.grow(years))
                if years > 1:
                    print(f"{years} years in the store: {held:,} facts ({time.perf_counter() - started:.0f}s)")
                try:
                    run = measure(engine, held, store, args, Path(tmp))
                except Exception as error:  # noqa: BLE001 — report the sizes measured, and this failure
                    print(f"{engine} at {held:,} facts FAILED: {error!r}"[:2000], flush=True)
                    continue
                print(f"{engine} at {held:,} facts: first answer {run.first_answer_s:.1f}s, RSS "
                      f"{run.rss_caught_up:,.0f} -> {run.rss_after:,.0f} MB", flush=True)
                runs.append(run)
    finally:
        asyncio.run(store.drop())

    baseline = next((r for r in runs if r.engine == "ledger"), None)
    report(runs, baseline)
    compare(runs)
    columnar = [r for r in runs if r.engine == "columnar"]
    if columnar:
        targets(columnar[-1])


if __name__ == "__main__":
    main()

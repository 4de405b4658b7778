"""Sustained enrolments per second through the enrollment HTTP API, against a bare one-insert endpoint.

Both run as uvicorn processes on the same kind of database, measured in this run by the same closed-loop
load generator (``--concurrency`` clients, each sending its next request when the previous answered).
The enrollment side is the real thing: JWT auth, seat locks, capacity/duplicate/overlap checks, the
enrolment row and its event in the outbox, with the relay publishing to the real Kafka broker meanwhile.

    python bench/enrollment_throughput.py [--duration 12] [--concurrency 32] [--postgres [ADMIN_URL]]

Prints requests/s and p50/p99 latency of both, and the ratio enrollment / baseline (target ≥ 0.5).
Needs a Kafka broker (PROBIDAD_KAFKA_BOOTSTRAP, default 127.0.0.1:9092).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from probidad.ops.localhost import free_port  # noqa: E402
from probidad.ops.platform import launch, stop_services, wait_until_healthy  # noqa: E402
from probidad.shared.auth import issue_token  # noqa: E402
from probidad.shared.settings import DEV_JWT_SECRET  # noqa: E402
from services.enrollment.servants.domain.curp import curp_check_digit  # noqa: E402

CONSONANTS = "BCDFGHJKLMNPRSTVWXYZ"


def curp(n: int) -> str:
    """The n-th of many distinct valid CURPs."""
    body = (f"G{'AEIOU'[n % 5]}{CONSONANTS[n % 20]}{CONSONANTS[(n // 20) % 20]}{70 + (n // 400) % 30:02d}"
            f"{1 + n % 12:02d}{1 + (n // 12) % 28:02d}{'HM'[n % 2]}QR{CONSONANTS[(n // 12000) % 20]}RN0")
    return body + curp_check_digit(body)


@dataclass
class Measurement:
    name: str
    ok: int
    failed: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.ok / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")

    @classmethod
    def merge(cls, parts: list["Measurement"]) -> "Measurement":
        return cls(parts[0].name, sum(p.ok for p in parts), sum(p.failed for p in parts),
                   sum(p.seconds for p in parts), [ms for p in parts for ms in p.latencies_ms])

    def line(self) -> str:
        return (f"{self.name:<24} {self.rate:8.1f} req/s   p50 {self.percentile(50):7.1f} ms   "
                f"p99 {self.percentile(99):7.1f} ms   ({self.ok} ok, {self.failed} failed in {self.seconds:.1f} s)")



async def load(name: str, url: str, headers: dict[str, str], bodies, *, duration_s: float, warmup_s: float,
               concurrency: int) -> Measurement:
    """Closed loop: each client sends its next enrolment as soon as the previous one is answered."""
    latencies: list[float] = []
    counts = {"ok": 0, "failed": 0}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30, limits=limits) as client:
        started = time.perf_counter()
        measuring_from = started + warmup_s
        stop_at = measuring_from + duration_s

        async def client_loop() -> None:
            while (now := time.perf_counter()) < stop_at:
                body = next(bodies)
                response = await client.post("/enrolments", json=body)
                done = time.perf_counter()
                if now < measuring_from:
                    continue
                if response.status_code == 201:
                    counts["ok"] += 1
                    latencies.append((done - now) * 1000)
                else:
                    counts["failed"] += 1
                    if counts["failed"] <= 3:
                        print(f"  {name}: {response.status_code} {response.text[:200]}", file=sys.stderr)

        await asyncio.gather(*(client_loop() for _ in range(concurrency)))
        elapsed = time.perf_counter() - measuring_from
    return Measurement(name, counts["ok"], counts["failed"], elapsed, latencies)


async def prepare_programme(url: str, headers: dict[str, str], servants: int, sessions: int) -> tuple[list, list]:
    """An institution, a course, back-to-back sessions and registered servants to enrol."""
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as c:
        r = await c.post("/institutions", json={"institution_id": "in-bench", "name": "Institución de prueba",
                                                "government_level": "state", "headcount": servants,
                                                "headcount_year": 2026})
        r.raise_for_status()
        (await c.post("/courses", json={"course_id": "co-bench", "code": "BENCH-1", "title": "Código de Ética",
                                        "topic": "Código de Ética", "hours": 2})).raise_for_status()
        start = datetime(2026, 1, 5, 9, 0)
        session_ids = []
        for i in range(sessions):
            begins = start + timedelta(hours=3 * i)
            r = await c.post("/sessions", json={"session_id": f"se-{i}", "course_id": "co-bench",
                                                "modality": "virtual", "platform": "Zoom",
                                                "starts_at": begins.isoformat(),
                                                "ends_at": (begins + timedelta(hours=2)).isoformat(),
                                                "timezone": "America/Mexico_City", "capacity": 100_000})
            r.raise_for_status()
            session_ids.append(f"se-{i}")
        servant_ids = []
        for chunk in range(0, servants, 500):
            rows = [{"institution_id": "in-bench", "name": f"Servidora {n}", "curp": curp(n)}
                    for n in range(chunk, min(servants, chunk + 500))]
            report = (await c.post("/servants/import", json={"rows": rows})).json()
            if report["rejected"]:
                raise RuntimeError(f"setup rows rejected: {report['results'][:3]}")
            servant_ids += [r["servant_id"] for r in report["results"]]
    return servant_ids, session_ids


async def postgres(admin_url: str, verb: str, names: list[str]) -> None:
    import asyncpg

    connection = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://"), timeout=5)
    try:
        for name in names:
            await connection.execute(f'{verb} DATABASE "{name}"' + (" WITH (FORCE)" if verb == "DROP" else ""))
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=12.0, help="Measured seconds per endpoint.")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=6, help="Alternating rounds the duration is split into.")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--servants", type=int, default=1000)
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--postgres", nargs="?", const="postgresql+asyncpg://probidad@127.0.0.1:5433/probidad",
                        default="", metavar="ADMIN_URL",
                        help="Use two throwaway PostgreSQL databases (created and dropped on this server) "
                        "instead of SQLite files.")
    args = parser.parse_args()
    bootstrap = os.environ.get("PROBIDAD_KAFKA_BOOTSTRAP", "127.0.0.1:9092")

    with tempfile.TemporaryDirectory(prefix="enrollment-bench-") as tmp:
        tmpdir = Path(tmp)
        throwaway: list[str] = []
        if args.postgres:
            throwaway = [f"bench_{uuid.uuid4().hex[:10]}" for _ in range(2)]
            asyncio.run(postgres(args.postgres, "CREATE", throwaway))
            base = args.postgres.rsplit("/", 1)[0]
            enrollment_db, baseline_db = (f"{base}/{name}" for name in throwaway)
        else:
            enrollment_db = f"sqlite+aiosqlite:///{tmpdir / 'enrollment.db'}"
            baseline_db = f"sqlite+aiosqlite:///{tmpdir / 'baseline.db'}"

        baseline_port = free_port()
        baseline = launch("baseline", baseline_port, {**os.environ, "PROBIDAD_DATABASE_URL": baseline_db},
                          tmpdir / "baseline.log",
                          command=[sys.executable, "-m", "uvicorn", "bench.enrollment_baseline:app", "--port",
                                   str(baseline_port), "--log-level", "warning", "--no-access-log"])
        enrollment = launch("enrollment", free_port(), {
            **os.environ, "PROBIDAD_DATABASE_URL": enrollment_db, "PROBIDAD_STATE_DIR": str(tmpdir),
            "PROBIDAD_KAFKA_BOOTSTRAP": bootstrap, "PROBIDAD_TOPIC_PREFIX": f"bench{uuid.uuid4().hex[:8]}.",
            "PROBIDAD_JWT_SECRET": DEV_JWT_SECRET, "PROBIDAD_LOG_LEVEL": "WARNING"}, tmpdir / "enrollment.log")
        try:
            wait_until_healthy([baseline, enrollment], timeout_s=60)
            headers = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'liaison', institution_id='in-bench')}"}
            admin = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'comptroller')}"}
            servant_ids, session_ids = asyncio.run(prepare_programme(enrollment.url, admin, args.servants,
                                                                     args.sessions))
            # Enrolments arrive in no particular order, as from many liaisons at once.
            pairs = [{"session_id": se, "servant_id": sv} for se in session_ids for sv in servant_ids]
            random.Random(7).shuffle(pairs)
            pairs = iter(pairs)
            bare_bodies = ({"session_id": f"se-{i % 30}", "servant_id": f"sv-{i}"} for i in itertools.count())

            print(f"enrollment benchmark: {args.concurrency} concurrent clients, {args.duration:.0f} s per endpoint "
                  f"in {args.rounds} alternating rounds, database {enrollment_db.split(':')[0]}, Kafka {bootstrap}")
            # Alternating short rounds: whatever else the machine is doing weighs on both sides alike.
            slice_s = args.duration / args.rounds
            totals: dict[str, list[Measurement]] = {"bare": [], "enrollment": []}
            for round_ in range(args.rounds):
                warmup = args.warmup if round_ == 0 else 0.5
                totals["bare"].append(asyncio.run(load("bare FastAPI insert", baseline.url, {}, bare_bodies,
                                                       duration_s=slice_s, warmup_s=warmup,
                                                       concurrency=args.concurrency)))
                totals["enrollment"].append(asyncio.run(load("enrollment /enrolments", enrollment.url, headers, pairs,
                                                             duration_s=slice_s, warmup_s=warmup,
                                                             concurrency=args.concurrency)))
            bare, real = (Measurement.merge(totals[k]) for k in ("bare", "enrollment"))
            print(bare.line())
            print(real.line())
            if real.failed:
                print(f"warning: {real.failed} enrolments failed (see stderr)")
            rounds = ", ".join(f"{r.rate / b.rate:.2f}" for b, r in zip(totals["bare"], totals["enrollment"]))
            print(f"ratio enrollment / baseline: {real.rate / bare.rate:.2f} (target >= 0.50); per round: {rounds}")
        finally:
            stop_services([enrollment, baseline])
            if throwaway:
                asyncio.run(postgres(args.postgres, "DROP", throwaway))


if __name__ == "__main__":
    main()

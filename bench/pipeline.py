"""The whole pipeline on the real broker: session close → certificates → updated projections.

Four service processes run against the Kafka broker (a fresh topic namespace) with their own SQLite
files. The programme's reference facts (course, institution, servants, sessions, enrolments) are
published onto the enrollment topic as enrollment would publish them; each session's attendance is
imported into the attendance service (neutral CSV over HTTP). Then, timed:

* **throughput** — every session is closed over HTTP at once; the clock stops when the reporting
  API counts a participation (a certificate issued by certification, projected by reporting) for
  every attendance record. records/s = attendance records / that time;
* **latency** — AttendanceRecorded events are produced at a steady rate (default 1,000/s) straight
  onto the attendance topic; each one's latency is from its ``ce_time`` (stamped when it is sent)
  to the moment reporting's consumer applied it — the timestamp of its row in reporting's
  processed-event record, written in the transaction that updates the projection (the commit
  follows within the same batch, so this is a lower bound by at most one batch's work);
* **raw broker** — the same number of records, of the same size, produced (acks=all, idempotent)
  and drained by a bare aiokafka consumer, in the same run: the ceiling any pipeline on this broker
  and machine could reach.

Beside the throughput it prints the CPU each process (services, the broker's JVM, PostgreSQL) used in
that phase, how long each spent at 0.9 of a core or more (a single-threaded consumer there sets the
pace), and each service's peak memory.

    python bench/pipeline.py [--sessions 40] [--per-session 250] [--latency-records 5000] [--rate 1000]
                             [--postgres [ADMIN_URL]] [--certification-instances 2] [--tracing [OTLP_ENDPOINT]]

``--tracing``: the services trace (probidad.shared.tracing), exporting over OTLP/HTTP to the endpoint given,
else to a receiver that keeps nothing (bench/otlp_sink.py, its own process): compare with a run without it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contracts.envelope import seal, to_record
from contracts.events import (
    AttendanceRecorded,
    CoursePublished,
    EnrolmentConfirmed,
    InstitutionRegistered,
    ServantRegistered,
    SessionScheduled,
)
from contracts.topics import ATTENDANCE_EVENTS
from probidad.ops.demo import comptroller_token
from probidad.ops.platform import SERVICES, start_services, stop_services
from probidad.ops.localhost import eventually, free_port, process_stat
from probidad.shared.kafka import ensure_topics, partition_lag

ZONE = "America/Mexico_City"


def reference_facts(sessions: int, per_session: int) -> tuple[list, list[tuple[str, list[str], datetime]]]:
    facts: list = [
        InstitutionRegistered(institution_id="bench-inst", name="Secretaría de Prueba", government_level="state",
                              headcount=sessions * per_session * 2, headcount_year=2026),
        CoursePublished(course_id="bench-course", code="CE", title="Código de Ética", topic="Código de Ética",
                        hours=2, minimum_attendance_share=0.8, passing_score=None),
    ]
    plan = []
    first = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)
    for s in range(sessions):
        session_id = f"bench-s{s:04d}"
        starts = first + timedelta(days=s % 200, hours=3 * (s // 200))
        facts.append(SessionScheduled(session_id=session_id, course_id="bench-course", modality="virtual",
                                      platform="Zoom", starts_at=starts, ends_at=starts + timedelta(hours=2),
                                      timezone=ZONE, capacity=per_session, instructor_id="bench-instructor"))
        servants = [f"bench-p{s:04d}-{v:04d}" for v in range(per_session)]
        for servant in servants:
            facts.append(ServantRegistered(servant_id=servant, institution_id="bench-inst",
                                           sex=random.choice(("female", "male"))))
            facts.append(EnrolmentConfirmed(enrolment_id=f"e-{servant}", session_id=session_id, servant_id=servant,
                                            institution_id="bench-inst"))
        plan.append((session_id, servants, starts))
    return facts, plan


async def produce(bootstrap: str, topic_of, facts: list) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        pending = []
        for fact in facts:
            key, value, headers = to_record(seal(fact))
            pending.append(await producer.send(topic_of(fact), value, key=key,
                                               headers=[(k, v.encode()) for k, v in headers.items()]))
            if len(pending) >= 1000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def participations(http: httpx.AsyncClient, reporting: str) -> int:
    rows = (await http.get(f"{reporting}/reports/figures", params={"year": 2026})).json()["rows"]
    return rows[0]["participations"] if rows else 0


async def raw_broker_rate(bootstrap: str, prefix: str, count: int, size: int) -> tuple[float, float]:
    topic = f"{prefix}bench.raw"
    await ensure_topics(bootstrap, [topic])
    payload = b"x" * size
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    for partition in range(6):  # warm up: leaders elected, metadata known, before the clock starts
        await producer.send_and_wait(topic, payload, partition=partition)
    count_with_warmup = count + 6
    started = time.perf_counter()
    pending = [await producer.send(topic, payload, key=str(i % 64).encode()) for i in range(count)]
    await asyncio.gather(*pending)
    produced = time.perf_counter() - started
    await producer.stop()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=f"{prefix}raw")
    await consumer.start()
    seen = 0
    started = time.perf_counter()
    while seen < count_with_warmup:
        batch = await consumer.getmany(timeout_ms=500, max_records=5000)
        seen += sum(len(v) for v in batch.values())
    drained = time.perf_counter() - started
    await consumer.stop()
    return count / produced, count / drained


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--per-session", type=int, default=250)
    parser.add_argument("--latency-records", type=int, default=5000)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--postgres", nargs="?", const="postgresql+asyncpg://probidad@127.0.0.1:5433/probidad",
                        default="", metavar="ADMIN_URL", help="Give each service a throwaway PostgreSQL database "
                        "(created and dropped on this server) instead of a SQLite file.")
    parser.add_argument("--certification-instances", type=int, default=1,
                        help="Certification processes sharing its database (more than one needs --postgres).")
    parser.add_argument("--tracing", nargs="?", const="sink", default="", metavar="OTLP_ENDPOINT",
                        help="Services trace every request and record, exporting to this OTLP/HTTP endpoint "
                        "(e.g. http://127.0.0.1:4318), or without one to a receiver that keeps nothing.")
    args = parser.parse_args()
    random.seed(5)
    prefix = f"bench{uuid.uuid4().hex[:10]}."
    records = args.sessions * args.per_session
    state = Path(tempfile.mkdtemp(prefix="probidad-bench-"))
    database = "SQLite files"
    postgres, throwaway = None, []
    if args.postgres:
        from bench.enrollment_throughput import postgres as databases

        postgres = f"{args.postgres.rsplit('/', 1)[0]}/{prefix.rstrip('.')}_{{service}}"
        throwaway = [postgres.format(service=name).rsplit("/", 1)[1] for name, _port in SERVICES]
        await databases(args.postgres, "CREATE", throwaway)
        database = "PostgreSQL databases"
    print(f"pipeline benchmark: {args.sessions} sessions × {args.per_session} servants = {records} records; "
          f"{database}; {args.certification_instances} certification instance(s); topic namespace {prefix!r}; "
          f"state in {state}")
    traced, sink = tracing_environment(args.tracing)
    try:
        running = start_services(state, args.bootstrap, topic_prefix=prefix, base_port_offset=12000,
                                 postgres=postgres, instances={"certification": args.certification_instances},
                                 extra_env=traced)
    except Exception:
        if throwaway:
            await databases(args.postgres, "DROP", throwaway)
        if sink is not None:
            sink.terminate()
        raise
    urls = {s.name: s.url for s in running}
    try:
        facts, plan = reference_facts(args.sessions, args.per_session)
        await produce(args.bootstrap, lambda f: f"{prefix}{f.kafka_topic}", facts)
        token = comptroller_token()
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=120) as http:
            async def attendance_knows_everyone() -> bool:
                # Every session: its partitions may be consumed in any order.
                for session_id, servants, _ in reversed(plan):
                    body = (await http.get(f"{urls['attendance']}/sessions/{session_id}")).json()
                    if len(body.get("attendance", [])) != len(servants):
                        return False
                return True

            await eventually(attendance_knows_everyone, timeout_s=300, what="attendance knows every enrolment")
            for session_id, servants, starts in plan:
                lines = ["servant_id,joined_at,left_at"]
                for n, servant in enumerate(servants):
                    stay = 110 if n % 10 else 60  # nine in ten complete; one in ten leaves at half time
                    lines.append(f"{servant},{starts.isoformat()},{(starts + timedelta(minutes=stay)).isoformat()}")
                response = await http.post(f"{urls['attendance']}/sessions/{session_id}/reports",
                                           params={"format": "csv"}, content="\n".join(lines).encode())
                response.raise_for_status()
            expected = sum(1 for _s, servants, _ in plan for n in range(len(servants)) if n % 10)
            await eventually(lambda: _caught_up(args.bootstrap, prefix), timeout_s=600, interval_s=1,
                             what="every consumer caught up")
            print(f"set-up done: {len(facts)} reference facts consumed by every service, "
                  f"{records} attendance rows imported")

            # ---- throughput: close every session, wait for the projections
            # Each process by its log's name: certification, certification-2, …
            cpu_before = {s.log.stem: cpu_seconds(s.process.pid) for s in running}
            servers_before = server_cpu_seconds()
            cores: dict[str, list[float]] = {s.log.stem: [] for s in running}  # per process, per interval
            sampler = asyncio.create_task(sample_cores({s.log.stem: s.process.pid for s in running}, cores))
            started = time.perf_counter()
            gate = asyncio.Semaphore(4)

            async def close(session_id: str) -> None:
                async with gate:
                    (await http.post(f"{urls['attendance']}/sessions/{session_id}/close")).raise_for_status()

            await asyncio.gather(*(close(session_id) for session_id, _, _ in plan))
            closed = time.perf_counter() - started
            await eventually(lambda: _at_least(participations(http, urls["reporting"]), expected), timeout_s=1800,
                             interval_s=0.25, what="every certificate projected")
            elapsed = time.perf_counter() - started
            sampler.cancel()
            throughput = records / elapsed
            print(f"throughput: {records} attendance records from session close to certificates and updated "
                  f"projections in {elapsed:.1f}s (closing took {closed:.1f}s) = {throughput:,.0f} records/s; "
                  f"{expected} certificates")
            # Where the time went: a service near 1.0 core is the one that sets the pace.
            used = {s.log.stem: cpu_seconds(s.process.pid) - cpu_before[s.log.stem] for s in running}
            used.update({name: spent for name, seconds in server_cpu_seconds().items()
                         if (spent := seconds - servers_before.get(name, 0.0)) > 0.05})  # an idle server: not used
            print("CPU during that phase: " + ", ".join(
                f"{name} {seconds:.1f} s ({seconds / elapsed:.2f} core)" for name, seconds in used.items()
                if seconds == seconds))
            # A single-threaded process that spends most of the phase near a whole core sets the pace,
            # however idle the other core is.
            print(f"time each process spent at ≥ {PACE_SETTER:.1f} core (sampled every {SAMPLE_S} s): " + ", ".join(
                f"{name} {sum(SAMPLE_S for c in series if c >= PACE_SETTER):.1f} s (peak {max(series):.2f})"
                for name, series in cores.items() if series))
            print("peak memory so far (resident): " + ", ".join(
                f"{s.log.stem} {peak_resident_mb(s.process.pid):.0f} MB" for s in running))

        # ---- latency at a steady rate, straight onto the attendance topic
        _, servants, _ = plan[0]
        count = min(args.latency_records, len(servants) * len(plan))
        pairs = [(sid, servant) for sid, ss, _ in plan for servant in ss][:count]
        producer = AIOKafkaProducer(bootstrap_servers=args.bootstrap, acks="all", enable_idempotence=True,
                                    linger_ms=2)
        await producer.start()
        sent_at: dict[str, float] = {}
        tick = 0.01
        per_tick = max(1, round(args.rate * tick))
        started = time.monotonic()
        for i in range(0, count, per_tick):
            for session_id, servant in pairs[i:i + per_tick]:
                event = AttendanceRecorded(session_id=session_id, servant_id=servant, minutes_present=115,
                                           session_minutes=120, share=115 / 120, status="present",
                                           source_of_record="zoom")
                envelope = seal(event)
                key, value, headers = to_record(envelope)
                await producer.send(f"{prefix}{ATTENDANCE_EVENTS}", value, key=key,
                                    headers=[(k, v.encode()) for k, v in headers.items()])
                sent_at[envelope.id] = envelope.time.timestamp()
            delay = started + (i // per_tick + 1) * tick - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        await producer.flush()
        await producer.stop()
        offered = count / (time.monotonic() - started)

        async def applied() -> dict[str, float]:
            query = "SELECT event_id, processed_at FROM processed_event WHERE consumer_group = "
            if postgres:
                import asyncpg

                url = postgres.format(service="reporting").replace("postgresql+asyncpg://", "postgresql://")
                connection = await asyncpg.connect(url, timeout=5)
                try:
                    rows = await connection.fetch(query + "$1", "probidad-reporting")
                finally:
                    await connection.close()
                return {e: t.replace(tzinfo=t.tzinfo or UTC).timestamp() for e, t in rows if e in sent_at}
            with sqlite3.connect(state / "reporting.db") as db:
                rows = db.execute(query + "?", ("probidad-reporting",)).fetchall()
            return {e: datetime.fromisoformat(t).replace(tzinfo=UTC).timestamp() if "+" not in t
                    else datetime.fromisoformat(t).timestamp() for e, t in rows if e in sent_at}

        async def all_applied():
            done = await applied()
            return done if len(done) == len(sent_at) else None

        done = await eventually(all_applied, timeout_s=300, interval_s=0.5,
                                what="reporting applied every latency record")
        latencies = sorted(max(0.0, done[e] - sent_at[e]) for e in sent_at)
        p50 = statistics.median(latencies)
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        print(f"latency at {offered:,.0f} records/s offered ({count} AttendanceRecorded): "
              f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms "
              "(ce_time → reporting's transaction)")

        size = len(to_record(seal(AttendanceRecorded(session_id="bench-s0000", servant_id="bench-p0000-0000",
                                                     minutes_present=115, session_minutes=120, share=0.96,
                                                     status="present", source_of_record="zoom")))[1])
        produce_rate, drain_rate = await raw_broker_rate(args.bootstrap, prefix, records, size)
        raw = 1 / (1 / produce_rate + 1 / drain_rate)
        print(f"raw broker, same run: produce {produce_rate:,.0f} records/s (acks=all), drain {drain_rate:,.0f} "
              f"records/s; produce-then-drain {raw:,.0f} records/s")
        print(f"pipeline / raw broker: {throughput / raw:.3f}   (targets: ≥ 5,000 records/s; p99 ≤ 500 ms at 1,000/s)")
    finally:
        stop_services(running)
        if sink is not None:
            try:
                async with httpx.AsyncClient() as client:
                    got = (await client.get(f"{traced['OTEL_EXPORTER_OTLP_ENDPOINT']}/stats")).json()
                print(f"tracing: {got['spans']:,} spans received in {got['exports']:,} exports "
                      f"({got['bytes'] / 1e6:.1f} MB of OTLP)")
            finally:
                sink.terminate()
        if throwaway:
            await databases(args.postgres, "DROP", throwaway)


def tracing_environment(wanted: str) -> tuple[dict[str, str], subprocess.Popen | None]:
    """The services' OTEL_* variables for ``--tracing`` (none without it), and the receiver started for them."""
    if not wanted:
        print("tracing: off")
        return {}, None
    sink = None
    if wanted == "sink":
        port = free_port()
        sink = subprocess.Popen([sys.executable, str(Path(__file__).with_name("otlp_sink.py")), str(port)])
        wanted = f"http://127.0.0.1:{port}"
        time.sleep(1.0)  # the receiver binds its port
    print(f"tracing: on, OTLP/HTTP to {wanted}" + (" (a receiver that keeps nothing)" if sink else ""))
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": wanted}, sink


async def _caught_up(bootstrap: str, prefix: str) -> bool:
    """True when every service's consumer group has committed up to the end of its topics."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await probe.start()
    try:
        for group in ("probidad-attendance", "probidad-certification", "probidad-reporting"):
            committed = await admin.list_consumer_group_offsets(group)
            mine = [tp for tp in committed if tp.topic.startswith(prefix)]
            if not mine or any((await partition_lag(probe, committed, mine)).values()):
                return False
        return True
    finally:
        await probe.stop()
        await admin.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc); NaN where that is not available."""
    fields = process_stat(pid)
    if fields is None:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


SAMPLE_S = 0.25
PACE_SETTER = 0.9  # of one core


async def sample_cores(pids: dict[str, int], cores: dict[str, list[float]]) -> None:
    """Append each process's CPU use (in cores) over consecutive intervals of about SAMPLE_S to
    ``cores[name]``, until cancelled."""
    last = {name: cpu_seconds(pid) for name, pid in pids.items()}
    at = time.perf_counter()
    while True:
        await asyncio.sleep(SAMPLE_S)
        now, spent = time.perf_counter(), {name: cpu_seconds(pid) for name, pid in pids.items()}
        for name in pids:
            cores[name].append((spent[name] - last[name]) / (now - at))
        last, at = spent, now


SERVERS = {"java": "Kafka (JVM)", "postgres": "PostgreSQL"}


def server_cpu_seconds() -> dict[str, float]:
    """CPU time so far of the servers on this machine, summed over their processes (Linux /proc): the
    broker's JVM and, when used, PostgreSQL's processes. Empty where /proc is not available."""
    totals: dict[str, float] = {}
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            name = SERVERS.get(comm.read_text().strip())
        except OSError:  # the process has just ended
            continue
        spent = cpu_seconds(int(comm.parent.name)) if name else float("nan")
        if spent == spent:
            totals[name] = totals.get(name, 0.0) + spent
    return totals


def peak_resident_mb(pid: int) -> float:
    """Peak resident set size of a process (Linux /proc VmHWM), in MB; NaN where that is not available."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


async def _at_least(value, target: int) -> bool:
    return (await value) >= target


if __name__ == "__main__":
    asyncio.run(main())

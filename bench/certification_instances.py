"""Certification decisions per second on PostgreSQL with one instance, against two instances at once.

The programme of ``bench/certification_decisions.py`` (three facts per servant, 30 servants a session,
six courses) is split by session into two streams, as Kafka partitions would split it; course
publications go to the first. The baseline: one process applies both streams (batches of 500, the live
path: ``IdempotentConsumer.process_batch``). Then two processes, one per stream, apply them at the same
time into another fresh database. Both end with the same certificates (checked). The ratio says what a
second instance adds: 1.0 when instances take turns, up to 2.0 with a core each; here the database
server shares the same cores.

    python bench/certification_instances.py [--servants 4000] [--postgres ADMIN_URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.certification_decisions import programme
from bench.enrollment_throughput import postgres as databases


def _shard(record: tuple) -> int:
    session_id = json.loads(record[2]).get("session_id")
    return 0 if session_id is None else int(session_id.split("-")[1]) // 30 % 2


def _runtime(url: str, state: str):
    from services.certification.app import create_runtime
    from services.certification.settings import CertificationSettings

    return create_runtime(CertificationSettings(state_dir=Path(state), database_url=url, log_level="WARNING"))


async def _schema(url: str, state: str) -> None:
    runtime = _runtime(url, state)  # also makes the signing key every instance shares
    await runtime.database.create_schema(runtime.tables)
    await runtime.database.dispose()


async def _apply(url: str, state: str, records: list) -> None:
    runtime = _runtime(url, state)
    consumer = runtime.consumers[0][0]
    for begin in range(0, len(records), 500):
        batch = [(topic, 0, begin + i, key, value, headers)
                 for i, (topic, key, value, headers) in enumerate(records[begin:begin + 500])]
        outcomes = await consumer.process_batch(batch)
        assert outcomes == {"applied": len(batch)}, outcomes
    await runtime.database.dispose()


def _instance(url: str, state: str, records: list, ready, go) -> None:
    ready.set()
    go.wait()
    asyncio.run(_apply(url, state, records))


def run(url: str, state: str, streams: list[list]) -> float:
    """Seconds for one process per stream, started together, to apply every stream."""
    asyncio.run(_schema(url, state))
    context = multiprocessing.get_context("spawn")
    go = context.Event()
    readies, processes = [], []
    for stream in streams:
        ready = context.Event()
        processes.append(context.Process(target=_instance, args=(url, state, stream, ready, go)))
        readies.append(ready)
        processes[-1].start()
    for ready in readies:
        ready.wait()
    started = time.perf_counter()
    go.set()
    for process in processes:
        process.join()
        assert process.exitcode == 0, process.exitcode
    return time.perf_counter() - started


async def _certificates(url: str) -> list:
    import asyncpg

    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"), timeout=5)
    try:
        return [tuple(r) for r in await connection.fetch(
            "SELECT certificate_id, status, signature FROM certification_certificate ORDER BY certificate_id")]
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servants", type=int, default=4000)
    parser.add_argument("--postgres", default="postgresql+asyncpg://probidad@127.0.0.1:5433/probidad",
                        metavar="ADMIN_URL", help="A server where throwaway databases are created and dropped.")
    args = parser.parse_args()
    records = [(topic, key, value, headers) for topic, key, value, headers in programme(args.servants)]
    streams: list[list] = [[], []]
    for record in records:
        streams[_shard((record[0], record[1], record[2]))].append(record)
    names = [f"bench_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    base = args.postgres.rsplit("/", 1)[0]
    with tempfile.TemporaryDirectory(prefix="certification-bench-") as state:
        asyncio.run(databases(args.postgres, "CREATE", names))
        try:
            one = run(f"{base}/{names[0]}", state, [streams[0] + streams[1]])
            two = run(f"{base}/{names[1]}", state, streams)
            same = asyncio.run(_certificates(f"{base}/{names[0]}")) == asyncio.run(_certificates(f"{base}/{names[1]}"))
        finally:
            asyncio.run(databases(args.postgres, "DROP", names))
    n = len(records)
    print(f"facts: {n} (streams of {len(streams[0])} and {len(streams[1])})")
    print(f"one instance:             {n / one:,.0f} facts/s ({one:.2f} s)")
    print(f"two instances at once:    {n / two:,.0f} facts/s ({two:.2f} s)")
    print(f"two / one: {one / two:.2f}   (1.0 = the instances take turns; same certificates: {same})")
    assert same, "two instances decided differently from one"


if __name__ == "__main__":
    main()

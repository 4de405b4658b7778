"""Rebuild rate of the reporting projection against a bare aiokafka consumer draining the same topics.

    python bench/reporting_rebuild.py [--events 1000000] [--database-url URL]

Writes a generated programme (probidad/ops/programme.py, scaled up) of ``--events`` events to fresh
topics on the broker, then measures in the same run:

* baseline: a bare AIOKafkaConsumer (no group, no decoding) reading every record, with getmany;
* rebuild: ``rebuild_from_kafka`` — decode and validate every record, reduce it to a fact, bulk-insert
  into a fresh generation of the store, swap it in.

Prints both rates (events/s) and their ratio (target: at least 0.5), in wall-clock time and in CPU
time (events per CPU-second of this process): on a machine shared with
other work the wall clock mostly measures the neighbours, CPU time measures the code.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contracts.envelope import to_record  # noqa: E402
from contracts.topics import ATTENDANCE_EVENTS, CERTIFICATION_EVENTS, ENROLLMENT_EVENTS  # noqa: E402
from probidad.ops.programme import generate, scaled_plan  # noqa: E402
from probidad.shared.database import Database  # noqa: E402
from probidad.shared.kafka import ensure_topics  # noqa: E402
from services.reporting.rebuild import rebuild_from_kafka  # noqa: E402
from services.reporting.repository import pointer  # noqa: E402

TOPICS = (ENROLLMENT_EVENTS, ATTENDANCE_EVENTS, CERTIFICATION_EVENTS)
EVENTS_PER_BULLETIN = 13_500  # roughly what one bulletin-sized programme holds


def records_for(count: int) -> list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]]:
    """A programme big enough for ``count`` events, serialised as the relays would write it."""
    scale = max(1, -(-count // EVENTS_PER_BULLETIN))
    out = []
    for envelope in generate(scaled_plan(scale)).envelopes[:count]:
        key, value, headers = to_record(envelope)
        out.append((envelope.event.kafka_topic, key, value, [(k, v.encode()) for k, v in headers.items()]))
    return out


async def produce(bootstrap: str, prefix: str, records) -> float:  # noqa: ANN001
    await ensure_topics(bootstrap, [prefix + t for t in TOPICS])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=50,
                                max_batch_size=1024 * 1024, max_request_size=8 * 1024 * 1024)
    await producer.start()
    started = time.perf_counter()
    try:
        for topic, key, value, headers in records:
            await producer.send(prefix + topic, value, key=key, headers=headers)
        await producer.flush()
    finally:
        await producer.stop()
    return time.perf_counter() - started


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


async def drain(bootstrap: str, topics: list[str]) -> tuple[int, float, float]:
    """The baseline: read every record of the topics as fast as aiokafka hands them over."""
    started, cpu = time.perf_counter(), cpu_seconds()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", fetch_max_bytes=64 * 1024 * 1024,
                                max_partition_fetch_bytes=16 * 1024 * 1024)
    await consumer.start()
    try:
        await consumer.topics()
        await consumer._client.force_metadata_update()  # noqa: SLF001
        partitions = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if ends[tp] > 0}
        count = 0
        while remaining:
            fetched = await consumer.getmany(*remaining, timeout_ms=1000, max_records=20_000)
            for records in fetched.values():
                count += len(records)
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return count, time.perf_counter() - started, cpu_seconds() - cpu


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--database-url", default="", help="Default: a fresh SQLite file.")
    parser.add_argument("--workers", type=int, default=None, help="Rebuild worker processes (default: the rebuild's).")
    args = parser.parse_args()

    prefix = f"bench{uuid.uuid4().hex[:8]}."
    topics = [prefix + t for t in TOPICS]
    started = time.perf_counter()
    records = records_for(args.events)
    print(f"generated {len(records):,} events in {time.perf_counter() - started:.1f}s")
    seconds = await produce(args.bootstrap, prefix, records)
    print(f"produced them to {prefix}* in {seconds:.1f}s ({len(records) / seconds:,.0f} events/s)")
    del records

    baseline_count, baseline_s, baseline_cpu = await drain(args.bootstrap, topics)
    print(f"bare aiokafka consumer: {baseline_count:,} events in {baseline_s:.2f}s "
          f"= {baseline_count / baseline_s:,.0f} events/s ({baseline_count / baseline_cpu:,.0f} per CPU-second)")

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'reporting.db'}"
        database = Database(url)
        cpu = cpu_seconds()
        try:
            report = await rebuild_from_kafka(database, args.bootstrap, topics, workers=args.workers)
            rebuild_cpu = cpu_seconds() - cpu
            facts = (await pointer(database))["facts"]
        finally:
            await database.dispose()
    rate = report.records / report.seconds
    print(f"reporting rebuild ({url.split(':', 1)[0]}): {report.records:,} events -> {facts:,} facts in "
          f"{report.seconds:.2f}s = {rate:,.0f} events/s ({report.records / rebuild_cpu:,.0f} per CPU-second)")

    # The neighbours' load drifts: measure the baseline again and compare with the mean of both runs.
    again_count, again_s, again_cpu = await drain(args.bootstrap, topics)
    print(f"bare aiokafka consumer again: {again_count / again_s:,.0f} events/s "
          f"({again_count / again_cpu:,.0f} per CPU-second)")
    baseline = (baseline_count / baseline_s + again_count / again_s) / 2
    baseline_per_cpu = (baseline_count / baseline_cpu + again_count / again_cpu) / 2
    print(f"ratio rebuild / bare consumer, wall clock = {rate / baseline:.2f} (target >= 0.5)")
    print(f"ratio rebuild / bare consumer, CPU time   = {report.records / rebuild_cpu / baseline_per_cpu:.2f}")


if __name__ == "__main__":
    asyncio.run(main())

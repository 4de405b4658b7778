"""Rebuild rate of the reporting projection against a bare aiokafka consumer draining the same topics.

    python bench/reporting_rebuild.py [--events 1000000] [--database-url URL]

Writes a generated programme (probidad/ops/programme.py, scaled up) of ``--events`` events, its
oversight facts among them (requirements, exemptions, leavings, moves, an annual plan), to fresh
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
import random
import resource
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contracts.envelope import Envelope, seal, to_record
from contracts.events import (
    CoursePublished, DueRule, ExemptionGranted, PlanTarget, RequirementScope, ServantLeft, ServantRegistered,
    ServantTransferred, TrainingPlanDeclared, TrainingRequirementDeclared,
)
from contracts.topics import ATTENDANCE_EVENTS, CERTIFICATION_EVENTS, ENROLLMENT_EVENTS
from probidad.ops.programme import generate, scaled_plan
from probidad.shared.database import Database
from probidad.shared.kafka import ensure_topics
from services.reporting.rebuild import rebuild_from_kafka
from services.reporting.repository import pointer

TOPICS = (ENROLLMENT_EVENTS, ATTENDANCE_EVENTS, CERTIFICATION_EVENTS)
EVENTS_PER_BULLETIN = 13_500  # roughly what one bulletin-sized programme holds


OVERSIGHT_SHARE = 0.03  # of the servants: as many leave, as many move, a third as many are exempted


def oversight_envelopes(envelopes: list[Envelope], seed: int = 7) -> list[Envelope]:
    """The comptroller's oversight facts for the servants and courses in ``envelopes``: leavings and
    moves of a few per cent of the servants, three requirements (one per due rule), exemptions and an
    annual plan — what the compliance and plan projections read on a rebuild."""
    rng = random.Random(seed)
    servants = [e.event for e in envelopes if isinstance(e.event, ServantRegistered)]
    courses = [e.event for e in envelopes if isinstance(e.event, CoursePublished)]
    institutions = sorted({s.institution_id for s in servants})
    if not servants or not courses:
        return []
    at = max(e.time for e in envelopes) + timedelta(seconds=1)
    day = at.date()
    picked = rng.sample(servants, min(len(servants), int(len(servants) * OVERSIGHT_SHARE * 2.34)))
    leaving, moving, exempt = (picked[:len(picked) * 3 // 7], picked[len(picked) * 3 // 7:len(picked) * 6 // 7],
                               picked[len(picked) * 6 // 7:])
    events: list = []
    rules = ({"kind": "within_days_of_joining", "days": 90}, {"kind": "yearly_by", "month": 12, "day": 31},
             {"kind": "renewal", "months": 12, "days": 180})
    for n, (course, due) in enumerate(zip(courses, rules)):
        events.append(TrainingRequirementDeclared(
            requirement_id=f"rq-bench-{n}", version=1, effective_from=day - timedelta(days=365), title=course.title,
            course_id=course.course_id, scope=RequirementScope(), due=DueRule(**due), declared_at=at,
            declared_by="comptroller:bench"))
    for s in leaving:
        events.append(ServantLeft(servant_id=s.servant_id, institution_id=s.institution_id, left_on=day,
                                  recorded_by="bench"))
    for n, s in enumerate(moving):
        to = next(i for i in rng.sample(institutions, min(3, len(institutions))) if i != s.institution_id) \
            if len(institutions) > 1 else s.institution_id
        events.append(ServantTransferred(
            servant_id=s.servant_id, transfer_id=f"tr-bench-{n}", from_institution_id=s.institution_id,
            to_institution_id=to, effective_on=day, sex=s.sex, position_level=s.position_level,
            requested_by="bench", approved_by="bench", approved_at=at))
    for n, s in enumerate(exempt):
        events.append(ExemptionGranted(exemption_id=f"ex-bench-{n}", requirement_id="rq-bench-0",
                                       servant_id=s.servant_id, reason="bench", effective_from=day,
                                       granted_by="bench", granted_at=at))
    events.append(TrainingPlanDeclared(
        plan_id="pl-bench", year=day.year, version=1, declared_at=at, declared_by="comptroller:bench",
        targets=[PlanTarget(month=m, institution_id=i, topic=c.topic, sessions=2, people=20, hours=c.hours * 2)
                 for m in range(1, 13) for i in institutions[:20] for c in {c.topic: c for c in courses}.values()]))
    return [seal(event, time=at) for event in events]


def records_for(count: int) -> list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]]:
    """A programme big enough for ``count`` events, with its oversight facts, serialised as the relays
    would write it."""
    scale = max(1, -(-count // EVENTS_PER_BULLETIN))
    programme = generate(scaled_plan(scale)).envelopes
    oversight = oversight_envelopes(programme)
    out = []
    for envelope in programme[:max(0, count - len(oversight))] + oversight:
        key, value, headers = to_record(envelope)
        out.append((envelope.event.kafka_topic, key, value, [(k, v.encode()) for k, v in headers.items()]))
    return out


async def produce(bootstrap: str, prefix: str, records) -> float:
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

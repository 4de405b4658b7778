"""The rebuild with worker processes (``parallel.rebuild_in_parallel``) against the real broker: the
same facts, the same counts and the same figures as the single-process rebuild, on SQLite and
PostgreSQL, with redelivered copies and an invalid record in the topics."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from contracts.envelope import to_record
from probidad.ops.programme import generate, small_plan
from probidad.shared.database import Database
from services.reporting.rebuild import rebuild_from_kafka
from services.reporting.rebuild.parallel import split
from services.reporting.repository import FACTS, pointer
from tests.e2e.test_reporting_e2e import TOPICS, facts_in, produce

pytestmark = pytest.mark.kafka
PROGRAMME = generate(small_plan(seed=5))


async def facts_served(database: Database) -> list[tuple]:
    generation = (await pointer(database))["generation"]
    columns = [FACTS.c[c] for c in ("event_id", "kind", "known_at", "subject", "session_id", "servant_id",
                                    "attributes")]
    async with database.transaction() as session:
        return sorted(tuple(r) for r in (await session.execute(select(*columns).where(
            FACTS.c.generation == generation))).all())


async def produce_broken(bootstrap: str, prefix: str) -> None:
    """A record of a kept type whose value is not JSON: the live consumer dead-letters it."""
    envelope = PROGRAMME.envelopes[0]
    key, _, headers = to_record(envelope)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(f"{prefix}{envelope.event.kafka_topic}", b"{not json", key=key,
                                     headers=[(k, v.encode()) for k, v in headers.items()])
    finally:
        await producer.stop()


async def test_workers_give_the_single_process_rebuild_s_facts(kafka_bootstrap, topic_prefix, database_url):
    envelopes = PROGRAMME.envelopes + PROGRAMME.envelopes[:60]  # redelivered: later offsets, same partitions
    await produce(kafka_bootstrap, topic_prefix, envelopes)
    await produce_broken(kafka_bootstrap, topic_prefix)
    topics = [topic_prefix + t for t in TOPICS]
    database = Database(database_url)
    try:
        alone = await rebuild_from_kafka(database, kafka_bootstrap, topics, workers=1)
        single = await facts_served(database)
        seen: list[tuple[int, int | None]] = []
        together = await rebuild_from_kafka(database, kafka_bootstrap, topics, workers=2,
                                            progress=lambda done, total: seen.append((done, total)))
        parallel = await facts_served(database)
    finally:
        await database.dispose()
    assert together.generation == alone.generation + 1
    assert (together.records, together.facts, together.invalid) == (alone.records, alone.facts, alone.invalid)
    assert together.records == len(envelopes) + 1 and together.invalid == 1
    assert parallel == single
    assert len(parallel) == facts_in(PROGRAMME.envelopes)
    assert seen and seen[-1] == (together.records, together.records)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_partitions_are_shared_out_by_their_number_of_records():
    shares = split({"a": 10, "b": 7, "c": 5, "d": 3, "e": 0}, 2)
    assert sorted(map(sorted, shares)) == [["a", "d"], ["b", "c", "e"]]
    assert split({"a": 1}, 3) == [["a"]]

"""Read a topic back from the real broker, as any outside consumer would."""

from __future__ import annotations

import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from contracts.envelope import Envelope, open_envelope, seal, to_record
from contracts.base import Event
from probidad.ops.localhost import eventually

__all__ = ["eventually", "publish_events", "read_events", "read_topic"]


async def read_topic(bootstrap: str, topic: str, *, expect: int | None = None, timeout_s: float = 20.0) -> list:
    """All records of ``topic`` from offset 0 (waits until at least ``expect`` are there)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    records = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for recs in batch.values():
                records.extend(recs)
            if expect is not None and len(records) >= expect:
                break
            if expect is None and not batch and records:
                break
    finally:
        await consumer.stop()
    return records


async def read_events(bootstrap: str, topic: str, *, expect: int | None = None,
                      timeout_s: float = 20.0) -> list[Envelope]:
    records = await read_topic(bootstrap, topic, expect=expect, timeout_s=timeout_s)
    return [open_envelope(r.headers, r.value) for r in records]


async def publish_events(bootstrap: str, events: list[Event], *, topic_prefix: str = "",
                         correlation_id: str | None = None) -> list[Envelope]:
    """Publish events the way an outside producer (an agency's system) would.

    The topics are created first if the test's namespace does not have them yet (in production the
    platform's topics always exist; the broker does not auto-create topics).
    """
    from probidad.shared.kafka import ensure_topics

    await ensure_topics(bootstrap, {f"{topic_prefix}{event.kafka_topic}" for event in events})
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    sent = []
    try:
        for event in events:
            envelope = seal(event, correlation_id=correlation_id)
            key, value, headers = to_record(envelope)
            await producer.send_and_wait(f"{topic_prefix}{event.kafka_topic}", value, key=key,
                                         headers=[(k, v.encode()) for k, v in headers.items()])
            sent.append(envelope)
    finally:
        await producer.stop()
    return sent



"""Raw Kafka records for the bad-input tests: sent byte for byte, read back, and counted."""

from __future__ import annotations

import os

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from contracts.base import Event
from contracts.envelope import seal, to_record
from probidad.ops.localhost import process_stat
from probidad.shared.kafka import partition_lag

# A record is what a producer controls: key, value and headers, as bytes (None where Kafka allows it).
Headers = list[tuple[str, bytes | None]]
RawRecord = tuple[bytes | None, bytes | None, Headers]

# Room for a record of about a megabyte; the platform's own producers keep Kafka's default of 1 MiB.
LARGE_REQUESTS = 2 * 1024 * 1024


def wire(event: Event, *, event_id: str | None = None) -> RawRecord:
    """``event`` as the platform sends it."""
    key, value, headers = to_record(seal(event, event_id=event_id))
    return key, value, [(name, text.encode()) for name, text in headers.items()]


async def send_raw(bootstrap: str, topic_records: list[tuple[str, RawRecord]]) -> None:
    """Send records in order (one partition keeps the order of one key) and wait for every ack."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                                max_request_size=LARGE_REQUESTS, linger_ms=5)
    await producer.start()
    try:
        pending = [await producer.send(topic, value, key=key, headers=headers)
                   for topic, (key, value, headers) in topic_records]
        for sent in pending:
            await sent
    finally:
        await producer.stop()


async def read_all(bootstrap: str, topic: str) -> list:
    """Every record of ``topic`` up to its end offsets at the time of the call."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                                max_partition_fetch_bytes=LARGE_REQUESTS, fetch_max_bytes=8 * LARGE_REQUESTS)
    await consumer.start()
    records = []
    try:
        partitions = [TopicPartition(topic, p) for p in await consumer._client._wait_on_metadata(topic) or ()]  # noqa: SLF001
        if not partitions:
            return []
        ends = await consumer.end_offsets(partitions)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        remaining = {tp for tp in partitions if ends[tp] > 0}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=500)
            for tp, recs in batch.items():
                records.extend(r for r in recs if r.offset < ends[tp])
                if recs and recs[-1].offset >= ends[tp] - 1:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return records


async def group_lag(bootstrap: str, group: str, topics: list[str]) -> int:
    """Records of ``topics`` the consumer group has not committed yet."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await probe.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        total = 0
        for topic in topics:
            partitions = await probe._client._wait_on_metadata(topic) or set()  # noqa: SLF001
            tps = [TopicPartition(topic, p) for p in partitions]
            total += sum((await partition_lag(probe, committed, tps)).values())
        return total
    finally:
        await probe.stop()
        await admin.close()


def letter_headers(letter) -> dict[str, str]:
    return {name: (raw or b"").decode(errors="replace") for name, raw in letter.headers}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc."""
    fields = process_stat(pid)
    assert fields is not None, f"no process {pid}"
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def topic_retention_ms(bootstrap: str, topic: str) -> str:
    """The ``retention.ms`` the broker holds for ``topic``."""
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic, None)])
    finally:
        await admin.close()
    # resources: (error_code, error_message, type, name, [(config name, value, …), …])
    [(_code, _message, _type, _name, entries)] = response.resources
    return next(entry[1] for entry in entries if entry[0] == "retention.ms")

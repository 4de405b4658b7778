"""What a rebuild reads: every record of the platform topics up to the end offsets found when it starts.

A bare aiokafka consumer (no consumer group): it never disturbs the live service's offsets.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition


class KafkaSnapshot:
    """Every record of ``topics`` from the beginning up to the end offsets found at ``open``."""

    def __init__(self, bootstrap: str, topics: Sequence[str], *, max_records: int = 20_000) -> None:
        self.bootstrap = bootstrap
        self.topics = list(topics)
        self.max_records = max_records
        self.total = 0
        self.begins: dict[TopicPartition, int] = {}
        self.ends: dict[TopicPartition, int] = {}
        self._consumer: AIOKafkaConsumer | None = None

    async def open(self) -> "KafkaSnapshot":
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
                                    auto_offset_reset="earliest", fetch_max_bytes=64 * 1024 * 1024,
                                    max_partition_fetch_bytes=16 * 1024 * 1024)
        await consumer.start()
        self._consumer = consumer
        known = await consumer.topics()
        await consumer._client.force_metadata_update()  # noqa: SLF001 — partitions of unsubscribed topics
        partitions = [TopicPartition(t, p) for t in self.topics if t in known
                      for p in sorted(consumer.partitions_for_topic(t) or ())]
        if partitions:
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            begins = await consumer.beginning_offsets(partitions)
            ends = await consumer.end_offsets(partitions)
            self.begins = {tp: begins[tp] for tp in partitions if ends[tp] > begins[tp]}
            self.ends = {tp: ends[tp] for tp in partitions if ends[tp] > begins[tp]}
            self.total = sum(ends[tp] - begins[tp] for tp in partitions)
        return self

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def batches(self) -> AsyncIterator[list[Any]]:
        consumer = self._consumer
        assert consumer is not None, "open() first"
        remaining = dict(self.ends)
        for tp in list(remaining):
            if await consumer.position(tp) >= remaining[tp]:
                del remaining[tp]
        while remaining:
            fetched = await consumer.getmany(*remaining, timeout_ms=1000, max_records=self.max_records)
            for tp, records in fetched.items():
                end = remaining.get(tp)
                if end is None:
                    continue
                yield [r for r in records if r.offset < end] if records[-1].offset >= end else records
            for tp in list(remaining):
                if await consumer.position(tp) >= remaining[tp]:
                    del remaining[tp]

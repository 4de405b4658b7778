"""The Kafka client's repeated complaints are cut to one line a minute per kind; the platform's are not."""

from __future__ import annotations

import logging

from probidad.shared.logs import RateLimited


def record(name: str, message: str, at: float, *args) -> logging.LogRecord:
    line = logging.LogRecord(name, logging.ERROR, __file__, 1, message, args, None)
    line.created = at
    return line


def test_a_kafka_client_message_repeated_for_a_minute_passes_once_then_once_a_minute_with_a_count() -> None:
    limit = RateLimited(interval_s=60)
    shown = [r for n in range(600) if limit.filter(r := record("aiokafka", "Unable connect to node with id %s",
                                                               n * 0.1, 0))]
    assert len(shown) == 1  # 60 s of one line every 100 ms
    later = record("aiokafka", "Unable connect to node with id %s", 61.0, 0)
    assert limit.filter(later) and "599 more like it" in later.getMessage()


def test_each_kind_of_message_and_every_other_logger_passes_on_its_own() -> None:
    limit = RateLimited(interval_s=60)
    assert limit.filter(record("aiokafka.consumer.fetcher", "Failed fetch messages from %s", 1.0, 0))
    assert limit.filter(record("aiokafka", "Unable to update metadata from %s", 1.0, [0]))
    assert all(limit.filter(record("uvicorn.error", "something", n)) for n in range(100))

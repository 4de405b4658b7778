"""The shared plumbing against the real Kafka broker."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from contracts.envelope import seal, to_record
from contracts.topics import ENROLLMENT_EVENTS, dead_letter_topic
from probidad.shared.settings import ServiceSettings
from tests.support import ledger
from tests.support.kafka_tools import eventually, publish_events, read_topic
from tests.support.ledger import institution
from tests.support.processes import ROOT

GROUP = "probidad-ledger"


@pytest.fixture
async def running_ledger(kafka_bootstrap: str, topic_prefix: str, tmp_path):
    settings = ServiceSettings(service_name="ledger", kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix,
                               state_dir=tmp_path)
    runtime = ledger.create_runtime(settings, group=GROUP)
    await runtime.start()
    yield runtime
    await runtime.stop()


async def test_an_event_committed_through_the_outbox_reaches_a_faststream_subscriber(running_ledger) -> None:
    async with running_ledger.unit_of_work() as uow:
        uow.record([institution("inst-out", 310)])
    assert await eventually(lambda: ledger.ledger_rows(running_ledger)) == [("inst-out", 310)]


async def test_kcat_reads_the_published_event_with_its_cloudevents_headers(
        running_ledger, kafka_bootstrap: str, topic_prefix: str, kcat: str) -> None:
    async with running_ledger.unit_of_work() as uow:
        (envelope,) = uow.record([institution("inst-kcat", 55)], correlation_id="flow-42")
    await running_ledger.relay.drain()
    topic = f"{topic_prefix}{ENROLLMENT_EVENTS}"
    out = subprocess.run(
        [kcat, "-b", kafka_bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-J"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout
    records = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert len(records) == 1
    record = records[0]
    headers = dict(zip(record["headers"][::2], record["headers"][1::2], strict=True))
    assert record["key"] == "inst-kcat"
    assert headers["ce_id"] == envelope.id
    assert headers["ce_type"] == "probidad.enrollment.institution.registered.v1"
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_source"] == "probidad/enrollment"
    assert headers["ce_correlationid"] == "flow-42"
    assert headers["content-type"] == "application/json"
    assert json.loads(record["payload"]) == institution("inst-kcat", 55).model_dump(mode="json")


async def test_a_redelivered_event_has_no_second_effect(running_ledger, kafka_bootstrap: str,
                                                        topic_prefix: str) -> None:
    envelope = seal(institution("inst-twice", 12))
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    key, value, headers = to_record(envelope)
    for _ in range(2):  # the same event (same ce_id) delivered twice, as after a producer retry
        await producer.send_and_wait(f"{topic_prefix}{ENROLLMENT_EVENTS}", value, key=key,
                                     headers=[(k, v.encode()) for k, v in headers.items()])
    await publish_events(kafka_bootstrap, [institution("inst-after", 1)], topic_prefix=topic_prefix)
    await producer.stop()
    rows = await eventually(lambda: _rows_once(running_ledger, 2))
    assert sorted(rows) == [("inst-after", 1), ("inst-twice", 12)]  # different keys: any order


async def _rows_once(runtime, at_least: int):
    rows = await ledger.ledger_rows(runtime)
    return rows if len(rows) >= at_least else None


async def test_a_malformed_message_goes_to_the_dead_letter_topic_and_the_next_one_is_processed(
        running_ledger, kafka_bootstrap: str, topic_prefix: str) -> None:
    from aiokafka import AIOKafkaProducer

    topic = f"{topic_prefix}{ENROLLMENT_EVENTS}"
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    await producer.send_and_wait(topic, b'{"institution_id": "x", "headcount": -3}', key=b"x", headers=[
        ("ce_specversion", b"1.0"), ("ce_id", b"broken-1"), ("ce_source", b"agency-hr"),
        ("ce_type", b"probidad.enrollment.institution.registered.v1")])
    await producer.stop()
    await publish_events(kafka_bootstrap, [institution("inst-good", 7)], topic_prefix=topic_prefix)

    assert await eventually(lambda: ledger.ledger_rows(running_ledger)) == [("inst-good", 7)]
    letters = await read_topic(kafka_bootstrap, dead_letter_topic(topic, GROUP), expect=1)
    assert len(letters) == 1
    headers = {k: v.decode() for k, v in letters[0].headers}
    assert letters[0].value == b'{"institution_id": "x", "headcount": -3}'
    assert "violates its schema" in headers["dlq_reason"] and "headcount" in headers["dlq_reason"]
    assert headers["dlq_original_topic"] == topic
    assert headers["dlq_original_offset"] == "0"
    assert headers["dlq_consumer_group"] == GROUP
    assert headers["ce_id"] == "broken-1"


async def _committed_offset(bootstrap: str, group: str, topic: str) -> int | None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    total = [meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset >= 0]
    return sum(total) if total else None


async def test_a_crash_between_the_database_commit_and_the_offset_commit_gives_exactly_one_effect(
        kafka_bootstrap: str, topic_prefix: str, tmp_path) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    topic = f"{topic_prefix}{ENROLLMENT_EVENTS}"
    env = {**os.environ, "PROBIDAD_KAFKA_BOOTSTRAP": kafka_bootstrap, "PROBIDAD_TOPIC_PREFIX": topic_prefix,
           "PROBIDAD_DATABASE_URL": database, "PROBIDAD_STATE_DIR": str(tmp_path), "LEDGER_GROUP": GROUP}
    await publish_events(kafka_bootstrap, [institution("inst-crash", 99)], topic_prefix=topic_prefix)

    crashed = subprocess.run([sys.executable, "-m", "tests.support.crash_consumer"], cwd=ROOT,
                             env={**env, "CRASH_AFTER_COMMIT": "1"}, capture_output=True, timeout=90)
    assert crashed.returncode == 17, crashed.stdout.decode()[-2000:]
    assert await _committed_offset(kafka_bootstrap, GROUP, topic) is None, "the offset must not be committed yet"

    settings = ServiceSettings(service_name="ledger", database_url=database)
    probe = ledger.create_runtime(settings, group="probe-only")
    assert await ledger.ledger_rows(probe) == [("inst-crash", 99)], "the effect was committed before the crash"

    restarted = subprocess.Popen([sys.executable, "-m", "tests.support.crash_consumer"], cwd=ROOT, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        # The restarted consumer gets the same record again and commits its offset…
        await eventually(lambda: _committed_offset(kafka_bootstrap, GROUP, topic), timeout_s=60)
        await asyncio.sleep(0.5)
    finally:
        restarted.terminate()
        restarted.wait(timeout=30)
    # …without applying it a second time.
    assert await ledger.ledger_rows(probe) == [("inst-crash", 99)]
    await probe.database.dispose()


async def test_consumer_lag_counts_events_not_yet_committed_by_the_group(
        running_ledger, kafka_bootstrap: str, topic_prefix: str) -> None:
    from aiokafka import AIOKafkaConsumer

    from probidad.shared.kafka import LagMonitor
    from probidad.shared.metrics import CONSUMER_LAG

    topic = f"{topic_prefix}{ENROLLMENT_EVENTS}"
    consumer = running_ledger.consumers[0][0]
    await publish_events(kafka_bootstrap, [institution(f"inst-lag-{i}") for i in range(3)], topic_prefix=topic_prefix)
    await eventually(lambda: _rows_once(running_ledger, 3))

    monitor = LagMonitor(kafka_bootstrap, [(consumer, [topic])])
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    probe = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, enable_auto_commit=False)
    await admin.start()
    await probe.start()
    try:
        await probe._client.force_metadata_update()  # noqa: SLF001
        lag_when_caught_up = await eventually(
            lambda: _lag_is(monitor, admin, probe, GROUP, topic, 0), timeout_s=20)
        # A group that never consumed lags by every event in the topic.
        stranger = ledger.create_runtime(ServiceSettings(service_name="ledger"), group="never-consumed").consumers[0][0]
        lags = await LagMonitor(kafka_bootstrap, [(stranger, [topic])]).measure(admin, probe)
    finally:
        await probe.stop()
        await admin.close()
    assert lag_when_caught_up == (0,)
    assert lags[("never-consumed", topic)] == 3
    assert CONSUMER_LAG.labels("never-consumed", topic)._value.get() == 3


async def _lag_is(monitor, admin, probe, group, topic, expected):
    lags = await monitor.measure(admin, probe)
    return (lags[(group, topic)],) if lags[(group, topic)] == expected else None

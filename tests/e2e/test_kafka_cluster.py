"""A real three-node Kafka cluster survives losing a broker without losing acknowledged messages.

Runs its own cluster (tmp state dir, ports from 19092 up) so it never touches a developer's broker
on 9092. Needs java (and mvn, or the jars already in the cache).
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from typer.testing import CliRunner

from contracts.topics import TopicSpec
from probidad.ops import kafkactl
from probidad.ops.localhost import port_free, process_stat

pytestmark = pytest.mark.kafka

TOPIC = "probidad.test.fault"
PARTITIONS = 3


def _free_base_port(start: int = 19092, count: int = 6) -> int:
    for base in range(start, start + 2000, 10):
        if all(port_free(port) for port in range(base, base + count)):
            return base
    raise RuntimeError("no free port range for the test cluster")


def _alive(pid: int) -> bool:
    """Alive = exists and is not a zombie (the brokers are children of this test process)."""
    stat = process_stat(pid)
    return stat is not None and stat[0] != "Z"


def _processes_of(state_dir: Path) -> list[int]:
    marker = f"probidad.kafka.node={state_dir.resolve()}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes() and _alive(int(entry.name)):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


async def _leader_of_partition_zero(bootstrap: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (topic,) = await admin.describe_topics([TOPIC])
        partition = next(p for p in topic["partitions"] if p["partition"] == 0)
        return int(partition["leader"])
    finally:
        await admin.close()


async def _consume_all(bootstrap: str) -> list[str]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        values: list[str] = []
        deadline = time.monotonic() + 60

        async def behind() -> bool:
            return any([await consumer.position(tp) < end[tp] for tp in partitions])

        while await behind():
            assert time.monotonic() < deadline, "could not read the topic back to its end"
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for records in batches.values():
                values.extend(record.value.decode() for record in records)
        return values
    finally:
        await consumer.stop()


async def _topics_a_service_creates_get_three_replicas_and_their_retention(bootstrap: str) -> None:
    """What ServiceRuntime.start creates, read back from the brokers: no replication factor configured."""
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    from contracts.topics import dead_letter_config
    from probidad.shared.kafka import ensure_dead_letter_topics, ensure_topics

    requests, letters = "probidad.test.agency.requests", "probidad.test.agency.requests.probidad-x.dlq"
    retention = {"retention.ms": "604800000", "retention.bytes": "-1"}
    await ensure_topics(bootstrap, [requests], config=retention)
    await ensure_dead_letter_topics(bootstrap, [letters], config=retention)
    await ensure_dead_letter_topics(bootstrap, ["probidad.test.events.probidad-x.dlq"],
                                    config=dead_letter_config("probidad.test.events"))
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = [requests, letters, "probidad.test.events.probidad-x.dlq"]
        deadline = time.monotonic() + 30
        described = await admin.describe_topics(names)
        while not all(t["partitions"] for t in described):
            assert time.monotonic() < deadline, "created topics never appeared in the metadata"
            await asyncio.sleep(0.2)  # created on the controller, not yet on every broker
            described = await admin.describe_topics(names)
        for topic in described:
            assert {len(p["replicas"]) for p in topic["partitions"]} == {3}, topic["topic"]
        async def configs_read() -> dict[str, dict[str, str]]:
            (described,) = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)
                                                         for name in names])
            return {topic: {entry[0]: entry[1] for entry in entries}
                    for _code, _message, _type, topic, entries in described.resources}

        # The broker asked may answer before a new topic's configuration has reached it (empty entries).
        configs = await configs_read()
        while not all(configs.get(name) for name in names) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            configs = await configs_read()
        for name in names:
            assert configs[name]["min.insync.replicas"] == "2", name
        assert configs[requests]["retention.ms"] == configs[letters]["retention.ms"] == "604800000"
        assert configs["probidad.test.events.probidad-x.dlq"]["retention.ms"] == "-1"
    finally:
        await admin.close()


async def _a_service_starts_and_publishes(bootstrap: str, tmp_path: Path) -> None:
    """A whole service start (topics, dead-letter topics, consumer, relay, lag monitor) on the list."""
    from probidad.shared.settings import ServiceSettings
    from tests.support import ledger

    settings = ServiceSettings(service_name="ledger", kafka_bootstrap=bootstrap, topic_prefix="cluster.",
                               database_url=f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}", state_dir=tmp_path)
    runtime = ledger.create_runtime(settings, group="probidad-ledger-cluster")
    await asyncio.wait_for(runtime.start(), 90)
    try:
        async with runtime.unit_of_work() as uow:
            uow.record([ledger.institution("inst-list", 21)])
        await runtime.relay.drain(timeout_s=60)
        deadline = time.monotonic() + 60
        while await ledger.ledger_rows(runtime) != [("inst-list", 21)]:
            assert time.monotonic() < deadline, "the service did not consume its own event"
            await asyncio.sleep(0.2)
    finally:
        await runtime.stop()


async def test_three_node_cluster_keeps_acknowledged_messages_when_a_broker_dies(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    base_port = _free_base_port()
    spec = TopicSpec(TOPIC, writer="test", partitions=PARTITIONS, config={"min.insync.replicas": "2"})
    started = time.monotonic()
    cluster = await asyncio.to_thread(
        kafkactl.start_cluster, nodes=3, state_dir=state_dir, base_port=base_port, topics=[spec]
    )
    pids = list(cluster.pids)
    try:
        assert len(pids) == 3 and all(_alive(pid) for pid in pids)
        assert cluster.bootstrap == ",".join(f"127.0.0.1:{base_port + 2 * i}" for i in range(3))
        assert TOPIC in cluster.created_topics
        assert time.monotonic() - started < 90
        assert await kafkactl.ensure_broker_async(cluster.bootstrap)
        await _topics_a_service_creates_get_three_replicas_and_their_retention(cluster.bootstrap)

        producer = AIOKafkaProducer(
            bootstrap_servers=cluster.bootstrap,
            acks="all",
            enable_idempotence=True,
            request_timeout_ms=10000,
            retry_backoff_ms=200,
            linger_ms=2,
        )
        await producer.start()
        acked: dict[str, float] = {}  # message -> monotonic time of its acknowledgement
        failures = 0
        counter = itertools.count()
        stop = asyncio.Event()

        async def sender() -> None:
            nonlocal failures
            while not stop.is_set():
                message = f"m-{next(counter)}"
                # Retry the same message until it is acknowledged: at-least-once, like the services.
                while not stop.is_set():
                    try:
                        await asyncio.wait_for(producer.send_and_wait(TOPIC, message.encode()), 15)
                    except (KafkaError, asyncio.TimeoutError):
                        failures += 1
                        await asyncio.sleep(0.2)
                        continue
                    acked[message] = time.monotonic()
                    break

        senders = [asyncio.create_task(sender()) for _ in range(4)]
        try:
            deadline = time.monotonic() + 20
            while len(acked) < 300 or time.monotonic() < started + 1:
                assert time.monotonic() < deadline, f"only {len(acked)} messages acknowledged before the kill"
                await asyncio.sleep(0.1)

            victim = await _leader_of_partition_zero(cluster.bootstrap)
            killed_pid = kafkactl.kill_node(state_dir, victim)
            killed_at = time.monotonic()
            acked_at_kill = len(acked)
            assert killed_pid == cluster.nodes[victim].pid
            assert not _alive(killed_pid)

            # Keep producing through the leader election until plenty more are acknowledged.
            deadline = killed_at + 60
            while sum(1 for t in acked.values() if t > killed_at) < 300 or time.monotonic() < killed_at + 3:
                assert time.monotonic() < deadline, (
                    f"acknowledgements stalled after the kill: {len(acked) - acked_at_kill} new, "
                    f"{failures} failed sends"
                )
                await asyncio.sleep(0.1)
        finally:
            stop.set()
            await asyncio.gather(*senders, return_exceptions=True)
            await producer.stop()

        after_kill = sum(1 for t in acked.values() if t > killed_at)
        first_after = min((t for t in acked.values() if t > killed_at), default=killed_at) - killed_at
        print(
            f"\nkilled node {victim}: {acked_at_kill} acked before, {after_kill} after "
            f"(first {first_after:.1f}s after the kill), {failures} failed sends retried"
        )
        assert after_kill >= 300 and len(acked) > acked_at_kill

        # A service given the whole list starts while the first broker listed is the one that is down.
        listed = cluster.bootstrap.split(",")
        dead = listed[victim] if victim < len(listed) else listed[0]
        await _a_service_starts_and_publishes(",".join([dead, *(b for b in listed if b != dead)]), tmp_path)

        consumed = await _consume_all(cluster.bootstrap)
        missing = set(acked) - set(consumed)
        assert not missing, f"{len(missing)} acknowledged messages lost, e.g. {sorted(missing)[:5]}"
        assert len(consumed) >= len(acked)
    finally:
        stopped = await asyncio.to_thread(kafkactl.stop_cluster, state_dir)

    assert set(stopped) <= set(pids)
    assert not [pid for pid in pids if _alive(pid)]
    assert _processes_of(state_dir) == []
    assert not list((state_dir / "kafka").glob("node-*/kafka.pid"))
    assert [status.alive for status in kafkactl.cluster_status(state_dir)] == [False, False, False]


def test_cli_start_fails_clearly_when_the_port_is_taken(tmp_path: Path) -> None:
    base_port = _free_base_port(start=19192)
    with socket.socket() as squatter:  # listens but never speaks Kafka
        squatter.bind(("127.0.0.1", base_port))
        squatter.listen()
        from probidad.ops.cli import app

        result = CliRunner().invoke(
            app, ["kafka", "start", "--state-dir", str(tmp_path), "--base-port", str(base_port)]
        )
    output = result.output + (getattr(result, "stderr", "") or "")
    assert result.exit_code == 1, output
    assert f"{base_port}" in output and "already in use" in output
    assert "Traceback" not in output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert _processes_of(tmp_path) == []


def test_ensure_broker_is_false_when_nothing_listens() -> None:
    base_port = _free_base_port(start=19292, count=1)
    assert kafkactl.ensure_broker(f"127.0.0.1:{base_port}", timeout=2) is False

"""FastStream wiring: the broker every service uses, its subscribers, topic creation and lag."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.prometheus import KafkaPrometheusMiddleware

from probidad.shared import kafka_reconnect, kafka_records
from probidad.shared.consumer import DeadLetter, IdempotentConsumer
from probidad.shared.kafka_security import KafkaSecurity
from probidad.shared.logs import get_logger
from probidad.shared.metrics import CONSUMER_LAG, CONSUMER_LAG_SECONDS, REGISTRY

log = get_logger(__name__)

# A header name that is not UTF-8 must reach the consumer (and its dead-letter topic), not stop its
# partition inside aiokafka: see kafka_records.
kafka_records.install()
# While a broker is away, every client's reconnection waits on one bounded, jittered backoff per broker
# address instead of aiokafka's fixed 100 ms: see kafka_reconnect.
kafka_reconnect.install()


# Idempotent producer with acks=all: a retried send never duplicates, an ack means every in-sync
# replica has the record. No transactional_id (aiokafka would refuse plain sends).
PRODUCER_SETTINGS = {"acks": "all", "enable_idempotence": True, "linger_ms": 5}


def bootstrap_servers(bootstrap: str) -> list[str]:
    """``host:port[,host:port…]`` as the list every client takes: FastStream wraps a string in a list
    of one, so ``a:1,b:2`` would be one host named ``a:1,b`` (and no client could use a second broker)."""
    return [server.strip() for server in bootstrap.split(",") if server.strip()]


# Topics keep 3 replicas where the cluster has them, and refuse a write unless 2 have it (acks=all).
MAX_REPLICATION = 3


async def cluster_replication(admin: AIOKafkaAdminClient) -> int:
    """The replication factor topics get on this cluster: 3, or as many brokers as there are."""
    described = await admin.describe_cluster()
    return max(1, min(MAX_REPLICATION, len(described.get("brokers") or ())))


def replicated_config(config: dict[str, str], replication: int) -> dict[str, str]:
    """``config`` plus the in-sync minimum that makes acks=all mean "on two brokers" once there are 3."""
    return {**config, "min.insync.replicas": str(max(1, replication - 1))}


def make_broker(bootstrap: str, service: str, security: KafkaSecurity = KafkaSecurity()) -> KafkaBroker:
    return KafkaBroker(
        bootstrap_servers(bootstrap),
        client_id=f"probidad-{service}",
        security=security.faststream(),
        **PRODUCER_SETTINGS,
        middlewares=[KafkaPrometheusMiddleware(registry=REGISTRY, app_name=service)],
        # FastStream's per-message "Received/Processed" lines go to DEBUG: our JSON logs and the
        # Prometheus counters already say what happened to every event.
        log_level=logging.DEBUG,
    )


async def _undecoded_batch(records: tuple, default_parser: Any) -> KafkaMessage:
    """FastStream's batch parser without its decoding.

    The default parser decodes every header of every record as UTF-8 before any handler runs; one
    record that is not fails the whole batch out of our sight, and the next batch's ack then commits
    past it. It is given the records without their headers, and the message it builds keeps the
    records exactly as the broker returned them, for ``IdempotentConsumer`` to judge byte by byte.
    """
    message = await default_parser(tuple(dataclasses.replace(r, headers=()) for r in records))
    message.raw_message = records
    return message


async def _raw_records(message: KafkaMessage) -> tuple:
    # In place of FastStream's decoder, which would parse every value as JSON (and fail the batch on
    # the first that is not); the handler reads ``message.raw_message`` instead.
    return message.raw_message


def subscribe(broker: KafkaBroker, consumer: IdempotentConsumer, topics: Iterable[str], *, description: str,
              max_records: int = 500, pattern: str | None = None, instance_id: str | None = None,
              session_timeout_ms: int = 10_000, member: str | None = None) -> None:
    """Attach ``consumer`` to ``topics`` in its own consumer group, from offset 0, acking manually.

    ``member`` names a second subscription of the same service in its group (enrollment reads agency
    requests and certification's completions): its own static instance id and its own AsyncAPI channel.

    Records come in batches (whatever one poll returns, up to ``max_records``), handed to
    ``consumer.process_batch`` as the broker returned them: FastStream decodes nothing (see
    ``_undecoded_batch``), so no record can fail or vanish before the consumer decides it. The offsets of
    a batch are committed only after every record of it is decided (applied, duplicate, ignored, or its
    dead letter acknowledged).
    """

    @broker.subscriber(
        *(() if pattern else topics),
        pattern=pattern,  # a regex instead of the topics: enrollment's per-institution request topics
        group_id=consumer.group,
        # Static membership: an instance restarted (even after kill -9) with the same id takes its
        # partitions back at once instead of waiting for the group to rebalance around the dead member.
        group_instance_id=(f"{consumer.group}/{instance_id}" + (f"/{member}" if member else ""))
        if instance_id else None,
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=max(1000, session_timeout_ms // 4),
        ack_policy=AckPolicy.MANUAL,
        auto_offset_reset="earliest",
        batch=True,
        max_records=max_records,
        batch_timeout_ms=20,
        parser=_undecoded_batch,
        decoder=_raw_records,
        title=f"{consumer.group}:consume" + (f":{member}" if member else ""),
        description=description,
    )
    async def on_records(message: KafkaMessage) -> None:
        raw = message.raw_message
        records = tuple(raw) if isinstance(raw, (tuple, list)) else (raw,)
        try:
            await consumer.process_batch(
                [(r.topic, r.partition, r.offset, r.key, r.value, r.headers) for r in records]
            )
        except Exception:
            # Only a fault in the consumer itself gets here (it decides every record). Never commit past
            # records we could not settle: rewind every partition of the batch to its earliest record
            # and try again shortly.
            log.exception("batch not settled; will retry", size=len(records))
            await asyncio.sleep(1.0)
            earliest: dict[TopicPartition, int] = {}
            for r in records:
                tp = TopicPartition(r.topic, r.partition)
                earliest[tp] = min(earliest.get(tp, r.offset), r.offset)
            for tp, offset in earliest.items():
                message.consumer.seek(tp, offset)
            return
        await message.ack()


def relay_producer(bootstrap: str, service: str, security: KafkaSecurity = KafkaSecurity()) -> AIOKafkaProducer:
    """The outbox relay's own producer (same settings as the broker's). The relay sends every event a
    service writes; through a FastStream publisher each send also ran its middleware, which cost
    about as much as the send itself. The relay counts what it published (probidad_outbox_published_total)."""
    return AIOKafkaProducer(bootstrap_servers=bootstrap_servers(bootstrap), client_id=f"probidad-{service}-relay",
                            **PRODUCER_SETTINGS,
                            **security.aiokafka())


def dead_letter_sender(broker: KafkaBroker) -> Callable[[DeadLetter], Awaitable[None]]:
    """Sends a dead letter and waits for the broker's ack (the consumer commits only after it).
    ``IdempotentConsumer.letter`` keeps letters under the producer's request limit."""

    async def send(letter: DeadLetter) -> None:
        await broker.publish(letter.value or b"", letter.topic, key=letter.key, headers=letter.headers)

    return send


async def ensure_topics(bootstrap: str, names: Iterable[str], *, partitions: int = 6, replication: int | None = None,
                        config: dict[str, str] | None = None, security: KafkaSecurity = KafkaSecurity()) -> None:
    """Create topics that do not exist yet (existing ones are left as they are), with ``replication``
    replicas (None: the cluster's, see ``cluster_replication``)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(bootstrap), **security.aiokafka())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        names = [name for name in dict.fromkeys(names) if name not in existing]
        if not names:
            return
        replicas = replication or await cluster_replication(admin)
        wanted = [
            NewTopic(name, num_partitions=partitions, replication_factor=replicas,
                     topic_configs=replicated_config(config or {"retention.ms": "-1"}, replicas))
            for name in names
        ]
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()


async def ensure_dead_letter_topics(bootstrap: str, names: Iterable[str], *, config: dict[str, str],
                                    replication: int | None = None, security: KafkaSecurity = KafkaSecurity()) -> None:
    """Create dead-letter topics with ``config`` (their source topic's retention), and bring existing ones
    to it: one made before it applied would keep the personal data of agency requests forever."""
    names = list(dict.fromkeys(names))
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(bootstrap), **security.aiokafka())
    await admin.start()
    try:
        listed = set(await admin.list_topics())
        await ensure_topics(bootstrap, names, replication=replication, config=config, security=security)
        if existing := [name for name in names if name in listed]:
            await _align_configs(admin, existing, config)
    finally:
        await admin.close()


async def _align_configs(admin: AIOKafkaAdminClient, topics: list[str], config: dict[str, str]) -> None:
    try:
        described = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, dict.fromkeys(config)) for topic in topics])
        # resources: (error code, message, resource type, topic, [(config name, value, …), …])
        stale = [topic for response in described for _code, _message, _type, topic, entries in response.resources
                 if {entry[0]: entry[1] for entry in entries if entry[0] in config} != config]
        if stale:
            await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, config) for topic in stale])
            log.info("dead-letter topics brought to their source topic's retention", topics=stale, config=config)
    except Exception as error:  # noqa: BLE001 — e.g. no ALTER_CONFIGS right: the service still runs
        log.warning("dead-letter topic retention not checked", topics=topics, error=repr(error))


async def partition_lag(probe: AIOKafkaConsumer, committed: dict,
                        tps: list[TopicPartition]) -> dict[TopicPartition, int]:
    """Records not yet committed by a group, per partition: end offset minus committed offset.

    ``committed`` is what ``AIOKafkaAdminClient.list_consumer_group_offsets(group)`` returned; a
    partition the group never committed counts from offset 0.
    """
    ends = await probe.end_offsets(tps) if tps else {}
    lags = {}
    for tp in tps:
        done = committed.get(tp)
        lags[tp] = max(0, ends[tp] - (done.offset if done and done.offset >= 0 else 0))
    return lags


class LagMonitor:
    """Consumer lag per group and topic: high-water mark minus the group's committed offset."""

    def __init__(self, bootstrap: str, consumers: list[tuple[IdempotentConsumer, list[str]]], interval_s: float = 5.0,
                 security: KafkaSecurity = KafkaSecurity()) -> None:
        self.bootstrap = bootstrap
        self.security = security
        self.consumers = consumers
        self.interval_s = interval_s

    async def measure(self, admin: AIOKafkaAdminClient, probe: AIOKafkaConsumer) -> dict[tuple[str, str], int]:
        lags: dict[tuple[str, str], int] = {}
        for consumer, topics in self.consumers:
            committed = await admin.list_consumer_group_offsets(consumer.group)
            for topic in topics:
                tps = [TopicPartition(topic, p) for p in probe.partitions_for_topic(topic) or set()]
                lag = sum((await partition_lag(probe, committed, tps)).values())
                lags[(consumer.group, topic)] = lag
                CONSUMER_LAG.labels(consumer.group, topic).set(lag)
                last = consumer.last_event_time.get(topic)
                age = max(0.0, time.time() - last.timestamp()) if (lag and last) else 0.0
                CONSUMER_LAG_SECONDS.labels(consumer.group, topic).set(age)
        return lags

    async def run(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(self.bootstrap), **self.security.aiokafka())
        probe = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers(self.bootstrap), enable_auto_commit=False,
                                 **self.security.aiokafka())
        await admin.start()
        await probe.start()
        failures = 0
        try:
            while True:
                try:
                    await probe._client.force_metadata_update()  # noqa: SLF001 — new partitions
                    await self.measure(admin, probe)
                    if failures:
                        log.info("lag measured again", after_failures=failures)
                    failures = 0
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    failures += 1
                    if failures == 1:  # once per outage: the runtime says how long Kafka has been away
                        log.warning("lag measurement failed; retrying", error=repr(error))
                # Back off while it fails (up to a minute, with jitter), so an outage costs no CPU.
                delay = self.interval_s if not failures else min(60.0, self.interval_s * 2 ** min(failures, 4))
                await asyncio.sleep(delay * random.uniform(0.8, 1.2) if failures else delay)
        finally:
            await probe.stop()
            await admin.close()

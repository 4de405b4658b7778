"""The outbox relay while the broker is away: events wait in the outbox, the backlog gauge says how many,
and all of them leave, once each, when the broker is back."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from contracts.events import AgencyRequestDecided
from probidad.ops.localhost import eventually
from probidad.shared.database import Database
from probidad.shared.metrics import OUTBOX_BACKLOG, OUTBOX_RELAY_ERRORS
from probidad.shared.outbox import Outbox, OutboxRelay
from probidad.shared.tables import OutboxRecord
from probidad.shared.unit_of_work import unit_of_work
from tests.support.ledger import institution


def gauge(service: str) -> float:
    return OUTBOX_BACKLOG.labels(service)._value.get()  # noqa: SLF001 — the value Prometheus would scrape


async def test_events_committed_while_the_broker_is_away_are_counted_as_backlog_and_all_sent_once_it_is_back(
        database_url: str) -> None:
    service = f"relay-{database_url.split(':')[0]}"
    database = Database(database_url)
    await database.create_schema([])
    outbox = Outbox()
    broker_up = False
    sent: list[str] = []

    async def publish(topic: str, key: bytes, value: bytes, headers: dict[str, str]) -> None:
        if not broker_up:
            raise ConnectionError("broker unreachable")
        sent.append(headers["ce_id"])

    relay = OutboxRelay(database, outbox, publish, service=service, batch_size=10, interval_s=0.05)
    errors_before = OUTBOX_RELAY_ERRORS.labels(service)._value.get()  # noqa: SLF001
    running = asyncio.create_task(relay.run())
    try:
        added = []
        for n in range(25):
            async with unit_of_work(database, outbox) as uow:
                added.extend(e.id for e in uow.record([institution(f"inst-{n}")]))

        assert await eventually(lambda: _at(gauge(service), 25), timeout_s=10, what="backlog gauge shows 25")
        assert OUTBOX_RELAY_ERRORS.labels(service)._value.get() > errors_before  # noqa: SLF001
        assert sent == []

        broker_up = True
        await eventually(lambda: _at(len(sent), 25), timeout_s=20, what="every event sent")
        await eventually(lambda: _at(-gauge(service), 0), timeout_s=10, what="backlog gauge back to 0")
        assert sorted(sent) == sorted(added)  # each once, none lost
        assert await relay.backlog() == 0
    finally:
        relay.stop()
        await running
        await database.dispose()


async def _at(value: float, target: float) -> bool:
    return value >= target


async def test_an_event_given_its_own_topic_leaves_on_that_topic_in_commit_order_with_the_rest(
        database_url: str) -> None:
    database = Database(database_url)
    await database.create_schema([])
    outbox = Outbox("t9.")
    sent: list[tuple[str, str]] = []

    async def publish(topic: str, key: bytes, value: bytes, headers: dict[str, str]) -> None:
        sent.append((topic, headers["ce_type"]))

    relay = OutboxRelay(database, outbox, publish, service="relay-topic", batch_size=10)
    decided = AgencyRequestDecided(request_id="rq-1", institution_id="salud", request_type="x",
                                   outcome="probidad.enrollment.request.rejected.v1", reason="no such session")
    try:
        async with unit_of_work(database, outbox) as uow:
            uow.record([institution("inst-1")])
            uow.record([decided], topic="probidad.agency.outcomes.salud")
        await relay.drain()
        assert sent == [("t9.probidad.enrollment.events", "probidad.enrollment.institution.registered.v1"),
                        ("t9.probidad.agency.outcomes.salud", "probidad.enrollment.request.decided.v1")]
    finally:
        await database.dispose()


async def test_an_event_of_a_topic_family_goes_to_the_topic_its_own_fields_name(database_url: str) -> None:
    database = Database(database_url)
    await database.create_schema([])
    outbox = Outbox("pfx.")
    decided = AgencyRequestDecided(request_id="rq-1", institution_id="salud", request_type="x", outcome="y")
    try:
        async with unit_of_work(database, outbox) as uow:
            uow.record([decided])
        async with database.transaction() as session:
            (topic,) = (await session.execute(select(OutboxRecord.topic))).scalars().all()
        assert topic == "pfx.probidad.agency.outcomes.salud"
    finally:
        await database.dispose()


async def test_a_relay_whose_producer_broke_for_good_makes_a_fresh_one_and_drains_without_a_restart(
        database_url: str) -> None:
    """As after a long broker outage: the idempotent producer's sequence is lost, every send fails."""
    database = Database(database_url)
    await database.create_schema([])
    outbox = Outbox()
    sent: list[str] = []
    producers = 0

    async def broken(topic: str, key: bytes, value: bytes, headers: dict[str, str]) -> None:
        raise RuntimeError("OutOfOrderSequenceNumber")

    async def fresh():
        nonlocal producers
        producers += 1

        async def publish(topic: str, key: bytes, value: bytes, headers: dict[str, str]) -> None:
            sent.append(headers["ce_id"])
        return publish

    relay = OutboxRelay(database, outbox, broken, service="relay-fresh", batch_size=10, interval_s=0.05,
                        reconnect=fresh)
    try:
        added = []
        for n in range(12):
            async with unit_of_work(database, outbox) as uow:
                added.extend(e.id for e in uow.record([institution(f"inst-{n}")]))
        assert await relay.oldest_age_s() >= 0 and await relay.backlog() == 12
        running = asyncio.create_task(relay.run())
        await eventually(lambda: _at(len(sent), 12), timeout_s=20, what="every event sent by the fresh producer")
        relay.stop()
        await running
        assert producers == 1 and sorted(sent) == sorted(added)
        assert await relay.oldest_age_s() == 0.0
    finally:
        await database.dispose()


async def test_a_round_the_broker_never_acknowledges_fails_in_bounded_time_and_a_fresh_producer_sends_it(
        database_url: str) -> None:
    """As with every broker away: the producer retries inside itself and no acknowledgement ever comes."""
    database = Database(database_url)
    await database.create_schema([])
    outbox = Outbox()
    sent: list[str] = []
    service = f"relay-hang-{database_url.split(':')[0]}"

    async def never_acknowledged(topic: str, key: bytes, value: bytes, headers: dict[str, str]):
        return asyncio.get_running_loop().create_future()  # an acknowledgement that never comes

    async def fresh():
        async def publish(topic: str, key: bytes, value: bytes, headers: dict[str, str]) -> None:
            sent.append(headers["ce_id"])
        return publish

    relay = OutboxRelay(database, outbox, never_acknowledged, service=service, batch_size=10, interval_s=0.05,
                        reconnect=fresh, send_timeout_s=0.5)
    errors_before = OUTBOX_RELAY_ERRORS.labels(service)._value.get()  # noqa: SLF001
    try:
        async with unit_of_work(database, outbox) as uow:
            added = [e.id for e in uow.record([institution("inst-h1"), institution("inst-h2")])]
        running = asyncio.create_task(relay.run())
        await eventually(lambda: _at(len(sent), 2), timeout_s=20, what="sent by the fresh producer")
        relay.stop()
        await running
        assert sorted(sent) == sorted(added)
        assert OUTBOX_RELAY_ERRORS.labels(service)._value.get() > errors_before  # noqa: SLF001 — the hung round failed
    finally:
        await database.dispose()


async def test_a_topic_nobody_made_yet_is_made_before_its_first_event_leaves_and_only_once(
        database_url: str) -> None:
    """A development broker creates no topic on first write: one agency's outcome topic is made by the relay."""
    database = Database(database_url)
    await database.create_schema([])
    outbox = Outbox()
    made: list[list[str]] = []
    sent: list[str] = []
    broker_up = False

    async def make_topics(names: list[str]) -> None:
        if not broker_up:
            raise ConnectionError("broker unreachable")
        made.append(names)

    async def publish(topic: str, key: bytes, value: bytes, headers: dict[str, str]) -> None:
        assert topic in relay.ready_topics, f"{topic} sent before it was made"
        sent.append(topic)

    relay = OutboxRelay(database, outbox, publish, service="relay-make-topics", batch_size=10)
    relay.make_topics = make_topics
    relay.ready_topics = {"probidad.enrollment.events"}  # made at start
    decided = AgencyRequestDecided(request_id="rq-1", institution_id="salud", request_type="x", outcome="y")
    try:
        async with unit_of_work(database, outbox) as uow:
            uow.record([institution("inst-1"), decided])
        with pytest.raises(ConnectionError):
            await relay.publish_pending()
        assert sent == [] and await relay.backlog() == 2  # nothing left before its topic exists

        broker_up = True
        await relay.drain()
        async with unit_of_work(database, outbox) as uow:
            uow.record([decided.model_copy(update={"request_id": "rq-2"})])
        await relay.drain()
        assert made == [["probidad.agency.outcomes.salud"]]
        assert sent == ["probidad.enrollment.events", "probidad.agency.outcomes.salud",
                        "probidad.agency.outcomes.salud"]
    finally:
        await database.dispose()

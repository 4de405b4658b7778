"""The shared plumbing on a real database (SQLite file and PostgreSQL) with the in-memory broker."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select

from contracts.envelope import seal, to_record
from contracts.topics import ENROLLMENT_EVENTS
from probidad.shared.metrics import HANDLER_RETRIES
from probidad.shared.tables import OutboxRecord
from tests.support import ledger
from tests.support.ledger import institution

GROUP = "probidad-ledger"


@pytest.fixture
async def runtime(database_url: str, tmp_path):
    async with ledger.running(database_url, tmp_path, group=GROUP) as runtime:
        yield runtime


async def publish(runtime, envelope) -> None:
    key, value, headers = to_record(envelope)
    await runtime.test_broker.publish(value, ENROLLMENT_EVENTS, key=key, headers=headers)


async def outbox_rows(runtime) -> int:
    async with runtime.database.transaction() as session:
        return int((await session.execute(select(func.count()).select_from(OutboxRecord))).scalar_one())


async def test_an_event_added_to_the_outbox_is_published_after_the_commit_and_marked(runtime) -> None:
    async with runtime.unit_of_work() as uow:
        uow.record([institution("inst-9", 40)])
    await runtime.relay.drain()
    assert await ledger.ledger_rows(runtime) == [("inst-9", 40)]
    assert await runtime.relay.backlog() == 0


async def test_a_rolled_back_unit_of_work_leaves_no_event_behind(runtime) -> None:
    with pytest.raises(RuntimeError):
        async with runtime.unit_of_work() as uow:
            uow.record([institution("inst-ghost")])
            raise RuntimeError("the state change failed")
    assert await outbox_rows(runtime) == 0
    await runtime.relay.drain()
    assert await ledger.ledger_count(runtime) == 0


async def test_a_redelivered_event_has_no_second_effect(runtime) -> None:
    envelope = seal(institution("inst-2", 75))
    await publish(runtime, envelope)
    await publish(runtime, envelope)
    assert await ledger.ledger_rows(runtime) == [("inst-2", 75)]


async def test_a_malformed_message_is_dead_lettered_with_its_reason_and_the_next_one_is_applied(runtime) -> None:
    await runtime.test_broker.publish(b"{not json", ENROLLMENT_EVENTS, headers={
        "ce_specversion": "1.0", "ce_id": "bad-1", "ce_source": "agency", "ce_type": institution().type})
    await publish(runtime, seal(institution("inst-3")))
    assert len(runtime.dead_letters) == 1
    headers = runtime.dead_letters[0].headers
    assert headers["dlq_reason"].startswith("value is not JSON")
    assert headers["dlq_original_topic"] == ENROLLMENT_EVENTS
    assert headers["dlq_consumer_group"] == GROUP
    assert runtime.dead_letters[0].body == b"{not json"
    assert await ledger.ledger_rows(runtime) == [("inst-3", 120)]


async def test_an_event_its_handler_rejects_is_dead_lettered_and_leaves_no_effect(runtime) -> None:
    await publish(runtime, seal(institution("inst-4", name="REJECT ME")))
    assert [m.headers["dlq_reason_kind"] for m in runtime.dead_letters] == ["rejected"]
    assert "test rejection" in runtime.dead_letters[0].headers["dlq_reason"]
    assert await ledger.ledger_count(runtime) == 0


async def test_a_transient_database_fault_is_retried_not_skipped(runtime, monkeypatch) -> None:
    consumer = runtime.consumers[0][0]
    original = consumer.handlers[institution().type]
    failures = {"left": 2}

    async def flaky(session, envelope) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise sa_exc.OperationalError("INSERT", {}, ConnectionRefusedError("database restarting"))
        await original(session, envelope)

    consumer.handlers[institution().type] = flaky
    consumer.backoff.first_s = 0.01
    before = HANDLER_RETRIES.labels("ledger", GROUP)._value.get()
    await publish(runtime, seal(institution("inst-5")))
    assert await ledger.ledger_rows(runtime) == [("inst-5", 120)]
    assert HANDLER_RETRIES.labels("ledger", GROUP)._value.get() - before == 2
    assert runtime.dead_letters == []


async def test_outbox_rows_keep_the_cloudevents_headers_for_the_wire(runtime) -> None:
    async with runtime.unit_of_work() as uow:
        (envelope,) = uow.record([institution("inst-6")], correlation_id="enrol-flow-1")
    async with runtime.database.transaction() as session:
        row = (await session.execute(select(OutboxRecord))).scalars().one()
    headers = json.loads(row.headers)
    assert row.topic == ENROLLMENT_EVENTS and row.key == "inst-6"
    assert headers["ce_id"] == envelope.id and headers["ce_correlationid"] == "enrol-flow-1"


def _record(envelope, offset: int) -> tuple:
    key, value, headers = to_record(envelope)
    return (ENROLLMENT_EVENTS, 0, offset, key, value, [(k, v.encode()) for k, v in headers.items()])


async def test_a_batch_is_applied_in_one_go_and_a_redelivered_batch_changes_nothing(runtime) -> None:
    consumer = runtime.consumers[0][0]
    batch = [_record(seal(institution(f"inst-b{i}", i + 1)), i) for i in range(5)]
    assert await consumer.process_batch(batch) == {"applied": 5}
    assert await consumer.process_batch(batch) == {"duplicate": 5}
    assert await ledger.ledger_rows(runtime) == [(f"inst-b{i}", i + 1) for i in range(5)]


async def test_a_batch_is_prepared_once_in_its_transaction_with_only_the_events_it_applies(runtime) -> None:
    consumer = runtime.consumers[0][0]
    prepared: list[tuple[list[str], bool]] = []

    async def prepare(uow, envelopes) -> None:
        prepared.append(([e.id for e in envelopes], uow.session.in_transaction()))

    consumer.prepare = prepare
    first = [seal(institution(f"inst-p{i}", i + 1)) for i in range(3)]
    assert await consumer.process_batch([_record(e, i) for i, e in enumerate(first)]) == {"applied": 3}
    again = [*first[:2], seal(institution("inst-p3", 4))]  # two redeliveries and one new event
    assert await consumer.process_batch([_record(e, i) for i, e in enumerate(again)]) == {"applied": 1, "duplicate": 2}
    assert await consumer.process_batch([_record(e, i) for i, e in enumerate(first)]) == {"duplicate": 3}
    assert prepared == [([e.id for e in first], True), ([again[2].id], True)], "nothing to prepare for redeliveries"


async def test_one_bad_event_in_a_batch_is_dead_lettered_and_the_rest_are_applied(runtime) -> None:
    consumer = runtime.consumers[0][0]
    batch = [
        _record(seal(institution("inst-c1")), 0),
        _record(seal(institution("inst-c2", name="REJECT ME")), 1),
        (ENROLLMENT_EVENTS, 0, 2, b"k", b"not json", [("ce_specversion", b"1.0"), ("ce_id", b"x"),
                                                      ("ce_source", b"s"), ("ce_type", institution().type.encode())]),
        _record(seal(institution("inst-c3")), 3),
    ]
    outcomes = await consumer.process_batch(batch)
    assert outcomes == {"applied": 2, "dead_lettered": 2}
    assert await ledger.ledger_rows(runtime) == [("inst-c1", 120), ("inst-c3", 120)]
    assert sorted(m.headers["dlq_reason_kind"] for m in runtime.dead_letters) == ["contract", "rejected"]


# ---------------------------------------------------------------- the unit of work


async def test_a_unit_of_work_writes_its_repositories_changes_then_its_events_in_one_commit(runtime) -> None:
    written: list[str] = []

    async def write_entries() -> None:  # a repository's batched writes, handed over once
        written.append("entries")
        uow.session.add(ledger.LedgerEntry(institution_id="inst-u1", headcount=3))

    async with runtime.unit_of_work(correlation_id="flow-u") as uow:
        uow.before_commit("entries", write_entries)
        uow.before_commit("entries", write_entries)  # the same key: written once
        (envelope,) = uow.record([institution("inst-u1", 3)])
        assert uow.recorded == 1 and written == []  # nothing written before it completes
    assert written == ["entries"]
    assert await ledger.ledger_rows(runtime) == [("inst-u1", 3)]
    async with runtime.database.transaction() as session:
        row = (await session.execute(select(OutboxRecord))).scalars().one()
    assert row.event_id == envelope.id and json.loads(row.headers)["ce_correlationid"] == "flow-u"
    await runtime.relay.drain()
    assert await runtime.relay.backlog() == 0  # and the relay published it


async def test_a_unit_of_work_that_fails_writes_neither_state_nor_events(runtime) -> None:
    with pytest.raises(RuntimeError):
        async with runtime.unit_of_work() as uow:
            uow.session.add(ledger.LedgerEntry(institution_id="inst-u2", headcount=1))
            uow.record([institution("inst-u2")])
            raise RuntimeError("the handler failed")
    assert await ledger.ledger_rows(runtime) == []
    assert await outbox_rows(runtime) == 0


# ---------------------------------------------------------------- HTTP while the database is away


async def test_a_request_while_the_database_is_away_is_a_503_with_retry_after_not_a_500(runtime) -> None:
    import httpx
    from fastapi import APIRouter
    from sqlalchemy import text

    from probidad.shared.database import Database
    from probidad.shared.service import create_http_app

    router = APIRouter()

    @router.get("/probe")
    async def probe() -> dict:
        async with runtime.database.transaction() as session:
            await session.execute(text("SELECT 1"))
        return {"ok": True}

    app = create_http_app(runtime, [router], title="probe")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.get("/probe")).status_code == 200
        reachable = runtime.database
        runtime.database = Database("postgresql+asyncpg://probidad@127.0.0.1:9/nowhere")  # nothing listens
        try:
            away = await client.get("/probe")
        finally:
            await runtime.database.dispose()
            runtime.database = reachable
        assert away.status_code == 503, away.text
        assert away.headers["retry-after"] == "5" and away.json()["detail"].startswith("database:")
        assert (await client.get("/probe")).status_code == 200


async def test_a_unit_of_work_tells_a_batched_write_which_envelope_each_recorded_event_went_out_in(runtime) -> None:
    found = {}
    async with runtime.unit_of_work() as uow:
        event, other = institution("inst-e1"), institution("inst-e2")

        async def write() -> None:  # runs at completion, after the caller recorded what the handler returned
            found["event"], found["other"] = uow.recorded_as(event), uow.recorded_as(other)

        uow.before_commit("rows", write)
        (envelope,) = uow.record([event])
    assert found == {"event": envelope, "other": None}

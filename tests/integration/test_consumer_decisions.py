"""How the idempotent consumer decides records nothing else can: handler errors that are not transient,
exceptions from decoding, dead letters too large for the producer, and event ids reused for other content
(real databases, in-memory broker)."""

from __future__ import annotations

import pytest
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from contracts.envelope import seal, to_record
from contracts.topics import ENROLLMENT_EVENTS
from probidad.shared import consumer as consumer_module
from probidad.shared.consumer import DEAD_LETTER_MAX_BYTES, HANDLER_ATTEMPTS, DeadLetter
from tests.support import ledger
from tests.support.ledger import institution

GROUP = "probidad-ledger"
PRODUCER_LIMIT = 1024 * 1024  # aiokafka's default max_request_size, which the platform keeps


@pytest.fixture
async def runtime(database_url: str, tmp_path):
    async with ledger.running(database_url, tmp_path, group=GROUP) as runtime:
        runtime.consumers[0][0].backoff.first_s = 0.01
        yield runtime


def record(envelope, offset: int) -> tuple:
    key, value, headers = to_record(envelope)
    return (ENROLLMENT_EVENTS, 0, offset, key, value, [(k, v.encode()) for k, v in headers.items()])


async def test_a_handler_error_that_is_not_transient_is_tried_a_few_times_then_dead_lettered(runtime) -> None:
    consumer = runtime.consumers[0][0]
    original = consumer.handlers[institution().type]
    calls: list[str] = []

    async def broken_for_one(session, envelope) -> None:
        calls.append(envelope.event.institution_id)
        if envelope.event.institution_id == "inst-bug":
            raise KeyError("a bug in the handler")
        await original(session, envelope)

    consumer.handlers[institution().type] = broken_for_one
    outcomes = await consumer.process_batch([record(seal(institution("inst-a")), 0),
                                             record(seal(institution("inst-bug")), 1),
                                             record(seal(institution("inst-b")), 2)])
    assert outcomes == {"applied": 2, "dead_lettered": 1}
    assert await ledger.ledger_rows(runtime) == [("inst-a", 120), ("inst-b", 120)]
    # once in the batch, then HANDLER_ATTEMPTS times on its own
    assert calls.count("inst-bug") == 1 + HANDLER_ATTEMPTS
    [letter] = runtime.dead_letters
    assert letter.headers["dlq_reason_kind"] == "handler_error"
    assert "KeyError" in letter.headers["dlq_reason"]
    assert letter.headers["dlq_original_offset"] == "1"


async def test_any_exception_while_decoding_a_record_is_a_contract_error(runtime, monkeypatch) -> None:
    consumer = runtime.consumers[0][0]

    def decoder_with_a_bug(headers, value):
        raise MemoryError("value too large to decode")

    monkeypatch.setattr(consumer_module, "open_envelope", decoder_with_a_bug)
    outcomes = await consumer.process_batch([record(seal(institution("inst-x")), 7)])
    assert outcomes == {"dead_lettered": 1}
    [letter] = runtime.dead_letters
    assert letter.headers["dlq_reason_kind"] == "contract"
    assert "MemoryError: value too large to decode" in letter.headers["dlq_reason"]


async def test_a_dead_letter_of_a_huge_record_fits_the_producer_and_says_what_was_cut(runtime) -> None:
    consumer = runtime.consumers[0][0]
    headers = [("ce_id", b"e-1"), ("x-trace", b"t" * 300_000), *[(f"x-{i}", b"h" * 3_000) for i in range(100)]]
    value = b"v" * 2_000_000
    letter = consumer.letter(ENROLLMENT_EVENTS, 3, 41, b"k" * 10_000, value, headers, "not JSON", "contract")
    size = DefaultRecordBatchBuilder.estimate_size_in_bytes(
        letter.key, letter.value, [(k, v.encode()) for k, v in letter.headers.items()])
    assert size <= DEAD_LETTER_MAX_BYTES < PRODUCER_LIMIT
    assert value.startswith(letter.value) and len(letter.value) < len(value)
    reason = letter.headers["dlq_reason"]
    assert reason.startswith("not JSON")
    assert "value of 2000000 bytes cut" in reason and "'x-trace' of 300000 characters cut" in reason
    assert "key of 10000 bytes cut" in reason
    assert (letter.headers["dlq_original_partition"], letter.headers["dlq_original_offset"]) == ("3", "41")


async def test_a_header_that_is_not_utf8_stays_readable_in_the_dead_letter(runtime) -> None:
    consumer = runtime.consumers[0][0]
    letter = consumer.letter(ENROLLMENT_EVENTS, 0, 1, b"k", b"{}", [("ce_source", b"hr\xff")], "bad", "contract")
    assert letter.headers["ce_source"] == "hr\\xff"


async def test_a_dead_letter_the_broker_refuses_for_good_is_sent_again_with_its_reason_and_coordinates_only(
        runtime) -> None:
    consumer = runtime.consumers[0][0]
    sent: list[DeadLetter] = []

    async def refuse_large(letter: DeadLetter) -> None:
        if letter.value is not None:
            raise MessageSizeTooLargeError("the topic's max.message.bytes is smaller")
        sent.append(letter)

    consumer.send_dead_letter = refuse_large
    outcomes = await consumer.process_batch([(ENROLLMENT_EVENTS, 2, 9, b"k", b"{not json", [
        ("ce_specversion", b"1.0"), ("ce_id", b"b-1"), ("ce_source", b"s"), ("ce_type", institution().type.encode()),
        ("x-other", b"dropped")])])
    assert outcomes == {"dead_lettered": 1}
    [bare] = sent
    assert (bare.key, bare.value) == (None, None) and "x-other" not in bare.headers
    assert bare.headers["dlq_reason"].startswith("value is not JSON")
    assert "MessageSizeTooLargeError" in bare.headers["dlq_reason"]
    assert (bare.headers["dlq_original_partition"], bare.headers["dlq_original_offset"]) == ("2", "9")
    assert bare.headers["ce_id"] == "b-1"


async def test_an_event_its_handler_rejects_is_dead_lettered_without_asking_again(runtime) -> None:
    consumer = runtime.consumers[0][0]
    original = consumer.handlers[institution().type]
    calls: list[str] = []

    async def counting(session, envelope) -> None:
        calls.append(envelope.id)
        await original(session, envelope)

    consumer.handlers[institution().type] = counting
    outcomes = await consumer.process_batch([record(seal(institution("inst-r", name="REJECT ME")), 0)])
    assert outcomes == {"dead_lettered": 1}
    assert len(calls) == 2, "once in the batch, once on its own"
    assert [m.headers["dlq_reason_kind"] for m in runtime.dead_letters] == ["rejected"]


async def test_an_event_id_reused_for_other_content_is_dead_lettered_and_changes_nothing(runtime) -> None:
    consumer = runtime.consumers[0][0]
    original = seal(institution("inst-a", headcount=120), event_id="e-reused")
    forged = seal(institution("inst-a", headcount=999), event_id="e-reused")
    later = seal(institution("inst-c", headcount=50), event_id="e-reused")
    # in one batch: the first is applied, the other two name its id with other content
    outcomes = await consumer.process_batch([record(original, 0), record(forged, 1), record(original, 2)])
    assert outcomes == {"applied": 1, "dead_lettered": 1, "duplicate": 1}
    # and later, on its own (the path a batch falls back to)
    assert await consumer.process(*record(later, 3)) == "dead_lettered"
    assert await consumer.process(*record(original, 4)) == "duplicate"
    assert await ledger.ledger_rows(runtime) == [("inst-a", 120)]
    letters = runtime.dead_letters
    assert [letter.headers["dlq_original_offset"] for letter in letters] == ["1", "3"]
    assert all(letter.headers["dlq_reason_kind"] == "contract" for letter in letters)
    assert all("'e-reused' was already applied by probidad-ledger for other content" in letter.headers["dlq_reason"]
               for letter in letters)


async def test_an_id_recorded_before_content_digests_existed_stays_a_redelivery(database_url: str, tmp_path) -> None:
    # A database older than content digests gains the column through its service's migrations (shown in
    # test_schema_migrations); the ids it recorded before carry no digest, and must still be redeliveries.
    from sqlalchemy import text

    from probidad.shared.database import Database

    old = Database(database_url)
    async with old.engine.begin() as connection:  # processed_event as an earlier version made it, then migrated
        await connection.execute(text("CREATE TABLE processed_event (consumer_group VARCHAR(200) NOT NULL, "
                                      "event_id VARCHAR(64) NOT NULL, processed_at TIMESTAMP WITH TIME ZONE NOT NULL, "
                                      "PRIMARY KEY (consumer_group, event_id))"))
        await connection.execute(text("INSERT INTO processed_event VALUES ('probidad-ledger', 'e-old', "
                                      "CURRENT_TIMESTAMP)"))
        await connection.execute(text("ALTER TABLE processed_event ADD COLUMN content_digest VARCHAR(64)"))
    await old.dispose()
    async with ledger.running(database_url, tmp_path, group=GROUP) as runtime:
        consumer = runtime.consumers[0][0]
        assert await consumer.process(*record(seal(institution("inst-z"), event_id="e-old"), 0)) == "duplicate"
        assert await consumer.process(*record(seal(institution("inst-y"), event_id="e-new"), 1)) == "applied"
        assert await ledger.ledger_rows(runtime) == [("inst-y", 120)]

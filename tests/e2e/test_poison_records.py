"""Issue 14 on the real broker: one bad record among 80 agency requests on one key.

Before, FastStream decoded the batch first and a failure there was swallowed (the next ack committed
past the whole batch: 0 of 81, then 37 of 80 servants registered, lag 0, no dead letter), and three
records made the consumer retry its batch forever. Now the enrollment process registers all 80 valid
requests, dead-letters the bad one with its reason and coordinates, and commits to the end.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta

import httpx
import pytest
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from contracts.events import ServantSubmitted
from contracts.topics import (
    ENROLLMENT_EVENTS, AGENCY_REQUEST_RETENTION_MS, AGENCY_REQUESTS, dead_letter_config, dead_letter_topic,
)
from probidad.shared.auth import issue_token
from probidad.shared.kafka import ensure_dead_letter_topics, ensure_topics
from probidad.shared.settings import DEV_JWT_SECRET
from services.enrollment.servants.domain.curp import curp_check_digit
from tests.support.kafka_tools import eventually
from tests.support.processes import ServiceProcess, free_port
from tests.support.records import group_lag, letter_headers, read_all, send_raw, topic_retention_ms, wire

pytestmark = pytest.mark.kafka

ADMIN = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'comptroller')}"}
GROUP = "probidad-enrollment"


def curp(n: int) -> str:
    born = date(1960, 1, 1) + timedelta(days=n)
    body = f"GOMA{born:%y%m%d}MYNRRN0"
    return body + curp_check_digit(body)


def request(institution_id: str, n: int) -> ServantSubmitted:
    # A person belongs to one institution: each case's servants are other people.
    person = 1_000 * sum(map(ord, institution_id)) + n
    return ServantSubmitted(request_id=f"rq-{institution_id}-{n}", institution_id=institution_id,
                            name=f"Servidora {n}", curp=curp(person), sex="female")


def headers_of(institution_id: str, **changed: bytes) -> list[tuple[str, bytes]]:
    """The headers of a valid request, with some values changed."""
    _key, _value, headers = wire(request(institution_id, 999))
    return [(name, changed.get(name.replace("-", "_"), raw)) for name, raw in headers]


def valid_value(institution_id: str) -> dict:
    return request(institution_id, 998).model_dump(mode="json")


def huge_value(institution_id: str) -> bytes:
    """A request of about a megabyte that just fits the broker's limit (message.max.bytes, 1 MiB + 12),
    so its dead letter, with the reason and coordinates added, would not fit the producer's (1 MiB)."""
    value = {**valid_value(institution_id), "name": ""}
    plain = json.dumps(value).encode()
    framed = DefaultRecordBatchBuilder.estimate_size_in_bytes(institution_id.encode(), plain,
                                                              headers_of(institution_id))
    return json.dumps({**value, "name": "x" * (1_048_400 - framed)}).encode()


POISON = {
    "a ce_source header that is not UTF-8": lambda i: (headers_of(i, ce_source=b"agency\xff\xfehr"),
                                                       json.dumps(valid_value(i)).encode(), "ce_source"),
    "content-type json and a value that is not JSON": lambda i: (headers_of(i), b"{not json", "not JSON"),
    "200,000 opening brackets": lambda i: (headers_of(i), b"[" * 200_000, "RecursionError"),
    "a JSON number of 5,000 digits": lambda i: (headers_of(i), b"7" * 5_000, "ValueError"),
    "a record of about a megabyte": lambda i: (headers_of(i), huge_value(i), "cut to"),
}


@pytest.fixture(scope="module")
def enrollment(kafka_bootstrap, tmp_path_factory):
    state = tmp_path_factory.mktemp("enrollment")
    prefix = f"t{uuid.uuid4().hex[:10]}."
    env = {"PROBIDAD_KAFKA_BOOTSTRAP": kafka_bootstrap, "PROBIDAD_TOPIC_PREFIX": prefix,
           "PROBIDAD_STATE_DIR": str(state), "PROBIDAD_JWT_SECRET": DEV_JWT_SECRET,
           "PROBIDAD_DATABASE_URL": f"sqlite+aiosqlite:///{state / 'enrollment.db'}"}
    service = ServiceProcess("services.enrollment", env, free_port(), state / "enrollment.log").start()
    service.prefix = prefix
    try:
        yield service
    finally:
        service.stop()


def registered(service: ServiceProcess, institution_id: str) -> int:
    with httpx.Client(base_url=service.url, headers=ADMIN, timeout=10) as c:
        answer = c.get("/servants", params={"institution_id": institution_id, "limit": 1000})
        answer.raise_for_status()
        return len(answer.json())


@pytest.mark.parametrize("poison", list(POISON))
async def test_one_bad_request_among_eighty_is_dead_lettered_and_the_eighty_are_registered(
        enrollment, kafka_bootstrap, poison):
    institution_id = f"in-poison-{list(POISON).index(poison)}"
    with httpx.Client(base_url=enrollment.url, headers=ADMIN, timeout=10) as c:
        made = c.post("/institutions", json={"institution_id": institution_id, "name": "SEFIPLAN",
                                             "government_level": "state", "headcount": 500, "headcount_year": 2026})
        assert made.status_code == 201, made.text
    topic = f"{enrollment.prefix}{AGENCY_REQUESTS}"
    dlq = dead_letter_topic(topic, GROUP)
    headers, value, expected_reason = POISON[poison](institution_id)
    key = institution_id.encode()
    records = [wire(request(institution_id, n)) for n in range(40)] + [(key, value, headers)] + \
        [wire(request(institution_id, n)) for n in range(40, 80)]
    await send_raw(kafka_bootstrap, [(topic, record) for record in records])

    async def settled():
        letters = [r for r in await read_all(kafka_bootstrap, dlq) if r.key == key]
        lag = await group_lag(kafka_bootstrap, GROUP, [topic])
        return (letters, lag) if letters and lag == 0 else None

    letters, _lag = await eventually(settled, timeout_s=90, what="dead letter and lag 0")
    assert registered(enrollment, institution_id) == 80, enrollment.tail()
    assert len(letters) == 1
    letter = letter_headers(letters[0])
    assert expected_reason in letter["dlq_reason"], letter["dlq_reason"]
    assert letter["dlq_reason_kind"] == "contract"
    assert letter["dlq_original_topic"] == topic
    assert letters[0].key == key
    originals = [r for r in await read_all(kafka_bootstrap, topic) if r.key == key]
    poisoned = originals[40]
    assert (letter["dlq_original_partition"], letter["dlq_original_offset"]) == \
        (str(poisoned.partition), str(poisoned.offset))
    if len(value) > 1_000_000:
        assert len(letters[0].value) < 100_000 and value.startswith(letters[0].value)
    else:
        assert letters[0].value == value, "the dead letter keeps the record's value as it was"


async def test_agency_requests_and_their_dead_letters_are_kept_seven_days_and_events_forever(
        enrollment, kafka_bootstrap):
    # The service made these topics itself (their prefix is new): each with the retention its spec says.
    topic = f"{enrollment.prefix}{AGENCY_REQUESTS}"
    assert await topic_retention_ms(kafka_bootstrap, topic) == str(7 * 24 * 3600 * 1000)
    dead_letters = await topic_retention_ms(kafka_bootstrap, dead_letter_topic(topic, GROUP))
    assert dead_letters == str(AGENCY_REQUEST_RETENTION_MS) == str(7 * 24 * 3600 * 1000)
    assert await topic_retention_ms(kafka_bootstrap, f"{enrollment.prefix}{ENROLLMENT_EVENTS}") == "-1"


async def test_a_dead_letter_topic_made_to_keep_agency_requests_forever_is_brought_to_seven_days(
        kafka_bootstrap, topic_prefix):
    dlq = dead_letter_topic(f"{topic_prefix}{AGENCY_REQUESTS}", GROUP)
    await ensure_topics(kafka_bootstrap, [dlq], config={"retention.ms": "-1"})
    assert await topic_retention_ms(kafka_bootstrap, dlq) == "-1"
    config = dead_letter_config(f"{topic_prefix}{AGENCY_REQUESTS}", topic_prefix)
    await ensure_dead_letter_topics(kafka_bootstrap, [dlq], config=config)
    assert await topic_retention_ms(kafka_bootstrap, dlq) == str(AGENCY_REQUEST_RETENTION_MS)


async def test_a_header_name_that_is_not_utf8_sent_by_kcat_is_dead_lettered_and_the_eighty_are_registered(
        enrollment, kafka_bootstrap, kcat):
    # aiokafka unpacks header names as UTF-8 below any code of ours: before, this one record made every
    # poll of its partition fail, for good. aiokafka's producer cannot even send it; kcat can.
    import asyncio

    institution_id = "in-poison-header-name"
    with httpx.Client(base_url=enrollment.url, headers=ADMIN, timeout=10) as c:
        made = c.post("/institutions", json={"institution_id": institution_id, "name": "SEFIPLAN",
                                             "government_level": "state", "headcount": 500, "headcount_year": 2026})
        assert made.status_code == 201, made.text
    topic = f"{enrollment.prefix}{AGENCY_REQUESTS}"
    key = institution_id.encode()
    await send_raw(kafka_bootstrap, [(topic, wire(request(institution_id, n))) for n in range(40)])
    poison = [b"-H" + name.encode() + b"=" + value for name, value in headers_of(institution_id)]
    sent = await asyncio.create_subprocess_exec(
        kcat, "-b", kafka_bootstrap, "-P", "-t", topic, "-k", institution_id, *poison, b"-Hx-hr\xff\xfe=1",
        stdin=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _out, errors = await sent.communicate(json.dumps(valid_value(institution_id)).encode())
    assert sent.returncode == 0, errors
    await send_raw(kafka_bootstrap, [(topic, wire(request(institution_id, n))) for n in range(40, 80)])

    async def settled():
        letters = [r for r in await read_all(kafka_bootstrap, dead_letter_topic(topic, GROUP)) if r.key == key]
        lag = await group_lag(kafka_bootstrap, GROUP, [topic])
        return (letters, lag) if letters and lag == 0 else None

    letters, _lag = await eventually(settled, timeout_s=90, what="dead letter and lag 0")
    assert registered(enrollment, institution_id) == 80, enrollment.tail()
    [letter] = [letter_headers(r) for r in letters]
    assert "header name 'x-hr\\\\xff\\\\xfe' is not UTF-8" in letter["dlq_reason"], letter["dlq_reason"]
    assert letter["x-hr\\xff\\xfe"] == "1", "the letter keeps the header, its name escaped"

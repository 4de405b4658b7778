"""Fuzz on the real broker: over ten thousand malformed records, interleaved on the same keys with the
valid events of a small programme, into every topic a service consumes — with the four services
running as processes.

Afterwards every valid event is applied exactly once by every group that handles it, every malformed
record — and every event id reused with other content, by each group that handles its type — is on
its group's dead-letter topic with a reason and its coordinates, no group lags, the services are idle,
and reporting's figures are the programme's own: none of those, nor events naming unknown ids, change them.

Bounded: about a minute or two on two cores (the seed is fixed, so a failure replays).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import random
import re
import sqlite3
import string
import time
import uuid
from collections import Counter, defaultdict
from datetime import date, timedelta

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from contracts.envelope import REQUIRED_HEADERS, seal, to_record
from contracts.events import EVENTS_BY_TYPE, ServantSubmitted
from contracts.topics import (
    AGENCY_REQUESTS, ATTENDANCE_EVENTS, CERTIFICATION_EVENTS, ENROLLMENT_EVENTS, dead_letter_topic,
)
from probidad.ops.platform import launch, stop_services, wait_until_healthy
from probidad.ops.programme import generate, small_plan
from probidad.shared.auth import issue_token
from probidad.shared.kafka import ensure_topics
from probidad.shared.kafka_security import SERVICE_CONSUMES
from probidad.shared.settings import DEV_JWT_SECRET
from services.enrollment.servants.domain.curp import curp_check_digit
from tests.support.kafka_tools import eventually
from tests.support.processes import free_port
from tests.support.records import LARGE_REQUESTS, cpu_seconds, group_lag, letter_headers, read_all

pytestmark = pytest.mark.kafka

SEED = 1414
ADMIN = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'comptroller')}"}
INSTITUTION = "in-fuzz"

# Who consumes what (each service's one consumer group).
# Each service's group and the topics it reads (enrollment also reads certification's completions);
# tests/unit/test_kafka_security.py checks this against the services' own wiring.
CONSUMERS = SERVICE_CONSUMES
MALFORMED = {AGENCY_REQUESTS: 1_500, ENROLLMENT_EVENTS: 3_500, ATTENDANCE_EVENTS: 3_000, CERTIFICATION_EVENTS: 2_000}
OVERSIZE_PER_TOPIC = 3
AGENCY_VALID = 60
MARK = "x-fuzz-case"  # on every record the fuzz makes: its kind (the valid programme events have none)
# Valid events whose ids name facts: a copy naming unknown ones is still valid, and must wait.
REFERRING = {"probidad.enrollment.enrolment.confirmed.v1", "probidad.enrollment.enrolment.cancelled.v1",
             "probidad.attendance.attendance.recorded.v1", "probidad.attendance.attendance.corrected.v1",
             "probidad.attendance.assessment.graded.v1", "probidad.certification.certificate.issued.v1",
             "probidad.certification.certificate.revoked.v1", ServantSubmitted.type}
IDLE_CORE_LIMIT = 0.15  # a consumer spinning on a record uses a whole core


def curp(n: int) -> str:
    body = f"FUZZ{date(1960, 1, 1) + timedelta(days=n):%y%m%d}HYNRRN0"
    return body + curp_check_digit(body)


def wire(envelope) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    key, value, headers = to_record(envelope)
    return key, value, [(name, text.encode()) for name, text in headers.items()]


class Fuzzer:
    """Malformed variants of a valid record (key, value, headers), drawn from one seeded generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.kinds = [name.removeprefix("bad_") for name in dir(self) if name.startswith("bad_")]

    def malformed(self, record) -> tuple[str, tuple]:
        kind = self.rng.choice(self.kinds)
        key, value, headers = record
        headers = [(n, str(uuid.uuid4()).encode() if n == "ce_id" else v) for n, v in headers]
        made_value, made_headers = getattr(self, f"bad_{kind}")(value, headers)
        return kind, (key, made_value, [*made_headers, (MARK, kind.encode())])

    def _text(self, n: int) -> str:
        return "".join(self.rng.choice(string.printable) for _ in range(n))

    def _replace(self, headers, name: str, raw: bytes):
        return [(n, raw if n == name else v) for n, v in headers]

    # values
    def bad_random_bytes(self, value, headers):
        return self.rng.randbytes(self.rng.randint(0, 600)), headers

    def bad_value_not_utf8(self, value, headers):
        cut = self.rng.randint(1, len(value) - 1)
        return value[:cut] + self.rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]) + \
            value[cut:], headers

    def bad_json_with_content_type(self, value, headers):
        return self.rng.choice([b"{not json", value[: self.rng.randint(0, len(value) - 1)], value + b"}",
                                value.replace(b'"', b"'"), b"{" + value]), headers

    def bad_json_without_content_type(self, value, headers):
        bad, _ = self.bad_json_with_content_type(value, headers)
        return bad, [(n, v) for n, v in headers if n != "content-type"]

    def bad_deep_nesting(self, value, headers):
        depth = self.rng.choice([1_100, 5_000, 30_000, 200_000]) if self.rng.random() < 0.05 else \
            self.rng.randint(1_000, 5_000)
        opener = self.rng.choice([b"[", b'{"a":', b'[{"x":'])
        return opener * min(depth, 210_000 // len(opener)), headers

    def bad_huge_number(self, value, headers):
        digits = str(self.rng.randint(1, 9)).encode() * self.rng.randint(4_301, 20_000)
        if self.rng.random() < 0.5:
            return digits, headers
        return value[:-1] + b', "extra": ' + digits + b"}", headers

    def bad_wrong_shape(self, value, headers):
        return self.rng.choice([b"[]", b'"text"', b"42", b"null", b"true", b"[" + value + b"]", b"{}",
                                b'{"data": ' + value + b"}"]), headers

    def bad_wrong_types(self, value, headers):
        data = json.loads(value)
        name = self.rng.choice(sorted(data))
        data[name] = self.rng.choice([[{"x": [1]}], {"nested": {"deeper": [None]}}, [[[]]]])
        return json.dumps(data).encode(), headers

    def bad_missing_field(self, value, headers):
        data = json.loads(value)
        event_type = dict(headers)["ce_type"].decode()
        required = [n for n, f in EVENTS_BY_TYPE[event_type].model_fields.items() if f.is_required() and n in data]
        if not required:
            return b"{}", headers
        del data[self.rng.choice(required)]
        return json.dumps(data).encode(), headers

    def bad_empty_value(self, value, headers):
        return self.rng.choice([None, b"", b" "]), headers

    # headers
    def bad_header_not_utf8(self, value, headers):
        name = self.rng.choice([*REQUIRED_HEADERS, "ce_time", "ce_subject", "content-type", "ce_correlationid"])
        return value, self._replace(headers, name, b"\xfe" + self.rng.randbytes(8) + b"\xff")

    def bad_random_headers(self, value, headers):
        made = [(self._text(self.rng.randint(1, 12)), self.rng.randbytes(self.rng.randint(0, 40)))
                for _ in range(self.rng.randint(0, 6))]
        return value, made

    def bad_missing_ce_header(self, value, headers):
        gone = self.rng.choice(REQUIRED_HEADERS)
        return value, [(n, v) for n, v in headers if n != gone]

    def bad_duplicated_ce_header(self, value, headers):
        # The last of two values counts (as reporting's rebuild decoder also reads it): a bad one.
        return value, [*headers, self.rng.choice([("ce_specversion", b"0.3"), ("ce_type", b"probidad.nothing.v1"),
                                                   ("ce_id", b""), ("ce_time", b"soon")])]

    def bad_unknown_ce_header_and_no_id(self, value, headers):
        return value, [*[(n, v) for n, v in headers if n != "ce_id"], ("ce_" + self._text(5), b"?")]

    def bad_unknown_type(self, value, headers):
        unknown = self.rng.choice([b"probidad.enrollment.session.exploded.v1", b"", b"x" * 300,
                                   b"probidad.enrollment.session.scheduled.v9"])
        return value, self._replace(headers, "ce_type", unknown)

    def bad_spec_version(self, value, headers):
        return value, self._replace(headers, "ce_specversion", self.rng.choice([b"0.3", b"2.0", b"", b"1"]))

    def bad_time(self, value, headers):
        return value, self._replace(headers, "ce_time", self.rng.choice([b"yesterday", b"2026-13-40T99:00:00Z", b"0"]))


def ghost(envelope, rng: random.Random, n: int):
    """A copy of a valid event naming ids nobody knows (all of them, or just the servant)."""
    data = envelope.event.model_dump(mode="json")
    names = [k for k in data if k.endswith("_id") and k != "request_id"]
    if "servant_id" in names and rng.random() < 0.5:
        names = ["servant_id"]
    for name in names:
        data[name] = f"ghost-{name[:-3]}-{n}"
    if "curp" in data:
        data["curp"] = curp(20_000 + n)
    return type(envelope.event).model_validate(data)


def build_stream(programme, rng: random.Random) -> tuple[list, dict]:
    """Every record to send, in order: (topic, key, value, headers, kind or None for a valid event)."""
    fuzzer = Fuzzer(rng)
    requests = [seal(ServantSubmitted(request_id=f"rq-fuzz-{n}", institution_id=INSTITUTION, name=f"Servidor {n}",
                                      curp=curp(n), sex="male")) for n in range(AGENCY_VALID)]
    by_topic = defaultdict(list)
    for envelope in [*programme.envelopes, *requests]:
        by_topic[envelope.event.kafka_topic].append(envelope)
    stream: list = []
    planned: Counter = Counter()
    for topic, envelopes in by_topic.items():
        per_valid = MALFORMED[topic] // len(envelopes) + 1
        left = MALFORMED[topic]
        same_type = defaultdict(list)
        for envelope in envelopes:
            same_type[envelope.type].append(envelope)
        for index, envelope in enumerate(envelopes):
            key, value, headers = wire(envelope)
            stream.append((topic, key, value, headers, None))
            for _ in range(min(per_valid, left)):
                kind, (k, v, h) = fuzzer.malformed((key, value, headers))
                stream.append((topic, k, v, h, kind))
                left -= 1
            others = [e for e in same_type[envelope.type] if e.event != envelope.event]
            if index % 3 == 0 and others:  # this event's id again, with another event's content
                _k, other_value, _h = wire(rng.choice(others))
                stream.append((topic, key, other_value, [*headers, (MARK, b"reused_id")], "reused_id"))
            if envelope.type in REFERRING and index % 2 == 0:
                _k, v, h = wire(seal(ghost(envelope, rng, len(stream))))
                stream.append((topic, key, v, [*h, (MARK, b"unknown_ids")], "unknown_ids"))
        for n in range(OVERSIZE_PER_TOPIC):  # about a megabyte: fits the broker, not a dead letter
            key, value, headers = wire(envelopes[n])
            headers = [(h, str(uuid.uuid4()).encode() if h == "ce_id" else v) for h, v in headers]
            stream.append((topic, key, b'{"pad": "' + b"x" * (1_040_000 - len(value)) + b'"}',
                           [*headers, (MARK, b"oversize")], "oversize"))
    for *_rest, kind in stream:
        planned[kind or "valid"] += 1
    return stream, planned


def handled_types(name: str, tmp_path) -> set[str]:
    """The event types the service's consumer group has handlers for, over all its subscriptions (its
    runtime, built but not started)."""
    app = importlib.import_module(f"services.{name}.app")
    settings_cls = getattr(importlib.import_module(f"services.{name}.settings"), f"{name.capitalize()}Settings")
    runtime = app.create_runtime(settings_cls(state_dir=tmp_path / "introspection"))
    return {kind for consumer, _topics in runtime.consumers for kind in consumer.handlers}


def processed_ids(database, group: str) -> list[str]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        return [row[0] for row in connection.execute(
            "SELECT event_id FROM processed_event WHERE consumer_group = ?", (group,))]


def applied_counter(metrics: str, group: str) -> float:
    pattern = (r'probidad_events_consumed_total\{[^}]*group="' + re.escape(group)
               + r'"[^}]*outcome="applied"[^}]*\} (\S+)')
    return sum(float(v) for v in re.findall(pattern, metrics))


async def test_ten_thousand_malformed_records_are_dead_lettered_and_every_valid_event_is_applied_once(
        kafka_bootstrap, topic_prefix, tmp_path):
    started = time.monotonic()
    rng = random.Random(SEED)
    programme = generate(small_plan(seed=SEED))
    stream, planned = build_stream(programme, rng)
    assert sum(planned[k] for k in planned if k not in ("valid", "reused_id", "unknown_ids")) >= 10_000

    topics = {t: f"{topic_prefix}{t}" for t in MALFORMED}
    await ensure_topics(kafka_bootstrap, list(topics.values()))
    services = []
    for name in CONSUMERS:
        env = {"PROBIDAD_KAFKA_BOOTSTRAP": kafka_bootstrap, "PROBIDAD_TOPIC_PREFIX": topic_prefix,
               "PROBIDAD_STATE_DIR": str(tmp_path), "PROBIDAD_JWT_SECRET": DEV_JWT_SECRET,
               "PROBIDAD_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / name}.db"}
        services.append(launch(name, free_port(), {**os.environ, **env}, tmp_path / f"{name}.log"))
    try:
        wait_until_healthy(services, 90)
        urls = {s.name: f"http://127.0.0.1:{s.port}" for s in services}
        async with httpx.AsyncClient(headers=ADMIN, timeout=30) as http:
            made = await http.post(f"{urls['enrollment']}/institutions", json={
                "institution_id": INSTITUTION, "name": "Secretaría de Prueba", "government_level": "state",
                "headcount": 500, "headcount_year": 2026})
            assert made.status_code == 201, made.text

            # Send in order and keep where each record landed.
            producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True,
                                        max_request_size=LARGE_REQUESTS, linger_ms=20)
            await producer.start()
            try:
                landed = []
                pending = []
                for t, k, v, h, kind in stream:
                    if kind == "oversize":  # alone in its request: with others the batch would pass the broker's limit
                        landed += [await f for f in pending]
                        pending = []
                        landed.append(await producer.send_and_wait(topics[t], v, key=k, headers=h))
                    else:
                        pending.append(await producer.send(topics[t], v, key=k, headers=h))
                landed += [await f for f in pending]
            finally:
                await producer.stop()
            sent_at = time.monotonic()
            bad = {(topics[t], m.partition, m.offset): kind for (t, _k, _v, _h, kind), m in zip(stream, landed)
                   if kind not in (None, "reused_id", "unknown_ids")}
            # An id reused with other content is a contract error for each group that handles its type
            # (it comes after the event it copies the id of, on the same key); other groups ignore it.
            reused = {(topics[t], m.partition, m.offset): dict(h)["ce_type"].decode()
                      for (t, _k, _v, h, kind), m in zip(stream, landed) if kind == "reused_id"}

            # Settled: every group at the end of its topics, and every bad record dead-lettered by each group.
            wanted_letters = {
                dead_letter_topic(topics[t], group): {c for c in bad if c[0] == topics[t]} | {
                    c for c, ce_type in reused.items()
                    if c[0] == topics[t] and ce_type in handled_types(name, tmp_path)}
                for name, (group, consumed) in CONSUMERS.items() for t in consumed}
            expected_letters = {(dead_letter_topic(topics[t], group), t):
                                len(wanted_letters[dead_letter_topic(topics[t], group)])
                                for group, consumed in CONSUMERS.values() for t in consumed}

            async def settled() -> dict | None:
                for group, consumed in CONSUMERS.values():
                    if await group_lag(kafka_bootstrap, group, [topics[t] for t in consumed]):
                        return None
                letters = {}
                for (dlq, _t), want in expected_letters.items():
                    letters[dlq] = await read_all(kafka_bootstrap, dlq)
                    distinct = {(h["dlq_original_partition"], h["dlq_original_offset"])
                                for h in map(letter_headers, letters[dlq])}
                    if len(distinct) < want:
                        return None
                return letters

            letters = await eventually(settled, timeout_s=600, interval_s=2, what="lag 0 and every dead letter")
            drained = time.monotonic()

            # Every bad record is on each consuming group's dead-letter topic, with a reason, exactly once.
            reasons: Counter = Counter()
            reused_letters = 0
            repeated = 0
            for group, consumed in CONSUMERS.values():
                for t in consumed:
                    dlq = dead_letter_topic(topics[t], group)
                    seen = Counter()
                    for letter in letters[dlq]:
                        h = letter_headers(letter)
                        assert h["dlq_reason"] and h["dlq_consumer_group"] == group
                        assert h["dlq_original_topic"] == topics[t]
                        coordinates = (topics[t], int(h["dlq_original_partition"]), int(h["dlq_original_offset"]))
                        assert coordinates in wanted_letters[dlq], \
                            f"{group} dead-lettered a record that was valid: {h['dlq_reason']}"
                        seen[coordinates] += 1
                        reasons[h["dlq_reason_kind"]] += 1
                        if coordinates in reused:
                            reused_letters += 1
                            assert "already applied" in h["dlq_reason"] and "for other content" in h["dlq_reason"]
                    assert set(seen) == wanted_letters[dlq], (group, t)
                    # A letter sent again means a redelivery (a rebalance took the partition before the commit).
                    repeated += sum(n - 1 for n in seen.values())

            # Every valid event is applied exactly once by every group that handles its type.
            outside = {(topics[t], m.partition, m.offset) for (t, *_r), m in zip(stream, landed)}
            valid_ids: dict[str, set[tuple[str, str]]] = defaultdict(set)  # topic -> (type, id)
            for t in MALFORMED:
                for record in await read_all(kafka_bootstrap, topics[t]):
                    coordinates = (topics[t], record.partition, record.offset)
                    h = dict(record.headers)
                    if coordinates in outside and MARK in h and h[MARK] != b"unknown_ids":
                        continue  # malformed, or an id reused with other content
                    valid_ids[t].add((h["ce_type"].decode(), h["ce_id"].decode()))
            metrics = {s.name: (await http.get(f"{urls[s.name]}/metrics")).text for s in services}
            applied_total = 0
            for name, (group, consumed) in CONSUMERS.items():
                handled = handled_types(name, tmp_path)
                expected = {i for t in consumed for (ty, i) in valid_ids[t] if ty in handled}
                applied = processed_ids(tmp_path / f"{name}.db", group)
                assert set(applied) >= expected, f"{name}: {len(expected - set(applied))} valid events not applied"
                assert set(applied) == expected, f"{name} applied records that were not valid events"
                assert applied_counter(metrics[name], group) == len(applied), f"{name} applied an event twice"
                applied_total += len(applied)
            servants = (await http.get(f"{urls['enrollment']}/servants",
                                       params={"institution_id": INSTITUTION, "limit": 1000})).json()
            assert len(servants) == AGENCY_VALID, "every valid agency request registered its servant, no other did"

            # Idle: nothing left to decide, nothing retried.
            before = {s.name: cpu_seconds(s.process.pid) for s in services}
            idle_from = time.monotonic()
            await asyncio.sleep(5)
            idle_s = time.monotonic() - idle_from
            cores = {name: (cpu_seconds(s.process.pid) - before[name]) / idle_s
                     for name, s in ((s.name, s) for s in services)}
            print(f"\nfuzz: sent {len(stream)} records ({dict(planned)}); dead letters {dict(reasons)} "
                  f"({sum(reasons.values())}, {reused_letters} for reused ids, {repeated} again after a redelivery); "
                  f"applied {applied_total} (all groups); "
                  f"drained {drained - sent_at:.1f} s after sending; total {time.monotonic() - started:.1f} s; "
                  f"idle CPU " + ", ".join(f"{n} {c:.3f} core" for n, c in cores.items()))
            assert all(c < IDLE_CORE_LIMIT for c in cores.values()), cores

            # The figures are the programme's: nothing malformed, unknown or reused changed them (a fact naming an
            # unknown servant, session or certificate waits: the design's trust rules).
            reporting = urls["reporting"]
            for number, plan in programme.plan.months.items():
                answer = await http.get(f"{reporting}/reports/figures", params={"month": f"2026-{number:02d}"})
                row = answer.json()["rows"][0]
                assert (row["sessions_delivered"], row["servants_trained"]) == \
                    (plan.sessions_delivered, plan.servants_trained), \
                    f"2026-{number:02d}: {row} (do facts naming unknown servants or sessions count?)"
            year = (await http.get(f"{reporting}/reports/figures", params={"year": 2026})).json()["rows"][0]
            assert year["servants_trained"] == len(programme.trained()), year
    finally:
        stop_services(services)

"""A secure broker (``probidad kafka start --secure``) lets each principal do its own work and nothing else.

One secure single-node cluster for the module, in its own state dir and ports, started and stopped
here; two agencies (salud, educacion) get their credentials from ``probidad agency credentials``.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError, TopicAuthorizationFailedError

from contracts.events import EnrolmentRequested
from contracts.topics import (
    AGENCY_REQUESTS, ATTENDANCE_EVENTS, CERTIFICATION_EVENTS, ENROLLMENT_EVENTS, PLATFORM_TOPICS, REPORTING_EVENTS,
)
from probidad.ops import agencies, kafkactl
from probidad.ops.localhost import port_free
from probidad.ops.platform import start_services, stop_services
from probidad.shared.kafka_security import KafkaSecurity

pytestmark = pytest.mark.kafka


def _free_block(size: int = 3) -> int:
    for base in range(29300, 29900, 10):
        if all(port_free(base + i) for i in range(size)):
            return base
    raise RuntimeError("no three free ports for the secure broker")


@pytest.fixture(scope="module")
def secure(tmp_path_factory):
    state = tmp_path_factory.mktemp("secure-kafka")
    cluster = kafkactl.start_cluster(state_dir=state, base_port=_free_block(), secure=True)
    try:
        salud = agencies.issue("salud", state)
        educacion = agencies.issue("educacion", state)
        yield cluster, salud, educacion, state
    finally:
        kafkactl.stop_cluster(state)


def kcat_run(kcat: str, credentials: agencies.AgencyCredentials, *args: str, data: bytes | None = None):
    command = [kcat, "-b", credentials.bootstrap, *credentials.security.kcat_args(), *args]
    return subprocess.run(command, input=data, capture_output=True, timeout=60)


def request_headers(event_type: str = EnrolmentRequested.type) -> list[str]:
    headers = {"ce_specversion": "1.0", "ce_id": str(uuid.uuid4()), "ce_source": "agency/hr-system",
               "ce_type": event_type, "ce_time": "2026-10-01T12:00:00Z", "content-type": "application/json"}
    return [arg for name, value in headers.items() for arg in ("-H", f"{name}={value}")]


def kcat_produce(kcat, credentials, topic: str, value: dict):
    return kcat_run(kcat, credentials, "-P", "-t", topic, "-k", credentials.institution, *request_headers(),
                    data=json.dumps(value).encode())


async def produce(bootstrap: str, security: KafkaSecurity, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=10000, **security.aiokafka())
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"{}")
    finally:
        await producer.stop()


def test_an_agency_writes_requests_for_its_own_institution_and_no_other_topic(secure, kcat):
    _cluster, salud, educacion, _state = secure
    own = kcat_produce(kcat, salud, salud.requests_topic, {"request_id": "r-1", "institution_id": "salud",
                                                          "session_id": "se-1", "servant_id": "srv-1"})
    assert own.returncode == 0, own.stderr
    for topic in (educacion.requests_topic, CERTIFICATION_EVENTS, ENROLLMENT_EVENTS, AGENCY_REQUESTS,
                  salud.outcomes_topic):
        refused = kcat_produce(kcat, salud, topic, {"request_id": "r-2", "institution_id": "salud"})
        assert refused.returncode != 0 and b"Topic authorization failed" in refused.stderr, (topic, refused.stderr)


def test_an_agency_reads_its_own_outcomes_and_no_other_topic(secure, kcat):
    _cluster, salud, educacion, _state = secure
    own = kcat_run(kcat, salud, "-C", "-t", salud.outcomes_topic, "-o", "beginning", "-e")
    assert own.returncode == 0, own.stderr
    for topic in (educacion.outcomes_topic, salud.requests_topic, ENROLLMENT_EVENTS, CERTIFICATION_EVENTS):
        refused = kcat_run(kcat, salud, "-C", "-t", topic, "-o", "beginning", "-e")
        assert refused.returncode != 0 and b"authorization failed" in refused.stderr, (topic, refused.stderr)


async def test_a_service_writes_its_own_topic_and_is_refused_another_services(secure):
    cluster, *_ = secure
    attendance = cluster.secrets.service("attendance")
    await produce(cluster.bootstrap, attendance, ATTENDANCE_EVENTS)
    for topic in (CERTIFICATION_EVENTS, ENROLLMENT_EVENTS, AGENCY_REQUESTS):
        with pytest.raises(TopicAuthorizationFailedError):
            await produce(cluster.bootstrap, attendance, topic)


async def test_reporting_writes_only_its_own_topic(secure):
    cluster, *_ = secure
    reporting = cluster.secrets.service("reporting")
    await produce(cluster.bootstrap, reporting, REPORTING_EVENTS)  # the reports it publishes
    for spec in PLATFORM_TOPICS:
        if spec.name == REPORTING_EVENTS:
            continue
        with pytest.raises(TopicAuthorizationFailedError):
            await produce(cluster.bootstrap, reporting, spec.name)


async def test_a_client_without_credentials_is_refused(secure, kcat):
    cluster, salud, *_ = secure
    # Plain TCP to the SASL_SSL listener: the broker never completes a request.
    with pytest.raises(KafkaError):
        await asyncio.wait_for(produce(cluster.bootstrap, KafkaSecurity(), CERTIFICATION_EVENTS), 20)
    # The right CA but a wrong password.
    stranger = KafkaSecurity("scram-tls", "probidad-certification", "not-the-password", cluster.secrets.ca_file)
    with pytest.raises(KafkaError):
        await asyncio.wait_for(produce(cluster.bootstrap, stranger, CERTIFICATION_EVENTS), 20)
    # TLS to the agency listener without a client certificate.
    anonymous = subprocess.run([kcat, "-b", salud.bootstrap, "-X", "security.protocol=SSL", "-X",
                                f"ssl.ca.location={salud.security.ca_file}", "-m", "10", "-L"],
                               capture_output=True, timeout=60)
    assert anonymous.returncode != 0 or b" brokers:" not in anonymous.stdout, anonymous.stdout


async def read_until(bootstrap: str, security: KafkaSecurity, topic: str, found, timeout_s: float = 90.0):
    """Read ``topic`` from the start until ``found(records)`` says yes; the records read."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, **security.aiokafka())
    records = []
    await consumer.start()
    try:
        async with asyncio.timeout(timeout_s):
            while not found(records):
                batch = await consumer.getmany(timeout_ms=1000)
                records += [r for rs in batch.values() for r in rs]
    finally:
        await consumer.stop()
    return records


async def kcat_read_until(kcat: str, credentials: agencies.AgencyCredentials, topic: str, marker: bytes,
                          timeout_s: float = 90.0) -> dict:
    """Read ``topic`` with kcat (as the agency) until a record holds ``marker``: its key, headers, JSON value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        read = await asyncio.to_thread(kcat_run, kcat, credentials, "-C", "-t", topic, "-o", "beginning", "-e",
                                       "-J")
        assert read.returncode == 0, read.stderr
        for line in read.stdout.splitlines():
            record = json.loads(line)
            if marker in (record.get("payload") or "").encode():
                headers = record.get("headers") or []
                return {"key": record["key"], "value": json.loads(record["payload"]),
                        "headers": dict(zip(headers[::2], headers[1::2]))}
        if loop.time() > deadline:
            raise AssertionError(f"no record holding {marker!r} on {topic} within {timeout_s:.0f}s")
        await asyncio.sleep(0.5)


async def test_the_platform_runs_on_the_secure_broker_and_answers_an_agency_request(secure, kcat, tmp_path):
    cluster, salud, educacion, _state = secure
    admin = cluster.admin
    running = start_services(tmp_path, cluster.bootstrap, base_port_offset=7000, kafka_secrets=cluster.secrets)
    try:
        # Salud, which enrollment does not know as an institution, asks for a seat: the answer is a RequestRejected.
        asked = kcat_produce(kcat, salud, salud.requests_topic,
                             {"request_id": "rq-secure-1", "institution_id": "salud", "session_id": "se-none",
                              "servant_id": "srv-none"})
        assert asked.returncode == 0, asked.stderr
        # A request on salud's topic naming another institution is not decided: it is dead-lettered.
        forged = kcat_produce(kcat, salud, salud.requests_topic,
                              {"request_id": "rq-secure-2", "institution_id": "educacion", "session_id": "se-none",
                               "servant_id": "srv-none"})
        assert forged.returncode == 0, forged.stderr

        def answered(records) -> bool:
            return any(b"rq-secure-1" in (r.value or b"") for r in records)

        events = await read_until(cluster.bootstrap, admin, ENROLLMENT_EVENTS, answered)
        answer = next(r for r in events if b"rq-secure-1" in (r.value or b""))
        assert dict(answer.headers)["ce_type"] == b"probidad.enrollment.request.rejected.v1"
        assert not any(b"rq-secure-2" in (r.value or b"") for r in events)

        # Salud reads the decision on its own outcome topic, with its certificate, as any agency would.
        decision = await kcat_read_until(kcat, salud, salud.outcomes_topic, b"rq-secure-1")
        assert decision["headers"]["ce_type"] == "probidad.enrollment.request.decided.v1"
        assert decision["key"] == "rq-secure-1"
        assert (decision["value"]["institution_id"], decision["value"]["outcome"], decision["value"]["field"]) == \
            ("salud", "probidad.enrollment.request.rejected.v1", "institution_id")  # salud is not registered
        assert decision["value"]["reason"]
        # The forged request got no decision anywhere; educacion may not read salud's outcomes at all.
        assert b"rq-secure-2" not in kcat_run(kcat, salud, "-C", "-t", salud.outcomes_topic, "-o", "beginning",
                                              "-e").stdout
        refused = kcat_run(kcat, educacion, "-C", "-t", salud.outcomes_topic, "-o", "beginning", "-e")
        assert refused.returncode != 0 and b"authorization failed" in refused.stderr, refused.stderr

        dlq = f"{salud.requests_topic}.probidad-enrollment.dlq"
        letters = await read_until(cluster.bootstrap, admin, dlq, lambda rs: bool(rs))
        assert b"rq-secure-2" in letters[0].value
        assert b"not the institution of this topic" in dict(letters[0].headers)["dlq_reason"]
    finally:
        stop_services(running)

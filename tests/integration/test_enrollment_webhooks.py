"""Webhooks for agencies, on SQLite and PostgreSQL with the in-memory broker: an institution's liaison registers
an endpoint; its request outcomes and its servants' certificates reach a real HTTP receiver on loopback, signed
so that the Standard Webhooks reference library verifies them; another institution's receiver gets nothing;
a failing receiver is retried with growing waits, parked, and replayed."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime

import httpx
import pytest
from prometheus_client import REGISTRY
from standardwebhooks.webhooks import Webhook

from contracts.events import AgencyRequestDecided, CertificateIssued, CertificateRevoked
from services.enrollment.app import create_app
from services.enrollment.settings import EnrollmentSettings
from services.enrollment.webhooks.dispatcher import WebhookDispatcher
from services.enrollment.webhooks.repository import SqlWebhooksRepository
from tests.integration.test_enrollment_agency_requests import submitted
from tests.integration.test_enrollment_api import Platform, curp, register, set_up_programme
from tests.support.harness import ServiceHarness, written_topics
from tests.support.webhook_receiver import WebhookReceiver

BASE_S, RETRY_FOR_S = 0.25, 4.0


@pytest.fixture
async def platform(database_url: str, tmp_path, token_minter):
    settings = EnrollmentSettings(database_url=database_url, state_dir=tmp_path, programme_timezone="America/Cancun",
                                  notify_scheduler=False, webhook_retry_base_s=BASE_S, webhook_retry_max_s=30,
                                  webhook_retry_for_s=RETRY_FOR_S, webhook_timeout_s=5)
    app = create_app(settings)
    outcomes = [settings.topic(AgencyRequestDecided.kafka_topic.format(institution_id=i)) for i in ("in-a", "in-b")]
    async with ServiceHarness(app, topics=[*written_topics(app.state.runtime), *outcomes], tokens=token_minter) \
            as harness:
        p = Platform(harness)
        await set_up_programme(p)
        yield p


@pytest.fixture
def receivers():
    with WebhookReceiver() as a, WebhookReceiver() as b:
        yield a, b


async def register_endpoint(p: Platform, institution: str, url: str, who: str | None = None, **extra):
    async with p.client(who or f"liaison-{institution[-1]}") as c:
        return await c.post(f"/institutions/{institution}/webhooks", json={"url": url, **extra})


async def endpoint_of(p: Platform, institution: str, url: str, **extra) -> tuple[str, str]:
    answer = await register_endpoint(p, institution, url, **extra)
    assert answer.status_code == 201, answer.text
    return answer.json()["endpoint_id"], answer.json()["secret"]


async def send_everything_due(p: Platform, within_s: float = 30.0) -> None:
    """Wait until no delivery to an endpoint still registered is pending: whatever was owed has been sent, so a
    receiver that got nothing by then was owed nothing."""
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        async with p.runtime.unit_of_work() as uow:
            pending = await SqlWebhooksRepository(uow).next_due()
        if pending is None:
            return
        assert asyncio.get_running_loop().time() < deadline, "deliveries still pending"
        await asyncio.sleep(0.05)


async def parked(client: httpx.AsyncClient, letters_url: str, count: int, within_s: float = 30.0) -> list:
    """The endpoint's dead-letter list once it holds ``count`` deliveries."""
    deadline = asyncio.get_running_loop().time() + within_s
    while len(letters := (await client.get(letters_url)).json()) < count:
        assert asyncio.get_running_loop().time() < deadline, f"expected {count} parked, got {letters}"
        await asyncio.sleep(0.05)
    return letters


def delivery_count(outcome: str) -> float:
    return REGISTRY.get_sample_value("probidad_webhook_deliveries_total", {"outcome": outcome}) or 0.0


def verified(secret: str, request) -> dict:
    return Webhook(secret).verify(request.body, request.headers)


async def test_a_liaison_registers_an_endpoint_for_its_institution_only_and_gets_the_secret_once(platform):
    answer = await register_endpoint(platform, "in-a", "https://agencia-a.example.gob.mx/hooks")
    assert answer.status_code == 201, answer.text
    registered = answer.json()
    assert registered["secret"].startswith("whsec_") and registered["institution_id"] == "in-a"
    assert registered["event_types"] == [AgencyRequestDecided.type, CertificateIssued.type, CertificateRevoked.type]
    async with platform.client("liaison-a") as c:
        listed = (await c.get("/institutions/in-a/webhooks")).json()
    assert [e["endpoint_id"] for e in listed] == [registered["endpoint_id"]] and "secret" not in listed[0]

    other = await register_endpoint(platform, "in-a", "https://agencia-b.example/hooks", who="liaison-b")
    unknown = await register_endpoint(platform, "in-z", "https://agencia-b.example/hooks", who="liaison-b")
    assert other.status_code == unknown.status_code == 404
    assert other.json()["detail"].replace("in-a", "?") == unknown.json()["detail"].replace("in-z", "?")
    async with platform.client("liaison-b") as c:
        assert (await c.get("/institutions/in-a/webhooks")).status_code == 404
        assert (await c.delete(f"/institutions/in-a/webhooks/{registered['endpoint_id']}")).status_code == 404
    by_comptroller = await register_endpoint(platform, "in-b", "https://agencia-b.example/hooks", who="comptroller",
                                             event_types=[CertificateIssued.type])
    assert by_comptroller.status_code == 201 and by_comptroller.json()["event_types"] == [CertificateIssued.type]


@pytest.mark.parametrize(("body", "field"), [
    ({"url": "http://agencia-a.example.gob.mx/hooks"}, "url"),
    ({"url": "https://usuario:clave@agencia-a.example/hooks"}, "url"),
    ({"url": "https://agencia-a.example/" + "x" * 2000}, "url"),
    ({"url": "https://agencia-a.example/hooks", "event_types": ["probidad.enrollment.servant.registered.v1"]},
     "event_types"),
])
async def test_a_url_or_event_type_an_agency_may_not_have_is_a_422_naming_the_field(platform, body, field):
    answer = await register_endpoint(platform, "in-a", **body)
    assert answer.status_code == 422 and field in answer.text, answer.text
    async with platform.client("liaison-a") as c:
        assert (await c.get("/institutions/in-a/webhooks")).json() == []


async def test_a_decided_request_reaches_its_institutions_receiver_signed_and_no_other(platform, receivers):
    a, b = receivers
    _, secret_a = await endpoint_of(platform, "in-a", a.url)
    await endpoint_of(platform, "in-b", b.url)
    await platform.harness.send(submitted("rq-1"))
    (decided,) = await platform.events("request.decided.v1")
    (request,) = await a.received(1)
    assert verified(secret_a, request) == json.loads(decided.event.model_dump_json())
    on_kafka = next(m for m in platform.harness.messages if dict(m.headers)["ce_id"] == decided.id)
    assert request.body == on_kafka.body  # the data exactly as on Kafka
    assert (request.headers["ce-id"], request.headers["ce-type"], request.headers["ce-source"],
            request.headers["ce-subject"], request.headers["ce-specversion"], request.headers["content-type"]) == \
        (decided.id, AgencyRequestDecided.type, "probidad/enrollment", "rq-1", "1.0", "application/json")
    assert datetime.fromisoformat(request.headers["ce-time"]) == decided.time
    await send_everything_due(platform)
    assert b.taken() == [], "another institution's receiver hears nothing of in-a's request"
    assert len(a.taken()) == 1, "a redelivery-free flow sends once"


async def test_a_redelivered_request_is_not_delivered_twice(platform, receivers):
    a, _ = receivers
    await endpoint_of(platform, "in-a", a.url)
    (sent,) = await platform.harness.send(submitted("rq-1"))
    await platform.harness.deliver(sent)
    await platform.harness.send(submitted("rq-1"))  # the same request again, under a new event id
    await platform.harness.drain()
    await a.received(1)
    await send_everything_due(platform)
    assert len(a.taken()) == 1


async def test_a_failing_receiver_is_retried_with_growing_waits_then_parked_and_a_replay_delivers_it(
        platform, receivers):
    a, _ = receivers
    a.status = 500
    before = {outcome: delivery_count(outcome) for outcome in ("delivered", "retried", "parked")}
    endpoint_id, secret = await endpoint_of(platform, "in-a", a.url)
    await platform.harness.send(submitted("rq-1"))
    async with platform.client("liaison-a") as c:
        letters_url = f"/institutions/in-a/webhooks/{endpoint_id}/dead-letters"
        (letter,) = await parked(c, letters_url, 1)
        tries = a.taken()
        assert len(tries) >= 3 and letter["attempts"] == len(tries)
        assert (letter["last_status_code"], letter["event_type"]) == (500, AgencyRequestDecided.type)
        assert {t.headers["webhook-id"] for t in tries} == {letter["delivery_id"]}, "one webhook-id on every attempt"
        assert delivery_count("retried") - before["retried"] >= len(tries) - 1
        assert delivery_count("parked") - before["parked"] >= 1
        waits = [later.at - earlier.at for earlier, later in zip(tries, tries[1:], strict=False)]
        for n, wait in enumerate(waits, start=1):  # never sooner than the doubling says
            assert wait >= BASE_S * 2 ** (n - 1) * 0.95, (n, waits)

        a.status = 200
        replayed = await c.post(f"{letters_url}/{letter['delivery_id']}/replay")
        assert replayed.status_code == 200 and replayed.json() == {"replayed": 1}
        delivered = (await a.received(len(tries) + 1))[-1]
        assert delivered.answered == 200 and verified(secret, delivered)["request_id"] == "rq-1"
        assert (await c.get(letters_url)).json() == []
        assert delivery_count("delivered") - before["delivered"] >= 1
        again = await c.post(f"{letters_url}/{letter['delivery_id']}/replay")
        assert again.status_code == 409, "a delivered delivery is not parked"


async def test_several_dispatchers_at_once_never_send_one_delivery_twice(platform):
    """Three more delivery loops on the same database, as three more enrollment instances would run, share
    the work with the service's own; a slow receiver keeps their passes overlapping."""
    with WebhookReceiver(delay_s=0.05) as slow:
        await endpoint_of(platform, "in-a", slow.url)
        await platform.harness.send(*(submitted(f"rq-{n}", curp_=curp(n), name=f"Persona {n}") for n in range(24)))
        others = [WebhookDispatcher(platform.runtime, platform.settings) for _ in range(3)]  # type: ignore[arg-type]
        loops = [asyncio.create_task(other.run()) for other in others]
        try:
            await slow.received(24)
            await send_everything_due(platform)
        finally:
            for loop in loops:
                loop.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
        ids = Counter(r.headers["webhook-id"] for r in slow.taken())
        assert len(ids) == 24 and set(ids.values()) == {1}, ids


async def test_replaying_all_of_an_endpoint_sends_every_parked_delivery(platform, receivers):
    a, _ = receivers
    a.stop()  # down: connections refused
    endpoint_id, _ = await endpoint_of(platform, "in-a", a.url)
    await platform.harness.send(submitted("rq-1"), submitted("rq-2", curp_=None, name="Beto"))
    async with platform.client("liaison-a") as c:
        letters_url = f"/institutions/in-a/webhooks/{endpoint_id}/dead-letters"
        letters = await parked(c, letters_url, 2)
        assert all(letter["last_status_code"] is None and letter["last_error"]
                                         for letter in letters)
        a.start()
        assert (await c.post(f"{letters_url}/replay")).json() == {"replayed": 2}
    got = await a.received(2)
    assert sorted(json.loads(r.body)["request_id"] for r in got) == ["rq-1", "rq-2"]


async def test_a_removed_endpoint_gets_nothing_more_not_even_what_was_pending(platform, receivers):
    a, b = receivers
    kept_id, _ = await endpoint_of(platform, "in-a", b.url)
    a.stop()
    removed_id, _ = await endpoint_of(platform, "in-a", a.url)
    await platform.harness.send(submitted("rq-1"))
    await b.received(1)
    async with platform.client("liaison-a") as c:
        assert (await c.delete(f"/institutions/in-a/webhooks/{removed_id}")).status_code == 204
        assert [e["endpoint_id"] for e in (await c.get("/institutions/in-a/webhooks")).json()] == [kept_id]
        assert (await c.get(f"/institutions/in-a/webhooks/{removed_id}/dead-letters")).status_code == 404
    a.start()
    await platform.harness.send(submitted("rq-2", name="Beto"))
    await b.received(2)
    await send_everything_due(platform)
    assert a.taken() == []


async def test_certificates_of_a_servant_of_one_institution_go_only_to_that_institutions_receiver(
        platform, receivers):
    a, b = receivers
    _, secret_a = await endpoint_of(platform, "in-a", a.url)
    await endpoint_of(platform, "in-b", b.url, event_types=[CertificateIssued.type, CertificateRevoked.type])
    servant = await register(platform, 1, institution="in-a")
    issued = CertificateIssued(certificate_id="ce-1", verification_code="ABCD1234", servant_id=servant,
                               course_id="co-etica", session_id="se-1", hours=4, issued_on=datetime.now(UTC).date(),
                               issuing_authority="Secretaría")
    stranger = issued.model_copy(update={"certificate_id": "ce-2", "servant_id": "sv-nadie"})
    revoked = CertificateRevoked(certificate_id="ce-1", verification_code="ABCD1234", servant_id=servant,
                                 course_id="co-etica", session_id="se-1", reason="corrección")
    sent = await platform.harness.send(issued, stranger, revoked)
    got = await a.received(2)
    assert {(r.headers["ce-type"], r.headers["ce-id"]) for r in got} == \
        {(CertificateIssued.type, sent[0].id), (CertificateRevoked.type, sent[2].id)}
    assert {verified(secret_a, r)["servant_id"] for r in got} == {servant}
    await send_everything_due(platform)
    assert b.taken() == [] and len(a.taken()) == 2, "a servant enrollment does not know is nobody's to tell"

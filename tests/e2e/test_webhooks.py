"""Over the real broker, with enrollment as a process: an agency sends a request on Kafka and its webhook
receiver gets the signed CloudEvent of the outcome, then the certificate of its servant; each verifies with the
Standard Webhooks reference library, and the other institution's receiver gets only its own institution's."""

from __future__ import annotations

import json
from datetime import date

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from contracts.events import AgencyRequestDecided, CertificateIssued, ServantSubmitted
from probidad.shared.auth import issue_token
from probidad.shared.settings import DEV_JWT_SECRET
from services.enrollment.servants.domain.curp import curp_check_digit
from tests.support.kafka_tools import publish_events
from tests.support.processes import ServiceProcess, free_port
from tests.support.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.kafka


def bearer(role: str, institution: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, role, institution_id=institution)}"}


def curp(body: str) -> str:
    return body + curp_check_digit(body)


@pytest.fixture
def enrollment(kafka_bootstrap, topic_prefix, tmp_path):
    env = {"PROBIDAD_KAFKA_BOOTSTRAP": kafka_bootstrap, "PROBIDAD_TOPIC_PREFIX": topic_prefix,
           "PROBIDAD_STATE_DIR": str(tmp_path), "PROBIDAD_JWT_SECRET": DEV_JWT_SECRET,
           "PROBIDAD_NOTIFY_SCHEDULER": "false",
           "PROBIDAD_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'enrollment.db'}"}
    service = ServiceProcess("services.enrollment", env, free_port(), tmp_path / "enrollment.log").start()
    try:
        with httpx.Client(base_url=service.url, headers=bearer("comptroller"), timeout=10) as c:
            for institution_id in ("in-a", "in-b"):
                r = c.post("/institutions", json={"institution_id": institution_id, "name": f"Inst. {institution_id}",
                                                  "government_level": "state", "headcount": 100,
                                                  "headcount_year": 2026})
                assert r.status_code == 201, r.text
        yield service
    finally:
        service.stop()


@pytest.fixture
def receivers():
    with WebhookReceiver() as a, WebhookReceiver() as b:
        yield a, b


def register_endpoint(service: ServiceProcess, institution: str, url: str) -> str:
    with httpx.Client(base_url=service.url, headers=bearer("liaison", institution), timeout=10) as c:
        r = c.post(f"/institutions/{institution}/webhooks", json={"url": url})
    assert r.status_code == 201, r.text
    return r.json()["secret"]


async def test_an_agency_hears_its_request_outcome_and_its_servants_certificate_and_nothing_of_another(
        enrollment, receivers, kafka_bootstrap, topic_prefix):
    a, b = receivers
    secret_a, secret_b = register_endpoint(enrollment, "in-a", a.url), register_endpoint(enrollment, "in-b", b.url)

    await publish_events(kafka_bootstrap, [ServantSubmitted(
        request_id="rq-a-1", institution_id="in-a", name="Ana Gómez", curp=curp("GOMA850412MYNRRN0"),
        sex="female")], topic_prefix=topic_prefix)
    (decided,) = await a.received(1, within_s=60)
    outcome = Webhook(secret_a).verify(decided.body, decided.headers)
    assert decided.headers["ce-type"] == AgencyRequestDecided.type and decided.headers["ce-subject"] == "rq-a-1"
    assert (outcome["request_id"], outcome["institution_id"], outcome["outcome"]) == \
        ("rq-a-1", "in-a", "probidad.enrollment.servant.registered.v1")
    servant = outcome["outcome_id"]

    (issued,) = await publish_events(kafka_bootstrap, [CertificateIssued(
        certificate_id="ce-a-1", verification_code="ABCD1234", servant_id=servant, course_id="co-etica",
        session_id="se-1", hours=4, issued_on=date(2026, 11, 5), issuing_authority="Secretaría")],
        topic_prefix=topic_prefix)
    certificate = (await a.received(2, within_s=60))[1]
    assert Webhook(secret_a).verify(certificate.body, certificate.headers) == json.loads(certificate.body)
    assert (certificate.headers["ce-type"], certificate.headers["ce-id"]) == (CertificateIssued.type, issued.id)
    assert json.loads(certificate.body)["servant_id"] == servant

    # The other institution's own request reaches its receiver, after everything of in-a's was sent.
    await publish_events(kafka_bootstrap, [ServantSubmitted(
        request_id="rq-b-1", institution_id="in-b", name="Beto Pérez", curp=curp("PEBB800101HYNRRT0"),
        sex="male")], topic_prefix=topic_prefix)
    (own,) = await b.received(1, within_s=60)
    assert Webhook(secret_b).verify(own.body, own.headers)["institution_id"] == "in-b"
    assert [json.loads(r.body).get("institution_id") for r in b.taken()] == ["in-b"]
    assert len(a.taken()) == 2, "and in-a heard nothing of in-b's request"

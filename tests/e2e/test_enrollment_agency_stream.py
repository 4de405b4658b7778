"""Over the real broker: an agency's own producer asks, the enrollment process answers on its topic."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import httpx
import pytest

from contracts.events import EnrolmentRequested, ServantSubmitted, TransferAccepted, TransferRequested
from contracts.topics import AGENCY_REQUEST_RETENTION_MS, AGENCY_REQUESTS, ENROLLMENT_EVENTS
from probidad.shared.auth import issue_token
from probidad.shared.settings import DEV_JWT_SECRET
from services.enrollment.servants.domain.curp import curp_check_digit
from tests.support.kafka_tools import publish_events, read_events
from tests.support.processes import ROOT, ServiceProcess, free_port
from tests.support.records import topic_retention_ms

pytestmark = pytest.mark.kafka

ADMIN = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'comptroller')}"}


def curp(body: str) -> str:
    return body + curp_check_digit(body)


@pytest.fixture
def enrollment(kafka_bootstrap, topic_prefix, tmp_path):
    env = {"PROBIDAD_KAFKA_BOOTSTRAP": kafka_bootstrap, "PROBIDAD_TOPIC_PREFIX": topic_prefix,
           "PROBIDAD_STATE_DIR": str(tmp_path), "PROBIDAD_JWT_SECRET": DEV_JWT_SECRET,
           "PROBIDAD_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'enrollment.db'}"}
    service = ServiceProcess("services.enrollment", env, free_port(), tmp_path / "enrollment.log").start()
    try:
        with httpx.Client(base_url=service.url, headers=ADMIN, timeout=10) as c:
            for path, body in (
                ("/institutions", {"institution_id": "in-sefiplan", "name": "SEFIPLAN", "government_level": "state",
                                   "headcount": 1200, "headcount_year": 2026}),
                ("/courses", {"course_id": "co-etica", "code": "CE-1", "title": "Código de Ética",
                              "topic": "Código de Ética", "hours": 4}),
                ("/sessions", {"session_id": "se-nov", "course_id": "co-etica", "modality": "virtual",
                               "platform": "Zoom", "starts_at": "2026-11-05T09:00:00", "ends_at": "2026-11-05T13:00:00",
                               "timezone": "America/Cancun", "capacity": 30}),
            ):
                r = c.post(path, json=body)
                assert r.status_code == 201, r.text
        yield service
    finally:
        service.stop()


def kcat_produce(kcat: str, bootstrap: str, topic: str, key: str, value: dict, event_type: str) -> None:
    """A producer that knows nothing of Python: CloudEvents binary mode is just headers."""
    headers = {"ce_specversion": "1.0", "ce_id": str(uuid.uuid4()), "ce_source": "agency/hr-system",
               "ce_type": event_type, "ce_time": "2026-10-01T12:00:00Z", "content-type": "application/json"}
    command = [kcat, "-P", "-b", bootstrap, "-t", topic, "-k", key]
    for name, header in headers.items():
        command += ["-H", f"{name}={header}"]
    subprocess.run(command, input=json.dumps(value).encode(), check=True, timeout=30)


async def test_agency_requests_from_outside_producers_become_enrolment_events_or_rejections(
        enrollment, kafka_bootstrap, topic_prefix, kcat):
    ana = curp("GOMA850412MYNRRN0")
    await publish_events(kafka_bootstrap, [
        ServantSubmitted(request_id="rq-1", institution_id="in-sefiplan", name="Ana Gómez", curp=ana,
                         email="ana.gomez@sefiplan.gob.mx", sex="female", position_level="operativo"),
        EnrolmentRequested(request_id="rq-2", institution_id="in-sefiplan", session_id="se-nov", curp=ana),
        EnrolmentRequested(request_id="rq-3", institution_id="in-sefiplan", session_id="se-dic", curp=ana),
    ], topic_prefix=topic_prefix, correlation_id="hr-run-42")
    mistyped = ana[:17] + str((int(ana[17]) + 3) % 10)
    kcat_produce(kcat, kafka_bootstrap, f"{topic_prefix}{AGENCY_REQUESTS}", "in-sefiplan",
                 {"request_id": "rq-4", "institution_id": "in-sefiplan", "name": "Beto Pérez", "curp": mistyped,
                  "sex": "male"}, ServantSubmitted.type)

    events = await read_events(kafka_bootstrap, f"{topic_prefix}{ENROLLMENT_EVENTS}", expect=7, timeout_s=60)
    answers = [e for e in events if ".servant." in e.type or ".enrolment." in e.type or ".request." in e.type]
    by_request = {e.event.request_id: e for e in answers}
    assert set(by_request) == {"rq-1", "rq-2", "rq-3", "rq-4"}, [e.type for e in events]

    registered, confirmed = by_request["rq-1"], by_request["rq-2"]
    assert registered.type == "probidad.enrollment.servant.registered.v1"
    assert confirmed.type == "probidad.enrollment.enrolment.confirmed.v1"
    assert (confirmed.event.servant_id, confirmed.event.session_id, confirmed.event.institution_id) == \
        (registered.event.servant_id, "se-nov", "in-sefiplan")
    assert registered.event.email_digest and "ana" not in registered.event.model_dump_json().lower()
    assert {registered.correlation_id, confirmed.correlation_id} == {"hr-run-42"}

    unknown_session, bad_curp = by_request["rq-3"], by_request["rq-4"]
    assert unknown_session.type == bad_curp.type == "probidad.enrollment.request.rejected.v1"
    assert (unknown_session.event.field, bad_curp.event.field) == ("session_id", "curp")
    assert "se-dic" in unknown_session.event.reason and "check digit" in bad_curp.event.reason

    with httpx.Client(base_url=enrollment.url, headers=ADMIN, timeout=10) as c:
        roster = c.get("/sessions/se-nov/roster").json()["enrolments"]
    assert [(line["servant_id"], line["name"]) for line in roster] == [(registered.event.servant_id, "Ana Gómez")]


def test_the_import_command_loads_an_hr_export_into_the_running_service(enrollment, tmp_path):
    with httpx.Client(base_url=enrollment.url, headers=ADMIN, timeout=10) as c:
        assert c.post("/institutions", json={"institution_id": "in-a", "name": "SEFIPLAN", "headcount": 900,
                                             "government_level": "state", "headcount_year": 2026}).status_code == 201
        assert c.post("/sessions", json={"session_id": "se-1", "course_id": "co-etica", "modality": "in_person",
                                         "venue": "Auditorio", "starts_at": "2026-11-12T10:00:00",
                                         "ends_at": "2026-11-12T12:00:00", "capacity": 1}).status_code == 201
        assert c.post("/sessions", json={"session_id": "se-2", "course_id": "co-etica", "modality": "virtual",
                                         "platform": "Teams", "starts_at": "2026-11-13T10:00:00",
                                         "ends_at": "2026-11-13T12:00:00", "capacity": 10}).status_code == 201
    report = tmp_path / "report.csv"
    command = [sys.executable, "-c", "from probidad.ops.cli import app; app()", "enrollment", "import",
               str(ROOT / "tests" / "fixtures" / "enrollment" / "hr_export.csv"), "--url", enrollment.url,
               "--report", str(report), "--chunk-size", "4"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PROBIDAD_JWT_SECRET": DEV_JWT_SECRET, "PATH": "/usr/bin:/bin", "COLUMNS": "200"})
    # Some lines are rejected on purpose, which the exit status reports.
    assert done.returncode == 1, done.stdout + done.stderr
    assert "4 accepted, 6 rejected" in done.stdout
    lines = report.read_text().splitlines()
    assert lines[0].startswith("line,accepted") and len(lines) == 11
    with httpx.Client(base_url=enrollment.url, headers=ADMIN, timeout=10) as c:
        assert len(c.get("/servants").json()) == 2


async def test_an_agency_submitting_a_curp_another_institution_holds_registers_its_own_and_takes_no_one(
        enrollment, kafka_bootstrap, topic_prefix):
    beto = curp("PEHJ920101HQRRRN0")
    with httpx.Client(base_url=enrollment.url, headers=ADMIN, timeout=10) as c:
        assert c.post("/institutions", json={"institution_id": "in-tulum", "name": "Municipio de Tulum",
                                             "government_level": "municipal", "municipality": "Tulum",
                                             "headcount": 300, "headcount_year": 2026}).status_code == 201
        held = c.post("/servants", json={"institution_id": "in-tulum", "name": "Beto Pérez", "curp": beto,
                                         "sex": "male", "email": "beto@tulum.gob.mx", "position_level": "directivo"})
        assert held.status_code == 201, held.text
    await publish_events(kafka_bootstrap, [
        ServantSubmitted(request_id="rq-take", institution_id="in-sefiplan", name="Otro Nombre", curp=beto,
                         sex="male"),
    ], topic_prefix=topic_prefix)
    events = await read_events(kafka_bootstrap, f"{topic_prefix}{ENROLLMENT_EVENTS}", expect=6, timeout_s=60)
    (answer,) = [e for e in events if getattr(e.event, "request_id", None) == "rq-take"]
    (theirs,) = [e for e in events if e.type == answer.type and e.event.servant_id == held.json()["servant_id"]]
    assert answer.type == "probidad.enrollment.servant.registered.v1"
    assert answer.event.institution_id == "in-sefiplan" and answer.event.servant_id != held.json()["servant_id"]
    assert answer.event.person_id == theirs.event.person_id  # one person, counted once
    with httpx.Client(base_url=enrollment.url, headers=ADMIN, timeout=10) as c:
        servant = c.get(f"/servants/{held.json()['servant_id']}").json()
    assert (servant["institution_id"], servant["name"], servant["email"], servant["position_level"]) == (
        "in-tulum", "Beto Pérez", "beto@tulum.gob.mx", "directivo")


async def test_a_transfer_asked_by_the_leaving_agency_and_accepted_by_the_joining_one_moves_the_servant_once(
        enrollment, kafka_bootstrap, topic_prefix):
    with httpx.Client(base_url=enrollment.url, headers=ADMIN, timeout=10) as c:
        assert c.post("/institutions", json={"institution_id": "in-tulum", "name": "Municipio de Tulum",
                                             "government_level": "municipal", "municipality": "Tulum",
                                             "headcount": 300, "headcount_year": 2026}).status_code == 201
        ana = c.post("/servants", json={"institution_id": "in-sefiplan", "name": "Ana Gómez",
                                        "curp": curp("GOMA850412MYNRRN0"), "sex": "female"}).json()["servant_id"]
    asked = TransferRequested(request_id="rq-ask", institution_id="in-sefiplan", servant_id=ana,
                              to_institution_id="in-tulum")
    await publish_events(kafka_bootstrap, [asked, asked], topic_prefix=topic_prefix)  # the second: a retry
    events = await read_events(kafka_bootstrap, f"{topic_prefix}{ENROLLMENT_EVENTS}", expect=6, timeout_s=60)
    (opened,) = [e.event for e in events if e.type == "probidad.enrollment.transfer.opened.v1"]

    await publish_events(kafka_bootstrap, [
        TransferAccepted(request_id="rq-mine", institution_id="in-sefiplan", transfer_id=opened.transfer_id),
        TransferAccepted(request_id="rq-yes", institution_id="in-tulum", transfer_id=opened.transfer_id),
    ], topic_prefix=topic_prefix)
    events = await read_events(kafka_bootstrap, f"{topic_prefix}{ENROLLMENT_EVENTS}", expect=8, timeout_s=60)
    (refused,) = [e.event for e in events if e.type == "probidad.enrollment.request.rejected.v1"]
    (moved,) = [e.event for e in events if e.type == "probidad.enrollment.servant.transferred.v1"]
    assert (refused.request_id, refused.field) == ("rq-mine", "transfer_id")
    assert (moved.transfer_id, moved.from_institution_id, moved.to_institution_id) == \
        (opened.transfer_id, "in-sefiplan", "in-tulum")
    with httpx.Client(base_url=enrollment.url, headers=ADMIN, timeout=10) as c:
        assert c.get(f"/servants/{ana}").json()["institution_id"] == "in-tulum"


async def test_on_a_development_broker_an_agency_reads_its_decisions_on_its_own_outcome_topic(
        enrollment, kafka_bootstrap, topic_prefix):
    """As on a secure broker: the agency need not read the whole enrollment topic to learn its answers."""
    ana = curp("GOMA850412MYNRRN0")
    await publish_events(kafka_bootstrap, [
        ServantSubmitted(request_id="rq-dev-1", institution_id="in-sefiplan", name="Ana Gómez", curp=ana,
                         sex="female"),
        EnrolmentRequested(request_id="rq-dev-2", institution_id="in-sefiplan", session_id="se-dic", curp=ana),
    ], topic_prefix=topic_prefix)
    # The outcome topic is made before the batch carrying its first answer is sent.
    events = await read_events(kafka_bootstrap, f"{topic_prefix}{ENROLLMENT_EVENTS}", expect=5, timeout_s=60)
    (registered,) = [e.event for e in events if getattr(e.event, "request_id", None) == "rq-dev-1"]
    outcomes_topic = f"{topic_prefix}probidad.agency.outcomes.in-sefiplan"
    answers = await read_events(kafka_bootstrap, outcomes_topic, expect=2, timeout_s=60)
    # Keyed by request id: each request's answers in order, requests on their own partitions.
    assert sorted((a.type, a.event.request_id, a.event.outcome, a.event.outcome_id, a.event.field)
                  for a in answers) == [
        ("probidad.enrollment.request.decided.v1", "rq-dev-1", "probidad.enrollment.servant.registered.v1",
         registered.servant_id, None),
        ("probidad.enrollment.request.decided.v1", "rq-dev-2", "probidad.enrollment.request.rejected.v1", None,
         "session_id")]
    # Kept like the requests they answer, not forever.
    assert await topic_retention_ms(kafka_bootstrap, outcomes_topic) == str(AGENCY_REQUEST_RETENTION_MS)

"""One servant followed through the four services in a real Jaeger: the four services as processes on the real
broker, exporting their spans over OTLP; an operator's client enrols a servant over HTTP, imports the session's
Zoom report and closes it, sending its own ``traceparent``; the enrolment, the attendance and the certificate it
leads to form one trace, found through Jaeger's query API, with spans from every service and every stage."""

from __future__ import annotations

import secrets
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from contracts.events import AttendanceRecorded, CertificateIssued, EnrolmentConfirmed
from contracts.topics import ATTENDANCE_EVENTS, CERTIFICATION_EVENTS, ENROLLMENT_EVENTS
from probidad.ops.curp import curp_for
from probidad.ops.demo import comptroller_token
from probidad.ops.jaegerctl import otel_environment
from probidad.ops.localhost import eventually
from probidad.ops.platform import SERVICES, start_services, stop_services
from tests.support.jaeger import JaegerServer, jaeger_fixture, jaeger_trace  # noqa: F401 (fixture `jaeger`)
from tests.support.processes import free_port_offset

pytestmark = pytest.mark.go_program("jaeger")

ZONE = ZoneInfo("America/Mexico_City")
FOUR = {name for name, _port in SERVICES}
EMAIL = "lucia.canul@sefiplan.example.gob.mx"
CURP = curp_for(given_names="Lucía", first_surname="Canul", second_surname="Pech", birth=date(1988, 4, 12),
                sex="female", state="QR")


@pytest.fixture
def traced_platform(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, jaeger: JaegerServer):
    # Spans leave each process in batches; a short delay keeps the test from waiting on the default 5 s.
    env = {**otel_environment(jaeger), "OTEL_BSP_SCHEDULE_DELAY": "200", "PROBIDAD_RELAY_INTERVAL_MS": "20"}
    running = start_services(tmp_path, kafka_bootstrap, topic_prefix=topic_prefix,
                             base_port_offset=free_port_offset(topic_prefix), extra_env=env)
    yield {s.name: s.url for s in running}
    stop_services(running)


def zoom_report(starts: datetime, minutes: int) -> str:
    """A Zoom participants report (the layout Zoom exports) in which the servant stayed ``minutes``."""
    fmt = "%m/%d/%Y %I:%M:%S %p"
    start, end = starts.strftime(fmt), (starts + timedelta(minutes=minutes)).strftime(fmt)
    return ("Meeting ID,Topic,Start Time,End Time,User Email,Duration (Minutes),Participants\n"
            f"812 3456 7890,Código de Ética,{start},{end},capacitacion@contraloria.example.gob.mx,{minutes},1\n\n"
            "Name (Original Name),User Email,Join Time,Leave Time,Duration (Minutes),Guest,Recording Consent,"
            "In Waiting Room\n"
            f"Lucía Canul,{EMAIL},{start},{end},{minutes},No,Yes,No\n")


class Trace:
    """A trace as Jaeger's query API gives it: its spans, each under the service that made it."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.spans: list[dict[str, Any]] = data["spans"]
        self.ids = {span["spanID"]: span for span in self.spans}
        self.service_of = {span["spanID"]: data["processes"][span["processID"]]["serviceName"]
                           for span in self.spans}

    def services(self) -> set[str]:
        return set(self.service_of.values())

    def find(self, service: str, name: str, kind: str | None = None) -> list[dict[str, Any]]:
        return [span for span in self.spans if self.service_of[span["spanID"]] == service
                and span["operationName"] == name and (kind is None or span_kind(span) == kind)]

    def parent(self, span: dict[str, Any]) -> str | None:
        return next((ref["spanID"] for ref in span["references"] if ref["refType"] == "CHILD_OF"), None)

    def ancestry(self, span: dict[str, Any]) -> list[tuple[str, str]]:
        """(service, span name) of the span and each of its ancestors, up to the root."""
        chain = []
        current: dict[str, Any] | None = span
        while current is not None:
            chain.append((self.service_of[current["spanID"]], current["operationName"]))
            current = self.ids.get(self.parent(current) or "")
        return chain


def span_kind(span: dict[str, Any]) -> str:
    return next((tag["value"] for tag in span["tags"] if tag["key"] == "span.kind"), "internal")


async def test_an_enrolment_its_attendance_and_its_certificate_form_one_trace_across_the_four_services(
        traced_platform: dict[str, str], jaeger: JaegerServer, topic_prefix: str) -> None:
    began_us = int(time.time() * 1_000_000)
    trace_id, client_span = secrets.token_hex(16), secrets.token_hex(8)
    # The operator's client opens the trace; every service continues it.
    traced = {"traceparent": f"00-{trace_id}-{client_span}-01"}
    enrollment, attendance = traced_platform["enrollment"], traced_platform["attendance"]
    day = (datetime.now(ZONE) - timedelta(days=3)).date()
    starts = datetime(day.year, day.month, day.day, 10, 0, tzinfo=ZONE)

    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {comptroller_token()}"}, timeout=30) as http:
        async def created(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
            response = await http.post(url, json=body, headers=headers)
            assert response.status_code in (200, 201), response.text
            return response.json()

        await created(f"{enrollment}/institutions", {
            "institution_id": "sefiplan", "name": "Secretaría de Finanzas y Planeación", "government_level": "state",
            "headcount": 900, "headcount_year": day.year})
        await created(f"{enrollment}/courses", {"course_id": "co-etica", "code": "CE-01", "title": "Código de Ética",
                                                "topic": "Código de Ética", "hours": 2})
        await created(f"{enrollment}/sessions", {
            "session_id": "se-etica", "course_id": "co-etica", "modality": "virtual", "platform": "Zoom",
            "starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=2)).isoformat(),
            "timezone": "America/Mexico_City", "capacity": 20})
        servant = await created(f"{enrollment}/servants", {
            "institution_id": "sefiplan", "name": "Lucía Canul", "curp": CURP, "email": EMAIL, "sex": "female"})
        enrolled = await created(f"{enrollment}/enrolments", {"session_id": "se-etica",
                                                               "servant_id": servant["servant_id"]}, traced)
        assert enrolled["status"] == "confirmed"

        async def roster_known() -> bool:
            session = await http.get(f"{attendance}/sessions/se-etica")
            return session.status_code == 200 and len(session.json()["attendance"]) == 1

        await eventually(roster_known, timeout_s=60, what="attendance knows the enrolment")
        imported = await http.post(f"{attendance}/sessions/se-etica/reports", params={"format": "zoom"},
                                   content=zoom_report(starts, 120).encode(),
                                   headers={"content-type": "text/csv", **traced})
        assert imported.status_code == 201, imported.text
        assert imported.json()["servants"] == {servant["servant_id"]: 120}
        closed = await http.post(f"{attendance}/sessions/se-etica/close", headers=traced)
        assert closed.status_code == 200, closed.text

        certification = traced_platform["certification"]

        async def certificate() -> list[dict[str, Any]]:
            response = await http.get(f"{certification}/certificates", params={"session_id": "se-etica"})
            return response.json() if response.status_code == 200 else []

        (issued,) = await eventually(certificate, timeout_s=60, what="the certificate issued")
        assert issued["servant_id"] == servant["servant_id"]

        topic = {name: f"{topic_prefix}{t}" for name, t in (
            ("enrollment", ENROLLMENT_EVENTS), ("attendance", ATTENDANCE_EVENTS),
            ("certification", CERTIFICATION_EVENTS))}
        # Each process exports its spans in its own batches, and a publish span ends only after the broker's
        # acknowledgement: the consumer's spans can reach Jaeger before the producer's. The trace is complete
        # once reporting and enrollment have handled the certificate and every service's publish span is in.
        awaited = [(name, f"handle {CertificateIssued.type}") for name in ("reporting", "enrollment")]
        awaited += [(name, f"publish {published}") for name, published in topic.items()]

        async def whole_trace() -> Trace | None:
            found = await jaeger_trace(http, jaeger, trace_id)
            trace = Trace(found) if found else None
            return trace if trace and all(trace.find(name, span) for name, span in awaited) else None

        trace = await eventually(whole_trace, timeout_s=60, interval_s=1, what="the certificate's spans in Jaeger")

        # Jaeger knows the four services, and a search of enrollment's traces finds this one.
        services = (await http.get(f"{jaeger.query_url}/api/services")).json()["data"]
        assert FOUR <= set(services)
        search = (await http.get(f"{jaeger.query_url}/api/traces", params={
            "service": "enrollment", "start": began_us, "limit": 100})).json()["data"]
        assert trace_id in {found["traceID"] for found in search}

    assert trace.services() == FOUR
    # HTTP: the enrolment in enrollment, the Zoom report and the close in attendance.
    assert trace.find("enrollment", "POST /enrolments", "server")
    assert trace.find("attendance", "POST /sessions/{session_id}/reports", "server")
    assert trace.find("attendance", "POST /sessions/{session_id}/close", "server")
    # unit of work: every service wrote within the trace.
    for name in FOUR:
        assert trace.find(name, "unit_of_work"), name
    # relay: each service publishing a fact of this servant; consume and handler: each service receiving one.
    for name, published in topic.items():
        assert trace.find(name, f"publish {published}", "producer"), name
    assert trace.find("attendance", f"process {topic['enrollment']}", "consumer")
    assert trace.find("attendance", f"handle {EnrolmentConfirmed.type}")
    assert trace.find("certification", f"handle {AttendanceRecorded.type}")
    for name in ("reporting", "enrollment"):
        assert trace.find(name, f"process {topic['certification']}", "consumer"), name

    # The certificate reached reporting through the whole chain, each step the child of the one before.
    (reported,) = trace.find("reporting", f"handle {CertificateIssued.type}")
    assert trace.ancestry(reported) == [
        ("reporting", f"handle {CertificateIssued.type}"),
        ("reporting", f"process {topic['certification']}"),
        ("certification", f"publish {topic['certification']}"),
        ("certification", f"handle {AttendanceRecorded.type}"),
        ("certification", f"process {topic['attendance']}"),
        ("attendance", f"publish {topic['attendance']}"),
        ("attendance", "unit_of_work"),
        ("attendance", "fastapi.endpoint"),
        ("attendance", "POST /sessions/{session_id}/close"),
    ]
    # One unbroken trace: every span's parent is in it, except the spans continuing the client's.
    orphans = [(trace.service_of[span["spanID"]], span["operationName"]) for span in trace.spans
               if trace.parent(span) not in set(trace.ids) | {client_span, None}]
    assert orphans == []
    roots = {(trace.service_of[span["spanID"]], span["operationName"]) for span in trace.spans
             if trace.parent(span) in (client_span, None)}
    assert roots == {("enrollment", "POST /enrolments"), ("attendance", "POST /sessions/{session_id}/reports"),
                     ("attendance", "POST /sessions/{session_id}/close")}

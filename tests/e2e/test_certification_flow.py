"""Certification as its own process on the real broker: attendance and grades in, a certificate out,
verifiable by the public — and revoked when a correction makes the completion fail."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from contracts.events import (
    AssessmentGraded,
    AttendanceCorrected,
    AttendanceRecorded,
    CertificateIssued,
    CertificateRevoked,
    CoursePublished,
    EnrolmentConfirmed,
    SessionScheduled,
)
from contracts.topics import CERTIFICATION_EVENTS
from tests.support.kafka_tools import eventually, publish_events, read_events
from tests.support.processes import ServiceProcess, free_port

MEXICO_CITY = ZoneInfo("America/Mexico_City")


@pytest.fixture
def certification(kafka_bootstrap: str, topic_prefix: str, tmp_path):
    port = free_port()
    service = ServiceProcess("services.certification", {
        "PROBIDAD_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "PROBIDAD_TOPIC_PREFIX": topic_prefix,
        "PROBIDAD_STATE_DIR": str(tmp_path / "state"),
        "PROBIDAD_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "PROBIDAD_RELAY_INTERVAL_MS": "20",
    }, port, tmp_path / "certification.log")
    service.start()
    yield service
    service.stop()


async def certificate_events(bootstrap: str, topic: str, count: int) -> list:
    events = [e.event for e in await read_events(bootstrap, topic, expect=count, timeout_s=30)]
    assert len(events) == count, events
    return events


async def test_attendance_and_a_grade_become_a_verifiable_certificate_and_a_correction_revokes_it(
        certification: ServiceProcess, kafka_bootstrap: str, topic_prefix: str) -> None:
    starts = datetime(2026, 11, 26, 18, 0, tzinfo=MEXICO_CITY)  # 27 November in UTC; a 26 November session
    await publish_events(kafka_bootstrap, [
        CoursePublished(course_id="c-pac", code="PAC-03", title="Prevención de Actos de Corrupción",
                        topic="Prevención de Actos de Corrupción", hours=6, passing_score=80),
        SessionScheduled(session_id="s-pac-1", course_id="c-pac", modality="in_person", venue="Auditorio",
                         starts_at=starts, ends_at=starts + timedelta(hours=6), timezone="America/Mexico_City",
                         capacity=50),
        EnrolmentConfirmed(enrolment_id="en-1", session_id="s-pac-1", servant_id="sv-301", institution_id="inst-7"),
    ], topic_prefix=topic_prefix)
    await publish_events(kafka_bootstrap, [
        AttendanceRecorded(session_id="s-pac-1", servant_id="sv-301", minutes_present=340, session_minutes=360,
                           share=340 / 360, status="present", source_of_record="check_in"),
        AssessmentGraded(session_id="s-pac-1", servant_id="sv-301", score=92),
    ], topic_prefix=topic_prefix)

    topic = f"{topic_prefix}{CERTIFICATION_EVENTS}"
    (issued,) = await certificate_events(kafka_bootstrap, topic, 1)
    assert isinstance(issued, CertificateIssued)
    assert (issued.servant_id, issued.session_id, issued.course_id) == ("sv-301", "s-pac-1", "c-pac")
    assert (issued.hours, issued.score, issued.issued_on.isoformat()) == (6, 92, "2026-11-26")

    async with httpx.AsyncClient(base_url=certification.url, timeout=10) as http:
        view = (await http.get(f"/verify/{issued.verification_code}")).json()
        assert view["status"] == "valid"
        assert view["course"]["title"] == "Prevención de Actos de Corrupción"
        assert (view["date"], view["hours"]) == ("2026-11-26", 6)
        page = await http.get(f"/verify/{issued.verification_code}", headers={"Accept": "text/html"})
        assert "Constancia VÁLIDA" in page.text

        await publish_events(kafka_bootstrap, [
            AttendanceCorrected(session_id="s-pac-1", servant_id="sv-301", minutes_present=150, session_minutes=360,
                                share=150 / 360, status="late", reason="signed in for a colleague",
                                corrected_by="instructor-4"),
        ], topic_prefix=topic_prefix)
        _, revoked = await certificate_events(kafka_bootstrap, topic, 2)
        assert isinstance(revoked, CertificateRevoked)
        assert revoked.certificate_id == issued.certificate_id
        assert "42%" in revoked.reason

        async def says_revoked():
            answer = (await http.get(f"/verify/{issued.verification_code}")).json()
            return answer if answer["status"] == "revoked" else None

        assert (await eventually(says_revoked))["valid"] is False
        page = await http.get(f"/verify/{issued.verification_code}", headers={"Accept": "text/html"})
        assert "Constancia REVOCADA" in page.text

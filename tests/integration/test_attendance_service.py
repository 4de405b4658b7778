"""The attendance service on SQLite and PostgreSQL, fed by enrollment events through the in-memory broker,
driven over HTTP, and judged by the events it publishes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncio

import pytest
from structlog.testing import capture_logs

from contracts.envelope import open_envelope, seal, to_record
from contracts.events import (
    AssessmentGraded, AttendanceCorrected, AttendanceRecorded, EnrolmentCancelled, EnrolmentConfirmed,
    ServantRegistered, ServantUpdated, SessionCancelled, SessionClosed, SessionRescheduled, SessionScheduled,
)
from contracts.pseudonyms import email_digest
from contracts.topics import ENROLLMENT_EVENTS
from probidad.shared.auth import Principal
from services.attendance import handlers
from services.attendance.app import create_app
from services.attendance.handlers import AttendanceContext
from services.attendance.repository import SqlAttendanceRepository, UnrecordedEvent
from services.attendance.settings import AttendanceSettings
from tests.support.harness import ServiceHarness, serving
from tests.support.identity import both_kinds_of_token

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "attendance"
CANCUN = ZoneInfo("America/Cancun")
SERVANTS = {  # servant id -> (institution, e-mail as the platform report shows it)
    "srv-ana": ("sefiplan", "ana.lopez@sefiplan.example.gob.mx"),
    "srv-benito": ("ssp", "benito.chan@seguridad.example.gob.mx"),
    "srv-carla": ("dif", "carla.cauich@dif.example.gob.mx"),
    "srv-daniel": ("sefiplan", "daniel.pech@sefiplan.example.gob.mx"),
    "srv-fer": ("dif", "fernanda.may@dif.example.gob.mx"),
    "srv-elena": ("dif", "elena.ku@dif.example.gob.mx"),  # registered, not enrolled
}


class Harness:
    """Attendance in the service harness: an HTTP client without a token (each request brings its own),
    enrollment's facts delivered on its topic, and what attendance published."""

    def __init__(self, harness: ServiceHarness) -> None:
        self.harness = harness
        self.app, self.broker, self.runtime = harness.app, harness.broker, harness.runtime
        self.published, self.dead_letters = harness.messages, harness.dead_letters
        self.settings: AttendanceSettings = self.runtime.settings
        self.http = harness.client(None)

    def token(self, role: str = "comptroller", *, institution_id: str | None = None,
              instructor_id: str | None = None) -> dict[str, str]:
        token = self.harness.token(role, institution=institution_id, instructor=instructor_id,
                                   subject=f"{role}-tester")
        return {"Authorization": f"Bearer {token}"}

    async def deliver(self, *events, time: datetime | None = None) -> list:
        return await self.harness.send(*events, time=time, topic=ENROLLMENT_EVENTS)

    async def redeliver(self, envelope) -> None:
        await self.harness.deliver(envelope, topic=ENROLLMENT_EVENTS)

    async def events(self) -> list:
        await self.runtime.relay.publish_pending()
        return [open_envelope(m.headers, m.body).event for m in self.published]

    def digest(self, email: str) -> str:
        return email_digest(email, self.settings.email_digest_key.get_secret_value())


@pytest.fixture
async def service(database_url: str, tmp_path: Path, token_minter):
    settings = AttendanceSettings(database_url=database_url, state_dir=tmp_path, environment="test")
    async with serving(create_app, settings, tokens=token_minter) as harness:
        yield Harness(harness)


def scheduled(session_id: str, starts: datetime, minutes: int = 120, instructor: str = "ins-rosa") -> SessionScheduled:
    return SessionScheduled(session_id=session_id, course_id="crs-etica", modality="virtual", platform="Zoom",
                            starts_at=starts, ends_at=starts + timedelta(minutes=minutes), timezone="America/Cancun",
                            capacity=30, instructor_id=instructor)


def registered(servant_id: str, digest: str | None) -> ServantRegistered:
    return ServantRegistered(servant_id=servant_id, institution_id=SERVANTS[servant_id][0], sex="female",
                             email_digest=digest)


def confirmed(session_id: str, servant_id: str) -> EnrolmentConfirmed:
    return EnrolmentConfirmed(enrolment_id=f"enr-{session_id}-{servant_id}", session_id=session_id,
                              servant_id=servant_id, institution_id=SERVANTS[servant_id][0])


def past_morning(days_ago: int = 7) -> datetime:
    day = (datetime.now(CANCUN) - timedelta(days=days_ago)).date()
    return datetime(day.year, day.month, day.day, 10, 0, tzinfo=CANCUN)


def zoom_report_of(day: datetime) -> bytes:
    """The Zoom fixture, moved to the given day (it was exported for a session on 5 November 2026)."""
    return (FIXTURES / "zoom_participants.csv").read_bytes().replace(b"11/05/2026", day.strftime("%m/%d/%Y").encode())


async def a_zoom_session(service: Harness, session_id: str = "ses-etica-1") -> datetime:
    starts = past_morning()
    await service.deliver(scheduled(session_id, starts))
    await service.deliver(*(registered(s, service.digest(e)) for s, (_, e) in SERVANTS.items()))
    await service.deliver(*(confirmed(session_id, s) for s in SERVANTS if s != "srv-elena"))
    return starts


async def test_a_zoom_report_then_the_close_publishes_each_servants_attendance_then_grades_then_the_close(
        service) -> None:
    await a_zoom_session(service)
    comptroller = service.token()
    imported = await service.http.post("/sessions/ses-etica-1/reports", content=zoom_report_of(past_morning()),
                                       headers=comptroller)
    assert imported.status_code == 201, imported.text
    body = imported.json()
    assert body["format"] == "zoom"
    assert body["servants"] == {"srv-ana": 118, "srv-benito": 113, "srv-carla": 88, "srv-daniel": 60}
    assert [(u["line"], u["reason"]) for u in body["unmatched"]] == [
        (5, "no servant has this e-mail"), (13, "the row has no e-mail or servant id to match"),
        (14, "no servant has this e-mail"), (15, "servant srv-elena is not enrolled in this session")]
    assert [i["line"] for i in body["ignored"]] == [11]

    graded = await service.http.post("/sessions/ses-etica-1/grades", headers=comptroller, json={"grades": [
        {"servant_id": "srv-ana", "score": 92}, {"email": "Carla.Cauich@dif.example.gob.mx", "score": 71.5}]})
    assert graded.json() == {"graded": 2, "published": False}
    assert await service.events() == []  # nothing leaves before the close

    closed = await service.http.post("/sessions/ses-etica-1/close", headers=comptroller)
    assert closed.status_code == 200, closed.text
    assert (closed.json()["enrolled"], closed.json()["present"], closed.json()["graded"]) == (5, 4, 2)

    events = await service.events()
    recorded = {e.servant_id: e for e in events if isinstance(e, AttendanceRecorded)}
    assert {s: (e.minutes_present, e.status, e.source_of_record) for s, e in recorded.items()} == {
        "srv-ana": (118, "present", "zoom"), "srv-benito": (113, "present", "zoom"),
        "srv-carla": (88, "late", "zoom"), "srv-daniel": (60, "present", "zoom"),
        "srv-fer": (0, "absent", "zoom")}
    # Presence in seconds: 7100 s of 7200, the share rounded down (118 whole minutes kept alongside).
    assert (recorded["srv-ana"].seconds_present, recorded["srv-ana"].session_seconds) == (7100, 7200)
    assert recorded["srv-ana"].share == 0.9861 and recorded["srv-ana"].session_minutes == 120
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["AttendanceRecorded"] * 5 + ["AssessmentGraded"] * 2 + ["SessionClosed"]
    grades = {e.servant_id: e.score for e in events if isinstance(e, AssessmentGraded)}
    assert grades == {"srv-ana": 92.0, "srv-carla": 71.5}
    close = events[-1]
    assert isinstance(close, SessionClosed) and (close.enrolled, close.present) == (5, 4)


async def test_the_same_report_imported_twice_counts_each_minute_once(service) -> None:
    starts = await a_zoom_session(service)
    for _ in range(2):
        response = await service.http.post("/sessions/ses-etica-1/reports?format=zoom",
                                           content=zoom_report_of(starts), headers=service.token())
        assert response.status_code == 201
    session = (await service.http.get("/sessions/ses-etica-1", headers=service.token())).json()
    minutes = {a["servant_id"]: a["minutes_present"] for a in session["attendance"]}
    assert minutes == {"srv-ana": 118, "srv-benito": 113, "srv-carla": 88, "srv-daniel": 60, "srv-fer": 0}


async def test_enrollment_facts_arriving_out_of_order_and_twice_leave_the_same_roster(service) -> None:
    starts = past_morning(3)
    now = datetime.now(UTC)
    # the enrolment is heard of before its session and its servant
    (enrolment,) = await service.deliver(confirmed("ses-x", "srv-ana"))
    # a cancellation overtakes the confirmation it cancels
    await service.deliver(EnrolmentCancelled(enrolment_id="enr-ses-x-srv-benito", session_id="ses-x",
                                             servant_id="srv-benito"))
    await service.deliver(confirmed("ses-x", "srv-benito"))
    # the reschedule overtakes the original schedule, which must not undo it
    await service.deliver(SessionRescheduled(session_id="ses-x", starts_at=starts + timedelta(hours=2),
                                             ends_at=starts + timedelta(hours=3), timezone="America/Cancun"), time=now)
    await service.deliver(scheduled("ses-x", starts), time=now - timedelta(days=2))
    await service.deliver(registered("srv-ana", service.digest("ana.lopez@sefiplan.example.gob.mx")))
    await service.redeliver(enrolment)

    session = (await service.http.get("/sessions/ses-x", headers=service.token())).json()
    assert datetime.fromisoformat(session["starts_at"]) == starts + timedelta(hours=2)
    assert session["instructor_id"] == "ins-rosa"
    assert [a["servant_id"] for a in session["attendance"]] == ["srv-ana"]


async def test_one_batch_holding_a_servant_twice_and_an_enrolment_confirmed_then_cancelled_applies_in_one_go(
        service) -> None:
    starts = past_morning(2)
    now = datetime.now(UTC)
    ana = service.digest("ana.lopez@sefiplan.example.gob.mx")
    envelopes = [
        seal(scheduled("ses-y", starts), time=now - timedelta(minutes=5)),
        seal(registered("srv-ana", None), time=now - timedelta(minutes=4)),
        seal(ServantUpdated(servant_id="srv-ana", institution_id=SERVANTS["srv-ana"][0], sex="female",
                            email_digest=ana), time=now - timedelta(minutes=3)),
        seal(confirmed("ses-y", "srv-ana"), time=now - timedelta(minutes=2)),
        seal(confirmed("ses-y", "srv-benito"), time=now - timedelta(minutes=2)),
        seal(EnrolmentCancelled(enrolment_id="enr-ses-y-srv-benito", session_id="ses-y", servant_id="srv-benito"),
             time=now - timedelta(minutes=1)),
    ]
    records = [(ENROLLMENT_EVENTS, 0, offset, *to_record(envelope)) for offset, envelope in enumerate(envelopes)]
    consumer = service.runtime.consumers[0][0]
    with capture_logs() as logs:
        outcomes = await consumer.process_batch(records)

    assert outcomes == {"applied": len(envelopes)}
    assert not [line for line in logs if line["event"].startswith("batch failed")]  # no record-by-record replay
    session = (await service.http.get("/sessions/ses-y", headers=service.token())).json()
    assert [a["servant_id"] for a in session["attendance"]] == ["srv-ana"]


async def test_a_change_after_the_close_is_a_correction_with_reason_and_author_and_history_is_kept(service) -> None:
    await a_zoom_session(service)
    instructor = service.token("instructor", instructor_id="ins-rosa")
    await service.http.post("/sessions/ses-etica-1/reports", content=zoom_report_of(past_morning()), headers=instructor)
    assert (await service.http.post("/sessions/ses-etica-1/close", headers=instructor)).status_code == 200
    await service.events()

    no_reason = await service.http.post("/sessions/ses-etica-1/marks", headers=instructor,
                                        json={"servant_id": "srv-fer", "status": "excused"})
    assert no_reason.status_code == 409 and "reason" in no_reason.json()["detail"]

    corrected = await service.http.post("/sessions/ses-etica-1/marks", headers=instructor, json={
        "servant_id": "srv-fer", "status": "present", "minutes_present": 100,
        "reason": "attended from the room of a colleague; signed the paper list"})
    assert corrected.status_code == 200 and corrected.json()["corrected"] is True
    unchanged = await service.http.post("/sessions/ses-etica-1/marks", headers=instructor, json={
        "servant_id": "srv-ana", "status": "present", "reason": "confirming the report"})
    assert unchanged.json()["corrected"] is False  # same figures: nothing to correct

    events = await service.events()
    corrections = [e for e in events if isinstance(e, AttendanceCorrected)]
    assert [(c.servant_id, c.minutes_present, c.status, c.share, c.corrected_by) for c in corrections] == [
        ("srv-fer", 100, "present", round(100 / 120, 4), "instructor-tester")]
    assert corrections[0].reason.startswith("attended from the room")

    history = (await service.http.get("/sessions/ses-etica-1/records?history=true", headers=instructor)).json()
    fer = [(r["kind"], r["minutes_present"], r["status"]) for r in history if r["servant_id"] == "srv-fer"]
    assert fer == [("recorded", 0, "absent"), ("corrected", 100, "present")]
    current = (await service.http.get("/sessions/ses-etica-1/records", headers=instructor)).json()
    assert {r["servant_id"]: r["minutes_present"] for r in current}["srv-fer"] == 100


async def test_a_report_imported_after_the_close_corrects_only_the_servants_whose_figures_change(service) -> None:
    starts = await a_zoom_session(service)
    token = service.token()
    await service.http.post("/sessions/ses-etica-1/close", headers=token)
    await service.events()
    late_report = ("servant_id,joined_at,left_at\n"
                   f"srv-fer,{(starts + timedelta(minutes=5)).strftime('%Y-%m-%d %H:%M')},"
                   f"{(starts + timedelta(minutes=95)).strftime('%Y-%m-%d %H:%M')}\n")
    refused = await service.http.post("/sessions/ses-etica-1/reports", content=late_report, headers=token)
    assert refused.status_code == 409
    accepted = await service.http.post("/sessions/ses-etica-1/reports",
                                       params={"reason": "the breakout-room report arrived late"},
                                       content=late_report, headers=token)
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["corrections"] == [{"servant_id": "srv-fer", "minutes_before": 0, "status_before": "absent",
                                               "minutes_after": 90, "status_after": "present"}]
    corrections = [e for e in await service.events() if isinstance(e, AttendanceCorrected)]
    assert [(c.servant_id, c.minutes_present) for c in corrections] == [("srv-fer", 90)]


async def test_grades_given_after_the_close_are_published_at_once(service) -> None:
    await a_zoom_session(service)
    await service.http.post("/sessions/ses-etica-1/close", headers=service.token())
    await service.events()
    sheet = "servant_id,email,score\n,benito.chan@seguridad.example.gob.mx,88\nsrv-daniel,,64\n"
    response = await service.http.post("/sessions/ses-etica-1/grades.csv", content=sheet, headers=service.token())
    assert response.json() == {"graded": 2, "published": True}
    graded = [(e.servant_id, e.score) for e in await service.events() if isinstance(e, AssessmentGraded)]
    assert graded == [("srv-benito", 88.0), ("srv-daniel", 64.0)]


async def test_a_grade_for_someone_not_enrolled_refuses_the_whole_sheet(service) -> None:
    await a_zoom_session(service)
    response = await service.http.post("/sessions/ses-etica-1/grades", headers=service.token(), json={"grades": [
        {"servant_id": "srv-ana", "score": 90}, {"servant_id": "srv-elena", "score": 80}]})
    assert response.status_code == 422 and "srv-elena is not enrolled" in response.json()["detail"]
    await service.http.post("/sessions/ses-etica-1/close", headers=service.token())
    assert not [e for e in await service.events() if isinstance(e, AssessmentGraded)]


@both_kinds_of_token
async def test_roles_instructors_manage_their_own_sessions_and_liaisons_read_their_institution(service) -> None:
    await a_zoom_session(service)
    report = zoom_report_of(past_morning())
    assert (await service.http.post("/sessions/ses-etica-1/reports", content=report)).status_code == 401
    other = service.token("instructor", instructor_id="ins-someone-else")
    assert (await service.http.post("/sessions/ses-etica-1/reports", content=report, headers=other)).status_code == 403
    assert (await service.http.post("/sessions/ses-etica-1/close", headers=other)).status_code == 403
    liaison = service.token("liaison", institution_id="dif")
    assert (await service.http.post("/sessions/ses-etica-1/close", headers=liaison)).status_code == 403
    own = service.token("instructor", instructor_id="ins-rosa")
    assert (await service.http.post("/sessions/ses-etica-1/reports", content=report, headers=own)).status_code == 201
    assert (await service.http.post("/sessions/ses-etica-1/close", headers=own)).status_code == 200

    records = (await service.http.get("/sessions/ses-etica-1/records", headers=liaison)).json()
    assert sorted(r["servant_id"] for r in records) == ["srv-carla", "srv-fer"]
    across = (await service.http.get("/records", headers=liaison)).json()
    assert {r["institution_id"] for r in across} == {"dif"}
    assert (await service.http.get("/records?institution_id=sefiplan", headers=liaison)).status_code == 403
    everything = (await service.http.get("/records", headers=service.token())).json()
    assert len(everything) == 5


async def test_self_check_in_works_with_the_sessions_code_only_while_it_runs(service) -> None:
    now = datetime.now(CANCUN)
    await service.deliver(scheduled("ses-live", now - timedelta(minutes=30), minutes=120),
                          scheduled("ses-tomorrow", now + timedelta(days=1)))
    await service.deliver(registered("srv-ana", service.digest("ana.lopez@sefiplan.example.gob.mx")),
                          confirmed("ses-live", "srv-ana"), confirmed("ses-live", "srv-benito"),
                          confirmed("ses-tomorrow", "srv-ana"))
    instructor = service.token("instructor", instructor_id="ins-rosa")
    code = (await service.http.get("/sessions/ses-live/check-in-code", headers=instructor)).json()["code"]
    tomorrow = (await service.http.get("/sessions/ses-tomorrow/check-in-code", headers=instructor)).json()["code"]

    by_email = await service.http.post("/sessions/ses-live/check-ins",
                                       json={"code": code, "email": "ANA.LOPEZ@sefiplan.example.gob.mx"})
    assert by_email.status_code == 201 and by_email.json()["servant_id"] == "srv-ana"
    again = await service.http.post("/sessions/ses-live/check-ins", json={"code": code, "servant_id": "srv-ana"})
    assert again.json()["already_checked_in"] is True
    wrong = await service.http.post("/sessions/ses-live/check-ins", json={"code": tomorrow, "servant_id": "srv-benito"})
    assert wrong.status_code == 422 and wrong.json()["detail"].startswith("code:")
    early = await service.http.post("/sessions/ses-tomorrow/check-ins",
                                    json={"code": tomorrow, "servant_id": "srv-ana"})
    assert early.status_code == 409
    stranger = await service.http.post("/sessions/ses-live/check-ins", json={"code": code, "servant_id": "srv-carla"})
    assert stranger.status_code == 422

    session = (await service.http.get("/sessions/ses-live", headers=instructor)).json()
    ana = next(a for a in session["attendance"] if a["servant_id"] == "srv-ana")
    assert (ana["status"], ana["source_of_record"]) == ("late", "check_in")  # checked in 30 minutes after the start
    assert 89 <= ana["minutes_present"] <= 90
    refused = await service.http.post("/sessions/ses-live/close", headers=instructor)
    assert refused.status_code == 409 and "not ended" in refused.json()["detail"]


async def test_a_closed_or_cancelled_session_cannot_be_closed_again(service) -> None:
    await a_zoom_session(service)
    await service.deliver(scheduled("ses-cancelled", past_morning(2)), SessionCancelled(session_id="ses-cancelled"))
    token = service.token()
    assert (await service.http.post("/sessions/ses-etica-1/close", headers=token)).status_code == 200
    again = await service.http.post("/sessions/ses-etica-1/close", headers=token)
    assert again.status_code == 409 and "already closed" in again.json()["detail"]
    cancelled = await service.http.post("/sessions/ses-cancelled/close", headers=token)
    assert cancelled.status_code == 409 and "cancelled" in cancelled.json()["detail"]
    unknown = await service.http.post("/sessions/ses-nowhere/close", headers=token)
    assert unknown.status_code == 404
    closes = [e for e in await service.events() if isinstance(e, SessionClosed)]
    assert [c.session_id for c in closes] == ["ses-etica-1"]


async def test_a_report_that_cannot_be_read_gets_a_4xx_naming_the_problem_and_writes_nothing(service) -> None:
    await a_zoom_session(service)
    token = service.token()
    garbled = zoom_report_of(past_morning()).replace(b"10:31:15 AM", b"half past ten")
    response = await service.http.post("/sessions/ses-etica-1/reports", content=garbled, headers=token)
    assert response.status_code == 422 and response.json()["detail"].startswith("line 10: join time")
    not_a_report = await service.http.post("/sessions/ses-etica-1/reports", content=b"a,b\n1,2\n", headers=token)
    assert not_a_report.status_code == 422 and not_a_report.json()["detail"].startswith("format:")
    session = (await service.http.get("/sessions/ses-etica-1", headers=token)).json()
    assert all(a["minutes_present"] == 0 for a in session["attendance"])


async def test_a_schedule_ending_before_it_starts_is_dead_lettered_and_the_next_fact_still_applies(service) -> None:
    starts = past_morning()
    # Written by a producer that skips the contract's check: every consumer refuses it as a contract error.
    bad = SessionScheduled.model_construct(session_id="ses-bad", course_id="crs-etica", modality="virtual",
                                           starts_at=starts, ends_at=starts - timedelta(hours=1),
                                           timezone="America/Cancun", capacity=10, platform=None, venue=None,
                                           instructor_id=None, organising_unit=None)
    await service.deliver(bad, scheduled("ses-good", starts))
    assert len(service.dead_letters) == 1
    assert service.dead_letters[0].headers["dlq_reason_kind"] == "contract"
    assert "is not after starts_at" in service.dead_letters[0].headers["dlq_reason"]
    assert (await service.http.get("/sessions/ses-bad", headers=service.token())).status_code == 404
    assert (await service.http.get("/sessions/ses-good", headers=service.token())).status_code == 200


async def test_two_closes_at_the_same_moment_publish_one_close(service) -> None:
    await a_zoom_session(service)
    token = service.token()
    responses = await asyncio.gather(*(service.http.post("/sessions/ses-etica-1/close", headers=token)
                                       for _ in range(2)))
    assert sorted(r.status_code for r in responses) == [200, 409]
    events = await service.events()
    assert sum(isinstance(e, SessionClosed) for e in events) == 1
    assert sum(isinstance(e, AttendanceRecorded) for e in events) == 5


async def test_each_record_keeps_the_id_of_the_event_that_published_it_and_an_unrecorded_one_writes_nothing(
        service) -> None:
    await a_zoom_session(service)
    ctx = AttendanceContext.of(service.settings)
    comptroller = Principal(subject="comptroller-tester", role="comptroller")
    with pytest.raises(UnrecordedEvent, match="AttendanceRecorded .* was not recorded in this unit of work"):
        async with service.runtime.unit_of_work() as uow:  # a caller that forgets to record what it is returned
            await handlers.close(SqlAttendanceRepository.of(uow), ctx, comptroller, "ses-etica-1",
                                 now=datetime.now(UTC))
    token = service.token()
    session = (await service.http.get("/sessions/ses-etica-1", headers=token)).json()
    assert session["closed_at"] is None and await service.events() == []

    assert (await service.http.post("/sessions/ses-etica-1/close", headers=token)).status_code == 200
    corrected = await service.http.post("/sessions/ses-etica-1/marks", headers=token, json={
        "servant_id": "srv-fer", "status": "present", "minutes_present": 100, "reason": "signed the paper list"})
    assert corrected.json()["corrected"] is True
    await service.events()  # relayed
    published = {(e.event.servant_id, type(e.event).__name__): e.id for e in
                 (open_envelope(m.headers, m.body) for m in service.published)
                 if isinstance(e.event, AttendanceRecorded | AttendanceCorrected)}
    history = (await service.http.get("/sessions/ses-etica-1/records?history=true", headers=token)).json()
    kinds = {"recorded": "AttendanceRecorded", "corrected": "AttendanceCorrected"}
    assert {(r["servant_id"], kinds[r["kind"]]): r["event_id"] for r in history} == published
    assert len(published) == 6


async def test_the_asyncapi_document_lists_what_attendance_publishes_and_consumes(service) -> None:
    document = (await service.http.get("/asyncapi.json")).text
    assert "probidad.attendance.attendance.recorded.v1" in document
    assert "probidad.enrollment.enrolment.confirmed.v1" in document

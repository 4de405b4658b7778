"""Attendance's handlers without a database: an in-memory repository and a unit of work that only keeps
what it is handed, so each test calls a handler and looks at the events it returns or records. Where a
route would record what the handler returned and complete the unit of work, ``as_the_route`` does."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from contracts.attribution import Stamp
from contracts.envelope import seal
from contracts.events import (
    AssessmentGraded, AttendanceCorrected, AttendanceRecorded, EnrolmentConfirmed, ServantRegistered,
    ServantTransferred, SessionClosed, SessionRescheduled, SessionScheduled,
)
from probidad.shared.auth import Principal
from probidad.shared.errors import RuleViolation
from services.attendance import handlers
from services.attendance.domain import commands
from services.attendance.domain.errors import AttendanceError, SessionNotReady
from services.attendance.domain.intervals import Evidence
from services.attendance.handlers import AttendanceContext
from services.attendance.subscribers import subscriptions
from tests.support.fakes.attendance import FakeAttendanceRepository, FakeUnitOfWork, as_the_route

START = datetime(2026, 11, 5, 15, 0, tzinfo=UTC)
CTX = AttendanceContext(check_in_key="check-in-key", email_digest_key="digest-key")
COMPTROLLER = Principal(subject="comptroller-tester", role="comptroller")


def scheduled(session_id: str = "ses-1", starts: datetime = START, minutes: int = 120) -> SessionScheduled:
    return SessionScheduled(session_id=session_id, course_id="crs-etica", modality="virtual", platform="Zoom",
                            starts_at=starts, ends_at=starts + timedelta(minutes=minutes),
                            timezone="America/Cancun", capacity=30, instructor_id="ins-rosa")


def confirmed(servant_id: str, session_id: str = "ses-1") -> EnrolmentConfirmed:
    return EnrolmentConfirmed(enrolment_id=f"enr-{servant_id}", session_id=session_id, servant_id=servant_id,
                              institution_id="sefiplan")


async def a_session(uow: FakeUnitOfWork, *servants: str) -> None:
    await handlers.session_scheduled(uow.repo, CTX, scheduled(), Stamp.of(START - timedelta(days=3), "evt-scheduled"))
    for servant_id in servants:
        await handlers.enrolment_confirmed(uow.repo, CTX, confirmed(servant_id), Stamp.of(START - timedelta(days=2)))


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork(FakeAttendanceRepository())


async def test_enrollment_facts_publish_nothing_and_an_older_schedule_does_not_undo_a_newer_one(uow) -> None:
    later = START + timedelta(hours=2)
    moved = SessionRescheduled(session_id="ses-1", starts_at=later, ends_at=later + timedelta(hours=1),
                               timezone="America/Cancun")
    assert await handlers.session_rescheduled(uow.repo, CTX, moved, Stamp.of(START, "evt-2")) == []
    earlier = Stamp.of(START - timedelta(days=1), "evt-1")
    assert await handlers.session_scheduled(uow.repo, CTX, scheduled(), earlier) == []
    session = await uow.repo.training_session("ses-1")
    assert (session.starts_at, session.instructor_id) == (later, "ins-rosa")


async def test_a_schedule_ending_before_it_starts_breaks_a_domain_rule_which_the_subscriber_dead_letters(uow) -> None:
    # The contract refuses such a schedule before any handler sees it; attendance's own rule still holds.
    with pytest.raises(ValidationError, match="is not after starts_at"):
        scheduled(minutes=-60)
    bad = SessionScheduled.model_construct(**{**dict(scheduled()), "ends_at": START - timedelta(minutes=60)})
    with pytest.raises(AttendanceError, match="is not after starts_at"):
        await handlers.session_scheduled(uow.repo, CTX, bad, Stamp.of(START))
    # the subscriber lets the RuleViolation through as it is: the consumer dead-letters it as rejected
    with pytest.raises(RuleViolation, match="is not after starts_at") as refused:
        await subscriptions(CTX)[SessionScheduled.type](uow, seal(bad))
    assert refused.value.kind == "invalid"
    assert await uow.repo.training_session("ses-1") is None


async def test_a_transfer_heard_before_the_registration_keeps_the_servant_with_the_joining_institution(uow) -> None:
    moved = ServantTransferred(servant_id="srv-ana", transfer_id="trf-1", from_institution_id="sefiplan",
                               to_institution_id="ssp", effective_on=date(2026, 11, 1), sex="female",
                               requested_by="liaison:sefiplan:rh", approved_by="liaison:ssp:rh", approved_at=START)
    await handlers.servant_transferred(uow.repo, CTX, moved, Stamp.of(START, "evt-transfer"))
    registered = ServantRegistered(servant_id="srv-ana", institution_id="sefiplan", sex="female", email_digest="d1")
    await handlers.servant_registered(uow.repo, CTX, registered, Stamp.of(START - timedelta(days=30), "evt-registered"))
    servant = await uow.repo.servant("srv-ana")
    assert (servant.institution_id, servant.email_digest) == ("ssp", "d1")


async def test_the_close_records_attendance_then_grades_then_the_close_and_keeps_each_records_event_id(uow) -> None:
    await a_session(uow, "srv-ana", "srv-benito")
    uow.repo.evidence_of["srv-ana"] = Evidence(((int(START.timestamp()), int(START.timestamp()) + 7200, "zoom"),))
    uow.repo.add_grades("ses-1", [("srv-ana", 90.0)], "ins-rosa")

    closing = await as_the_route(uow, await handlers.close(uow.repo, CTX, COMPTROLLER, "ses-1",
                                                                   now=START + timedelta(hours=3)))

    assert [type(e) for e in uow.recorded] == [AttendanceRecorded, AttendanceRecorded, AssessmentGraded,
                                               SessionClosed]
    assert [(e.servant_id, e.status) for e in uow.recorded[:2]] == [("srv-ana", "present"), ("srv-benito", "absent")]
    assert (closing.enrolled, closing.present, closing.graded) == (2, 1, 1)
    assert [(r.servant_id, r.kind, r.institution_id) for r in uow.repo.records] == [
        ("srv-ana", "recorded", "sefiplan"), ("srv-benito", "recorded", "sefiplan")]
    assert all(r.event_id for r in uow.repo.records)


async def test_the_close_returns_its_events_for_the_caller_to_record_and_its_records_take_their_ids_then(uow) -> None:
    await a_session(uow, "srv-ana", "srv-benito")
    uow.repo.evidence_of["srv-ana"] = Evidence(((int(START.timestamp()), int(START.timestamp()) + 7200, "zoom"),))

    closing = await handlers.close(uow.repo, CTX, COMPTROLLER, "ses-1", now=START + timedelta(hours=3))

    assert [type(e) for e in closing.events] == [AttendanceRecorded, AttendanceRecorded, SessionClosed]
    assert uow.recorded == [] and uow.repo.records == []  # the handler recorded nothing, wrote no record yet

    envelopes = uow.record(closing.events)
    await uow.complete()
    assert [(r.servant_id, r.event_id) for r in uow.repo.records] == [
        ("srv-ana", envelopes[0].id), ("srv-benito", envelopes[1].id)]


async def test_a_session_that_has_not_ended_or_was_closed_is_not_closed(uow) -> None:
    await a_session(uow, "srv-ana")
    with pytest.raises(SessionNotReady, match="not ended"):
        await handlers.close(uow.repo, CTX, COMPTROLLER, "ses-1", now=START + timedelta(minutes=30))
    uow.repo.save(replace(await uow.repo.training_session("ses-1"), closed_at=START + timedelta(hours=3)))
    with pytest.raises(SessionNotReady, match="already closed"):
        await handlers.close(uow.repo, CTX, COMPTROLLER, "ses-1", now=START + timedelta(hours=4))
    assert uow.recorded == []


async def test_grades_are_published_once_the_session_is_closed_and_a_sheet_naming_a_stranger_is_refused(uow) -> None:
    await a_session(uow, "srv-ana")
    before = await handlers.grade(uow.repo, CTX, COMPTROLLER, "ses-1", [("srv-ana", None, 70.0)])
    assert (before.grades, before.events) == ([("srv-ana", 70.0)], [])
    await as_the_route(uow, await handlers.close(uow.repo, CTX, COMPTROLLER, "ses-1",
                                                         now=START + timedelta(hours=3)))
    after = await handlers.grade(uow.repo, CTX, COMPTROLLER, "ses-1", [("srv-ana", None, 85.0)])
    assert [(e.servant_id, e.score) for e in after.events] == [("srv-ana", 85.0)] and after.published
    with pytest.raises(AttendanceError, match="srv-elena is not enrolled"):
        await handlers.grade(uow.repo, CTX, COMPTROLLER, "ses-1", [("srv-elena", None, 85.0)])


async def test_a_mark_after_the_close_needs_a_reason_and_is_a_correction(uow) -> None:
    await a_session(uow, "srv-ana")
    await as_the_route(uow, await handlers.close(uow.repo, CTX, COMPTROLLER, "ses-1",
                                                         now=START + timedelta(hours=3)))
    with pytest.raises(SessionNotReady, match="reason"):
        await handlers.mark(uow.repo, CTX, COMPTROLLER, "ses-1", "srv-ana", "present", 100)

    marked = await as_the_route(uow, await handlers.mark(uow.repo, CTX, COMPTROLLER, "ses-1", "srv-ana", "present",
                                                                  100, reason="signed the paper list"))

    assert marked.corrected
    (correction,) = marked.events
    assert isinstance(correction, AttendanceCorrected) and correction in uow.recorded
    assert (correction.minutes_present, correction.status, correction.corrected_by) == (
        100, "present", "comptroller-tester")
    assert [(r.kind, r.minutes_present) for r in commands.current_records(uow.repo.records)] == [("corrected", 100)]

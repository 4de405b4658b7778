"""Attendance's handlers without a database: an in-memory repository and a unit of work that only keeps
what it is handed, so each test calls a handler and looks at the events it returns or records. Where a
route would record what the handler returned and complete the unit of work, ``as_the_route`` does."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from contracts.envelope import seal
from contracts.events import (
    AssessmentGraded, AttendanceCorrected, AttendanceRecorded, EnrolmentConfirmed, ServantRegistered,
    ServantTransferred, SessionClosed, SessionRescheduled, SessionScheduled,
)
from probidad.shared.auth import Principal
from probidad.shared.consumer import Rejected
from services.attendance import domain, handlers
from services.attendance.domain import AttendanceError, Evidence, Mark, SessionNotReady
from services.attendance.handlers import AttendanceContext
from services.attendance.repository import AttendanceRepository
from services.attendance.subscribers import subscriptions

START = datetime(2026, 11, 5, 15, 0, tzinfo=UTC)
CTX = AttendanceContext(check_in_key="check-in-key", email_digest_key="digest-key")
COMPTROLLER = Principal(subject="comptroller-tester", role="comptroller")


class FakeRepository:
    """The repository's methods the handlers call, over dicts."""

    def __init__(self) -> None:
        self.states: dict[tuple, object] = {}
        self.evidence_of: dict[str, Evidence] = {}
        self.grades: list[tuple[str, str, float]] = []
        self.records: list[domain.Record] = []
        self.marks: list[tuple[str, str, Mark]] = []
        self.uow: FakeUnitOfWork | None = None
        self._published: list[tuple[domain.Record, object]] = []

    def save(self, state: object) -> None:
        key = {domain.TrainingSession: lambda s: s.session_id, domain.Servant: lambda s: s.servant_id,
               domain.Transfer: lambda s: (s.servant_id, s.transfer_id),
               domain.Enrolment: lambda s: s.enrolment_id}[type(state)](state)
        self.states[(type(state), key)] = state

    async def training_session(self, session_id: str) -> domain.TrainingSession | None:
        return self.states.get((domain.TrainingSession, session_id))

    async def servant(self, servant_id: str) -> domain.Servant | None:
        return self.states.get((domain.Servant, servant_id))

    async def transfer(self, servant_id: str, transfer_id: str) -> domain.Transfer | None:
        return self.states.get((domain.Transfer, (servant_id, transfer_id)))

    async def enrolment(self, enrolment_id: str) -> domain.Enrolment | None:
        return self.states.get((domain.Enrolment, enrolment_id))

    def _of(self, kind: type) -> list:
        return [state for (k, _), state in self.states.items() if k is kind]

    async def enrolled_servants(self, session_id: str) -> dict[str, str | None]:
        servants = {s.servant_id: s.institution_id for s in self._of(domain.Servant)}
        return {e.servant_id: servants.get(e.servant_id) or e.institution_id
                for e in sorted(self._of(domain.Enrolment), key=lambda e: e.enrolment_id)
                if e.session_id == session_id and e.confirmed and not e.cancelled}

    async def transfers_of(self, servant_ids: list[str]) -> dict[str, list[domain.Transfer]]:
        found: dict[str, list[domain.Transfer]] = {}
        for transfer in self._of(domain.Transfer):
            if transfer.servant_id in servant_ids:
                found.setdefault(transfer.servant_id, []).append(transfer)
        return found

    async def servant_with_digest(self, digest: str) -> str | None:
        return next((s.servant_id for s in self._of(domain.Servant) if s.email_digest == digest), None)

    async def servants_by_digest(self, digests: list[str]) -> dict[str, str]:
        return {s.email_digest: s.servant_id for s in self._of(domain.Servant) if s.email_digest in set(digests)}

    async def claim_close(self, session_id: str, now: datetime, by: str) -> bool:
        session = await self.training_session(session_id)
        if session is None or not session.scheduled or session.closed_at is not None:
            return False
        self.save(replace(session, closed_at=now, closed_by=by))
        return True

    async def evidence(self, session_id: str, servant_ids: list[str]) -> dict[str, Evidence]:
        found = {sid: ev for sid, ev in self.evidence_of.items() if sid in servant_ids}
        for sid, mark_session, mark in self.marks:
            if mark_session == session_id and sid in servant_ids:
                found[sid] = replace(found.get(sid, Evidence()), mark=mark)
        return found

    async def default_source(self, session_id: str) -> str:
        return "zoom"

    async def add_mark(self, session_id: str, servant_id: str, mark: Mark, reason: str | None, by: str) -> None:
        self.marks.append((servant_id, session_id, mark))

    def add_grades(self, session_id: str, grades: list[tuple[str, float]], by: str) -> None:
        self.grades.extend((session_id, servant_id, score) for servant_id, score in grades)

    async def latest_grades(self, session_id: str) -> dict[str, float]:
        return {servant_id: score for s, servant_id, score in self.grades if s == session_id}

    def add_records(self, records: list[domain.Record], events: list) -> None:
        """As the repository: kept, then written with each event's envelope id when the unit of work completes."""
        self._published.extend(zip(records, events, strict=True))
        self.uow.before_commit((AttendanceRepository, "records"), self._write_records)

    async def _write_records(self) -> None:
        published, self._published = self._published, []
        for record, event in published:
            envelope = self.uow.recorded_as(event)
            assert envelope is not None, f"{type(event).__name__} was not recorded"
            self.records.append(replace(record, event_id=envelope.id))

    async def record_history(self, session_id: str | None = None, institution_id: str | None = None,
                             servant_id: str | None = None) -> list[domain.Record]:
        return [r for r in self.records if session_id in (None, r.session_id)]


@dataclass
class FakeEnvelope:
    id: str


class FakeUnitOfWork:
    def __init__(self, repo: FakeRepository) -> None:
        self.repo = repo
        repo.uow = self
        self.recorded: list = []
        self.envelopes: dict[int, FakeEnvelope] = {}  # id(event) -> the envelope it was recorded in
        self.flushes: dict[object, object] = {}

    def part(self, key: object, make: object) -> FakeRepository:
        assert key is AttendanceRepository
        return self.repo

    def record(self, events: list, *, correlation_id: str | None = None, topic: str | None = None) -> list:
        envelopes = []
        for event in events:
            self.recorded.append(event)
            envelopes.append(self.envelopes.setdefault(id(event), FakeEnvelope(uuid.uuid4().hex)))
        return envelopes

    def recorded_as(self, event: object) -> FakeEnvelope | None:
        return self.envelopes.get(id(event)) if any(e is event for e in self.recorded) else None

    def before_commit(self, key: object, flush: object) -> None:
        self.flushes.setdefault(key, flush)

    async def complete(self) -> None:
        while self.flushes:
            await self.flushes.pop(next(iter(self.flushes)))()


async def as_the_route(uow: FakeUnitOfWork, result):  # noqa: ANN001, ANN201 — a handler's result
    """What a route does with a handler's result: record its events, then complete the unit of work."""
    uow.record(result.events)
    await uow.complete()
    return result


def scheduled(session_id: str = "ses-1", starts: datetime = START, minutes: int = 120) -> SessionScheduled:
    return SessionScheduled(session_id=session_id, course_id="crs-etica", modality="virtual", platform="Zoom",
                            starts_at=starts, ends_at=starts + timedelta(minutes=minutes),
                            timezone="America/Cancun", capacity=30, instructor_id="ins-rosa")


def confirmed(servant_id: str, session_id: str = "ses-1") -> EnrolmentConfirmed:
    return EnrolmentConfirmed(enrolment_id=f"enr-{servant_id}", session_id=session_id, servant_id=servant_id,
                              institution_id="sefiplan")


async def a_session(uow: FakeUnitOfWork, *servants: str) -> None:
    await handlers.session_scheduled(uow, CTX, scheduled(), START - timedelta(days=3))
    for servant_id in servants:
        await handlers.enrolment_confirmed(uow, CTX, confirmed(servant_id))


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork(FakeRepository())


async def test_enrollment_facts_publish_nothing_and_an_older_schedule_does_not_undo_a_newer_one(uow) -> None:
    later = START + timedelta(hours=2)
    moved = SessionRescheduled(session_id="ses-1", starts_at=later, ends_at=later + timedelta(hours=1),
                               timezone="America/Cancun")
    assert await handlers.session_rescheduled(uow, CTX, moved, START) == []
    assert await handlers.session_scheduled(uow, CTX, scheduled(), START - timedelta(days=1)) == []
    session = await uow.repo.training_session("ses-1")
    assert (session.starts_at, session.instructor_id) == (later, "ins-rosa")


async def test_a_schedule_ending_before_it_starts_breaks_a_domain_rule_which_the_subscriber_dead_letters(uow) -> None:
    # The contract refuses such a schedule before any handler sees it; attendance's own rule still holds.
    with pytest.raises(ValidationError, match="is not after starts_at"):
        scheduled(minutes=-60)
    bad = SessionScheduled.model_construct(**{**dict(scheduled()), "ends_at": START - timedelta(minutes=60)})
    with pytest.raises(AttendanceError, match="is not after starts_at"):
        await handlers.session_scheduled(uow, CTX, bad, START)
    with pytest.raises(Rejected, match="is not after starts_at"):
        await subscriptions(CTX)[SessionScheduled.type](uow, seal(bad))
    assert await uow.repo.training_session("ses-1") is None


async def test_a_transfer_heard_before_the_registration_keeps_the_servant_with_the_joining_institution(uow) -> None:
    moved = ServantTransferred(servant_id="srv-ana", transfer_id="trf-1", from_institution_id="sefiplan",
                               to_institution_id="ssp", effective_on=date(2026, 11, 1), sex="female",
                               requested_by="liaison:sefiplan:rh", approved_by="liaison:ssp:rh", approved_at=START)
    await handlers.servant_transferred(uow, CTX, moved, START, "evt-transfer")
    registered = ServantRegistered(servant_id="srv-ana", institution_id="sefiplan", sex="female", email_digest="d1")
    await handlers.servant_known(uow, CTX, registered, START - timedelta(days=30))
    servant = await uow.repo.servant("srv-ana")
    assert (servant.institution_id, servant.email_digest) == ("ssp", "d1")


async def test_the_close_records_attendance_then_grades_then_the_close_and_keeps_each_records_event_id(uow) -> None:
    await a_session(uow, "srv-ana", "srv-benito")
    uow.repo.evidence_of["srv-ana"] = Evidence(((int(START.timestamp()), int(START.timestamp()) + 7200, "zoom"),))
    uow.repo.add_grades("ses-1", [("srv-ana", 90.0)], "ins-rosa")

    closing = await as_the_route(uow, await handlers.close_session(uow, CTX, COMPTROLLER, "ses-1",
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

    closing = await handlers.close_session(uow, CTX, COMPTROLLER, "ses-1", now=START + timedelta(hours=3))

    assert [type(e) for e in closing.events] == [AttendanceRecorded, AttendanceRecorded, SessionClosed]
    assert uow.recorded == [] and uow.repo.records == []  # the handler recorded nothing, wrote no record yet

    envelopes = uow.record(closing.events)
    await uow.complete()
    assert [(r.servant_id, r.event_id) for r in uow.repo.records] == [
        ("srv-ana", envelopes[0].id), ("srv-benito", envelopes[1].id)]


async def test_a_session_that_has_not_ended_or_was_closed_is_not_closed(uow) -> None:
    await a_session(uow, "srv-ana")
    with pytest.raises(SessionNotReady, match="not ended"):
        await handlers.close_session(uow, CTX, COMPTROLLER, "ses-1", now=START + timedelta(minutes=30))
    uow.repo.save(replace(await uow.repo.training_session("ses-1"), closed_at=START + timedelta(hours=3)))
    with pytest.raises(SessionNotReady, match="already closed"):
        await handlers.close_session(uow, CTX, COMPTROLLER, "ses-1", now=START + timedelta(hours=4))
    assert uow.recorded == []


async def test_grades_are_published_once_the_session_is_closed_and_a_sheet_naming_a_stranger_is_refused(uow) -> None:
    await a_session(uow, "srv-ana")
    before = await handlers.grade(uow, CTX, COMPTROLLER, "ses-1", [("srv-ana", None, 70.0)])
    assert (before.grades, before.events) == ([("srv-ana", 70.0)], [])
    await as_the_route(uow, await handlers.close_session(uow, CTX, COMPTROLLER, "ses-1",
                                                         now=START + timedelta(hours=3)))
    after = await handlers.grade(uow, CTX, COMPTROLLER, "ses-1", [("srv-ana", None, 85.0)])
    assert [(e.servant_id, e.score) for e in after.events] == [("srv-ana", 85.0)] and after.published
    with pytest.raises(AttendanceError, match="srv-elena is not enrolled"):
        await handlers.grade(uow, CTX, COMPTROLLER, "ses-1", [("srv-elena", None, 85.0)])


async def test_a_mark_after_the_close_needs_a_reason_and_is_a_correction(uow) -> None:
    await a_session(uow, "srv-ana")
    await as_the_route(uow, await handlers.close_session(uow, CTX, COMPTROLLER, "ses-1",
                                                         now=START + timedelta(hours=3)))
    with pytest.raises(SessionNotReady, match="reason"):
        await handlers.mark_presence(uow, CTX, COMPTROLLER, "ses-1", "srv-ana", "present", 100)

    marked = await as_the_route(uow, await handlers.mark_presence(uow, CTX, COMPTROLLER, "ses-1", "srv-ana", "present",
                                                                  100, reason="signed the paper list"))

    assert marked.corrected
    (correction,) = marked.events
    assert isinstance(correction, AttendanceCorrected) and correction in uow.recorded
    assert (correction.minutes_present, correction.status, correction.corrected_by) == (
        100, "present", "comptroller-tester")
    assert [(r.kind, r.minutes_present) for r in domain.current_records(uow.repo.records)] == [("corrected", 100)]

"""Attendance's storage and unit of work without a database, for handler tests: an in-memory repository
(dicts) and a unit of work that only keeps what it is handed."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from contracts.attribution import Placement
from services.attendance import domain, sessions
from services.attendance.intervals import Evidence, Mark
from services.attendance.repository import AttendanceRepository


class FakeAttendanceRepository:
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
        key = {sessions.TrainingSession: lambda s: s.session_id, sessions.Servant: lambda s: s.servant_id,
               sessions.Transfer: lambda s: (s.servant_id, s.transfer_id),
               sessions.Enrolment: lambda s: s.enrolment_id,
               sessions.Registration: lambda s: (s.servant_id, s.event_id)}[type(state)](state)
        self.states[(type(state), key)] = state

    async def training_session(self, session_id: str) -> sessions.TrainingSession | None:
        return self.states.get((sessions.TrainingSession, session_id))

    async def servant(self, servant_id: str) -> sessions.Servant | None:
        return self.states.get((sessions.Servant, servant_id))

    async def transfer(self, servant_id: str, transfer_id: str) -> sessions.Transfer | None:
        return self.states.get((sessions.Transfer, (servant_id, transfer_id)))

    async def enrolment(self, enrolment_id: str) -> sessions.Enrolment | None:
        return self.states.get((sessions.Enrolment, enrolment_id))

    def _of(self, kind: type) -> list:
        return [state for (k, _), state in self.states.items() if k is kind]

    async def enrolled_servants(self, session_id: str) -> dict[str, str | None]:
        servants = {s.servant_id: s.institution_id for s in self._of(sessions.Servant)}
        return {e.servant_id: servants.get(e.servant_id) or e.institution_id
                for e in sorted(self._of(sessions.Enrolment), key=lambda e: e.enrolment_id)
                if e.session_id == session_id and e.confirmed and not e.cancelled}

    async def placements_of(self, servant_ids: list[str]) -> dict[str, list[Placement]]:
        found: dict[str, list[Placement]] = {}
        for stated in [*self._of(sessions.Transfer), *self._of(sessions.Registration)]:
            if stated.servant_id in servant_ids:
                found.setdefault(stated.servant_id, []).append(stated.placement)
        return found

    async def servant_with_digest(self, digest: str) -> str | None:
        return next((s.servant_id for s in self._of(sessions.Servant) if s.email_digest == digest), None)

    async def servants_by_digest(self, digests: list[str]) -> dict[str, str]:
        return {s.email_digest: s.servant_id for s in self._of(sessions.Servant) if s.email_digest in set(digests)}

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
    def __init__(self, repo: FakeAttendanceRepository) -> None:
        self.repo = repo
        repo.uow = self
        self.recorded: list = []
        self.envelopes: dict[int, FakeEnvelope] = {}  # id(event) -> the envelope it was recorded in
        self.flushes: dict[object, object] = {}

    def part(self, key: object, make: object) -> FakeAttendanceRepository:
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

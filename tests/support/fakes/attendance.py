"""Attendance's storage and unit of work without a database, for handler tests: an in-memory repository
(dicts) satisfying ``services.attendance.ports.AttendanceRepository`` (mypy checks it: ``_CHECK``), and a
unit of work that only keeps what it is handed."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol, TypeVar

from contracts.attribution import Placement
from contracts.base import Event
from services.attendance.domain.commands import Record
from services.attendance.domain.intervals import Evidence, Mark, Match
from services.attendance.domain.sessions import Enrolment, Registration, Servant, TrainingSession, Transfer
from services.attendance.ports import AttendanceRepository, State

S = TypeVar("S")


def _key(state: State) -> tuple[type, object]:
    if isinstance(state, TrainingSession):
        return TrainingSession, state.session_id
    if isinstance(state, Servant):
        return Servant, state.servant_id
    if isinstance(state, Transfer):
        return Transfer, (state.servant_id, state.transfer_id)
    if isinstance(state, Enrolment):
        return Enrolment, state.enrolment_id
    return Registration, (state.servant_id, state.event_id)


class FakeAttendanceRepository:
    """What the handlers may ask of storage, over dicts; records are written when the unit of work completes,
    each with the id of the envelope its event was recorded in, as the real repository does."""

    def __init__(self) -> None:
        self.states: dict[tuple[type, object], State] = {}
        self.evidence_of: dict[str, Evidence] = {}
        self.check_ins: dict[tuple[str, str], tuple[int, int]] = {}
        self.reports: list[tuple[str, str, str, Match]] = []
        self.grades: list[tuple[str, str, float]] = []
        self.records: list[Record] = []
        self.marks: list[tuple[str, str, Mark]] = []
        self.uow: FakeUnitOfWork | None = None
        self._published: list[tuple[Record, Event]] = []

    def save(self, state: State) -> None:
        self.states[_key(state)] = state

    def _get(self, kind: type[S], key: object) -> S | None:
        found = self.states.get((kind, key))
        return found if isinstance(found, kind) else None

    def _of(self, kind: type[S]) -> list[S]:
        return [state for state in self.states.values() if isinstance(state, kind)]

    async def training_session(self, session_id: str) -> TrainingSession | None:
        return self._get(TrainingSession, session_id)

    async def servant(self, servant_id: str) -> Servant | None:
        return self._get(Servant, servant_id)

    async def transfer(self, servant_id: str, transfer_id: str) -> Transfer | None:
        return self._get(Transfer, (servant_id, transfer_id))

    async def enrolment(self, enrolment_id: str) -> Enrolment | None:
        return self._get(Enrolment, enrolment_id)

    async def enrolled_servants(self, session_id: str) -> dict[str, str | None]:
        servants = {s.servant_id: s.institution_id for s in self._of(Servant)}
        return {e.servant_id: servants.get(e.servant_id) or e.institution_id
                for e in sorted(self._of(Enrolment), key=lambda e: e.enrolment_id)
                if e.session_id == session_id and e.confirmed and not e.cancelled}

    async def placements_of(self, servant_ids: Iterable[str]) -> dict[str, list[Placement]]:
        wanted = set(servant_ids)
        found: dict[str, list[Placement]] = {}
        stated: list[tuple[str, Placement]] = [(t.servant_id, t.placement) for t in self._of(Transfer)]
        stated += [(r.servant_id, r.placement) for r in self._of(Registration)]
        for servant_id, placement in stated:
            if servant_id in wanted:
                found.setdefault(servant_id, []).append(placement)
        return found

    async def servant_with_digest(self, digest: str) -> str | None:
        return next((s.servant_id for s in self._of(Servant) if s.email_digest == digest), None)

    async def servants_by_digest(self, digests: Iterable[str]) -> dict[str, str]:
        wanted = set(digests)
        return {s.email_digest: s.servant_id for s in self._of(Servant)
                if s.email_digest is not None and s.email_digest in wanted}

    async def claim_close(self, session_id: str, now: datetime, by: str) -> bool:
        session = await self.training_session(session_id)
        if session is None or not session.scheduled or session.closed_at is not None:
            return False
        self.save(replace(session, closed_at=now, closed_by=by))
        return True

    async def evidence(self, session_id: str, servant_ids: Iterable[str] | None = None) -> dict[str, Evidence]:
        wanted = None if servant_ids is None else set(servant_ids)
        found = {sid: ev for sid, ev in self.evidence_of.items() if wanted is None or sid in wanted}
        for (check_in_session, sid), (start, end) in self.check_ins.items():
            if check_in_session == session_id and (wanted is None or sid in wanted):
                held = found.get(sid, Evidence())
                found[sid] = replace(held, intervals=(*held.intervals, (start, end, "check_in")))
        for sid, mark_session, mark in self.marks:
            if mark_session == session_id and (wanted is None or sid in wanted):
                found[sid] = replace(found.get(sid, Evidence()), mark=mark)
        return found

    async def default_source(self, session_id: str) -> str:
        return "zoom"

    async def add_mark(self, session_id: str, servant_id: str, mark: Mark, reason: str | None, by: str) -> None:
        self.marks.append((servant_id, session_id, mark))

    async def check_in_started(self, session_id: str, servant_id: str) -> int | None:
        found = self.check_ins.get((session_id, servant_id))
        return None if found is None else found[0]

    def add_check_in(self, session_id: str, servant_id: str, started_s: int, ended_s: int) -> None:
        self.check_ins[(session_id, servant_id)] = (started_s, ended_s)

    async def add_report(self, report_id: str, session_id: str, report_format: str, match: Match, *,
                         rows: int, ignored: int, by: str, recorded_at: datetime) -> None:
        self.reports.append((report_id, session_id, report_format, match))

    def add_grades(self, session_id: str, grades: Iterable[tuple[str, float]], by: str) -> None:
        self.grades.extend((session_id, servant_id, score) for servant_id, score in grades)

    async def latest_grades(self, session_id: str) -> dict[str, float]:
        return {servant_id: score for s, servant_id, score in self.grades if s == session_id}

    def add_records(self, records: Iterable[Record], events: Iterable[Event]) -> None:
        """As the repository: kept, then written with each event's envelope id when the unit of work completes."""
        published = list(zip(records, events, strict=True))
        if not published:
            return
        assert self.uow is not None, "the fake repository belongs to a FakeUnitOfWork"
        self._published.extend(published)
        self.uow.before_commit((FakeAttendanceRepository, "records"), self._write_records)

    async def _write_records(self) -> None:
        assert self.uow is not None
        published, self._published = self._published, []
        for record, event in published:
            envelope = self.uow.recorded_as(event)
            assert envelope is not None, f"{type(event).__name__} was not recorded"
            self.records.append(replace(record, event_id=envelope.id))

    async def record_history(self, session_id: str | None = None, institution_id: str | None = None,
                             servant_id: str | None = None) -> list[Record]:
        return [r for r in self.records if session_id in (None, r.session_id)
                and institution_id in (None, r.institution_id) and servant_id in (None, r.servant_id)]


_CHECK: type[AttendanceRepository] = FakeAttendanceRepository


@dataclass
class FakeEnvelope:
    id: str


class FakeUnitOfWork:
    """Keeps the events recorded (each in an envelope with a fresh id) and runs the flushes registered
    before commit when ``complete`` is called; its one repository is ``repo``."""

    def __init__(self, repo: FakeAttendanceRepository) -> None:
        self.repo = repo
        repo.uow = self
        self.recorded: list[Event] = []
        self.envelopes: dict[int, FakeEnvelope] = {}  # id(event) -> the envelope it was recorded in
        self.flushes: dict[object, Callable[[], Awaitable[None]]] = {}

    def part(self, key: object, make: Callable[[], object]) -> FakeAttendanceRepository:
        """A subscriber asks the unit of work for its repository: this one's is always ``repo``."""
        return self.repo

    def record(self, events: Iterable[Event], *, correlation_id: str | None = None,
               topic: str | None = None) -> list[FakeEnvelope]:
        envelopes = []
        for event in events:
            self.recorded.append(event)
            envelopes.append(self.envelopes.setdefault(id(event), FakeEnvelope(uuid.uuid4().hex)))
        return envelopes

    def recorded_as(self, event: object) -> FakeEnvelope | None:
        return self.envelopes.get(id(event)) if any(e is event for e in self.recorded) else None

    def before_commit(self, key: object, flush: Callable[[], Awaitable[None]]) -> None:
        self.flushes.setdefault(key, flush)

    async def complete(self) -> None:
        while self.flushes:
            await self.flushes.pop(next(iter(self.flushes)))()


class _WithEvents(Protocol):
    @property
    def events(self) -> list[Event]: ...


R = TypeVar("R", bound=_WithEvents)


async def as_the_route(uow: FakeUnitOfWork, result: R) -> R:
    """What a route does with a handler's result: record its events, then complete the unit of work."""
    uow.record(result.events)
    await uow.complete()
    return result

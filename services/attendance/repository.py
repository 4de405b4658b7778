"""Attendance's storage: the only module with SQL, and where rows become the domain's states and back.

A consumer batch applies hundreds of enrollment facts in one transaction and shares one repository
(``SqlAttendanceRepository.of(uow)``). It remembers every row it loaded or made, looks rows up without
autoflush, and hands the new ones to the database once, when the unit of work completes
(``uow.before_commit``): the batch's new rows go in together instead of one INSERT before every lookup.

Published attendance records are written the same way, at completion, because each keeps the id of the
event that published it: the handler returns the events and the caller records them, so the ids are
known (``uow.recorded_as``) only then. A record whose event was never recorded is an error, never a row
without an event id.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlmodel import SQLModel

from contracts.attribution import Placement
from contracts.base import Event
from probidad.shared.tables import utcnow
from probidad.shared.unit_of_work import UnitOfWork
from services.attendance import tables
from services.attendance.domain import intervals, sessions
from services.attendance.domain.commands import Record
from services.attendance.domain.intervals import Evidence, Mark
from services.attendance.domain.sessions import utc

# domain state -> (table, the state's fields that make the primary key)
_STATES: dict[type, tuple[type[SQLModel], tuple[str, ...]]] = {
    sessions.TrainingSession: (tables.TrainingSession, ("session_id",)),
    sessions.Servant: (tables.Servant, ("servant_id",)),
    sessions.Transfer: (tables.Transfer, ("servant_id", "transfer_id")),
    sessions.Enrolment: (tables.Enrolment, ("enrolment_id",)),
    sessions.Registration: (tables.Registration, ("servant_id", "event_id")),
}
_CHUNK = 500


def _session(row: tables.TrainingSession) -> sessions.TrainingSession:
    return sessions.TrainingSession(
        row.session_id, row.course_id, row.instructor_id, row.modality, row.platform, utc(row.starts_at),
        utc(row.ends_at), row.timezone, utc(row.times_as_of), row.cancelled, utc(row.closed_at), row.closed_by,
        row.times_event_id or "")


def _servant(row: tables.Servant) -> sessions.Servant:
    # rows written before transfers have no institution_as_of: the digest's as_of stands for it
    return sessions.Servant(row.servant_id, row.institution_id, row.email_digest, utc(row.as_of),
                          utc(row.institution_as_of or row.as_of), row.digest_event_id or "",
                          row.institution_event_id or "")


def _transfer(row: tables.Transfer) -> sessions.Transfer:
    return sessions.Transfer(row.servant_id, row.transfer_id, row.from_institution_id, row.to_institution_id,
                           row.effective_on, utc(row.stated_at), row.stated_by)


def _enrolment(row: tables.Enrolment) -> sessions.Enrolment:
    return sessions.Enrolment(row.enrolment_id, row.session_id, row.servant_id, row.institution_id, row.confirmed,
                            row.cancelled)


def _record(row: tables.AttendanceRecord) -> Record:
    return Record(row.session_id, row.servant_id, row.institution_id, row.kind, row.minutes_present,
                  row.session_minutes, row.share, row.status, row.source_of_record, row.reason, row.corrected_by,
                  row.event_id, utc(row.recorded_at), row.seconds_present, row.session_seconds)


def _changed(before: object | None, after: object) -> dict[str, object]:
    """The fields of a state a decision changed (all of them for a new one)."""
    return {f.name: getattr(after, f.name) for f in fields(after)
            if before is None or getattr(before, f.name) != getattr(after, f.name)}


_TO_STATE = {tables.TrainingSession: _session, tables.Servant: _servant, tables.Transfer: _transfer,
             tables.Enrolment: _enrolment}
_COLUMNS = {sessions.Transfer: {"event_id": "stated_by"}}  # state field -> column, where they differ


class UnrecordedEvent(RuntimeError):
    """A record's event was not recorded in the unit of work: its caller did not record what the handler
    returned. Raised when the records are written, so the transaction stores nothing."""


class SqlAttendanceRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.session = uow.session
        # (table, key) -> [row, the state it held when loaded or last saved]
        self._known: dict[tuple[type, Any], list] = {}
        self._new: list[SQLModel] = []
        self._published: list[tuple[Record, Event]] = []  # records kept, with the event publishing each

    @classmethod
    def of(cls, uow: UnitOfWork) -> SqlAttendanceRepository:
        """The unit of work's repository: every handler of a consumer batch shares one."""
        return uow.part(cls, lambda: cls(uow))

    # ------------------------------------------------------------ states kept from enrollment's facts

    async def _state(self, model: type[SQLModel], key: Any) -> Any:
        found = self._known.get((model, key))
        if found is None:
            with self.session.no_autoflush:
                row = await self.session.get(model, key)
            if row is None:
                return None
            found = self._known[(model, key)] = [row, _TO_STATE[model](row)]
        return found[1]

    def _save(self, state: Any) -> None:
        model, key_fields = _STATES[type(state)]
        key = tuple(getattr(state, f) for f in key_fields)
        key = key[0] if len(key) == 1 else key
        columns = _COLUMNS.get(type(state), {})
        found = self._known.get((model, key))
        if found is None:
            row = model(**{columns.get(name, name): value for name, value in _changed(None, state).items()})
            self._known[(model, key)] = [row, state]
            self._new.append(row)
            self.uow.before_commit((SqlAttendanceRepository, "new rows"), self._write_new)
            return
        row, before = found
        for name, value in _changed(before, state).items():  # only what changed: no idle UPDATEs
            setattr(row, columns.get(name, name), value)
        found[1] = state

    async def _write_new(self) -> None:
        rows, self._new = self._new, []
        self.session.add_all(rows)
        await self.session.flush()

    async def training_session(self, session_id: str) -> sessions.TrainingSession | None:
        return await self._state(tables.TrainingSession, session_id)

    async def servant(self, servant_id: str) -> sessions.Servant | None:
        return await self._state(tables.Servant, servant_id)

    async def transfer(self, servant_id: str, transfer_id: str) -> sessions.Transfer | None:
        return await self._state(tables.Transfer, (servant_id, transfer_id))

    async def enrolment(self, enrolment_id: str) -> sessions.Enrolment | None:
        return await self._state(tables.Enrolment, enrolment_id)

    def save(self, state: sessions.TrainingSession | sessions.Servant | sessions.Transfer | sessions.Enrolment
             | sessions.Registration) -> None:
        self._save(state)

    # ------------------------------------------------------------ rosters

    async def enrolled_servants(self, session_id: str) -> dict[str, str | None]:
        """Servant id -> the institution they belong to now, of every confirmed enrolment.

        The servant's institution, not the enrolment's: after a transfer the servant is the new institution's
        to see. The enrolment's stands in while the servant's facts have not arrived."""
        rows = await self.session.execute(
            select(tables.Enrolment.servant_id, tables.Enrolment.institution_id, tables.Servant.institution_id)
            .outerjoin(tables.Servant, tables.Servant.servant_id == tables.Enrolment.servant_id).where(
                tables.Enrolment.session_id == session_id, tables.Enrolment.confirmed.is_(True),
                tables.Enrolment.cancelled.is_(False),
            ).order_by(tables.Enrolment.enrolment_id))
        return {servant_id: current or enrolled_for for servant_id, enrolled_for, current in rows}

    async def placements_of(self, servant_ids: Iterable[str]) -> dict[str, list[Placement]]:
        """Servant id -> every registration, update and transfer of theirs known (unordered)."""
        wanted = sorted(servant_ids)
        found: dict[str, list[Placement]] = {}
        for start in range(0, len(wanted), _CHUNK):
            part = wanted[start:start + _CHUNK]
            rows = await self.session.execute(select(tables.Transfer).where(tables.Transfer.servant_id.in_(part)))
            for row in rows.scalars():
                found.setdefault(row.servant_id, []).append(_transfer(row).placement)
            rows = await self.session.execute(
                select(tables.Registration).where(tables.Registration.servant_id.in_(part)))
            for row in rows.scalars():
                stated = sessions.Registration(row.servant_id, row.event_id, row.institution_id, utc(row.stated_at))
                found.setdefault(row.servant_id, []).append(stated.placement)
        return found

    async def servant_with_digest(self, digest: str) -> str | None:
        return (await self.session.execute(
            select(tables.Servant.servant_id).where(tables.Servant.email_digest == digest))).scalar()

    async def servants_by_digest(self, digests: Iterable[str]) -> dict[str, str]:
        wanted = list(set(digests))
        found: dict[str, str] = {}
        for start in range(0, len(wanted), _CHUNK):
            rows = await self.session.execute(select(tables.Servant.email_digest, tables.Servant.servant_id).where(
                tables.Servant.email_digest.in_(wanted[start:start + _CHUNK])))
            found.update({d: s for d, s in rows})
        return found

    # ------------------------------------------------------------ closing

    async def claim_close(self, session_id: str, now: datetime, by: str) -> bool:
        """Mark the session closed unless it is: of two concurrent closes exactly one changes the row (both
        databases re-check the condition under the row's write lock); the other finds it closed."""
        claimed = await self.session.execute(update(tables.TrainingSession).where(
            tables.TrainingSession.session_id == session_id, tables.TrainingSession.closed_at.is_(None),
            tables.TrainingSession.starts_at.is_not(None)).values(closed_at=now, closed_by=by))
        return claimed.rowcount == 1

    # ------------------------------------------------------------ evidence

    async def evidence(self, session_id: str, servant_ids: Iterable[str] | None = None) -> dict[str, Evidence]:
        wanted = set(servant_ids) if servant_ids is not None else None
        intervals: dict[str, list[tuple[int, int, str]]] = {}
        interval = tables.PresenceInterval
        found = await self.session.execute(select(interval.servant_id, interval.started_s, interval.ended_s,
                                                  interval.source).where(interval.session_id == session_id))
        for servant_id, start, end, source in found:
            if wanted is None or servant_id in wanted:
                intervals.setdefault(servant_id, []).append((start, end, source))
        marks: dict[str, Mark] = {}
        found = await self.session.execute(select(tables.PresenceMark).where(
            tables.PresenceMark.session_id == session_id).order_by(tables.PresenceMark.id))
        for mark in found.scalars():  # oldest first: the latest mark of a servant counts
            if wanted is None or mark.servant_id in wanted:
                marks[mark.servant_id] = Mark(mark.status, mark.minutes_present)
        return {sid: Evidence(tuple(intervals.get(sid, ())), marks.get(sid)) for sid in {*intervals, *marks}}

    async def default_source(self, session_id: str) -> str:
        latest = (await self.session.execute(
            select(tables.ReportImport.format).where(tables.ReportImport.session_id == session_id)
            .order_by(tables.ReportImport.imported_at.desc()).limit(1))).scalar()
        checked = None
        if not latest:
            checked = (await self.session.execute(select(tables.PresenceInterval.id).where(
                tables.PresenceInterval.session_id == session_id,
                tables.PresenceInterval.source == "check_in").limit(1))).scalar()
        return intervals.default_source(latest, checked is not None)

    async def add_mark(self, session_id: str, servant_id: str, mark: Mark, reason: str | None, by: str) -> None:
        self.session.add(tables.PresenceMark(session_id=session_id, servant_id=servant_id, status=mark.status,
                                             minutes_present=mark.minutes_present, reason=reason, marked_by=by))
        await self.session.flush()  # the decisions taken next read it

    async def check_in_started(self, session_id: str, servant_id: str) -> int | None:
        interval = tables.PresenceInterval
        return (await self.session.execute(select(interval.started_s).where(
            interval.session_id == session_id, interval.servant_id == servant_id,
            interval.source == "check_in"))).scalar()

    def add_check_in(self, session_id: str, servant_id: str, started_s: int, ended_s: int) -> None:
        self.session.add(tables.PresenceInterval(session_id=session_id, servant_id=servant_id, started_s=started_s,
                                                 ended_s=ended_s, source="check_in"))

    async def add_report(self, report_id: str, session_id: str, report_format: str, match: intervals.Match, *,
                         rows: int, ignored: int, by: str, recorded_at: datetime) -> None:
        spans = [{"session_id": session_id, "servant_id": servant_id, "started_s": s, "ended_s": e,
                  "source": report_format, "report_id": report_id, "recorded_at": recorded_at}
                 for servant_id, merged in match.intervals.items() for s, e in merged]
        if spans:  # one executemany: a 100,000-row report must not become 50,000 ORM objects
            await self.session.execute(insert(tables.PresenceInterval), spans)
        self.session.add(tables.ReportImport(
            report_id=report_id, session_id=session_id, format=report_format, rows=rows,
            matched_rows=match.matched_rows, unmatched_rows=len(match.unmatched), ignored_rows=ignored,
            unmatched=json.dumps([{"line": u.line, "reason": u.reason, "email_digest": u.email_digest}
                                  for u in match.unmatched]),
            imported_by=by))
        await self.session.flush()  # corrections taken next read the new intervals and source

    # ------------------------------------------------------------ grades

    def add_grades(self, session_id: str, grades: Iterable[tuple[str, float]], by: str) -> None:
        self.session.add_all([tables.Grade(session_id=session_id, servant_id=servant_id, score=score, graded_by=by)
                              for servant_id, score in grades])

    async def latest_grades(self, session_id: str) -> dict[str, float]:
        found = await self.session.execute(select(tables.Grade).where(
            tables.Grade.session_id == session_id).order_by(tables.Grade.id))
        return {g.servant_id: g.score for g in found.scalars()}  # a later grade supersedes earlier ones

    # ------------------------------------------------------------ published records

    def add_records(self, records: Iterable[Record], events: Iterable[Event]) -> None:
        """Keep ``records``, the i-th published by the i-th of ``events``: they are written when the unit
        of work completes (``uow.before_commit``), after the caller recorded the events the handler
        returned, each with the id of the envelope its event went out in (``uow.recorded_as``). Until
        then ``record_history`` does not show them: one unit of work closes or corrects a session once."""
        published = list(zip(records, events, strict=True))
        if not published:
            return
        self._published.extend(published)
        self.uow.before_commit((SqlAttendanceRepository, "records"), self._write_records)

    async def _write_records(self) -> None:
        published, self._published = self._published, []
        now = utcnow()
        rows = []
        for r, event in published:
            envelope = self.uow.recorded_as(event)
            if envelope is None:
                raise UnrecordedEvent(
                    f"the {type(event).__name__} publishing the {r.kind} record of servant {r.servant_id} in "
                    f"session {r.session_id} was not recorded in this unit of work: the caller must record "
                    f"the events the handler returned (uow.record) before the unit of work completes")
            rows.append({
                "session_id": r.session_id, "servant_id": r.servant_id, "institution_id": r.institution_id,
                "kind": r.kind, "minutes_present": r.minutes_present, "session_minutes": r.session_minutes,
                "share": r.share, "status": r.status, "source_of_record": r.source_of_record, "reason": r.reason,
                "corrected_by": r.corrected_by, "event_id": envelope.id, "recorded_at": r.recorded_at or now,
                "seconds_present": r.seconds_present, "session_seconds": r.session_seconds})
        await self.session.execute(insert(tables.AttendanceRecord), rows)  # one executemany for the whole close

    async def record_history(self, session_id: str | None = None, institution_id: str | None = None,
                             servant_id: str | None = None) -> list[Record]:
        """Every record and correction, oldest first."""
        record = tables.AttendanceRecord
        query = select(record).order_by(record.id)
        if session_id:
            query = query.where(record.session_id == session_id)
        if institution_id:
            query = query.where(record.institution_id == institution_id)
        if servant_id:
            query = query.where(record.servant_id == servant_id)
        return [_record(row) for row in (await self.session.execute(query)).scalars()]

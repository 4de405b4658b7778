"""Certification's persistence: the only module with SQL, and the mapping between rows and the domain.

The consumer applies all records of a poll (up to a few hundred) in one unit of work. Judging a
completion needs the session, its course, the servant's enrolments, attendance, grade and latest
certificate, and the servant's transfers, certificates and competencies; asking the database for
each, for every fact, costs several round trips per record. So one repository serves the whole unit
of work (``CertificationRepository.of``: ``uow.part``), and before the handlers run the sessions and
servants the batch's records name are loaded together (``preload``) with a few queries; a session or
servant reached otherwise is loaded when first asked for (with the others asked for at once). The
handlers then read and save through it, and what they save is kept in step, so it always answers what
the database would answer after a write.

Rows are read as plain rows (no ORM objects: loading a session's rows is then mostly the round trip);
only a row about to change is copied into a mutable ``Pending`` row (``_own``), and rows created here are
``Pending`` rows too. When the unit of work completes (``uow.before_commit``) they are written with Core
statements, per table: changed rows with one executemany UPDATE by primary key, then created rows with
one multi-row INSERT in the order created.

Invariant that makes that true: in a certification unit of work every row of these tables is read and
written through this repository, and each row is read after the PostgreSQL advisory lock it lives under
is taken, so no other certification transaction writes underneath it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlmodel import select

from contracts.events import CompetencyAttained, RevocationApplies
from probidad.shared.unit_of_work import UnitOfWork
from services.certification.domain.certificates import (
    Status,
)
from services.certification.domain.codes import normalise_code
from services.certification.domain.competencies import CertificateHolding
from services.certification.domain.decisions import CertificateChange, Completion, Restamp, ServantState, SessionState
from services.certification.domain.facts import (
    Attendance,
    CompletionFacts,
    CourseTerms,
    Enrolment,
    Grade,
    Holder,
    SessionPlan,
    Transfer,
)
from services.certification.batch_repository import CHUNK, RowBatch
from services.certification.rows import (
    Stored, attendance_of, course_of, enrolment_of, grade_of, holder_of, plan_of, standing_of, stated, transfer_of, utc,
)
from services.certification.tables import (
    AttendanceFact,
    CertificateRecord,
    CompetencyAttainment,
    CourseFact,
    EnrolmentFact,
    GradeFact,
    HolderFact,
    SessionFact,
    TransferFact,
)

# Locks (PostgreSQL; SQLite serialises writers by itself). Facts of one completion arrive on different
# partitions and may be handled by different instances at once; judging each with a stale view of the
# other (write skew) could miss a completion. So a transaction holds, before it reads them:
# * each session it reads — whatever is known about a (servant, session) lives under its session;
# * each servant whose transfers, holder, certificates across sessions or competencies it reads;
# * the course terms: shared by every transaction (every decision reads them), exclusively by one that
#   publishes a course (it re-judges every session of the course, and finds them by a query).
# Two instances busy with different sessions, servants and no course publication never wait for each
# other. Locks taken one after another can deadlock two transactions; PostgreSQL then aborts one,
# and the consumer retries its batch (a transient fault).


def _lock(kind: str, name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"probidad-certification:{kind}:{name}".encode()).digest()[:8], "big",
                          signed=True)


COURSE_TERMS_LOCK = _lock("course-terms", "all")


def _columns(model: Any) -> list[Any]:
    return list(model.__table__.columns)


class EnrolmentStoredElsewhere(Exception):
    """An enrolment id taken as new is stored under another session: the batch must be applied one by one."""


# ------------------------------------------------------------------ what is kept in memory


@dataclass
class _SessionRows:
    """Every row kept about one session, by servant (rows as read, or the ``Pending`` rows they became)."""

    session_id: str
    plan: Stored = None
    enrolments: dict[str, dict[str, Stored]] = field(default_factory=dict)  # servant -> enrolment id -> row
    attendance: dict[str, Stored] = field(default_factory=dict)
    grades: dict[str, Stored] = field(default_factory=dict)
    certificates: dict[str, Stored] = field(default_factory=dict)  # servant -> latest (highest issue)
    members: set[str] = field(default_factory=set)  # every servant with a row above
    plan_state: SessionPlan | None = None  # ``plan`` as the domain reads it (made once, until saved)

    def keep_certificate(self, row: Stored) -> None:
        latest = self.certificates.get(row.servant_id)
        if latest is None or row.issue >= latest.issue:
            self.certificates[row.servant_id] = row
        self.members.add(row.servant_id)


@dataclass
class _ServantRows:
    """A servant's certificates (ids; every session, every status), competencies attained, transfers and
    holder digest."""

    certificate_ids: set[str] = field(default_factory=set)
    attained: dict[str, Stored] = field(default_factory=dict)  # competency -> its attainment's row
    transfers: dict[str, Stored] = field(default_factory=dict)  # transfer id -> row
    holder: Stored = None


class CertificationRepository:
    """Certification's tables for one unit of work (see the module docstring)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.session = uow.session
        self.locking = self.session.bind.dialect.name == "postgresql"  # take the locks above
        self.terms_held: str | None = None  # "shared" or "exclusive", once taken
        self.records = 0  # records handled in this unit of work so far
        self.courses: dict[str, Stored | None] = {}
        self.course_terms: dict[str, CourseTerms | None] = {}  # ``courses`` as the domain reads them
        self.sessions: dict[str, _SessionRows] = {}
        self.servant_rows: dict[str, _ServantRows] = {}
        self.enrolments: dict[str, Stored] = {}  # every enrolment row seen or created, by id
        self.certificates: dict[str, Stored] = {}  # every certificate row seen or created, by id
        self.created_certificates: dict[str, list[str]] = {}  # servant -> ids created here (not stored yet)
        self.taken_as_new: list[str] = []  # enrolment ids not looked up (see ``enrolment``)
        self.batch = RowBatch()  # the rows to write when the unit of work completes
        uow.before_commit(CertificationRepository, self._write)

    @classmethod
    async def of(cls, uow: UnitOfWork, *, course_terms_change: bool = False,
                 record: bool = True) -> "CertificationRepository":
        """The unit of work's repository, for one more record handled (``record``); the first call takes
        the course-terms lock (PostgreSQL) before anything is read. ``course_terms_change``: the unit
        of work publishes a course, so it holds the course terms exclusively (see the locks above)."""
        repository: CertificationRepository = uow.part(cls, lambda: cls(uow))
        await repository.hold_course_terms(exclusive=course_terms_change)
        if record:
            repository.records += 1
        return repository

    async def hold_course_terms(self, *, exclusive: bool) -> None:
        if not self.locking or self.terms_held == "exclusive" or (self.terms_held and not exclusive):
            return
        function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        await self.session.execute(text(f"SELECT {function}(:key)"), {"key": COURSE_TERMS_LOCK})
        self.terms_held = "exclusive" if exclusive else "shared"

    async def _hold(self, kind: str, names: Iterable[str]) -> None:
        """Take the locks of these sessions or servants, in one order (see the locks above)."""
        if self.locking:
            keys = sorted({_lock(kind, name) for name in names})
            if keys:
                await self.session.execute(
                    text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k"), {"keys": keys})

    async def _rows(self, statement) -> list:  # noqa: ANN001 — a select
        return list((await self.session.execute(statement)).all())

    async def preload(self, session_ids: Iterable[str], servant_ids: Iterable[str]) -> None:
        """Load these sessions, then these servants and every servant of these sessions, now and together
        (the ones a batch's records name: a change to a session re-judges each of its servants)."""
        session_ids = {s for s in session_ids if s}
        await self._load_sessions(session_ids)
        members = (servant_id for session_id in session_ids for servant_id in self.sessions[session_id].members)
        await self._load_servants({*servant_ids, *members})

    async def _write(self) -> None:
        """When the unit of work completes: check the enrolment ids taken as new, then write every changed
        and created row."""
        await self._check_taken_as_new()
        await self.batch.write(self.session)

    # -------------------------------------------------------------- loading

    async def _course_row(self, course_id: str) -> Stored | None:
        if course_id not in self.courses:
            found = await self._rows(select(*_columns(CourseFact)).where(CourseFact.course_id == course_id))
            self.courses[course_id] = found[0] if found else None
        return self.courses[course_id]

    async def _session_rows(self, session_id: str) -> _SessionRows:
        if session_id not in self.sessions:
            await self._load_sessions([session_id])
        return self.sessions[session_id]

    async def _load_sessions(self, session_ids: Iterable[str]) -> None:
        wanted = sorted({s for s in session_ids if s and s not in self.sessions})
        for chunk in range(0, len(wanted), CHUNK):
            await self._load_session_chunk(wanted[chunk:chunk + CHUNK])

    async def _load_session_chunk(self, session_ids: list[str]) -> None:
        await self._hold("session", session_ids)
        loaded = {session_id: _SessionRows(session_id) for session_id in session_ids}
        for row in await self._rows(select(*_columns(SessionFact)).where(SessionFact.session_id.in_(session_ids))):
            loaded[row.session_id].plan = row
        for row in await self._rows(select(*_columns(EnrolmentFact)).where(EnrolmentFact.session_id.in_(session_ids))):
            row = self.enrolments.setdefault(row.enrolment_id, row)  # one changed here stays as changed
            if row.session_id in loaded:
                loaded[row.session_id].enrolments.setdefault(row.servant_id, {})[row.enrolment_id] = row
                loaded[row.session_id].members.add(row.servant_id)
        for row in await self._rows(select(*_columns(AttendanceFact)).where(
                AttendanceFact.session_id.in_(session_ids))):
            loaded[row.session_id].attendance[row.servant_id] = row
            loaded[row.session_id].members.add(row.servant_id)
        for row in await self._rows(select(*_columns(GradeFact)).where(GradeFact.session_id.in_(session_ids))):
            loaded[row.session_id].grades[row.servant_id] = row
            loaded[row.session_id].members.add(row.servant_id)
        for row in await self._rows(select(*_columns(CertificateRecord)).where(
                CertificateRecord.session_id.in_(session_ids))):
            row = self.certificates.setdefault(row.certificate_id, row)
            loaded[row.session_id].keep_certificate(row)
        self.sessions.update(loaded)

    async def _load_servants(self, servant_ids: Iterable[str]) -> None:
        wanted = sorted({s for s in servant_ids if s and s not in self.servant_rows})
        for chunk in range(0, len(wanted), CHUNK):
            await self._load_servant_chunk(wanted[chunk:chunk + CHUNK])

    async def _load_servant_chunk(self, servants: list[str]) -> None:
        await self._hold("servant", servants)
        loaded = {servant_id: _ServantRows() for servant_id in servants}
        for row in await self._rows(select(*_columns(CertificateRecord)).where(
                CertificateRecord.servant_id.in_(servants))):
            self.certificates.setdefault(row.certificate_id, row)  # a row changed here stays as changed
            loaded[row.servant_id].certificate_ids.add(row.certificate_id)
        for row in await self._rows(select(*_columns(CompetencyAttainment)).where(
                CompetencyAttainment.servant_id.in_(servants))):
            loaded[row.servant_id].attained[row.competency] = row
        for row in await self._rows(select(*_columns(TransferFact)).where(TransferFact.servant_id.in_(servants))):
            loaded[row.servant_id].transfers[row.transfer_id] = row
        for row in await self._rows(select(*_columns(HolderFact)).where(HolderFact.servant_id.in_(servants))):
            loaded[row.servant_id].holder = row
        for servant_id, rows in loaded.items():
            rows.certificate_ids.update(self.created_certificates.get(servant_id, ()))
        self.servant_rows.update(loaded)

    # -------------------------------------------------------------- the domain's state

    async def course(self, course_id: str) -> CourseTerms | None:
        terms = self.course_terms.get(course_id)
        if terms is None:
            terms = self.course_terms[course_id] = course_of(await self._course_row(course_id))
        return terms

    async def plan(self, session_id: str) -> SessionPlan | None:
        """The session's plan, under its lock."""
        return self._plan_of(await self._session_rows(session_id))

    @staticmethod
    def _plan_of(rows: _SessionRows) -> SessionPlan | None:
        if rows.plan_state is None and rows.plan is not None:
            rows.plan_state = plan_of(rows.plan)
        return rows.plan_state

    def _completion(self, rows: _SessionRows, plan: SessionPlan | None, course: CourseTerms | None,
                          servant_id: str) -> Completion:
        enrolments = rows.enrolments.get(servant_id, {}).values()
        facts = CompletionFacts(
            servant_id=servant_id, session_id=rows.session_id, course=course, session=plan,
            enrolments=tuple(sorted((enrolment_of(row) for row in enrolments), key=lambda e: e.enrolment_id)),
            attendance=attendance_of(rows.attendance.get(servant_id)), grade=grade_of(rows.grades.get(servant_id)),
        )
        return Completion(facts, standing_of(rows.certificates.get(servant_id)))

    async def _plan_and_course(self, rows: _SessionRows) -> tuple[SessionPlan | None, CourseTerms | None]:
        plan = self._plan_of(rows)
        course = await self.course(plan.course_id) if plan is not None and plan.course_id else None
        return plan, course

    async def completion(self, session_id: str, servant_id: str) -> Completion:
        """What is kept about the servant in the session."""
        rows = await self._session_rows(session_id)
        plan, course = await self._plan_and_course(rows)
        return self._completion(rows, plan, course, servant_id)

    async def session_state(self, session_id: str) -> SessionState:
        """The session with every servant's completion in it, in servant order."""
        rows = await self._session_rows(session_id)
        plan, course = await self._plan_and_course(rows)
        completions = [self._completion(rows, plan, course, servant_id) for servant_id in sorted(rows.members)]
        return SessionState(session_id, plan, course, tuple(completions))

    async def sessions_of_course(self, course_id: str) -> list[SessionState]:
        """The sessions scheduled for the course, as a written database would answer, in id order."""
        stored = (await self.session.exec(select(SessionFact.session_id).where(SessionFact.course_id == course_id))).all()
        found = {session_id for session_id in stored if session_id not in self.sessions}
        found.update(session_id for session_id, rows in self.sessions.items()
                     if rows.plan is not None and rows.plan.course_id == course_id)
        await self._load_sessions(found)
        return [await self.session_state(session_id) for session_id in sorted(found)]

    async def certified_completions(self, servant_id: str) -> list[Completion]:
        """The servant's completions with a certificate (any status), as a written database would
        answer, in session order. Ask after ``servants``: its lock comes first (see ``servants``)."""
        stored = set((await self.session.exec(select(CertificateRecord.session_id).where(
            CertificateRecord.servant_id == servant_id))).all())
        stored.update(row.session_id for row in self.certificates.values() if row.servant_id == servant_id)
        await self._load_sessions(stored)
        return [await self.completion(session_id, servant_id) for session_id in sorted(stored)]

    async def servants(self, servant_ids: Iterable[str]) -> dict[str, ServantState]:
        """These servants' transfers, valid certificates and competencies, under their locks (loaded together,
        those not loaded yet). A transaction stamping a certificate and one recording a transfer of its
        servant both hold the servant's lock, so neither decides on the other's stale view."""
        servant_ids = list(servant_ids)
        if any(servant_id not in self.servant_rows for servant_id in servant_ids):
            await self._load_servants(servant_ids)
        return {servant_id: self._servant_state(servant_id) for servant_id in servant_ids}

    async def servant(self, servant_id: str) -> ServantState:
        return (await self.servants([servant_id]))[servant_id]

    def _servant_state(self, servant_id: str) -> ServantState:
        rows = self.servant_rows[servant_id]
        found = (self.certificates[certificate_id] for certificate_id in sorted(rows.certificate_ids))
        valid = tuple(CertificateHolding(r.certificate_id, r.course_id, r.course_code, r.course_topic, r.issued_on)
                      for r in found if r.status == Status.valid.value)
        attained = {competency: frozenset(json.loads(row.certificate_ids)) for competency, row in rows.attained.items()}
        return ServantState(servant_id, tuple(transfer_of(row) for row in rows.transfers.values()), valid,
                            attained, holder_of(rows.holder))

    async def enrolment(self, enrolment_id: str) -> Enrolment | None:
        """The enrolment with this id, wherever it is stored (an id is not trusted to name its session).

        An enrolment belongs to one session, so its row, if stored, is among the session's rows loaded
        here. Asking the database about every new id would cost a round trip per enrolment, so after
        the unit of work's first record an id not found is taken as new, and all ids taken as new are
        checked in one query before anything is written. Should one be stored under another session after
        all (a producer reusing an id), the unit of work fails before writing anything and the consumer
        applies its records one by one, each in its own unit of work, where the first (only) record's
        ids are looked up directly: the same outcome as looking every id up.
        """
        if enrolment_id in self.enrolments:
            return enrolment_of(self.enrolments[enrolment_id])
        if self.records > 1:
            self.taken_as_new.append(enrolment_id)  # checked before writing (``_check_taken_as_new``)
            return None
        found = await self._rows(select(*_columns(EnrolmentFact)).where(EnrolmentFact.enrolment_id == enrolment_id))
        if not found:
            return None
        row = self.enrolments[enrolment_id] = found[0]
        return enrolment_of(row)

    async def _check_taken_as_new(self) -> None:
        """No enrolment id taken as new may be stored already (see ``enrolment``)."""
        ids, self.taken_as_new = sorted(set(self.taken_as_new)), []
        stored: list[str] = []
        for chunk in range(0, len(ids), CHUNK):
            stored += (await self.session.execute(select(EnrolmentFact.enrolment_id).where(
                EnrolmentFact.enrolment_id.in_(ids[chunk:chunk + CHUNK])))).scalars().all()
        if stored:
            raise EnrolmentStoredElsewhere(f"enrolment ids already stored under another session: {sorted(stored)}; "
                                           "the records are applied one by one")

    # -------------------------------------------------------------- saving

    def save_course(self, terms: CourseTerms) -> None:
        stated_at, stated_by = stated(terms.stamp)
        self.course_terms.pop(terms.course_id, None)  # read again from the row, as stored
        self.courses[terms.course_id] = self.batch.put(CourseFact, self.courses.get(terms.course_id), dict(
            course_id=terms.course_id, code=terms.code, title=terms.title, topic=terms.topic, hours=terms.hours,
            minimum_attendance_share=terms.minimum_attendance_share, passing_score=terms.passing_score,
            competency=terms.competency, validity_months=terms.validity_months, stated_at=stated_at,
            stated_by=stated_by))

    def save_plan(self, plan: SessionPlan) -> None:
        rows = self.sessions[plan.session_id]
        values = dict(session_id=plan.session_id, course_id=plan.course_id, timezone=plan.timezone,
                      cancelled=plan.cancelled, closed=plan.closed,
                      starts_at=None if plan.starts_at is None else utc(plan.starts_at),
                      ends_at=None if plan.ends_at is None else utc(plan.ends_at))
        if plan.planned is not None:
            values.update(planned_at=utc(plan.planned.at), planned_rank=plan.planned.rank,
                          planned_by=plan.planned.event_id)
        rows.plan = self.batch.put(SessionFact, rows.plan, values)
        rows.plan_state = None  # read again from the row, as stored

    def save_enrolment(self, enrolment: Enrolment) -> None:
        """Saved where it is stored (a new one in the event's session)."""
        stored = self.enrolments.get(enrolment.enrolment_id)
        values = dict(institution_id=enrolment.institution_id, confirmed=enrolment.confirmed,
                      cancelled=enrolment.cancelled)
        if stored is None:
            values.update(enrolment_id=enrolment.enrolment_id, session_id=enrolment.session_id,
                          servant_id=enrolment.servant_id)
        row = self.enrolments[enrolment.enrolment_id] = self.batch.put(EnrolmentFact, stored, values)
        home = self.sessions.get(row.session_id)
        if home is not None:
            home.enrolments.setdefault(row.servant_id, {})[row.enrolment_id] = row
            home.members.add(row.servant_id)

    def save_holder(self, servant_id: str, holder: Holder) -> None:
        rows = self.servant_rows[servant_id]
        stated_at, stated_by = stated(holder.stamp)
        rows.holder = self.batch.put(HolderFact, rows.holder, dict(
            servant_id=servant_id, holder_digest=holder.digest, stated_at=stated_at, stated_by=stated_by))

    def save_attendance(self, session_id: str, servant_id: str, attendance: Attendance) -> None:
        rows = self.sessions[session_id]
        stated_at, stated_by = stated(attendance.stamp)
        rows.attendance[servant_id] = self.batch.put(AttendanceFact, rows.attendance.get(servant_id), dict(
            session_id=session_id, servant_id=servant_id, share=attendance.share,
            minutes_present=attendance.minutes_present, session_minutes=attendance.session_minutes,
            status=attendance.status, stated_at=stated_at, stated_rank=attendance.stamp.rank, stated_by=stated_by))
        rows.members.add(servant_id)

    def save_grade(self, session_id: str, servant_id: str, grade: Grade) -> None:
        rows = self.sessions[session_id]
        stated_at, stated_by = stated(grade.stamp)
        rows.grades[servant_id] = self.batch.put(GradeFact, rows.grades.get(servant_id), dict(
            session_id=session_id, servant_id=servant_id, score=grade.score, stated_at=stated_at,
            stated_by=stated_by))
        rows.members.add(servant_id)

    def save_transfer(self, servant_id: str, transfer: Transfer) -> None:
        transfers = self.servant_rows[servant_id].transfers
        stated_at, stated_by = stated(transfer.stamp)
        transfers[transfer.transfer_id] = self.batch.put(TransferFact, transfers.get(transfer.transfer_id), dict(
            servant_id=servant_id, transfer_id=transfer.transfer_id, to_institution_id=transfer.to_institution_id,
            from_institution_id=transfer.origin,
            effective_on=transfer.effective_on, stated_at=stated_at, stated_by=stated_by))

    def save_certificate(self, change: CertificateChange, *, signature: str, key_id: str,
                         changed_at: datetime) -> None:
        held, terms = change.certificate, change.certificate.terms
        stored = self.certificates.get(terms.certificate_id)
        values = dict(
            course_id=terms.course_id, course_code=terms.course_code, course_title=terms.course_title,
            course_topic=terms.course_topic, hours=terms.hours, score=terms.score, issued_on=terms.issued_on,
            issuing_authority=terms.issuing_authority, valid_until=terms.valid_until,
            holder_digest=terms.holder_digest, institution_id=change.institution_id,
            status=held.status.value, revocation_reason=held.revocation_reason, signature=signature, key_id=key_id,
            changed_at=utc(changed_at))
        if held.revocation is not None:
            values.update(revocation_applies=RevocationApplies(held.revocation.applies).value,
                          revoked_effective_on=held.revocation.effective_on, revoked_by=held.revocation.ruled_by)
        if stored is None:
            values.update(certificate_id=terms.certificate_id, verification_code=terms.verification_code,
                          servant_id=change.servant_id, session_id=change.session_id, issue=held.issue)
            self.created_certificates.setdefault(change.servant_id, []).append(terms.certificate_id)
            servant = self.servant_rows.get(change.servant_id)
            if servant is not None:
                servant.certificate_ids.add(terms.certificate_id)
        row = self.certificates[terms.certificate_id] = self.batch.put(CertificateRecord, stored, values)
        self.sessions[change.session_id].keep_certificate(row)

    def restamp(self, restamp: Restamp) -> None:
        row = self.batch.own(CertificateRecord, self.certificates[restamp.certificate_id])
        row.institution_id = restamp.institution_id
        self.certificates[row.certificate_id] = row
        self.sessions[restamp.session_id].keep_certificate(row)

    def save_attainment(self, attained: CompetencyAttained) -> None:
        """Keep an attainment; one attained again (its earlier one rested on a certificate since revoked)
        replaces the row kept for the competency."""
        kept = self.servant_rows[attained.servant_id].attained
        kept[attained.competency] = self.batch.put(CompetencyAttainment, kept.get(attained.competency), dict(
            servant_id=attained.servant_id, competency=attained.competency, course_ids=json.dumps(attained.course_ids),
            certificate_ids=json.dumps(attained.certificate_ids), attained_on=attained.attained_on))

    async def certificate_named(self, certificate: str) -> CertificateRecord | None:
        """The certificate with this id, or this verification code (as a person types it)."""
        code = normalise_code(certificate)
        column = CertificateRecord.verification_code if code is not None else CertificateRecord.certificate_id
        return (await self.session.exec(select(CertificateRecord).where(column == (code or certificate)))).first()

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
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, bindparam, insert, text, update
from sqlmodel import select

from contracts.attribution import Stamp
from contracts.events import CompetencyAttained, RevocationApplies
from probidad.shared.unit_of_work import UnitOfWork
from services.certification.domain import (
    Attendance,
    CertificateChange,
    CertificateHolding,
    CertificateTerms,
    Completion,
    CompletionFacts,
    CourseTerms,
    Enrolment,
    Grade,
    HeldCertificate,
    Holder,
    Restamp,
    Revocation,
    ServantState,
    SessionPlan,
    SessionState,
    StandingCertificate,
    Status,
    Transfer,
    normalise_code,
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
_CHUNK = 500


class EnrolmentStoredElsewhere(Exception):
    """An enrolment id taken as new is stored under another session: the batch must be applied one by one."""


class Pending:
    """A row created or changed in this unit of work, as plain attributes (written at completion)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


Stored = Any  # a row as read (sqlalchemy Row) or a ``Pending`` row of the same table: read by attribute

# The tables whose rows the repository writes, in the order written.
_WRITTEN = (CourseFact, SessionFact, EnrolmentFact, TransferFact, HolderFact, AttendanceFact, GradeFact,
            CertificateRecord, CompetencyAttainment)


def _defaults(model: type) -> dict[str, Any]:
    return {name: info.default for name, info in model.model_fields.items() if not info.is_required()}


_DEFAULTS = {model: _defaults(model) for model in _WRITTEN}
_KEYS = {model: tuple(column.name for column in model.__table__.primary_key.columns) for model in _WRITTEN}
_COLUMNS = {model: tuple(column.name for column in model.__table__.columns) for model in _WRITTEN}


def _update_by_key(model: type):  # noqa: ANN202
    table = model.__table__
    keys = _KEYS[model]
    return (update(table)
            .where(and_(*(table.c[name] == bindparam(f"key_{name}") for name in keys)))
            .values({name: bindparam(f"new_{name}") for name in _COLUMNS[model] if name not in keys}))


_UPDATES = {model: _update_by_key(model) for model in _WRITTEN}


def _columns(model: type) -> list:
    return list(model.__table__.columns)


# ------------------------------------------------------------------ rows <-> domain


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _aware(moment: datetime | None) -> datetime | None:
    """Databases without time zones hand back naive UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _stored_stamp(at: datetime, rank: int, event_id: str) -> Stamp:
    return Stamp(_aware(at), rank, event_id)


def _course(row: Stored | None) -> CourseTerms | None:
    if row is None:
        return None
    return CourseTerms(row.course_id, row.code, row.title, row.topic, row.hours, row.minimum_attendance_share,
                       row.passing_score, row.competency, _stored_stamp(row.stated_at, 0, row.stated_by),
                       row.validity_months)


def _plan(row: Stored | None) -> SessionPlan | None:
    if row is None:
        return None
    planned = None if row.planned_at is None else _stored_stamp(row.planned_at, row.planned_rank or 0, row.planned_by or "")
    return SessionPlan(row.session_id, row.course_id, _aware(row.starts_at), _aware(row.ends_at), row.timezone,
                       planned, row.cancelled, row.closed)


def _enrolment(row: Stored | None) -> Enrolment | None:
    if row is None:
        return None
    return Enrolment(row.enrolment_id, row.session_id, row.servant_id, row.institution_id, row.confirmed, row.cancelled)


def _attendance(row: Stored | None) -> Attendance | None:
    if row is None:
        return None
    return Attendance(row.share, row.minutes_present, row.session_minutes, row.status,
                      _stored_stamp(row.stated_at, row.stated_rank, row.stated_by))


def _grade(row: Stored | None) -> Grade | None:
    return None if row is None else Grade(row.score, _stored_stamp(row.stated_at, 0, row.stated_by))


def _transfer(row: Stored) -> Transfer:
    return Transfer(row.transfer_id, row.to_institution_id, row.effective_on,
                    _stored_stamp(row.stated_at, 0, row.stated_by), row.from_institution_id)


def _holder(row: Stored | None) -> Holder | None:
    return None if row is None else Holder(row.holder_digest, _stored_stamp(row.stated_at, 0, row.stated_by))


def certificate_terms(row: Stored) -> CertificateTerms:
    """The terms a certificate row states (what its signature covers)."""
    return CertificateTerms(
        certificate_id=row.certificate_id, verification_code=row.verification_code, servant_id=row.servant_id,
        session_id=row.session_id, course_id=row.course_id, course_code=row.course_code,
        course_title=row.course_title, course_topic=row.course_topic, hours=row.hours, score=row.score,
        issued_on=row.issued_on, issuing_authority=row.issuing_authority, valid_until=row.valid_until,
        holder_digest=row.holder_digest,
    )


def revocation_of(row: Stored) -> Revocation | None:
    """How a revoked certificate's revocation applies (a row kept before it was said: void); None if valid."""
    if row.status != Status.revoked.value:
        return None
    return Revocation(RevocationApplies(row.revocation_applies or RevocationApplies.void.value),
                      row.revoked_effective_on, row.revoked_by)


def _standing(row: Stored | None) -> StandingCertificate | None:
    if row is None:
        return None
    return StandingCertificate(HeldCertificate(certificate_terms(row), Status(row.status), row.issue,
                                               row.revocation_reason, revocation_of(row)), row.institution_id)


def _stated(stamp: Stamp) -> tuple[datetime, str]:
    return _utc(stamp.at), stamp.event_id


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
        # Rows to write, by table: changed ones (UPDATE) and created ones (INSERT), by key.
        self.changed: dict[type, dict[tuple, Pending]] = {model: {} for model in _WRITTEN}
        self.created: dict[type, dict[tuple, Pending]] = {model: {} for model in _WRITTEN}
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

    # -------------------------------------------------------------- rows kept, created and changed

    def _own(self, model: type, stored: Stored) -> Pending:
        """A mutable copy of a row read as a plain row, written back with an UPDATE."""
        if isinstance(stored, Pending):
            return stored
        row = Pending(stored._asdict())
        self.changed[model][tuple(getattr(row, name) for name in _KEYS[model])] = row
        return row

    def _new(self, model: type, values: dict[str, Any]) -> Pending:
        """A row created here (the model's defaults for what is not given), INSERTed."""
        row = Pending({**_DEFAULTS[model], **values})
        self.created[model][tuple(getattr(row, name) for name in _KEYS[model])] = row
        return row

    def _put(self, model: type, stored: Stored | None, values: dict[str, Any]) -> Pending:
        """``stored`` with ``values`` (a new row with them if nothing is stored)."""
        if stored is None:
            return self._new(model, values)
        row = self._own(model, stored)
        row.__dict__.update(values)
        return row

    async def _write(self) -> None:
        """When the unit of work completes: check the enrolment ids taken as new, then write every changed
        and created row."""
        await self._check_taken_as_new()
        for model in _WRITTEN:
            keys, columns = _KEYS[model], _COLUMNS[model]
            changed, created = self.changed[model], self.created[model]
            if changed:
                values = [{**{f"key_{name}": getattr(row, name) for name in keys},
                           **{f"new_{name}": getattr(row, name) for name in columns if name not in keys}}
                          for row in changed.values()]
                for chunk in range(0, len(values), _CHUNK):
                    await self.session.execute(_UPDATES[model], values[chunk:chunk + _CHUNK])
            if created:
                values = [{name: getattr(row, name) for name in columns} for row in created.values()]
                for chunk in range(0, len(values), _CHUNK):
                    await self.session.execute(insert(model.__table__), values[chunk:chunk + _CHUNK])
            changed.clear()
            created.clear()

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
        for chunk in range(0, len(wanted), _CHUNK):
            await self._load_session_chunk(wanted[chunk:chunk + _CHUNK])

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
        for chunk in range(0, len(wanted), _CHUNK):
            await self._load_servant_chunk(wanted[chunk:chunk + _CHUNK])

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
            terms = self.course_terms[course_id] = _course(await self._course_row(course_id))
        return terms

    async def plan(self, session_id: str) -> SessionPlan | None:
        """The session's plan, under its lock."""
        return self._plan_of(await self._session_rows(session_id))

    @staticmethod
    def _plan_of(rows: _SessionRows) -> SessionPlan | None:
        if rows.plan_state is None and rows.plan is not None:
            rows.plan_state = _plan(rows.plan)
        return rows.plan_state

    def _completion(self, rows: _SessionRows, plan: SessionPlan | None, course: CourseTerms | None,
                          servant_id: str) -> Completion:
        enrolments = rows.enrolments.get(servant_id, {}).values()
        facts = CompletionFacts(
            servant_id=servant_id, session_id=rows.session_id, course=course, session=plan,
            enrolments=tuple(sorted((_enrolment(row) for row in enrolments), key=lambda e: e.enrolment_id)),
            attendance=_attendance(rows.attendance.get(servant_id)), grade=_grade(rows.grades.get(servant_id)),
        )
        return Completion(facts, _standing(rows.certificates.get(servant_id)))

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
        return ServantState(servant_id, tuple(_transfer(row) for row in rows.transfers.values()), valid,
                            attained, _holder(rows.holder))

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
            return _enrolment(self.enrolments[enrolment_id])
        if self.records > 1:
            self.taken_as_new.append(enrolment_id)  # checked before writing (``_check_taken_as_new``)
            return None
        found = await self._rows(select(*_columns(EnrolmentFact)).where(EnrolmentFact.enrolment_id == enrolment_id))
        if not found:
            return None
        row = self.enrolments[enrolment_id] = found[0]
        return _enrolment(row)

    async def _check_taken_as_new(self) -> None:
        """No enrolment id taken as new may be stored already (see ``enrolment``)."""
        ids, self.taken_as_new = sorted(set(self.taken_as_new)), []
        stored: list[str] = []
        for chunk in range(0, len(ids), _CHUNK):
            stored += (await self.session.execute(select(EnrolmentFact.enrolment_id).where(
                EnrolmentFact.enrolment_id.in_(ids[chunk:chunk + _CHUNK])))).scalars().all()
        if stored:
            raise EnrolmentStoredElsewhere(f"enrolment ids already stored under another session: {sorted(stored)}; "
                                           "the records are applied one by one")

    # -------------------------------------------------------------- saving

    def save_course(self, terms: CourseTerms) -> None:
        stated_at, stated_by = _stated(terms.stamp)
        self.course_terms.pop(terms.course_id, None)  # read again from the row, as stored
        self.courses[terms.course_id] = self._put(CourseFact, self.courses.get(terms.course_id), dict(
            course_id=terms.course_id, code=terms.code, title=terms.title, topic=terms.topic, hours=terms.hours,
            minimum_attendance_share=terms.minimum_attendance_share, passing_score=terms.passing_score,
            competency=terms.competency, validity_months=terms.validity_months, stated_at=stated_at,
            stated_by=stated_by))

    def save_plan(self, plan: SessionPlan) -> None:
        rows = self.sessions[plan.session_id]
        values = dict(session_id=plan.session_id, course_id=plan.course_id, timezone=plan.timezone,
                      cancelled=plan.cancelled, closed=plan.closed,
                      starts_at=None if plan.starts_at is None else _utc(plan.starts_at),
                      ends_at=None if plan.ends_at is None else _utc(plan.ends_at))
        if plan.planned is not None:
            values.update(planned_at=_utc(plan.planned.at), planned_rank=plan.planned.rank,
                          planned_by=plan.planned.event_id)
        rows.plan = self._put(SessionFact, rows.plan, values)
        rows.plan_state = None  # read again from the row, as stored

    def save_enrolment(self, enrolment: Enrolment) -> None:
        """Saved where it is stored (a new one in the event's session)."""
        stored = self.enrolments.get(enrolment.enrolment_id)
        values = dict(institution_id=enrolment.institution_id, confirmed=enrolment.confirmed,
                      cancelled=enrolment.cancelled)
        if stored is None:
            values.update(enrolment_id=enrolment.enrolment_id, session_id=enrolment.session_id,
                          servant_id=enrolment.servant_id)
        row = self.enrolments[enrolment.enrolment_id] = self._put(EnrolmentFact, stored, values)
        home = self.sessions.get(row.session_id)
        if home is not None:
            home.enrolments.setdefault(row.servant_id, {})[row.enrolment_id] = row
            home.members.add(row.servant_id)

    def save_holder(self, servant_id: str, holder: Holder) -> None:
        rows = self.servant_rows[servant_id]
        stated_at, stated_by = _stated(holder.stamp)
        rows.holder = self._put(HolderFact, rows.holder, dict(
            servant_id=servant_id, holder_digest=holder.digest, stated_at=stated_at, stated_by=stated_by))

    def save_attendance(self, session_id: str, servant_id: str, attendance: Attendance) -> None:
        rows = self.sessions[session_id]
        stated_at, stated_by = _stated(attendance.stamp)
        rows.attendance[servant_id] = self._put(AttendanceFact, rows.attendance.get(servant_id), dict(
            session_id=session_id, servant_id=servant_id, share=attendance.share,
            minutes_present=attendance.minutes_present, session_minutes=attendance.session_minutes,
            status=attendance.status, stated_at=stated_at, stated_rank=attendance.stamp.rank, stated_by=stated_by))
        rows.members.add(servant_id)

    def save_grade(self, session_id: str, servant_id: str, grade: Grade) -> None:
        rows = self.sessions[session_id]
        stated_at, stated_by = _stated(grade.stamp)
        rows.grades[servant_id] = self._put(GradeFact, rows.grades.get(servant_id), dict(
            session_id=session_id, servant_id=servant_id, score=grade.score, stated_at=stated_at,
            stated_by=stated_by))
        rows.members.add(servant_id)

    def save_transfer(self, servant_id: str, transfer: Transfer) -> None:
        transfers = self.servant_rows[servant_id].transfers
        stated_at, stated_by = _stated(transfer.stamp)
        transfers[transfer.transfer_id] = self._put(TransferFact, transfers.get(transfer.transfer_id), dict(
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
            changed_at=_utc(changed_at))
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
        row = self.certificates[terms.certificate_id] = self._put(CertificateRecord, stored, values)
        self.sessions[change.session_id].keep_certificate(row)

    def restamp(self, restamp: Restamp) -> None:
        row = self._own(CertificateRecord, self.certificates[restamp.certificate_id])
        row.institution_id = restamp.institution_id
        self.certificates[row.certificate_id] = row
        self.sessions[restamp.session_id].keep_certificate(row)

    def save_attainment(self, attained: CompetencyAttained) -> None:
        """Keep an attainment; one attained again (its earlier one rested on a certificate since revoked)
        replaces the row kept for the competency."""
        kept = self.servant_rows[attained.servant_id].attained
        kept[attained.competency] = self._put(CompetencyAttainment, kept.get(attained.competency), dict(
            servant_id=attained.servant_id, competency=attained.competency, course_ids=json.dumps(attained.course_ids),
            certificate_ids=json.dumps(attained.certificate_ids), attained_on=attained.attained_on))

    # -------------------------------------------------------------- reads for the HTTP API

    async def certificate_named(self, certificate: str) -> CertificateRecord | None:
        """The certificate with this id, or this verification code (as a person types it)."""
        code = normalise_code(certificate)
        column = CertificateRecord.verification_code if code is not None else CertificateRecord.certificate_id
        return (await self.session.exec(select(CertificateRecord).where(column == (code or certificate)))).first()

    async def certificate_by_code(self, verification_code: str) -> CertificateRecord | None:
        return (await self.session.exec(select(CertificateRecord).where(
            CertificateRecord.verification_code == verification_code))).first()

    async def certificate_list(self, *, servant_id: str | None = None, session_id: str | None = None,
                               institution_id: str | None = None) -> list[CertificateRecord]:
        query = select(CertificateRecord)
        if servant_id:
            query = query.where(CertificateRecord.servant_id == servant_id)
        if session_id:
            query = query.where(CertificateRecord.session_id == session_id)
        if institution_id:
            query = query.where(CertificateRecord.institution_id == institution_id)
        return list((await self.session.exec(query.order_by(CertificateRecord.issued_on,
                                                             CertificateRecord.certificate_id))).all())

    async def competencies(self, servant_id: str) -> list[CompetencyAttainment]:
        return list((await self.session.exec(select(CompetencyAttainment).where(
            CompetencyAttainment.servant_id == servant_id).order_by(CompetencyAttainment.competency))).all())


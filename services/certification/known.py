"""What one consumer transaction knows: certification's facts, read once and kept in step with its writes.

The consumer applies all records of a poll (up to a few hundred) in one transaction. Judging a
completion needs the session, its course, the servant's enrolments, attendance, grade and latest
certificate; asking the database for each, for every fact, costs several round trips per record. So
before the handlers run, the sessions the batch's records name are loaded together (``preload``:
each one's plan and every servant's enrolments, attendance, grade and certificates) with a few
queries — a session reached otherwise is loaded when first asked for — and every handler then
reads and writes through this view. Rows created here are added
to it as they are created, so it always equals what the database would answer after a flush.

Rows are read as plain rows (no ORM objects: loading a session's rows is then mostly the round trip);
only a row about to change is copied into a mutable ``Pending`` row (``_own``), and rows created here are
``Pending`` rows too: no ORM object is built for them. Just before commit (a ``before_commit``
listener) the view writes them with Core statements, per table: changed rows with one executemany
UPDATE by primary key, then created rows with one multi-row INSERT in the order created (the order
the ORM's unit of work used: updates before inserts). Courses stay ORM objects (one per course).
The domain conversions read every kind of row by attribute.

Invariant that makes that true: in a certification transaction every row of these tables is read
and written through this view, and the view is built after the PostgreSQL advisory lock is taken,
so no other certification transaction writes underneath it. Nothing is flushed until commit (the
handlers run without autoflush): reads that do go to the database merge in what is still pending.
The view lives in ``session.info``, so it ends with its transaction: written and dropped before the
commit, dropped on rollback.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, bindparam, event, insert, text, update
from sqlalchemy.orm import Session
from sqlmodel import select

from services.certification.domain import Status
from services.certification.tables import (
    AttendanceFact,
    CertificateRecord,
    CompetencyAttainment,
    CourseFact,
    EnrolmentFact,
    GradeFact,
    SessionFact,
    TransferFact,
)

# Locks (PostgreSQL; SQLite serialises writers by itself). Facts of one completion arrive on different
# partitions and may be handled by different instances at once; judging each with a stale view of the
# other (write skew) could miss a completion. So a transaction holds, before it reads them:
# * each session it reads — whatever is known about a (servant, session) lives under its session;
# * each servant whose certificates it reads across sessions (competencies);
# * the course terms: shared by every transaction (every decision reads them), exclusively by one that
#   publishes a course (it re-judges every session of the course, and finds them by a query).
# Two instances busy with different sessions, servants and no course publication never wait for each
# other. Locks taken one after another can deadlock two transactions; PostgreSQL then aborts one,
# and the consumer retries its batch (a transient fault).


def _lock(kind: str, name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"probidad-certification:{kind}:{name}".encode()).digest()[:8], "big",
                          signed=True)


COURSE_TERMS_LOCK = _lock("course-terms", "all")

_INFO_KEY = "probidad.certification.known"


@event.listens_for(Session, "before_commit")
def _write_pending_rows(session: Session) -> None:
    # Runs inside the async session's greenlet, so the synchronous ``execute`` is fine here.
    known = session.info.pop(_INFO_KEY, None)
    if known is not None:
        known.write(session)


@event.listens_for(Session, "after_rollback")
def _forget_view(session: Session) -> None:
    session.info.pop(_INFO_KEY, None)


class Pending:
    """A row created or changed in this transaction, as plain attributes (written at commit)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


# The tables whose rows the view writes itself (courses are ORM objects), in the order written.
_WRITTEN = (SessionFact, EnrolmentFact, AttendanceFact, GradeFact, CertificateRecord, CompetencyAttainment)


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


class EnrolmentStoredElsewhere(Exception):
    """An enrolment id taken as new is stored under another session: the batch must be applied one by one."""


@dataclass
class SessionFacts:
    """Every row certification holds about one session, by servant."""

    session_id: str
    # Rows as read (or the ``Pending`` rows they became when changed), by servant.
    plan: Any = None
    enrolments: dict[str, dict[str, Any]] = field(default_factory=dict)  # servant -> enrolment id -> row
    attendance: dict[str, Any] = field(default_factory=dict)
    grades: dict[str, Any] = field(default_factory=dict)
    certificates: dict[str, Any] = field(default_factory=dict)  # servant -> latest (highest issue)
    # Every servant with a row above (kept by ``Known`` as rows are loaded and added), and the view's
    # set of servants in use to tell when this session is one of them.
    members: set[str] = field(default_factory=set)
    in_use: set[str] | None = None

    def servants(self) -> set[str]:
        return set(self.members)

    def member(self, servant_id: str) -> None:
        if servant_id not in self.members:
            self.members.add(servant_id)
            if self.in_use is not None:
                self.in_use.add(servant_id)

    def keep_certificate(self, row) -> None:  # noqa: ANN001
        latest = self.certificates.get(row.servant_id)
        if latest is None or row.issue >= latest.issue:
            self.certificates[row.servant_id] = row
        self.member(row.servant_id)


@dataclass
class ServantHoldings:
    """A servant's certificates (every session, every status) and the competencies already attained."""

    rows: dict[str, Any]  # the transaction's certificate rows by id (shared; see ``Known.certificates``)
    certificate_ids: set[str]
    attained: set[str]

    def valid(self) -> list:
        found = (self.rows[certificate_id] for certificate_id in sorted(self.certificate_ids))
        return [row for row in found if row.status == Status.valid.value]


@dataclass
class SessionHint:
    """Which sessions the last transaction was about: only a guess of what to load, never data."""

    sessions: list[str] = field(default_factory=list)


_MAX_GUESS = 1000

Stored = Any  # a row as read (sqlalchemy Row) or a ``Pending`` row of the same table: read by attribute


class Known:
    """The transaction's view of certification's tables (see the module docstring)."""

    def __init__(self, db, hint: "SessionHint") -> None:  # noqa: ANN001
        self.db = db
        self.hint = hint
        self.used: set[str] = set()  # sessions the handlers asked for (others may be loaded on a guess)
        self.courses: dict[str, CourseFact | None] = {}
        self.sessions: dict[str, SessionFacts] = {}
        self.enrolments: dict[str, Stored] = {}  # every enrolment row seen or created, by id
        self.certificates: dict[str, Stored] = {}  # every certificate row seen or created, by id
        self.holdings: dict[str, ServantHoldings] = {}
        self.transfers: dict[str, dict[str, TransferFact]] = {}  # servant -> transfer id -> row (ORM, as courses)
        self.records = 0  # records handled in this transaction so far
        self.taken_as_new: list[str] = []  # enrolment ids not looked up (see ``enrolment``)
        event.listen(db.sync_session, "before_flush", self._check_taken_as_new)
        self.created_certificates: dict[str, list[str]] = {}  # servant -> ids of rows added, not yet flushed
        self.in_use: set[str] = set()  # servants of the sessions in ``used`` (see ``servants_in_use``)
        # Rows to write at commit, by table: changed ones (UPDATE) and created ones (INSERT), by key.
        self.changed: dict[type, dict[tuple, Pending]] = {model: {} for model in _WRITTEN}
        self.created: dict[type, dict[tuple, Pending]] = {model: {} for model in _WRITTEN}
        self.locking = db.bind.dialect.name == "postgresql"  # take the locks above
        self.terms_held_exclusively = False

    @classmethod
    async def of(cls, db, hint: "SessionHint", *, course_terms_change: bool = False) -> "Known":  # noqa: ANN001
        """The transaction's view, called once per record handled; the first call takes the course-terms
        lock (PostgreSQL) before anything is read."""
        known = await cls.view(db, hint, course_terms_change=course_terms_change)
        known.records += 1
        return known

    @classmethod
    async def view(cls, db, hint: "SessionHint", *, course_terms_change: bool = False) -> "Known":  # noqa: ANN001
        """The transaction's view, without counting a record (see ``of``). ``course_terms_change``: the
        transaction publishes a course, so it holds the course terms exclusively (see the locks above)."""
        known = db.info.get(_INFO_KEY)
        if known is None:
            known = db.info[_INFO_KEY] = cls(db, hint)
            if known.locking and not course_terms_change:
                await db.execute(text("SELECT pg_advisory_xact_lock_shared(:key)"), {"key": COURSE_TERMS_LOCK})
        if course_terms_change and known.locking and not known.terms_held_exclusively:
            await db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": COURSE_TERMS_LOCK})
            known.terms_held_exclusively = True
        return known

    async def _hold(self, kind: str, names: Iterable[str]) -> None:
        """Take the locks of these sessions or servants, in one order (see the locks above)."""
        if self.locking:
            keys = sorted({_lock(kind, name) for name in names})
            if keys:
                await self.db.execute(text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k"),
                                      {"keys": keys})

    async def preload(self, session_ids: Iterable[str]) -> None:
        """Load these sessions now, together (the ones a batch's records are about): cheaper than the
        guess ``session`` makes from the previous transaction, which loads sessions no longer in use
        when records come session after session, as they do when sessions close."""
        await self._load_sessions(sorted({s for s in session_ids if s and s not in self.sessions}))

    def _own(self, model: type, stored: Stored) -> Pending:
        """A mutable copy of a row read as a plain row, written back with an UPDATE at commit."""
        if isinstance(stored, Pending):
            return stored
        row = Pending(stored._asdict())
        self.changed[model][tuple(getattr(row, name) for name in _KEYS[model])] = row
        return row

    def _new(self, model: type, values: dict[str, Any]) -> Pending:
        """A row created here (the model's defaults for what is not given), INSERTed at commit."""
        row = Pending({**_DEFAULTS[model], **values})
        self.created[model][tuple(getattr(row, name) for name in _KEYS[model])] = row
        return row

    def write(self, session) -> None:  # noqa: ANN001
        """Before commit: check the enrolment ids taken as new, then write every changed and created row."""
        self._check_taken_as_new(session, None, None)
        for model in _WRITTEN:
            keys, columns = _KEYS[model], _COLUMNS[model]
            changed, created = self.changed[model], self.created[model]
            if changed:
                values = [{**{f"key_{name}": getattr(row, name) for name in keys},
                           **{f"new_{name}": getattr(row, name) for name in columns if name not in keys}}
                          for row in changed.values()]
                for chunk in range(0, len(values), 500):
                    session.execute(_UPDATES[model], values[chunk:chunk + 500])
            if created:
                values = [{name: getattr(row, name) for name in columns} for row in created.values()]
                for chunk in range(0, len(values), 500):
                    session.execute(insert(model.__table__), values[chunk:chunk + 500])
            changed.clear()
            created.clear()

    async def _rows(self, statement) -> list:  # noqa: ANN001
        return list((await self.db.execute(statement)).all())

    # -------------------------------------------------------------- courses

    async def course(self, course_id: str) -> CourseFact | None:
        if course_id not in self.courses:
            self.courses[course_id] = await self.db.get(CourseFact, course_id)
        return self.courses[course_id]

    def add_course(self, row: CourseFact) -> None:
        self.db.add(row)
        self.courses[row.course_id] = row

    # -------------------------------------------------------------- sessions

    async def session(self, session_id: str) -> SessionFacts:
        facts = self.sessions.get(session_id)
        if facts is None:
            # A poll's records are mostly about the sessions the previous poll's were about: the first
            # session asked for in a transaction is loaded with those (a guess; what is read is current).
            # (Not with locks: a guessed session could be another instance's, and waiting for it is waste.)
            guess = self.hint.sessions if not self.sessions and not self.locking else ()
            await self._load_sessions([session_id, *(s for s in guess if s != session_id and s not in self.sessions)])
            facts = self.sessions[session_id]
        if session_id not in self.used:
            self.used.add(session_id)
            self.in_use.update(facts.members)
            facts.in_use = self.in_use
            self.hint.sessions = sorted(self.used)[:_MAX_GUESS]
        return facts

    async def _load_sessions(self, session_ids: list[str]) -> None:
        for chunk in range(0, len(session_ids), 500):
            await self._load_session_chunk(session_ids[chunk:chunk + 500])

    async def _load_session_chunk(self, session_ids: list[str]) -> None:
        await self._hold("session", session_ids)
        loaded = {session_id: SessionFacts(session_id) for session_id in session_ids}
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

    def own_plan(self, facts: SessionFacts) -> Pending:
        """The session's row, to change (created if not stored)."""
        if facts.plan is None:
            facts.plan = self._new(SessionFact, {"session_id": facts.session_id})
        else:
            facts.plan = self._own(SessionFact, facts.plan)
        return facts.plan

    async def sessions_of_course(self, course_id: str) -> list[str]:
        """Sessions scheduled for the course, as a flushed database would answer, in id order."""
        stored = (await self.db.exec(select(SessionFact.session_id).where(SessionFact.course_id == course_id))).all()
        found = {session_id for session_id in stored if session_id not in self.sessions}
        found.update(session_id for session_id, facts in self.sessions.items()
                     if facts.plan is not None and facts.plan.course_id == course_id)
        return sorted(found)

    # -------------------------------------------------------------- enrolments

    async def enrolment(self, enrolment_id: str) -> Stored | None:
        """The enrolment row with this id, wherever it is stored (an id is not trusted to name its session).

        An enrolment belongs to one session, so its row, if stored, is among the session's rows loaded
        here. Asking the database about every new id would cost a round trip per enrolment, so after
        the transaction's first record an id not found is taken as new, and all ids taken as new are
        checked in one query just before the flush. Should one be stored under another session after
        all (a producer reusing an id), the transaction fails before writing anything and the consumer
        applies its records one by one, each in its own transaction, where the first (only) record's
        ids are looked up directly: the same outcome as looking every id up.
        """
        if enrolment_id in self.enrolments:
            return self.enrolments[enrolment_id]
        if self.records > 1:
            return None  # checked before the flush (``own_enrolment``, ``_check_taken_as_new``)
        found = await self._rows(select(*_columns(EnrolmentFact)).where(EnrolmentFact.enrolment_id == enrolment_id))
        if not found:
            return None
        row = self.enrolments[enrolment_id] = found[0]
        return row

    def own_enrolment(self, facts: SessionFacts, stored: Stored | None, *, enrolment_id: str,
                      servant_id: str) -> Pending:
        """The enrolment's row, to change (created in the event's session if not stored)."""
        if stored is None:
            row = self._new(EnrolmentFact, {"enrolment_id": enrolment_id, "session_id": facts.session_id,
                                            "servant_id": servant_id})
            if self.records > 1:
                self.taken_as_new.append(enrolment_id)
        else:
            row = self._own(EnrolmentFact, stored)
        self.enrolments[row.enrolment_id] = row
        home = self.sessions.get(row.session_id)
        if home is not None:
            home.enrolments.setdefault(row.servant_id, {})[row.enrolment_id] = row
            home.member(row.servant_id)
        return row

    def _check_taken_as_new(self, session, _context, _instances) -> None:  # noqa: ANN001
        """Before the flush: no enrolment id taken as new may be stored already (see ``enrolment``)."""
        ids, self.taken_as_new = self.taken_as_new, []
        stored: list[str] = []
        for chunk in range(0, len(ids), 500):
            stored += session.execute(select(EnrolmentFact.enrolment_id).where(
                EnrolmentFact.enrolment_id.in_(ids[chunk:chunk + 500]))).scalars().all()
        if stored:
            raise EnrolmentStoredElsewhere(f"enrolment ids already stored under another session: {sorted(stored)}; "
                                           "the records are applied one by one")

    # -------------------------------------------------------------- attendance and grades

    def own_attendance(self, facts: SessionFacts, servant_id: str, new) -> Pending:  # noqa: ANN001
        """The servant's attendance row in the session, to change (``new()`` gives its values if not stored)."""
        stored = facts.attendance.get(servant_id)
        row = self._new(AttendanceFact, new()) if stored is None else self._own(AttendanceFact, stored)
        facts.attendance[servant_id] = row
        facts.member(servant_id)
        return row

    def own_grade(self, facts: SessionFacts, servant_id: str, new) -> Pending:  # noqa: ANN001
        stored = facts.grades.get(servant_id)
        row = self._new(GradeFact, new()) if stored is None else self._own(GradeFact, stored)
        facts.grades[servant_id] = row
        facts.member(servant_id)
        return row

    # -------------------------------------------------------------- certificates and competencies

    def own_certificate(self, facts: SessionFacts, stored: Stored) -> Pending:
        row = self._own(CertificateRecord, stored)
        self.certificates[row.certificate_id] = row
        facts.keep_certificate(row)
        return row

    def add_certificate(self, facts: SessionFacts, values: dict[str, Any]) -> Pending:
        row = self._new(CertificateRecord, values)
        self.certificates[row.certificate_id] = row
        facts.keep_certificate(row)
        self.created_certificates.setdefault(row.servant_id, []).append(row.certificate_id)
        holdings = self.holdings.get(row.servant_id)
        if holdings is not None:
            holdings.certificate_ids.add(row.certificate_id)
        return row

    def servants_in_use(self) -> set[str]:
        """Servants of the sessions this transaction is about: whose holdings are loaded together."""
        return set(self.in_use)

    async def servant_holdings(self, servant_id: str, neighbours: Iterable[str] | None = None) -> ServantHoldings:
        """The servant's certificates and attained competencies; loaded together with those of
        ``neighbours`` (by default the servants in use) not loaded yet, as they are likely asked next."""
        holdings = self.holdings.get(servant_id)
        if holdings is None:
            if neighbours is None:
                neighbours = self.in_use
            wanted = [servant_id, *sorted({n for n in neighbours if n not in self.holdings and n != servant_id})]
            for chunk in range(0, len(wanted), 500):
                await self._load_holdings(wanted[chunk:chunk + 500])
            holdings = self.holdings[servant_id]
        return holdings

    async def _load_holdings(self, servants: list[str]) -> None:
        await self._hold("servant", servants)
        loaded = {servant_id: ServantHoldings(self.certificates, set(), set()) for servant_id in servants}
        for row in await self._rows(select(*_columns(CertificateRecord)).where(
                CertificateRecord.servant_id.in_(servants))):
            self.certificates.setdefault(row.certificate_id, row)  # a row changed here stays as changed
            loaded[row.servant_id].certificate_ids.add(row.certificate_id)
        for servant_id, competency in await self._rows(select(
                CompetencyAttainment.servant_id, CompetencyAttainment.competency).where(
                CompetencyAttainment.servant_id.in_(servants))):
            loaded[servant_id].attained.add(competency)
        for servant_id, holdings in loaded.items():
            holdings.certificate_ids.update(self.created_certificates.get(servant_id, ()))
        self.holdings.update(loaded)

    async def servant_transfers(self, servant_id: str) -> dict[str, TransferFact]:
        """The servant's transfers, by transfer id; loaded together with those of the servants in use not
        loaded yet (as ``servant_holdings``), under the same servant locks: a transaction stamping a
        certificate and one recording a transfer of its servant then never decide on each other's stale view."""
        if servant_id not in self.transfers:
            wanted = [servant_id, *sorted({n for n in self.in_use if n not in self.transfers and n != servant_id})]
            for chunk in range(0, len(wanted), 500):
                servants = wanted[chunk:chunk + 500]
                await self._hold("servant", servants)
                loaded: dict[str, dict[str, TransferFact]] = {s: {} for s in servants}
                found = await self.db.exec(select(TransferFact).where(TransferFact.servant_id.in_(servants)))
                for row in found.all():
                    loaded[row.servant_id][row.transfer_id] = row
                self.transfers.update(loaded)
        return self.transfers[servant_id]

    def add_transfer(self, row: TransferFact) -> None:
        self.db.add(row)
        self.transfers[row.servant_id][row.transfer_id] = row

    async def sessions_certified(self, servant_id: str) -> list[str]:
        """Sessions in which the servant holds a certificate (any status), as a flushed database would answer."""
        stored = set((await self.db.exec(select(CertificateRecord.session_id).where(
            CertificateRecord.servant_id == servant_id))).all())
        stored.update(row.session_id for row in self.certificates.values() if row.servant_id == servant_id)
        return sorted(stored)

    def add_attainment(self, holdings: ServantHoldings, values: dict[str, Any]) -> None:
        row = self._new(CompetencyAttainment, values)
        holdings.attained.add(row.competency)


def _columns(model: type) -> list:
    return list(model.__table__.columns)

"""Certification's persistence: the only module with SQL, and the mapping between rows and the domain.

The consumer applies all records of a poll (up to a few hundred) in one unit of work. Judging a
completion needs the session, its course, the servant's enrolments, attendance, grade and latest
certificate, and the servant's transfers, certificates and competencies; asking the database for
each, for every fact, costs several round trips per record. So one repository serves the whole unit
of work (``SqlCertificationRepository.of``: ``uow.part``), and before the handlers run the sessions and
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
from datetime import datetime
from typing import Any

from sqlalchemy import Select, text
from sqlmodel import SQLModel, select

from probidad.shared.unit_of_work import UnitOfWork
from services.certification.domain.certificates import (
    Status,
)
from services.certification.domain.codes import normalise_code
from services.certification.domain.competencies import CertificateHolding
from services.certification.domain.decisions import (
    CertificateFacts, Completion, CompletionContext, CourseFacts, FactDecision, ServantFacts, ServantState,
    SessionFacts, SessionState,
)
from services.certification.signing import CertificateSigner
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
from services.certification.saving_repository import RowSaving
from services.certification.rows import (
    ServantRows, SessionRows, Stored, attendance_of, certificate_terms, course_of, enrolment_of, grade_of, holder_of,
    plan_of, standing_of, transfer_of,
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


def _known(name: str | None) -> str:
    assert name is not None, "a fact kept per servant names its servant (and session)"
    return name


def _columns(model: type[SQLModel]) -> list[Any]:
    return list(model.__table__.columns)


class EnrolmentStoredElsewhere(Exception):
    """An enrolment id taken as new is stored under another session: the batch must be applied one by one."""


class SqlCertificationRepository(RowSaving):
    """Certification's tables for one unit of work (see the module docstring)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.session = uow.session
        self.locking = self.session.bind.dialect.name == "postgresql"  # take the locks above
        self.terms_held: str | None = None  # "shared" or "exclusive", once taken
        self.records = 0  # records handled in this unit of work so far
        self.courses: dict[str, Stored | None] = {}
        self.course_terms: dict[str, CourseTerms | None] = {}  # ``courses`` as the domain reads them
        self.sessions: dict[str, SessionRows] = {}
        self.servant_rows: dict[str, ServantRows] = {}
        self.enrolments: dict[str, Stored] = {}  # every enrolment row seen or created, by id
        self.certificates: dict[str, Stored] = {}  # every certificate row seen or created, by id
        self.created_certificates: dict[str, list[str]] = {}  # servant -> ids created here (not stored yet)
        self.taken_as_new: list[str] = []  # enrolment ids not looked up (see ``enrolment``)
        self.batch = RowBatch()  # the rows to write when the unit of work completes
        uow.before_commit(SqlCertificationRepository, self._write)

    @classmethod
    async def of(cls, uow: UnitOfWork, *, course_terms_change: bool = False,
                 record: bool = True) -> "SqlCertificationRepository":
        """The unit of work's repository, for one more record handled (``record``); the first call takes
        the course-terms lock (PostgreSQL) before anything is read. ``course_terms_change``: the unit
        of work publishes a course, so it holds the course terms exclusively (see the locks above)."""
        repository: SqlCertificationRepository = uow.part(cls, lambda: cls(uow))
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

    async def _rows(self, statement: Select[Any]) -> list[Any]:
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

    async def _session_rows(self, session_id: str) -> SessionRows:
        if session_id not in self.sessions:
            await self._load_sessions([session_id])
        return self.sessions[session_id]

    async def _load_sessions(self, session_ids: Iterable[str]) -> None:
        wanted = sorted({s for s in session_ids if s and s not in self.sessions})
        for chunk in range(0, len(wanted), CHUNK):
            await self._load_session_chunk(wanted[chunk:chunk + CHUNK])

    async def _load_session_chunk(self, session_ids: list[str]) -> None:
        await self._hold("session", session_ids)
        loaded = {session_id: SessionRows(session_id) for session_id in session_ids}
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
        loaded = {servant_id: ServantRows() for servant_id in servants}
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
    def _plan_of(rows: SessionRows) -> SessionPlan | None:
        if rows.plan_state is None and rows.plan is not None:
            rows.plan_state = plan_of(rows.plan)
        return rows.plan_state

    def _completion(self, rows: SessionRows, plan: SessionPlan | None, course: CourseTerms | None,
                          servant_id: str) -> Completion:
        enrolments = rows.enrolments.get(servant_id, {}).values()
        facts = CompletionFacts(
            servant_id=servant_id, session_id=rows.session_id, course=course, session=plan,
            enrolments=tuple(sorted((enrolment_of(row) for row in enrolments), key=lambda e: e.enrolment_id)),
            attendance=attendance_of(rows.attendance.get(servant_id)), grade=grade_of(rows.grades.get(servant_id)),
        )
        return Completion(facts, standing_of(rows.certificates.get(servant_id)))

    async def _plan_and_course(self, rows: SessionRows) -> tuple[SessionPlan | None, CourseTerms | None]:
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
        stored = (await self.session.exec(select(SessionFact.session_id).where(
            SessionFact.course_id == course_id))).all()
        found = {session_id for session_id in stored if session_id not in self.sessions}
        found.update(session_id for session_id, rows in self.sessions.items()
                     if rows.plan is not None and rows.plan.course_id == course_id)
        await self._load_sessions(found)
        return [await self.session_state(session_id) for session_id in sorted(found)]

    async def certified_completions(self, servant_id: str) -> list[Completion]:
        """The servant's completions with a certificate (any status), in session order: the sessions of the
        certificates the servant's rows list (loaded under the servant's lock, and kept in step since)."""
        rows = (await self._servant_rows([servant_id]))[servant_id]
        session_ids = {self.certificates[certificate_id].session_id for certificate_id in rows.certificate_ids}
        await self._load_sessions(session_ids)
        return [await self.completion(session_id, servant_id) for session_id in sorted(session_ids)]

    async def _servant_rows(self, servant_ids: list[str]) -> dict[str, ServantRows]:
        if any(servant_id not in self.servant_rows for servant_id in servant_ids):
            await self._load_servants(servant_ids)
        return {servant_id: self.servant_rows[servant_id] for servant_id in servant_ids}

    async def servants(self, servant_ids: Iterable[str]) -> dict[str, ServantState]:
        """These servants' transfers, valid certificates and competencies, under their locks (loaded together,
        those not loaded yet). A transaction stamping a certificate and one recording a transfer of its
        servant both hold the servant's lock, so neither decides on the other's stale view."""
        servant_ids = list(servant_ids)
        await self._servant_rows(servant_ids)
        return {servant_id: self._servant_state(servant_id) for servant_id in servant_ids}

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

    # -------------------------------------------------------------- what one decision reads (``ports``)

    async def course_facts(self, course_id: str) -> CourseFacts:
        current = await self.course(course_id)
        sessions = await self.sessions_of_course(course_id)
        servants = await self.servants(sorted({v for state in sessions for v in state.servant_ids}))
        return CourseFacts(current, sessions, servants)

    async def session_facts(self, session_id: str, course_id: str | None = None) -> SessionFacts:
        state = await self.session_state(session_id)
        course = state.course if course_id is None else await self.course(course_id)
        return SessionFacts(state, course, await self.servants(state.servant_ids))

    async def completion_context(self, session_id: str, servant_id: str,
                                 enrolment_id: str | None = None) -> CompletionContext:
        completion = await self.completion(session_id, servant_id)
        enrolment = await self.enrolment(enrolment_id) if enrolment_id is not None else None
        servant = (await self.servants([servant_id]))[servant_id]
        return CompletionContext(completion, servant, enrolment)

    async def servant_facts(self, servant_id: str) -> ServantFacts:
        # The servant's lock before the sessions': a transaction about to stamp one of the servant's
        # certificates waits for this one, or is seen by it.
        servant = (await self.servants([servant_id]))[servant_id]
        return ServantFacts(servant, await self.certified_completions(servant_id))

    async def certificate_facts(self, certificate: str) -> CertificateFacts | None:
        found = await self.certificate_named(certificate)
        if found is None:
            return None
        # The servant's lock before the session's, as for a transfer.
        servant = (await self.servants([found.servant_id]))[found.servant_id]
        completion = await self.completion(found.session_id, found.servant_id)
        return CertificateFacts(certificate_terms(found), servant, completion)

    # -------------------------------------------------------------- saving

    def save(self, decision: FactDecision[Any], signer: CertificateSigner, changed_at: datetime) -> None:
        """Keep the fact decided (by its kind) and its consequences: each certificate signed once, here."""
        fact = decision.fact
        if isinstance(fact, CourseTerms):
            self.save_course(fact)
        elif isinstance(fact, SessionPlan):
            self.save_plan(fact)
        elif isinstance(fact, Enrolment):
            self.save_enrolment(fact)
        elif isinstance(fact, Attendance):
            self.save_attendance(_known(decision.session_id), _known(decision.servant_id), fact)
        elif isinstance(fact, Grade):
            self.save_grade(_known(decision.session_id), _known(decision.servant_id), fact)
        elif isinstance(fact, Transfer):
            self.save_transfer(_known(decision.servant_id), fact)
        elif isinstance(fact, Holder):
            self.save_holder(_known(decision.servant_id), fact)
        for change in decision.consequences.certificates:
            self.save_certificate(change, signature=signer.sign_claims(change.certificate.terms.claims()),
                                  key_id=signer.public.key_id, changed_at=changed_at)
        for restamp in decision.consequences.restamps:
            self.restamp(restamp)
        for attained in decision.consequences.attainments:
            self.save_attainment(attained)


    async def certificate_named(self, certificate: str) -> CertificateRecord | None:
        """The certificate with this id, or this verification code (as a person types it)."""
        code = normalise_code(certificate)
        column = CertificateRecord.verification_code if code is not None else CertificateRecord.certificate_id
        return (await self.session.exec(select(CertificateRecord).where(column == (code or certificate)))).first()

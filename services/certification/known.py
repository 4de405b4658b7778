"""What one consumer transaction knows: certification's facts, read once and kept in step with its writes.

The consumer applies all records of a poll (up to a few hundred) in one transaction. Judging a
completion needs the session, its course, the servant's enrolments, attendance, grade and latest
certificate; asking the database for each, for every fact, costs several round trips per record. So
the first fact of a transaction that touches a session loads everything certification holds about
that session (its plan and every servant's enrolments, attendance, grade and certificates) with a
few queries, and every handler then reads and writes through this view. Rows created here are added
to it as they are created, so it always equals what the database would answer after a flush.

Invariant that makes that true: in a certification transaction every row of these tables is read
and written through this view, and the view is built after the PostgreSQL advisory lock is taken,
so no other certification transaction writes underneath it. Nothing is flushed until commit (the
handlers run without autoflush): reads that do go to the database merge in what is still pending.
The view lives in ``session.info``, so it ends with its transaction (commit or rollback).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import event, text
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
)

# Facts of one completion arrive on different partitions and may be handled by different instances
# at once; judging each with a stale view of the other (write skew) could miss a completion. On
# PostgreSQL every certification transaction therefore takes this lock first (SQLite serialises
# writers by itself). Certification's volume — a few events per servant and session — makes that cheap.
DECISION_LOCK = int.from_bytes(hashlib.sha256(b"probidad-certification-decisions").digest()[:8], "big", signed=True)

_INFO_KEY = "probidad.certification.known"

# Enrolment ids found stored under another session than the event naming them says (see
# ``Known.enrolment``); this process looks them up one by one from then on.
_ENROLMENTS_ELSEWHERE: set[str] = set()


class EnrolmentStoredElsewhere(Exception):
    """An enrolment id taken as new is already stored (under another session); the transaction must be replayed."""


@dataclass
class SessionFacts:
    """Every row certification holds about one session, by servant."""

    session_id: str
    plan: SessionFact | None = None
    enrolments: dict[str, dict[str, EnrolmentFact]] = field(default_factory=dict)  # servant -> enrolment id -> row
    attendance: dict[str, AttendanceFact] = field(default_factory=dict)
    grades: dict[str, GradeFact] = field(default_factory=dict)
    certificates: dict[str, CertificateRecord] = field(default_factory=dict)  # servant -> latest (highest issue)

    def servants(self) -> set[str]:
        return {*self.enrolments, *self.attendance, *self.grades, *self.certificates}

    def keep_certificate(self, row: CertificateRecord) -> None:
        latest = self.certificates.get(row.servant_id)
        if latest is None or row.issue >= latest.issue:
            self.certificates[row.servant_id] = row


@dataclass
class ServantHoldings:
    """A servant's certificates (every session, every status) and the competencies already attained."""

    certificates: dict[str, CertificateRecord]
    attained: set[str]

    def valid(self) -> list[CertificateRecord]:
        return [row for row in self.certificates.values() if row.status == Status.valid.value]


class Known:
    """The transaction's view of certification's tables (see the module docstring)."""

    def __init__(self, db) -> None:  # noqa: ANN001
        self.db = db
        self.courses: dict[str, CourseFact | None] = {}
        self.sessions: dict[str, SessionFacts] = {}
        self.enrolments: dict[str, EnrolmentFact] = {}  # every enrolment row seen or created, by id
        self.holdings: dict[str, ServantHoldings] = {}
        self.created_certificates: dict[str, list[CertificateRecord]] = {}  # servant -> rows added, not yet flushed
        self.assumed_new_enrolments: list[str] = []
        event.listen(db.sync_session, "before_flush", self._check_assumed_new)

    @classmethod
    async def of(cls, db) -> "Known":  # noqa: ANN001
        """The transaction's view; the first call takes the decision lock (PostgreSQL) before anything is read."""
        known = db.info.get(_INFO_KEY)
        if known is None:
            if db.bind.dialect.name == "postgresql":
                await db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": DECISION_LOCK})
            known = db.info[_INFO_KEY] = cls(db)
        return known

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
            facts = self.sessions[session_id] = await self._load_session(session_id)
        return facts

    async def _load_session(self, session_id: str) -> SessionFacts:
        db = self.db
        facts = SessionFacts(session_id, plan=await db.get(SessionFact, session_id))
        for row in (await db.exec(select(EnrolmentFact).where(EnrolmentFact.session_id == session_id))).all():
            facts.enrolments.setdefault(row.servant_id, {})[row.enrolment_id] = row
            self.enrolments[row.enrolment_id] = row
        for row in (await db.exec(select(AttendanceFact).where(AttendanceFact.session_id == session_id))).all():
            facts.attendance[row.servant_id] = row
        for row in (await db.exec(select(GradeFact).where(GradeFact.session_id == session_id))).all():
            facts.grades[row.servant_id] = row
        for row in (await db.exec(select(CertificateRecord).where(CertificateRecord.session_id == session_id))).all():
            facts.keep_certificate(row)
        return facts

    def add_session(self, facts: SessionFacts, row: SessionFact) -> None:
        self.db.add(row)
        facts.plan = row

    async def sessions_of_course(self, course_id: str) -> list[str]:
        """Sessions scheduled for the course, as a flushed database would answer, in id order."""
        stored = (await self.db.exec(select(SessionFact.session_id).where(SessionFact.course_id == course_id))).all()
        found = {session_id for session_id in stored if session_id not in self.sessions}
        found.update(session_id for session_id, facts in self.sessions.items()
                     if facts.plan is not None and facts.plan.course_id == course_id)
        return sorted(found)

    # -------------------------------------------------------------- enrolments

    async def enrolment(self, enrolment_id: str) -> EnrolmentFact | None:
        """The enrolment row with this id, wherever it is stored.

        An enrolment belongs to one session, so its row, if stored, is among the session's rows loaded
        here. Asking the database about every new id would cost a round trip per enrolment, so an id
        not found is taken as new, and all ids taken as new are checked in one query just before the
        transaction flushes. Should one be stored under another session after all (a producer reusing
        an id), the transaction fails before writing anything, the consumer replays its records one by
        one, and that id is then looked up directly — the same outcome as looking it up every time.
        """
        row = self.enrolments.get(enrolment_id)
        if row is None and enrolment_id in _ENROLMENTS_ELSEWHERE:
            row = await self.db.get(EnrolmentFact, enrolment_id)
            if row is not None:
                self.enrolments[enrolment_id] = row
        return row

    def add_enrolment(self, facts: SessionFacts, row: EnrolmentFact) -> None:
        self.db.add(row)
        self.enrolments[row.enrolment_id] = row
        facts.enrolments.setdefault(row.servant_id, {})[row.enrolment_id] = row
        if row.enrolment_id not in _ENROLMENTS_ELSEWHERE:
            self.assumed_new_enrolments.append(row.enrolment_id)

    def _check_assumed_new(self, session, _context, _instances) -> None:  # noqa: ANN001
        """Before the flush: no enrolment taken as new may be stored already (see ``enrolment``)."""
        ids, self.assumed_new_enrolments = self.assumed_new_enrolments, []
        stored: list[str] = []
        for chunk in range(0, len(ids), 500):
            stored += session.execute(select(EnrolmentFact.enrolment_id).where(
                EnrolmentFact.enrolment_id.in_(ids[chunk:chunk + 500]))).scalars().all()
        if stored:
            _ENROLMENTS_ELSEWHERE.update(stored)
            raise EnrolmentStoredElsewhere(f"enrolments already stored under another session: {sorted(stored)}")

    # -------------------------------------------------------------- attendance and grades

    def add_attendance(self, facts: SessionFacts, row: AttendanceFact) -> None:
        self.db.add(row)
        facts.attendance[row.servant_id] = row

    def add_grade(self, facts: SessionFacts, row: GradeFact) -> None:
        self.db.add(row)
        facts.grades[row.servant_id] = row

    # -------------------------------------------------------------- certificates and competencies

    def add_certificate(self, facts: SessionFacts, row: CertificateRecord) -> None:
        self.db.add(row)
        facts.keep_certificate(row)
        self.created_certificates.setdefault(row.servant_id, []).append(row)
        holdings = self.holdings.get(row.servant_id)
        if holdings is not None:
            holdings.certificates[row.certificate_id] = row

    async def servant_holdings(self, servant_id: str, neighbours: Iterable[str] = ()) -> ServantHoldings:
        """The servant's certificates and attained competencies; loaded together with those of
        ``neighbours`` (the other servants of the session) not loaded yet, as they are likely asked next."""
        holdings = self.holdings.get(servant_id)
        if holdings is None:
            wanted = [servant_id, *sorted({n for n in neighbours if n not in self.holdings and n != servant_id})]
            for chunk in range(0, len(wanted), 500):
                await self._load_holdings(wanted[chunk:chunk + 500])
            holdings = self.holdings[servant_id]
        return holdings

    async def _load_holdings(self, servants: list[str]) -> None:
        db = self.db
        loaded = {servant_id: ServantHoldings({}, set()) for servant_id in servants}
        # Stored rows come back as the objects already in this session, with their changes.
        for row in (await db.exec(select(CertificateRecord).where(CertificateRecord.servant_id.in_(servants)))).all():
            loaded[row.servant_id].certificates[row.certificate_id] = row
        for servant_id, competency in (await db.exec(select(
                CompetencyAttainment.servant_id, CompetencyAttainment.competency).where(
                CompetencyAttainment.servant_id.in_(servants)))).all():
            loaded[servant_id].attained.add(competency)
        for servant_id, holdings in loaded.items():
            for row in self.created_certificates.get(servant_id, ()):
                holdings.certificates[row.certificate_id] = row
        self.holdings.update(loaded)

    def add_attainment(self, holdings: ServantHoldings, row: CompetencyAttainment) -> None:
        self.db.add(row)
        holdings.attained.add(row.competency)

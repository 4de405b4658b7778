"""An in-memory ``CertificationRepository`` (services.certification.ports) and unit of work for handler tests:
what the handlers ask of storage, kept as domain objects in dicts."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from contracts.base import Event
from services.certification.domain.certificates import StandingCertificate, Status
from services.certification.domain.competencies import CertificateHolding
from services.certification.domain.decisions import (
    CertificateFacts,
    Completion,
    CompletionContext,
    CourseFacts,
    FactDecision,
    ServantFacts,
    ServantState,
    SessionFacts,
    SessionState,
)
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
from services.certification.ports import CertificationRepository
from services.certification.signing import CertificateSigner


class FakeCertificationRepository:
    """Every fact and certificate kept in dicts, answered as the SQL repository answers."""

    def __init__(self) -> None:
        self.courses: dict[str, CourseTerms] = {}
        self.plans: dict[str, SessionPlan] = {}
        self.enrolments: dict[str, Enrolment] = {}
        self.attendance: dict[tuple[str, str], Attendance] = {}
        self.grades: dict[tuple[str, str], Grade] = {}
        self.certificates: dict[tuple[str, str], StandingCertificate] = {}  # (session, servant) -> latest
        self.signatures: dict[str, str] = {}  # certificate id -> signature
        self.transfers: dict[str, dict[str, Transfer]] = {}
        self.holders: dict[str, Holder] = {}
        self.attained: dict[str, dict[str, frozenset[str]]] = {}  # servant -> competency -> certificate ids
        self.records = 0

    async def hold_course_terms(self, *, exclusive: bool) -> None:
        """The SQL repository's lock: nothing to hold in memory."""

    # ---------------------------------------------------------------- loads

    def _completion(self, session_id: str, servant_id: str) -> Completion:
        plan = self.plans.get(session_id)
        course = self.courses.get(plan.course_id) if plan is not None and plan.course_id else None
        enrolments = tuple(sorted((e for e in self.enrolments.values()
                                   if (e.session_id, e.servant_id) == (session_id, servant_id)),
                                  key=lambda e: e.enrolment_id))
        key = (session_id, servant_id)
        facts = CompletionFacts(servant_id, session_id, course, plan, enrolments, self.attendance.get(key),
                                self.grades.get(key))
        return Completion(facts, self.certificates.get((session_id, servant_id)))

    def _session_state(self, session_id: str) -> SessionState:
        servants = sorted({e.servant_id for e in self.enrolments.values() if e.session_id == session_id}
                          | {v for s, v in [*self.attendance, *self.grades, *self.certificates] if s == session_id})
        plan = self.plans.get(session_id)
        course = self.courses.get(plan.course_id) if plan is not None and plan.course_id else None
        return SessionState(session_id, plan, course, tuple(self._completion(session_id, v) for v in servants))

    def _servant(self, servant_id: str) -> ServantState:
        valid = tuple(sorted((CertificateHolding(t.certificate_id, t.course_id, t.course_code, t.course_topic,
                                                 t.issued_on)
                              for (_s, v), c in self.certificates.items() if v == servant_id
                              for t in [c.held.terms] if c.held.status is Status.valid),
                             key=lambda h: h.certificate_id))
        return ServantState(servant_id, tuple(self.transfers.get(servant_id, {}).values()), valid,
                            dict(self.attained.get(servant_id, {})), self.holders.get(servant_id))

    def _servants(self, servant_ids: Iterable[str]) -> dict[str, ServantState]:
        return {servant_id: self._servant(servant_id) for servant_id in servant_ids}

    async def course_facts(self, course_id: str) -> CourseFacts:
        sessions = [self._session_state(s) for s, plan in sorted(self.plans.items()) if plan.course_id == course_id]
        servants = sorted({v for state in sessions for v in state.servant_ids})
        return CourseFacts(self.courses.get(course_id), sessions, self._servants(servants))

    async def session_facts(self, session_id: str, course_id: str | None = None) -> SessionFacts:
        state = self._session_state(session_id)
        course = state.course if course_id is None else self.courses.get(course_id)
        return SessionFacts(state, course, self._servants(state.servant_ids))

    async def plan(self, session_id: str) -> SessionPlan | None:
        return self.plans.get(session_id)

    async def completion_context(self, session_id: str, servant_id: str,
                                 enrolment_id: str | None = None) -> CompletionContext:
        enrolment = self.enrolments.get(enrolment_id) if enrolment_id is not None else None
        return CompletionContext(self._completion(session_id, servant_id), self._servant(servant_id), enrolment)

    async def servant_facts(self, servant_id: str) -> ServantFacts:
        certified = [self._completion(s, v) for s, v in sorted(self.certificates) if v == servant_id]
        return ServantFacts(self._servant(servant_id), certified)

    async def certificate_facts(self, certificate: str) -> CertificateFacts | None:
        for (session_id, servant_id), standing in self.certificates.items():
            terms = standing.held.terms
            if certificate in (terms.certificate_id, terms.verification_code):
                return CertificateFacts(terms, self._servant(servant_id), self._completion(session_id, servant_id))
        return None

    # ---------------------------------------------------------------- saves

    def save(self, decision: FactDecision[Any], signer: CertificateSigner, changed_at: datetime) -> None:
        fact, session_id, servant_id = decision.fact, decision.session_id or "", decision.servant_id or ""
        if isinstance(fact, CourseTerms):
            self.courses[fact.course_id] = fact
        elif isinstance(fact, SessionPlan):
            self.plans[fact.session_id] = fact
        elif isinstance(fact, Enrolment):
            self.enrolments[fact.enrolment_id] = fact
        elif isinstance(fact, Attendance):
            self.attendance[(session_id, servant_id)] = fact
        elif isinstance(fact, Grade):
            self.grades[(session_id, servant_id)] = fact
        elif isinstance(fact, Transfer):
            self.transfers.setdefault(servant_id, {})[fact.transfer_id] = fact
        elif isinstance(fact, Holder):
            self.holders[servant_id] = fact
        for change in decision.consequences.certificates:
            key = (change.session_id, change.servant_id)
            self.certificates[key] = StandingCertificate(change.certificate, change.institution_id)
            self.signatures[change.certificate.terms.certificate_id] = signer.sign_claims(
                change.certificate.terms.claims())
        for restamp in decision.consequences.restamps:
            key = (restamp.session_id, restamp.servant_id)
            self.certificates[key] = replace(self.certificates[key], institution_id=restamp.institution_id)
        for attained in decision.consequences.attainments:
            self.attained.setdefault(attained.servant_id, {})[attained.competency] = frozenset(
                attained.certificate_ids)


class FakeUnitOfWork:
    """What a subscriber asks of its unit of work: the repository (``part``) and the events it records."""

    def __init__(self, repository: FakeCertificationRepository) -> None:
        self.repository = repository
        self.recorded: list[Event] = []

    def part(self, key: object, make: Callable[[], object]) -> FakeCertificationRepository:
        return self.repository

    def record(self, events: Sequence[Event], *, correlation_id: str | None = None,
               topic: str | None = None) -> list[object]:
        self.recorded.extend(events)
        return []


# mypy checks the fake against the port.
_CHECK: type[CertificationRepository] = FakeCertificationRepository

"""The decisions a handler asks for — pure logic, no I/O.

Each ``decide_*`` takes what is kept (the completion, session or servant the fact is about), merges the
fact with the supersede rules (``facts``) and, if that changed anything, re-judges every completion it can
affect: the certificates to keep (``certificates``), the competencies attained (``competencies``) and the
events to publish.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo

from contracts.attribution import Stamp
from contracts.base import Event
from contracts.events import (
    AssessmentGraded,
    AttendanceCorrected,
    AttendanceRecorded,
    CompetencyAttained,
    CoursePublished,
    EnrolmentCancelled,
    EnrolmentConfirmed,
    ServantRegistered,
    ServantTransferred,
    ServantUpdated,
    SessionCancelled,
    SessionClosed,
    SessionRescheduled,
    SessionScheduled,
)

from services.certification.domain.certificates import (
    CertificateTerms, HeldCertificate, Ruling, StandingCertificate, Status, decide, decide_ruling,
)
from services.certification.domain.competencies import CertificateHolding, competencies_attained
from services.certification.domain.facts import (
    RECORD_RANK, CORRECTION_RANK, Attendance, CompletionFacts, CourseTerms, Enrolment, Grade, Holder, SessionPlan,
    Transfer, assessment_graded, attendance_stated, course_published, enrolment_cancelled, enrolment_confirmed,
    holder_stated, institution_at_start, may_change_decisions, rebinds, servant_transferred, session_cancelled,
    session_closed, session_rescheduled, session_scheduled,
)


@dataclass(frozen=True)
class Rules:
    """What every decision applies besides the facts."""

    code_key: bytes
    issuing_authority: str
    competency_model: dict[str, list[str]] = field(default_factory=dict)
    # The programme's zone (``settings.programme_timezone``): a transfer is in force from its local midnight.
    programme_timezone: str = "America/Mexico_City"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.programme_timezone)


@dataclass(frozen=True)
class Completion:
    """One (servant, session) as kept: its facts and its latest certificate."""

    facts: CompletionFacts
    certificate: StandingCertificate | None = None


@dataclass(frozen=True)
class SessionState:
    """A session as kept: its plan, its course's terms and every servant's completion in it (by servant id)."""

    session_id: str
    plan: SessionPlan | None
    course: CourseTerms | None
    completions: tuple[Completion, ...] = ()

    @property
    def servant_ids(self) -> list[str]:
        return [c.facts.servant_id for c in self.completions]


@dataclass(frozen=True)
class ServantState:
    """What a decision about a servant reads beyond one session."""

    servant_id: str
    transfers: tuple[Transfer, ...] = ()
    valid: tuple[CertificateHolding, ...] = ()  # valid certificates, every session
    # competency -> the certificate ids its kept attainment lists
    attained: Mapping[str, frozenset[str]] = field(default_factory=dict)
    holder: Holder | None = None

    @property
    def holder_digest(self) -> str | None:
        return self.holder.digest if self.holder is not None else None


@dataclass(frozen=True)
class CertificateChange:
    """A certificate to keep (issued, amended or revoked), stamped with ``institution_id``."""

    session_id: str
    servant_id: str
    certificate: HeldCertificate
    institution_id: str | None
    events: tuple[Event, ...]


@dataclass(frozen=True)
class Restamp:
    """A certificate whose only change is its servant's institution at the session's start (a transfer)."""

    session_id: str
    servant_id: str
    certificate_id: str
    institution_id: str


F = TypeVar("F")


@dataclass
class Consequences:
    certificates: list[CertificateChange] = field(default_factory=list)
    restamps: list[Restamp] = field(default_factory=list)
    attainments: list[CompetencyAttained] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


@dataclass(frozen=True)
class FactDecision(Generic[F]):
    """The fact to keep (None: it changes nothing, an older or repeated statement) and its consequences."""

    fact: F | None
    consequences: Consequences = field(default_factory=Consequences)
    # Whom a fact kept per servant (and session) is about, when the fact itself does not say.
    session_id: str | None = None
    servant_id: str | None = None

    @property
    def events(self) -> list[Event]:
        return self.consequences.events


def _reconsider(facts: CompletionFacts, standing: StandingCertificate | None, servant: ServantState, rules: Rules,
                out: Consequences, *, restamp: bool = False) -> ServantState:
    """Re-judge one completion and collect any change to its certificate (and, when it becomes valid, the
    competencies it completes); ``restamp``: the servant's institution at the session's start may have
    changed (a transfer) even if nothing else did. Returns the servant as the change leaves them."""
    held = standing.held if standing is not None else None
    decision = decide(facts, held, rules.code_key, rules.issuing_authority, servant.holder_digest)
    if not decision.changed:
        if restamp and standing is not None and held is not None:
            institution = institution_at_start(facts.session, facts.enrolments, servant.transfers, rules.zone)
            if institution is not None and institution != standing.institution_id:
                out.restamps.append(Restamp(facts.session_id, facts.servant_id, held.terms.certificate_id,
                                            institution))
        return servant
    new = decision.certificate
    assert new is not None  # a decision that changed something keeps a certificate
    terms = new.terms
    kept = standing if standing is not None and standing.held.terms.certificate_id == terms.certificate_id else None
    institution = (institution_at_start(facts.session, facts.enrolments, servant.transfers, rules.zone)
                   or (kept.institution_id if kept is not None else None))
    out.certificates.append(CertificateChange(facts.session_id, facts.servant_id, new, institution,
                                              tuple(decision.events)))
    out.events.extend(decision.events)
    valid = tuple(h for h in servant.valid if h.certificate_id != terms.certificate_id)
    if new.status is Status.valid:
        valid += (CertificateHolding(terms.certificate_id, terms.course_id, terms.course_code, terms.course_topic,
                                     terms.issued_on),)
    return _attain(replace(servant, valid=valid), rules, out)


def _attain(servant: ServantState, rules: Rules, out: Consequences) -> ServantState:
    """Collect the competencies ``servant`` attains with the certificates now valid (after a revocation too:
    other valid certificates may meet every requirement of an attainment that no longer counts)."""
    attained = competencies_attained(servant.servant_id, rules.competency_model, list(servant.valid),
                                     servant.attained)
    if not attained:
        return servant
    out.attainments.extend(attained)
    out.events.extend(attained)
    # A new attainment replaces the one kept for its competency.
    return replace(servant, attained={**servant.attained,
                                      **{a.competency: frozenset(a.certificate_ids) for a in attained}})


def competencies_after_ruling(servant: ServantState, certificate_id: str, rules: Rules) -> list[CompetencyAttained]:
    """The competencies attained anew once the comptroller revokes ``certificate_id``: those whose kept
    attainment lists it, when the servant's other valid certificates meet every requirement."""
    out = Consequences()
    _attain(replace(servant, valid=tuple(h for h in servant.valid if h.certificate_id != certificate_id)), rules, out)
    return out.attainments


def _facts(facts: CompletionFacts, *, attendance: Attendance | None = None, grade: Grade | None = None,
           enrolments: tuple[Enrolment, ...] | None = None) -> CompletionFacts:
    """``facts`` with what is given in place of what they hold (``dataclasses.replace`` costs several
    times more, and this runs once per fact heard)."""
    return CompletionFacts(facts.servant_id, facts.session_id, facts.course, facts.session,
                           facts.enrolments if enrolments is None else enrolments,
                           facts.attendance if attendance is None else attendance,
                           facts.grade if grade is None else grade)


def _reconsider_sessions(states: list[SessionState], servants: dict[str, ServantState], rules: Rules,
                         out: Consequences, facts_of: Callable[[CompletionFacts], CompletionFacts]) -> None:
    for state in states:
        for completion in state.completions:
            servant_id = completion.facts.servant_id
            servants[servant_id] = _reconsider(facts_of(completion.facts), completion.certificate,
                                               servants[servant_id], rules, out)


def decide_course_published(current: CourseTerms | None, event: CoursePublished, stamp: Stamp,
                            sessions: list[SessionState], servants: dict[str, ServantState],
                            rules: Rules) -> FactDecision[CourseTerms]:
    """``sessions``: the course's sessions (in id order); ``servants``: every servant of them."""
    after = course_published(current, event, stamp)
    if after == current:
        return FactDecision(None)
    out = Consequences()
    _reconsider_sessions(sessions, dict(servants), rules, out, lambda facts: replace(facts, course=after))
    return FactDecision(after, out)


def decide_session(state: SessionState, event: SessionScheduled | SessionRescheduled | SessionCancelled,
                   stamp: Stamp, course: CourseTerms | None, servants: dict[str, ServantState],
                   rules: Rules) -> FactDecision[SessionPlan]:
    """``course``: the terms of the course the session is of once the event is heard (a schedule names
    it); ``servants``: every servant of the session."""
    before = state.plan
    match event:
        case SessionScheduled():
            after = session_scheduled(before, event, stamp)
        case SessionRescheduled():
            after = session_rescheduled(before, event, stamp)
        case _:
            after = session_cancelled(before, event)
    if after == before:
        return FactDecision(None)
    out = Consequences()
    if may_change_decisions(before, after):
        _reconsider_sessions([state], dict(servants), rules, out,
                             lambda facts: replace(facts, session=after, course=course))
    return FactDecision(after, out)


def decide_session_closed(current: SessionPlan | None, event: SessionClosed) -> FactDecision[SessionPlan]:
    """A close re-judges nobody: no completion depends on it (``may_change_decisions``), and a session
    heard of only by its close has no schedule, so none of its completions holds, before or after."""
    after = session_closed(current, event.session_id)
    return FactDecision(None if after == current else after)


def decide_enrolment(completion: Completion, stored: Enrolment | None, event: EnrolmentConfirmed | EnrolmentCancelled,
                     servant: ServantState, rules: Rules) -> FactDecision[Enrolment]:
    """``completion``: the event's (servant, session); ``stored``: the enrolment with the event's id,
    wherever it is kept (an id is not trusted to name its session: a stored one keeps its own)."""
    after = (enrolment_confirmed(stored, event) if isinstance(event, EnrolmentConfirmed)
             else enrolment_cancelled(stored, event))
    if after == stored:
        return FactDecision(None)
    facts = completion.facts
    if (after.session_id, after.servant_id) == (facts.session_id, facts.servant_id):
        others = tuple(e for e in facts.enrolments if e.enrolment_id != after.enrolment_id)
        facts = _facts(facts, enrolments=tuple(sorted((*others, after), key=lambda e: e.enrolment_id)))
    out = Consequences()
    _reconsider(facts, completion.certificate, servant, rules, out)
    return FactDecision(after, out)


def decide_attendance(completion: Completion, event: AttendanceRecorded | AttendanceCorrected, stamp: Stamp,
                      servant: ServantState, rules: Rules) -> FactDecision[Attendance]:
    rank = CORRECTION_RANK if isinstance(event, AttendanceCorrected) else RECORD_RANK
    before = completion.facts.attendance
    after = attendance_stated(before, event, Stamp(stamp.at, rank, stamp.event_id))
    if after == before:
        return FactDecision(None)
    out = Consequences()
    _reconsider(_facts(completion.facts, attendance=after), completion.certificate, servant, rules, out)
    return FactDecision(after, out, completion.facts.session_id, completion.facts.servant_id)


def decide_grade(completion: Completion, event: AssessmentGraded, stamp: Stamp, servant: ServantState,
                 rules: Rules) -> FactDecision[Grade]:
    before = completion.facts.grade
    after = assessment_graded(before, event, stamp)
    if after == before:
        return FactDecision(None)
    out = Consequences()
    _reconsider(_facts(completion.facts, grade=after), completion.certificate, servant, rules, out)
    return FactDecision(after, out, completion.facts.session_id, completion.facts.servant_id)


def decide_transfer(servant: ServantState, event: ServantTransferred, stamp: Stamp, certified: list[Completion],
                    rules: Rules) -> FactDecision[Transfer]:
    """A transfer moves the stamp of the servant's certificates of sessions starting from its effective day.

    ``certified``: the servant's completions with a certificate (any status), in session order. A
    certificate issued before the transfer was heard is restamped in place (no new signature, no event),
    so every order of the same facts stamps alike.
    """
    before = next((t for t in servant.transfers if t.transfer_id == event.transfer_id), None)
    after = servant_transferred(before, event, stamp)
    if after == before:
        return FactDecision(None)
    others = tuple(t for t in servant.transfers if t.transfer_id != event.transfer_id)
    servant = replace(servant, transfers=(*others, after))
    out = Consequences()
    for completion in certified:
        servant = _reconsider(completion.facts, completion.certificate, servant, rules, out, restamp=True)
    return FactDecision(after, out, servant_id=servant.servant_id)


def decide_holder(servant: ServantState, event: ServantRegistered | ServantUpdated, stamp: Stamp,
                  certified: list[Completion], rules: Rules) -> FactDecision[Holder]:
    """A servant's holder digest, bound into every valid certificate of theirs: one that changes (a CURP
    corrected, the data erased) amends them under the same ids, so every order of the same facts binds alike.

    ``certified``: the servant's completions with a certificate (any status), in session order; asked
    for only when the digest changes (``rebinds``) — a registration repeated unchanged re-judges nothing.
    """
    before = servant.holder
    after = holder_stated(before, event, stamp)
    if after == before:
        return FactDecision(None)
    out = Consequences()
    if rebinds(before, after):
        servant = replace(servant, holder=after)
        for completion in certified:
            servant = _reconsider(completion.facts, completion.certificate, servant, rules, out)
    return FactDecision(after, out, servant_id=servant.servant_id)


# ------------------------------------------------------------------ what a decision reads, loaded at once


@dataclass(frozen=True)
class CourseFacts:
    """A course's terms as kept, its sessions (in id order) and every servant of them."""

    current: CourseTerms | None
    sessions: list[SessionState]
    servants: dict[str, ServantState]


@dataclass(frozen=True)
class SessionFacts:
    """A session as kept, the terms of its course and every servant of it."""

    state: SessionState
    course: CourseTerms | None
    servants: dict[str, ServantState]


@dataclass(frozen=True)
class CompletionContext:
    """One (servant, session) as kept and the servant; ``enrolment``: the one an enrolment fact names,
    wherever it is kept."""

    completion: Completion
    servant: ServantState
    enrolment: Enrolment | None = None


@dataclass(frozen=True)
class ServantFacts:
    """A servant and their completions with a certificate (any status), in session order."""

    servant: ServantState
    certified: list[Completion]


@dataclass(frozen=True)
class CertificateFacts:
    """A certificate named by the comptroller (its terms as stored), its servant and its completion."""

    named: CertificateTerms
    servant: ServantState
    completion: Completion


def decide_revocation(about: CertificateFacts, ruling: Ruling, rules: Rules) -> FactDecision[None]:
    """The comptroller's revocation of ``about.named`` (``certificates.ruling``, checked against the date of
    the certificate as kept: a reschedule may have amended it): the certificate revoked, and the
    competencies attained anew on the servant's other valid certificates."""
    named, standing = about.named, about.completion.certificate
    decision = decide_ruling(standing, named.certificate_id, ruling)
    assert decision.certificate is not None and standing is not None  # decide_ruling refuses otherwise
    out = Consequences()
    out.certificates.append(CertificateChange(named.session_id, named.servant_id, decision.certificate,
                                              standing.institution_id, tuple(decision.events)))
    out.events.extend(decision.events)
    attained = competencies_after_ruling(about.servant, named.certificate_id, rules)
    out.attainments.extend(attained)
    out.events.extend(attained)
    return FactDecision(None, out, named.session_id, named.servant_id)


def ruled_on(about: CertificateFacts) -> date:
    """The date a ruling is checked against: the certificate's as kept, if it is still the standing one."""
    standing = about.completion.certificate
    if standing is not None and standing.held.terms.certificate_id == about.named.certificate_id:
        return standing.held.terms.issued_on
    return about.named.issued_on

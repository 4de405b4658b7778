"""Reporting's read model: the facts it keeps and the figures it computes from them. Pure: no I/O.

Why facts stamped with the moment they became known, rather than running totals: every figure must
be answerable for any period *as of* any past date, and "servants trained" counts distinct people,
which no counter adds up across arbitrary periods (the servants trained January–November are fewer
than the sum of the months). So reporting keeps one small ``Fact`` per event it needs — the entity
ids and the attributes oversight reads, never personal data — with the event's envelope time, and a
``Ledger`` resolves them into a ``Snapshot`` as of any instant. Facts are keyed by event id, so a
redelivered event changes nothing, and every resolution picks the latest version *known* at the
cut-off (ordered by envelope time, then event id), so the arrival order never matters.

**Completion = a standing certificate.** A servant completes a session when a ``CertificateIssued``
for (servant, session) is known at the cut-off and no ``CertificateRevoked`` known then takes it away on
the certificate's own day (``contracts.compliance.revoked_from``, the rule compliance reads): a void
revocation — every one after a correction — takes it away on every day; one from a date only when that
date is on or before the certificate's (a sanction leaves the training it ends delivered). Reporting
deliberately does not recompute completions from attendance shares, scores and course rules:

* certification owns the completion rules (one owner per fact); a second implementation here could
  only disagree with it — e.g. over a course re-published with new terms after a session;
* the figures a bulletin prints then match the certificates the public can verify one by one;
* corrections reach reporting the same way they reach servants: as a revocation, at a known time,
  which is exactly what "as of" needs.

**Month of a session**: the local date of its (latest known) start in the programme's time zone,
never UTC: a session at 22:30 on 30 November in Mexico City is a November session.

**Attribution**: a completion belongs to the institution (and so the government level) and sex the
servant had when the session started, as known at the cut-off — a servant who moves later does not
take past training along. A ``ServantTransferred`` is in force from its ``effective_on`` (local midnight
in the programme's zone), not from when it was recorded: a transfer recorded on 2 December, effective
16 November, gives the new institution the sessions from 16 November on.

**Unknown references wait** (the trust rules): a certificate, attendance or enrolment naming a session,
course, servant or institution reporting has no fact about yet is held, never counted under an
"unknown" category. Order across topics is not guaranteed, so the fact is kept and counts from the
moment what it names is known, exactly as if the facts had come in order; a revocation counts only
once the certificate it revokes has been issued (a revocation of nothing counts nothing).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from operator import attrgetter
from typing import Any
from zoneinfo import ZoneInfo

from contracts import compliance as rule
from contracts.attribution import Placement, Stamp, holding
from contracts.envelope import Envelope
from contracts.events import (
    AssessmentGraded, AttendanceCorrected, AttendanceRecorded, CertificateIssued, CertificateRevoked,
    CompetencyAttained, CoursePublished, EnrolmentCancelled, EnrolmentConfirmed, ExemptionGranted, ExemptionWithdrawn,
    InstitutionRegistered, ServantLeft, ServantRegistered, ServantTransferred, ServantUpdated, SessionCancelled,
    SessionRescheduled, SessionScheduled, TrainingPlanDeclared, TrainingRequirementDeclared,
)
from pydantic import BaseModel

UNKNOWN = "unknown"
DIMENSIONS = ("month", "institution", "government_level", "topic", "modality", "sex")
PRESENT = frozenset({"present", "late"})
MEASURES = ("sessions_delivered", "courses_delivered", "servants_trained", "participations", "training_hours",
            "certificates_issued", "certificates_revoked")

# Event type -> the fact kind reporting keeps. Everything else (waitlists, requests, closings,
# transfers still waiting for an answer) is ignored: no figure depends on it. Requirements,
# exemptions, leavings and competencies feed the compliance projection (services/reporting/compliance.py).
KINDS: dict[str, str] = {
    InstitutionRegistered.type: "institution",
    CoursePublished.type: "course",
    SessionScheduled.type: "session_scheduled",
    SessionRescheduled.type: "session_rescheduled",
    SessionCancelled.type: "session_cancelled",
    ServantRegistered.type: "servant",
    ServantUpdated.type: "servant",
    ServantTransferred.type: "servant_transferred",
    EnrolmentConfirmed.type: "enrolment_confirmed",
    EnrolmentCancelled.type: "enrolment_cancelled",
    AttendanceRecorded.type: "attendance",
    AttendanceCorrected.type: "attendance",
    AssessmentGraded.type: "assessment",
    CertificateIssued.type: "certificate_issued",
    CertificateRevoked.type: "certificate_revoked",
    TrainingPlanDeclared.type: "plan",
    TrainingRequirementDeclared.type: "requirement",
    ExemptionGranted.type: "exemption_granted",
    ExemptionWithdrawn.type: "exemption_withdrawn",
    ServantLeft.type: "departure",
    CompetencyAttained.type: "competency",
}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FOREVER = 2**62


def micros(moment: datetime) -> int:
    """Exact, sortable and storable the same way on every database."""
    delta = moment.astimezone(UTC) - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


@dataclass(frozen=True, slots=True)
class Fact:
    event_id: str
    kind: str
    known_at: int  # envelope time, µs since the epoch (UTC)
    subject: str
    session_id: str | None = None
    servant_id: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


# Kind -> (field holding the session id, field holding the servant id, attributes kept). The one
# description of what a fact holds: ``fact_from`` reads it from a validated event, and the rebuild's
# fast path (services/reporting/rebuild/rows.py) from the record's JSON, so the two cannot drift apart.
FACT_FIELDS: dict[str, tuple[str | None, str | None, tuple[str, ...]]] = {
    "institution": (None, None, ("name", "government_level", "municipality", "headcount", "headcount_year")),
    "course": (None, None, ("code", "title", "topic", "hours")),
    "session_scheduled": ("session_id", None, ("course_id", "modality", "starts_at", "ends_at", "organising_unit")),
    "session_rescheduled": ("session_id", None, ("starts_at", "ends_at")),
    "session_cancelled": ("session_id", None, ()),
    "servant": (None, "servant_id", ("institution_id", "sex", "person_id", "joined_on", "position_level",
                                     "position_digest")),
    "servant_transferred": (None, "servant_id", ("from_institution_id", "to_institution_id", "sex", "effective_on",
                                                 "position_level")),
    "enrolment_confirmed": ("session_id", "servant_id", ()),
    "enrolment_cancelled": ("session_id", "servant_id", ()),
    "attendance": ("session_id", "servant_id", ("status", "share", "minutes_present")),
    "assessment": ("session_id", "servant_id", ("score",)),
    "certificate_issued": ("session_id", "servant_id", ("course_id", "hours", "issued_on", "valid_until")),
    "certificate_revoked": ("session_id", "servant_id", ("course_id", "applies", "effective_on")),
    "plan": (None, None, ("year", "version", "declared_at", "targets")),
    "requirement": (None, None, ("version", "effective_from", "title", "course_id", "competency", "scope", "due",
                                 "withdrawn")),
    "exemption_granted": (None, "servant_id", ("requirement_id", "effective_from", "until")),  # not the reason
    "exemption_withdrawn": (None, "servant_id", ("requirement_id", "withdrawn_on")),
    "departure": (None, "servant_id", ("institution_id", "left_on")),
    "competency": (None, "servant_id", ("competency", "attained_on", "certificate_ids")),
}


def _plain(value: Any) -> Any:
    """An attribute as the store keeps it: dates and times as ISO 8601 text, the rest as JSON has it."""
    if isinstance(value, list):  # a plan's targets
        return [v.model_dump(mode="json") if isinstance(v, BaseModel) else _plain(v) for v in value]
    if isinstance(value, BaseModel):  # a requirement's scope and due rule
        return value.model_dump(mode="json")
    return value.isoformat() if isinstance(value, (date, datetime)) else value


def fact_from(envelope: Envelope) -> Fact | None:
    """The fact reporting keeps from an event, or None when no figure depends on it."""
    kind = KINDS.get(envelope.type)
    if kind is None:
        return None
    e = envelope.event
    session_field, servant_field, names = FACT_FIELDS[kind]
    return Fact(envelope.id, kind, micros(envelope.time), e.subject,
                getattr(e, session_field) if session_field else None,
                getattr(e, servant_field) if servant_field else None,
                {name: _plain(getattr(e, name)) for name in names})


_ORDER = attrgetter("known_at", "event_id")  # which of two versions is the later one
_LAST_MOMENT = datetime.max.replace(tzinfo=UTC)
_MISSING: Any = object()


def _placement(version: Fact) -> Placement:
    """A servant's version as ``contracts.attribution`` reads it: stamped when it became known (rank 0, so
    the order is (known_at, event id), as ``_ORDER``); a transfer in force from its effective day."""
    a = version.attributes
    stamp = Stamp(from_micros(version.known_at), 0, version.event_id)
    if version.kind == "servant_transferred":
        return Placement(a["to_institution_id"], stamp, date.fromisoformat(a["effective_on"]),
                         a.get("from_institution_id"), source=version)
    return Placement(a["institution_id"], stamp, source=version)


def revoked_on(revocation: Fact) -> date:
    """The first day the certificate a ``certificate_revoked`` fact revokes no longer counts (valid time)."""
    a = revocation.attributes
    effective_on = a.get("effective_on")
    return rule.revoked_from(a.get("applies"), date.fromisoformat(effective_on) if effective_on else None)


def _latest(facts: Sequence[Fact], cutoff: int) -> Fact | None:
    """The version known at ``cutoff`` that is last by (known_at, event_id); None if none is known yet."""
    if len(facts) == 1:  # by far the most common case: a key with a single fact
        only = facts[0]
        return only if only.known_at <= cutoff else None
    if cutoff == FOREVER:  # "now": every fact held is known, nothing to filter
        return max(facts, key=_ORDER, default=None)
    return max((f for f in facts if f.known_at <= cutoff), key=_ORDER, default=None)


class Ledger:
    """Every fact reporting holds, indexed for resolution; ``apply`` is idempotent and order-free."""

    def __init__(self) -> None:
        self.event_ids: set[str] = set()
        self.institutions: dict[str, list[Fact]] = defaultdict(list)
        self.courses: dict[str, list[Fact]] = defaultdict(list)
        self.sessions: dict[str, list[Fact]] = defaultdict(list)
        self.servants: dict[str, list[Fact]] = defaultdict(list)
        self.participants: dict[str, set[str]] = defaultdict(set)  # session -> servants it has facts about
        self.enrolments: dict[tuple[str, str], list[Fact]] = defaultdict(list)
        self.attendance: dict[tuple[str, str], list[Fact]] = defaultdict(list)
        self.assessments: dict[tuple[str, str], list[Fact]] = defaultdict(list)
        self.certificates: dict[str, list[Fact]] = defaultdict(list)
        self.plans: dict[int, list[Fact]] = defaultdict(list)  # year -> the versions of its training programme
        # The compliance projection's facts: a requirement's versions, an exemption's grant and withdrawal,
        # a servant's leavings and competencies attained.
        self.requirements: dict[str, list[Fact]] = defaultdict(list)
        self.exemptions: dict[str, list[Fact]] = defaultdict(list)
        self.departures: dict[str, list[Fact]] = defaultdict(list)
        self.competencies: dict[str, list[Fact]] = defaultdict(list)
        self.applied: list[Fact] = []  # in the order applied: ``applied[r:]`` came after revision r
        self.revision = 0

    def __len__(self) -> int:
        return len(self.event_ids)

    def apply(self, fact: Fact) -> bool:
        if fact.event_id in self.event_ids:
            return False
        self.event_ids.add(fact.event_id)
        self.applied.append(fact)
        self.revision += 1
        kind = fact.kind
        if kind == "institution":
            self.institutions[fact.subject].append(fact)
        elif kind == "course":
            self.courses[fact.subject].append(fact)
        elif kind.startswith("session_"):
            self.sessions[fact.session_id].append(fact)
        elif kind.startswith("servant"):
            self.servants[fact.servant_id].append(fact)
        elif kind.startswith("certificate_"):
            self.certificates[fact.subject].append(fact)
            self.participants[fact.session_id].add(fact.servant_id)
        elif kind == "plan":
            self.plans[fact.attributes["year"]].append(fact)
        elif kind == "requirement":
            self.requirements[fact.subject].append(fact)
        elif kind.startswith("exemption_"):
            self.exemptions[fact.subject].append(fact)
        elif kind == "departure":
            self.departures[fact.servant_id].append(fact)
        elif kind == "competency":
            self.competencies[fact.servant_id].append(fact)
        else:
            self.participants[fact.session_id].add(fact.servant_id)
            target = (self.attendance if kind == "attendance" else
                      self.assessments if kind == "assessment" else self.enrolments)
            target[(fact.session_id, fact.servant_id)].append(fact)
        return True

    def apply_all(self, facts: Iterable[Fact]) -> int:
        return sum(self.apply(f) for f in facts)

    @property
    def newest(self) -> datetime | None:
        """Envelope time of the newest fact held (how fresh the projection is)."""
        latest = max((f.known_at for fs in self._all() for f in fs), default=None)
        return from_micros(latest) if latest is not None else None

    def _all(self) -> Iterator[list[Fact]]:
        for index in (self.institutions, self.courses, self.sessions, self.servants, self.enrolments,
                      self.attendance, self.assessments, self.certificates, self.plans, self.requirements,
                      self.exemptions, self.departures, self.competencies):
            yield from index.values()

    def snapshot(self, zone: ZoneInfo, as_of: datetime | None = None, *,
                 previous: Snapshot | None = None) -> Snapshot:
        """Resolve the ledger as of ``as_of`` (None = now); see ``Snapshot`` for what ``previous`` saves."""
        return Snapshot(self, zone, as_of, previous)


# ---------------------------------------------------------------- resolved views


@dataclass(frozen=True, slots=True)
class Period:
    """Inclusive range of local dates in the programme's time zone."""

    start: date
    end: date

    @classmethod
    def month(cls, year: int, month: int) -> "Period":
        following = date(year + month // 12, month % 12 + 1, 1)
        return cls(date(year, month, 1), following - timedelta(days=1))

    @classmethod
    def year(cls, year: int) -> "Period":
        return cls(date(year, 1, 1), date(year, 12, 31))

    def __contains__(self, day: date) -> bool:
        return self.start <= day <= self.end

    @property
    def label(self) -> str:
        if self.start.day == 1 and self == Period.month(self.start.year, self.start.month):
            return f"{self.start:%Y-%m}"
        if self == Period.year(self.start.year):
            return str(self.start.year)
        return f"{self.start.isoformat()}/{self.end.isoformat()}"


@dataclass(frozen=True, slots=True)
class SessionView:
    session_id: str
    course_id: str
    course_title: str
    topic: str
    modality: str
    starts_at: datetime
    day: date  # local date in the programme's zone
    cancelled: bool
    organising_unit: str | None


@dataclass(frozen=True, slots=True)
class Who:
    institution_id: str
    institution: str
    government_level: str
    sex: str


NOBODY = Who(UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN)  # a servant reporting has no fact about (yet)


@dataclass(slots=True)
class _Changes:
    """Keys with facts applied since a previous snapshot (see ``Snapshot._changes_since``)."""

    sessions: set[str] = field(default_factory=set)
    servants: set[str] = field(default_factory=set)
    certificates: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class CompletionView:
    servant_id: str
    session: SessionView
    who: Who
    certificate_id: str
    hours: float


@dataclass(frozen=True, slots=True)
class CertificateEvent:
    """A certificate issued or revoked on a local date; placed by the session/servant it is about."""

    day: date
    session: SessionView | None
    who: Who
    topic: str


# A certificate resolved: (session id, servant id, issued event, revoked event, completion).
_Resolution = tuple[str, str, CertificateEvent | None, CertificateEvent | None, CompletionView | None]


class Snapshot:
    """Everything the ledger knew at ``as_of`` (None = now), resolved once and queried many times.

    ``previous``, an earlier snapshot "now" of the same ledger in the same zone, lets a snapshot "now"
    take over what the facts applied since cannot have changed: the service resolves one after every
    batch of new facts, and nearly every certificate, which is nearly all the work, resolves as it
    did last time. Any other ``previous`` is ignored. Either way the result is exactly that of a
    resolution from scratch.
    """

    def __init__(self, ledger: Ledger, zone: ZoneInfo, as_of: datetime | None,
                 previous: Snapshot | None = None) -> None:
        self.zone = zone
        self.as_of = as_of
        cutoff = micros(as_of) if as_of is not None else FOREVER
        self._cutoff = cutoff
        self._ledger = ledger
        self._revision = ledger.revision
        self._whos: dict[tuple[str, str], Who] = {}  # (institution id, sex) -> Who; see _who_of
        # "now" places a servant as of the last moment there is; a past cut-off as of the cut-off itself
        self._moment = _LAST_MOMENT if as_of is None else from_micros(cutoff)
        self._placements: dict[tuple[str, int], list[Placement] | None] = {}  # see _placements_of
        self.reports: dict[tuple, Any] = {}  # answers kept while the snapshot is (compliance.report)
        self._days: dict[str, date] = {}  # issued_on text -> date: a few hundred distinct days
        self.institutions: dict[str, Fact] = {}
        self.headcounts: dict[str, list[Fact]] = {}
        for iid, facts in ledger.institutions.items():
            known = [f for f in facts if f.known_at <= cutoff]
            if known:
                self.institutions[iid] = _latest(known, cutoff)
                self.headcounts[iid] = known
        self.courses = {cid: f for cid, fs in ledger.courses.items() if (f := _latest(fs, cutoff))}
        changes = self._changes_since(previous)
        self.sessions: dict[str, SessionView] = {}
        for sid, facts in ledger.sessions.items():
            if changes is not None and sid not in changes.sessions:
                view = previous.sessions.get(sid)
            else:
                view = self._session(sid, facts)
            if view is not None:
                self.sessions[sid] = view
        self.present: dict[str, list[str]] = defaultdict(list)  # session -> servants present
        for (sid, servant), facts in ledger.attendance.items():
            latest = _latest(facts, cutoff)
            if latest is not None and latest.attributes["status"] in PRESENT:
                session = self.sessions.get(sid)
                # Held until both the session and the servant are known: a presence nobody can place
                # would deliver a session (or deliver it to an "unknown" group) ahead of the facts.
                if session is not None and self.attributable(session) and self.known(servant, session.starts_at):
                    self.present[sid].append(servant)
        self.completions: list[CompletionView] = []
        self.issued: list[CertificateEvent] = []
        self.revoked: list[CertificateEvent] = []
        self._resolved: dict[str, _Resolution] = {}  # what a next snapshot may take over
        self._certificates(previous._resolved if changes is not None else {}, changes or _Changes())

    @property
    def ledger(self) -> Ledger:
        return self._ledger

    @property
    def cutoff(self) -> int:
        """The cut-off in µs since the epoch (``FOREVER`` for "now"): facts known after it do not count."""
        return self._cutoff

    def day_known(self, fact: Fact) -> date:
        """The local date (programme's zone) the fact became known."""
        return from_micros(fact.known_at).astimezone(self.zone).date()

    # -- resolution

    def _changes_since(self, previous: Snapshot | None) -> _Changes | None:
        """What arrived since ``previous``, when its resolution can be reused; None when it cannot."""
        if (previous is None or previous._ledger is not self._ledger or previous.as_of is not None
                or self.as_of is not None or previous.zone != self.zone or previous._revision > self._revision):
            return None
        changes = _Changes()
        for fact in self._ledger.applied[previous._revision:self._revision]:
            kind = fact.kind
            if kind in ("institution", "course"):
                return None  # names, levels and topics run through every view: resolve everything
            if kind.startswith("session_"):
                changes.sessions.add(fact.session_id)
            elif kind.startswith("servant"):
                changes.servants.add(fact.servant_id)
            elif kind.startswith("certificate_"):
                changes.certificates.add(fact.subject)
        return changes

    def _session(self, sid: str, facts: list[Fact]) -> SessionView | None:
        cutoff = self._cutoff
        known = [f for f in facts if f.known_at <= cutoff]
        scheduled = _latest([f for f in known if f.kind == "session_scheduled"], cutoff)
        if scheduled is None:
            return None
        timing = _latest([f for f in known if f.kind != "session_cancelled"], cutoff)
        starts_at = datetime.fromisoformat(timing.attributes["starts_at"])
        course_id = scheduled.attributes["course_id"]
        course = self.courses.get(course_id)
        return SessionView(
            session_id=sid, course_id=course_id,
            course_title=course.attributes["title"] if course else UNKNOWN,
            topic=course.attributes["topic"] if course else UNKNOWN,
            modality=scheduled.attributes["modality"], starts_at=starts_at,
            day=starts_at.astimezone(self.zone).date(),
            cancelled=any(f.kind == "session_cancelled" for f in known),
            organising_unit=scheduled.attributes.get("organising_unit"),
        )

    def who(self, servant_id: str, at: datetime | None) -> Who:
        """The servant's institution and sex when ``at`` (a session's start) happened, as known now: the
        version ``contracts.attribution.holding`` places them by.

        NOBODY while no registration of the servant is known (a transfer alone does not describe them).
        """
        facts = self._ledger.servants.get(servant_id, ())
        if len(facts) == 1:
            # The only known version is the one in force at any moment (before it was known, the
            # earliest known version stands in), so ``at`` needs no placing: most servants never change.
            only = facts[0]
            return self._who_of(only) if only.known_at <= self._cutoff and only.kind == "servant" else NOBODY
        placements = self._placements_of(servant_id, facts)
        if placements is None:
            return NOBODY
        moment = at if at is not None else self._moment
        held = holding(placements, moment, self.zone)
        assert held is not None and isinstance(held.source, Fact)  # a registration is known: it always places
        return self._who_of(held.source)

    def _placements_of(self, servant_id: str, facts: Sequence[Fact]) -> list[Placement] | None:
        """The servant's versions known at the cut-off as the contract's placements, made once per snapshot
        and list of versions (the ledger only grows); None while no registration or update is known."""
        key = (servant_id, len(facts))
        found = self._placements.get(key, _MISSING)
        if found is not _MISSING:
            return found
        known = [f for f in facts if f.known_at <= self._cutoff]
        placements = ([_placement(f) for f in known] if any(f.kind == "servant" for f in known) else None)
        self._placements[key] = placements
        return placements

    def person(self, servant_id: str) -> str:
        """Who "distinct servants" counts: the person a servant is, shared by the servants one CURP names
        in several institutions; a servant registered without one (older events) is a person of their own."""
        for fact in self._ledger.servants.get(servant_id, ()):
            person = fact.attributes.get("person_id")
            if person:
                return person
        return servant_id

    def known(self, servant_id: str, at: datetime | None) -> bool:
        """Whether the servant and their institution are known: only then can a fact about them count."""
        return self.who(servant_id, at) is not NOBODY

    def attributable(self, session: SessionView) -> bool:
        """Whether the session's course is known (its topic and title run through every figure)."""
        return session.course_id in self.courses

    def _who_of(self, version: Fact) -> Who:
        # One Who per (institution, sex): a snapshot resolves one per certificate and per servant
        # present, and the institution's name and level are the same for all of them.
        attributes = version.attributes
        key = (attributes["to_institution_id"] if version.kind == "servant_transferred" else attributes["institution_id"],
               attributes["sex"])
        who = self._whos.get(key)
        if who is None:
            iid, sex = key
            institution = self.institutions.get(iid)
            who = self._whos[key] = (NOBODY if institution is None else  # an institution not known yet
                                     Who(iid, institution.attributes["name"], institution.attributes["government_level"],
                                         sex))
        return who

    def _certificates(self, before: dict[str, _Resolution], changes: _Changes) -> None:
        """Resolve every certificate, or take its resolution from ``before`` if nothing it reads changed.

        A certificate reads its own facts, its session's view and its servant's versions (and the
        institutions and courses, whose change means no ``before`` at all).
        """
        resolved, issued, revoked, completions = self._resolved, self.issued, self.revoked, self.completions
        for certificate_id, facts in self._ledger.certificates.items():
            found = before.get(certificate_id)
            if (found is None or certificate_id in changes.certificates
                    or found[0] in changes.sessions or found[1] in changes.servants):
                found = self._certificate(certificate_id, facts)
                if found is None:
                    continue
            resolved[certificate_id] = found
            _, _, issue, revocation, completion = found
            if issue is not None:
                issued.append(issue)
            if revocation is not None:
                revoked.append(revocation)
            if completion is not None:
                completions.append(completion)

    def _certificate(self, certificate_id: str, facts: list[Fact]) -> _Resolution | None:
        cutoff = self._cutoff
        if len(facts) == 1:  # issued and never revoked: most certificates
            only = facts[0]
            if only.known_at > cutoff:
                return None
            issued = only if only.kind == "certificate_issued" else None
            revoked = only if only.kind == "certificate_revoked" else None
        else:
            issued = _latest([f for f in facts if f.kind == "certificate_issued"], cutoff)
            revoked = _latest([f for f in facts if f.kind == "certificate_revoked"], cutoff)
        reference = issued or revoked
        if reference is None:
            return None
        session = self.sessions.get(reference.session_id)
        held = (reference.session_id, reference.servant_id, None, None, None)
        if issued is None or session is None or not self.attributable(session):
            return held  # a revocation of nothing, or a session not known yet: nothing counts
        who = self.who(reference.servant_id, session.starts_at)
        if who is NOBODY:
            return held  # the servant or their institution is not known yet
        topic = session.topic
        issue = revocation = completion = None
        if issued is not None:
            text = issued.attributes["issued_on"]
            day = self._days.get(text) or self._days.setdefault(text, date.fromisoformat(text))
            issue = CertificateEvent(day, session, who, topic)
        if revoked is not None:
            day = from_micros(revoked.known_at).astimezone(self.zone).date()
            revocation = CertificateEvent(day, session, who, topic)
        # A revocation takes the completion away in valid time (contracts.compliance.revoked_from): a void
        # one on every day, one from a date only if that date is on or before the completion's own day.
        if revoked is None or rule.counted_on(revoked_on(revoked), issue.day):
            completion = CompletionView(issued.servant_id, session, who, certificate_id,
                                        float(issued.attributes["hours"]))
        return reference.session_id, reference.servant_id, issue, revocation, completion

    # -- figures

    def years_delivered(self) -> list[int]:
        """The years with at least one session delivered, oldest first."""
        return sorted({s.day.year for s in self.sessions.values()
                       if not s.cancelled and self.present.get(s.session_id)})

    def delivered(self, period: Period) -> list[SessionView]:
        """Sessions started in the period, not cancelled, with at least one present attendee."""
        return [s for s in self.sessions.values()
                if s.day in period and not s.cancelled and self.present.get(s.session_id)]

    def figures(self, period: Period, by: str | None = None, institution: str | None = None) -> list[dict[str, Any]]:
        """One row per category of ``by`` (or a single total row): every measure of the brief.

        ``institution``: only what concerns that institution's servants, exactly as its row of
        ``by="institution"`` counts it (a session is delivered to it when one of its servants was
        present; completions and certificates by the servant's institution at the session's start).
        """
        if by is not None and by not in DIMENSIONS:
            raise ValueError(f"by must be one of {', '.join(DIMENSIONS)}")
        rows: dict[str, dict[str, Any]] = defaultdict(_empty_row)
        sessions: dict[str, set[str]] = defaultdict(set)
        courses: dict[str, set[str]] = defaultdict(set)
        trained: dict[str, set[str]] = defaultdict(set)
        for s in self.delivered(period):
            if institution is not None:
                whos = [self.who(servant, s.starts_at) for servant in self.present[s.session_id]]
                whos = [w for w in whos if w.institution_id == institution]
                if not whos:
                    continue
            if by in (None, "month", "topic", "modality"):
                keys = {_session_key(s, by)}
            else:  # delivered to a group when someone of the group was present
                keys = {_who_key(w, by) for w in (whos if institution is not None else
                                                  (self.who(servant, s.starts_at) for servant in self.present[s.session_id]))}
            for key in keys:
                sessions[key].add(s.session_id)
                courses[key].add(s.course_id)
        for c in self.completions:
            if c.session.day not in period or (institution is not None and c.who.institution_id != institution):
                continue
            key = _session_key(c.session, by) if by in (None, "month", "topic", "modality") else _who_key(c.who, by)
            trained[key].add(self.person(c.servant_id))
            row = rows[key]
            row["participations"] += 1
            row["training_hours"] += c.hours
        for events, measure in ((self.issued, "certificates_issued"), (self.revoked, "certificates_revoked")):
            for e in events:
                if e.day not in period or (institution is not None and e.who.institution_id != institution):
                    continue
                rows[_certificate_key(e, by)][measure] += 1
        for key in set(sessions) | set(trained) | set(rows):
            row = rows[key]
            row["sessions_delivered"] = len(sessions.get(key, ()))
            row["courses_delivered"] = len(courses.get(key, ()))
            row["servants_trained"] = len(trained.get(key, ()))
            row["training_hours"] = round(row["training_hours"], 2)
        if by is None:
            total = rows["total"] if rows else _empty_row()
            return [{"period": period.label, **total}]
        labels = self._labels(by)
        return [{"period": period.label, by: key, **({"name": labels[key]} if key in labels else {}), **rows[key]}
                for key in sorted(rows)]

    def _labels(self, by: str) -> dict[str, str]:
        if by == "institution":
            return {iid: f.attributes["name"] for iid, f in self.institutions.items()}
        return {}

    def coverage(self, year: int) -> list[dict[str, Any]]:
        """Per institution: distinct servants trained in the year / its headcount; lowest first."""
        period = Period.year(year)
        trained: dict[str, set[str]] = defaultdict(set)
        for c in self.completions:
            if c.session.day in period:
                trained[c.who.institution_id].add(self.person(c.servant_id))
        return coverage_rows(year, self.institutions, self.headcounts, {iid: len(p) for iid, p in trained.items()},
                             self._cutoff)

    def plan_in_force(self, year: int) -> Fact | None:
        """The version of the year's training programme in force at the cut-off: of the versions known
        then (each is in force from when it was recorded), the highest."""
        known = [f for f in self._ledger.plans.get(year, ()) if f.known_at <= self._cutoff]
        return max(known, key=lambda f: (f.attributes["version"], f.known_at, f.event_id), default=None)

    def plan_against_actual(self, year: int, through_month: int | None = None,
                            institution: str | None = None) -> dict[str, Any]:
        """The year's training programme (the version in force at the snapshot's as-of) against what was
        delivered in the cells it names, January to ``through_month`` (default December), optionally for
        one institution only. Returns::

            {"year": 2026, "through_month": 6, "period": "2026-01-01/2026-06-30",
             "plan": {"plan_id", "version", "declared_at", "known_from"} | None,   # None: no plan known
             "months": [row, ...],        # one per planned (month, institution, topic) cell, sorted;
                                          # "period" "2026-03"
             "month_total": row,          # the planned cells of through_month together ("total", "total")
             "year_to_date": [row, ...],  # one per planned (institution, topic): its planned cells together
             "total": row,                # every planned cell January to through_month ("total", "total")
             "outside_plan": {            # delivery in cells the plan does not name: actuals only
                 "months": [row, ...], "month_total": row, "total": row}}

        A **cell** is a month x institution x topic. Delivered *in a cell*: the sessions delivered (not
        cancelled, someone present) that started in the month (programme zone), of a course of the topic,
        with a servant of the institution present (their institution at the session's start); servants
        trained in it are the distinct persons with a standing certificate of such a session, and its
        training hours those certificates' hours. Attainment counts only the cells the plan names: a row
        wider than a cell (month total, an institution x topic year to date, the total) adds its planned
        cells — the targets and, like them, the delivered figures — so every cell on plan is the whole on
        plan: a session that reached two planned institutions counts in each one's cell and twice in the
        total, a person trained in two planned cells (two months, two topics) in each. Delivery in any
        other cell is ``outside_plan``, added the same way and never counted as attainment, so the two
        lines together are the whole programme's cells. Without a plan in force every delivery is outside it.

        Every planned row: ``period``, ``institution``, ``name`` (the institution's, None when unknown),
        ``topic``, ``planned_sessions``, ``planned_people``, ``planned_hours``, ``sessions_delivered``,
        ``servants_trained``, ``training_hours`` and ``sessions_attainment``, ``people_attainment``,
        ``hours_attainment`` = actual / planned, rounded to 4 places, None when planned is 0. An
        ``outside_plan`` row has the same keys but the planned and attainment ones.
        """
        through = _through(through_month)
        period = Period(date(year, 1, 1), Period.month(year, through).end)
        wanted = (lambda iid: True) if institution is None else (lambda iid: iid == institution)
        sessions: dict[tuple[int, str, str], set[str]] = defaultdict(set)
        for s in self.delivered(period):
            for servant in self.present[s.session_id]:
                iid = self.who(servant, s.starts_at).institution_id
                if wanted(iid):
                    sessions[(s.day.month, iid, s.topic)].add(s.session_id)
        trained: dict[tuple[int, str, str], set[str]] = defaultdict(set)
        hours: dict[tuple[int, str, str], float] = defaultdict(float)
        for c in self.completions:
            if c.session.day in period and wanted(c.who.institution_id):
                key = (c.session.day.month, c.who.institution_id, c.session.topic)
                trained[key].add(self.person(c.servant_id))
                hours[key] += c.hours
        return plan_report(year, through, institution, self.plan_in_force(year),
                           {k: len(v) for k, v in sessions.items()}, {k: len(v) for k, v in trained.items()},
                           hours, {iid: f.attributes["name"] for iid, f in self.institutions.items()})

    def roster(self, session_id: str) -> dict[str, Any] | None:
        """An auditor's roster: every servant the session has facts about, by pseudonymous id only."""
        session = self.sessions.get(session_id)
        if session is None:
            return None
        ledger, cutoff = self._ledger, self._cutoff
        standing = {c.servant_id: c.certificate_id for c in self.completions if c.session.session_id == session_id}
        # Revoked: a certificate issued and then revoked (a revocation of a certificate never issued is nothing).
        revoked = {servant for sid, servant, _, revocation, _ in self._resolved.values()
                   if sid == session_id and revocation is not None}
        entries = []
        for servant in sorted(ledger.participants.get(session_id, ())):
            if not self.known(servant, session.starts_at):
                continue  # held until the servant is known, like every other fact about them
            pair = (session_id, servant)
            enrolment = _latest(ledger.enrolments.get(pair, ()), cutoff)
            attendance = _latest(ledger.attendance.get(pair, ()), cutoff)
            assessment = _latest(ledger.assessments.get(pair, ()), cutoff)
            if not (enrolment or attendance or assessment or servant in standing or servant in revoked):
                continue
            who = self.who(servant, session.starts_at)
            entries.append({
                "servant_id": servant, "institution": who.institution_id, "government_level": who.government_level,
                "enrolment": enrolment.kind.removeprefix("enrolment_") if enrolment else None,
                "attendance": attendance.attributes["status"] if attendance else None,
                "share": attendance.attributes["share"] if attendance else None,
                "score": assessment.attributes["score"] if assessment else None,
                "certificate_id": standing.get(servant),
                "certificate_revoked": servant in revoked,
                "completed": servant in standing,
            })
        return {"session_id": session_id, "course_id": session.course_id, "course": session.course_title,
                "topic": session.topic, "modality": session.modality, "starts_at": session.starts_at.isoformat(),
                "local_date": session.day.isoformat(), "cancelled": session.cancelled,
                "delivered": bool(self.present.get(session_id)) and not session.cancelled,
                "organising_unit": session.organising_unit, "participants": entries}


def _empty_row() -> dict[str, Any]:
    return {m: 0 for m in MEASURES}


def _session_key(s: SessionView, by: str | None) -> str:
    if by is None:
        return "total"
    if by == "month":
        return f"{s.day:%Y-%m}"
    return s.topic if by == "topic" else s.modality


def _who_key(who: Who, by: str) -> str:
    return {"institution": who.institution_id, "government_level": who.government_level, "sex": who.sex}[by]


def _certificate_key(e: CertificateEvent, by: str | None) -> str:
    if by is None:
        return "total"
    if by == "month":
        return f"{e.day:%Y-%m}"
    if by == "topic":
        return e.topic
    if by == "modality":
        return e.session.modality if e.session else UNKNOWN
    return _who_key(e.who, by)



def coverage_rows(year: int, institutions: dict[str, Fact], headcounts: dict[str, list[Fact]],
                  trained: dict[str, int], cutoff: int) -> list[dict[str, Any]]:
    """``Snapshot.coverage``'s rows from the institutions known at the cut-off (their latest version and
    every headcount declaration known) and the distinct persons trained per institution in the year."""
    rows = []
    for iid, latest in institutions.items():
        declarations = headcounts[iid]
        same_year = [f for f in declarations if f.attributes["headcount_year"] == year]
        earlier = [f for f in declarations if f.attributes["headcount_year"] < year]
        declaration = _latest(same_year or earlier or declarations, cutoff)
        headcount = declaration.attributes["headcount"]
        count = trained.get(iid, 0)
        rows.append({"year": year, "institution": iid, "name": latest.attributes["name"],
                     "government_level": latest.attributes["government_level"],
                     "headcount": headcount, "headcount_year": declaration.attributes["headcount_year"],
                     "servants_trained": count, "coverage": round(count / headcount, 4)})
    rows.sort(key=lambda r: (r["coverage"], r["name"]))
    return rows


def _through(through_month: int | None) -> int:
    through = 12 if through_month is None else through_month
    if not 1 <= through <= 12:
        raise ValueError("through_month must be from 1 to 12")
    return through


PlanKey = tuple[int, str, str]  # a cell: month, institution id, topic


def plan_report(year: int, through_month: int | None, institution: str | None, plan: Fact | None,
                sessions: dict[PlanKey, int], trained: dict[PlanKey, int], hours: dict[PlanKey, float],
                names: dict[str, str]) -> dict[str, Any]:
    """``Snapshot.plan_against_actual``'s report (see there) from the plan in force and what was delivered
    per cell: distinct sessions, distinct persons trained, training hours."""
    through = _through(through_month)
    period = Period(date(year, 1, 1), Period.month(year, through).end)
    wanted = (lambda iid: True) if institution is None else (lambda iid: iid == institution)
    planned: dict[PlanKey, list[float]] = {}
    if plan is not None:
        for t in plan.attributes["targets"]:
            if t["month"] <= through and wanted(t["institution_id"]):
                row = planned.setdefault((t["month"], t["institution_id"], t["topic"]), [0, 0, 0.0])
                row[0] += t["sessions"]
                row[1] += t["people"]
                row[2] += t["hours"]
    month_label = f"{year}-{through:02d}"

    def cell(key: PlanKey) -> _PlanCell:
        return _PlanCell(planned.get(key), sessions.get(key, 0), trained.get(key, 0), hours.get(key, 0.0))

    months, by_pair, month_total, total = [], {}, _PlanCell(), _PlanCell()
    for key in sorted(planned):
        month, iid, topic = key
        found = cell(key)
        months.append(found.row(f"{year}-{month:02d}", iid, names.get(iid), topic))
        by_pair.setdefault((iid, topic), _PlanCell()).add(found)
        total.add(found)
        if month == through:
            month_total.add(found)
    outside, outside_month, outside_total = [], _PlanCell(), _PlanCell()
    for key in sorted((set(sessions) | set(trained)) - set(planned)):
        month, iid, topic = key
        found = cell(key)
        outside.append(found.delivered(f"{year}-{month:02d}", iid, names.get(iid), topic))
        outside_total.add(found)
        if month == through:
            outside_month.add(found)
    return {
        "year": year, "through_month": through, "period": period.label,
        "plan": None if plan is None else {
            "plan_id": plan.subject, "version": plan.attributes["version"],
            "declared_at": plan.attributes["declared_at"], "known_from": from_micros(plan.known_at).isoformat()},
        "months": months,
        "month_total": month_total.row(month_label, "total", None, "total"),
        "year_to_date": [found.row(period.label, iid, names.get(iid), topic)
                         for (iid, topic), found in sorted(by_pair.items())],
        "total": total.row(period.label, "total", None, "total"),
        "outside_plan": {
            "months": outside,
            "month_total": outside_month.delivered(month_label, "total", None, "total"),
            "total": outside_total.delivered(period.label, "total", None, "total"),
        },
    }


class _PlanCell:
    """Planned and delivered figures of one row of ``Snapshot.plan_against_actual``. A cell's are its
    distinct sessions and persons; a wider row (the month, year to date, the total) adds its cells,
    delivered figures as the planned ones, so attainment compares like with like (a person trained in two
    planned cells counts in each, as the plan's targets count them)."""

    __slots__ = ("planned", "sessions", "persons", "hours")

    def __init__(self, planned: list[float] | None = None, sessions: int = 0, persons: int = 0,
                 hours: float = 0.0) -> None:
        self.planned = list(planned) if planned else [0, 0, 0.0]
        self.sessions = sessions  # distinct sessions delivered in the cell
        self.persons = persons  # distinct persons trained in it
        self.hours = hours

    def add(self, other: "_PlanCell") -> None:
        self.planned = [a + b for a, b in zip(self.planned, other.planned)]
        self.sessions += other.sessions
        self.persons += other.persons
        self.hours += other.hours

    def delivered(self, period: str, institution: str, name: str | None, topic: str) -> dict[str, Any]:
        """The delivered figures only: a row of delivery outside the plan."""
        return {"period": period, "institution": institution, "name": name, "topic": topic,
                "sessions_delivered": self.sessions, "servants_trained": self.persons,
                "training_hours": round(self.hours, 2)}

    def row(self, period: str, institution: str, name: str | None, topic: str) -> dict[str, Any]:
        sessions, people, hours = self.planned
        actual = (self.sessions, self.persons, round(self.hours, 2))
        return {"period": period, "institution": institution, "name": name, "topic": topic,
                "planned_sessions": sessions, "planned_people": people, "planned_hours": round(hours, 2),
                "sessions_delivered": actual[0], "servants_trained": actual[1], "training_hours": actual[2],
                "sessions_attainment": attainment(actual[0], sessions),
                "people_attainment": attainment(actual[1], people),
                "hours_attainment": attainment(actual[2], hours)}


def attainment(actual: float, planned: float) -> float | None:
    """actual / planned, rounded to 4 places; None when nothing was planned (0)."""
    return round(actual / planned, 4) if planned else None

"""A snapshot: everything the ledger knew at a moment, resolved once and queried many times."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from contracts import compliance as rule
from contracts.attribution import Placement, Stamp, holding
from probidad.shared.errors import RuleViolation
from services.reporting.domain.facts import (
    DIMENSIONS, FOREVER, PRESENT, UNKNOWN, Fact, from_micros, latest_version, micros, revoked_on,
)
from services.reporting.domain.figures import checked_through, coverage_rows, empty_row, plan_report
from services.reporting.domain.ledger import Ledger
from services.reporting.domain.resolved import (
    NOBODY, CertificateEvent, CompletionView, Period, SessionView, Who,
)

_LAST_MOMENT = datetime.max.replace(tzinfo=UTC)
_MISSING: Any = object()


def _placement(version: Fact) -> Placement:
    """A servant's version as ``contracts.attribution`` reads it: stamped when it became known (rank 0, so
    the order is (known_at, event id), as ``VERSION_ORDER``); a transfer in force from its effective day."""
    a = version.attributes
    stamp = Stamp(from_micros(version.known_at), 0, version.event_id)
    if version.kind == "servant_transferred":
        return Placement(a["to_institution_id"], stamp, date.fromisoformat(a["effective_on"]),
                         a.get("from_institution_id"), source=version)
    return Placement(a["institution_id"], stamp, source=version)


@dataclass(slots=True)
class _Changes:
    """Keys with facts applied since a previous snapshot (see ``Snapshot._changes_since``)."""

    sessions: set[str] = field(default_factory=set)
    servants: set[str] = field(default_factory=set)
    certificates: set[str] = field(default_factory=set)


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
        self.reports: dict[tuple[Any, ...], Any] = {}  # answers kept while the snapshot is (compliance.report)
        self._days: dict[str, date] = {}  # issued_on text -> date: a few hundred distinct days
        self.institutions: dict[str, Fact] = {}
        self.headcounts: dict[str, list[Fact]] = {}
        for iid, facts in ledger.institutions.items():
            known = [f for f in facts if f.known_at <= cutoff]
            if known:
                latest = latest_version(known, cutoff)
                assert latest is not None  # every version in ``known`` is known at the cut-off
                self.institutions[iid] = latest
                self.headcounts[iid] = known
        self.courses = {cid: f for cid, fs in ledger.courses.items() if (f := latest_version(fs, cutoff))}
        changes = self._changes_since(previous)
        self.sessions: dict[str, SessionView] = {}
        kept = previous.sessions if previous is not None and changes is not None else {}
        for sid, facts in ledger.sessions.items():
            if changes is not None and sid not in changes.sessions:
                view = kept.get(sid)
            else:
                view = self._session(sid, facts)
            if view is not None:
                self.sessions[sid] = view
        self.present: dict[str, list[str]] = defaultdict(list)  # session -> servants present
        for (sid, servant), facts in ledger.attendance.items():
            latest = latest_version(facts, cutoff)
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
        self._certificates(previous._resolved if previous is not None and changes is not None else {},
                           changes or _Changes())

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
                changes.sessions.add(cast(str, fact.session_id))
            elif kind.startswith("servant"):
                changes.servants.add(cast(str, fact.servant_id))
            elif kind.startswith("certificate_"):
                changes.certificates.add(fact.subject)
        return changes

    def _session(self, sid: str, facts: list[Fact]) -> SessionView | None:
        cutoff = self._cutoff
        known = [f for f in facts if f.known_at <= cutoff]
        scheduled = latest_version([f for f in known if f.kind == "session_scheduled"], cutoff)
        if scheduled is None:
            return None
        timing = latest_version([f for f in known if f.kind != "session_cancelled"], cutoff)
        assert timing is not None  # the scheduling itself is one
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
            return cast("list[Placement] | None", found)
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
                return cast(str, person)
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
        key = (attributes["to_institution_id"] if version.kind == "servant_transferred"
               else attributes["institution_id"], attributes["sex"])
        who = self._whos.get(key)
        if who is None:
            iid, sex = key
            institution = self.institutions.get(iid)
            who = self._whos[key] = (NOBODY if institution is None else  # an institution not known yet
                                     Who(iid, institution.attributes["name"],
                                         institution.attributes["government_level"], sex))
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
            issued = latest_version([f for f in facts if f.kind == "certificate_issued"], cutoff)
            revoked = latest_version([f for f in facts if f.kind == "certificate_revoked"], cutoff)
        reference = issued or revoked
        if reference is None:
            return None
        # a certificate's facts name its session and servant
        session_id, servant_id = cast(str, reference.session_id), cast(str, reference.servant_id)
        session = self.sessions.get(session_id)
        held: _Resolution = (session_id, servant_id, None, None, None)
        if issued is None or session is None or not self.attributable(session):
            return held  # a revocation of nothing, or a session not known yet: nothing counts
        who = self.who(servant_id, session.starts_at)
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
            completion = CompletionView(cast(str, issued.servant_id), session, who, certificate_id,
                                        float(issued.attributes["hours"]))
        return session_id, servant_id, issue, revocation, completion

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
            raise RuleViolation("by", f"must be one of {', '.join(DIMENSIONS)}")
        rows: dict[str, dict[str, Any]] = defaultdict(empty_row)
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
                keys = {_who_key(w, by) for w in (
                    whos if institution is not None else
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
            total = rows["total"] if rows else empty_row()
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
        through = checked_through(through_month)
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
            enrolment = latest_version(ledger.enrolments.get(pair, ()), cutoff)
            attendance = latest_version(ledger.attendance.get(pair, ()), cutoff)
            assessment = latest_version(ledger.assessments.get(pair, ()), cutoff)
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

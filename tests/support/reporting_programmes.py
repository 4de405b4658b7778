"""Fact lists for reporting's differential tests: the generator's programmes, and perturbations of them.

Two programmes come from ``probidad.ops.programme``:

* ``generated_facts`` — the bulletin's year (``generate(scaled_plan(...))``): enrolments, attendance with
  corrections, grades, certificates and revocations, rescheduled, cancelled and unattended sessions,
  servants who move by an update;
* ``demo_facts`` — the demo's twelve months (``demo_programme``), which spans two calendar years and has
  the oversight layer the bulletin's year lacks: joining days, departures, transfers recorded after the
  day they took effect, requirements, exemptions (one withdrawn) and a plan per year (two versions of
  the last one). The demo is loaded through the services' HTTP and Kafka interfaces, so it has no
  envelopes of its own; ``demo_envelopes`` publishes what those services would.

Every perturbation is a pure function of the facts and a seed, so a failing case can be replayed.
They are the situations the reference ``Ledger`` is built to resolve the same whatever the order:
arrival order, redelivery, facts known late (held facts naming entities not known yet), new versions
(corrections, updates, reschedules, re-publications), revocations both void and from a date on either
side of the certificate's day, transfers recorded after they took effect, and facts naming entities
never known at all.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from contracts.envelope import Envelope, seal
from contracts.events import (
    AssessmentGraded, AttendanceRecorded, CertificateIssued, CertificateRevoked, CoursePublished, DueRule,
    EnrolmentConfirmed, Event, ExemptionGranted, ExemptionWithdrawn, InstitutionRegistered, PlanTarget,
    RequirementScope, ServantLeft, ServantRegistered, ServantTransferred, ServantUpdated, SessionCancelled,
    SessionRescheduled, SessionScheduled, TrainingPlanDeclared, TrainingRequirementDeclared,
)
from probidad.ops.programme import DemoProgramme, completes, demo_programme, generate, scaled_plan
from services.reporting.domain.facts import Fact, fact_from, from_micros, micros

ZONE = ZoneInfo("America/Mexico_City")
# The demo is planned on a fixed day, so its months (December 2025 - November 2026) never move.
DEMO_PLANNED_ON = datetime(2026, 12, 10, 9, 0, tzinfo=ZONE)
HOUR = 3_600_000_000  # µs
DAY = 24 * HOUR


def facts_of(envelopes: Iterable[Envelope]) -> list[Fact]:
    """The facts reporting keeps, as its consumer reduces the envelopes."""
    return [fact for envelope in envelopes if (fact := fact_from(envelope)) is not None]


def generated_facts(scale: float, *, seed: int = 2026, correct_every: int = 0) -> list[Fact]:
    """The bulletin's year scaled by ``scale`` (servants and sessions), drawn from ``seed``."""
    return facts_of(generate(scaled_plan(scale, seed=seed, correct_every=correct_every)).envelopes)


def demo_facts(seed: int, scale: float) -> list[Fact]:
    return facts_of(demo_envelopes(demo_programme(seed=seed, scale=scale, now=DEMO_PLANNED_ON)))


def servant_id(key: str) -> str:
    return f"sv-{key}"


class _Publisher:
    """Seals events with ids drawn from the programme's seed, so two runs publish identical envelopes."""

    def __init__(self, name: str) -> None:
        self.namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"probidad-differential-{name}")
        self.count = 0
        self.out: list[Envelope] = []

    def __call__(self, event: Event, at: datetime) -> None:
        self.count += 1
        self.out.append(seal(event, event_id=str(uuid.uuid5(self.namespace, str(self.count))), time=at))


def _add_months(day: date, months: int) -> date:
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    return date(year, month + 1, min(day.day, 28))


def demo_envelopes(p: DemoProgramme) -> list[Envelope]:
    """What the services publish while the demo loads: the catalogue and people first, each session's
    enrolments, attendance, grades and certificates around it, then the oversight layer."""
    zone = ZoneInfo(p.timezone)
    rng = random.Random(len(p.servants) * 31 + len(p.sessions))
    emit = _Publisher(f"demo-{len(p.servants)}-{p.months[0]}-{p.sessions[0].session_id}")
    opening = datetime.combine(p.first_day - timedelta(days=40), time(9), zone)
    for year in p.years:
        known = opening if year == p.years[0] else datetime(year, 1, 2, 9, tzinfo=zone)
        for n, i in enumerate(p.institutions):
            emit(InstitutionRegistered(institution_id=i.institution_id, name=i.name,
                                       government_level=i.government_level,
                                       municipality=i.municipality, headcount=i.headcount + (year - p.years[0]) * n,
                                       headcount_year=year), known + timedelta(seconds=n))
    for c in p.courses:
        emit(CoursePublished(course_id=c.course_id, code=c.code, title=c.title, topic=c.title, competency=c.competency,
                             hours=c.hours, minimum_attendance_share=c.minimum_attendance_share,
                             passing_score=c.passing_score, validity_months=c.validity_months), opening)
    for r in p.requirements:
        emit(TrainingRequirementDeclared(
            requirement_id=r.requirement_id, version=1, effective_from=p.first_day, title=r.title,
            course_id=p.course(r.course_code).course_id,
            scope=RequirementScope(position_levels=list(r.position_levels) if r.position_levels else None,
                                   government_level=r.government_level),
            due=DueRule(**r.due), declared_at=opening, declared_by="comptroller:demo"), opening)
    for n, s in enumerate(p.servants):
        joined = p.joined_on.get(s.key)
        at = (datetime.combine(joined, time(8), zone) if joined and joined >= p.first_day
              else opening + timedelta(days=1, seconds=n))
        emit(ServantRegistered(servant_id=servant_id(s.key), institution_id=s.institution_id, sex=s.sex,
                               position_level=s.position_level, person_id=f"person-{s.curp}", joined_on=joined,
                               position_digest=hashlib.sha256(s.position.encode()).hexdigest()), at)
    for s in p.sessions:
        minutes = s.session_minutes
        scheduled = min(s.starts_at - timedelta(days=20), opening + timedelta(days=2))
        emit(SessionScheduled(session_id=s.session_id, course_id=s.course.course_id, modality=s.modality,
                              platform="Zoom" if s.modality != "in_person" else None,
                              venue=None if s.modality == "virtual" else "Sala 1",
                              starts_at=s.starts_at, ends_at=s.ends_at, timezone=p.timezone, capacity=s.capacity,
                              instructor_id=s.instructor_id, organising_unit="UEIPCI"), scheduled)
        if s.cancelled:
            emit(SessionCancelled(session_id=s.session_id, reason="sin quórum"), s.starts_at - timedelta(days=3))
            continue
        for n, key in enumerate(s.enrolled):
            emit(EnrolmentConfirmed(enrolment_id=f"en-{s.session_id}-{key}", session_id=s.session_id,
                                    servant_id=servant_id(key),
                                    institution_id=p.institution_of(key, s.starts_at.date())),
                 s.starts_at - timedelta(days=7, seconds=-n))
        closed = s.ends_at + timedelta(hours=1)
        for n, key in enumerate(s.enrolled):
            present = s.minutes.get(key, 0)
            share = min(1.0, round(present / minutes, 4))
            status = "absent" if present == 0 else ("late" if rng.random() < 0.05 else "present")
            emit(AttendanceRecorded(session_id=s.session_id, servant_id=servant_id(key), minutes_present=present,
                                    session_minutes=minutes, share=share, status=status, source_of_record="zoom"),
                 closed + timedelta(seconds=n))
            if key in s.scores:
                emit(AssessmentGraded(session_id=s.session_id, servant_id=servant_id(key), score=s.scores[key]),
                     closed + timedelta(hours=1, seconds=n))
        day = s.starts_at.astimezone(zone).date()
        for n, key in enumerate(k for k in s.enrolled if completes(s, k)):
            validity = s.course.validity_months
            emit(CertificateIssued(certificate_id=f"ce-{s.session_id}-{key}", verification_code=f"V{n:07d}",
                                   servant_id=servant_id(key), course_id=s.course.course_id, session_id=s.session_id,
                                   hours=s.course.hours, score=s.scores.get(key), issued_on=day,
                                   issuing_authority="Contraloría",
                                   valid_until=_add_months(day, validity) if validity else None),
                 closed + timedelta(days=1, seconds=n))
    for key, left_on in sorted(p.departures.items()):
        emit(ServantLeft(servant_id=servant_id(key), institution_id=p.institution_of(key, left_on - timedelta(days=1)),
                         left_on=left_on, recorded_by="comptroller:demo"),
             datetime.combine(left_on + timedelta(days=1), time(10), zone))
    for n, move in enumerate(p.moves):
        recorded = datetime.combine(move.effective_on + timedelta(days=n % 12), time(12), zone)
        servant = p.servant(move.key)
        emit(ServantTransferred(servant_id=servant_id(move.key), transfer_id=f"tr-{n}",
                                from_institution_id=p.institution_of(move.key, move.effective_on - timedelta(days=1)),
                                to_institution_id=move.to_institution_id, effective_on=move.effective_on,
                                sex=servant.sex,
                                position_level=servant.position_level, requested_by="comptroller",
                                approved_by="comptroller", approved_at=recorded.astimezone(UTC)), recorded)
    for n, e in enumerate(p.exemptions):
        granted = datetime.combine(e.effective_from, time(11), zone)
        emit(ExemptionGranted(exemption_id=f"ex-{n}", requirement_id=e.requirement_id, servant_id=servant_id(e.key),
                              reason=e.reason, effective_from=e.effective_from, granted_by="comptroller:demo",
                              granted_at=granted.astimezone(UTC)), granted)
        if n == 0:  # the first one is withdrawn half-way through the programme
            withdrawn_on = p.first_day + (p.last_day - p.first_day) / 2
            emit(ExemptionWithdrawn(exemption_id=f"ex-{n}", requirement_id=e.requirement_id,
                                    servant_id=servant_id(e.key),
                                    withdrawn_on=withdrawn_on, withdrawn_by="comptroller:demo"),
                 datetime.combine(withdrawn_on, time(11), zone))
    years = sorted(p.plan_targets)
    for year in years:
        declared = max(opening, datetime(year, 1, 1, 8, tzinfo=zone) - timedelta(days=20))
        targets = [PlanTarget(**t) for t in p.plan_targets[year]]
        emit(TrainingPlanDeclared(plan_id=f"plan-{year}-1", year=year, version=1, declared_at=declared.astimezone(UTC),
                                  declared_by="comptroller:demo", targets=targets), declared)
        if year == years[-1]:  # revised mid-year: a few more people wanted in the first cells
            revised = datetime(year, 6, 15, 12, tzinfo=zone)
            more = [t.model_copy(update={"people": t.people + 2 * (n % 2)}) for n, t in enumerate(targets)]
            emit(TrainingPlanDeclared(plan_id=f"plan-{year}-2", year=year, version=2,
                                      declared_at=revised.astimezone(UTC),
                                      declared_by="comptroller:demo", targets=more), revised)
    return emit.out


# ---------------------------------------------------------------- perturbations


Perturbation = Callable[[list[Fact], int], list[Fact]]


def _fact(event: Event, at: int, event_id: str) -> Fact:
    fact = fact_from(seal(event, event_id=event_id, time=from_micros(at)))
    assert fact is not None
    return fact


def _ids(seed: int, name: str) -> Callable[[], str]:
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"probidad-perturbation-{name}-{seed}")
    count = iter(range(1, 10**9))
    return lambda: str(uuid.uuid5(namespace, str(next(count))))


def _by_kind(facts: list[Fact], *kinds: str) -> list[Fact]:
    return sorted((f for f in facts if f.kind in kinds), key=lambda f: (f.known_at, f.event_id))


def shuffled(facts: list[Fact], seed: int) -> list[Fact]:
    """The same facts in another arrival order."""
    out = list(facts)
    random.Random(seed).shuffle(out)
    return out


def redelivered(facts: list[Fact], seed: int) -> list[Fact]:
    """About a tenth of the facts delivered a second time (same event id), anywhere in the stream."""
    rng = random.Random(seed)
    out = list(facts) + [f for f in facts if rng.random() < 0.1]
    rng.shuffle(out)
    return out


def known_late(facts: list[Fact], seed: int) -> list[Fact]:
    """Some sessions, courses, servants and an institution become known only after the facts naming
    them (days to months late): reporting holds those facts until then."""
    rng = random.Random(seed)
    latest = max(f.known_at for f in facts)
    entities = _by_kind(facts, "session_scheduled", "course", "servant", "institution")
    chosen = [f for f in entities if rng.random() < 0.15]
    institutions = _by_kind(facts, "institution")
    if institutions:
        chosen.append(rng.choice(institutions))
    # One delay per event, so a fact delivered twice is delivered late the same way both times.
    known_at = {f.event_id: min(latest, f.known_at + rng.randint(1, 200) * DAY) + rng.randint(0, HOUR) for f in chosen}
    return [replace(f, known_at=known_at[f.event_id]) if f.event_id in known_at else f for f in facts]


def corrected(facts: list[Fact], seed: int) -> list[Fact]:
    """Later versions of what was known: attendance corrected both ways, servants updated to another
    institution or sex, sessions rescheduled (some into another month or year), a course re-published
    under another topic, an institution re-registered with a new name and headcount — and versions
    known at the very same instant, which the event id orders."""
    rng, new_id = random.Random(seed), _ids(seed, "corrected")
    out = list(facts)
    institutions = sorted({f.subject for f in facts if f.kind == "institution"})
    for f in _by_kind(facts, "attendance"):
        if rng.random() < 0.06:
            a = dict(f.attributes)
            present = a["status"] in ("present", "late")
            a.update(status="absent" if present else "present", share=0.0 if present else 1.0)
            same_instant = rng.random() < 0.2
            out.append(replace(f, event_id=new_id(), attributes=a,
                               known_at=f.known_at if same_instant else f.known_at + rng.randint(1, 90) * HOUR))
    for f in _by_kind(facts, "servant"):
        if rng.random() < 0.05 and institutions:
            a = dict(f.attributes)
            a.update(institution_id=rng.choice(institutions), sex=rng.choice(("female", "male", "non_binary")))
            out.append(replace(f, event_id=new_id(), attributes=a, known_at=f.known_at + rng.randint(1, 120) * DAY))
    for f in _by_kind(facts, "session_scheduled"):
        if rng.random() < 0.12:
            a = f.attributes
            shift = timedelta(days=rng.choice((-40, -3, 2, 35, 300)), hours=rng.choice((0, 13)))
            starts, ends = (datetime.fromisoformat(a["starts_at"]) + shift,
                            datetime.fromisoformat(a["ends_at"]) + shift)
            event = SessionRescheduled(session_id=f.session_id, starts_at=starts, ends_at=ends, timezone=ZONE.key)
            out.append(_fact(event, f.known_at + rng.randint(1, 30) * DAY, new_id()))
    for f in _by_kind(facts, "course")[:1]:
        out.append(replace(f, event_id=new_id(), known_at=f.known_at + 100 * DAY,
                           attributes={**f.attributes, "topic": "Tema corregido", "title": "Título corregido"}))
    for f in _by_kind(facts, "institution")[-1:]:
        out.append(replace(f, event_id=new_id(), known_at=f.known_at + 60 * DAY,
                           attributes={**f.attributes, "name": "Nombre corregido",
                                       "headcount": f.attributes["headcount"] + 17}))
    return out


def revoked(facts: list[Fact], seed: int) -> list[Fact]:
    """Revocations of issued certificates: void, from a date before, on and after the certificate's day,
    from a date without one, with neither (older events); some known before the certificate itself,
    some certificates revoked twice; and a revocation of a certificate never issued."""
    rng, new_id = random.Random(seed), _ids(seed, "revoked")
    out = list(facts)
    revocations = [("void", 0), ("from_date", -5), ("from_date", 0), ("from_date", 1), ("from_date", 40),
                   ("from_date", None), (None, None)]
    issued = _by_kind(facts, "certificate_issued")
    for n, f in enumerate(c for c in issued if rng.random() < 0.08):
        applies, offset = revocations[n % len(revocations)]
        day = date.fromisoformat(f.attributes["issued_on"])
        when = f.known_at + rng.choice((-2 * DAY, 3 * HOUR, 20 * DAY, 150 * DAY))
        event = CertificateRevoked(certificate_id=f.subject, verification_code="REVOKED1", servant_id=f.servant_id,
                                   course_id=f.attributes["course_id"], session_id=f.session_id, reason="corrección",
                                   applies=applies,
                                   effective_on=day + timedelta(days=offset) if offset is not None else None)
        out.append(_fact(event, when, new_id()))
        if n % 5 == 4:  # revoked again later, the other way
            again = event.model_copy(update={"applies": "void" if applies != "void" else "from_date",
                                             "effective_on": day + timedelta(days=10)})
            out.append(_fact(again, when + 30 * DAY, new_id()))
    if issued:
        f = rng.choice(issued)
        out.append(_fact(CertificateRevoked(certificate_id="ce-never-issued", verification_code="REVOKED2",
                                            servant_id=f.servant_id, course_id=f.attributes["course_id"],
                                            session_id=f.session_id, reason="error", applies="void"),
                         f.known_at, new_id()))
    return out


def transferred(facts: list[Fact], seed: int) -> list[Fact]:
    """Servants transferred to another institution, recorded days to months after the day it took
    effect (one recorded before it takes effect), some of them then updated by enrollment."""
    rng, new_id = random.Random(seed), _ids(seed, "transferred")
    out = list(facts)
    institutions = sorted({f.subject for f in facts if f.kind == "institution"})
    sessions = {f.session_id: f for f in facts if f.kind == "session_scheduled"}
    attended = _by_kind(facts, "attendance")
    if len(institutions) < 2:
        return out
    for n, f in enumerate(a for a in attended if rng.random() < 0.03):
        registered = [s for s in facts if s.kind == "servant" and s.servant_id == f.servant_id]
        session = sessions.get(f.session_id)
        if not registered or session is None:
            continue
        starts = datetime.fromisoformat(session.attributes["starts_at"]).astimezone(ZONE)
        effective_on = starts.date() + timedelta(days=rng.choice((-20, -1, 0, 1, 15)))
        recorded = micros(datetime.combine(effective_on, time(10), ZONE)) + rng.choice((-3, 2, 30, 90)) * DAY
        first = registered[0].attributes
        target = rng.choice([i for i in institutions if i != first["institution_id"]])
        event = ServantTransferred(servant_id=f.servant_id, transfer_id=f"tr-{seed}-{n}",
                                   from_institution_id=first["institution_id"], to_institution_id=target,
                                   effective_on=effective_on, sex=first["sex"],
                                   position_level=first.get("position_level"),
                                   requested_by="comptroller", approved_by="comptroller",
                                   approved_at=from_micros(recorded))
        out.append(_fact(event, recorded, new_id()))
        if n % 3 == 2:  # enrollment published an update meanwhile, back to the first institution
            out.append(_fact(ServantUpdated(servant_id=f.servant_id, institution_id=first["institution_id"],
                                            sex=first["sex"],
                                            position_level=first.get("position_level"),
                                            person_id=first.get("person_id")),
                             recorded - DAY, new_id()))
    return out


def never_known(facts: list[Fact], seed: int) -> list[Fact]:
    """Facts naming an institution, course, session or servant reporting never hears of: a servant of
    an unknown institution who attends and is certified, a session of an unknown course, attendance
    and a certificate for an unknown session, an enrolment and attendance of an unknown servant, a
    transfer to an unknown institution, a departure and an exemption of unknown servants."""
    rng, new_id = random.Random(seed), _ids(seed, "never-known")
    out = list(facts)
    sessions = _by_kind(facts, "session_scheduled")
    certificates = _by_kind(facts, "certificate_issued")
    servants = _by_kind(facts, "servant")
    if not (sessions and certificates and servants):
        return out
    session, certificate, servant = rng.choice(sessions), rng.choice(certificates), rng.choice(servants)
    at = session.known_at + DAY
    a = session.attributes
    out.append(_fact(ServantRegistered(servant_id="sv-ghost-institution", institution_id="inst-never-known",
                                       sex="female", person_id="person-ghost"), at, new_id()))
    out.append(_fact(SessionScheduled(session_id="S-ghost-course", course_id="course-never-known", modality="virtual",
                                      starts_at=a["starts_at"], ends_at=a["ends_at"], timezone=ZONE.key, capacity=10),
                     at, new_id()))
    for sid, who in ((session.session_id, "sv-ghost-institution"), ("S-ghost-course", servant.servant_id),
                     ("S-never-known", servant.servant_id), (session.session_id, "sv-never-known")):
        out.append(_fact(EnrolmentConfirmed(enrolment_id=new_id(), session_id=sid, servant_id=who,
                                            institution_id="inst-never-known"), at, new_id()))
        out.append(_fact(AttendanceRecorded(session_id=sid, servant_id=who, minutes_present=60, session_minutes=60,
                                            share=1.0, status="present", source_of_record="zoom"), at + HOUR, new_id()))
        out.append(_fact(CertificateIssued(certificate_id=f"ce-{sid}-{who}", verification_code="GHOST123",
                                           servant_id=who,
                                           course_id=certificate.attributes["course_id"], session_id=sid, hours=2,
                                           issued_on=date.fromisoformat(certificate.attributes["issued_on"]),
                                           issuing_authority="Contraloría"), at + 2 * HOUR, new_id()))
    out.append(_fact(ServantTransferred(servant_id=servant.servant_id, transfer_id="tr-ghost",
                                        from_institution_id=servant.attributes["institution_id"],
                                        to_institution_id="inst-never-known",
                                        effective_on=from_micros(at).astimezone(ZONE).date(),
                                        sex=servant.attributes["sex"], requested_by="comptroller",
                                        approved_by="comptroller", approved_at=from_micros(at)), at, new_id()))
    out.append(_fact(ServantLeft(servant_id="sv-never-known", institution_id="inst-never-known",
                                 left_on=date(2026, 5, 1), recorded_by="comptroller:x"), at, new_id()))
    out.append(_fact(ExemptionGranted(exemption_id="ex-ghost", requirement_id="req-never-known",
                                      servant_id="sv-never-known",
                                      reason="x", effective_from=date(2026, 1, 1), granted_by="comptroller:x",
                                      granted_at=from_micros(at)), at, new_id()))
    return out


def second_posts(facts: list[Fact], seed: int) -> list[Fact]:
    """A few people who hold two posts (one CURP, two servant ids in two institutions), certified in
    both: "distinct servants trained" counts each of them once."""
    rng, new_id = random.Random(seed), _ids(seed, "second-posts")
    out = list(facts)
    institutions = sorted({f.subject for f in facts if f.kind == "institution"})
    servants = {f.servant_id: f for f in _by_kind(facts, "servant")}
    certified = [f for f in _by_kind(facts, "certificate_issued") if f.servant_id in servants]
    for n, c in enumerate(c for c in certified if rng.random() < 0.02):
        first = servants[c.servant_id].attributes
        person = first.get("person_id") or f"person-{c.servant_id}"
        twin = f"{c.servant_id}-post2"
        other = rng.choice([i for i in institutions if i != first["institution_id"]] or institutions)
        if n % 2 == 0 and not first.get("person_id"):  # the first post gets its person id by an update
            out.append(_fact(ServantUpdated(servant_id=c.servant_id, institution_id=first["institution_id"],
                                            sex=first["sex"], person_id=person), c.known_at - HOUR, new_id()))
        out.append(_fact(ServantRegistered(servant_id=twin, institution_id=other, sex=first["sex"], person_id=person),
                         servants[c.servant_id].known_at, new_id()))
        out.append(_fact(AttendanceRecorded(session_id=c.session_id, servant_id=twin, minutes_present=60,
                                            session_minutes=60, share=1.0, status="present", source_of_record="zoom"),
                         c.known_at - HOUR, new_id()))
        out.append(replace(c, event_id=new_id(), subject=f"{c.subject}-post2", servant_id=twin))
    return out


def plans_revised(facts: list[Fact], seed: int) -> list[Fact]:
    """The year's plan declared, then a higher version, then the same version number re-declared, and a
    lower version recorded last (the highest version known is the one in force)."""
    rng, new_id = random.Random(seed), _ids(seed, "plans")
    out = list(facts)
    institutions = sorted({f.subject for f in facts if f.kind == "institution"})
    topics = sorted({f.attributes["topic"] for f in facts if f.kind == "course"})
    years = sorted({datetime.fromisoformat(f.attributes["starts_at"]).astimezone(ZONE).year
                    for f in facts if f.kind == "session_scheduled"})
    if not (institutions and topics and years):
        return out
    for year in years:
        start = micros(datetime(year, 1, 1, tzinfo=ZONE))
        for version, at in ((1, start - 10 * DAY), (3, start + 120 * DAY), (3, start + 150 * DAY),
                            (2, start + 200 * DAY)):
            targets = [PlanTarget(month=rng.randint(1, 12), institution_id=rng.choice(institutions),
                                  topic=rng.choice(topics),
                                  sessions=rng.randint(0, 4), people=rng.randint(0, 30), hours=rng.randint(0, 60) / 2)
                       for _ in range(12)]
            cells = {(t.month, t.institution_id, t.topic): t for t in targets}  # at most one target per cell
            out.append(_fact(TrainingPlanDeclared(plan_id=f"plan-{year}-v{version}-{at}", year=year, version=version,
                                                  declared_at=from_micros(at), declared_by="comptroller:x",
                                                  targets=list(cells.values())), at, new_id()))
    return out


# In the order ``perturbed`` applies them: redelivery last, so a duplicate is a copy of the final fact.
PERTURBATIONS: dict[str, Perturbation] = {
    "known_late": known_late,
    "corrected": corrected,
    "revoked": revoked,
    "transferred": transferred,
    "never_known": never_known,
    "second_posts": second_posts,
    "plans_revised": plans_revised,
    "redelivered": redelivered,
}


def perturbed(facts: list[Fact], seed: int, names: Iterable[str] = tuple(PERTURBATIONS)) -> list[Fact]:
    """Every named perturbation in turn, each drawn from its own seed; the order they arrive in shuffled last."""
    for n, name in enumerate(names):
        facts = PERTURBATIONS[name](facts, seed * 101 + n)
    return shuffled(facts, seed)

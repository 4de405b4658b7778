"""The one programme generator: a deterministic, realistic year of a state comptroller's
integrity-training programme, for the tests, the benchmarks and the demo.

A ``ProgrammePlan`` fixes what the programme's bulletin will say (``bulletin_plan``, ``small_plan``,
``scaled_plan``); ``generate(plan)`` plays the year the way enrollment, attendance and certification
would record it, as the contract events the platform emits: institutions (state and municipal, with
headcounts), the course catalogue (integrity topics), virtual and in-person sessions month by month,
servants, enrolments, attendance, evaluations and certificates — plus what real programmes also
contain: cancelled sessions, sessions nobody attended, absentees, partial attendance, failed
evaluations, revoked certificates, rescheduled sessions, servants who move to another institution, and
sessions late in the evening of a month's last day (already the next month in UTC).

The plan's figures are the truth the platform must reproduce: per month, the sessions delivered and
the distinct servants trained; over the plan's months, the distinct servants trained. The generator
also returns its ground truth (``completions``, ``delivered``) so tests can compute any other expected
figure independently of the code under test.

The demo's plan (``demo_programme``) is drawn from a seed over the twelve full months before today
instead, with the people, rosters, minutes and scores that ``probidad.ops.demo`` loads through the
public interfaces; ``expected_figures`` computes its figures straight from the plan. It keeps its own
draw so that the demo's figures stay what they were.
"""

from __future__ import annotations

import calendar
import random
import unicodedata
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from contracts.base import Event
from contracts.envelope import Envelope, seal
from contracts.events import (
    AssessmentGraded, AttendanceCorrected, AttendanceRecorded, CertificateIssued, CertificateRevoked, CoursePublished,
    EnrolmentConfirmed, InstitutionRegistered, ServantRegistered, ServantUpdated, SessionCancelled,
    SessionClosed, SessionRescheduled, SessionScheduled,
)
from probidad.ops.curp import curp_for

ISSUER = "Secretaría de la Contraloría del Estado"
UNIT = "Unidad de Ética, Integridad y Prevención de Conflictos de Interés"

# Topics of the two comptroller bulletins the platform must be able to reproduce.
COURSES = (
    ("CE-01", "Código de Ética", "Código de Ética", 3.0, 70.0),
    ("CI-01", "Conflicto de Interés", "Conflicto de Interés", 4.0, 70.0),
    ("PC-01", "Prevención de Actos de Corrupción", "Prevención de Actos de Corrupción", 4.0, None),
    ("RA-01", "Responsabilidades Administrativas por incumplimiento al Código de Ética",
     "Responsabilidades Administrativas", 3.0, 80.0),
    ("EP-01", "Ética Pública y Modelo de Gestión", "Ética Pública y Modelo de Gestión", 2.0, None),
    ("EV-01", "Ética Basada en Valores", "Ética Basada en Valores", 2.0, None),
    ("TA-01", "Transparencia, Acceso a la Información y Protección de Datos Personales",
     "Transparencia y Acceso a la Información", 3.0, 70.0),
    ("OT-01", "Obligaciones de Transparencia y su publicación en el portal", "Obligaciones de Transparencia",
        2.0, None),
)

STATE_INSTITUTIONS = (
    ("Secretaría de Finanzas y Planeación", 1900), ("Secretaría de Educación", 4200),
    ("Secretaría de Salud", 3100), ("Secretaría de Seguridad Ciudadana", 2600),
    ("Secretaría de la Contraloría", 420), ("Secretaría de Obras Públicas", 780),
    ("Secretaría de Desarrollo Social", 650), ("Fiscalía General del Estado", 1500),
    ("Instituto de Transparencia", 160), ("Comisión Estatal del Agua", 540),
    ("Secretaría de Turismo", 310), ("Instituto de la Mujer", 140),
)
MUNICIPAL_INSTITUTIONS = (
    ("Ayuntamiento de Benito Juárez", "Benito Juárez", 2300),
    ("Ayuntamiento de Othón P. Blanco", "Othón P. Blanco", 1200),
    ("Ayuntamiento de Solidaridad", "Solidaridad", 1400), ("Ayuntamiento de Cozumel", "Cozumel", 520),
    ("Ayuntamiento de Felipe Carrillo Puerto", "Felipe Carrillo Puerto", 380), ("Ayuntamiento de Tulum", "Tulum", 450),
    ("Ayuntamiento de Bacalar", "Bacalar", 260), ("Ayuntamiento de Isla Mujeres", "Isla Mujeres", 300),
)
SEXES = ("female", "male", "female", "male", "female", "male", "non_binary", "undisclosed")
PLATFORMS = ("Zoom", "Microsoft Teams", "Google Meet")


@dataclass(frozen=True)
class MonthPlan:
    sessions_delivered: int
    servants_trained: int


@dataclass(frozen=True)
class ProgrammePlan:
    """What the programme's bulletin will say; everything else is drawn from ``seed``."""

    months: dict[int, MonthPlan]
    distinct_trained: int
    year: int = 2026
    timezone: str = "America/Mexico_City"
    virtual_only_months: frozenset[int] = frozenset({11})
    never_trained: int = 120
    repeat_completions_per_month: int = 2
    movers: int = 6
    after_window_sessions: int = 2
    seed: int = 2026
    # Every this many-th participant's attendance is corrected later the same day (to the whole
    # session: completions stay as they were); 0, the default, corrects none.
    correct_every: int = 0

    def __post_init__(self) -> None:
        trained = [m.servants_trained for m in self.months.values()]
        if max(trained) > self.distinct_trained or sum(trained) < self.distinct_trained:
            raise ValueError("each month must train at most, and all months together at least, distinct_trained")
        if any(m.sessions_delivered < 1 or m.servants_trained < m.sessions_delivered for m in self.months.values()):
            raise ValueError("every month needs at least one servant per delivered session")

    @property
    def servants(self) -> int:
        """Servants registered: those the plan trains and those who enrol but never complete."""
        return self.distinct_trained + self.never_trained

    @property
    def sessions(self) -> int:
        """Sessions delivered over the plan's months."""
        return sum(m.sessions_delivered for m in self.months.values())


def bulletin_plan(**overrides: Any) -> ProgrammePlan:
    """The Quintana Roo bulletin: November 11 sessions and 180 servants (virtual); 2,533 distinct Jan–Nov."""
    monthly = {1: (12, 260), 2: (13, 280), 3: (14, 300), 4: (10, 250), 5: (13, 270), 6: (11, 240),
               7: (8, 200), 8: (12, 260), 9: (13, 280), 10: (14, 290), 11: (11, 180)}
    values = dict(months={m: MonthPlan(s, t) for m, (s, t) in monthly.items()}, distinct_trained=2533)
    values.update(overrides)
    return ProgrammePlan(**values)


def scaled_plan(scale: float, *, sessions_scale: float | None = None, **overrides: Any) -> ProgrammePlan:
    """The bulletin's year for a bigger (or smaller) state: every servant figure times ``scale``, every
    month's sessions delivered times ``sessions_scale`` (default ``scale``), each month keeping its share."""
    base = bulletin_plan()
    sessions_scale = scale if sessions_scale is None else sessions_scale
    months = {}
    for month, figures in base.months.items():
        sessions = max(1, round(figures.sessions_delivered * sessions_scale))
        months[month] = MonthPlan(sessions, max(sessions, round(figures.servants_trained * scale)))
    trained = [m.servants_trained for m in months.values()]
    values = dict(months=months,
                  distinct_trained=min(sum(trained), max(max(trained), round(base.distinct_trained * scale))),
                  never_trained=round(base.never_trained * scale), movers=round(base.movers * scale))
    values.update(overrides)
    return ProgrammePlan(**values)


def small_plan(**overrides: Any) -> ProgrammePlan:
    """A few months of a small programme: quick enough to push through a real consumer per event."""
    values = dict(months={9: MonthPlan(3, 14), 10: MonthPlan(2, 10), 11: MonthPlan(3, 12)}, distinct_trained=30,
                  never_trained=10, movers=2, after_window_sessions=1, repeat_completions_per_month=1)
    values.update(overrides)
    return ProgrammePlan(**values)


@dataclass(frozen=True)
class Completion:
    """Ground truth: a servant completed a session (a standing certificate)."""

    servant_id: str
    session_id: str
    course_id: str
    certificate_id: str
    month: int
    year: int
    institution_id: str
    government_level: str
    sex: str
    topic: str
    modality: str
    hours: float
    issued_at: datetime


@dataclass(frozen=True)
class DeliveredSession:
    session_id: str
    course_id: str
    topic: str
    modality: str
    year: int
    month: int
    starts_at: datetime
    first_present_at: datetime


@dataclass
class Programme:
    plan: ProgrammePlan
    envelopes: list[Envelope] = field(default_factory=list)
    completions: list[Completion] = field(default_factory=list)
    delivered: list[DeliveredSession] = field(default_factory=list)
    revoked_certificates: list[str] = field(default_factory=list)
    institutions: dict[str, tuple[str, int]] = field(default_factory=dict)  # id -> (level, headcount)
    evening_session_id: str = ""
    rescheduled_session_id: str = ""
    cancelled_session_ids: list[str] = field(default_factory=list)
    unattended_session_ids: list[str] = field(default_factory=list)

    @property
    def events(self) -> list:
        return [e.event for e in self.envelopes]

    def trained(self, months: set[int] | None = None) -> set[str]:
        return {c.servant_id for c in self.completions
                if c.year == self.plan.year and (months is None or c.month in months)}


class _Writer:
    def __init__(self, programme: Programme, seed: int) -> None:
        self.programme = programme
        self.namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"probidad-programme-{seed}")
        self.count = 0

    def emit(self, event: Event, at: datetime, correlation: str | None = None) -> Envelope:
        self.count += 1
        event_id = str(uuid.uuid5(self.namespace, str(self.count)))
        envelope = seal(event, event_id=event_id, time=at, correlation_id=correlation or event_id)
        self.programme.envelopes.append(envelope)
        return envelope


# What the generator keeps of a course: its id, topic, hours and passing score (None: no assessment).
CourseTerms = tuple[str, str, float, float | None]


def generate(plan: ProgrammePlan) -> Programme:
    rng = random.Random(plan.seed)
    zone = ZoneInfo(plan.timezone)
    year = plan.year
    programme = Programme(plan)
    out = _Writer(programme, plan.seed)
    opening = datetime(year - 1, 12, 1, 9, 0, tzinfo=zone)

    # Institutions and catalogue, published before the year starts.
    institutions: list[tuple[str, str, int]] = []
    for i, (name, headcount) in enumerate(STATE_INSTITUTIONS, 1):
        institutions.append((f"inst-e{i:02d}", "state", headcount))
        out.emit(InstitutionRegistered(institution_id=f"inst-e{i:02d}", name=name, government_level="state",
                                       headcount=headcount, headcount_year=year), opening)
    for i, (name, municipality, headcount) in enumerate(MUNICIPAL_INSTITUTIONS, 1):
        institutions.append((f"inst-m{i:02d}", "municipal", headcount))
        out.emit(InstitutionRegistered(institution_id=f"inst-m{i:02d}", name=name, government_level="municipal",
                                       municipality=municipality, headcount=headcount, headcount_year=year), opening)
    programme.institutions = {iid: (level, headcount) for iid, level, headcount in institutions}
    courses = []
    for code, title, topic, hours, passing in COURSES:
        course_id = f"course-{code.lower()}"
        courses.append((course_id, topic, hours, passing))
        out.emit(CoursePublished(course_id=course_id, code=code, title=title, topic=topic, hours=hours,
                                 competency="Integridad en el servicio público", passing_score=passing), opening)

    # Servants: the ones the plan trains, plus some who enrol but never complete.
    weights = [h for _, _, h in institutions]
    pool_size = plan.distinct_trained + plan.never_trained
    servants = [f"sv-{plan.seed}-{n:06d}" for n in range(1, pool_size + 1)]
    home: dict[str, list[tuple[datetime, str, str]]] = {}  # servant -> [(known from, institution, sex)]
    registered_at = opening + timedelta(days=2)
    for servant in servants:
        institution = rng.choices(institutions, weights)[0][0]
        sex = rng.choice(SEXES)
        home[servant] = [(registered_at, institution, sex)]
        out.emit(ServantRegistered(servant_id=servant, institution_id=institution, sex=sex), registered_at)
    trainees = servants[: plan.distinct_trained]
    rng.shuffle(trainees)
    bystanders = servants[plan.distinct_trained:]
    moved_at = datetime(year, 7, 1, 9, 0, tzinfo=zone)
    for servant in rng.sample(trainees, min(plan.movers, len(trainees))):
        _, old, sex = home[servant][0]
        new = rng.choice([i for i, _, _ in institutions if i != old])
        home[servant].append((moved_at, new, sex))
        out.emit(ServantUpdated(servant_id=servant, institution_id=new, sex=sex), moved_at)

    def attributes(servant: str, at: datetime) -> tuple[str, str]:
        current = [v for v in home[servant] if v[0] <= at] or home[servant][:1]
        return current[-1][1], current[-1][2]

    # Who is trained in which month: everyone once, then repeats until each month has its figure.
    months = sorted(plan.months)
    total = sum(plan.months[m].servants_trained for m in months)
    # Largest-remainder shares of first-time trainees: they add up to distinct_trained exactly and
    # never exceed a month's figure; the rest of each month is servants trained in another month too.
    exact = {m: plan.months[m].servants_trained * plan.distinct_trained / total for m in months}
    share = {m: int(exact[m]) for m in months}
    remainder = plan.distinct_trained - sum(share.values())
    for m in sorted(months, key=lambda m: exact[m] - share[m], reverse=True)[:remainder]:
        share[m] += 1
    monthly_trainees: dict[int, list[str]] = {}
    cursor = 0
    for month in months:
        new = trainees[cursor: cursor + share[month]]
        cursor += share[month]
        taken = set(new)
        others = [s for s in trainees if s not in taken]
        monthly_trainees[month] = new + rng.sample(others, plan.months[month].servants_trained - len(new))

    sequence = 0

    def session_id(day: date) -> str:
        nonlocal sequence
        sequence += 1
        return f"ses-{day:%Y%m%d}-{sequence:03d}"

    def schedule(day: date, hour: int, minute: int, course: CourseTerms, modality: str, *,
                 first_day: date | None = None) -> tuple[str, datetime, datetime]:
        course_id, topic, hours, _ = course
        sid = session_id(day)
        starts = datetime.combine(day, time(hour, minute), zone)
        ends = starts + timedelta(hours=hours)
        announced = datetime.combine(first_day or day, time(hour, minute), zone)
        out.emit(SessionScheduled(
            session_id=sid, course_id=course_id, modality=modality,
            platform=rng.choice(PLATFORMS) if modality != "in_person" else None,
            venue="Sala de capacitación" if modality != "virtual" else None,
            starts_at=announced, ends_at=announced + timedelta(hours=hours), timezone=plan.timezone,
            capacity=60, organising_unit=UNIT), announced - timedelta(days=14), sid)
        if first_day is not None:
            out.emit(SessionRescheduled(session_id=sid, starts_at=starts, ends_at=ends, timezone=plan.timezone,
                                        reason="Cambio de sede"), announced - timedelta(days=10), sid)
        return sid, starts, ends

    def enrol(sid: str, servant: str, starts: datetime) -> None:
        institution, _ = attributes(servant, starts)
        out.emit(EnrolmentConfirmed(enrolment_id=f"enr-{sid}-{servant}", session_id=sid, servant_id=servant,
                                    institution_id=institution), starts - timedelta(days=7), sid)

    def attend(sid: str, servant: str, ends: datetime, minutes: int, share: float, status: str) -> None:
        out.emit(AttendanceRecorded(session_id=sid, servant_id=servant, minutes_present=round(minutes * share),
                                    session_minutes=minutes, share=share, status=status,
                                    source_of_record="zoom"), ends, sid)

    def code(certificate_id: str) -> str:
        return uuid.uuid5(out.namespace, certificate_id).hex[:12].upper()

    def certify(sid: str, servant: str, course: CourseTerms, ends: datetime,
                score: float | None) -> tuple[str, datetime]:
        course_id, _, hours, _ = course
        certificate_id = f"cert-{sid}-{servant}"
        issued_at = ends + timedelta(days=1)
        out.emit(CertificateIssued(
            certificate_id=certificate_id, verification_code=code(certificate_id), servant_id=servant,
            course_id=course_id,
            session_id=sid, hours=hours, score=score, issued_on=issued_at.date(), issuing_authority=ISSUER),
            issued_at, sid)
        return certificate_id, issued_at

    def deliver(month_year: int, month: int, day: date, hour: int, minute: int, course: CourseTerms, modality: str,
                participants: list[str], *, first_day: date | None = None) -> str:
        course_id, topic, hours, passing = course
        sid, starts, ends = schedule(day, hour, minute, course, modality, first_day=first_day)
        minutes = int(hours * 60)
        noise = rng.sample(bystanders, min(len(bystanders), rng.randint(1, 3)))
        for servant in participants + noise:
            enrol(sid, servant, starts)
        first_present = None
        for servant in participants:
            share = round(rng.uniform(0.82, 1.0), 3)
            attend(sid, servant, ends, minutes, share, rng.choice(("present", "present", "late")))
            if plan.correct_every and len(programme.completions) % plan.correct_every == plan.correct_every - 1:
                out.emit(AttendanceCorrected(session_id=sid, servant_id=servant, minutes_present=minutes,
                                             session_minutes=minutes, share=1.0, status="present",
                                             reason="Reporte de la plataforma incompleto", corrected_by="instructor"),
                         ends + timedelta(hours=5), sid)
            first_present = first_present or ends
            score = round(rng.uniform(passing, 100), 1) if passing is not None else None
            if score is not None:
                out.emit(AssessmentGraded(session_id=sid, servant_id=servant, score=score),
                         ends + timedelta(minutes=10), sid)
            certificate_id, issued_at = certify(sid, servant, course, ends, score)
            institution, sex = attributes(servant, starts)
            programme.completions.append(Completion(
                servant, sid, course_id, certificate_id, month, month_year, institution,
                programme.institutions[institution][0], sex, topic, modality, hours, issued_at))
        # Noise: absent, partial attendance, a failed evaluation, a certificate later revoked.
        for n, servant in enumerate(noise):
            kind = n % 3
            if kind == 0:
                attend(sid, servant, ends, minutes, 0.0, "absent")
            elif kind == 1 or passing is None:
                attend(sid, servant, ends, minutes, 0.5, "late")
                if kind == 2:
                    certificate_id, _ = certify(sid, servant, course, ends, None)
                    out.emit(CertificateRevoked(certificate_id=certificate_id, verification_code=code(certificate_id),
                                                servant_id=servant, course_id=course_id, session_id=sid,
                                                reason="Asistencia corregida: no alcanzó el mínimo"),
                             ends + timedelta(days=5), sid)
                    programme.revoked_certificates.append(certificate_id)
            else:
                attend(sid, servant, ends, minutes, 0.95, "present")
                out.emit(AssessmentGraded(session_id=sid, servant_id=servant, score=passing - 15),
                         ends + timedelta(minutes=10), sid)
        out.emit(SessionClosed(session_id=sid, closed_at=ends + timedelta(minutes=5),
                               enrolled=len(participants + noise),
                               present=len(participants) + sum(1 for n in range(len(noise)) if n % 3 != 0)),
                 ends + timedelta(minutes=5), sid)
        programme.delivered.append(DeliveredSession(sid, course_id, topic, modality, month_year, month,
                                                    starts, first_present or ends))
        return sid

    for month in months:
        mplan = plan.months[month]
        people = list(monthly_trainees[month])
        rng.shuffle(people)
        # A few servants complete a second session in the same month: participations > servants trained.
        size = len(people) // mplan.sessions_delivered
        groups = [people[i * size:(i + 1) * size] for i in range(mplan.sessions_delivered)]
        for extra, servant in enumerate(people[size * mplan.sessions_delivered:]):
            groups[extra % len(groups)].append(servant)
        if mplan.sessions_delivered > 1:
            for r in range(plan.repeat_completions_per_month):
                servant = groups[0][r % len(groups[0])]
                groups[-1].append(servant)
        step = max(1, 26 // mplan.sessions_delivered)
        for index, participants in enumerate(groups):
            day = date(year, month, min(2 + index * step, 27))
            course = courses[(month + index) % len(courses)]
            modality = ("virtual" if month in plan.virtual_only_months
                        else rng.choice(("virtual", "in_person", "hybrid")))
            last = index == len(groups) - 1
            if last and month == 11:
                # 22:30 in the programme's zone on the 30th: already 1 December in UTC.
                programme.evening_session_id = deliver(year, month, date(year, 11, 30), 22, 30, course, modality,
                                                       participants)
            elif index == 1 and month == max(months) and month > 1:
                # First announced for the previous month, then moved into this one.
                previous = date(year, month - 1, 28)
                sid = deliver(year, month, day, 10, 0, course, modality, participants, first_day=previous)
                programme.rescheduled_session_id = sid
            else:
                deliver(year, month, day, 10, 0, course, modality, participants)
        # Every month: one cancelled session (with enrolments); every other month one nobody attended.
        course = courses[month % len(courses)]
        sid, starts, ends = schedule(date(year, month, 15), 17, 0, course, "in_person")
        for servant in rng.sample(bystanders, min(4, len(bystanders))):
            enrol(sid, servant, starts)
        out.emit(SessionCancelled(session_id=sid, reason="Falta de quórum"), starts - timedelta(days=2), sid)
        programme.cancelled_session_ids.append(sid)
        if month % 2 == 1:
            sid, starts, ends = schedule(date(year, month, 20), 9, 0, course, "virtual")
            for servant in rng.sample(bystanders, min(3, len(bystanders))):
                enrol(sid, servant, starts)
                attend(sid, servant, ends, int(course[2] * 60), 0.0, "absent")
            programme.unattended_session_ids.append(sid)

    # After the plan's window: December sessions, one on New Year's Eve evening (January in UTC).
    for n in range(plan.after_window_sessions):
        last = n == plan.after_window_sessions - 1
        day = date(year, 12, 31) if last else date(year, 12, 3 + 5 * n)
        participants = rng.sample(trainees, min(8, len(trainees)))
        deliver(year, 12, day, 19 if last else 10, 0, courses[n % len(courses)], "virtual", participants)

    programme.envelopes.sort(key=lambda e: (e.time, e.id))
    return programme


# ------------------------------------------------------------------ the demo's plan

DEMO_STATE_INSTITUTIONS = (
    ("sec-gobierno", "Secretaría de Gobierno"), ("sec-finanzas", "Secretaría de Finanzas y Planeación"),
    ("sec-salud", "Secretaría de Salud"), ("sec-educacion", "Secretaría de Educación"),
    ("sec-seguridad", "Secretaría de Seguridad Ciudadana"), ("sec-obras", "Secretaría de Obras Públicas"),
    ("sec-turismo", "Secretaría de Turismo"), ("sec-bienestar", "Secretaría de Bienestar"),
    ("dif-estatal", "Sistema DIF Estatal"), ("fiscalia", "Fiscalía General del Estado"),
    ("contraloria", "Secretaría de la Contraloría"), ("agua-estatal", "Comisión de Agua Potable"),
)
DEMO_MUNICIPALITIES = (
    "Benito Juárez", "Othón P. Blanco", "Solidaridad", "Cozumel", "Felipe Carrillo Puerto", "Tulum",
    "Bacalar", "Isla Mujeres", "José María Morelos", "Lázaro Cárdenas", "Puerto Morelos",
)
DEMO_COURSES = (
    # code, title/topic, competency, hours, passing score (None: no evaluation)
    ("CE", "Código de Ética", "Integridad pública", 3.0, 70.0),
    ("CI", "Conflicto de Interés", "Integridad pública", 3.0, 70.0),
    ("PAC", "Prevención de Actos de Corrupción", "Integridad pública", 4.0, 70.0),
    ("RA", "Responsabilidades Administrativas", "Integridad pública", 4.0, 80.0),
    ("EPMG", "Ética Pública y Modelo de Gestión", "Ética en el servicio", 2.0, None),
    ("EBV", "Ética Basada en Valores", "Ética en el servicio", 2.0, None),
    ("TAI", "Transparencia y Acceso a la Información", "Transparencia", 3.0, 70.0),
    ("PDP", "Protección de Datos Personales", "Transparencia", 3.0, 70.0),
)
# Given names by sex, as a liaison reads them: a woman's list and a man's; some people carry two.
DEMO_GIVEN_NAMES = {
    "female": ("María", "Guadalupe", "Ana", "Rosa", "Laura", "Elena", "Patricia", "Sofía", "Gabriela", "Verónica",
               "Adriana", "Claudia", "Leticia", "Alejandra", "Norma", "Karla", "Fernanda", "Daniela", "Mariana",
               "Itzel"),
    "male": ("José", "Juan", "Luis", "Carlos", "Miguel", "Jorge", "Ricardo", "Fernando", "Alejandro", "Raúl",
             "Francisco", "Manuel", "Jesús", "Pedro", "Eduardo", "Roberto", "Arturo", "Javier", "Óscar", "Ángel"),
}
DEMO_SECOND_GIVEN_NAMES = {
    "female": ("Guadalupe", "Fernanda", "Isabel", "Elena", "de los Ángeles", "del Carmen", "Luisa"),
    "male": ("Luis", "Carlos", "Manuel", "Ángel", "Antonio", "Alberto", "de Jesús", "Eduardo"),
}
DEMO_LAST_NAMES = ("Hernández", "García", "Martínez", "López", "González", "Pérez", "Rodríguez", "Sánchez", "Ramírez",
        "Cruz", "Flores", "Gómez", "Morales", "Vázquez", "Reyes", "Jiménez", "Torres", "Díaz", "Chan", "Pech",
        "Muñoz", "Ek", "Canul", "Ortiz", "de la Cruz", "Uc", "Ibáñez", "May")
# Where the demo's servants were born: most in the state, many in the neighbouring states and the capital.
DEMO_BIRTH_STATES = (("QR", 50), ("YN", 15), ("CC", 5), ("TC", 6), ("VZ", 7), ("CS", 5), ("DF", 6), ("PL", 3),
                     ("NE", 1), ("MC", 2))
DEMO_LEVELS = ("operativo", "enlace", "mando medio", "directivo")
# Positions (puestos) per level, in the masculine and the feminine form an HR export writes.
DEMO_POSITIONS = {
    "operativo": (("Auxiliar administrativo", "Auxiliar administrativa"), ("Analista", "Analista"),
                  ("Técnico en informática", "Técnica en informática"), ("Capturista", "Capturista"),
                  ("Asistente", "Asistente"), ("Notificador", "Notificadora")),
    "enlace": (("Enlace administrativo", "Enlace administrativo"),
               ("Enlace de transparencia", "Enlace de transparencia"),
               ("Profesional ejecutivo", "Profesional ejecutiva"), ("Jefe de oficina", "Jefa de oficina")),
    "mando medio": (("Jefe de departamento", "Jefa de departamento"),
                    ("Subdirector de área", "Subdirectora de área"),
                    ("Director de área", "Directora de área"), ("Coordinador", "Coordinadora")),
    "directivo": (("Director general", "Directora general"), ("Subsecretario", "Subsecretaria"),
                  ("Secretario técnico", "Secretaria técnica"), ("Titular de la unidad", "Titular de la unidad")),
}
DEMO_INSTRUCTORS = ("instr-ueipci-1", "instr-ueipci-2", "instr-ueipci-3", "instr-transparencia-1")
MONTHS_IN_DEMO = 12


@dataclass(frozen=True)
class Institution:
    institution_id: str
    name: str
    government_level: str
    municipality: str | None
    headcount: int


@dataclass(frozen=True)
class Course:
    course_id: str
    code: str
    title: str
    competency: str
    hours: float
    passing_score: float | None
    minimum_attendance_share: float = 0.8
    validity_months: int | None = None  # how long its constancia holds; None: for good


@dataclass(frozen=True)
class Servant:
    key: str  # the demo's own handle; the platform assigns the pseudonymous servant id
    institution_id: str
    given_names: str
    first_surname: str
    second_surname: str
    birth_date: date
    birth_state: str  # RENAPO's state code (NE: born abroad)
    curp: str  # formed from the above and the sex, as RENAPO forms it
    email: str
    sex: str
    position_level: str
    position: str  # the puesto, in the form that agrees with the servant's sex

    @property
    def name(self) -> str:
        return f"{self.given_names} {self.first_surname} {self.second_surname}"


@dataclass
class Session:
    session_id: str
    course: Course
    modality: str
    starts_at: datetime  # aware, programme time zone
    capacity: int
    instructor_id: str
    cancelled: bool = False
    enrolled: list[str] = field(default_factory=list)  # servant keys
    minutes: dict[str, int] = field(default_factory=dict)  # servant key -> minutes present
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def session_minutes(self) -> int:
        return int(self.course.hours * 60)

    @property
    def ends_at(self) -> datetime:
        return self.starts_at + timedelta(minutes=self.session_minutes)


@dataclass(frozen=True)
class Requirement:
    """A training requirement the demo's comptroller declares (effective from the programme's first day)."""

    requirement_id: str
    title: str
    course_code: str
    due: dict  # DueRule as the API takes it: {"kind": ..., "days"/"month"/"day"/"months": ...}
    position_levels: tuple[str, ...] | None = None
    government_level: str | None = None


@dataclass(frozen=True)
class Move:
    """A servant transferred to another institution from ``effective_on``."""

    key: str
    to_institution_id: str
    effective_on: date


@dataclass(frozen=True)
class Exemption:
    key: str
    requirement_id: str
    reason: str
    effective_from: date


@dataclass
class DemoProgramme:
    timezone: str
    months: list[tuple[int, int]]  # (year, month), oldest first; the last is the bulletin month
    institutions: list[Institution]
    courses: list[Course]
    servants: list[Servant]
    sessions: list[Session]
    # The oversight layer: each servant's first day, who left (and when), who moved, what is required
    # of whom, exemptions, and the annual plan's targets (month x institution x topic, per year).
    joined_on: dict[str, date] = field(default_factory=dict)
    departures: dict[str, date] = field(default_factory=dict)  # servant key -> left_on
    moves: list[Move] = field(default_factory=list)
    requirements: list[Requirement] = field(default_factory=list)
    exemptions: list[Exemption] = field(default_factory=list)
    plan_targets: dict[int, list[dict]] = field(default_factory=dict)  # year -> PlanTarget dicts

    def servant(self, key: str) -> Servant:
        return self._by_key[key]

    @property
    def years(self) -> list[int]:
        """The calendar years the programme touches (each gets its institutions' headcount)."""
        return sorted({year for year, _month in self.months})

    @property
    def first_day(self) -> date:
        year, month = self.months[0]
        return date(year, month, 1)

    @property
    def last_day(self) -> date:
        year, month = self.months[-1]
        return date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)

    @property
    def bulletin_month(self) -> str:
        """The last month of the programme (``YYYY-MM``): the one a bulletin published now reports."""
        year, month = self.months[-1]
        return f"{year}-{month:02d}"

    def __post_init__(self) -> None:
        self._by_key = {s.key: s for s in self.servants}

    def course(self, code: str) -> Course:
        return next(c for c in self.courses if c.code == code)

    def institution_of(self, key: str, on: date) -> str:
        """The institution a servant belongs to on a day: their own, or where a move took them."""
        institution = self.servant(key).institution_id
        for move in sorted((m for m in self.moves if m.key == key), key=lambda m: m.effective_on):
            if move.effective_on <= on:
                institution = move.to_institution_id
        return institution

    def level_of(self, institution_id: str) -> str:
        return next(i.government_level for i in self.institutions if i.institution_id == institution_id)


def demo_person(rng: random.Random, sex: str, taken: set[str] | None = None) -> dict:
    """A person as an HR export records them: given names that agree with the sex, two surnames, a birth
    date and state, and the CURP RENAPO would give them; a homonym already in ``taken`` gets the next
    differentiator, as RENAPO assigns it."""
    given = rng.choice(DEMO_GIVEN_NAMES[sex])
    if rng.random() < 0.3:
        second = rng.choice([n for n in DEMO_SECOND_GIVEN_NAMES[sex] if n != given])
        given = f"{given} {second}"
    first_surname, second_surname = rng.choice(DEMO_LAST_NAMES), rng.choice(DEMO_LAST_NAMES)
    birth = date(rng.randint(1962, 2002), rng.randint(1, 12), rng.randint(1, 28))
    states, weights = zip(*DEMO_BIRTH_STATES, strict=True)
    state = rng.choices(states, weights=weights)[0]
    differentiator = 0
    while True:
        curp = curp_for(given_names=given, first_surname=first_surname, second_surname=second_surname, birth=birth,
                        sex=sex, state=state, differentiator=differentiator)
        if taken is None or curp not in taken:
            break
        differentiator += 1
    if taken is not None:
        taken.add(curp)
    return {"given_names": given, "first_surname": first_surname, "second_surname": second_surname,
            "birth_date": birth, "birth_state": state, "curp": curp, "sex": sex}


def demo_months(now: datetime, timezone: str, count: int = MONTHS_IN_DEMO) -> list[tuple[int, int]]:
    """The ``count`` full calendar months before ``now``'s month in the programme's time zone, oldest
    first: a programme that has already happened, whatever the date."""
    local = now.astimezone(ZoneInfo(timezone))
    index = local.year * 12 + local.month - 1  # months since year 0; the current month is excluded
    return [(n // 12, n % 12 + 1) for n in range(index - count, index)]


def demo_programme(*, seed: int = 2026, scale: float = 1.0, now: datetime | None = None,
         timezone: str = "America/Mexico_City") -> DemoProgramme:
    """A deterministic programme over the twelve full months before ``now`` (default: the clock):
    institutions, catalogue, sessions month by month, people, who attended how long, and scores.

    Every session has ended by the first instant of ``now``'s month in the programme's time zone, so
    the programme can be loaded, taken and closed on any date."""
    rng = random.Random(seed)
    zone = ZoneInfo(timezone)
    months = demo_months(now or datetime.now(zone), timezone)
    institutions: list[Institution] = []
    for institution_id, name in DEMO_STATE_INSTITUTIONS:
        institutions.append(Institution(institution_id, name, "state", None, rng.randint(250, 900)))
    for municipality in DEMO_MUNICIPALITIES:
        slug = municipality.lower().replace(" ", "-").replace(".", "").replace("á", "a").replace("é", "e")
        slug = slug.replace("í", "i").replace("ó", "o").replace("ú", "u")
        institutions.append(Institution(f"mun-{slug}", f"Ayuntamiento de {municipality}", "municipal",
                                        municipality, rng.randint(120, 600)))
    courses = [Course(f"course-{code.lower()}", code, title, competency, hours, passing,
                      validity_months=VALIDITY_MONTHS.get(code))
               for code, title, competency, hours, passing in DEMO_COURSES]

    people = max(40, int(4200 * scale))
    weights = [i.headcount for i in institutions]
    servants: list[Servant] = []
    curps: set[str] = set()
    for n in range(people):
        institution = rng.choices(institutions, weights=weights)[0]
        sex = "female" if rng.random() < 0.54 else "male"
        person = demo_person(rng, sex, curps)
        level = rng.choice(DEMO_LEVELS)
        position = rng.choice(DEMO_POSITIONS[level])[sex == "female"]
        mailbox = unicodedata.normalize("NFD", f"{person['given_names'].split()[0][0]}.{person['first_surname']}")
        mailbox = "".join(c for c in mailbox if not unicodedata.combining(c)).lower().replace(" ", "")
        servants.append(Servant(
            key=f"p{n:05d}", institution_id=institution.institution_id, **person,
            email=f"{mailbox}.{n}@{institution.institution_id}.example.gob.mx", position_level=level,
            position=position))

    sessions: list[Session] = []
    for year, month in months:
        count = max(2, round(rng.randint(9, 14) * min(1.0, scale * 1.5 + 0.2)))
        # One session a day, between the 2nd and the 27th: nobody is ever booked into two at once,
        # and the last days of the month stay free for the evening session below.
        days = sorted(rng.sample(range(2, 28), count))
        for number, day in enumerate(days, start=1):
            course = rng.choice(courses)
            modality = rng.choices(("virtual", "in_person", "hybrid"), weights=(6, 3, 1))[0]
            starts = datetime(year, month, day, rng.choice((9, 10, 11, 16)), rng.choice((0, 30)), tzinfo=zone)
            sessions.append(Session(
                session_id=f"S-{year}-{month:02d}-{course.code}-{number:02d}", course=course, modality=modality,
                starts_at=starts, capacity=max(8, round(rng.choice((25, 30, 35, 40)) * min(1.0, 4 * scale))),
                instructor_id=rng.choice(DEMO_INSTRUCTORS)))
    # A late-evening session on the last day of the bulletin month (the last one): in UTC it is already
    # the next month, and the figures must still count it in the month it happened in, in the
    # programme's time zone. It ends at 23:30 there, before the current month begins.
    year, month = months[-1]
    last_day = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    evening = next(c for c in courses if c.passing_score is None)
    sessions.append(Session(f"S-{year}-{month:02d}-{evening.code}-evening", evening, "virtual",
                            datetime(year, month, last_day, 21, 30, tzinfo=zone), 30, DEMO_INSTRUCTORS[0]))
    # A session cancelled in the third month: delivered figures must leave it out.
    rng.choice([s for s in sessions if (s.starts_at.year, s.starts_at.month) == months[2]]).cancelled = True

    for session in sessions:
        if session.cancelled:
            continue
        size = min(session.capacity, rng.randint(session.capacity * 2 // 3, session.capacity))
        session.enrolled = [s.key for s in rng.sample(servants, size)]
        for key in session.enrolled:
            roll = rng.random()
            minutes = session.session_minutes
            if roll < 0.84:  # stayed (nearly) the whole session
                session.minutes[key] = minutes - rng.randint(0, minutes // 12)
            elif roll < 0.93:  # left early: well under the minimum share
                session.minutes[key] = rng.randint(minutes // 6, minutes // 2)
            else:  # never came
                session.minutes[key] = 0
            if session.course.passing_score is not None and session.minutes[key] > 0:
                passed = rng.random() < 0.9
                session.scores[key] = float(rng.randint(75, 100) if passed else rng.randint(30, 60))
    programme = DemoProgramme(timezone, months, institutions, courses, servants, sessions)
    _oversight(programme, random.Random(seed * 7919 + 16))
    return programme


# Requirements of the demo: the Code of Ethics within 90 days of joining (everyone), Conflict of Interest
# every calendar year by 31 December (mando medio and directivo), Personal Data Protection renewed every
# 12 months (state institutions; the course's constancia is valid for 12 months).
DEMO_REQUIREMENTS = (
    Requirement("req-codigo-etica", "Código de Ética para quien ingresa", "CE",
                {"kind": "within_days_of_joining", "days": 90}),
    Requirement("req-conflicto-interes", "Conflicto de Interés anual para mandos", "CI",
                {"kind": "yearly_by", "month": 12, "day": 31}, position_levels=("mando medio", "directivo")),
    Requirement("req-datos-personales", "Protección de Datos Personales vigente", "PDP",
                {"kind": "renewal", "months": 12, "days": 180}, government_level="state"),
)
VALIDITY_MONTHS = {"PDP": 12}


def _oversight(p: DemoProgramme, rng: random.Random) -> None:
    """The demo's oversight layer, drawn after (and apart from) everything else, so the training figures
    stay what they were: every servant's first day (most long before the programme, some joining during
    it, always before their first session), a few departures (after their last session), a few moves
    (between sessions), the requirements, three exemptions, and an annual plan per year touched."""
    first_session: dict[str, date] = {}
    last_session: dict[str, date] = {}
    for session in sorted((s for s in p.sessions if not s.cancelled), key=lambda s: s.starts_at):
        day = session.starts_at.date()
        for key in session.enrolled:
            first_session.setdefault(key, day)
            last_session[key] = session.ends_at.date()
    start, end = p.first_day, p.last_day
    for servant in p.servants:
        if rng.random() < 0.12:  # joined during the programme, before any session of theirs
            latest = min(first_session.get(servant.key, end), end)
            span = (latest - start).days
            p.joined_on[servant.key] = start + timedelta(days=rng.randint(0, span)) if span > 0 else start
        else:
            p.joined_on[servant.key] = date(rng.randint(2005, start.year - 1), rng.randint(1, 12), rng.randint(1, 28))
    keys = [s.key for s in p.servants]
    leavers = rng.sample(keys, max(2, len(keys) // 50))
    for key in leavers:
        after = max(last_session.get(key, start), p.joined_on[key]) + timedelta(days=1)
        if after < end:
            p.departures[key] = after + timedelta(days=rng.randint(0, (end - after).days))
    staying = [k for k in keys if k not in p.departures]
    for key in rng.sample(staying, max(2, len(keys) // 50)):
        servant = p.servant(key)
        since = max(p.joined_on[key], start) + timedelta(days=1)
        if since >= end:
            continue
        effective_on = since + timedelta(days=rng.randint(0, (end - since).days))
        # Never on a day one of their sessions runs, so no session straddles the move.
        busy = {s.starts_at.date() for s in p.sessions if key in s.enrolled}
        while effective_on in busy and effective_on < end:
            effective_on += timedelta(days=1)
        to = rng.choice([i for i in p.institutions if i.institution_id != servant.institution_id])
        p.moves.append(Move(key, to.institution_id, effective_on))
    p.requirements = list(DEMO_REQUIREMENTS)
    reasons = ("Acreditado ante otra instancia", "Incapacidad médica prolongada", "Comisión en el extranjero")
    for key, reason in zip(rng.sample(staying, 3), reasons, strict=True):
        p.exemptions.append(Exemption(key, "req-codigo-etica", reason, start))
    # The plan: for each month, the three largest institutions x the topics delivered that month,
    # targets near what each cell delivered (some cells ahead of plan, some behind): the people it
    # trained, one more or one fewer for a third of the cells each; its sessions, one more for half the
    # largest institution's cells.
    largest = [i.institution_id for i in sorted(p.institutions, key=lambda i: -i.headcount)[:3]]
    trained: dict[tuple, set[str]] = defaultdict(set)
    reached: dict[tuple, set[str]] = defaultdict(set)
    for s in p.sessions:
        if not s.cancelled:
            for key in s.enrolled:
                cell = (s.starts_at.year, s.starts_at.month, p.institution_of(key, s.starts_at.date()), s.course.title)
                if s.minutes.get(key, 0) > 0:
                    reached[cell].add(s.session_id)
                if completes(s, key):
                    trained[cell].add(key)
    for year, month in p.months:
        topics = sorted({s.course.title for s in p.sessions
                         if not s.cancelled and (s.starts_at.year, s.starts_at.month) == (year, month)})
        for institution_id in largest:
            for topic in topics:
                hours = next(c.hours for c in p.courses if c.title == topic)
                # One draw per cell as before, so the rest of the programme stays the same.
                people = max(1, len(trained[(year, month, institution_id, topic)]) + (rng.randint(1, 6) - 3) // 2)
                sessions = max(1, len(reached[(year, month, institution_id, topic)]))
                p.plan_targets.setdefault(year, []).append({
                    "month": month, "institution_id": institution_id, "topic": topic,
                    "sessions": sessions + rng.randint(0, 1) if institution_id == largest[0] else sessions,
                    "people": people, "hours": people * hours})


def completes(session: Session, key: str) -> bool:
    """DESIGN.md: present for at least the course's minimum share and, where evaluated, passing."""
    share = session.minutes.get(key, 0) / session.session_minutes
    if share < session.course.minimum_attendance_share:
        return False
    passing = session.course.passing_score
    return passing is None or session.scores.get(key, -1) >= passing


def expected_figures(programme: DemoProgramme) -> dict:
    """The oversight figures computed directly from the plan (months ``YYYY-MM`` in the programme's time
    zone; the totals are over the whole programme)."""
    monthly: dict[str, dict] = defaultdict(lambda: {"sessions": 0, "courses": set(), "servants": set(),
                                                    "participations": 0, "hours": 0.0})
    trained: set[str] = set()
    by_level: dict[str, set[str]] = defaultdict(set)
    by_institution: dict[str, set[str]] = defaultdict(set)
    for session in programme.sessions:
        if session.cancelled or not any(m > 0 for m in session.minutes.values()):
            continue
        figures = monthly[f"{session.starts_at:%Y-%m}"]  # starts_at is in the programme's zone
        figures["sessions"] += 1
        figures["courses"].add(session.course.course_id)
        for key in session.enrolled:
            if completes(session, key):
                # A completion stays with the institution the servant belonged to when the session started.
                institution = programme.institution_of(key, session.starts_at.date())
                figures["servants"].add(key)
                figures["participations"] += 1
                figures["hours"] += session.course.hours
                trained.add(key)
                by_level[programme.level_of(institution)].add(key)
                by_institution[institution].add(key)
    return {
        "months": {m: {"sessions_delivered": f["sessions"], "courses_delivered": len(f["courses"]),
                       "servants_trained": len(f["servants"]), "participations": f["participations"],
                       "training_hours": f["hours"]} for m, f in sorted(monthly.items())},
        "servants_trained": len(trained),
        "sessions_delivered": sum(f["sessions"] for f in monthly.values()),
        "participations": sum(f["participations"] for f in monthly.values()),
        "servants_trained_by_level": {level: len(keys) for level, keys in by_level.items()},
        "servants_trained_by_institution": {i: len(keys) for i, keys in by_institution.items()},
    }


def _add_months(day: date, months: int) -> date:
    """``day`` plus calendar months; a day the target month lacks becomes its last (31 Jan + 1 = 28/29 Feb)."""
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def expected_plan(programme: DemoProgramme, year: int, through: int) -> dict:
    """Plan against actual (README: "plan attainment") computed straight from the plan: per planned
    (month, institution, topic) cell planned and delivered, the planned cells of ``through`` together
    (``month_total``) and of January to ``through`` (``total``), and delivery in every other cell apart
    (``outside_plan``: ``cells``, ``month_total``, ``total``, actual figures only)."""
    planned: dict[tuple[int, str, str], list[float]] = defaultdict(lambda: [0, 0, 0.0])
    for t in programme.plan_targets.get(year, []):
        if t["month"] <= through:
            cell = planned[(t["month"], t["institution_id"], t["topic"])]
            cell[0], cell[1], cell[2] = cell[0] + t["sessions"], cell[1] + t["people"], cell[2] + t["hours"]
    sessions: dict[tuple, set[str]] = defaultdict(set)
    trained: dict[tuple, set[str]] = defaultdict(set)
    hours: dict[tuple, float] = defaultdict(float)
    for s in programme.sessions:
        local = s.starts_at
        if s.cancelled or local.year != year or local.month > through or not any(m > 0 for m in s.minutes.values()):
            continue
        for key in s.enrolled:
            cell = (local.month, programme.institution_of(key, local.date()), s.course.title)
            if s.minutes.get(key, 0) > 0:
                sessions[cell].add(s.session_id)
            if completes(s, key):
                trained[cell].add(key)
                hours[cell] += s.course.hours

    def attainment(actual: float, target: float) -> float | None:
        return round(actual / target, 4) if target else None

    def actual(cells: list[tuple]) -> dict:
        """Each cell's distinct sessions and people, the cells added up as their targets are."""
        return {"sessions_delivered": sum(len(sessions.get(c, ())) for c in cells),
                "servants_trained": sum(len(trained.get(c, ())) for c in cells),
                "training_hours": sum(hours.get(c, 0.0) for c in cells)}

    def line(cells: list[tuple]) -> dict:
        target = [sum(planned[c][i] for c in cells) for i in range(3)]
        done = actual(cells)
        return {"planned_sessions": target[0], "planned_people": target[1], "planned_hours": target[2], **done,
                "sessions_attainment": attainment(done["sessions_delivered"], target[0]),
                "people_attainment": attainment(done["servants_trained"], target[1]),
                "hours_attainment": attainment(done["training_hours"], target[2])}

    inside = sorted(planned)
    outside = sorted((set(sessions) | set(trained)) - set(planned))
    return {"cells": {cell: line([cell]) for cell in inside},
            "month_total": line([c for c in inside if c[0] == through]), "total": line(inside),
            "outside_plan": {"cells": {cell: actual([cell]) for cell in outside},
                             "month_total": actual([c for c in outside if c[0] == through]),
                             "total": actual(outside)}}


def expected_compliance(programme: DemoProgramme, on: date) -> dict:
    """Each servant's standing with each requirement on ``on`` (DESIGN.md's oversight definitions),
    computed straight from the plan — independently of ``contracts.compliance`` — and the counts per
    requirement, institution and government level.

    Returns ``{"standings": {(servant key, requirement id): (state, due_on)}, "counts": {(group kind,
    group, requirement id): {"required", "compliant", "due", "overdue", "exempt"}}}`` where a group
    kind is "requirement" (group "all"), "institution" or "government_level"."""
    completed: dict[str, list[tuple[str, date]]] = defaultdict(list)
    for s in programme.sessions:
        if not s.cancelled:
            for key in s.enrolled:
                if completes(s, key):  # completed on the session's day (programme time zone)
                    completed[key].append((s.course.code, s.starts_at.date()))
    exempt = {(e.key, e.requirement_id) for e in programme.exemptions if e.effective_from <= on}
    standings: dict[tuple[str, str], tuple[str, date | None]] = {}
    counts: dict[tuple[str, str, str], dict[str, int]] = defaultdict(
        lambda: {"required": 0, "compliant": 0, "due": 0, "overdue": 0, "exempt": 0})
    effective_from = programme.first_day
    for servant in programme.servants:
        key = servant.key
        joined = programme.joined_on.get(key)
        left = programme.departures.get(key)
        if on < effective_from or (joined and joined > on) or (left and left <= on):
            continue  # not serving that day: nothing is required of them
        institution = programme.institution_of(key, on)
        level = programme.level_of(institution)
        # The stretch in the institution they serve in on ``on`` began when they joined, or moved there.
        moved = [m.effective_on for m in programme.moves if m.key == key and m.effective_on <= on]
        stretch_start = max([joined or on] + moved)
        for requirement in programme.requirements:
            if requirement.position_levels and servant.position_level not in requirement.position_levels:
                continue
            if requirement.government_level and requirement.government_level != level:
                continue
            due = requirement.due
            done = sorted(day for code, day in completed[key] if code == requirement.course_code and day <= on)
            start = max(stretch_start, effective_from)
            if (key, requirement.requirement_id) in exempt:
                state, due_on = "exempt", None
            elif due["kind"] == "within_days_of_joining":
                deadline = start + timedelta(days=due["days"])
                state, due_on = ("compliant", None) if done else ("due" if on <= deadline else "overdue", deadline)
            elif due["kind"] == "yearly_by":
                deadline = date(on.year, due["month"], due["day"])
                this_year = [d for d in done if d.year == on.year]
                state, due_on = ("compliant", None) if this_year else ("due" if on <= deadline else "overdue", deadline)
            else:  # renewal: the last completion holds for ``months``; a first one is due ``days`` after start
                holds_until = _add_months(done[-1], due["months"]) if done else None
                first_time = start + timedelta(days=due.get("days") or 90)
                if holds_until is not None and holds_until >= on:
                    state, due_on = "compliant", holds_until  # renew by then
                else:  # expired (due on its last day, but never before a newcomer's deadline) or never had
                    deadline = max(holds_until, first_time) if holds_until is not None else first_time
                    state, due_on = ("due" if on <= deadline else "overdue"), deadline
            standings[(key, requirement.requirement_id)] = (state, due_on)
            for group in (("requirement", "all"), ("institution", institution), ("government_level", level)):
                row = counts[(*group, requirement.requirement_id)]
                row["required"] += 1
                row[state] += 1
    return {"standings": standings, "counts": dict(counts)}


def expected_bulletin(programme: DemoProgramme, month: str | None = None) -> dict:
    """Every number of a month's bulletin (default: the programme's last month) computed straight from the
    plan, in the shape reporting publishes them (``month_figures``, ``year_to_date``, ``plan``)."""
    month = month or programme.bulletin_month
    year, number = int(month[:4]), int(month[5:])
    in_month = sorted((s for s in programme.sessions if f"{s.starts_at:%Y-%m}" == month and not s.cancelled
                       and any(m > 0 for m in s.minutes.values())), key=lambda s: (s.starts_at, s.session_id))
    to_date = [s for s in programme.sessions if not s.cancelled and s.starts_at.year == year
               and s.starts_at.month <= number and any(m > 0 for m in s.minutes.values())]

    def trained(sessions: list[Session]) -> dict[str, set[str]]:
        """Distinct servants trained, in all and per modality, level and topic."""
        groups: dict[str, set[str]] = defaultdict(set)
        for s in sessions:
            for key in s.enrolled:
                if completes(s, key):
                    level = programme.level_of(programme.institution_of(key, s.starts_at.date()))
                    for group in ("all", f"modality:{s.modality}", f"level:{level}", f"topic:{s.course.title}"):
                        groups[group].add(key)
        return groups

    month_groups, year_groups = trained(in_month), trained(to_date)
    titles: list[str] = []
    for s in in_month:
        if s.course.title not in titles:
            titles.append(s.course.title)
    participations = sum(1 for s in in_month for key in s.enrolled if completes(s, key))
    levels = ("state", "municipal")
    topics = sorted(({"topic": g[6:], "servants_trained": len(keys)} for g, keys in year_groups.items()
                     if g.startswith("topic:")), key=lambda r: (-r["servants_trained"], r["topic"]))
    plan = None
    if programme.plan_targets.get(year):
        report = expected_plan(programme, year, number)
        shown = ("planned_sessions", "sessions_delivered", "sessions_attainment", "planned_people",
                 "servants_trained", "people_attainment")
        outside = report["outside_plan"]
        plan = {"month": {k: report["month_total"][k] for k in shown},
                "year_to_date": {k: report["total"][k] for k in shown},
                "outside_plan": {part: {k: outside[line][k] for k in ("sessions_delivered", "servants_trained")}
                                 for part, line in (("month", "month_total"), ("year_to_date", "total"))}}
    return {
        "month": month,
        "month_figures": {
            "sessions_delivered": len(in_month), "courses_delivered": len({s.course.course_id for s in in_month}),
            "course_titles": titles, "servants_trained": len(month_groups["all"]), "participations": participations,
            "by_modality": {m: len(month_groups[f"modality:{m}"]) for m in ("virtual", "in_person", "hybrid")},
            "by_government_level": {lv: len(month_groups[f"level:{lv}"]) for lv in levels}},
        "year_to_date": {
            "from": date(year, 1, 1).isoformat(), "to": (date(year + number // 12, number % 12 + 1, 1)
                                                          - timedelta(days=1)).isoformat(),
            "servants_trained": len(year_groups["all"]),
            "by_government_level": {lv: len(year_groups[f"level:{lv}"]) for lv in levels}, "topics": topics},
        "plan": plan,
    }

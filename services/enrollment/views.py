"""Reads for the HTTP API: lists with their filters and pages, and what each answer shows beside its row
(headcounts, seats taken, places in line). The caller may see only what its scope allows: a liaison
its own institution's people (another's are "unknown"), an instructor its own sessions."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from contracts import compliance
from contracts.compliance import State
from probidad.shared.csvcells import cell
from probidad.shared.printing import SigningAuthority
from probidad.shared.unit_of_work import UnitOfWork
from services.enrollment import domain
from services.enrollment.constancias import NamedConstancia, constancia_url
from services.enrollment.domain import RuleViolation
from services.enrollment.handlers import (
    find_enrolment, find_institution, find_servant, find_session, repository, require_institution,
)
from services.enrollment.repository import plan_lines, requirement_event, seat
from services.enrollment.tables import (
    CompletionRow, Course, Enrolment, ExemptionRow, Institution, LifeEvent, PlanVersion, RequirementRow, Servant,
    TrainingSession, Transfer,
)


@dataclass(frozen=True)
class InstitutionView:
    institution: Institution
    headcounts: dict[int, int]  # declared headcount per year


@dataclass(frozen=True)
class SessionView:
    session: TrainingSession
    starts_at: datetime  # in the session's own zone
    ends_at: datetime
    confirmed: int
    waitlisted: int


@dataclass(frozen=True)
class EnrolmentView:
    enrolment: Enrolment
    position: int | None  # on the waitlist, 1 = next


@dataclass(frozen=True)
class RosterLine:
    enrolment: Enrolment
    name: str | None  # None once the servant's personal data was erased
    position: int | None


@dataclass(frozen=True)
class RosterView:
    session: SessionView
    lines: list[RosterLine]


# ------------------------------------------------------------------ institutions and courses


async def institution(uow: UnitOfWork, row: Institution) -> InstitutionView:
    headcounts = await repository(uow).headcounts([row.institution_id])
    return InstitutionView(row, headcounts[row.institution_id])


async def institutions(uow: UnitOfWork) -> list[InstitutionView]:
    repo = repository(uow)
    rows = await repo.institutions()
    headcounts = await repo.headcounts([i.institution_id for i in rows])
    return [InstitutionView(i, headcounts[i.institution_id]) for i in rows]


async def institution_by_id(uow: UnitOfWork, institution_id: str) -> InstitutionView:
    found = await require_institution(repository(uow), institution_id, kind="not_found")
    return await institution(uow, found)


async def courses(uow: UnitOfWork) -> list[Course]:
    return await repository(uow).courses()


async def course(uow: UnitOfWork, course_id: str) -> Course:
    found = await repository(uow).course(course_id)
    if found is None:
        raise RuleViolation("course_id", f"unknown course {course_id!r}", "not_found")
    return found


# ------------------------------------------------------------------ sessions


def _view(session: TrainingSession, counts: dict[tuple[str, str], int]) -> SessionView:
    tz = ZoneInfo(session.timezone)
    return SessionView(session, session.starts_at.astimezone(tz), session.ends_at.astimezone(tz),
                       counts.get((session.session_id, "confirmed"), 0), counts.get((session.session_id, "waitlisted"), 0))


async def session(uow: UnitOfWork, row: TrainingSession) -> SessionView:
    return _view(row, await repository(uow).seat_counts([row.session_id]))


async def session_by_id(uow: UnitOfWork, session_id: str) -> SessionView:
    return await session(uow, await find_session(repository(uow), session_id))


async def sessions(uow: UnitOfWork, *, course_id: str | None, starting_from: datetime | None,
                   starting_before: datetime | None, as_instructor: bool = False,
                   instructor_id: str | None = None) -> list[SessionView]:
    """Sessions by start; ``as_instructor``: only those of ``instructor_id``."""
    repo = repository(uow)
    rows = await repo.sessions(course_id=course_id, starting_from=starting_from, starting_before=starting_before,
                               instructor_id=instructor_id, instructors_only=as_instructor)
    counts = await repo.seat_counts([s.session_id for s in rows])
    return [_view(s, counts) for s in rows]


async def roster(uow: UnitOfWork, session_id: str, *, as_instructor: bool = False, instructor_id: str | None = None,
                 liaison_of: str | None = None) -> RosterView:
    """Who holds a seat and who waits, in order. ``as_instructor``: the caller is instructor ``instructor_id``,
    who sees only its own sessions; ``liaison_of``: only that institution's people are listed."""
    repo = repository(uow)
    found = await find_session(repo, session_id)
    if as_instructor and found.instructor_id != instructor_id:
        raise RuleViolation("session_id", "you are not the instructor of this session", "forbidden")
    rows = await repo.roster(session_id)
    positions = domain.waitlist_positions([seat(e) for e, _ in rows])
    lines = [RosterLine(e, name, positions.get(e.enrolment_id))
             for e, name in rows if liaison_of is None or e.institution_id == liaison_of]
    return RosterView(await session(uow, found), lines)


# ------------------------------------------------------------------ servants and transfers


async def servants(uow: UnitOfWork, *, acting_for: str | None, institution_id: str | None, curp: str | None,
                   limit: int, offset: int) -> list[Servant]:
    return await repository(uow).servants(
        curp=domain.validate_curp(curp) if curp else None, institution_id=institution_id, of_institution=acting_for,
        limit=limit, offset=offset)


async def servant(uow: UnitOfWork, servant_id: str, *, acting_for: str | None) -> Servant:
    return await find_servant(repository(uow), servant_id, acting_for)


async def exemptions(uow: UnitOfWork, servant_id: str, *, acting_for: str | None) -> list[ExemptionRow]:
    """The servant's exemptions, withdrawn ones included, oldest first (another institution's servant is
    unknown)."""
    repo = repository(uow)
    await find_servant(repo, servant_id, acting_for)
    return (await repo.exemptions_of([servant_id]))[servant_id]


async def transfers(uow: UnitOfWork, *, status: str | None, acting_for: str | None) -> list[Transfer]:
    """Transfers from or to the caller's institution (all of them for the comptroller)."""
    return await repository(uow).transfers(status=status, of_institution=acting_for)


# ------------------------------------------------------------------ enrolments


async def enrolments(uow: UnitOfWork, *, acting_for: str | None, session_id: str | None, servant_id: str | None,
                     include_cancelled: bool, limit: int, offset: int) -> list[EnrolmentView]:
    repo = repository(uow)
    rows = await repo.enrolments(session_id=session_id, servant_id=servant_id, include_cancelled=include_cancelled,
                                 institution_id=acting_for, limit=limit, offset=offset)
    waiting = sorted({e.session_id for e in rows if e.status == "waitlisted"})
    positions = await repo.waitlist_positions(waiting)
    return [EnrolmentView(e, positions.get(e.enrolment_id)) for e in rows]


async def enrolment(uow: UnitOfWork, enrolment_id: str, *, acting_for: str | None) -> EnrolmentView:
    repo = repository(uow)
    found = await find_enrolment(repo, enrolment_id, acting_for)
    if found.status != "waitlisted":
        return EnrolmentView(found, None)
    return EnrolmentView(found, (await repo.waitlist_positions([found.session_id])).get(found.enrolment_id))


async def plan(uow: UnitOfWork, year: int, *, acting_for: str | None) -> tuple[PlanVersion, list[domain.PlanLine]]:
    """The year's plan in force (its latest version); a liaison sees only its own institution's targets."""
    found = await repository(uow).latest_plan(year)
    if found is None:
        raise RuleViolation("year", f"no plan is declared for {year}", "not_found")
    lines = plan_lines(found)
    if acting_for is not None:
        lines = [line for line in lines if line.institution_id == acting_for]
    return found, lines


# ------------------------------------------------------------------ requirements


@dataclass(frozen=True)
class RequirementView:
    requirement_id: str
    in_force: RequirementRow | None  # the version in force on the day asked (None: none, or withdrawn)
    versions: list[RequirementRow]  # every version known by the moment asked, in order


def _known(at: datetime | None, by: datetime | None) -> bool:
    return by is None or (at is not None and at <= by)


def version_of(row: RequirementRow) -> compliance.RequirementVersion:
    e = requirement_event(row)
    return compliance.RequirementVersion(e.requirement_id, e.version, e.effective_from, e.title, e.course_id,
                                         e.competency, e.scope, e.due, e.withdrawn)


def _in_force(rows: list[RequirementRow], on: date) -> RequirementRow | None:
    chosen = compliance.in_force([version_of(r) for r in rows], on)
    return next((r for r in rows if chosen and r.version == chosen.version), None)


async def requirements(uow: UnitOfWork, *, on: date, known_by: datetime | None,
                       requirement_id: str | None = None) -> list[RequirementView]:
    """Requirements (one, or all) with the version in force on ``on``, as known at ``known_by``."""
    by_id: dict[str, list[RequirementRow]] = defaultdict(list)
    for row in await repository(uow).requirement_versions(requirement_id):
        if _known(row.declared_at, known_by):
            by_id[row.requirement_id].append(row)
    if requirement_id is not None and not by_id:
        raise RuleViolation("requirement_id", f"unknown requirement {requirement_id!r}", "not_found")
    return [RequirementView(rid, _in_force(rows, on), rows) for rid, rows in sorted(by_id.items())]


# ------------------------------------------------------------------ the named compliance list

COMPLIANCE_CSV_COLUMNS = ("servant_id", "name", "curp", "position", "requirement_id", "requirement", "state",
                          "due_on")


@dataclass(frozen=True)
class ComplianceLine:
    servant: Servant  # name, CURP and position are None after erasure
    requirement: RequirementRow  # the version in force
    standing: compliance.Standing


def _steps(servant: Servant, events: list[LifeEvent], levels: dict[str, str],
           known_by: datetime | None) -> list:
    steps: list = []
    for e in events:
        if not _known(e.recorded_at, known_by):
            continue
        level = levels.get(e.institution_id, "")
        if e.kind == "joined":
            steps.append(compliance.Joined(e.institution_id, level, e.on))
        elif e.kind == "transferred":
            steps.append(compliance.Transferred(e.institution_id, level, e.on))
        elif e.kind == "left":
            steps.append(compliance.Left(e.institution_id, e.on))
    if not events:  # registered before the life cycle was recorded: serving since registration
        steps.append(compliance.Joined(servant.institution_id, levels.get(servant.institution_id, ""),
                                       servant.joined_on or servant.registered_at.date()))
    return steps


def _completions(rows: list[CompletionRow], known_by: datetime | None) -> list[compliance.Completion]:
    """A revocation known by then takes the completion away in valid time (void: on every day), and an
    attainment with it when the attainment lists that certificate."""
    revoked = {r.completion_id: compliance.revoked_from(r.revocation_applies, r.revoked_effective_on)
               for r in rows if r.revoked_on is not None and _known(r.revoked_at, known_by)}

    def revoked_on(r: CompletionRow) -> date | None:
        if r.certificate_ids:
            return compliance.attainment_revoked_on(revoked.get(f"certificate:{c}") for c in r.certificate_ids.split())
        return revoked.get(r.completion_id)

    return [compliance.Completion(r.course_id, r.competency, r.completed_on, r.valid_until, revoked_on(r))
            for r in rows if r.completed_on is not None and _known(r.recorded_at, known_by)]


def _exemptions(rows: list[ExemptionRow], known_by: datetime | None) -> list[compliance.Exemption]:
    return [compliance.Exemption(r.exemption_id, r.requirement_id, r.effective_from, r.until,
                                 r.withdrawn_on if r.withdrawn_on is not None and _known(r.withdrawn_at, known_by)
                                 else None, r.reason)
            for r in rows if _known(r.granted_at, known_by)]


async def compliance_list(uow: UnitOfWork, institution_id: str, *, acting_for: str | None, on: date,
                          known_by: datetime | None, requirement_id: str | None = None,
                          state: str = "overdue") -> list[ComplianceLine]:
    """The institution's servants (serving there on ``on``) with their standing on each requirement in
    force that applies to them, as known at ``known_by``; ``state``: overdue, due, compliant, exempt or
    all. Another institution's liaison is told the institution is unknown, as for one that is not."""
    repo = repository(uow)
    await find_institution(repo, institution_id, acting_for)
    in_force = [v.in_force for v in await requirements(uow, on=on, known_by=known_by, requirement_id=requirement_id)
                if v.in_force is not None]
    if not in_force:
        return []
    levels = {i.institution_id: i.government_level for i in await repo.institutions()}
    servants = [s for s in await repo.servants_ever_in(institution_id) if _known(s.registered_at, known_by)]
    ids = [s.servant_id for s in servants]
    lives, done, exempt = await repo.life_events(ids), await repo.completions_of(ids), await repo.exemptions_of(ids)
    versions = [(row, version_of(row)) for row in in_force]
    lines = []
    for servant in servants:
        profile = compliance.ServantProfile(
            servant.servant_id, servant.position_level, servant.position_digest,
            compliance.memberships(_steps(servant, lives[servant.servant_id], levels, known_by)))
        membership = compliance.membership_on(profile, on)
        if membership is None or membership.institution_id != institution_id:
            continue
        completions = _completions(done[servant.servant_id], known_by)
        exemptions = _exemptions(exempt[servant.servant_id], known_by)
        for row, version in versions:
            standing = compliance.standing(version, profile, completions, exemptions, on)
            if standing is not None and (state == "all" or standing.state.value == state):
                lines.append(ComplianceLine(servant, row, standing))
    lines.sort(key=lambda l: (l.servant.name is None, l.servant.name or "", l.servant.servant_id,
                              l.requirement.requirement_id))
    return lines


def compliance_csv(lines: list[ComplianceLine]) -> str:
    """The list for the ethics committee: UTF-8 CSV, one servant and requirement per row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COMPLIANCE_CSV_COLUMNS)
    for line in lines:
        s = line.servant
        writer.writerow([cell(v) for v in (
            s.servant_id, s.name, s.curp, s.position, line.requirement.requirement_id, line.requirement.title,
            line.standing.state.value, line.standing.due_on.isoformat() if line.standing.due_on else None)])
    return out.getvalue()


STATES = (*(s.value for s in State), "all")


# ------------------------------------------------------------------ named constancias


@dataclass(frozen=True)
class CertificateHeld:
    row: CompletionRow
    course_title: str | None


async def constancias(uow: UnitOfWork, servant_id: str, *, acting_for: str | None) -> list[CertificateHeld]:
    repo = repository(uow)
    await find_servant(repo, servant_id, acting_for)
    titles = {c.course_id: c.title for c in await repo.courses()}
    return [CertificateHeld(row, titles.get(row.course_id))
            for row in (await repo.certificates_of([servant_id]))[servant_id]]


class _Printer:
    """Makes named constancias: the course titles and institution names they print, read once."""

    def __init__(self, verify_base_url: str, courses: list[Course], institutions: list[Institution],
                 signing_authority: SigningAuthority) -> None:
        self.verify_base_url = verify_base_url
        self.signing_authority = signing_authority
        self.titles = {c.course_id: c.title for c in courses}
        self.institutions = {i.institution_id: i.name for i in institutions}

    @classmethod
    async def reading(cls, repo, ctx) -> _Printer:  # noqa: ANN001
        return cls(ctx.verify_base_url, await repo.courses(), await repo.institutions(), ctx.signing_authority)

    def constancia(self, servant: Servant, row: CompletionRow) -> NamedConstancia:
        return NamedConstancia(
            holder_name=servant.name, curp=servant.curp, verification_code=row.verification_code,
            course_title=self.titles.get(row.course_id) or row.course_id or "", hours=row.hours or 0,
            issued_on=row.completed_on, issuing_authority=row.issuing_authority or "",
            verification_url=constancia_url(self.verify_base_url, row.verification_code, servant.holder_salt),
            institution_name=self.institutions.get(servant.institution_id), signed_by=self.signing_authority)


def _printable(servant: Servant) -> bool:
    """Whether a constancia bearing the servant's name can be printed: not after erasure (nor for a
    servant registered before holders were bound, who has no salt yet)."""
    return servant.erased_at is None and bool(servant.name and servant.curp and servant.holder_salt)


async def named_constancia(uow: UnitOfWork, ctx, servant_id: str, code: str, *,  # noqa: ANN001
                           acting_for: str | None) -> NamedConstancia:
    """The constancia of one of the servant's certificates, ready to print."""
    repo = repository(uow)
    servant = await find_servant(repo, servant_id, acting_for)
    row = next((r for r in (await repo.certificates_of([servant_id]))[servant_id] if r.verification_code == code), None)
    if row is None:
        raise RuleViolation("code", f"servant {servant_id} has no certificate {code!r}", "not_found")
    if not _printable(servant):
        raise RuleViolation("servant_id", "this servant's personal data was erased: no constancia bearing their "
                            "name can be printed (the certificate still verifies by its code)", "gone")
    if row.revoked_on is not None:
        raise RuleViolation("code", f"certificate {code} was revoked on {row.revoked_on.isoformat()}", "conflict")
    return (await _Printer.reading(repo, ctx)).constancia(servant, row)


async def institution_constancias(uow: UnitOfWork, ctx, institution_id: str, *,  # noqa: ANN001
                                  acting_for: str | None) -> list[NamedConstancia]:
    """The printable constancias of the institution's current servants: revoked certificates and erased
    servants left out."""
    repo = repository(uow)
    await find_institution(repo, institution_id, acting_for)
    servants = [s for s in await repo.servants_ever_in(institution_id)
                if s.institution_id == institution_id and _printable(s)]
    held = await repo.certificates_of([s.servant_id for s in servants])
    printer = await _Printer.reading(repo, ctx)
    return [printer.constancia(s, row) for s in servants for row in held[s.servant_id]
            if row.revoked_on is None and row.completed_on is not None]

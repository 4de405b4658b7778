"""Reads of requirements, exemptions and the named compliance list for the HTTP API, through the repository."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from contracts import compliance
from contracts.attribution import Stamp
from contracts.compliance import State
from probidad.shared.csvcells import cell
from probidad.shared.errors import RuleViolation

from services.enrollment.institutions.handlers import find_institution
from services.enrollment.requirements.ports import (
    CompletionRow,
    ExemptionRow,
    LifeEvent,
    RequirementRow,
    RequirementsRepository,
    Servant,
)
from services.enrollment.requirements.rows import requirement_event
from services.enrollment.servants.handlers import find_servant


async def exemptions(repo: RequirementsRepository, servant_id: str, *, acting_for: str | None) -> list[ExemptionRow]:
    """The servant's exemptions, withdrawn ones included, oldest first (another institution's servant is
    unknown)."""
    await find_servant(repo, servant_id, acting_for)
    return (await repo.exemptions_of([servant_id]))[servant_id]


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


async def requirements(repo: RequirementsRepository, *, on: date, known_by: datetime | None,
                       requirement_id: str | None = None) -> list[RequirementView]:
    """Requirements (one, or all) with the version in force on ``on``, as known at ``known_by``."""
    by_id: dict[str, list[RequirementRow]] = defaultdict(list)
    for row in await repo.requirement_versions(requirement_id):
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
            # Stated when recorded; two transfers of one servant recorded in one instant go in record order.
            steps.append(compliance.Transferred(e.institution_id, level, e.on,
                                                Stamp.of(e.recorded_at, f"{e.number or 0:020d}")))
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


async def compliance_list(repo: RequirementsRepository, institution_id: str, *, acting_for: str | None, on: date,
                          known_by: datetime | None, requirement_id: str | None = None,
                          state: str = "overdue") -> list[ComplianceLine]:
    """The institution's servants (serving there on ``on``) with their standing on each requirement in
    force that applies to them, as known at ``known_by``; ``state``: overdue, due, compliant, exempt or
    all. Another institution's liaison is told the institution is unknown, as for one that is not."""
    await find_institution(repo, institution_id, acting_for)
    in_force = [v.in_force for v in await requirements(repo, on=on, known_by=known_by, requirement_id=requirement_id)
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
    lines.sort(key=lambda line: (line.servant.name is None, line.servant.name or "", line.servant.servant_id,
                                 line.requirement.requirement_id))
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



"""Handlers of training requirements, exemptions and completions: load through the repository, ask the domain, save,
and return the events."""

from __future__ import annotations

from datetime import date, datetime

from contracts.attribution import Stamp
from contracts.events import CertificateIssued, CertificateRevoked, CompetencyAttained
from probidad.shared.errors import RuleViolation

from services.enrollment.context import Done, EnrollmentContext, new_id
from services.enrollment.requirements.domain import (
    RequirementTerms,
    decide_exemption,
    decide_exemption_withdrawal,
    decide_requirement,
    decide_requirement_withdrawal,
)
from services.enrollment.requirements.ports import ExemptionRow, RequirementRow, RequirementsRepository
from services.enrollment.requirements.rows import requirement_event, requirement_positions
from services.enrollment.servants.handlers import find_servant

# ------------------------------------------------------------------ training requirements and exemptions


async def declare_requirement(repo: RequirementsRepository, ctx: EnrollmentContext, terms_: RequirementTerms, *,
                              requirement_id: str, declared_by: str, now: datetime) -> Done[RequirementRow]:
    """Version 1 of a requirement, or the next version of an existing one."""
    latest = await repo.latest_requirement(requirement_id, lock=True)
    course_known = terms_.course_id is not None and await repo.course(terms_.course_id) is not None
    known = await repo.known_institutions(sorted(set(terms_.institution_ids)))
    declared = decide_requirement(terms_, requirement_id=requirement_id,
                                         latest=requirement_event(latest) if latest else None,
                                         course_known=course_known, known_institutions=known,
                                         digest_key=ctx.digest_key, declared_at=now, declared_by=declared_by)
    return Done(await repo.add_requirement(declared, [p.strip() for p in terms_.positions if p.strip()]),
                [declared], declared.version == 1)


async def withdraw_requirement(repo: RequirementsRepository, ctx: EnrollmentContext, requirement_id: str, *,
                               effective_from: date | None, declared_by: str, now: datetime) -> Done[RequirementRow]:
    latest = await repo.latest_requirement(requirement_id, lock=True)
    withdrawn = decide_requirement_withdrawal(
        requirement_event(latest) if latest else None, requirement_id=requirement_id,
        effective_from=effective_from or ctx.today(now), declared_at=now, declared_by=declared_by)
    positions = requirement_positions(latest) if latest else []
    return Done(await repo.add_requirement(withdrawn, positions), [withdrawn])


async def grant_exemption(repo: RequirementsRepository, ctx: EnrollmentContext, servant_id: str, *, requirement_id: str,
                          reason: str, effective_from: date | None, until: date | None, acting_for: str | None,
                          granted_by: str, now: datetime) -> Done[ExemptionRow]:
    await find_servant(repo, servant_id, acting_for)
    granted = decide_exemption(
        exemption_id=new_id("ex"), servant_id=servant_id, requirement_id=requirement_id,
        requirement_known=await repo.latest_requirement(requirement_id) is not None, reason=reason,
        effective_from=effective_from or ctx.today(now), until=until, granted_by=granted_by, granted_at=now)
    return Done(await repo.add_exemption(granted), [granted], True)


async def withdraw_exemption(repo: RequirementsRepository, ctx: EnrollmentContext, exemption_id: str, *,
                             withdrawn_on: date | None, acting_for: str | None, withdrawn_by: str,
                             now: datetime) -> Done[ExemptionRow]:
    row = await repo.exemption(exemption_id)
    if row is None:
        raise RuleViolation("exemption_id", f"unknown exemption {exemption_id!r}", "not_found")
    try:
        await find_servant(repo, row.servant_id, acting_for)
    except RuleViolation:  # another institution's servant's exemption is unknown too
        raise RuleViolation("exemption_id", f"unknown exemption {exemption_id!r}", "not_found") from None
    withdrawn = decide_exemption_withdrawal(
        exemption_id=exemption_id, requirement_id=row.requirement_id, servant_id=row.servant_id,
        effective_from=row.effective_from, withdrawn_already=row.withdrawn_on,
        withdrawn_on=withdrawn_on or ctx.today(now), withdrawn_by=withdrawn_by)
    await repo.withdraw_exemption(row, on=withdrawn.withdrawn_on, by=withdrawn_by, at=now)
    return Done(row, [withdrawn])


# ------------------------------------------------------------------ completions (certification's facts)


async def certificate_issued(repo: RequirementsRepository, ctx: EnrollmentContext, event: CertificateIssued,
                             stamp: Stamp) -> None:
    await repo.record_completion(
        f"certificate:{event.certificate_id}", servant_id=event.servant_id, course_id=event.course_id,
        competency=None, completed_on=event.issued_on, valid_until=event.valid_until, recorded_at=stamp.at,
        verification_code=event.verification_code, hours=event.hours, issuing_authority=event.issuing_authority,
        session_id=event.session_id)


async def certificate_revoked(repo: RequirementsRepository, ctx: EnrollmentContext, event: CertificateRevoked,
                              stamp: Stamp) -> None:
    """Kept as recorded on its day, with how it applies in valid time (void, or from a date): the compliance
    rule reads both (``contracts.compliance.revoked_from``)."""
    await repo.revoke_completion(
        f"certificate:{event.certificate_id}", servant_id=event.servant_id, course_id=event.course_id,
        revoked_on=ctx.today(stamp.at), revoked_at=stamp.at, applies=event.applies, effective_on=event.effective_on,
        session_id=event.session_id)


async def competency_attained(repo: RequirementsRepository, ctx: EnrollmentContext, event: CompetencyAttained,
                              stamp: Stamp) -> None:
    """Kept with the certificates it lists: it counts only while each of them does
    (``contracts.compliance.attainment_revoked_on``), whichever of the attainment and a revocation came first."""
    await repo.record_completion(
        f"competency:{event.servant_id}:{event.competency}:{event.attained_on.isoformat()}"[:400],
        servant_id=event.servant_id, course_id=None, competency=event.competency, completed_on=event.attained_on,
        valid_until=None, recorded_at=stamp.at, certificate_ids=event.certificate_ids)

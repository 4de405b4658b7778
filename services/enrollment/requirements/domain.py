"""Training requirements and exemptions: what declaring, withdrawing or granting one must satisfy. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from contracts.events import (
    DueRule,
    DueRuleKind,
    ExemptionGranted,
    ExemptionWithdrawn,
    GovernmentLevel,
    RequirementScope,
    TrainingRequirementDeclared,
)
from contracts.pseudonyms import position_digest
from probidad.shared.errors import RuleViolation


@dataclass(frozen=True)
class RequirementTerms:
    """A requirement as the comptroller states it (positions by title; enrollment digests them)."""

    title: str
    course_id: str | None
    competency: str | None
    effective_from: date
    due: DueRule
    institution_ids: tuple[str, ...] = ()
    government_level: GovernmentLevel | None = None
    position_levels: tuple[str, ...] = ()
    positions: tuple[str, ...] = ()


def check_due(due: DueRule) -> DueRule:
    """Each kind of due rule with what it needs (422 naming the missing field)."""
    if due.kind == DueRuleKind.within_days_of_joining and due.days is None:
        raise RuleViolation("due.days", "a within_days_of_joining rule needs days (e.g. 90)")
    if due.kind == DueRuleKind.yearly_by:
        if due.month is None:
            raise RuleViolation("due.month", "a yearly_by rule needs month and day of its yearly deadline")
        if due.day is None:
            raise RuleViolation("due.day", "a yearly_by rule needs month and day of its yearly deadline")
        if due.day > (29 if due.month == 2 else 30 if due.month in (4, 6, 9, 11) else 31):
            raise RuleViolation("due.day", f"month {due.month} has no day {due.day}")
    if due.kind == DueRuleKind.renewal and due.months is None:
        raise RuleViolation("due.months", "a renewal rule needs months (how long a completion holds)")
    return due


def decide_requirement(terms: RequirementTerms, *, requirement_id: str, latest: TrainingRequirementDeclared | None,
                       course_known: bool, known_institutions: set[str], digest_key: str, declared_at: datetime,
                       declared_by: str) -> TrainingRequirementDeclared:
    """Declare version 1 of a requirement, or the next version of one (superseding it from its date)."""
    if (terms.course_id is None) == (terms.competency is None):
        raise RuleViolation("course_id", "give exactly one of course_id and competency")
    if terms.course_id is not None and not course_known:
        raise RuleViolation("course_id", f"unknown course {terms.course_id!r}")
    if terms.competency is not None and not terms.competency.strip():
        raise RuleViolation("competency", "must not be blank")
    if not terms.title.strip():
        raise RuleViolation("title", "must not be blank")
    for institution_id in terms.institution_ids:
        if institution_id not in known_institutions:
            raise RuleViolation("scope.institution_ids", f"unknown institution {institution_id!r}")
    if latest is not None and terms.effective_from < latest.effective_from:
        raise RuleViolation("effective_from", f"must not be before version {latest.version}'s "
                            f"({latest.effective_from.isoformat()}): a later version supersedes from its own date")
    found = {position_digest(p, digest_key) for p in terms.positions if p.strip()}
    digests = sorted(d for d in found if d is not None)
    if len(digests) != len(found):  # a title of punctuation only: it would name no position at all
        raise RuleViolation("scope.positions", "a position title needs letters or digits")
    scope = RequirementScope(institution_ids=sorted(set(terms.institution_ids)) or None,
                             government_level=terms.government_level,
                             position_levels=sorted({p.strip() for p in terms.position_levels if p.strip()}) or None,
                             position_digests=digests or None)
    return TrainingRequirementDeclared(
        requirement_id=requirement_id, version=(latest.version if latest else 0) + 1,
        effective_from=terms.effective_from, title=terms.title.strip(), course_id=terms.course_id,
        competency=terms.competency.strip() if terms.competency else None, scope=scope, due=check_due(terms.due),
        declared_at=declared_at, declared_by=declared_by)


def decide_requirement_withdrawal(latest: TrainingRequirementDeclared | None, *, requirement_id: str,
                                  effective_from: date, declared_at: datetime,
                                  declared_by: str) -> TrainingRequirementDeclared:
    """A withdrawal is the next version, requiring nothing from its date (the terms stay for the record)."""
    if latest is None:
        raise RuleViolation("requirement_id", f"unknown requirement {requirement_id!r}", "not_found")
    if latest.withdrawn:
        raise RuleViolation("requirement_id", f"the requirement is already withdrawn from "
                            f"{latest.effective_from.isoformat()}", "conflict")
    if effective_from < latest.effective_from:
        raise RuleViolation("effective_from", f"must not be before version {latest.version}'s "
                            f"({latest.effective_from.isoformat()})")
    return latest.model_copy(update=dict(version=latest.version + 1, effective_from=effective_from, withdrawn=True,
                                         declared_at=declared_at, declared_by=declared_by))


def decide_exemption(*, exemption_id: str, servant_id: str, requirement_id: str, requirement_known: bool,
                     reason: str, effective_from: date, until: date | None, granted_by: str,
                     granted_at: datetime) -> ExemptionGranted:
    if not requirement_known:
        raise RuleViolation("requirement_id", f"unknown requirement {requirement_id!r}")
    if not reason.strip():
        raise RuleViolation("reason", "an exemption needs its reason")
    if until is not None and until < effective_from:
        raise RuleViolation("until", f"must not be before effective_from ({effective_from.isoformat()})")
    return ExemptionGranted(exemption_id=exemption_id, requirement_id=requirement_id, servant_id=servant_id,
                            reason=reason.strip(), effective_from=effective_from, until=until, granted_by=granted_by,
                            granted_at=granted_at)


def decide_exemption_withdrawal(*, exemption_id: str, requirement_id: str, servant_id: str, effective_from: date,
                                withdrawn_already: date | None, withdrawn_on: date,
                                withdrawn_by: str) -> ExemptionWithdrawn:
    if withdrawn_already is not None:
        raise RuleViolation("exemption_id", f"the exemption is already withdrawn from "
                            f"{withdrawn_already.isoformat()}", "conflict")
    if withdrawn_on < effective_from:
        raise RuleViolation("withdrawn_on", f"must not be before the exemption's effective_from "
                            f"({effective_from.isoformat()})")
    return ExemptionWithdrawn(exemption_id=exemption_id, requirement_id=requirement_id, servant_id=servant_id,
                              withdrawn_on=withdrawn_on, withdrawn_by=withdrawn_by)


"""Reads of the annual training programme for the HTTP API, through the repository."""

from __future__ import annotations

from probidad.shared.errors import RuleViolation

from services.enrollment.plans.domain import PlanLine
from services.enrollment.plans.ports import PlansRepository, PlanVersion
from services.enrollment.plans.rows import plan_lines


async def plan(repo: PlansRepository, year: int, *, acting_for: str | None) -> tuple[PlanVersion, list[PlanLine]]:
    """The year's plan in force (its latest version); a liaison sees only its own institution's targets."""
    found = await repo.latest_plan(year)
    if found is None:
        raise RuleViolation("year", f"no plan is declared for {year}", "not_found")
    lines = plan_lines(found)
    if acting_for is not None:
        lines = [line for line in lines if line.institution_id == acting_for]
    return found, lines



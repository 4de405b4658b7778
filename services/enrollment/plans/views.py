"""Reads of the annual training programme for the HTTP API, through the repository."""

from __future__ import annotations

from probidad.shared.errors import RuleViolation
from probidad.shared.unit_of_work import UnitOfWork

from services.enrollment.context import repository
from services.enrollment.plans.domain import PlanLine
from services.enrollment.plans.repository import plan_lines
from services.enrollment.tables import PlanVersion


async def plan(uow: UnitOfWork, year: int, *, acting_for: str | None) -> tuple[PlanVersion, list[PlanLine]]:
    """The year's plan in force (its latest version); a liaison sees only its own institution's targets."""
    found = await repository(uow).latest_plan(year)
    if found is None:
        raise RuleViolation("year", f"no plan is declared for {year}", "not_found")
    lines = plan_lines(found)
    if acting_for is not None:
        lines = [line for line in lines if line.institution_id == acting_for]
    return found, lines



"""Handlers of the annual training programme: load through the repository, ask the domain, save, and return the
events."""

from __future__ import annotations

from datetime import datetime

from services.enrollment.context import Done, EnrollmentContext, new_id
from services.enrollment.plans.domain import PlanLine, decide_plan
from services.enrollment.plans.ports import PlansRepository, PlanVersion


async def declare_plan(repo: PlansRepository, ctx: EnrollmentContext, *, year: int, lines: list[PlanLine],
                       declared_by: str, now: datetime) -> Done[PlanVersion]:
    """Declare the next version of the year's programme (the whole plan; it replaces the previous one)."""
    latest = await repo.latest_plan(year, lock=True)
    known = await repo.known_institutions(sorted({line.institution_id for line in lines}))
    declared = decide_plan(plan_id=new_id("pl"), year=year, version=(latest.version if latest else 0) + 1,
                                  lines=lines, known_institutions=known, declared_at=now,
                                  declared_by=declared_by)
    return Done(await repo.add_plan(declared), [declared], True)



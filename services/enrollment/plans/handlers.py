"""Handlers of the annual training programme: load through the repository, ask the domain, save, and return the events."""

from __future__ import annotations

from probidad.shared.unit_of_work import UnitOfWork

from services.enrollment.context import Done, EnrollmentContext, new_id, repository
from services.enrollment.plans.domain import PlanLine, decide_plan
from services.enrollment.tables import PlanVersion


async def declare_plan(uow: UnitOfWork, ctx: EnrollmentContext, *, year: int, lines: list[PlanLine],
                       declared_by: str) -> Done[PlanVersion]:
    """Declare the next version of the year's programme (the whole plan; it replaces the previous one)."""
    repo = repository(uow)
    latest = await repo.latest_plan(year, lock=True)
    known = await repo.known_institutions(sorted({line.institution_id for line in lines}))
    declared = decide_plan(plan_id=new_id("pl"), year=year, version=(latest.version if latest else 0) + 1,
                                  lines=lines, known_institutions=known, declared_at=ctx.now(),
                                  declared_by=declared_by)
    return Done(await repo.add_plan(declared), [declared], True)



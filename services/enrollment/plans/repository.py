"""Storage of the annual training programme: the only SQL for it, and where its rows become the domain's records."""

from __future__ import annotations

import json

from contracts.events import TrainingPlanDeclared
from sqlalchemy import select

from services.enrollment.base_repository import SqlStore
from services.enrollment.tables import PlanVersion


class SqlPlansRepository(SqlStore):

    async def latest_plan(self, year: int, *, lock: bool = False) -> PlanVersion | None:
        """The year's plan in force (its highest version). ``lock``: first take the year's lock until
        the transaction ends (PostgreSQL), so two declarations of a year number their versions in turn."""
        if lock:
            await self.hold(f"plan {year}")
        return (await self.db.execute(select(PlanVersion).where(PlanVersion.year == year)
                                      .order_by(PlanVersion.version.desc()).limit(1))).scalars().first()

    async def add_plan(self, declared: TrainingPlanDeclared) -> PlanVersion:
        row = PlanVersion(plan_id=declared.plan_id, year=declared.year, version=declared.version,
                          declared_at=declared.declared_at, declared_by=declared.declared_by,
                          targets=json.dumps([t.model_dump() for t in declared.targets], ensure_ascii=False))
        self.db.add(row)
        await self.db.flush()
        return row


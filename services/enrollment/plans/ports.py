"""What the handlers and views of the annual training programme may ask of storage (the SQL class in repository.py
satisfies it; a test hands a fake). The rows it answers with are the tables' classes, named here for them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from contracts.events import TrainingPlanDeclared

from services.enrollment.tables import PlanVersion as PlanVersion


class PlansRepository(Protocol):
    async def add_plan(self, declared: TrainingPlanDeclared) -> PlanVersion:
        ...

    async def known_institutions(self, institution_ids: Sequence[str]) -> set[str]:
        """Those of ``institution_ids`` that are registered, a query per bounded IN list."""
        ...

    async def latest_plan(self, year: int, *, lock: bool = False) -> PlanVersion | None:
        """The year's plan in force (its highest version). ``lock``: first take the year's lock until
        the transaction ends (PostgreSQL), so two declarations of a year number their versions in turn."""
        ...

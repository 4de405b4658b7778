"""Plans: rows as the domain's records (no SQL: attribute reads of the rows the repository loaded)."""

from __future__ import annotations

import json

from services.enrollment.plans.domain import PlanLine
from services.enrollment.tables import PlanVersion


def plan_lines(plan: PlanVersion) -> list[PlanLine]:
    return [PlanLine(f"targets.{i}", t["month"], t["institution_id"], t["topic"], t["sessions"], t["people"],
                            t["hours"]) for i, t in enumerate(json.loads(plan.targets))]

"""Requirements: rows as the domain's records (no SQL: attribute reads of the rows the repository loaded)."""

from __future__ import annotations

import json

from contracts.events import DueRule, RequirementScope, TrainingRequirementDeclared

from services.enrollment.tables import RequirementRow


def requirement_event(row: RequirementRow) -> TrainingRequirementDeclared:
    scope = json.loads(row.scope)
    scope.pop("positions", None)
    return TrainingRequirementDeclared(
        requirement_id=row.requirement_id, version=row.version, effective_from=row.effective_from, title=row.title,
        course_id=row.course_id, competency=row.competency, scope=RequirementScope(**scope),
        due=DueRule(**json.loads(row.due)), withdrawn=row.withdrawn, declared_at=row.declared_at,
        declared_by=row.declared_by)


def requirement_positions(row: RequirementRow) -> list[str]:
    """The position titles the version was declared with (its event carries only their digests)."""
    return list(json.loads(row.scope).get("positions") or [])

"""Reads of institutions and the catalogue for the HTTP API, through the repository."""

from __future__ import annotations

from dataclasses import dataclass

from probidad.shared.errors import RuleViolation
from probidad.shared.unit_of_work import UnitOfWork

from services.enrollment.context import repository
from services.enrollment.institutions.handlers import require_institution
from services.enrollment.tables import Course, Institution


@dataclass(frozen=True)
class InstitutionView:
    institution: Institution
    headcounts: dict[int, int]  # declared headcount per year


# ------------------------------------------------------------------ institutions and courses


async def institution(uow: UnitOfWork, row: Institution) -> InstitutionView:
    headcounts = await repository(uow).headcounts([row.institution_id])
    return InstitutionView(row, headcounts[row.institution_id])


async def institutions(uow: UnitOfWork) -> list[InstitutionView]:
    repo = repository(uow)
    rows = await repo.institutions()
    headcounts = await repo.headcounts([i.institution_id for i in rows])
    return [InstitutionView(i, headcounts[i.institution_id]) for i in rows]


async def institution_by_id(uow: UnitOfWork, institution_id: str) -> InstitutionView:
    found = await require_institution(repository(uow), institution_id, kind="not_found")
    return await institution(uow, found)


async def courses(uow: UnitOfWork) -> list[Course]:
    return await repository(uow).courses()


async def course(uow: UnitOfWork, course_id: str) -> Course:
    found = await repository(uow).course(course_id)
    if found is None:
        raise RuleViolation("course_id", f"unknown course {course_id!r}", "not_found")
    return found



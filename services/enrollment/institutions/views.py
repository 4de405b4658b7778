"""Reads of institutions and the catalogue for the HTTP API, through the repository."""

from __future__ import annotations

from dataclasses import dataclass

from probidad.shared.errors import RuleViolation

from services.enrollment.institutions.handlers import require_institution
from services.enrollment.institutions.ports import Course, Institution, InstitutionsRepository


@dataclass(frozen=True)
class InstitutionView:
    institution: Institution
    headcounts: dict[int, int]  # declared headcount per year


# ------------------------------------------------------------------ institutions and courses


async def institution(repo: InstitutionsRepository, row: Institution) -> InstitutionView:
    headcounts = await repo.headcounts([row.institution_id])
    return InstitutionView(row, headcounts[row.institution_id])


async def institutions(repo: InstitutionsRepository) -> list[InstitutionView]:
    rows = await repo.institutions()
    headcounts = await repo.headcounts([i.institution_id for i in rows])
    return [InstitutionView(i, headcounts[i.institution_id]) for i in rows]


async def institution_by_id(repo: InstitutionsRepository, institution_id: str) -> InstitutionView:
    found = await require_institution(repo, institution_id, kind="not_found")
    return await institution(repo, found)


async def courses(repo: InstitutionsRepository) -> list[Course]:
    return await repo.courses()


async def course(repo: InstitutionsRepository, course_id: str) -> Course:
    found = await repo.course(course_id)
    if found is None:
        raise RuleViolation("course_id", f"unknown course {course_id!r}", "not_found")
    return found



"""Storage of institutions and the catalogue: the only SQL for it, and where its rows become the domain's records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from services.enrollment.base_repository import IN_LIST, SqlStore
from services.enrollment.tables import Course, Headcount, Institution


class SqlInstitutionsRepository(SqlStore):

    # -------------------------------------------------------------- institutions

    async def institution(self, institution_id: str) -> Institution | None:
        return await self.db.get(Institution, institution_id)

    async def save_institution(self, *, institution_id: str, name: str, government_level: str,
                               municipality: str | None, headcount: int, headcount_year: int) -> tuple[Institution,
                                                                                                       bool]:
        institution = await self.db.get(Institution, institution_id)
        created = institution is None
        if institution is None:
            institution = Institution(institution_id=institution_id, name=name, government_level=government_level,
                                      municipality=municipality)
            self.db.add(institution)
        else:
            institution.name, institution.government_level = name, government_level
            institution.municipality = municipality
        year = await self.db.get(Headcount, (institution_id, headcount_year))
        if year is None:
            self.db.add(Headcount(institution_id=institution_id, year=headcount_year, headcount=headcount))
        else:
            year.headcount = headcount
        await self.db.flush()
        return institution, created

    async def institutions(self) -> list[Institution]:
        return list((await self.db.execute(select(Institution).order_by(Institution.institution_id))).scalars())

    async def headcounts(self, institution_ids: Sequence[str]) -> dict[str, dict[int, int]]:
        """Declared headcount per year of each institution, a query per bounded IN list."""
        found: dict[str, dict[int, int]] = {i: {} for i in institution_ids}
        for start in range(0, len(institution_ids), IN_LIST):
            rows = await self.db.execute(select(Headcount).where(
                Headcount.institution_id.in_(institution_ids[start:start + IN_LIST])))
            for h in rows.scalars():
                found[h.institution_id][h.year] = h.headcount
        return found

    async def known_institutions(self, institution_ids: Sequence[str]) -> set[str]:
        """Those of ``institution_ids`` that are registered, a query per bounded IN list."""
        return await self._present(Institution.institution_id, institution_ids)

    # -------------------------------------------------------------- courses

    async def course(self, course_id: str) -> Course | None:
        return await self.db.get(Course, course_id)

    async def course_using_code(self, code: str, other_than: str) -> str | None:
        clash = (await self.db.execute(select(Course.course_id).where(Course.code == code,
                                                                      Course.course_id != other_than))).first()
        return clash[0] if clash else None

    async def save_course(self, course_id: str, values: dict[str, Any]) -> tuple[Course, bool]:
        course = await self.db.get(Course, course_id)
        created = course is None
        if course is None:
            course = Course(course_id=course_id, **values)
            self.db.add(course)
        else:
            for name, value in values.items():
                setattr(course, name, value)
        await self.db.flush()
        return course, created

    async def courses(self) -> list[Course]:
        return list((await self.db.execute(select(Course).order_by(Course.code))).scalars())


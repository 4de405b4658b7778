"""What the handlers and views of institutions and the course catalogue may ask of storage (the SQL class in
repository.py
satisfies it; a test hands a fake). The rows it answers with are the tables' classes, named here for them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from services.enrollment.tables import Course as Course
from services.enrollment.tables import Institution as Institution


class InstitutionsRepository(Protocol):
    async def course(self, course_id: str) -> Course | None:
        ...

    async def course_using_code(self, code: str, other_than: str) -> str | None:
        ...

    async def courses(self) -> list[Course]:
        ...

    async def headcounts(self, institution_ids: Sequence[str]) -> dict[str, dict[int, int]]:
        """Declared headcount per year of each institution, a query per bounded IN list."""
        ...

    async def institution(self, institution_id: str) -> Institution | None:
        ...

    async def institutions(self) -> list[Institution]:
        ...

    async def save_course(self, course_id: str, values: dict[str, Any]) -> tuple[Course, bool]:
        ...

    async def save_institution(self, *, institution_id: str, name: str, government_level: str,
                               municipality: str | None, headcount: int, headcount_year: int) -> tuple[Institution,
                                                                                                       bool]:
        ...

"""What the handlers and views of named constancias may ask of storage (the SQL class in repository.py
satisfies it; a test hands a fake). The rows it answers with are the tables' classes, named here for them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from services.enrollment.servants.ports import ServantsRepository
from services.enrollment.tables import CompletionRow as CompletionRow
from services.enrollment.tables import Course as Course
from services.enrollment.tables import Institution as Institution
from services.enrollment.tables import Servant as Servant


class ConstanciasRepository(ServantsRepository, Protocol):
    async def certificates_of(self, servant_ids: Sequence[str]) -> dict[str, list[CompletionRow]]:
        """The servants' certificates enrollment was told of (revoked ones included), oldest first."""
        ...

    async def servants_ever_in(self, institution_id: str) -> list[Servant]:
        """Servants who belong, or ever belonged, to the institution (by registration or transfer)."""
        ...

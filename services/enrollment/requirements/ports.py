"""What the handlers and views of requirements, exemptions and completions may ask of storage (the SQL class in
repository.py
satisfies it; a test hands a fake). The rows it answers with are the tables' classes, named here for them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol

from contracts.events import ExemptionGranted, TrainingRequirementDeclared

from services.enrollment.servants.ports import ServantsRepository
from services.enrollment.tables import CompletionRow as CompletionRow
from services.enrollment.tables import ExemptionRow as ExemptionRow
from services.enrollment.tables import LifeEvent as LifeEvent
from services.enrollment.tables import RequirementRow as RequirementRow
from services.enrollment.tables import Servant as Servant


class RequirementsRepository(ServantsRepository, Protocol):
    async def add_exemption(self, granted: ExemptionGranted) -> ExemptionRow:
        ...

    async def add_requirement(self, declared: TrainingRequirementDeclared, positions: Sequence[str]) -> RequirementRow:
        ...

    async def completions_of(self, servant_ids: Sequence[str]) -> dict[str, list[CompletionRow]]:
        """Every completion row of the servants, a revocation still waiting for its certificate included: an
        attainment listing that certificate is revoked by it."""
        ...

    async def exemption(self, exemption_id: str) -> ExemptionRow | None:
        ...

    async def exemptions_of(self, servant_ids: Sequence[str]) -> dict[str, list[ExemptionRow]]:
        ...

    async def known_institutions(self, institution_ids: Sequence[str]) -> set[str]:
        """Those of ``institution_ids`` that are registered, a query per bounded IN list."""
        ...

    async def latest_requirement(self, requirement_id: str, *, lock: bool = False) -> RequirementRow | None:
        ...

    async def life_events(self, servant_ids: Sequence[str]) -> dict[str, list[LifeEvent]]:
        ...

    async def record_completion(self, completion_id: str, *, servant_id: str, course_id: str | None,
                                competency: str | None, completed_on: date, valid_until: date | None,
                                recorded_at: datetime, verification_code: str | None = None,
                                hours: float | None = None, issuing_authority: str | None = None,
                                session_id: str | None = None, certificate_ids: Sequence[str] = ()) -> None:
        """A certificate issued (with what its named constancia prints) or a competency attained (with the
        certificates it rests on); the same one told again changes nothing new."""
        ...

    async def requirement_versions(self, requirement_id: str | None = None) -> list[RequirementRow]:
        ...

    async def revoke_completion(self, completion_id: str, *, servant_id: str, course_id: str, revoked_on: date,
                                revoked_at: datetime, applies: str | None = None,
                                effective_on: date | None = None, session_id: str | None = None) -> None:
        """A certificate revoked (recorded on ``revoked_on``), applying in valid time as ``applies`` and
        ``effective_on`` say; a revocation is final, so one told again changes nothing."""
        ...

    async def servants_ever_in(self, institution_id: str) -> list[Servant]:
        """Servants who belong, or ever belonged, to the institution (by registration or transfer)."""
        ...

    async def withdraw_exemption(self, row: ExemptionRow, *, on: date, by: str, at: datetime) -> None:
        ...

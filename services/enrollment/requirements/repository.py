"""Storage of requirements, exemptions and completions: the only SQL for it, and where its rows become the domain's
records."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime

from contracts.events import ExemptionGranted, TrainingRequirementDeclared
from sqlalchemy import func, select

from services.enrollment.base_repository import SqlStore
from services.enrollment.tables import CompletionRow, ExemptionRow, RequirementRow


class SqlRequirementsRepository(SqlStore):

    # -------------------------------------------------------------- requirements and exemptions

    async def latest_requirement(self, requirement_id: str, *, lock: bool = False) -> RequirementRow | None:
        if lock:
            await self.hold(f"requirement {requirement_id}")
        return (await self.db.execute(select(RequirementRow).where(RequirementRow.requirement_id == requirement_id)
                                      .order_by(RequirementRow.version.desc()).limit(1))).scalars().first()

    async def add_requirement(self, declared: TrainingRequirementDeclared, positions: Sequence[str]) -> RequirementRow:
        scope = declared.scope.model_dump(mode="json") | {"positions": sorted(set(positions)) or None}
        row = RequirementRow(requirement_id=declared.requirement_id, version=declared.version,
                             effective_from=declared.effective_from, title=declared.title,
                             course_id=declared.course_id, competency=declared.competency,
                             scope=json.dumps(scope, ensure_ascii=False),
                             due=declared.due.model_dump_json(), withdrawn=declared.withdrawn,
                             declared_at=declared.declared_at, declared_by=declared.declared_by)
        self.db.add(row)
        await self.db.flush()
        return row

    async def requirement_versions(self, requirement_id: str | None = None) -> list[RequirementRow]:
        query = select(RequirementRow).order_by(RequirementRow.requirement_id, RequirementRow.version)
        if requirement_id is not None:
            query = query.where(RequirementRow.requirement_id == requirement_id)
        return list((await self.db.execute(query)).scalars())

    async def add_exemption(self, granted: ExemptionGranted) -> ExemptionRow:
        row = ExemptionRow(exemption_id=granted.exemption_id, requirement_id=granted.requirement_id,
                           servant_id=granted.servant_id, reason=granted.reason, effective_from=granted.effective_from,
                           until=granted.until, granted_by=granted.granted_by, granted_at=granted.granted_at)
        self.db.add(row)
        await self.db.flush()
        return row

    async def exemption(self, exemption_id: str) -> ExemptionRow | None:
        return await self.db.get(ExemptionRow, exemption_id)

    async def withdraw_exemption(self, row: ExemptionRow, *, on: date, by: str, at: datetime) -> None:
        row.withdrawn_on, row.withdrawn_by, row.withdrawn_at = on, by, at
        await self.db.flush()

    async def exemptions_of(self, servant_ids: Sequence[str]) -> dict[str, list[ExemptionRow]]:
        return await self._per_servant(ExemptionRow, servant_ids, order_by=(ExemptionRow.granted_at,))

    # -------------------------------------------------------------- completions (from certification)

    async def _completion(self, completion_id: str, servant_id: str) -> CompletionRow:
        row = await self.db.get(CompletionRow, completion_id)
        if row is None:
            row = CompletionRow(completion_id=completion_id, servant_id=servant_id)
            self.db.add(row)
        return row

    async def record_completion(self, completion_id: str, *, servant_id: str, course_id: str | None,
                                competency: str | None, completed_on: date, valid_until: date | None,
                                recorded_at: datetime, verification_code: str | None = None,
                                hours: float | None = None, issuing_authority: str | None = None,
                                session_id: str | None = None, certificate_ids: Sequence[str] = ()) -> None:
        """A certificate issued (with what its named constancia prints) or a competency attained (with the
        certificates it rests on); the same one told again changes nothing new."""
        row = await self._completion(completion_id, servant_id)
        row.course_id, row.competency = course_id, competency
        row.completed_on, row.valid_until = completed_on, valid_until
        row.certificate_ids = " ".join(certificate_ids) or row.certificate_ids
        row.verification_code, row.hours, row.issuing_authority = verification_code, hours, issuing_authority
        row.session_id = row.session_id or session_id
        row.recorded_at = row.recorded_at or recorded_at
        await self.db.flush()

    async def certificates_of(self, servant_ids: Sequence[str]) -> dict[str, list[CompletionRow]]:
        """The servants' certificates enrollment was told of (revoked ones included), oldest first."""
        return await self._per_servant(CompletionRow, servant_ids, CompletionRow.verification_code.is_not(None),
                                       order_by=(CompletionRow.completed_on, CompletionRow.completion_id))

    async def revoke_completion(self, completion_id: str, *, servant_id: str, course_id: str, revoked_on: date,
                                revoked_at: datetime, applies: str | None = None,
                                effective_on: date | None = None, session_id: str | None = None) -> None:
        """A certificate revoked (recorded on ``revoked_on``), applying in valid time as ``applies`` and
        ``effective_on`` say; a revocation is final, so one told again changes nothing."""
        row = await self._completion(completion_id, servant_id)
        row.course_id = row.course_id or course_id
        row.session_id = row.session_id or session_id
        if row.revoked_on is None:
            row.revoked_on, row.revoked_at = revoked_on, revoked_at
            row.revocation_applies, row.revoked_effective_on = applies, effective_on
        await self.db.flush()

    async def certificates_from_session(self, session_id: str) -> int:
        """How many certificates certification has said it issued from the session (revoked ones too)."""
        return (await self.db.execute(select(func.count()).select_from(CompletionRow).where(
            CompletionRow.session_id == session_id))).scalar_one()

    async def completions_of(self, servant_ids: Sequence[str]) -> dict[str, list[CompletionRow]]:
        """Every completion row of the servants, a revocation still waiting for its certificate included: an
        attainment listing that certificate is revoked by it."""
        return await self._per_servant(CompletionRow, servant_ids)

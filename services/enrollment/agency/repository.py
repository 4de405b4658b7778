"""Storage of agency requests decided: the only SQL for it, and where its rows become the domain's records."""

from __future__ import annotations

from datetime import datetime

from services.enrollment.agency.domain import DecidedRequest
from services.enrollment.base_repository import SqlStore
from services.enrollment.tables import AgencyRequest


class SqlAgencyRepository(SqlStore):

    # -------------------------------------------------------------- agency requests

    async def decided_agency_request(self, institution_id: str, request_id: str) -> DecidedRequest | None:
        """The earlier decision on this request of this institution, if any.

        On PostgreSQL the request is locked for the rest of the transaction first, so two consumers handed
        the same request at once (a rebalance, a re-send under another key) decide it one after the other:
        the second sees the first's decision. On SQLite one process applies agency requests one at a time.
        """
        await self.hold(f"agency-request {institution_id} {request_id}")
        found = await self.db.get(AgencyRequest, (institution_id, request_id))
        if found is None:
            return None
        return DecidedRequest(found.institution_id, found.request_id, found.request_digest, found.outcome,
                                     found.outcome_id, found.decided_at)

    async def record_agency_request(self, *, institution_id: str, request_id: str, request_type: str, digest: str,
                                    outcome: str, outcome_id: str | None, decided_at: datetime) -> None:
        """Remember that this request was decided, in the transaction of the decision itself."""
        self.db.add(AgencyRequest(institution_id=institution_id, request_id=request_id, request_type=request_type,
                                  request_digest=digest, outcome=outcome, outcome_id=outcome_id,
                                  decided_at=decided_at))
        await self.db.flush()



"""What the handlers and views of agency requests may ask of storage (the SQL class in repository.py
satisfies it; a test hands a fake). The rows it answers with are the tables' classes, named here for them."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from services.enrollment.agency.domain import DecidedRequest
from services.enrollment.enrolments.ports import EnrolmentsRepository


class AgencyRepository(EnrolmentsRepository, Protocol):
    async def decided_agency_request(self, institution_id: str, request_id: str) -> DecidedRequest | None:
        """The earlier decision on this request of this institution, if any.

        On PostgreSQL the request is locked for the rest of the transaction first, so two consumers handed
        the same request at once (a rebalance, a re-send under another key) decide it one after the other:
        the second sees the first's decision. On SQLite one process applies agency requests one at a time.
        """
        ...

    async def record_agency_request(self, *, institution_id: str, request_id: str, request_type: str, digest: str,
                                    outcome: str, outcome_id: str | None, decided_at: datetime) -> None:
        """Remember that this request was decided, in the transaction of the decision itself."""
        ...

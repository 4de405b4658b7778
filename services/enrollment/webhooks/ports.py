"""What the handlers, views and the dispatcher of webhooks may ask of storage (the SQL class in repository.py
satisfies it; a test hands a fake)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from probidad.shared.webhooks import CloudEvent

from services.enrollment.institutions.ports import InstitutionsRepository
from services.enrollment.webhooks.domain import Endpoint


@dataclass(frozen=True)
class NewDelivery:
    delivery_id: str
    endpoint_id: str
    institution_id: str
    event: CloudEvent
    created_at: datetime


@dataclass(frozen=True)
class DueDelivery:
    """A delivery claimed for one attempt, with what sending it needs."""

    delivery_id: str
    endpoint_id: str
    url: str
    secret: str
    event: CloudEvent
    attempts: int  # before this one
    created_at: datetime


@dataclass(frozen=True)
class ParkedDelivery:
    delivery_id: str
    event_type: str
    event_id: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    parked_at: datetime | None


class WebhooksRepository(InstitutionsRepository, Protocol):
    # ---- endpoints
    async def add_endpoint(self, endpoint: Endpoint, *, secret: str, created_by: str) -> None:
        ...

    async def endpoints(self, institution_id: str) -> list[Endpoint]:
        """The institution's endpoints not removed, oldest first."""
        ...

    async def endpoint(self, institution_id: str, endpoint_id: str) -> Endpoint | None:
        """The institution's endpoint (None if unknown, another institution's, or removed)."""
        ...

    async def remove_endpoint(self, endpoint_id: str, *, at: datetime) -> None:
        ...

    async def servant_institution(self, servant_id: str) -> str | None:
        """The institution the servant belongs to now, as enrollment knows it (None: an unknown servant)."""
        ...

    # ---- deliveries
    async def add_deliveries(self, deliveries: Sequence[NewDelivery]) -> None:
        """Written in this unit of work; one already written for an endpoint and event is not written again."""
        ...

    async def parked_deliveries(self, endpoint_id: str) -> list[ParkedDelivery]:
        ...

    async def replay_parked(self, endpoint_id: str, delivery_id: str | None, *, at: datetime) -> int:
        """Make the endpoint's parked delivery (or all of them, ``delivery_id`` None) pending again, due ``at``,
        attempts kept; how many were."""
        ...

    async def delivery_status(self, endpoint_id: str, delivery_id: str) -> str | None:
        ...

    async def claim_due(self, *, now: datetime, lease_until: datetime, limit: int) -> list[DueDelivery]:
        """Pending deliveries due by ``now`` of endpoints not removed, each pushed to ``lease_until`` so no other
        instance takes it meanwhile (on PostgreSQL rows another transaction holds are skipped)."""
        ...

    async def next_due(self) -> datetime | None:
        ...

    async def mark_delivered(self, delivery_id: str, *, at: datetime, status_code: int | None) -> None:
        ...

    async def mark_failed(self, delivery_id: str, *, attempts: int, status_code: int | None, error: str | None,
                          retry_at: datetime | None, at: datetime) -> None:
        """A failed attempt: pending again at ``retry_at``, or parked (``retry_at`` None)."""
        ...

    async def retry_queue(self) -> int:
        """Pending deliveries, of endpoints not removed, that failed at least once."""
        ...

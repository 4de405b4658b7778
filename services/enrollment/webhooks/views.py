"""Reads of agencies' webhooks for the HTTP API, through the repository interface."""

from __future__ import annotations

from services.enrollment.institutions.handlers import find_institution
from services.enrollment.webhooks.domain import Endpoint
from services.enrollment.webhooks.handlers import find_endpoint
from services.enrollment.webhooks.ports import ParkedDelivery, WebhooksRepository


async def endpoints(repo: WebhooksRepository, institution_id: str, acting_for: str | None) -> list[Endpoint]:
    await find_institution(repo, institution_id, acting_for)
    return await repo.endpoints(institution_id)


async def dead_letters(repo: WebhooksRepository, institution_id: str, endpoint_id: str,
                       acting_for: str | None) -> list[ParkedDelivery]:
    endpoint = await find_endpoint(repo, institution_id, endpoint_id, acting_for)
    return await repo.parked_deliveries(endpoint.endpoint_id)

"""HTTP API of agencies' webhooks: an institution's endpoints, their dead-letter lists and replays."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response
from probidad.shared.dependencies import Provided, Registrar, Runtime
from pydantic import BaseModel, Field

from services.enrollment.http import CorrelationId, acting_for, storage, who
from services.enrollment.webhooks import handlers, views
from services.enrollment.webhooks.dispatcher import WebhookDispatcher
from services.enrollment.webhooks.domain import EVENT_TYPES, MAX_URL_LENGTH, Endpoint
from services.enrollment.webhooks.ports import ParkedDelivery

router = APIRouter(tags=["webhooks"])
Dispatcher = Provided(WebhookDispatcher)
BASE = "/institutions/{institution_id}/webhooks"


class EndpointIn(BaseModel):
    url: str = Field(min_length=1, max_length=MAX_URL_LENGTH + 100, description=(
        "https:// (http:// only to a loopback host, unless the service allows plain HTTP); no user or password."))
    event_types: list[str] | None = Field(None, max_length=len(EVENT_TYPES) * 2, description=(
        f"Which events to receive, of {', '.join(EVENT_TYPES)}; all when omitted."))


class EndpointOut(BaseModel):
    endpoint_id: str
    institution_id: str
    url: str
    event_types: list[str]
    created_at: datetime


class RegisteredOut(EndpointOut):
    secret: str = Field(description="The Standard Webhooks signing secret (whsec_…): shown only in this answer.")


class ParkedOut(BaseModel):
    delivery_id: str = Field(description="The webhook-id every attempt carried.")
    event_type: str
    event_id: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    parked_at: datetime | None


class ReplayedOut(BaseModel):
    replayed: int


def _out(endpoint: Endpoint) -> dict:
    return {"endpoint_id": endpoint.endpoint_id, "institution_id": endpoint.institution_id, "url": endpoint.url,
            "event_types": list(endpoint.event_types), "created_at": endpoint.created_at}


def _parked(p: ParkedDelivery) -> ParkedOut:
    return ParkedOut(delivery_id=p.delivery_id, event_type=p.event_type, event_id=p.event_id, attempts=p.attempts,
                     last_status_code=p.last_status_code, last_error=p.last_error, parked_at=p.parked_at)


@router.post(BASE, response_model=RegisteredOut, status_code=201)
async def register_endpoint(institution_id: str, body: EndpointIn, runtime: Runtime, dispatcher: Dispatcher,
                            correlation_id: CorrelationId, principal: Registrar) -> RegisteredOut:
    """Register an endpoint for the institution's request outcomes and its servants' certificates."""
    async with runtime.unit_of_work(correlation_id=correlation_id) as uow:
        endpoint, secret = await handlers.register_endpoint(
            storage(uow), institution_id=institution_id, url=body.url, event_types=body.event_types,
            acting_for=acting_for(principal), allow_http=dispatcher.allow_http, created_by=who(principal),
            now=dispatcher.clock())
    return RegisteredOut(**_out(endpoint), secret=secret)


@router.get(BASE, response_model=list[EndpointOut])
async def list_endpoints(institution_id: str, runtime: Runtime, principal: Registrar) -> list[EndpointOut]:
    async with runtime.unit_of_work() as uow:
        return [EndpointOut(**_out(e)) for e in await views.endpoints(storage(uow), institution_id,
                                                                      acting_for(principal))]


@router.delete(BASE + "/{endpoint_id}", status_code=204)
async def remove_endpoint(institution_id: str, endpoint_id: str, runtime: Runtime, dispatcher: Dispatcher,
                          correlation_id: CorrelationId, principal: Registrar) -> Response:
    """No more deliveries to it; those still pending are not sent."""
    async with runtime.unit_of_work(correlation_id=correlation_id) as uow:
        await handlers.remove_endpoint(storage(uow), institution_id, endpoint_id, acting_for=acting_for(principal),
                                       now=dispatcher.clock())
    return Response(status_code=204)


@router.get(BASE + "/{endpoint_id}/dead-letters", response_model=list[ParkedOut])
async def dead_letters(institution_id: str, endpoint_id: str, runtime: Runtime,
                       principal: Registrar) -> list[ParkedOut]:
    """Deliveries given up after webhook_retry_for_s of failures, oldest first."""
    async with runtime.unit_of_work() as uow:
        return [_parked(p) for p in await views.dead_letters(storage(uow), institution_id, endpoint_id,
                                                             acting_for(principal))]


@router.post(BASE + "/{endpoint_id}/dead-letters/replay", response_model=ReplayedOut)
async def replay_all(institution_id: str, endpoint_id: str, runtime: Runtime, dispatcher: Dispatcher,
                     correlation_id: CorrelationId, principal: Registrar) -> ReplayedOut:
    """Every parked delivery of the endpoint is sent again now (under its webhook-id; attempts kept)."""
    async with runtime.unit_of_work(correlation_id=correlation_id) as uow:
        return ReplayedOut(replayed=await handlers.replay(storage(uow), institution_id, endpoint_id, None,
                                                          acting_for=acting_for(principal), now=dispatcher.clock()))


@router.post(BASE + "/{endpoint_id}/dead-letters/{delivery_id}/replay", response_model=ReplayedOut)
async def replay_one(institution_id: str, endpoint_id: str, delivery_id: str, runtime: Runtime,
                     dispatcher: Dispatcher, correlation_id: CorrelationId, principal: Registrar) -> ReplayedOut:
    """The parked delivery is sent again now (under its webhook-id; attempts kept)."""
    async with runtime.unit_of_work(correlation_id=correlation_id) as uow:
        return ReplayedOut(replayed=await handlers.replay(storage(uow), institution_id, endpoint_id, delivery_id,
                                                          acting_for=acting_for(principal), now=dispatcher.clock()))

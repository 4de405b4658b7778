"""Handlers of agencies' webhooks: registering and removing endpoints, replaying parked deliveries, and writing
the deliveries of an event in the unit of work that records or applies it."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

from contracts.envelope import Envelope
from contracts.events import AgencyRequestDecided, CertificateIssued, CertificateRevoked
from probidad.shared.errors import RuleViolation
from probidad.shared.webhooks import CloudEvent, new_secret

from services.enrollment.context import new_id
from services.enrollment.institutions.handlers import find_institution
from services.enrollment.webhooks.domain import EVENT_TYPES, Endpoint, check_event_types, check_url
from services.enrollment.webhooks.ports import NewDelivery, WebhooksRepository

# ------------------------------------------------------------------ endpoints


async def register_endpoint(repo: WebhooksRepository, *, institution_id: str, url: str,
                            event_types: Sequence[str] | None, acting_for: str | None, allow_http: bool,
                            created_by: str, now: datetime) -> tuple[Endpoint, str]:
    """A new endpoint of the institution and its signing secret (the only time the secret is told)."""
    await find_institution(repo, institution_id, acting_for)  # another institution's liaison: 404, as unknown
    endpoint = Endpoint(new_id("wh"), institution_id, check_url(url, allow_http=allow_http),
                        check_event_types(event_types), now)
    secret = new_secret()
    await repo.add_endpoint(endpoint, secret=secret, created_by=created_by)
    return endpoint, secret


async def find_endpoint(repo: WebhooksRepository, institution_id: str, endpoint_id: str,
                        acting_for: str | None) -> Endpoint:
    await find_institution(repo, institution_id, acting_for)
    endpoint = await repo.endpoint(institution_id, endpoint_id)
    if endpoint is None:
        raise RuleViolation("endpoint_id", f"unknown webhook endpoint {endpoint_id!r}", "not_found")
    return endpoint


async def remove_endpoint(repo: WebhooksRepository, institution_id: str, endpoint_id: str, *,
                          acting_for: str | None, now: datetime) -> None:
    """No delivery is made to it any more, pending ones included."""
    endpoint = await find_endpoint(repo, institution_id, endpoint_id, acting_for)
    await repo.remove_endpoint(endpoint.endpoint_id, at=now)


async def replay(repo: WebhooksRepository, institution_id: str, endpoint_id: str, delivery_id: str | None, *,
                 acting_for: str | None, now: datetime) -> int:
    """Parked deliveries of the endpoint (one, or all with ``delivery_id`` None) pending again, due now."""
    endpoint = await find_endpoint(repo, institution_id, endpoint_id, acting_for)
    if delivery_id is not None:
        status = await repo.delivery_status(endpoint.endpoint_id, delivery_id)
        if status is None:
            raise RuleViolation("delivery_id", f"unknown delivery {delivery_id!r}", "not_found")
        if status != "parked":
            raise RuleViolation("delivery_id", f"delivery {delivery_id!r} is {status}, not parked", "conflict")
    return await repo.replay_parked(endpoint.endpoint_id, delivery_id, at=now)


# ------------------------------------------------------------------ deliveries


def cloud_event(envelope: Envelope) -> CloudEvent:
    """The event as it is sent: its CloudEvents attributes, and its data as the JSON it carries on Kafka."""
    return CloudEvent(envelope.id, envelope.source, envelope.type, envelope.time, envelope.subject,
                      envelope.event.model_dump_json())


def delivery_id(endpoint_id: str, event_id: str) -> str:
    """One id per endpoint and event, whoever computes it (a redelivered event finds the same)."""
    return f"msg_{uuid.uuid5(uuid.NAMESPACE_URL, f'probidad:webhook:{endpoint_id}:{event_id}').hex}"


async def deliver(repo: WebhooksRepository, envelope: Envelope, institution_id: str | None, *,
                  now: datetime) -> int:
    """Write a delivery of the event to each endpoint of ``institution_id`` that asked for its type; how many."""
    if institution_id is None or envelope.type not in EVENT_TYPES:
        return 0
    event = cloud_event(envelope)
    deliveries = [NewDelivery(delivery_id(e.endpoint_id, envelope.id), e.endpoint_id, institution_id, event, now)
                  for e in await repo.endpoints(institution_id) if e.wants(envelope.type)]
    await repo.add_deliveries(deliveries)
    return len(deliveries)


async def agency_requests_decided(repo: WebhooksRepository, envelopes: Iterable[Envelope], *, now: datetime) -> int:
    """The AgencyRequestDecided among the events just recorded go to the endpoints of the institution each
    answers (the one whose request it was)."""
    sent = 0
    for envelope in envelopes:
        if isinstance(envelope.event, AgencyRequestDecided):
            sent += await deliver(repo, envelope, envelope.event.institution_id, now=now)
    return sent


async def certificate_applied(repo: WebhooksRepository, envelope: Envelope, *, now: datetime) -> int:
    """A certificate issued or revoked goes to the endpoints of the institution its servant belongs to now, as
    enrollment knows it; a servant enrollment does not know is nobody's to tell."""
    event = envelope.event
    if not isinstance(event, (CertificateIssued, CertificateRevoked)):
        return 0
    return await deliver(repo, envelope, await repo.servant_institution(event.servant_id), now=now)

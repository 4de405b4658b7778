"""Event type -> subscriber of the xAPI projection (its own consumer group): learning facts become statements,
facts about what they name are kept for them."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

from contracts.envelope import Envelope
from probidad.shared.consumer import Handler
from probidad.shared.unit_of_work import UnitOfWork
from services.reporting.xapi import handlers
from services.reporting.xapi.domain import LEARNING_EVENTS, REFERENCE_EVENTS, Platform
from services.reporting.xapi.metrics import XAPI_QUEUED
from services.reporting.xapi.repository import SqlXapiRepository


async def on_learning_fact(platform: Platform, uow: UnitOfWork, envelope: Envelope) -> None:
    await handlers.learning_fact(SqlXapiRepository(uow), platform, envelope.event, envelope.id, envelope.time,
                                 now=datetime.now(UTC))
    XAPI_QUEUED.labels(envelope.type).inc()


async def on_reference_fact(platform: Platform, uow: UnitOfWork, envelope: Envelope) -> None:
    await handlers.reference_fact(SqlXapiRepository(uow), platform, envelope.event, envelope.id, envelope.time,
                                  now=datetime.now(UTC))


def subscriptions(platform: Platform) -> dict[str, Handler]:
    return {**{cls.type: partial(on_learning_fact, platform) for cls in LEARNING_EVENTS},
            **{cls.type: partial(on_reference_fact, platform) for cls in REFERENCE_EVENTS}}

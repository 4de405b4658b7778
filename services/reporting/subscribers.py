"""Event type -> subscriber. Every platform event reporting keeps becomes one fact in the active store.

All the types reporting hears are handled alike (each is reduced to a fact), so one subscriber
serves every type ``domain.KINDS`` names.
"""

from __future__ import annotations

from functools import partial

from contracts.envelope import Envelope
from probidad.shared.consumer import Handler
from probidad.shared.unit_of_work import UnitOfWork
from services.reporting import handlers
from services.reporting.projection.facts import KINDS
from services.reporting.handlers import ReportingContext


async def on_platform_event(ctx: ReportingContext, uow: UnitOfWork, envelope: Envelope) -> None:
    uow.record(await handlers.record_fact(uow, ctx, envelope), correlation_id=envelope.correlation_id)


def subscriptions(ctx: ReportingContext) -> dict[str, Handler]:
    return {event_type: partial(on_platform_event, ctx) for event_type in KINDS}

"""Event type -> handler. Every platform event reporting keeps becomes one fact in the active store."""

from __future__ import annotations

from contracts.envelope import Envelope
from services.reporting.projection import KINDS, fact_from
from services.reporting.store import add_fact


async def on_event(session, envelope: Envelope) -> None:  # noqa: ANN001
    fact = fact_from(envelope)
    if fact is not None:
        await add_fact(session, fact)


HANDLERS = {event_type: on_event for event_type in KINDS}

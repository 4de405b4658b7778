"""Application handlers of reporting: every platform event it keeps becomes one stored fact.

Reporting records no events of its own, so a handler's list of events is always empty; it is
returned all the same, for the caller to record as every service's caller does.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from contracts.base import Event
from contracts.envelope import Envelope
from probidad.shared.unit_of_work import UnitOfWork
from services.reporting.domain import fact_from
from services.reporting.repository import ReportingRepository


@dataclass(frozen=True)
class ReportingContext:
    """What reporting's handlers and views need besides the unit of work, built once at wiring."""

    zone: ZoneInfo  # the programme's: months, local dates and ``as_of`` dates are read in it
    responsible_unit: str
    open_data_minimum_count: int
    language: str = "es"  # the programme's: the bulletin's default language


async def record_fact(uow: UnitOfWork, ctx: ReportingContext, envelope: Envelope) -> list[Event]:
    """Keep the fact an event gives (none for the types no figure depends on), idempotent by event id."""
    fact = fact_from(envelope)
    if fact is not None:
        await ReportingRepository.of(uow).add_fact(fact)
    return []

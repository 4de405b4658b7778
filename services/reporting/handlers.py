"""Application handlers of reporting: every platform event it keeps becomes one stored fact; a
bulletin the comptroller publishes is stored and recorded as ReportPublished.

A fact records no event of reporting's own, so that handler's list of events is always empty; it is
returned all the same, for the caller to record as every service's caller does.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from contracts.base import Event
from contracts.envelope import Envelope
from probidad.shared.unit_of_work import UnitOfWork
from services.reporting.bulletin import Publication, decide_publication
from services.reporting.projection.facts import fact_from
from services.reporting.repository import ReportingRepository


@dataclass(frozen=True)
class ReportingContext:
    """What reporting's handlers and views need besides the unit of work, built once at wiring."""

    zone: ZoneInfo  # the programme's: months, local dates and ``as_of`` dates are read in it
    responsible_unit: str
    open_data_minimum_count: int
    language: str = "es"  # the programme's: the bulletin's default language
    authority: str = "Secretaría de la Contraloría del Estado"  # the bulletin's subject
    authority_en: str = "State Comptroller's Office"
    public_url: str = ""  # the base of the bulletin's links: where the public reaches reporting
    signatory_name: str = ""  # the bulletin's issuer block; empty: unsigned
    signatory_position: str = ""


async def record_fact(uow: UnitOfWork, ctx: ReportingContext, envelope: Envelope) -> list[Event]:
    """Keep the fact an event gives (none for the types no figure depends on), idempotent by event id."""
    fact = fact_from(envelope)
    if fact is not None:
        await ReportingRepository.of(uow).add_fact(fact)
    return []


async def publish_bulletin(uow: UnitOfWork, ctx: ReportingContext, figures: dict[str, Any], *,
                           published_by: str) -> Publication:
    """Publish the bulletin ``figures`` (resolved as of their ``as_of``): stored, and its event returned."""
    publication = decide_publication(figures, report_id=f"bulletin-{figures['month']}-{uuid.uuid4().hex[:12]}",
                                     published_by=published_by)
    await ReportingRepository.of(uow).add_publication(publication)
    return publication

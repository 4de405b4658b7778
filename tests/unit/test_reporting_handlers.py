"""Reporting's handlers and subscribers without a database: a fake repository and unit of work.

An event reporting keeps becomes exactly the fact ``fact_from`` gives, through the repository; one no
figure depends on stores nothing; reporting records no events of its own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from contracts.envelope import seal
from contracts.events import InstitutionRegistered, SessionClosed
from services.reporting import handlers, subscribers
from services.reporting.projection.facts import KINDS, Fact, fact_from
from services.reporting.handlers import ReportingContext
from services.reporting.repository import ReportingRepository

CTX = ReportingContext(zone=ZoneInfo("America/Mexico_City"), responsible_unit="Unidad", open_data_minimum_count=5)


class FakeRepository:
    def __init__(self) -> None:
        self.facts: list[Fact] = []

    async def add_fact(self, fact: Fact) -> None:
        self.facts.append(fact)


class FakeUnitOfWork:
    """What handlers and subscribers use of a unit of work: its shared parts, and ``record``."""

    def __init__(self) -> None:
        self.repository = FakeRepository()
        self.recorded: list[tuple[list, str | None]] = []

    def part(self, key: object, _make: object) -> FakeRepository:
        assert key is ReportingRepository
        return self.repository

    def record(self, events, *, correlation_id: str | None = None, topic: str | None = None) -> list:
        self.recorded.append((list(events), correlation_id))
        return []


def institution(**changes) -> InstitutionRegistered:
    return InstitutionRegistered(**{"institution_id": "inst-1", "name": "Secretaría de Salud",
                                    "government_level": "state", "headcount": 120, "headcount_year": 2026,
                                    **changes})


async def test_an_event_reporting_keeps_becomes_its_fact_and_records_nothing():
    uow = FakeUnitOfWork()
    envelope = seal(institution(), time=datetime(2026, 3, 1, 9, tzinfo=UTC))
    assert await handlers.record_fact(uow, CTX, envelope) == []
    assert uow.repository.facts == [fact_from(envelope)]
    assert uow.repository.facts[0].kind == KINDS[InstitutionRegistered.type] == "institution"
    assert uow.repository.facts[0].attributes["headcount"] == 120


async def test_an_event_no_figure_depends_on_stores_nothing():
    uow = FakeUnitOfWork()
    closed = SessionClosed(session_id="ses-1", closed_at=datetime(2026, 3, 1, 12, tzinfo=UTC), enrolled=3, present=2)
    assert SessionClosed.type not in KINDS
    assert await handlers.record_fact(uow, CTX, seal(closed)) == []
    assert uow.repository.facts == []


async def test_a_batch_shares_one_repository():
    uow = FakeUnitOfWork()
    for n in range(3):
        await handlers.record_fact(uow, CTX, seal(institution(institution_id=f"inst-{n}")))
    assert [f.subject for f in uow.repository.facts] == ["inst-0", "inst-1", "inst-2"]


@pytest.mark.parametrize("event_type", sorted(KINDS))
def test_every_kept_type_has_a_subscriber(event_type: str):
    assert subscribers.subscriptions(CTX)[event_type].func is subscribers.on_platform_event


async def test_the_subscriber_records_the_handlers_events_under_the_envelopes_correlation():
    uow = FakeUnitOfWork()
    envelope = seal(institution(), correlation_id="corr-7")
    await subscribers.subscriptions(CTX)[InstitutionRegistered.type](uow, envelope)
    assert uow.recorded == [([], "corr-7")]
    assert uow.repository.facts == [fact_from(envelope)]

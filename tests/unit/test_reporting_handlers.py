"""Reporting's handlers and subscribers without a database: a fake repository and unit of work
(``tests/support/fakes/reporting.py``).

An event reporting keeps becomes exactly the fact ``fact_from`` gives, through the repository; one no
figure depends on stores nothing; reporting records no events of its own.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from contracts.attribution import Stamp
from contracts.envelope import seal
from contracts.events import InstitutionRegistered, SessionClosed
from services.reporting import handlers, subscribers
from services.reporting.domain.facts import KINDS, fact_from, fact_of
from services.reporting.handlers import ReportingContext
from tests.support.fakes.reporting import FakeReportingRepository, FakeUnitOfWork

CTX = ReportingContext(zone=ZoneInfo("America/Mexico_City"), responsible_unit="Unidad", open_data_minimum_count=5)


def institution(**changes: object) -> InstitutionRegistered:
    return InstitutionRegistered(**{"institution_id": "inst-1", "name": "Secretaría de Salud",
                                    "government_level": "state", "headcount": 120, "headcount_year": 2026,
                                    **changes})


async def test_an_event_reporting_keeps_becomes_its_fact_and_records_nothing():
    repo = FakeReportingRepository()
    envelope = seal(institution(), time=datetime(2026, 3, 1, 9, tzinfo=UTC))
    assert await handlers.institution_registered(repo, CTX, envelope.event, envelope.stamp) == []
    assert repo.facts == [fact_from(envelope)]
    assert repo.facts[0].kind == KINDS[InstitutionRegistered.type] == "institution"
    assert repo.facts[0].attributes["headcount"] == 120
    assert repo.facts[0].event_id == envelope.id


def test_an_event_no_figure_depends_on_gives_no_fact():
    closed = SessionClosed(session_id="ses-1", closed_at=datetime(2026, 3, 1, 12, tzinfo=UTC), enrolled=3, present=2)
    assert SessionClosed.type not in KINDS
    assert fact_of(closed, Stamp.of(datetime(2026, 3, 1, 12, tzinfo=UTC), "ev-1")) is None
    assert fact_from(seal(closed)) is None


async def test_a_redelivered_event_is_kept_once():
    repo = FakeReportingRepository()
    envelope = seal(institution())
    for _ in range(2):
        await handlers.institution_registered(repo, CTX, envelope.event, envelope.stamp)
    assert len(repo.facts) == 1


async def test_a_batch_shares_one_repository():
    uow = FakeUnitOfWork()
    for n in range(3):
        subscriber = subscribers.subscriptions(CTX)[InstitutionRegistered.type]
        await subscriber(uow, seal(institution(institution_id=f"inst-{n}")))
    assert [f.subject for f in uow.repo.facts] == ["inst-0", "inst-1", "inst-2"]


@pytest.mark.parametrize("event_type", sorted(KINDS))
def test_every_kept_type_has_a_subscriber_named_after_it_calling_the_handler_of_the_same_name(event_type: str):
    subscriber = subscribers.subscriptions(CTX)[event_type].func
    name = subscriber.__name__.removeprefix("on_")
    assert subscriber.__name__.startswith("on_") and callable(getattr(handlers, name))
    # the name is the event's class name in snake case: SessionScheduled -> session_scheduled
    from contracts import events
    event_class = next(c for c in vars(events).values()
                       if isinstance(c, type) and getattr(c, "type", None) == event_type)
    assert name == re.sub(r"(?<!^)([A-Z])", r"_\1", event_class.__name__).lower()


async def test_the_subscriber_records_the_handlers_events_under_the_envelopes_correlation():
    uow = FakeUnitOfWork()
    envelope = seal(institution(), correlation_id="corr-7")
    await subscribers.subscriptions(CTX)[InstitutionRegistered.type](uow, envelope)
    assert uow.recorded == [([], "corr-7")]
    assert uow.repo.facts == [fact_from(envelope)]

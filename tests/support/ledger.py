"""A minimal service used to test the shared plumbing: it counts the institutions it hears of.

Its effect table deliberately has no unique constraint on the event, so a duplicate effect would
show up as a second row — only the idempotent consumer can prevent it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import func, select
from sqlmodel import Field, SQLModel

from contracts.events import InstitutionRegistered
from contracts.topics import ENROLLMENT_EVENTS, dead_letter_topic
from probidad.shared.errors import RuleViolation
from probidad.shared.service import ServiceRuntime
from probidad.shared.settings import ServiceSettings


class LedgerEntry(SQLModel, table=True):
    __tablename__ = "test_ledger_entry"

    id: int | None = Field(default=None, primary_key=True)
    institution_id: str
    headcount: int


TABLES = [LedgerEntry.__table__]


async def on_institution_registered(uow, envelope) -> None:
    event: InstitutionRegistered = envelope.event
    if event.name == "REJECT ME":
        raise RuleViolation("name", "institution name is a test rejection")
    uow.session.add(LedgerEntry(institution_id=event.institution_id, headcount=event.headcount))


def create_runtime(settings: ServiceSettings, *, group: str = "probidad-ledger") -> ServiceRuntime:
    runtime = ServiceRuntime(settings, TABLES, description="Plumbing test service")
    runtime.consume([ENROLLMENT_EVENTS], {InstitutionRegistered.type: on_institution_registered}, group=group)
    return runtime


@asynccontextmanager
async def running(database_url: str, state_dir: Path, *,
                  group: str = "probidad-ledger") -> AsyncIterator[ServiceRuntime]:
    """The ledger service started on the in-memory broker; ``runtime.test_broker`` publishes to it and
    ``runtime.dead_letters`` collects what its consumer dead-letters."""
    from faststream.kafka import TestKafkaBroker
    from faststream.kafka.annotations import KafkaMessage

    runtime = create_runtime(ServiceSettings(service_name="ledger", database_url=database_url, state_dir=state_dir),
                             group=group)
    runtime.in_memory_broker = True
    runtime.dead_letters = []

    @runtime.broker.subscriber(dead_letter_topic(ENROLLMENT_EVENTS, group))
    async def collect(message: KafkaMessage) -> None:
        runtime.dead_letters.append(message)

    async with TestKafkaBroker(runtime.broker) as broker:
        runtime.test_broker = broker
        await runtime.start()
        try:
            yield runtime
        finally:
            await runtime.stop()


async def ledger_rows(runtime: ServiceRuntime) -> list[tuple[str, int]]:
    async with runtime.database.transaction() as session:
        rows = await session.execute(select(LedgerEntry.institution_id, LedgerEntry.headcount).order_by(LedgerEntry.id))
        return [tuple(r) for r in rows.all()]


async def ledger_count(runtime: ServiceRuntime) -> int:
    async with runtime.database.transaction() as session:
        return int((await session.execute(select(func.count()).select_from(LedgerEntry))).scalar_one())


def institution(institution_id: str = "inst-1", headcount: int = 120,
                name: str = "Secretaría de Salud") -> InstitutionRegistered:
    return InstitutionRegistered(institution_id=institution_id, name=name, government_level="state",
                                 headcount=headcount, headcount_year=2026)

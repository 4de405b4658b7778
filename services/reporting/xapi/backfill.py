"""``probidad xapi backfill``: the history of the platform topics sent to the LRS.

The three topics are read from offset 0 up to their end offsets when it starts, with a bare consumer (no group:
the service's offsets are untouched), and every record goes through the same handlers as the live consumer.
What reporting queued already is queued again (sent again under the same ids: the LRS keeps one of each); a
fact not decided yet is decided. With ``since``, only learning facts stated from that day (UTC) on are sent
again; facts about courses, sessions, servants and institutions are read whatever their day, as statements
name them. Then the statements due are sent before the command ends; what fails waits for the service's loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from contracts.envelope import ContractViolation, open_envelope
from probidad.shared.service import ServiceRuntime
from services.reporting.rebuild.source import KafkaSnapshot
from services.reporting.settings import ReportingSettings
from services.reporting.tables import TABLES
from services.reporting.xapi import handlers
from services.reporting.xapi.dispatcher import LrsDispatcher
from services.reporting.xapi.domain import LEARNING_EVENTS, REFERENCE_EVENTS, Platform
from services.reporting.xapi.repository import SqlXapiRepository

LEARNING = {cls.type for cls in LEARNING_EVENTS}
REFERENCES = {cls.type for cls in REFERENCE_EVENTS}


@dataclass
class BackfillReport:
    records: int = 0
    learning_facts: int = 0
    invalid: int = 0
    status: dict[str, int] | None = None


async def backfill(settings: ReportingSettings, topics: list[str], *, since: date | None = None,
                   progress: Callable[[int, int], object] | None = None) -> BackfillReport:
    if not settings.lrs_url:
        raise ValueError("PROBIDAD_LRS_URL is not set: there is no LRS to send the history to")
    from zoneinfo import ZoneInfo

    runtime = ServiceRuntime(settings, TABLES)
    platform = Platform(settings.xapi_base, settings.programme_language, ZoneInfo(settings.programme_timezone))
    start = datetime.combine(since, datetime.min.time(), UTC) if since else None
    report = BackfillReport()
    snapshot = await KafkaSnapshot(settings.kafka_bootstrap, topics).open()
    try:
        async for batch in snapshot.batches():
            async with runtime.unit_of_work() as uow:
                repo = SqlXapiRepository(uow)
                for record in batch:
                    report.records += 1
                    try:
                        envelope = open_envelope(record.headers, record.value)
                    except ContractViolation:
                        report.invalid += 1  # the live consumer dead-letters it; nothing to send
                        continue
                    now = datetime.now(UTC)
                    if envelope.type in REFERENCES:
                        await handlers.reference_fact(repo, platform, envelope.event, envelope.id, envelope.time,
                                                      now=now)
                    elif envelope.type in LEARNING and (start is None or envelope.time >= start):
                        report.learning_facts += 1
                        await handlers.learning_fact(repo, platform, envelope.event, envelope.id, envelope.time,
                                                     now=now, backfill=True)
            if progress:
                progress(report.records, snapshot.total)
        dispatcher = LrsDispatcher(runtime, settings)
        async with dispatcher.client() as client:
            await dispatcher.drain(client)
        async with runtime.unit_of_work() as uow:
            report.status = await SqlXapiRepository(uow).counts()
    finally:
        await snapshot.close()
        await runtime.database.dispose()
    return report

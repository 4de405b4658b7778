"""Facts per second through certification's consumer: store, re-judge, sign, outbox.

Every servant of the generated programme brings three facts (enrolment, attendance, grade); every
30 servants share a session, and six courses are published once each; all of it is delivered
in a shuffled order through ``IdempotentConsumer.process_batch`` — the exact path Kafka records take,
minus the broker. The baseline runs the same records through the same consumer with a handler that
only records the event id (the idempotency insert every consumer pays), in the same run, so the ratio
says what certification's rules, signatures and outbox cost on top of consuming at all.

    python bench/certification_decisions.py [--servants 2000] [--database-url sqlite+aiosqlite:///...]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contracts.envelope import seal, to_record
from contracts.events import (
    AssessmentGraded,
    AttendanceRecorded,
    CertificateIssued,
    CoursePublished,
    EnrolmentConfirmed,
    SessionScheduled,
)
from probidad.shared.consumer import IdempotentConsumer
from probidad.shared.tables import OutboxRecord
from services.certification.app import create_runtime
from services.certification.settings import CertificationSettings

PER_SESSION = 30


def programme(servants: int, seed: int = 11) -> list[tuple[str, bytes, bytes, dict]]:
    random.seed(seed)
    zone, t0 = ZoneInfo("America/Cancun"), datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    facts = []
    for s in range(0, servants, PER_SESSION):
        session, course = f"s-{s}", f"c-{(s // PER_SESSION) % 6}"
        starts = datetime(2026, 1 + (s // PER_SESSION) % 11, 1 + s % 27, 10, 0, tzinfo=zone)
        if s // PER_SESSION < 6:  # six courses, each published once
            n = s // PER_SESSION
            facts.append(CoursePublished(course_id=course, code=f"C-{n}", title=f"Curso {n}", topic=f"Tema {n}",
                                         hours=4, passing_score=70))
        facts.append(SessionScheduled(session_id=session, course_id=course, modality="virtual", starts_at=starts,
                                      ends_at=starts + timedelta(hours=4), timezone="America/Cancun", capacity=40))
        for v in range(s, min(s + PER_SESSION, servants)):
            minutes = random.choice((240, 230, 200, 150))
            facts += [
                EnrolmentConfirmed(enrolment_id=f"en-{v}", session_id=session, servant_id=f"sv-{v}",
                                   institution_id="i"),
                AttendanceRecorded(session_id=session, servant_id=f"sv-{v}", minutes_present=minutes,
                                   session_minutes=240, share=minutes / 240, status="present", source_of_record="zoom"),
                AssessmentGraded(session_id=session, servant_id=f"sv-{v}", score=random.choice((95, 80, 60))),
            ]
    records = []
    for i, fact in enumerate(facts):
        key, value, headers = to_record(seal(fact, time=t0 + timedelta(seconds=i)))
        records.append((fact.kafka_topic, key, value, headers))
    random.shuffle(records)
    return records


async def run(records, settings: CertificationSettings, *, baseline: bool) -> float:
    runtime = create_runtime(settings)
    await runtime.database.create_schema(runtime.tables)
    consumer: IdempotentConsumer = runtime.consumers[0][0]
    if baseline:
        async def nothing(_db, _envelope) -> None:
            return None
        consumer.handlers = {t: nothing for t in consumer.handlers}
    started = time.perf_counter()
    # The live path: batches of what one poll returns (up to 500 records), one transaction each.
    for begin in range(0, len(records), 500):
        batch = [(topic, 0, begin + i, key, value, headers)
                 for i, (topic, key, value, headers) in enumerate(records[begin:begin + 500])]
        outcomes = await consumer.process_batch(batch)
        assert outcomes == {"applied": len(batch)}, outcomes
    elapsed = time.perf_counter() - started
    if not baseline:
        from sqlalchemy import func
        from sqlmodel import select

        async with runtime.database.transaction() as db:
            issued = (await db.exec(select(func.count()).select_from(OutboxRecord).where(
                OutboxRecord.type == CertificateIssued.type))).one()
        print(f"  certificates issued: {issued}")
    await runtime.database.dispose()
    return elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servants", type=int, default=2000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    records = programme(args.servants)
    with tempfile.TemporaryDirectory() as state:
        def settings(name: str) -> CertificationSettings:
            url = args.database_url or f"sqlite+aiosqlite:///{state}/{name}.db"
            return CertificationSettings(state_dir=Path(state), database_url=url, log_level="WARNING")

        if args.database_url:
            print("note: with --database-url both runs share one database; use an empty one")
        base = await run(records, settings("baseline"), baseline=True)
        real = await run(records, settings("certification"), baseline=False)
    n = len(records)
    print(f"facts: {n}")
    print(f"baseline (idempotency insert only): {n / base:,.0f} facts/s")
    print(f"certification (rules, signatures, outbox): {n / real:,.0f} facts/s")
    print(f"ratio: certification takes {real / base:.2f}x the time of the baseline")


if __name__ == "__main__":
    asyncio.run(main())

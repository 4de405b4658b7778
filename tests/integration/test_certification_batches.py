"""Certification through the consumer's batches, on SQLite and PostgreSQL: a poll's records applied in
one transaction (read through the transaction's view of each session) decide exactly what the same
records decide applied one by one — same facts kept, same certificates, same events, in the same order."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select

from contracts.envelope import seal, to_record
from contracts.holder import holder_digest
from contracts.events import (
    AssessmentGraded,
    AttendanceCorrected,
    AttendanceRecorded,
    CertificateIssued,
    CertificateRevoked,
    CompetencyAttained,
    CoursePublished,
    EnrolmentCancelled,
    EnrolmentConfirmed,
    ServantRegistered,
    ServantUpdated,
    SessionCancelled,
    SessionClosed,
    SessionRescheduled,
    SessionScheduled,
)
from probidad.shared.consumer import IdempotentConsumer
from probidad.shared.tables import OutboxRecord
from services.certification.app import create_runtime
from services.certification.settings import CertificationSettings
from services.certification.tables import (
    AttendanceFact,
    CertificateRecord,
    CompetencyAttainment,
    CourseFact,
    EnrolmentFact,
    GradeFact,
    HolderFact,
    SessionFact,
)

CANCUN = ZoneInfo("America/Cancun")
T0 = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
MODEL = {"Integridad pública": ["CE-01", "Conflicto de Interés"]}


def course(n: int, *, code: str, topic: str, passing: float | None, title: str | None = None,
           validity_months: int | None = None) -> CoursePublished:
    return CoursePublished(course_id=f"c-{n}", code=code, title=title or f"{topic} para servidores públicos",
                           topic=topic, hours=4, minimum_attendance_share=0.8, passing_score=passing,
                           validity_months=validity_months)


def registered(servant: str, curp: str = "GODE561231HDFRRN09") -> ServantRegistered:
    return ServantRegistered(servant_id=servant, institution_id="inst-1", sex="female",
                             holder_digest=holder_digest(f"salt-of-{servant}-0123456789", curp))


def scheduled(n: int, course_n: int, day: int) -> SessionScheduled:
    starts = datetime(2026, 11, day, 21, 0, tzinfo=CANCUN)
    return SessionScheduled(session_id=f"s-{n}", course_id=f"c-{course_n}", modality="virtual", starts_at=starts,
                            ends_at=starts + timedelta(hours=4), timezone="America/Cancun", capacity=40)


def seat(servant: str, n: int) -> EnrolmentConfirmed:
    return EnrolmentConfirmed(enrolment_id=f"en-{servant}-{n}", session_id=f"s-{n}", servant_id=servant,
                              institution_id="inst-1")


def present(servant: str, n: int, minutes: int = 228) -> AttendanceRecorded:
    return AttendanceRecorded(session_id=f"s-{n}", servant_id=servant, minutes_present=minutes, session_minutes=240,
                              share=minutes / 240, status="present", source_of_record="zoom")


def corrected(servant: str, n: int, minutes: int) -> AttendanceCorrected:
    return AttendanceCorrected(session_id=f"s-{n}", servant_id=servant, minutes_present=minutes, session_minutes=240,
                               share=minutes / 240, status="late", reason="recounted", corrected_by="instructor-1")


def graded(servant: str, n: int, score: float) -> AssessmentGraded:
    return AssessmentGraded(session_id=f"s-{n}", servant_id=servant, score=score)


def programme() -> list:
    """Facts of five sessions of three courses, every kind of fact, shuffled; corrections and changes last."""
    facts: list = [
        course(1, code="CE-01", topic="Código de Ética", passing=70),
        course(2, code="CI-02", topic="Conflicto de Interés", passing=None),
        course(3, code="RA-03", topic="Responsabilidades Administrativas", passing=80, validity_months=24),
        scheduled(1, 1, 5), scheduled(2, 2, 12), scheduled(3, 3, 19), scheduled(4, 1, 26), scheduled(5, 2, 27),
    ]
    rng = random.Random(7)
    for n in range(1, 6):
        for v in range(n, n + 9):  # servants overlap between sessions (competencies span them)
            servant = f"sv-{v}"
            facts += [seat(servant, n), present(servant, n, rng.choice((240, 228, 200, 150)))]
            if n == v:  # holders heard before or after their certificates, as the shuffle falls
                facts.append(registered(servant))
            if n in (1, 3, 4):
                facts.append(graded(servant, n, rng.choice((95, 85, 75, 60))))
    later = [
        corrected("sv-1", 1, 100), corrected("sv-1", 1, 236),      # revoked, then a new certificate
        corrected("sv-2", 2, 90),                                 # revoked
        graded("sv-3", 1, 99), graded("sv-4", 3, 50),             # amended; failed
        EnrolmentCancelled(enrolment_id="en-sv-6-2", session_id="s-2", servant_id="sv-6", reason="moved"),
        SessionRescheduled(session_id="s-4", starts_at=datetime(2026, 11, 28, 9, 0, tzinfo=CANCUN),
                           ends_at=datetime(2026, 11, 28, 13, 0, tzinfo=CANCUN), timezone="America/Cancun"),
        SessionCancelled(session_id="s-5", reason="instructor unavailable"),
        SessionClosed(session_id="s-3", closed_at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC), enrolled=9, present=9),
        course(1, code="CE-01", topic="Código de Ética", passing=70, title="Código de Ética (2.ª edición)"),
        registered("sv-3", curp="GODE561231HDFRRN08"),             # a corrected CURP rebinds
        ServantUpdated(servant_id="sv-4", institution_id="inst-1", sex="female"),  # erased: unbinds
    ]
    records = []
    for i, fact in enumerate([*facts, *later]):
        key, value, headers = to_record(seal(fact, time=T0 + timedelta(minutes=i)))
        records.append((fact.kafka_topic, 0, i, key, value, headers))
    story, amendments = records[:len(facts)], records[len(facts):]
    story.append(story[10])  # a redelivery
    rng.shuffle(story)
    rng.shuffle(amendments)  # heard after the story (so there are certificates to revoke), in any order
    return [*story, *amendments]


REPLAYED: list[int] = []  # records the consumer applied one by one after a failed batch, per decide()


async def decide(database_url: str, tmp_path, records: list, batch: int | None) -> dict:
    """Apply the records (one by one when ``batch`` is None) into a fresh schema; return everything kept."""
    settings = CertificationSettings(database_url=database_url, state_dir=tmp_path, competency_model=MODEL,
                                     log_level="WARNING")
    runtime = create_runtime(settings)
    database = runtime.database
    await database.drop_schema(runtime.tables)
    await database.create_schema(runtime.tables)
    consumer: IdempotentConsumer = runtime.consumers[0][0]
    letters = []

    async def collect(letter) -> None:
        letters.append(letter)

    consumer.send_dead_letter = collect
    replayed = 0
    process = consumer._process  # noqa: SLF001 — where a failed batch's records are applied one by one

    async def counted(*record):
        nonlocal replayed
        replayed += 1
        return await process(*record)

    if batch is not None:
        consumer._process = counted  # noqa: SLF001
    outcomes: dict[str, int] = {}
    if batch is None:
        for record in records:
            outcome = await consumer.process(*record)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    else:
        for begin in range(0, len(records), batch):
            for outcome, count in (await consumer.process_batch(records[begin:begin + batch])).items():
                outcomes[outcome] = outcomes.get(outcome, 0) + count
    assert letters == []
    REPLAYED.append(replayed)
    state: dict = {"outcomes": outcomes}
    async with database.transaction() as db:
        for table in (CourseFact, SessionFact, EnrolmentFact, AttendanceFact, GradeFact, CertificateRecord,
                      CompetencyAttainment, HolderFact):
            rows = (await db.exec(select(table))).all()
            state[table.__tablename__] = sorted(
                (json.dumps(row.model_dump(), default=str, sort_keys=True) for row in rows))
        outbox = (await db.exec(select(OutboxRecord).order_by(OutboxRecord.id))).all()
        state["published"] = [(row.type, json.loads(row.payload)) for row in outbox]
    await database.dispose()
    return state


async def test_a_batch_of_shuffled_facts_of_several_sessions_decides_what_one_by_one_decides(database_url, tmp_path):
    records = programme()
    one_by_one = await decide(database_url, tmp_path, records, None)
    published = [kind for kind, _ in one_by_one["published"]]
    # The programme exercises every kind of decision.
    assert {CertificateIssued.type, CertificateRevoked.type, CompetencyAttained.type} <= set(published)
    issued = [p for kind, p in one_by_one["published"] if kind == CertificateIssued.type]
    assert any(p["valid_until"] for p in issued) and any(p["holder_digest"] for p in issued)
    assert len(one_by_one["certification_holder"]) == 5
    assert one_by_one["outcomes"] == {"applied": len(records) - 1, "duplicate": 1}
    for batch in (500, 37, 4):
        assert await decide(database_url, tmp_path, records, batch) == one_by_one, batch
        assert REPLAYED[-1] == 0  # no batch fell back to one by one


async def test_an_enrolment_id_stored_under_another_session_is_handled_as_one_by_one(database_url, tmp_path):
    # A producer reusing an enrolment id for another session: the batch cannot take that id as new.
    # Batches of four: the third does not touch session s-1 (where the id is stored), so it is not loaded.
    reused = EnrolmentConfirmed(enrolment_id="en-sv-1-1", session_id="s-2", servant_id="sv-2", institution_id="inst-2")
    facts = [course(1, code="CE-01", topic="Código de Ética", passing=None), scheduled(1, 1, 5), seat("sv-1", 1),
             present("sv-1", 1),
             scheduled(2, 1, 6), scheduled(3, 1, 7), seat("sv-5", 3), present("sv-5", 3),
             seat("sv-3", 2), reused, present("sv-2", 2), present("sv-3", 2)]
    records = []
    for i, fact in enumerate(facts):
        key, value, headers = to_record(seal(fact, time=T0 + timedelta(minutes=i)))
        records.append((fact.kafka_topic, 0, i, key, value, headers))

    one_by_one = await decide(database_url, tmp_path, records, None)
    assert await decide(database_url, tmp_path, records, 4) == one_by_one
    assert REPLAYED[-1] == 4  # the third batch was applied again, one by one
    issued = {(p["servant_id"], p["session_id"])
              for kind, p in one_by_one["published"] if kind == CertificateIssued.type}
    assert issued == {("sv-1", "s-1"), ("sv-5", "s-3"), ("sv-3", "s-2")}
    # As always: the stored row keeps its session and servant and takes the later statement's institution.
    (row,) = [json.loads(r) for r in one_by_one["certification_enrolment"] if '"en-sv-1-1"' in r]
    assert (row["session_id"], row["servant_id"], row["institution_id"]) == ("s-1", "sv-1", "inst-2")

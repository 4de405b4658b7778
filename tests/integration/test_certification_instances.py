"""Several certification instances on one PostgreSQL database: they decide different sessions at the same
time, wait for each other only over the same session, servant or course terms, and together decide
exactly what one instance decides alone — competencies that span sessions handled by both included."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import timedelta

from sqlmodel import select

from contracts.envelope import seal, to_record
from contracts.events import CompetencyAttained, CoursePublished
from probidad.shared.tables import OutboxRecord
from services.certification.app import create_runtime
from services.certification.settings import CertificationSettings
from services.certification.tables import CertificateRecord, CompetencyAttainment
from tests.integration.test_certification_batches import MODEL, T0, course, graded, present, scheduled, seat

STILL = 1.5  # seconds an open transaction holds its locks in the waiting tests


def record(fact, i: int) -> tuple:
    key, value, headers = to_record(seal(fact, time=T0 + timedelta(minutes=i)))
    return (fact.kafka_topic, i % 6, i, key, value, headers)


def programme() -> tuple[list, list]:
    """Two courses of the competency model, four sessions; every servant attends a session of each course.

    Records of sessions 1 and 3 (course 1) go to one instance, of sessions 2 and 4 (course 2) to the
    other, as partitions would split them: a servant's competency needs both instances' certificates.
    """
    rng = random.Random(11)
    shared = [course(1, code="CE-01", topic="Código de Ética", passing=70),
              course(2, code="CI-02", topic="Conflicto de Interés", passing=None)]
    first, second = [], []
    for n, course_n in ((1, 1), (2, 2), (3, 1), (4, 2)):
        mine = first if course_n == 1 else second
        mine.append(scheduled(n, course_n, 4 + n))
        for v in range(20):
            servant = f"sv-{v + (0 if n <= 2 else 20)}"
            mine += [seat(servant, n), present(servant, n, rng.choice((240, 228, 150)))]
            if course_n == 1:
                mine.append(graded(servant, n, rng.choice((95, 85, 60))))
    numbered = [record(fact, i) for i, fact in enumerate([*shared, *first, *second])]
    head, one, two = (numbered[:len(shared)], numbered[len(shared):-len(second)], numbered[-len(second):])
    rng.shuffle(one)
    rng.shuffle(two)
    return [*head, *one], two


async def instance(url: str, tmp_path):
    # Every instance shares the state dir, so the signing key: all instances of the service must.
    runtime = create_runtime(CertificationSettings(database_url=url, state_dir=tmp_path, competency_model=MODEL,
                                                   log_level="WARNING"))
    consumer = runtime.consumers[0][0]
    letters: list = []

    async def collect(letter) -> None:
        letters.append(letter)

    consumer.send_dead_letter = collect
    runtime.letters = letters
    return runtime


async def kept(runtime) -> dict:
    async with runtime.database.transaction() as db:
        certificates = sorted(json.dumps(r.model_dump(), default=str, sort_keys=True)
                              for r in (await db.exec(select(CertificateRecord))).all())
        competencies = sorted((r.servant_id, r.competency, r.course_ids, r.certificate_ids)
                              for r in (await db.exec(select(CompetencyAttainment))).all())
        events = sorted((r.type, r.payload) for r in (await db.exec(select(OutboxRecord))).all())
    return {"certificates": certificates, "competencies": competencies, "events": events}


async def fresh(runtime) -> None:
    await runtime.database.drop_schema(runtime.tables)
    await runtime.database.create_schema(runtime.tables)


async def test_two_instances_deciding_at_once_decide_what_one_instance_decides(postgres_url, tmp_path):
    one, two = programme()
    alone = await instance(postgres_url, tmp_path)
    await fresh(alone)
    consumer = alone.consumers[0][0]
    for stream in (one, two):
        for begin in range(0, len(stream), 25):
            await consumer.process_batch(stream[begin:begin + 25])
    expected = await kept(alone)
    assert alone.letters == []
    assert sum(1 for kind, _ in expected["events"] if kind == CompetencyAttained.type) >= 10, (
        "servants certified in both courses attain the competency")

    for batch in (25, 7):
        await fresh(alone)
        a, b = await instance(postgres_url, tmp_path), await instance(postgres_url, tmp_path)

        async def consume(runtime, stream: list) -> None:
            for begin in range(0, len(stream), batch):
                await runtime.consumers[0][0].process_batch(stream[begin:begin + batch])
                await asyncio.sleep(0)  # let the other instance in between batches

        await asyncio.gather(consume(a, one), consume(b, two))
        assert a.letters == [] and b.letters == []
        assert await kept(a) == expected, batch
        await a.database.dispose()
        await b.database.dispose()
    await alone.database.dispose()


async def _hold_open(runtime, records: list, started: asyncio.Event, release: asyncio.Event) -> None:
    """Apply ``records`` in one transaction and keep it open (its locks held) until ``release``."""
    consumer = runtime.consumers[0][0]
    original = consumer.handlers.copy()

    async def then_wait(db, envelope) -> None:
        await original[envelope.type](db, envelope)
        started.set()
        await release.wait()

    consumer.handlers = {**original, records[-1][5]["ce_type"]: then_wait}
    try:
        await consumer.process_batch(records)
    finally:
        consumer.handlers = original


async def _time_to_apply(postgres_url, tmp_path, setup: list, held: list, other: list) -> tuple[float, dict]:
    """After ``setup``, how long ``other`` takes on a second instance while a first holds a transaction
    over ``held``; and what the two kept."""
    a, b = await instance(postgres_url, tmp_path), await instance(postgres_url, tmp_path)
    await fresh(a)
    await a.consumers[0][0].process_batch(setup)
    started, release = asyncio.Event(), asyncio.Event()
    holding = asyncio.create_task(_hold_open(a, held, started, release))
    await asyncio.wait_for(started.wait(), 10)
    loop = asyncio.get_running_loop()
    began = loop.time()
    releaser = loop.call_later(STILL, release.set)
    await b.consumers[0][0].process_batch(other)
    took = loop.time() - began
    releaser.cancel()
    release.set()
    await holding
    assert a.letters == [] and b.letters == []
    state = await kept(a)
    await a.database.dispose()
    await b.database.dispose()
    return took, state


async def test_an_instance_deciding_another_session_does_not_wait_for_one_busy_with_a_session(postgres_url, tmp_path):
    setup = [record(course(1, code="CE-01", topic="Código de Ética", passing=None), 0),
             record(scheduled(1, 1, 5), 1), record(scheduled(2, 1, 6), 2)]
    held = [record(seat("sv-1", 1), 3), record(present("sv-1", 1), 4)]
    other = [record(seat("sv-2", 2), 5), record(present("sv-2", 2), 6)]
    took, state = await _time_to_apply(postgres_url, tmp_path, setup, held, other)
    assert took < STILL / 2
    assert len(state["certificates"]) == 2


async def test_an_instance_deciding_the_same_session_waits_and_then_sees_what_the_other_decided(postgres_url, tmp_path):
    setup = [record(course(1, code="CE-01", topic="Código de Ética", passing=None), 0), record(scheduled(1, 1, 5), 1)]
    held = [record(seat("sv-1", 1), 2)]
    other = [record(present("sv-1", 1), 3)]  # completes sv-1 only with the seat the first instance is adding
    took, state = await _time_to_apply(postgres_url, tmp_path, setup, held, other)
    assert took >= STILL * 0.9
    # The certificate proves the second instance read the seat the first committed while it waited.
    assert len(state["certificates"]) == 1


async def test_publishing_a_course_waits_for_every_decision_in_progress(postgres_url, tmp_path):
    setup = [record(course(1, code="CE-01", topic="Código de Ética", passing=None), 0), record(scheduled(1, 1, 5), 1)]
    held = [record(seat("sv-1", 1), 2)]
    other = [record(CoursePublished(course_id="c-9", code="X-9", title="Otro", topic="Otro", hours=2,
                                    minimum_attendance_share=0.8, passing_score=None), 3)]
    took, _ = await _time_to_apply(postgres_url, tmp_path, setup, held, other)
    assert took >= STILL * 0.9

"""Attendance attributes as the contract does (contracts.attribution): of two statements made at the same
instant the one with the larger event id holds whatever order they are heard in, and a record belongs to
where the servant served when the session started, registrations and updates included."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import permutations
from zoneinfo import ZoneInfo

import pytest

from contracts.attribution import Placement, Stamp, institution_at, supersedes
from contracts.events import (
    EnrolmentConfirmed, ServantRegistered, ServantTransferred, ServantUpdated, SessionRescheduled, SessionScheduled,
)
from probidad.shared.auth import Principal
from services.attendance import handlers
from services.attendance.handlers import AttendanceContext
from tests.support.fakes.attendance import FakeAttendanceRepository, FakeUnitOfWork, as_the_route

START = datetime(2026, 11, 5, 15, 0, tzinfo=UTC)
ZONE = "America/Mexico_City"
CTX = AttendanceContext(check_in_key="check-in-key", email_digest_key="digest-key", zone=ZoneInfo(ZONE))
COMPTROLLER = Principal(subject="comptroller-tester", role="comptroller")


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork(FakeAttendanceRepository())


def updated(institution_id: str) -> ServantUpdated:
    return ServantUpdated(servant_id="srv-ana", institution_id=institution_id, sex="female", email_digest="d1")


async def a_session(uow: FakeUnitOfWork) -> None:
    scheduled = SessionScheduled(session_id="ses-1", course_id="crs-etica", modality="virtual", platform="Zoom",
                                 starts_at=START, ends_at=START + timedelta(hours=2), timezone="America/Cancun",
                                 capacity=30, instructor_id="ins-rosa")
    await handlers.session_scheduled(uow.repo, CTX, scheduled, Stamp.of(START - timedelta(days=3), "evt-scheduled"))
    confirmed = EnrolmentConfirmed(enrolment_id="enr-ana", session_id="ses-1", servant_id="srv-ana",
                                   institution_id="sefiplan")
    await handlers.enrolment_confirmed(uow.repo, CTX, confirmed, Stamp.of(START - timedelta(days=2), "evt-confirmed"))


@pytest.mark.parametrize("order", list(permutations(["evt-a", "evt-b"])), ids=lambda o: " then ".join(o))
async def test_two_updates_stated_at_one_instant_leave_the_larger_event_ids_institution_in_either_order(
        uow: FakeUnitOfWork, order: tuple[str, str]) -> None:
    # Before, the update heard last held: two replicas hearing them in different orders disagreed.
    at = START - timedelta(days=1)
    statements = {"evt-a": updated("ssp"), "evt-b": updated("dif")}
    for event_id in order:
        await handlers.servant_updated(uow.repo, CTX, statements[event_id], Stamp.of(at, event_id))

    winner = "evt-b" if supersedes(Stamp.of(at, "evt-b"), Stamp.of(at, "evt-a")) else "evt-a"
    servant = await uow.repo.servant("srv-ana")
    assert servant is not None and servant.institution_id == statements[winner].institution_id == "dif"


@pytest.mark.parametrize("order", list(permutations(["evt-a", "evt-b"])), ids=lambda o: " then ".join(o))
async def test_two_reschedules_stated_at_one_instant_leave_the_larger_event_ids_times_in_either_order(
        uow: FakeUnitOfWork, order: tuple[str, str]) -> None:
    at = START - timedelta(days=1)
    moves = {event_id: SessionRescheduled(session_id="ses-1", starts_at=START + timedelta(hours=hours),
                                          ends_at=START + timedelta(hours=hours + 1), timezone="America/Cancun")
             for event_id, hours in (("evt-a", 1), ("evt-b", 5))}
    for event_id in order:
        await handlers.session_rescheduled(uow.repo, CTX, moves[event_id], Stamp.of(at, event_id))

    session = await uow.repo.training_session("ses-1")
    assert session is not None and session.starts_at == moves["evt-b"].starts_at


async def close_and_read_institution(uow: FakeUnitOfWork) -> str | None:
    await as_the_route(uow, await handlers.close(uow.repo, CTX, COMPTROLLER, "ses-1",
                                                         now=START + timedelta(hours=3)))
    (record,) = uow.repo.records
    return record.institution_id


async def test_a_servant_registered_in_one_institution_is_recorded_there_while_a_transfer_is_not_yet_in_force(
        uow: FakeUnitOfWork) -> None:
    # Registered in sefiplan a month before; updated to ssp after the session started; then a transfer from
    # ssp to dif effective weeks later. When the session started only the registration was in force.
    await a_session(uow)
    registered = ServantRegistered(servant_id="srv-ana", institution_id="sefiplan", sex="female", email_digest="d1")
    transfer = ServantTransferred(servant_id="srv-ana", transfer_id="trf-1", from_institution_id="ssp",
                                  to_institution_id="dif", effective_on=date(2026, 11, 20), sex="female",
                                  requested_by="liaison:ssp:rh", approved_by="liaison:dif:rh", approved_at=START)
    stamps = {"registered": Stamp.of(START - timedelta(days=30), "evt-1"),
              "updated": Stamp.of(START + timedelta(hours=1), "evt-2"),
              "transferred": Stamp.of(START + timedelta(hours=2), "evt-3")}
    await handlers.servant_registered(uow.repo, CTX, registered, stamps["registered"])
    await handlers.servant_updated(uow.repo, CTX, updated("ssp"), stamps["updated"])
    await handlers.servant_transferred(uow.repo, CTX, transfer, stamps["transferred"])

    placements = [Placement("sefiplan", stamps["registered"]), Placement("ssp", stamps["updated"]),
                  Placement("dif", stamps["transferred"], transfer.effective_on, "ssp")]
    expected = institution_at(placements, START, ZoneInfo(ZONE))
    # Before, attendance fell back to the first transfer's origin (ssp), ignoring the registration.
    assert await close_and_read_institution(uow) == expected == "sefiplan"


async def test_an_update_stated_after_the_session_started_does_not_move_its_record(uow: FakeUnitOfWork) -> None:
    await a_session(uow)
    registered = ServantRegistered(servant_id="srv-ana", institution_id="sefiplan", sex="female", email_digest="d1")
    await handlers.servant_registered(uow.repo, CTX, registered, Stamp.of(START - timedelta(days=30), "evt-1"))
    await handlers.servant_updated(uow.repo, CTX, updated("ssp"), Stamp.of(START + timedelta(hours=1), "evt-2"))

    # Before, with no transfer known, the record took where the servant is now (ssp).
    assert await close_and_read_institution(uow) == "sefiplan"
    servant = await uow.repo.servant("srv-ana")
    assert servant is not None and servant.institution_id == "ssp"  # rosters still follow where they are now

"""Attendance holds enrolments and servants naming a session it does not know yet: nothing about that
session is taken or published until its schedule arrives, then the roster is as if in order."""

from __future__ import annotations

from contracts.events import AttendanceRecorded, SessionClosed
from tests.integration.test_attendance_service import (  # noqa: F401 (service is a fixture)
    SERVANTS, confirmed, past_morning, registered, scheduled, service,
)


async def test_an_enrolment_for_an_unknown_session_waits_for_its_schedule_and_publishes_nothing_before(service):
    comptroller = service.token()
    await service.deliver(confirmed("ses-later", "srv-ana"),
                          registered("srv-ana", service.digest(SERVANTS["srv-ana"][1])))
    assert (await service.http.get("/sessions/ses-later", headers=comptroller)).status_code == 404
    assert (await service.http.post("/sessions/ses-later/close", headers=comptroller)).status_code == 404
    assert await service.events() == []
    await service.deliver(scheduled("ses-later", past_morning(2)))
    session = (await service.http.get("/sessions/ses-later", headers=comptroller)).json()
    assert [a["servant_id"] for a in session["attendance"]] == ["srv-ana"]
    assert (await service.http.post("/sessions/ses-later/close", headers=comptroller)).status_code == 200
    published = await service.events()
    assert [type(e) for e in published] == [AttendanceRecorded, SessionClosed]
    assert published[0].servant_id == "srv-ana"

"""POST /sessions/{id}/reschedule re-checks the enrolment overlap rule, on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.integration.test_enrollment_api import platform, register, set_up_programme  # noqa: F401 — fixture

# set_up_programme: se-1 05/11 09:00–11:00, se-2 05/11 10:00–12:00, se-3 06/11 09:00–11:00 (America/Cancun)


async def enrol(p, session_id: str, servant_id: str) -> str:
    async with p.client() as c:
        r = await c.post("/enrolments", json={"session_id": session_id, "servant_id": servant_id})
    assert r.status_code == 201, r.text
    return r.json()["enrolment_id"]


async def test_a_reschedule_that_would_put_enrolled_servants_in_two_sessions_at_once_is_refused_and_changes_nothing(
        platform):
    await set_up_programme(platform, capacity=5)
    ana, ben, carla = await register(platform, 1), await register(platform, 2), await register(platform, 3)
    await enrol(platform, "se-1", ana)
    await enrol(platform, "se-2", carla)
    for servant in (ana, ben, carla):
        await enrol(platform, "se-3", servant)
    async with platform.client() as c:
        before = (await c.get("/sessions/se-3")).json()
        refused = await c.post("/sessions/se-3/reschedule", json={"starts_at": "2026-11-05T10:30:00",
                                                                  "ends_at": "2026-11-05T11:30:00"})
        after = (await c.get("/sessions/se-3")).json()
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert sorted((c["servant_id"], c["session_id"]) for c in body["conflicts"]) == sorted([(ana, "se-1"),
                                                                                          (carla, "se-2")])
    assert body["detail"].startswith("starts_at:") and f"servant {ana} in session se-1" in body["detail"]
    assert {c["session_id"]: c["starts_at"] for c in body["conflicts"]}["se-1"] == "2026-11-05T14:00:00+00:00"
    assert (after["starts_at"], after["ends_at"]) == (before["starts_at"], before["ends_at"])
    assert await platform.events("session.rescheduled.v1") == []


async def test_a_reschedule_clear_of_every_enrolled_servants_other_sessions_goes_through(platform):
    await set_up_programme(platform, capacity=5)
    ana = await register(platform, 1)
    await enrol(platform, "se-1", ana)
    await enrol(platform, "se-3", ana)
    async with platform.client() as c:
        # 11:00 is when se-1 ends: touching is not overlapping
        moved = await c.post("/sessions/se-3/reschedule", json={"starts_at": "2026-11-05T11:00:00",
                                                                "ends_at": "2026-11-05T13:00:00"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["starts_at"] == "2026-11-05T11:00:00-05:00"
    (event,) = await platform.events("session.rescheduled.v1")
    assert event.event.session_id == "se-3"


async def test_a_cancelled_enrolment_is_no_conflict_for_a_reschedule(platform):
    await set_up_programme(platform, capacity=5)
    ana = await register(platform, 1)
    first = await enrol(platform, "se-1", ana)
    await enrol(platform, "se-3", ana)
    async with platform.client() as c:
        assert (await c.post(f"/enrolments/{first}/cancel", json={})).status_code == 200
        moved = await c.post("/sessions/se-3/reschedule", json={"starts_at": "2026-11-05T09:30:00",
                                                                "ends_at": "2026-11-05T10:30:00"})
    assert moved.status_code == 200, moved.text

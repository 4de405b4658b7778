"""The enrollment HTTP API on SQLite and PostgreSQL, with the in-memory broker catching what it publishes."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from contracts.pseudonyms import email_digest
from probidad.shared.auth import issue_token
from probidad.shared.tables import OutboxRecord
from services.enrollment.app import create_app
from services.enrollment.servants.domain.curp import curp_check_digit
from services.enrollment.settings import EnrollmentSettings
from tests.support.harness import ServiceHarness, serving
from tests.support.identity import both_kinds_of_token


def curp(n: int, sex: str = "M") -> str:
    """A distinct valid CURP per n (born in 1980 + n % 20, on day 1 + n % 28)."""
    letters = "BCDFGHJKLMNPRSTVWXYZ"
    body = (f"G{'AEIOU'[n % 5]}{letters[n % 20]}{letters[(n // 20) % 20]}"
            f"{80 + n % 20:02d}03{1 + n % 28:02d}{sex}QR{letters[(n // 400) % 20]}RN0")
    return body + curp_check_digit(body)


class Platform:
    """The enrollment service in the harness, an HTTP client per role, and every event the relay published."""

    ROLES = {  # who -> (role, claims)
        "comptroller": ("comptroller", {}),
        "liaison-a": ("liaison", {"institution": "in-a"}),
        "liaison-b": ("liaison", {"institution": "in-b"}),
        "instructor": ("instructor", {"instructor": "ins-1"}),
    }

    def __init__(self, harness: ServiceHarness) -> None:
        self.harness = harness
        self.app, self.settings, self.runtime = harness.app, harness.settings, harness.runtime

    def client(self, who: str | None = "comptroller") -> httpx.AsyncClient:
        if who is None:
            return self.harness.client(None)
        role, claims = self.ROLES[who]
        return self.harness.client(role, **claims)

    async def events(self, type_suffix: str | None = None) -> list:
        return await self.harness.published(type_suffix)

    async def outbox_size(self) -> int:
        async with self.runtime.database.transaction() as db:
            return int((await db.execute(select(func.count()).select_from(OutboxRecord))).scalar_one())


@pytest.fixture
async def platform(database_url: str, tmp_path, token_minter):
    settings = EnrollmentSettings(database_url=database_url, state_dir=tmp_path, programme_timezone="America/Cancun")
    async with serving(create_app, settings, tokens=token_minter) as harness:
        yield Platform(harness)


NOV_5 = datetime(2026, 11, 5, 9, 0)


async def set_up_programme(p: Platform, capacity: int = 2) -> None:
    async with p.client() as c:
        for institution_id, level, municipality in (("in-a", "state", None), ("in-b", "municipal", "Benito Juárez")):
            r = await c.post("/institutions",
                             json={"institution_id": institution_id, "name": f"Institución {institution_id}",
                                                    "government_level": level, "municipality": municipality,
                                                    "headcount": 120, "headcount_year": 2026})
            assert r.status_code == 201, r.text
        r = await c.post("/courses", json={"course_id": "co-etica", "code": "CE-01", "title": "Código de Ética",
                                           "topic": "Código de Ética", "competency": "Ética pública", "hours": 4,
                                           "passing_score": 70})
        assert r.status_code == 201, r.text
        for session_id, start in (("se-1", NOV_5), ("se-2", NOV_5 + timedelta(hours=1)),
                                  ("se-3", NOV_5 + timedelta(days=1))):
            r = await c.post("/sessions", json={"session_id": session_id, "course_id": "co-etica",
                                                "modality": "virtual", "platform": "Zoom",
                                                "starts_at": start.isoformat(),
                                                "ends_at": (start + timedelta(hours=2)).isoformat(),
                                                "capacity": capacity, "instructor_id": "ins-1"})
            assert r.status_code == 201, r.text


async def register(p: Platform, n: int, institution: str = "in-a", who: str = "comptroller", **extra) -> str:
    async with p.client(who) as c:
        r = await c.post("/servants", json={"institution_id": institution, "name": f"Persona {n}", "curp": curp(n),
                                            "sex": "female", **extra})
    assert r.status_code in (200, 201), r.text
    return r.json()["servant_id"]


async def test_setting_up_the_programme_publishes_complete_catalogue_and_session_facts(platform):
    await set_up_programme(platform, capacity=25)
    (institution, other) = await platform.events("institution.registered.v1")
    assert (institution.event.institution_id, institution.event.headcount, institution.event.headcount_year) == \
        ("in-a", 120, 2026)
    assert (other.event.government_level, other.event.municipality) == ("municipal", "Benito Juárez")
    (course,) = await platform.events("course.published.v1")
    assert (course.event.topic, course.event.passing_score, course.event.minimum_attendance_share) == \
        ("Código de Ética", 70, 0.8)
    scheduled = {e.event.session_id: e.event for e in await platform.events("session.scheduled.v1")}
    first = scheduled["se-1"]
    # Local time without an offset was read in the programme's zone and published with its offset.
    assert first.starts_at.isoformat() == "2026-11-05T09:00:00-05:00"
    assert first.ends_at - first.starts_at == timedelta(hours=2)
    assert (first.course_id, first.capacity, first.timezone, first.modality) == \
        ("co-etica", 25, "America/Cancun", "virtual")
    async with platform.client("liaison-a") as c:
        listed = (await c.get("/sessions", params={"course_id": "co-etica"})).json()
    assert [s["session_id"] for s in listed] == ["se-1", "se-2", "se-3"]
    assert listed[0]["starts_at"] == "2026-11-05T09:00:00-05:00"


async def test_a_full_session_waitlists_and_a_cancellation_promotes_the_earliest_waiting(platform):
    await set_up_programme(platform, capacity=1)
    ana, beto, caro = [await register(platform, n) for n in (1, 2, 3)]
    async with platform.client() as c:
        first = (await c.post("/enrolments", json={"session_id": "se-3", "servant_id": ana})).json()
        second = (await c.post("/enrolments", json={"session_id": "se-3", "servant_id": beto})).json()
        third = (await c.post("/enrolments", json={"session_id": "se-3", "curp": curp(3)})).json()
        assert (first["status"], second["status"], second["waitlist_position"]) == ("confirmed", "waitlisted", 1)
        assert (third["servant_id"], third["waitlist_position"]) == (caro, 2)

        r = await c.post(f"/enrolments/{first['enrolment_id']}/cancel", json={"reason": "comisión de trabajo"})
        assert r.status_code == 200, r.text
        assert [p["servant_id"] for p in r.json()["promoted"]] == [beto]
        roster = (await c.get("/sessions/se-3/roster")).json()
        listed = (await c.get("/enrolments", params={"session_id": "se-3", "include_cancelled": True})).json()
    assert [(e["servant_id"], e["status"], e["waitlist_position"]) for e in listed] == \
        [(ana, "cancelled", None), (beto, "confirmed", None), (caro, "waitlisted", 1)]
    assert [(line["servant_id"], line["status"], line["waitlist_position"]) for line in roster["enrolments"]] == \
        [(beto, "confirmed", None), (caro, "waitlisted", 1)]
    assert (roster["session"]["confirmed"], roster["session"]["waitlisted"]) == (1, 1)

    story = [(e.type.split(".")[-2], e.event.servant_id) for e in await platform.events()
             if ".enrolment." in e.type]
    assert story == [("confirmed", ana), ("waitlisted", beto), ("waitlisted", caro), ("cancelled", ana),
                     ("confirmed", beto)]
    promoted = (await platform.events("enrolment.confirmed.v1"))[-1]
    assert promoted.event.promoted_from_waitlist
    assert all(e.event.key == "se-3" for e in await platform.events() if ".enrolment." in e.type)


async def test_no_servant_twice_in_a_session_nor_in_overlapping_sessions_and_nothing_is_half_written(platform):
    await set_up_programme(platform, capacity=5)
    ana = await register(platform, 1)
    async with platform.client() as c:
        assert (await c.post("/enrolments", json={"session_id": "se-1", "servant_id": ana})).status_code == 201
        before = await platform.outbox_size()
        again = await c.post("/enrolments", json={"session_id": "se-1", "servant_id": ana})
        overlapping = await c.post("/enrolments", json={"session_id": "se-2", "servant_id": ana})
        next_day = await c.post("/enrolments", json={"session_id": "se-3", "servant_id": ana})
    assert again.status_code == 409 and again.json()["detail"].startswith("servant_id:")
    assert overlapping.status_code == 409 and "se-1" in overlapping.json()["detail"]
    assert next_day.status_code == 201
    assert await platform.outbox_size() == before + 1


async def test_concurrent_enrolments_never_fill_a_session_beyond_its_capacity(platform):
    await set_up_programme(platform, capacity=3)
    servants = [await register(platform, n) for n in range(10, 18)]
    async with platform.client() as c:
        answers = await asyncio.gather(*(c.post("/enrolments", json={"session_id": "se-3", "servant_id": s})
                                         for s in servants))
    assert all(a.status_code == 201 for a in answers), [a.text for a in answers if a.status_code != 201]
    statuses = sorted(a.json()["status"] for a in answers)
    assert statuses == ["confirmed"] * 3 + ["waitlisted"] * 5
    waitlisted = [a.json() for a in answers if a.json()["status"] == "waitlisted"]
    assert sorted(a["waitlist_position"] for a in waitlisted) == [1, 2, 3, 4, 5]


async def test_one_servant_asking_for_two_overlapping_sessions_at_once_gets_only_one(platform):
    await set_up_programme(platform, capacity=5)
    ana = await register(platform, 1)
    async with platform.client() as c:
        answers = await asyncio.gather(*(c.post("/enrolments", json={"session_id": se, "servant_id": ana})
                                         for se in ("se-1", "se-2", "se-1", "se-2")))
        held = (await c.get("/enrolments", params={"servant_id": ana})).json()
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409]
    assert len(held) == 1


async def test_the_same_person_registered_twice_at_once_is_one_servant(platform):
    await set_up_programme(platform)
    body = {"institution_id": "in-a", "name": "Ana", "curp": curp(5), "sex": "female"}
    async with platform.client() as c:
        answers = await asyncio.gather(*(c.post("/servants", json=body) for _ in range(4)))
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 201]
    assert len({a.json()["servant_id"] for a in answers}) == 1
    assert len(await platform.events("servant.registered.v1")) == 1


@both_kinds_of_token
async def test_a_missing_or_forged_token_is_401_and_a_liaison_sees_only_its_own_institution(platform):
    await set_up_programme(platform)
    theirs = await register(platform, 1, institution="in-b")
    ours = await register(platform, 2, institution="in-a", who="liaison-a")
    async with platform.client(None) as anonymous:
        assert (await anonymous.get("/servants")).status_code == 401
    forged = issue_token("a-secret-that-is-not-the-platforms-own-secret", "comptroller")
    async with platform.client(None) as c:
        assert (await c.get("/servants", headers={"Authorization": f"Bearer {forged}"})).status_code == 401
    async with platform.client("liaison-a") as c:
        assert (await c.get(f"/servants/{theirs}")).status_code == 404
        assert [s["servant_id"] for s in (await c.get("/servants")).json()] == [ours]
        assert [s["servant_id"] for s in (await c.get("/servants", params={"curp": curp(2)})).json()] == [ours]
        assert (await c.get("/servants", params={"curp": curp(1)})).json() == []  # theirs: not found, not leaked
        r = await c.post("/servants", json={"institution_id": "in-b", "name": "X", "curp": curp(3), "sex": "male"})
        assert r.status_code == 403 and r.json()["detail"].startswith("institution_id:")
        assert (await c.post("/enrolments", json={"session_id": "se-1", "servant_id": theirs})).status_code == 404
        assert (await c.post("/courses", json={"code": "X", "title": "X", "topic": "X", "hours": 1})).status_code == 403
        enrolled = await c.post("/enrolments", json={"session_id": "se-1", "servant_id": ours})
        assert enrolled.status_code == 201
    async with platform.client("liaison-b") as c:
        assert (await c.get(f"/enrolments/{enrolled.json()['enrolment_id']}")).status_code == 404
        assert (await c.post(f"/enrolments/{enrolled.json()['enrolment_id']}/cancel")).status_code == 404
        assert (await c.get("/sessions/se-1/roster")).json()["enrolments"] == []
    async with platform.client("instructor") as c:
        roster = (await c.get("/sessions/se-1/roster")).json()
        assert [(line["servant_id"], line["name"]) for line in roster["enrolments"]] == [(ours, "Persona 2")]
        assert (await c.get("/servants")).status_code == 403
    other_instructor = platform.harness.token("instructor", instructor="ins-9")
    async with platform.client(None) as c:
        r = await c.get("/sessions/se-1/roster", headers={"Authorization": f"Bearer {other_instructor}"})
        assert r.status_code == 403


@pytest.mark.parametrize("path, body, field, status", [
    ("/servants", {"institution_id": "in-a", "name": "Ana", "curp": "GOMA850412MYNRRN01", "sex": "female"},
     "curp", 422),
    ("/servants", {"institution_id": "in-a", "name": "Ana", "curp": "GOMA85", "sex": "female"}, "curp", 422),
    ("/servants", {"institution_id": "in-zz", "name": "Ana", "curp": curp(4), "sex": "female"}, "institution_id", 422),
    ("/servants", {"institution_id": "in-a", "name": "Ana", "curp": curp(4), "sex": "female", "email": "ana@"},
     "email", 422),
    ("/sessions", {"course_id": "co-nope", "modality": "virtual", "platform": "Zoom", "capacity": 5,
                   "starts_at": "2026-11-05T09:00:00-05:00", "ends_at": "2026-11-05T11:00:00-05:00"}, "course_id", 422),
    ("/sessions", {"course_id": "co-etica", "modality": "virtual", "platform": "Zoom", "capacity": 5,
                   "starts_at": "2026-11-05T09:00:00-05:00", "ends_at": "2026-11-05T08:00:00-05:00"}, "ends_at", 422),
    ("/sessions", {"course_id": "co-etica", "modality": "in_person", "capacity": 5,
                   "starts_at": "2026-11-05T09:00:00-05:00", "ends_at": "2026-11-05T11:00:00-05:00"}, "venue", 422),
    ("/sessions", {"session_id": "se-1", "course_id": "co-etica", "modality": "virtual", "platform": "Zoom",
                   "capacity": 5, "starts_at": "2026-11-05T09:00:00-05:00", "ends_at": "2026-11-05T11:00:00-05:00"},
     "session_id", 409),
    ("/sessions", {"course_id": "co-etica", "modality": "virtual", "platform": "Zoom", "capacity": 0,
                   "starts_at": "2026-11-05T09:00:00-05:00", "ends_at": "2026-11-05T11:00:00-05:00"}, "capacity", 422),
    ("/courses", {"course_id": "co-otro", "code": "CE-01", "title": "Otro", "topic": "Otro", "hours": 2}, "code", 409),
    ("/enrolments", {"session_id": "se-nope", "curp": curp(90)}, "curp", 422),
])
async def test_bad_input_is_a_4xx_naming_the_field_and_writes_nothing(platform, path, body, field, status):
    await set_up_programme(platform)
    before = await platform.outbox_size()
    async with platform.client() as c:
        r = await c.post(path, json=body)
    assert r.status_code == status, r.text
    assert r.json()["detail"].split(" — ")[-1].startswith(f"{field}:"), r.json()
    assert await platform.outbox_size() == before


async def test_erasure_forgets_the_person_while_the_servant_and_enrolments_stay(platform):
    await set_up_programme(platform)
    ana = await register(platform, 1, email="Ana.Persona@qroo.gob.mx", position="Analista",
                         position_level="operativo")
    async with platform.client() as c:
        enrolment = (await c.post("/enrolments", json={"session_id": "se-1", "servant_id": ana})).json()
        erased = await c.delete(f"/servants/{ana}/personal-data")
        assert erased.status_code == 200, erased.text
        shown = (await c.get(f"/servants/{ana}")).json()
        assert (await c.delete(f"/servants/{ana}/personal-data")).status_code == 409
        assert (await c.get(f"/enrolments/{enrolment['enrolment_id']}")).json()["status"] == "confirmed"
        roster = (await c.get("/sessions/se-1/roster")).json()["enrolments"]
    async with platform.client("liaison-a") as c:
        assert (await c.delete(f"/servants/{ana}/personal-data")).status_code == 403
    assert (shown["name"], shown["curp"], shown["email"], shown["position"], shown["erased"]) == \
        (None, None, None, None, True)
    assert (shown["servant_id"], shown["sex"], shown["position_level"]) == (ana, "female", "operativo")
    assert [(line["servant_id"], line["name"]) for line in roster] == [(ana, None)]
    registered, updated = await platform.events("servant.registered.v1"), await platform.events("servant.updated.v1")
    assert registered[0].event.email_digest == email_digest("ana.persona@qroo.gob.mx",
                                                            platform.settings.email_digest_key.get_secret_value())
    assert (updated[-1].event.servant_id, updated[-1].event.email_digest, updated[-1].event.institution_id) == \
        (ana, None, "in-a")
    async with platform.runtime.database.transaction() as db:
        stored = (await db.execute(select(OutboxRecord.payload))).scalars().all()
    assert not any("Persona 1" in p or curp(1) in p or "qroo.gob.mx" in p for p in stored)


async def test_rescheduling_and_cancelling_a_session_are_published_and_a_cancelled_session_takes_no_one(platform):
    await set_up_programme(platform)
    ana = await register(platform, 1)
    async with platform.client() as c:
        r = await c.post("/sessions/se-1/reschedule", json={"starts_at": "2026-11-06T16:00:00",
                                                            "ends_at": "2026-11-06T18:00:00", "reason": "huracán"})
        assert r.status_code == 200 and r.json()["starts_at"] == "2026-11-06T16:00:00-05:00"
        assert (await c.post("/sessions/se-2/cancel", json={"reason": "sin quórum"})).status_code == 200
        refused = await c.post("/enrolments", json={"session_id": "se-2", "servant_id": ana})
        assert refused.status_code == 409 and refused.json()["detail"].startswith("session_id:")
        assert (await c.post("/sessions/se-2/reschedule", json={"starts_at": "2026-11-07T09:00:00",
                                                                "ends_at": "2026-11-07T10:00:00"})).status_code == 409
    (moved,) = await platform.events("session.rescheduled.v1")
    assert (moved.event.starts_at.isoformat(), moved.event.timezone, moved.event.reason) == \
        ("2026-11-06T16:00:00-05:00", "America/Cancun", "huracán")
    (cancelled,) = await platform.events("session.cancelled.v1")
    assert (cancelled.event.session_id, cancelled.event.reason) == ("se-2", "sin quórum")


async def test_the_http_and_event_interfaces_are_documented(platform):
    async with platform.client(None) as c:
        openapi = (await c.get("/openapi.json")).json()
        asyncapi = (await c.get("/asyncapi.json")).json()
    assert {"/enrolments", "/enrolments/{enrolment_id}/cancel", "/servants/import",
            "/servants/{servant_id}/personal-data", "/sessions/{session_id}/roster"} <= set(openapi["paths"])
    consumed = " ".join(ch.get("address", "") for ch in asyncapi["channels"].values())
    assert "probidad.agency.requests" in consumed
    assert "EnrolmentWaitlisted" in asyncapi["components"]["schemas"]

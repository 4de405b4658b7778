"""A liaison or agency acts only within its institution; a person is one servant per institution; servants move
only by transfer; integers are bounded.

On SQLite and PostgreSQL, through the HTTP API and the agency request stream (in-memory broker).
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from contracts.events import EnrolmentRequested
from services.enrollment.tables import Servant
from tests.integration.test_enrollment_agency_requests import curp as agency_curp
from tests.integration.test_enrollment_agency_requests import enrollment, send, submitted  # noqa: F401 (fixture)
from tests.integration.test_enrollment_api import curp, platform, register, set_up_programme  # noqa: F401 (fixture)

NOBODYS = 77  # a CURP number no institution has registered


def refusal(answer) -> tuple[int, list[str], str]:
    """What a refusal lets the caller see: its status, the shape of its body and its text."""
    return answer.status_code, sorted(answer.json()), answer.json()["detail"]


async def servant_row(p, servant_id: str):
    async with p.runtime.database.transaction() as db:
        found = await db.get(Servant, servant_id)
        return (found.institution_id, found.name, found.email, found.position_level)


def answer_shape(answer) -> tuple[int, dict]:
    """What a registration lets the caller see beyond what it sent and the new id: status and fields."""
    body = dict(answer.json())
    body.pop("servant_id")
    assert body.pop("left_on") is None and body.pop("joined_on"), "a new servant joins (today, unless told)"
    return answer.status_code, body


async def test_a_liaison_posting_another_institutions_curp_gets_its_own_servant_and_theirs_stays_untouched(platform):
    await set_up_programme(platform)
    theirs = await register(platform, 1, institution="in-b", who="liaison-b", email="ana@tulum.gob.mx",
                            position_level="mando medio")
    before = await servant_row(platform, theirs)
    async with platform.client("liaison-a") as c:
        ours = await c.post("/servants", json={"name": "Impostora", "curp": curp(1), "sex": "female"})
    assert ours.status_code == 201, ours.text
    assert ours.json()["servant_id"] != theirs and ours.json()["institution_id"] == "in-a"
    for leaked in ("in-b", theirs, "Persona 1", "ana@tulum", "mando medio"):
        assert leaked not in ours.text
    assert await servant_row(platform, theirs) == before == ("in-b", "Persona 1", "ana@tulum.gob.mx", "mando medio")
    assert await servant_row(platform, ours.json()["servant_id"]) == ("in-a", "Impostora", None, None)
    first, second = await platform.events("servant.registered.v1")
    # One person in two institutions: two servants, one person id, so the figures count them once.
    assert (first.event.servant_id, second.event.servant_id) == (theirs, ours.json()["servant_id"])
    assert first.event.person_id == second.event.person_id
    assert first.event.person_id not in (theirs, ours.json()["servant_id"])
    async with platform.client("liaison-b") as c:  # and B sees nothing of A's servant
        assert [s["servant_id"] for s in (await c.get("/servants", params={"curp": curp(1)})).json()] == [theirs]
        assert (await c.get(f"/servants/{ours.json()['servant_id']}")).status_code == 404


async def test_registering_answers_alike_whether_or_not_another_institution_holds_the_curp(platform):
    await set_up_programme(platform)
    async with platform.client() as c:
        r = await c.post("/institutions", json={"institution_id": "in-c", "name": "Institución C",
                                                "government_level": "state", "headcount": 50, "headcount_year": 2026})
        assert r.status_code == 201
    await register(platform, 1, institution="in-b")
    await register(platform, 2, institution="in-c")
    async with platform.client("liaison-a") as c:
        # Looking a CURP up, or enrolling by it, answers alike for another institution's and for nobody's.
        lookups = [(await c.get("/servants", params={"curp": curp(n)})).json() for n in (1, NOBODYS)]
        enrolments = [await c.post("/enrolments", json={"session_id": "se-1", "curp": curp(n)}) for n in (1, NOBODYS)]
        answers = {n: await c.post("/servants", json={"name": "X", "curp": curp(n), "sex": "male"})
                   for n in (1, 2, NOBODYS)}
    assert lookups == [[], []]
    assert refusal(enrolments[0]) == refusal(enrolments[1])
    shapes = {n: answer_shape(a) for n, a in answers.items()}
    for n, (status, body) in shapes.items():
        assert (status, body) == (201, {"institution_id": "in-a", "name": "X", "curp": curp(n), "email": None,
                                        "sex": "male", "position": None, "position_level": None, "erased": False})
    assert len({a.json()["servant_id"] for a in answers.values()}) == 3


async def test_the_comptroller_registers_a_person_in_a_second_institution_and_moves_servants_only_by_transfer(platform):
    await set_up_programme(platform)
    theirs = await register(platform, 1, institution="in-b")
    async with platform.client() as c:
        r = await c.post("/servants", json={"institution_id": "in-a", "name": "Persona 1", "curp": curp(1),
                                            "sex": "female"})
        assert r.status_code == 201, r.text
        both = sorted(s["servant_id"] for s in (await c.get("/servants", params={"curp": curp(1)})).json())
        assert both == sorted([theirs, r.json()["servant_id"]])
        # Enrolling by that CURP would have to guess which of the two: the servant id says.
        by_curp = await c.post("/enrolments", json={"session_id": "se-1", "curp": curp(1)})
        assert by_curp.status_code == 409 and by_curp.json()["detail"].startswith("curp: the CURP names servants of")
        # A transfer into an institution that already has the person is refused: one servant per institution.
        moved = await c.post(f"/servants/{theirs}/transfer", json={"to_institution_id": "in-a"})
        assert moved.status_code == 409, moved.text
        assert moved.json()["detail"].startswith(f"servant_id: institution in-a already has this person as servant "
                                                 f"{r.json()['servant_id']}")
    assert (await servant_row(platform, theirs))[0] == "in-b"
    assert await platform.events("servant.transferred.v1") == []


async def test_a_transfer_the_joining_institution_cannot_take_is_refused_when_accepted_not_when_asked(platform):
    await set_up_programme(platform)
    theirs = await register(platform, 4, institution="in-b", who="liaison-b")
    await register(platform, 4, institution="in-a", who="liaison-a")
    async with platform.client("liaison-b") as c:  # the leaving side learns nothing of in-a's servants
        asked = await c.post(f"/servants/{theirs}/transfer", json={"to_institution_id": "in-a"})
        assert asked.status_code == 202, asked.text
    async with platform.client("liaison-a") as c:
        accepted = await c.post(f"/transfers/{asked.json()['transfer_id']}/accept")
        assert accepted.status_code == 409 and "already has this person" in accepted.json()["detail"]
        declined = await c.post(f"/transfers/{asked.json()['transfer_id']}/decline")
        assert declined.status_code == 200 and declined.json()["status"] == "declined", declined.text
    assert (await servant_row(platform, theirs))[0] == "in-b"


async def test_a_liaison_updates_its_own_servant_as_before(platform):
    await set_up_programme(platform)
    ours = await register(platform, 2, who="liaison-a")
    async with platform.client("liaison-a") as c:
        r = await c.post("/servants", json={"name": "Persona Dos", "curp": curp(2), "sex": "female",
                                            "position_level": "directivo"})
    assert r.status_code == 200 and r.json()["servant_id"] == ours
    assert (await servant_row(platform, ours))[3] == "directivo"


async def test_the_comptroller_records_a_transfer_at_once_and_it_is_published_with_who_and_since_when(platform):
    await set_up_programme(platform)
    ana = await register(platform, 1, institution="in-b", position_level="operativo")
    effective = date.today() - timedelta(days=3)
    async with platform.client() as c:
        r = await c.post(f"/servants/{ana}/transfer", json={"to_institution_id": "in-a",
                                                            "effective_on": effective.isoformat()})
    assert r.status_code == 201, r.text
    assert (r.json()["status"], r.json()["from_institution_id"], r.json()["to_institution_id"]) == (
        "completed", "in-b", "in-a")
    (moved,) = await platform.events("servant.transferred.v1")
    e = moved.event
    assert (e.servant_id, e.from_institution_id, e.to_institution_id, e.effective_on, e.sex, e.position_level) == (
        ana, "in-b", "in-a", effective, "female", "operativo")
    assert e.requested_by.startswith("comptroller:") and e.approved_by == e.requested_by
    assert moved.event.key == ana  # keyed by servant, like every servant fact
    assert (await servant_row(platform, ana))[0] == "in-a"
    async with platform.client("liaison-a") as c:  # now theirs to update and enrol
        assert (await c.get(f"/servants/{ana}")).status_code == 200
        assert (await c.post("/enrolments", json={"session_id": "se-1", "curp": curp(1)})).status_code == 201


async def test_a_liaison_asks_for_its_own_servant_and_the_joining_institution_accepts(platform):
    await set_up_programme(platform)
    beto = await register(platform, 3, institution="in-b", who="liaison-b")
    async with platform.client("liaison-a") as c:  # the joining side cannot start it: the servant is not theirs
        assert (await c.post(f"/servants/{beto}/transfer", json={"to_institution_id": "in-a"})).status_code == 404
    async with platform.client("liaison-b") as c:
        asked = await c.post(f"/servants/{beto}/transfer", json={"to_institution_id": "in-a"})
        assert asked.status_code == 202 and asked.json()["status"] == "requested", asked.text
        again = await c.post(f"/servants/{beto}/transfer", json={"to_institution_id": "in-a"})
        assert again.status_code == 409 and again.json()["detail"].startswith("servant_id:")
        transfer_id = asked.json()["transfer_id"]
        assert (await c.post(f"/transfers/{transfer_id}/accept")).status_code == 403  # not theirs to accept
    assert await platform.events("servant.transferred.v1") == []
    assert (await servant_row(platform, beto))[0] == "in-b"
    async with platform.client("liaison-a") as c:
        assert [t["transfer_id"] for t in (await c.get("/transfers", params={"status": "requested"})).json()] == \
            [transfer_id]
        accepted = await c.post(f"/transfers/{transfer_id}/accept")
        assert accepted.status_code == 200 and accepted.json()["status"] == "completed", accepted.text
        assert (await c.post(f"/transfers/{transfer_id}/accept")).json()["detail"].startswith("transfer_id:")
    (moved,) = await platform.events("servant.transferred.v1")
    assert (moved.event.requested_by.split(":")[:2], moved.event.approved_by.split(":")[:2]) == (
        ["liaison", "in-b"], ["liaison", "in-a"])
    assert (await servant_row(platform, beto))[0] == "in-a"


async def test_a_declined_transfer_moves_no_one_and_a_transfer_dated_ahead_is_refused(platform):
    await set_up_programme(platform)
    beto = await register(platform, 3, institution="in-b", who="liaison-b")
    async with platform.client("liaison-b") as c:
        ahead = await c.post(f"/servants/{beto}/transfer", json={
            "to_institution_id": "in-a", "effective_on": (date.today() + timedelta(days=40)).isoformat()})
        assert ahead.status_code == 422 and ahead.json()["detail"].startswith("effective_on:")
        asked = (await c.post(f"/servants/{beto}/transfer", json={"to_institution_id": "in-a"})).json()
    async with platform.client("liaison-a") as c:
        declined = await c.post(f"/transfers/{asked['transfer_id']}/decline")
        assert declined.status_code == 200 and declined.json()["status"] == "declined"
    async with platform.client() as c:  # the comptroller sees it, and nothing moved
        assert [t["status"] for t in (await c.get("/transfers")).json()] == ["declined"]
    assert (await servant_row(platform, beto))[0] == "in-b"
    assert await platform.events("servant.transferred.v1") == []


@pytest.mark.parametrize("path", ["/servants", "/enrolments"])
@pytest.mark.parametrize("name, value", [("offset", 9223372036854775808), ("offset", 2**31),
                                         ("limit", 9223372036854775808)])
async def test_an_integer_query_beyond_what_the_database_stores_is_a_422_naming_it(platform, path, name, value):
    await set_up_programme(platform)
    async with platform.client() as c:
        r = await c.get(path, params={name: value})
    assert r.status_code == 422, r.text
    assert name in r.json()["detail"]


@pytest.mark.parametrize("field, value", [("headcount", 9223372036854775808), ("headcount", 10_000_001),
                                          ("headcount_year", 9223372036854775808)])
async def test_an_institution_with_an_integer_beyond_bounds_is_a_422_naming_the_field(platform, field, value):
    before = await platform.outbox_size()
    body = {"institution_id": "in-x", "name": "X", "government_level": "state", "headcount": 10,
            "headcount_year": 2026, field: value}
    async with platform.client() as c:
        r = await c.post("/institutions", json=body)
    assert r.status_code == 422, r.text
    assert field in r.json()["detail"]
    assert await platform.outbox_size() == before


async def test_a_session_capacity_beyond_bounds_is_a_422_naming_it(platform):
    await set_up_programme(platform)
    async with platform.client() as c:
        r = await c.post("/sessions", json={"course_id": "co-etica", "modality": "virtual", "platform": "Zoom",
                                            "capacity": 9223372036854775808, "starts_at": "2026-11-05T09:00:00-05:00",
                                            "ends_at": "2026-11-05T11:00:00-05:00"})
    assert r.status_code == 422 and "capacity" in r.json()["detail"]


# ------------------------------------------------------------------ the agency stream


async def test_an_agency_submitting_another_institutions_curp_registers_its_own_servant_and_learns_nothing(enrollment):
    held, nobodys = agency_curp(), agency_curp("PEHJ920101HQRRRN0")
    await send(enrollment, submitted("rq-b1", institution="in-b", curp_=held, name="Beto Pérez"))
    (registered,) = enrollment.published
    enrollment.published.clear()
    await send(enrollment, EnrolmentRequested(request_id="rq-a2", institution_id="in-a", session_id="se-1", curp=held),
               EnrolmentRequested(request_id="rq-a3", institution_id="in-a", session_id="se-1", curp=nobodys),
               submitted("rq-a1", institution="in-a", curp_=held, name="Otro Nombre", email=None),
               submitted("rq-a4", institution="in-a", curp_=nobodys, name="Nadie", email=None))
    enrol_held, enrol_nobodys, ours, fresh = enrollment.published
    # Enrolling by that CURP is rejected exactly as for a CURP nobody has.
    assert (enrol_held.event.reason, enrol_held.event.field) == (enrol_nobodys.event.reason, enrol_nobodys.event.field)
    # And registering it is answered as registering a CURP nobody has: a servant of in-a.
    assert ours.type == fresh.type == "probidad.enrollment.servant.registered.v1"
    assert (ours.event.institution_id, fresh.event.institution_id) == ("in-a", "in-a")
    assert ours.event.servant_id != registered.event.servant_id
    assert ours.event.person_id == registered.event.person_id != fresh.event.person_id
    async with enrollment.database.transaction() as db:
        servant = await db.get(Servant, registered.event.servant_id)
        assert (servant.institution_id, servant.name, servant.email) == ("in-b", "Beto Pérez", "ana@sefiplan.gob.mx")


async def test_an_agency_resubmitting_its_own_servant_updates_them(enrollment):
    await send(enrollment, submitted("rq-1"), submitted("rq-2", position_level="directivo"))
    registered, updated = enrollment.published
    assert updated.type == "probidad.enrollment.servant.updated.v1"
    assert (updated.event.servant_id, updated.event.position_level, updated.event.request_id) == (
        registered.event.servant_id, "directivo", "rq-2")


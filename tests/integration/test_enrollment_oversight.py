"""The oversight facts enrollment owns: training requirements and their versions, exemptions, a servant's
joining and leaving, certification's completions, and each institution's named compliance list.

On SQLite and PostgreSQL, through the HTTP API and the event stream (in-memory broker). Every date is
counted back from today, so the tests mean the same on any day they run.
"""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from contracts.events import CertificateIssued, CertificateRevoked, DepartureReported
from tests.integration.test_enrollment_api import curp, platform, register, set_up_programme  # noqa: F401 (fixture)

TODAY = date.today()  # the programme's zone is a few hours behind UTC at most: a day's margin below
JOINED = TODAY - timedelta(days=60)
FROM = TODAY - timedelta(days=120)
ETHICS = {"requirement_id": "rq-etica", "title": "Código de Ética para quien ingresa", "course_id": "co-etica",
          "due": {"kind": "within_days_of_joining", "days": 30}, "effective_from": FROM.isoformat()}


async def declare(p, body: dict, who: str = "comptroller"):
    async with p.client(who) as c:
        return await c.post("/requirements", json=body)


async def standing(p, institution: str, state: str = "all", who: str = "comptroller",
                   on: date = TODAY - timedelta(days=1)):
    async with p.client(who) as c:
        return await c.get(f"/institutions/{institution}/compliance", params={"state": state, "on": on.isoformat()})


def lines(answer) -> dict:
    return {line["servant_id"]: (line["state"], line["due_on"]) for line in answer.json()["lines"]}


async def test_a_requirement_is_declared_by_the_comptroller_only_and_a_new_version_supersedes_it_from_its_date(
        platform):
    await set_up_programme(platform)
    assert (await declare(platform, ETHICS, who="liaison-a")).status_code == 403
    first = await declare(platform, ETHICS)
    assert first.status_code == 201, first.text
    later = (TODAY - timedelta(days=10)).isoformat()
    second = await declare(platform, ETHICS | {"due": {"kind": "within_days_of_joining", "days": 60},
                                                 "effective_from": later})
    assert second.status_code == 200 and [v["version"] for v in second.json()["versions"]] == [1, 2]
    declared = await platform.events("requirement.declared.v1")
    assert [(e.event.version, e.event.due.days) for e in declared] == [(1, 30), (2, 60)]
    async with platform.client("liaison-b") as c:  # readers see the version in force on any day
        before = await c.get("/requirements/rq-etica", params={"on": (TODAY - timedelta(days=20)).isoformat()})
        unknown_then = await c.get("/requirements/rq-etica", params={"as_of": (TODAY - timedelta(days=20)).isoformat()})
    assert before.status_code == 200, before.text
    assert before.json()["in_force"]["version"] == 1 and len(before.json()["versions"]) == 2
    assert unknown_then.status_code == 404, "as known 20 days ago, before it was declared, it did not exist"


async def test_a_due_rule_without_what_it_needs_is_a_422_naming_the_field_and_publishes_nothing(platform):
    await set_up_programme(platform)
    answer = await declare(platform, ETHICS | {"due": {"kind": "yearly_by", "month": 2, "day": 30}})
    assert answer.status_code == 422 and "due.day" in answer.text
    answer = await declare(platform, ETHICS | {"course_id": "co-nadie"})
    assert answer.status_code in (404, 409, 422) and "course" in answer.text
    assert await platform.events("requirement.declared.v1") == []


async def test_the_named_list_says_who_is_overdue_due_compliant_or_exempt_and_only_to_their_institution(platform):
    await set_up_programme(platform)
    late = await register(platform, 1, joined_on=JOINED.isoformat())                     # due JOINED+30: overdue
    new = await register(platform, 2, joined_on=(TODAY - timedelta(days=5)).isoformat())  # still within 30 days
    done = await register(platform, 3, joined_on=JOINED.isoformat())
    excused = await register(platform, 4, joined_on=JOINED.isoformat())
    assert (await declare(platform, ETHICS)).status_code == 201
    await platform.harness.send(CertificateIssued(
        certificate_id="ce-1", verification_code="ABCD1234", servant_id=done, course_id="co-etica",
        session_id="se-1", hours=4, issued_on=JOINED + timedelta(days=3), issuing_authority="Secretaría"))
    await platform.harness.drain()
    async with platform.client("liaison-a") as c:
        r = await c.post(f"/servants/{excused}/exemptions", json={
            "requirement_id": "rq-etica", "reason": "Acreditado ante otra instancia",
            "effective_from": JOINED.isoformat()})
        assert r.status_code == 201, r.text
        assert [e["reason"] for e in (await c.get(f"/servants/{excused}/exemptions")).json()] == [
            "Acreditado ante otra instancia"]

    answer = await standing(platform, "in-a", who="liaison-a")
    assert answer.status_code == 200, answer.text
    assert lines(answer) == {late: ("overdue", (JOINED + timedelta(days=30)).isoformat()),
                             new: ("due", (TODAY + timedelta(days=25)).isoformat()),
                             done: ("compliant", None), excused: ("exempt", None)}
    named = {line["servant_id"]: line["name"] for line in answer.json()["lines"]}
    assert named[late] == "Persona 1"
    overdue = await standing(platform, "in-a", state="overdue")
    assert list(lines(overdue)) == [late]
    async with platform.client("comptroller") as c:
        text = (await c.get("/institutions/in-a/compliance.csv",
                            params={"on": (TODAY - timedelta(days=1)).isoformat()})).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["servant_id"], r["name"], r["state"]) for r in rows] == [(late, "Persona 1", "overdue")]
    # Another institution's liaison learns nothing, not even that the institution exists.
    foreign = await standing(platform, "in-a", who="liaison-b")
    assert foreign.status_code == 404
    nowhere = await standing(platform, "in-zz", who="liaison-b")
    assert nowhere.status_code == 404 and foreign.json()["detail"] == nowhere.json()["detail"].replace("in-zz", "in-a")
    # A revoked certificate no longer satisfies it.
    await platform.harness.send(CertificateRevoked(certificate_id="ce-1", verification_code="ABCD1234",
                                                   servant_id=done, course_id="co-etica",
                                                   session_id="se-1", reason="corrección de asistencia"))
    await platform.harness.drain()
    assert lines(await standing(platform, "in-a", on=TODAY))[done][0] == "overdue"


async def test_a_servant_who_left_is_out_of_scope_from_that_day_and_cannot_be_enrolled_after(platform):
    await set_up_programme(platform)
    leaving = await register(platform, 1, joined_on=JOINED.isoformat())
    assert (await declare(platform, ETHICS)).status_code == 201
    left_on = TODAY - timedelta(days=3)
    async with platform.client("liaison-b") as c:  # another institution's servant is unknown to them
        assert (await c.post(f"/servants/{leaving}/departure",
                             json={"left_on": left_on.isoformat()})).status_code == 404
    async with platform.client("liaison-a") as c:
        ahead = await c.post(f"/servants/{leaving}/departure",
                             json={"left_on": (TODAY + timedelta(days=3)).isoformat()})
        assert ahead.status_code == 422 and "left_on" in ahead.text
        r = await c.post(f"/servants/{leaving}/departure", json={"left_on": left_on.isoformat(), "reason": "Renuncia"})
        assert r.status_code == 200 and r.json()["left_on"] == left_on.isoformat(), r.text
    (left,) = await platform.events("servant.left.v1")
    assert (left.event.servant_id, left.event.left_on) == (leaving, left_on)
    assert "Renuncia" not in left.event.model_dump_json(), "the reason stays in enrollment"
    assert leaving in lines(await standing(platform, "in-a", on=left_on - timedelta(days=1)))
    assert leaving not in lines(await standing(platform, "in-a", on=left_on))


async def test_leavings_come_in_a_csv_file_row_by_row_and_from_the_agency_stream(platform):
    await set_up_programme(platform)
    one = await register(platform, 1, joined_on=JOINED.isoformat())
    two = await register(platform, 2, joined_on=JOINED.isoformat())
    three = await register(platform, 3, joined_on=JOINED.isoformat())
    day = (TODAY - timedelta(days=2)).strftime("%d/%m/%Y")
    body = f"servant_id,fecha_baja,motivo\n{one},{day},Jubilación\n{two},31/02/2026,Renuncia\n"
    async with platform.client("liaison-a") as c:
        report = (await c.post("/servants/departures/import", content=body.encode(),
                               headers={"Content-Type": "text/csv"})).json()
    assert (report["accepted"], report["rejected"]) == (1, 1)
    assert [r["field"] for r in report["results"] if not r["accepted"]] == ["left_on"]
    await platform.harness.send(DepartureReported(request_id="rq-baja-1", institution_id="in-a", curp=curp(3),
                                                  left_on=TODAY - timedelta(days=1), reason="Renuncia"))
    await platform.harness.drain()
    assert sorted(e.event.servant_id for e in await platform.events("servant.left.v1")) == sorted([one, three])

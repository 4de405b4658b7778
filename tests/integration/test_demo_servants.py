"""The demo's servants, imported as the demo imports them, are accepted by enrollment and read on an
institution's named compliance list as a liaison would see real people: name, CURP and position."""

from __future__ import annotations

from datetime import date, timedelta

from probidad.ops.programme import demo_programme
from services.enrollment.servants.domain.curp import sex_from_curp
from tests.integration.test_enrollment_api import platform, set_up_programme  # noqa: F401 (fixture)

TODAY = date.today()


async def test_the_demos_servants_are_accepted_and_listed_with_name_curp_and_position(platform):
    await set_up_programme(platform)
    people = demo_programme(scale=0.01).servants[:40]  # the import's rows, as the demo sends them
    rows = [{"line": n, "institution_id": "in-a", "name": s.name, "curp": s.curp, "email": s.email, "sex": s.sex,
             "position": s.position, "position_level": s.position_level,
             "joined_on": (TODAY - timedelta(days=60)).isoformat()} for n, s in enumerate(people, start=1)]
    async with platform.client() as c:
        report = (await c.post("/servants/import", json={"rows": rows})).json()
        assert [(r["accepted"], r.get("field")) for r in report["results"]] == [(True, None)] * len(people)
        declared = await c.post("/requirements", json={
            "requirement_id": "rq-etica", "title": "Código de Ética para quien ingresa", "course_id": "co-etica",
            "due": {"kind": "within_days_of_joining", "days": 30},
            "effective_from": (TODAY - timedelta(days=120)).isoformat()})
        assert declared.status_code == 201, declared.text
    async with platform.client("liaison-a") as c:
        listed = await c.get("/institutions/in-a/compliance",
                             params={"state": "overdue", "on": (TODAY - timedelta(days=1)).isoformat()})
    assert listed.status_code == 200, listed.text
    lines = {line["curp"]: line for line in listed.json()["lines"]}
    assert set(lines) == {s.curp for s in people}
    for servant in people:
        line = lines[servant.curp]
        assert (line["name"], line["position"]) == (servant.name, servant.position)
        assert sex_from_curp(line["curp"]).value == servant.sex

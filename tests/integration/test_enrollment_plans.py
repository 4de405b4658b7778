"""The annual training programme in enrollment, on SQLite and PostgreSQL: declared by JSON or CSV, each
declaration a new version of its year published as TrainingPlanDeclared; a bad file declares nothing."""

from __future__ import annotations

import pytest

from services.enrollment.app import create_app
from services.enrollment.settings import EnrollmentSettings
from tests.support.harness import serving

CSV = (b"year,month,institution_id,topic,sessions,people,hours\n"
       b"2026,3,in-a,C\xc3\xb3digo de \xc3\x89tica,2,40,160\n"
       b"2026,4,in-b,Conflicto de Inter\xc3\xa9s,1,20,60.5\n")


@pytest.fixture
async def service(database_url: str, tmp_path):
    settings = EnrollmentSettings(database_url=database_url, state_dir=tmp_path)
    async with serving(create_app, settings) as harness:
        async with harness.client() as c:
            for iid in ("in-a", "in-b"):
                r = await c.post("/institutions", json={"institution_id": iid, "name": f"Institución {iid}",
                                                        "government_level": "state", "headcount": 100,
                                                        "headcount_year": 2026})
                assert r.status_code == 201, r.text
        yield harness


def target(month: int, institution_id: str = "in-a", topic: str = "Código de Ética", **numbers) -> dict:
    return {"month": month, "institution_id": institution_id, "topic": topic,
            **{"sessions": 1, "people": 10, "hours": 40.0, **numbers}}


async def test_a_plan_declared_by_json_then_by_csv_is_version_1_then_2_each_published(service):
    async with service.client() as c:
        r = await c.post("/plans", json={"year": 2026, "targets": [target(1), target(2, "in-b", people=5)]})
        assert r.status_code == 201, r.text
        first = r.json()
        assert (first["year"], first["version"], len(first["targets"])) == (2026, 1, 2)
        assert first["declared_by"].startswith("comptroller:")
        r = await c.post("/plans/import", content=CSV, headers={"content-type": "text/csv"})
        assert r.status_code == 201, r.text
        second = r.json()
        assert second["version"] == 2
        assert second["targets"][1] == {"month": 4, "institution_id": "in-b", "topic": "Conflicto de Interés",
                                        "sessions": 1, "people": 20, "hours": 60.5}
        r = await c.get("/plans/2026")
        assert r.status_code == 200 and r.json() == second
        assert (await c.get("/plans/2027")).status_code == 404
    declared = await service.published("plan.declared.v1")
    assert [(e.event.version, e.event.plan_id) for e in declared] == [(1, first["plan_id"]), (2, second["plan_id"])]
    assert declared[0].event.key == "2026" and declared[1].event.targets[0].people == 40
    async with service.client("liaison", institution="in-b") as liaison:
        r = await liaison.get("/plans/2026")
        assert [t["institution_id"] for t in r.json()["targets"]] == ["in-b"]
        assert (await liaison.post("/plans", json={"year": 2026, "targets": [target(1)]})).status_code == 403


@pytest.mark.parametrize(("row", "field"), [
    (b"2026,13,in-a,Etica,1,10,4", "row 3, month"),
    (b"2026,4,in-a,Etica,1,-1,4", "row 3, people"),
    (b"2026,4,in-a,Etica,one,10,4", "row 3, sessions"),
    (b"2026,4,in-a,Etica,1,10,nan", "row 3, hours"),
    (b"2027,4,in-a,Etica,1,10,4", "row 3, year"),
    (b"2026,4,in-zz,Etica,1,10,4", "row 3, institution_id"),
    (b"2026,3,in-a,C\xc3\xb3digo de \xc3\x89tica,1,10,4", "row 3, topic"),  # planned twice
])
async def test_a_bad_csv_row_is_refused_naming_row_and_field_and_declares_nothing(service, row, field):
    data = (b"year,month,institution_id,topic,sessions,people,hours\n"
            b"2026,3,in-a,C\xc3\xb3digo de \xc3\x89tica,2,40,160\n")
    async with service.client() as c:
        r = await c.post("/plans/import", content=data + row + b"\n", headers={"content-type": "text/csv"})
        assert r.status_code == 422, r.text
        assert r.json()["detail"].startswith(field + ":"), r.json()
        if field == "row 3, institution_id":
            assert "in-zz" in r.json()["detail"]
        assert (await c.get("/plans/2026")).status_code == 404
    assert await service.published("plan.declared.v1") == []


async def test_json_input_errors_name_the_target_and_field(service):
    async with service.client() as c:
        r = await c.post("/plans", json={"year": 2026, "targets": [target(1), target(2, "in-q")]})
        assert r.status_code == 422 and r.json()["detail"] == "targets.1.institution_id: unknown institution 'in-q'"
        r = await c.post("/plans", json={"year": 2026, "targets": [target(1, hours=-1)]})
        assert r.status_code == 422 and "hours" in r.text
        r = await c.post("/plans/import", content=b"year,month,topic\n2026,1,x\n", headers={"content-type": "text/csv"})
        assert r.status_code == 422 and r.json()["detail"].startswith("header: missing column(s) institution_id")
    assert await service.published("plan.declared.v1") == []

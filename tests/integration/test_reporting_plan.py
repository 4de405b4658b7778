"""Reporting's plan against actual on SQLite and PostgreSQL: TrainingPlanDeclared heard through the
consumer with the deliveries of a small programme (tests/unit/test_reporting_plan.py), the report
through the HTTP API (JSON and CSV), and a second version replacing the first from when it was recorded."""

from __future__ import annotations

import csv
import io

import pytest

from services.reporting.app import create_app
from services.reporting.settings import ReportingSettings
from tests.support.harness import serving
from tests.unit.test_reporting_plan import V1, V1_AT, V2, V2_AT, envelopes


@pytest.fixture
async def reporting(database_url: str, tmp_path):
    settings = ReportingSettings(database_url=database_url, state_dir=tmp_path, programme_timezone="America/Mexico_City")
    async with serving(create_app, settings, dead_letters=False) as harness:
        await harness.deliver(*envelopes((V1, V1_AT), (V2, V2_AT)))
        yield harness


def cells(row: dict) -> tuple:
    return tuple(row[k] for k in ("planned_sessions", "planned_people", "planned_hours", "sessions_delivered",
                                  "servants_trained", "training_hours", "sessions_attainment", "people_attainment",
                                  "hours_attainment"))


async def test_the_plan_in_force_against_what_was_delivered(reporting):
    async with reporting.client("comptroller") as c:
        r = await c.get("/reports/plan", params={"year": 2026, "through": 4})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["plan"]["version"] == 2 and body["through_month"] == 4
        months = {(m["period"], m["institution"], m["topic"]): m for m in body["months"]}
        assert cells(months[("2026-03", "in-a", "Ética")]) == (1, 2, 8, 1, 2, 8, 1.0, 1.0, 1.0)
        assert cells(body["total"]) == (1, 2, 8, 3, 2, 14, 3.0, 1.0, 1.75)

        # as of before version 2 was recorded: version 1
        r = await c.get("/reports/plan", params={"year": 2026, "through": 4, "as_of": "2026-05-01"})
        body = r.json()
        assert body["plan"]["version"] == 1
        months = {(m["period"], m["institution"], m["topic"]): m for m in body["months"]}
        assert cells(months[("2026-03", "in-a", "Ética")]) == (2, 4, 16, 1, 2, 8, 0.5, 0.5, 0.5)

        r = await c.get("/reports/plan", params={"year": 2026, "through": 4, "institution": "in-b",
                                                 "as_of": "2026-05-01"})
        assert {m["institution"] for m in r.json()["months"]} == {"in-b"}

        r = await c.get("/reports/plan.csv", params={"year": 2026, "through": 4})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        table = list(csv.DictReader(io.StringIO(r.text)))
        assert [row["part"] for row in table].count("month") == 4 and table[-1]["part"] == "total"
        ethics = next(row for row in table if row["period"] == "2026-04" and row["institution"] == "in-a")
        assert (ethics["servants_trained"], ethics["people_attainment"]) == ("1", "")

        assert (await c.get("/reports/plan", params={"through": 13})).status_code == 422
        assert (await c.get("/reports/plan", params={"year": 2027})).json()["plan"] is None
    async with reporting.client("liaison", institution="in-a") as liaison:
        assert (await liaison.get("/reports/plan", params={"year": 2026})).status_code == 403

"""Reporting's plan against actual on SQLite and PostgreSQL: TrainingPlanDeclared heard through the
consumer with the deliveries of a small programme (tests/unit/test_reporting_plan.py), a second version
replacing the first from when it was recorded. Attainment counts the cells the plan names only; delivery
elsewhere is its own line, the same in the report (JSON and CSV), the dashboard's plan table (rendered by a
real browser) and the bulletin's plan sentences."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from services.reporting.app import create_app
from services.reporting.settings import ReportingSettings
from tests.support.browser import rendered_dom
from tests.support.harness import serving
from tests.support.identity import both_kinds_of_token
from tests.unit.test_reporting_plan import V1, V1_AT, V2, V2_AT, envelopes


@pytest.fixture
async def reporting(database_url: str, tmp_path, token_minter):
    settings = ReportingSettings(database_url=database_url, state_dir=tmp_path,
                                 programme_timezone="America/Mexico_City",
                                 open_data_minimum_count=1)  # the programme is tiny: show every count
    async with serving(create_app, settings, dead_letters=False, tokens=token_minter) as harness:
        await harness.deliver(*envelopes((V1, V1_AT), (V2, V2_AT)))
        yield harness


def cells(row: dict) -> tuple:
    return tuple(row[k] for k in ("planned_sessions", "planned_people", "planned_hours", "sessions_delivered",
                                  "servants_trained", "training_hours", "sessions_attainment", "people_attainment",
                                  "hours_attainment"))


def delivered(row: dict) -> tuple:
    return row["sessions_delivered"], row["servants_trained"], row["training_hours"]


@both_kinds_of_token
async def test_attainment_counts_the_planned_cells_and_delivery_elsewhere_is_reported_beside_it(reporting):
    async with reporting.client("comptroller") as c:
        r = await c.get("/reports/plan", params={"year": 2026, "through": 4})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["plan"]["version"] == 2 and body["through_month"] == 4
        # version 2 names one cell (March, in-a, Ética): the report measures it and nothing else
        assert [(m["period"], m["institution"], m["topic"]) for m in body["months"]] == [("2026-03", "in-a", "Ética")]
        assert cells(body["months"][0]) == (1, 2, 8, 1, 2, 8, 1.0, 1.0, 1.0)
        assert cells(body["total"]) == (1, 2, 8, 1, 2, 8, 1.0, 1.0, 1.0)
        outside = body["outside_plan"]
        assert [(m["period"], m["institution"], m["topic"]) for m in outside["months"]] == [
            ("2026-03", "in-b", "Conflicto"), ("2026-03", "in-b", "Ética"), ("2026-04", "in-a", "Ética")]
        assert delivered(outside["total"]) == (3, 2, 6) and delivered(outside["month_total"]) == (1, 1, 4)

        # as of before version 2 was recorded: version 1 and its cells
        r = await c.get("/reports/plan", params={"year": 2026, "through": 4, "as_of": "2026-05-01"})
        body = r.json()
        assert body["plan"]["version"] == 1
        months = {(m["period"], m["institution"], m["topic"]): m for m in body["months"]}
        assert set(months) == {("2026-03", "in-a", "Ética"), ("2026-03", "in-b", "Ética"), ("2026-04", "in-a", "Ética")}
        assert cells(months[("2026-03", "in-a", "Ética")]) == (2, 4, 16, 1, 2, 8, 0.5, 0.5, 0.5)
        assert cells(body["month_total"]) == (1, 2, 8, 1, 1, 4, 1.0, 0.5, 0.5)
        assert cells(body["total"]) == (4, 6, 24, 3, 3, 12, 0.75, 0.5, 0.5)
        assert delivered(body["outside_plan"]["total"]) == (1, 1, 2)

        r = await c.get("/reports/plan", params={"year": 2026, "through": 4, "institution": "in-b",
                                                 "as_of": "2026-05-01"})
        assert {m["institution"] for m in r.json()["months"] + r.json()["outside_plan"]["months"]} == {"in-b"}

        r = await c.get("/reports/plan.csv", params={"year": 2026, "through": 4})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        table = list(csv.DictReader(io.StringIO(r.text)))
        parts = [row["part"] for row in table]
        assert parts == ["month", "month_total", "year_to_date", "total", "outside_plan", "outside_plan",
                         "outside_plan", "outside_plan_month_total", "outside_plan_total"]
        april = next(row for row in table if row["period"] == "2026-04" and row["institution"] == "in-a")
        assert april["part"] == "outside_plan"
        assert (april["servants_trained"], april["planned_people"], april["people_attainment"]) == ("1", "", "")

        assert (await c.get("/reports/plan", params={"through": 13})).status_code == 422
        r = await c.get("/reports/plan", params={"year": 2027})
        assert r.json()["plan"] is None and r.json()["months"] == []
    async with reporting.client("liaison", institution="in-a") as liaison:
        assert (await liaison.get("/reports/plan", params={"year": 2026})).status_code == 403


async def test_the_dashboards_plan_table_shows_the_planned_cells_and_the_line_outside_the_plan(reporting, tmp_path):
    async with reporting.client(None) as public:
        r = await public.get("/dashboard", params={"year": 2026, "period": "ytd", "month": 4})
        assert r.status_code == 200, r.text
    page = tmp_path / "dashboard.html"
    page.write_text(r.text, encoding="utf-8")  # the page is self-contained: a browser draws it from a file
    dom = rendered_dom(page.as_uri(), tmp_path / "chromium")

    rows = re.findall(r'<tr data-plan-institution="([^"]+)" data-plan-topic="([^"]+)"([^>]*)>(.*?)</tr>', dom, re.S)
    assert [(institution, topic) for institution, topic, _, _ in rows] == [("in-a", "Ética")]
    (_, _, attributes, content) = rows[0]
    assert 'data-planned-people="2"' in attributes and 'data-servants-trained="2"' in attributes
    assert re.findall(r"<td>([^<]*)</td>", content)[2:4] == ["1 / 1", "2 / 2"]
    assert not re.search(r"<td>\d+ / 0</td>", dom), "no row without a target"
    total = re.search(r"<span data-plan-total=\"\"[^>]*>", dom).group(0)
    assert 'data-planned-sessions="1"' in total and 'data-sessions-delivered="1"' in total
    outside = re.search(r'<span data-plan-outside="" data-sessions-delivered="(\d+)" data-servants-trained="(\d+)">'
                        r"([^<]*)</span>", dom)
    assert outside and outside.group(1, 2) == ("3", "2")
    assert outside.group(3) == "Fuera del programa (no cuenta en el avance): sesiones 3; personas capacitadas 2."
    data = json.loads(re.search(r'<script id="dashboard-data" type="application/json">(.*?)</script>', dom,
                                re.S).group(1))
    assert [r["topic"] for r in data["plan"]["rows"]] == ["Ética"]


def numbers(paragraph: str) -> list[str]:
    """The figures of a sentence, links dropped, the year of its dates left out."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", paragraph.split(":", 1)[1])
    return [n for n in re.findall(r"\d+(?:,\d{3})*(?:\.\d+)?", text) if n != "2026"]


async def test_the_bulletins_plan_sentences_give_the_planned_cells_and_the_delivery_outside_the_plan(reporting):
    async with reporting.client("comptroller") as c:
        r = await c.get("/reports/bulletin", params={"month": "2026-04", "format": "markdown",
                                                     "as_of": "2026-05-01"})
        assert r.status_code == 200, r.text
    paragraphs = r.text.split("\n\n")
    (attainment,) = [p for p in paragraphs if "Avance del plan anual" in p]
    (outside,) = [p for p in paragraphs if "Fuera del programa" in p]
    # April under version 1: 1 of 1 planned session, 1 of 2 planned people; January to April, the three
    # planned cells added: 3 of 4 sessions (s1 reached in-a and in-b, each planned it) and 3 of 6 people
    # (a1 in March and in April). The Conflicto session of in-b is in none: outside the plan (1 and 1).
    assert numbers(attainment) == ["1", "1", "100.0", "1", "2", "50.0", "3", "4", "75.0", "3", "6", "50.0"]
    assert numbers(outside) == ["0", "0", "1", "1"]

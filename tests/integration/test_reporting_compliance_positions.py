"""The compliance report's breakdown by position level and position through the HTTP API (JSON and
CSV), on SQLite and PostgreSQL, with the programme of tests/unit/test_reporting_compliance_positions.py
heard through the consumer."""

from __future__ import annotations

import csv
import io

import pytest

from services.reporting.app import create_app
from services.reporting.domain.facts import UNKNOWN
from services.reporting.settings import ReportingSettings
from tests.support.harness import serving
from tests.unit.test_reporting_compliance_positions import digest, envelopes


@pytest.fixture
async def reporting(database_url: str, tmp_path):
    settings = ReportingSettings(database_url=database_url, state_dir=tmp_path,
                                 programme_timezone="America/Mexico_City")
    async with serving(create_app, settings, dead_letters=False) as harness:
        await harness.deliver(*envelopes())
        yield harness


def counts(row: dict) -> tuple:
    return tuple(row[k] for k in ("required", "compliant", "due", "overdue", "exempt"))


async def test_the_compliance_report_breaks_down_by_position_level_and_position(reporting):
    async with reporting.client("comptroller") as c:
        r = await c.get("/reports/compliance", params={"on": "2026-11-30"})
        assert r.status_code == 200, r.text
        body = r.json()
        levels = {(x["requirement_id"], x["position_level"]): counts(x) for x in body["by_position_level"]}
        assert levels[("rq-mandos", "directivo")] == (2, 1, 0, 1, 0)
        assert levels[("rq-mandos", "mando medio")] == (3, 1, 0, 2, 0)
        assert levels[("rq-todos", UNKNOWN)] == (1, 0, 1, 0, 0)
        positions = {(x["requirement_id"], x["position_digest"]): counts(x) for x in body["by_position"]}
        assert positions[("rq-compras", digest("Jefe de Compras"))] == (3, 1, 0, 2, 0)
        assert {rid for rid, _ in positions} == {"rq-compras", "rq-mandos", "rq-todos"}

        # One institution: the breakdowns count its servants only.
        r = await c.get("/reports/compliance", params={"on": "2026-11-30", "institution_id": "in-b"})
        levels = {(x["requirement_id"], x["position_level"]): counts(x) for x in r.json()["by_position_level"]}
        assert levels == {("rq-mandos", "directivo"): (1, 0, 0, 1, 0), ("rq-todos", "directivo"): (1, 0, 1, 0, 0),
                          ("rq-todos", UNKNOWN): (1, 0, 1, 0, 0)}

        r = await c.get("/reports/compliance.csv", params={"on": "2026-11-30"})
        assert r.status_code == 200
        table = list(csv.DictReader(io.StringIO(r.text)))
        row = next(x for x in table if x["part"] == "position_level" and x["requirement_id"] == "rq-mandos"
                   and x["position_level"] == "mando medio")
        assert (row["required"], row["compliant"], row["overdue"], row["rate"]) == ("3", "1", "2", "0.3333")
        row = next(x for x in table if x["part"] == "position" and x["requirement_id"] == "rq-compras")
        assert (row["position_digest"], row["required"]) == (digest("Jefe de Compras"), "3")

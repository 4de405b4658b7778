"""Reporting's compliance report on SQLite and PostgreSQL: the small programme of
tests/unit/test_reporting_compliance.py heard through the consumer (requirements, exemptions, a
transfer, a leaving, revoked and expired certificates), the report through the HTTP API (JSON and
CSV, as of a moment, one institution, one requirement), a rebuild from the records giving the same
report, and a published bulletin re-rendering with the same compliance numbers."""

from __future__ import annotations

import csv
import io
import re
from types import SimpleNamespace

import pytest

from contracts.envelope import to_record
from services.reporting.app import create_app
from services.reporting.rebuild import rebuild_store
from services.reporting.settings import ReportingSettings
from tests.support.harness import serving
from tests.unit.test_reporting_compliance import envelopes

PROGRAMME = envelopes()


@pytest.fixture
async def reporting(database_url: str, tmp_path):
    settings = ReportingSettings(database_url=database_url, state_dir=tmp_path,
                                 programme_timezone="America/Mexico_City")
    async with serving(create_app, settings, dead_letters=False) as harness:
        await harness.deliver(*PROGRAMME)
        yield harness


def counts(row: dict) -> tuple:
    return tuple(row[k] for k in ("required", "compliant", "due", "overdue", "exempt", "rate"))


async def report(client, **params) -> dict:
    response = await client.get("/reports/compliance", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_compliance_per_requirement_institution_and_level_on_a_date(reporting):
    async with reporting.client("comptroller") as c:
        body = await report(c, on="2026-11-30")
        assert {r["requirement_id"]: counts(r) for r in body["by_requirement"]} == {
            "rq-etica": (11, 6, 1, 4, 0, 0.5455), "rq-conflicto": (9, 4, 0, 5, 0, 0.4444)}
        assert {(r["requirement_id"], r["institution"]): counts(r) for r in body["by_institution"]} == {
            ("rq-etica", "in-a"): (9, 6, 0, 3, 0, 0.6667), ("rq-etica", "in-b"): (2, 0, 1, 1, 0, 0.0),
            ("rq-conflicto", "in-a"): (9, 4, 0, 5, 0, 0.4444)}
        assert {(r["requirement_id"], r["government_level"]) for r in body["by_government_level"]} == {
            ("rq-etica", "state"), ("rq-etica", "municipal"), ("rq-conflicto", "state")}
        standings = {(s["servant_id"], s["requirement_id"]): s for s in body["standings"]}
        b2 = standings[("b2", "rq-etica")]
        assert b2["state"] == "due" and b2["due_on"] == "2026-12-31"
        assert all(set(s) == {"servant_id", "institution", "government_level", "requirement_id", "version", "state",
                              "due_on", "satisfied_by"} for s in body["standings"]), "pseudonymous ids only"

        # As of 15 May (and on that day): version 1, a3 exempt, the revocation and the expiry counted.
        body = await report(c, as_of="2026-05-15", requirement_id="rq-etica")
        assert body["on"] == "2026-05-15" and [counts(r) for r in body["by_requirement"]] == [(11, 6, 0, 4, 1, 0.6)]
        assert body["requirements"][0]["version"] == 1

        # On 2 June as known on 2 June, a5 is still in in-a; as known now, in in-b since 1 June.
        then = await report(c, as_of="2026-06-02", institution_id="in-a", requirement_id="rq-conflicto")
        now = await report(c, on="2026-06-02", institution_id="in-a", requirement_id="rq-conflicto")
        assert [r["required"] for r in then["by_requirement"]] == [10]
        assert [r["required"] for r in now["by_requirement"]] == [9]

        r = await c.get("/reports/compliance.csv", params={"on": "2026-11-30"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        table = list(csv.DictReader(io.StringIO(r.text)))
        ethics_b = next(row for row in table if row["part"] == "institution" and row["institution"] == "in-b")
        assert (ethics_b["required"], ethics_b["overdue"], ethics_b["rate"]) == ("2", "1", "0.0")
        assert [row["part"] for row in table].count("requirement") == 2
        r = await c.get("/reports/compliance.csv", params={"on": "2026-11-30", "part": "standings",
                                                             "institution_id": "in-b"})
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert sorted((row["servant_id"], row["state"]) for row in rows) == [("a5", "overdue"), ("b2", "due")]

        assert (await c.get("/reports/compliance", params={"on": "2026-13-01"})).status_code == 422
        assert (await c.get("/reports/compliance", params={"as_of": "someday"})).status_code == 422
        assert (await c.get("/reports/compliance.csv", params={"part": "names"})).status_code == 422
    async with reporting.client("liaison", institution="in-a") as liaison:
        assert (await liaison.get("/reports/compliance")).status_code == 403


async def test_a_rebuild_from_the_records_gives_the_same_compliance(reporting):
    async with reporting.client("comptroller") as c:
        before = [await report(c, on=day) for day in ("2026-03-15", "2026-05-15", "2026-11-30")]

    async def batches():
        records = []
        for envelope in PROGRAMME:
            key, value, headers = to_record(envelope)
            records.append(SimpleNamespace(key=key, value=value, headers=[(k, v.encode()) for k, v in headers.items()]))
        yield records

    rebuilt = await rebuild_store(reporting.runtime.database, batches())
    assert rebuilt.facts == len(PROGRAMME)
    async with reporting.client("comptroller") as c:
        assert [await report(c, on=day) for day in ("2026-03-15", "2026-05-15", "2026-11-30")] == before


@pytest.fixture
async def every_count_public(database_url: str, tmp_path):
    """The programme with a threshold of 1: its eleven people are all small counts, which the public
    dashboard (and so the bulletin) would otherwise withhold; here the numbers themselves are the point."""
    settings = ReportingSettings(database_url=database_url, state_dir=tmp_path,
                                 programme_timezone="America/Mexico_City",
                                 open_data_minimum_count=1)
    async with serving(create_app, settings, dead_letters=False) as harness:
        await harness.deliver(*PROGRAMME)
        yield harness


async def test_a_published_bulletin_keeps_its_compliance_numbers(every_count_public):
    reporting = every_count_public
    async with reporting.client("comptroller") as c:
        r = await c.post("/reports/bulletin/2026-11/publish", params={"as_of": "2026-11-30"})
        assert r.status_code == 201, r.text
        published = r.json()
        compliance = {x["requirement_id"]: counts(x) for x in published["figures"]["compliance"]["requirements"]}
        assert compliance == {"rq-etica": (11, 6, 1, 4, 0, 0.5455), "rq-conflicto": (9, 4, 0, 5, 0, 0.4444)}
        assert published["figures"]["compliance"]["on"] == "2026-11-30"

        # A late fact dated before the bulletin's moment changes the live numbers, not the published ones.
        from contracts.events import CertificateIssued
        await reporting.send(CertificateIssued(
            certificate_id="ce-late-a2", verification_code="LATE0001", servant_id="a2", course_id="co-e",
            session_id="s1", hours=4, issued_on="2026-11-20", issuing_authority="Contraloría"))
        live = await report(c, on="2026-11-30", requirement_id="rq-etica")
        assert counts(live["by_requirement"][0])[:2] == (11, 7)

        r = await c.get("/reports/bulletin", params={"month": "2026-11", "published": "latest", "format": "markdown"})
        assert r.status_code == 200 and r.headers["X-Figures-Verified"] == "true"
        text = r.text
        # Each number links to the public dashboard's compliance panel of the month, as of the same moment.
        panel = "http://127.0.0.1:8004/dashboard?year=2026&period=month&month=11"
        assert f"Al 30 de noviembre de 2026, el [54.5 %]({panel}&as_of=" in text
        assert "cumplía con el requisito de capacitación “Código de Ética” ([6](" in text and "#compliance)" in text
        r = await c.get("/reports/bulletin", params={"month": "2026-11", "published": "latest", "format": "html",
                                                       "lang": "en"})
        assert "On November 30, 2026," in r.text and ">54.5%</a> of the public servants subject to the" in r.text
        r = await c.get("/reports/bulletin", params={"month": "2026-11", "published": "latest", "format": "pdf"})
        assert r.status_code == 200 and r.content.startswith(b"%PDF")
        # The bulletin asked for now gives the new number, linked to the same query.
        r = await c.get("/reports/bulletin", params={"month": "2026-11", "format": "markdown"})
        assert f"cumplía con el requisito de capacitación “Código de Ética” ([7]({panel}#compliance)" in r.text


async def test_at_the_threshold_the_bulletin_prints_the_small_compliance_counts_as_the_dashboard_withholds_them(
        reporting):
    async with reporting.client("comptroller") as c:
        r = await c.post("/reports/bulletin/2026-11/publish", params={"as_of": "2026-11-30"})
        published = r.json()
        compliance = {x["requirement_id"]: counts(x) for x in published["figures"]["compliance"]["requirements"]}
        assert compliance["rq-etica"] == (11, 6, 1, 4, 0, 0.5455), "the published record keeps the numbers"
        r = await c.get("/reports/bulletin", params={"month": "2026-11", "published": "latest", "format": "markdown"})
        sentence = next(line for line in r.text.splitlines() if "“Código de Ética”" in line)
        assert "exentos: [0](" in sentence, "a zero identifies no one"
        assert "aún en plazo: [cifra reservada](" in sentence and "habían rebasado su plazo sin cumplirlo: " \
            "[cifra reservada](" in sentence
        assert not re.search(r"\[[1-4]\]\(", sentence), sentence

"""Reporting on SQLite and PostgreSQL: events in through the consumer (in-memory broker), figures out
through the HTTP API; a rebuild into a fresh generation gives the live figures and is swapped in
without losing what the live consumer applied meanwhile."""

from __future__ import annotations

import csv
import io
import random
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import httpx
import pytest

from contracts.envelope import to_record
from probidad.ops.programme import bulletin_plan, generate, small_plan
from services.reporting.app import create_app
from services.reporting.domain.facts import DIMENSIONS, fact_from
from services.reporting.domain.ledger import Ledger
from services.reporting.domain.resolved import Period
from services.reporting.rebuild import rebuild_store
from services.reporting.repository import pointer
from services.reporting.settings import ReportingSettings
from services.reporting.suppression import exact
from tests.support.harness import ServiceHarness, serving

SMALL = generate(small_plan())
BULLETIN = generate(bulletin_plan())
QUERIES = [{"month": "2026-11"}, {"month": "2026-10"}, {"year": "2026"}, {"from": "2026-09-01", "to": "2026-11-30"}]


class Reporting:
    """The service in the harness, with a comptroller's HTTP client."""

    def __init__(self, harness: ServiceHarness) -> None:
        self.harness = harness
        self.app, self.settings, self.runtime = harness.app, harness.settings, harness.runtime
        self.client = harness.client("comptroller")

    async def hear(self, envelopes) -> None:
        await self.harness.deliver(*envelopes)

    async def figures(self, **params) -> list[dict]:
        response = await self.client.get("/reports/figures", params=params)
        assert response.status_code == 200, response.text
        return response.json()["rows"]

    async def everything(self) -> dict:
        """Every figure the API gives for the test periods, by every dimension, plus coverage."""
        out = {}
        for query in QUERIES:
            for by in (None, *DIMENSIONS):
                out[(tuple(query.items()), by)] = await self.figures(**query, **({"by": by} if by else {}))
        out["coverage"] = (await self.client.get("/reports/coverage", params={"year": 2026})).json()["rows"]
        return out


@pytest.fixture
async def reporting(database_url: str, tmp_path):
    async with serving(create_app, ReportingSettings(database_url=database_url, state_dir=tmp_path),
                       dead_letters=False) as harness:
        yield Reporting(harness)


def records(envelopes) -> list:
    """The envelopes as a Kafka consumer would hand them over."""
    out = []
    for envelope in envelopes:
        key, value, headers = to_record(envelope)
        out.append(SimpleNamespace(key=key, value=value, headers=[(k, v.encode()) for k, v in headers.items()]))
    return out


async def batches(items, size: int = 200):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def pure(envelopes) -> Ledger:
    ledger = Ledger()
    ledger.apply_all(f for e in envelopes if (f := fact_from(e)))
    return ledger


async def test_live_figures_match_the_plan_and_the_pure_projection(reporting):
    await reporting.hear(SMALL.envelopes)
    plan = SMALL.plan
    for month, mplan in plan.months.items():
        [row] = await reporting.figures(month=f"2026-{month:02d}")
        assert (row["sessions_delivered"], row["servants_trained"]) == (mplan.sessions_delivered,
                                                                        mplan.servants_trained)
    [window] = await reporting.figures(**{"from": "2026-09-01", "to": "2026-11-30"})
    assert window["servants_trained"] == plan.distinct_trained
    expected = pure(SMALL.envelopes).snapshot(ZoneInfo(reporting.settings.programme_timezone))
    for by in DIMENSIONS:
        assert await reporting.figures(year=2026, by=by) == expected.figures(Period.year(2026), by)


async def test_redelivered_and_out_of_order_events_change_nothing(reporting):
    await reporting.hear(SMALL.envelopes)
    before = await reporting.everything()
    shuffled = list(SMALL.envelopes)
    random.Random(3).shuffle(shuffled)
    await reporting.hear(shuffled[: len(shuffled) // 2])
    assert await reporting.everything() == before
    assert (await pointer(reporting.runtime.database))["facts"] == len(pure(SMALL.envelopes))


async def test_a_rebuild_gives_exactly_the_live_figures(reporting):
    shuffled = list(SMALL.envelopes)
    random.Random(5).shuffle(shuffled)
    await reporting.hear(shuffled)
    live = await reporting.everything()
    # The topics hold every event once more (a relay republished a batch): still the same figures.
    report = await rebuild_store(reporting.runtime.database, batches(records(SMALL.envelopes + SMALL.envelopes[:50])),
                                 batch_size=300)  # several chunks through the staging table
    assert (report.generation, report.previous_generation) == (2, 1)
    assert await reporting.everything() == live
    assert (await pointer(reporting.runtime.database))["generation"] == 2


async def test_events_applied_live_during_a_rebuild_survive_the_swap(reporting):
    half = len(SMALL.envelopes) // 2
    first, second = SMALL.envelopes[:half], SMALL.envelopes[half:]
    await reporting.hear(first)

    async def meanwhile() -> None:  # past the offsets the rebuild read, the live consumer goes on
        await reporting.hear(second)

    report = await rebuild_store(reporting.runtime.database, batches(records(first)), before_swap=meanwhile)
    assert report.carried_over == len([e for e in second if fact_from(e)])
    full = pure(SMALL.envelopes).snapshot(ZoneInfo(reporting.settings.programme_timezone))
    assert await reporting.figures(year=2026) == full.figures(Period.year(2026))
    # ... and what the live consumer applies after the swap goes into the new generation.
    await reporting.hear(SMALL.envelopes[-5:])
    assert (await pointer(reporting.runtime.database))["facts"] == len(pure(SMALL.envelopes))


async def test_bulletin_figures_from_a_rebuilt_store(reporting):
    await rebuild_store(reporting.runtime.database, batches(records(BULLETIN.envelopes), 2000))
    plan = BULLETIN.plan
    [november] = await reporting.figures(month="2026-11")
    assert november["sessions_delivered"] == plan.months[11].sessions_delivered
    assert november["servants_trained"] == plan.months[11].servants_trained
    [jan_nov] = await reporting.figures(**{"from": "2026-01-01", "to": "2026-11-30"})
    monthly = await reporting.figures(**{"from": "2026-01-01", "to": "2026-11-30"}, by="month")
    assert jan_nov["servants_trained"] == plan.distinct_trained < sum(r["servants_trained"] for r in monthly)
    roster = (await reporting.client.get(f"/reports/sessions/{BULLETIN.evening_session_id}/roster")).json()
    assert roster["local_date"] == "2026-11-30" and roster["delivered"]


async def test_csv_export_and_open_data_hold_aggregates_only_with_small_counts_suppressed(reporting):
    await rebuild_store(reporting.runtime.database, batches(records(BULLETIN.envelopes), 2000))
    response = await reporting.client.get("/reports/figures.csv", params={"year": 2026, "by": "institution"})
    assert response.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(response.text)))
    assert {r["institution"] for r in table} == set(BULLETIN.institutions)
    assert sum(int(r["participations"]) for r in table) == len(BULLETIN.completions)

    public = httpx.AsyncClient(transport=httpx.ASGITransport(app=reporting.app), base_url="http://reporting")
    opened = await public.get("/open-data/figures.csv", params={"year": 2026})
    await public.aclose()
    assert opened.status_code == 200
    rows = list(csv.DictReader(io.StringIO(opened.text)))
    assert rows and all(r["period"] and r["responsible_unit"] == reporting.settings.responsible_unit and r["updated_on"]
                        for r in rows)
    counts = ("servants_trained", "participations", "certificates_issued", "certificates_revoked")
    assert all(r[m] == "" or int(r[m]) == 0 or int(r[m]) >= 5 for r in rows for m in counts)
    # Sessions and courses are the programme's activity: printed however few (they identify no one).
    assert all(r[m] != "" for r in rows for m in ("sessions_delivered", "courses_delivered"))
    assert any(0 < int(r["sessions_delivered"]) < 5 for r in rows), "small session counts, printed"
    assert any(r["suppressed"] for r in rows), "the year has small groups, which must be suppressed"
    tables: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        tables.setdefault((r["period"], r["dimension"]), []).append(r)
    for (period, dimension), rows_of_table in tables.items():
        total = tables.get((period, "total"), [{}])[0]
        for m in counts:  # one blank beside published counts adding up to a published total would give it away
            blanks = [r for r in rows_of_table if r[m] == ""]
            assert (len(blanks) != 1 or dimension == "total" or not exact(m, dimension) or total.get(m) == ""
                    or all(r[m] in ("", "0") for r in rows_of_table)), (period, dimension, m)
    servant_ids = {e.event.servant_id for e in BULLETIN.envelopes if hasattr(e.event, "servant_id")}
    assert not any(sid in opened.text for sid in list(servant_ids)[:200])
    november = next(r for r in rows if r["period"] == "2026-11" and r["dimension"] == "total")
    assert int(november["servants_trained"]) == BULLETIN.plan.months[11].servants_trained


async def test_the_api_refuses_bad_input_and_strangers_clearly(reporting):
    stranger = httpx.AsyncClient(transport=httpx.ASGITransport(app=reporting.app), base_url="http://reporting")
    assert (await stranger.get("/reports/figures")).status_code == 401
    await stranger.aclose()
    wrong = await reporting.client.get("/reports/figures", params={"by": "colour"})
    assert wrong.status_code == 422 and "by:" in wrong.json()["detail"]
    assert (await reporting.client.get("/reports/figures", params={"month": "Nov"})).status_code == 422
    assert (await reporting.client.get("/reports/figures", params={"from": "2026-02-01"})).status_code == 422
    missing = await reporting.client.get("/reports/sessions/nope/roster")
    assert missing.status_code == 404 and "session_id" in missing.json()["detail"]

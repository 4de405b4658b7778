"""The bulletin through reporting's HTTP API, on SQLite and PostgreSQL: HTML, Markdown and PDF of the
generated Quintana Roo year, bad input refused naming the parameter; a bulletin published records
ReportPublished and re-renders with the same numbers after a correction, while the live one changes."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import zlib
from datetime import datetime, timedelta

import httpx
import pytest

from contracts.events import CertificateIssued, CertificateRevoked, ReportPublished
from contracts.topics import REPORTING_EVENTS
from probidad.ops.programme import bulletin_plan, generate
from services.reporting.bulletin import figures_digest
from services.reporting.app import create_app
from services.reporting.rebuild import rebuild_store
from services.reporting.settings import ReportingSettings
from tests.integration.test_reporting_service import batches, records
from tests.support.harness import serving

BULLETIN = generate(bulletin_plan())


def pdf_text(pdf: bytes) -> str:
    """The text a PDF of reportlab draws (ASCII85 + Flate content streams), strings joined per line."""
    out = []
    for stream in re.findall(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        try:
            content = zlib.decompress(base64.a85decode(stream.strip(), adobe=True)).decode("latin-1")
        except ValueError:
            continue
        for line in re.findall(r"BT (.*?) ET", content, re.S):
            strings = re.findall(r"\(((?:\\.|[^\\)])*)\) Tj", line)
            text = "".join(strings)
            text = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)
            out.append(re.sub(r"\\(.)", r"\1", text))
    return " ".join(out)


@pytest.fixture
async def service(database_url: str, tmp_path):
    async with serving(create_app, ReportingSettings(database_url=database_url, state_dir=tmp_path),
                       dead_letters=False) as harness:
        await rebuild_store(harness.runtime.database, batches(records(BULLETIN.envelopes), 2000))
        yield harness


async def test_the_bulletin_in_html_markdown_and_pdf_says_novembers_figures(service):
    client = service.client("comptroller")
    page = await client.get("/reports/bulletin", params={"month": "2026-11"})
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert 'lang="es"' in page.text and "durante noviembre de 2026 ha impartido un total de" in page.text
    assert '<a class="n" href="/reports/figures?month=2026-11">11</a>' in page.text
    assert '<a class="n" href="/reports/figures?from=2026-01-01&amp;to=2026-11-30">2533</a>' in page.text

    markdown = await client.get("/reports/bulletin", params={"month": "2026-11", "format": "markdown"})
    assert markdown.headers["content-type"].startswith("text/markdown")
    text = markdown.text
    assert "[180](/reports/figures?month=2026-11&by=modality) servidores públicos se han capacitado a través de " \
           "plataformas virtuales" in text
    # Each link answers with the number it carries.
    for number, href in [("11", "/reports/figures?month=2026-11"),
                         ("2533", "/reports/figures?from=2026-01-01&to=2026-11-30")]:
        assert f"[{number}]({href})" in text
        [row] = (await client.get(href)).json()["rows"]
        assert int(number) in (row["sessions_delivered"], row["servants_trained"])

    pdf = await client.get("/reports/bulletin", params={"month": "2026-11", "format": "pdf"})
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    drawn = pdf_text(pdf.content)
    assert "Boletín de capacitación: noviembre de 2026" in drawn
    for number in ("11", "180", "2533"):
        assert f" {number} " in f" {drawn} ".replace("(", " ").replace(")", " ")
    assert "plataformas virtuales" in drawn

    english = await client.get("/reports/bulletin", params={"month": "2026-11", "format": "markdown", "lang": "en"})
    assert "From January to November 2026" in english.text and "[2533]" in english.text


async def test_a_bad_month_format_or_language_is_refused_naming_it_and_strangers_are_refused(service):
    client = service.client("comptroller")
    for params, name in [({"month": "2026-13"}, "month"), ({"month": "Nov"}, "month"),
                         ({"month": "2026-11", "format": "docx"}, "format"),
                         ({"month": "2026-11", "lang": "fr"}, "lang"),
                         ({"month": "2026-11", "as_of": "yesterday"}, "as_of")]:
        refused = await client.get("/reports/bulletin", params=params)
        assert refused.status_code == 422 and refused.json()["detail"].startswith(f"{name}:"), refused.text
    missing = await client.get("/reports/bulletin")
    assert missing.status_code == 422 and "month" in missing.json()["detail"]
    stranger = httpx.AsyncClient(transport=httpx.ASGITransport(app=service.app), base_url="http://reporting")
    assert (await stranger.get("/reports/bulletin", params={"month": "2026-11"})).status_code == 401
    await stranger.aclose()
    liaison = service.client("liaison", institution="inst-e01")
    assert (await liaison.get("/reports/bulletin", params={"month": "2026-11"})).status_code == 403


# ------------------------------------------------------------------ publishing

PAST = generate(bulletin_plan(year=2025))  # a year wholly past: publishing "now" sees all of it


@pytest.fixture
async def past(database_url: str, tmp_path):
    async with serving(create_app, ReportingSettings(database_url=database_url, state_dir=tmp_path),
                       dead_letters=False) as harness:
        await rebuild_store(harness.runtime.database, batches(records(PAST.envelopes), 2000))
        yield harness


def revocation_of_a_november_completion(skip: int = 0) -> CertificateRevoked:
    """A certificate of a servant whose only November completion it is (revoking it changes November)."""
    november = [c for c in PAST.completions if (c.year, c.month) == (2025, 11)]
    once = [c for c in november if sum(1 for d in november if d.servant_id == c.servant_id) == 1][skip]
    issued = next(e.event for e in PAST.envelopes
                  if isinstance(e.event, CertificateIssued) and e.event.certificate_id == once.certificate_id)
    return CertificateRevoked(certificate_id=issued.certificate_id, verification_code=issued.verification_code,
                              servant_id=issued.servant_id, course_id=issued.course_id, session_id=issued.session_id,
                              reason="Asistencia corregida")


async def test_a_published_bulletin_re_renders_with_its_numbers_after_a_correction(past):
    client = past.client("comptroller", subject="contralor-1")
    published = await client.post("/reports/bulletin/2025-11/publish")
    assert published.status_code == 201, published.text
    body = published.json()
    assert body["figures"]["month_figures"]["servants_trained"] == 180
    assert body["figures"]["year_to_date"]["servants_trained"] == 2533
    assert body["figures_digest"] == figures_digest(body["figures"])

    (event,) = await past.published("report.published.v1")
    assert event.type == "probidad.reporting.report.published.v1" and event.source == "probidad/reporting"
    fact = event.event
    assert isinstance(fact, ReportPublished)
    assert (fact.report_id, fact.kind, fact.month, fact.published_by) == (
        body["report_id"], "bulletin", "2025-11", "comptroller:contralor-1")
    assert fact.as_of.utcoffset() == timedelta(0) and fact.figures == body["figures"]
    assert fact.figures_digest == hashlib.sha256(
        json.dumps(fact.figures, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()
    assert past.topics == [past.settings.topic(REPORTING_EVENTS)]  # what the harness collected: its own topic

    # A correction afterwards: a November certificate revoked.
    await past.send(revocation_of_a_november_completion())
    live = await client.get("/reports/bulletin", params={"month": "2025-11", "format": "markdown"})
    assert "de un total de [179](/reports/figures?month=2025-11)" in live.text
    for again in (await client.get("/reports/bulletin", params={"month": "2025-11", "format": "markdown",
                                                                 "published": "latest"}),
                  await client.get(f"/reports/bulletins/{body['report_id']}", params={"format": "markdown"})):
        assert again.status_code == 200, again.text
        assert again.headers["x-figures-verified"] == "true"
        assert again.headers["x-figures-digest"] == body["figures_digest"]
        assert "de un total de [180](/reports/figures?month=2025-11&as_of=" in again.text
        assert f"Publicado como {body['report_id']}" in again.text
    pdf = await client.get(f"/reports/bulletins/{body['report_id']}", params={"format": "pdf"})
    assert pdf.content.startswith(b"%PDF") and "2533" in pdf_text(pdf.content)
    listed = (await client.get("/reports/bulletins", params={"month": "2025-11"})).json()
    assert [p["report_id"] for p in listed] == [body["report_id"]]


async def test_a_fact_arriving_late_but_dated_before_the_publication_is_flagged_and_the_published_numbers_kept(past):
    client = past.client("comptroller")
    body = (await client.post("/reports/bulletin/2025-11/publish")).json()
    # Recorded before the publication's moment, delivered after it (a relay catching up).
    await past.send(revocation_of_a_november_completion(1),
                    time=datetime.fromisoformat(body["as_of"]) - timedelta(hours=1))
    again = await client.get(f"/reports/bulletins/{body['report_id']}", params={"format": "markdown"})
    assert again.headers["x-figures-verified"] == "false"
    assert "de un total de [180]" in again.text and "ya no coinciden con las publicadas" in again.text


async def test_publishing_refuses_a_bad_month_a_future_moment_and_other_roles(past):
    client = past.client("comptroller")
    bad = await client.post("/reports/bulletin/2025-13/publish")
    assert bad.status_code == 422 and bad.json()["detail"].startswith("month:")
    future = await client.post("/reports/bulletin/2025-11/publish", params={"as_of": "2999-01-01"})
    assert future.status_code == 422 and future.json()["detail"].startswith("as_of:")
    assert (await past.client("liaison", institution="inst-e01").post("/reports/bulletin/2025-11/publish")).status_code == 403
    none = await client.get("/reports/bulletin", params={"month": "2025-10", "published": "latest"})
    assert none.status_code == 404 and none.json()["detail"].startswith("month:")
    unknown = await client.get("/reports/bulletins/bulletin-nope")
    assert unknown.status_code == 404 and unknown.json()["detail"].startswith("report_id:")
    assert (await client.get("/reports/bulletin", params={"month": "2025-11", "published": "first"})).status_code == 422
    assert await past.published("report.published.v1") == []

"""The bulletin through reporting's HTTP API, on SQLite and PostgreSQL: HTML, Markdown and PDF of the
generated Quintana Roo year, bad input refused naming the parameter."""

from __future__ import annotations

import base64
import re
import zlib

import httpx
import pytest

from probidad.ops.programme import bulletin_plan, generate
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

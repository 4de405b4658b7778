"""The bulletin through reporting's HTTP API, on SQLite and PostgreSQL: HTML, Markdown and PDF of the
generated Quintana Roo year as a press office writes it (Spanish and English, numbers in Mexican style),
every link absolute to reporting's public address and opening for the public without a token — followed
over real HTTP, and the HTML looked at in headless Chromium —, the issuer block in HTML and PDF; bad input
refused naming the parameter; a month still in progress says so and cannot be published; a bulletin
published records ReportPublished and re-renders with the same numbers after a correction, while the live
one changes."""

from __future__ import annotations

import asyncio
import hashlib
import html
import json
import re
import socket
import subprocess
from datetime import datetime, timedelta

import httpx
import pytest
import uvicorn

from contracts.events import CertificateIssued, CertificateRevoked, ReportPublished
from contracts.topics import REPORTING_EVENTS
from probidad.ops.programme import bulletin_plan, generate
from services.reporting.bulletin import figures_digest
from services.reporting.app import create_app
from services.reporting.rebuild import rebuild_store
from services.reporting.settings import ReportingSettings
from tests.integration.test_reporting_service import batches, records
from tests.support.browser import rendered_dom
from tests.support.harness import serving

BULLETIN = generate(bulletin_plan())
PUBLIC = "https://reportes.contraloria.example.gob.mx"
SIGNATORY = {"bulletin_signatory_name": "Mtra. Ana Laura Méndez Ortiz",
             "bulletin_signatory_position": "Titular de la Unidad de Ética, Integridad y Prevención de Conflictos de "
                                            "Interés"}
# November 2026 as known on December 2: every fact of the month recorded (the clock of the run is not read).
NOVEMBER = {"month": "2026-11", "as_of": "2026-12-02"}


def pdf_text(pdf: bytes, tmp_path) -> str:
    """What a reader of the PDF sees, as poppler's pdftotext extracts it (lines as laid out)."""
    (tmp_path / "b.pdf").write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(tmp_path / "b.pdf"), "-"], capture_output=True, text=True,
                          check=True, timeout=60).stdout


def pdf_links(pdf: bytes) -> list[str]:
    """The URI of every link annotation of a reportlab PDF (its objects are not compressed)."""
    return [html.unescape(m.decode("latin-1")) for m in re.findall(rb"/URI \((.*?)\)", pdf)]


def settings_for(database_url: str, tmp_path, public_url: str = PUBLIC) -> ReportingSettings:
    return ReportingSettings(database_url=database_url, state_dir=tmp_path, reporting_public_url=public_url,
                             **SIGNATORY)


@pytest.fixture
async def service(database_url: str, tmp_path):
    async with serving(create_app, settings_for(database_url, tmp_path), dead_letters=False) as harness:
        await rebuild_store(harness.runtime.database, batches(records(BULLETIN.envelopes), 2000))
        yield harness


async def test_the_bulletin_in_html_markdown_and_pdf_says_novembers_figures(service, tmp_path):
    client = service.client("comptroller")
    page = await client.get("/reports/bulletin", params=NOVEMBER)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert 'lang="es"' in page.text
    assert ("La Secretaría de la Contraloría del Estado, a través de la Unidad de Ética, Integridad y Prevención de "
            "Conflictos de Interés, mantiene una campaña permanente de capacitación y en noviembre de 2026 impartió un "
            "total de ") in page.text
    month = (f"{PUBLIC}/dashboard?year=2026&amp;period=month&amp;month=11"
             "&amp;as_of=2026-12-02T23%3A59%3A59.999999-06%3A00")
    ytd = month.replace("period=month", "period=ytd")
    assert f'<a class="n" href="{month}#kpis">11</a>' in page.text
    assert f'<a class="n" href="{ytd}#kpis">2,533</a>' in page.text

    markdown = await client.get("/reports/bulletin", params={**NOVEMBER, "format": "markdown"})
    assert markdown.headers["content-type"].startswith("text/markdown")
    text = markdown.text
    assert (f"En noviembre de 2026 se capacitaron [180]({html.unescape(month)}#kpis) servidores públicos: ") in text
    assert f"; de ellos, [180]({html.unescape(month)}#breakdown-modality) lo hicieron a través de plataformas " \
           "virtuales." in text
    assert ("De enero a noviembre de 2026, la Secretaría capacitó a un total de "
            f"[2,533]({html.unescape(ytd)}#kpis)") in text
    assert "Atentamente  \n**Mtra. Ana Laura Méndez Ortiz**  \nTitular de la Unidad de Ética" in text

    english = await client.get("/reports/bulletin", params={**NOVEMBER, "format": "markdown", "lang": "en"})
    assert ("The State Comptroller's Office (Secretaría de la Contraloría del Estado), through its Unidad de Ética, "
            "Integridad y Prevención de Conflictos de Interés, runs a permanent training campaign and in November 2026 "
            "delivered a total of [11](") in english.text
    assert "From January to November 2026, the Office trained a total of [2,533](" in english.text
    assert "Issued by  \n**Mtra. Ana Laura Méndez Ortiz**" in english.text


async def test_the_pdf_prints_the_figures_the_public_addresses_and_the_issuer_block(service, tmp_path):
    client = service.client("comptroller")
    pdf = await client.get("/reports/bulletin", params={**NOVEMBER, "format": "pdf"})
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    drawn = " ".join(pdf_text(pdf.content, tmp_path).split())
    assert "Boletín de capacitación: noviembre de 2026" in drawn
    assert ("En noviembre de 2026 se capacitaron 180 servidores públicos: 133 de instituciones estatales y 47 de "
            "instituciones municipales") in drawn
    assert ("la Secretaría capacitó a un total de 2,533 servidores públicos, "
            "cada persona contada una vez: 1,802") in drawn
    assert not re.search(r"(?<![\d,.])\d{4,}(?![\d,])", re.sub(r"(19|20)\d\d|T\d\d%3A|[0-9a-f]{16}", " ", drawn)), \
        "every number of four digits or more carries its thousands comma"
    # The issuer block, as on an official document: lead, name, position, the Secretaría.
    assert ("Atentamente Mtra. Ana Laura Méndez Ortiz Titular de la Unidad de Ética, Integridad y Prevención de "
            "Conflictos de Interés Secretaría de la Contraloría del Estado") in drawn
    # Numbers carry no link on paper; the sources print the public addresses in full, and those are the links.
    links = list(dict.fromkeys(pdf_links(pdf.content)))  # an address wrapped over two lines is two annotations
    assert links == [f"{PUBLIC}/dashboard?year=2026&period=month&month=11&as_of=2026-12-02T23%3A59%3A59.999999-06%3A00",
                     f"{PUBLIC}/open-data/figures.csv?year=2026"]
    assert f"{PUBLIC}/open-data/figures.csv?year=2026" in drawn.replace(" ", "")
    stranger = httpx.AsyncClient(transport=httpx.ASGITransport(app=service.app), base_url=PUBLIC)
    for link in links:  # each opens for anyone, no token
        assert (await stranger.get(link)).status_code == 200, link
    await stranger.aclose()


@pytest.fixture
async def public_service(database_url: str, tmp_path):
    """The service on a real socket, its public address that socket's: the bulletin's links lead to it."""
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.bind(("127.0.0.1", 0))
    address = f"http://127.0.0.1:{listening.getsockname()[1]}"
    async with serving(create_app, settings_for(database_url, tmp_path, address), dead_letters=False) as harness:
        await rebuild_store(harness.runtime.database, batches(records(BULLETIN.envelopes), 2000))
        server = uvicorn.Server(uvicorn.Config(harness.app, lifespan="off", log_level="warning", access_log=False))
        serving_task = asyncio.create_task(server.serve(sockets=[listening]))
        while not server.started:
            await asyncio.sleep(0.05)
        try:
            yield harness, address
        finally:
            server.should_exit = True
            await serving_task
            listening.close()


async def test_every_link_of_the_html_bulletin_opens_for_the_public_without_a_token(public_service, tmp_path):
    harness, address = public_service
    async with harness.client("comptroller") as comptroller:
        for lang in ("es", "en"):
            page = await comptroller.get("/reports/bulletin", params={**NOVEMBER, "lang": lang})
            assert page.status_code == 200, page.text
            saved = tmp_path / f"boletin-{lang}.html"
            saved.write_text(page.text, encoding="utf-8")
            # As a reader's browser has it: headless Chromium renders the saved page.
            dom = await asyncio.to_thread(rendered_dom, saved.as_uri(), tmp_path / f"chromium-{lang}")
            links = [html.unescape(h) for h in re.findall(r'<a [^>]*href="([^"]+)"', dom)]
            assert len(links) == page.text.count("<a ") >= 15  # every number's, and the sources'
            assert all(link.startswith(f"{address}/dashboard?") or link.startswith(f"{address}/open-data/")
                       for link in links), [link for link in links if not link.startswith(address)]
            issuer = re.search(r'<footer class="issuer" id="issuer">(.*?)</footer>', dom).group(1)
            lead = "Atentamente" if lang == "es" else "Issued by"
            assert re.findall(r'<p class="(\w+)">([^<]*)</p>', issuer) == [
                ("lead", lead), ("name", "Mtra. Ana Laura Méndez Ortiz"),
                ("position", "Titular de la Unidad de Ética, Integridad y Prevención de Conflictos de Interés"),
                ("authority", "Secretaría de la Contraloría del Estado" if lang == "es" else
                 "State Comptroller's Office (Secretaría de la Contraloría del Estado)")]
            # Every link, followed over HTTP by someone with no token, opens.
            async with httpx.AsyncClient(timeout=60) as reader:
                for link in dict.fromkeys(links):
                    answer = await reader.get(link)
                    assert answer.status_code == 200, (link, answer.status_code, answer.text[:200])
                    assert answer.headers["content-type"].startswith(
                        "text/csv" if "/open-data/" in link else "text/html"), link
    # The month's link, opened in the browser, shows the bulletin's numbers in the panels it points at.
    month = next(link for link in links if link.endswith("#split") and "period=month" in link)
    dashboard = await asyncio.to_thread(rendered_dom, month, tmp_path / "chromium-dashboard")
    levels = {m.group(1): int(m.group(2)) for m in
              re.finditer(r'class="split-row" data-level="(\w+)" data-servants-trained="(\d+)"', dashboard)}
    assert levels == {"state": 133, "municipal": 47}
    assert re.search(r'data-figure="servants_trained"[^>]*data-value="180"', dashboard)


async def test_a_month_in_progress_says_so_and_cannot_be_published(service):
    client = service.client("comptroller")
    early = await client.get("/reports/bulletin", params={"month": "2026-11", "as_of": "2026-11-20",
                                                          "format": "markdown"})
    assert early.text.startswith("# Boletín de capacitación: noviembre de 2026 (mes en curso)")
    assert "*Mes en curso: cifras preliminares, conocidas al 20 de noviembre de 2026, 23:59" in early.text
    assert "y en lo que va de noviembre de 2026 ha impartido un total de" in early.text
    english = await client.get("/reports/bulletin", params={"month": "2026-11", "as_of": "2026-11-20",
                                                            "format": "markdown", "lang": "en"})
    assert english.text.startswith("# Training bulletin: November 2026 (month in progress)")
    refused = await client.post("/reports/bulletin/2026-11/publish", params={"as_of": "2026-11-20"})
    assert refused.status_code == 409 and refused.json()["detail"].startswith("month: 2026-11 is still in progress")
    assert await service.published("report.published.v1") == []
    # From the month's last instant on (as_of its last day), it is over and publishes.
    published = await client.post("/reports/bulletin/2026-11/publish", params={"as_of": "2026-11-30"})
    assert published.status_code == 201, published.text
    again = await client.get(f"/reports/bulletins/{published.json()['report_id']}", params={"format": "markdown"})
    assert "en curso" not in again.text and "en lo que va" not in again.text


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
    async with serving(create_app, settings_for(database_url, tmp_path), dead_letters=False) as harness:
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


async def test_a_published_bulletin_re_renders_with_its_numbers_after_a_correction(past, tmp_path):
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
    assert f"En noviembre de 2025 se capacitaron [179]({PUBLIC}/dashboard?year=2025&period=month&month=11#kpis)" \
        in live.text
    for again in (await client.get("/reports/bulletin", params={"month": "2025-11", "format": "markdown",
                                                                 "published": "latest"}),
                  await client.get(f"/reports/bulletins/{body['report_id']}", params={"format": "markdown"})):
        assert again.status_code == 200, again.text
        assert again.headers["x-figures-verified"] == "true"
        assert again.headers["x-figures-digest"] == body["figures_digest"]
        assert f"En noviembre de 2025 se capacitaron [180]({PUBLIC}/dashboard?year=2025&period=month&month=11&as_of=" \
            in again.text
        assert f"Publicado como {body['report_id']}" in again.text
    pdf = await client.get(f"/reports/bulletins/{body['report_id']}", params={"format": "pdf"})
    assert pdf.content.startswith(b"%PDF") and "2,533" in pdf_text(pdf.content, tmp_path)
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
    assert "se capacitaron [180](" in again.text and "ya no coinciden con las publicadas" in again.text


async def test_publishing_refuses_a_bad_month_a_future_moment_and_other_roles(past):
    client = past.client("comptroller")
    bad = await client.post("/reports/bulletin/2025-13/publish")
    assert bad.status_code == 422 and bad.json()["detail"].startswith("month:")
    future = await client.post("/reports/bulletin/2025-11/publish", params={"as_of": "2999-01-01"})
    assert future.status_code == 422 and future.json()["detail"].startswith("as_of:")
    liaison = past.client("liaison", institution="inst-e01")
    assert (await liaison.post("/reports/bulletin/2025-11/publish")).status_code == 403
    none = await client.get("/reports/bulletin", params={"month": "2025-10", "published": "latest"})
    assert none.status_code == 404 and none.json()["detail"].startswith("month:")
    unknown = await client.get("/reports/bulletins/bulletin-nope")
    assert unknown.status_code == 404 and unknown.json()["detail"].startswith("report_id:")
    assert (await client.get("/reports/bulletin", params={"month": "2025-11", "published": "first"})).status_code == 422
    assert await past.published("report.published.v1") == []


async def test_a_small_exempt_count_is_published_exactly_and_printed_as_the_public_dashboard_shows_it(past):
    """Three servants exempt from a requirement: the published figures keep the 3 (the comptroller's record,
    digested); the bulletin the press reads prints every count of people as the public dashboard it links
    to shows it, the blanked exempt count in words."""
    from contracts.events import DueRule, ExemptionGranted, RequirementScope, TrainingRequirementDeclared

    course = next(e.event.course_id for e in PAST.envelopes if e.event.type.endswith("course.published.v1"))
    servants = sorted({e.event.servant_id for e in PAST.envelopes if e.event.type.endswith("servant.registered.v1")})
    declared = datetime.fromisoformat("2025-01-10T12:00:00+00:00")
    await past.send(TrainingRequirementDeclared(
        requirement_id="req-etica", version=1, effective_from="2025-01-01", title="Código de Ética", course_id=course,
        scope=RequirementScope(), due=DueRule(kind="yearly_by", month=6, day=30), declared_at=declared,
        declared_by="comptroller:ana"), time=declared)
    await past.send(*(ExemptionGranted(exemption_id=f"ex-{n}", requirement_id="req-etica", servant_id=servant,
                                       reason="licencia médica", effective_from="2025-02-01",
                                       granted_by="comptroller:ana", granted_at=declared)
                      for n, servant in enumerate(servants[:3])), time=declared)
    client = past.client("comptroller")
    published = await client.post("/reports/bulletin/2025-11/publish")
    assert published.status_code == 201, published.text
    body = published.json()
    [row] = body["figures"]["compliance"]["requirements"]
    assert row["exempt"] == 3 and body["figures_digest"] == figures_digest(body["figures"])

    public = httpx.AsyncClient(transport=httpx.ASGITransport(app=past.app), base_url="http://reporting")
    page = await public.get("/dashboard", params={"year": 2025, "period": "month", "month": 11, "as_of": body["as_of"]})
    await public.aclose()
    assert page.status_code == 200
    shown = json.loads(re.search(r'<script id="dashboard-data" type="application/json">(.*?)</script>', page.text,
                                 re.S).group(1).replace("<\\/", "</"))
    [panel] = shown["compliance"]["requirements"]
    assert panel["exempt"] is None  # the public dashboard blanks the small count

    for again in (await client.get(f"/reports/bulletins/{body['report_id']}", params={"format": "markdown"}),
                  await client.get("/reports/bulletin", params={"month": "2025-11", "format": "markdown",
                                                                 "as_of": body["as_of"]})):
        assert again.status_code == 200, again.text
        sentence = next(line for line in again.text.splitlines()
                        if "requisito de capacitación “Código de Ética”" in line)
        assert "; exentos: [cifra reservada](" in sentence, sentence
        printed = dict(re.findall(r"(obligados a cumplir con[^(]*|cumplían|habían rebasado su plazo sin cumplirlo|"
                                  r"aún en plazo)\W*\[([^\]]+)\]", sentence))
        for name, label in (("required", "obligados a cumplir con el requisito de capacitación “Código de Ética” "),
                            ("compliant", "cumplían"), ("overdue", "habían rebasado su plazo sin cumplirlo"),
                            ("due", "aún en plazo")):
            expected = "cifra reservada" if panel[name] is None else f"{panel[name]:,}"
            assert printed[label] == expected, (name, printed)

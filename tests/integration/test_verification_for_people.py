"""Verification for people, not only for programs: a folio that verifies nothing answers a page in
Spanish to a browser (404 unknown, 422 not a folio) and JSON to a program; the address printed on a
named constancia is its QR code's, and typed into a browser it verifies the certificate and checks the
printed CURP.

Certification and enrollment on the in-memory broker, served over real HTTP to headless Chromium;
certification on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import uvicorn
import zxingcpp
from fastapi import FastAPI
from PIL import Image

from contracts.events import AssessmentGraded, AttendanceRecorded, CertificateIssued
from services.certification.app import create_app as certification_app
from services.certification.settings import CertificationSettings
from services.enrollment.app import create_app as enrollment_app
from services.enrollment.settings import EnrollmentSettings
from tests.integration.test_enrollment_api import Platform, curp, register, set_up_programme
from tests.support.browser import rendered_dom
from tests.support.harness import serving

# What Chromium sends when it opens a page: the status a person's browser gets is read with it.
BROWSER_ACCEPT = ("text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,"
                  "application/signed-exchange;v=b3;q=0.7")


@asynccontextmanager
async def over_http(app: FastAPI) -> AsyncIterator[str]:
    """``app`` answering on a loopback port (its lifespan is the harness's), for a real browser."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning",
                                           access_log=False))
    serving_task = asyncio.create_task(server.serve())
    while not server.started:
        if serving_task.done():
            serving_task.result()  # it failed to start: raise why
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving_task


async def browse(url: str, profile: Path) -> str:
    """The page Chromium shows for ``url`` (run beside the event loop, which keeps serving it)."""
    return await asyncio.to_thread(rendered_dom, url, profile)


@asynccontextmanager
async def certification_served(database_url: str, state: Path):
    state.mkdir(parents=True, exist_ok=True)
    settings = CertificationSettings(database_url=database_url, state_dir=state)
    async with serving(certification_app, settings, dead_letters=False) as harness:
        async with over_http(harness.app) as url:
            yield harness, url


async def test_a_browser_given_an_unknown_or_malformed_folio_gets_a_page_in_spanish_a_program_gets_json(
        database_url, tmp_path):
    async with certification_served(database_url, tmp_path / "certification") as (_harness, base):
        unknown, malformed = f"{base}/verify/PRB-0000-0000-0000", f"{base}/verify/folio-123"

        page = await browse(unknown, tmp_path / "chromium")
        assert '<html lang="es">' in page and "Folio no encontrado" in page
        assert "No hay ninguna constancia con el folio PRB-0000-0000-0000" in page
        assert "no certificate" not in page and '"detail"' not in page  # no English, no JSON
        page = await browse(malformed, tmp_path / "chromium")
        assert "Folio no válido" in page and "«folio-123» no es un folio de constancia" in page
        assert "PRB-XXXX-XXXX-XXXX" in page

        async with httpx.AsyncClient(timeout=30) as http:
            # The statuses a browser gets with those pages.
            for url, status, title in ((unknown, 404, "Folio no encontrado"), (malformed, 422, "Folio no válido")):
                answer = await http.get(url, headers={"Accept": BROWSER_ACCEPT})
                assert answer.status_code == status and answer.headers["content-type"].startswith("text/html")
                assert title in answer.text and "accept" in answer.headers["vary"].lower()

            # A program gets JSON: asking for it, asking for nothing in particular, or preferring it to HTML.
            for accept in ("application/json", None, "*/*", "application/json, text/html;q=0.5"):
                gone = await get(http, unknown, accept)
                assert gone.status_code == 404 and gone.headers["content-type"] == "application/json", accept
                assert gone.json()["detail"].startswith("code: no certificate has the verification code")
                refused = await get(http, malformed, accept)
                assert refused.status_code == 422 and refused.headers["content-type"] == "application/json", accept
                assert refused.json()["detail"].startswith("code: 'folio-123' is not a verification code")

            # What a person types is shown back escaped, never run.
            hostile = await http.get(f"{base}/verify/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E",
                                     headers={"Accept": BROWSER_ACCEPT})
            assert hostile.status_code == 422 and "<img" not in hostile.text
            assert "&lt;img src=x onerror=alert(1)&gt;" in hostile.text


async def get(http: httpx.AsyncClient, url: str, accept: str | None) -> httpx.Response:
    """GET ``url`` with that Accept header, or with none at all."""
    request = http.build_request("GET", url)
    if accept is None:
        del request.headers["Accept"]
    else:
        request.headers["Accept"] = accept
    return await http.send(request)


def pdf_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True,
                          timeout=60).stdout


def printed_address(pdf: Path) -> str:
    """The address the constancia prints for a person to type, read from the PDF's text."""
    (address,) = re.findall(r"https?://\S+", pdf_text(pdf))
    return address


def qr_code(pdf: Path) -> str:
    subprocess.run(["pdftoppm", "-png", "-r", "100", "-singlefile", str(pdf), str(pdf.with_suffix(""))],
                   check=True, timeout=60)
    (code,) = [c.text for c in zxingcpp.read_barcodes(Image.open(pdf.with_suffix(".png")))
               if c.format == zxingcpp.BarcodeFormat.QRCode]
    return code


async def test_the_address_printed_on_the_constancia_is_its_qr_codes_and_typed_in_a_browser_checks_the_curp(
        database_url, tmp_path):
    async with certification_served(database_url, tmp_path / "certification") as (certification, base):
        settings = EnrollmentSettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'enrollment.db'}",
                                      state_dir=tmp_path, programme_timezone="America/Cancun",
                                      certification_public_url=base, constancia_signatory_name="Mtra. Ana López Ruiz",
                                      constancia_signatory_position="Titular de la Unidad de Ética")
        async with serving(enrollment_app, settings) as harness:
            enrollment = Platform(harness)
            await set_up_programme(enrollment)
            ana = await register(enrollment, 1)
            async with enrollment.client() as c:
                seated = await c.post("/enrolments", json={"session_id": "se-1", "servant_id": ana})
                assert seated.status_code == 201, seated.text

            # Certification hears what enrollment published (the servant's holder digest included) and
            # what attendance would: present for the whole session, evaluation passed.
            await certification.deliver(*[e for e in await enrollment.events()])
            await certification.send(
                AttendanceRecorded(session_id="se-1", servant_id=ana, minutes_present=120, session_minutes=120,
                                   share=1.0, status="present", source_of_record="zoom"),
                AssessmentGraded(session_id="se-1", servant_id=ana, score=90))
            (issued,) = [e for e in await certification.published() if isinstance(e.event, CertificateIssued)]
            assert issued.event.holder_digest is not None
            await harness.deliver(issued)  # enrollment keeps the certificate for the named constancia
            async with enrollment.client("liaison-a") as c:
                pdf = await c.get(f"/servants/{ana}/constancias/{issued.event.verification_code}.pdf")
            assert pdf.status_code == 200, pdf.text
            (tmp_path / "constancia.pdf").write_bytes(pdf.content)

        # Signed as enrollment's settings say.
        assert "Mtra. Ana López Ruiz\nTitular de la Unidad de Ética" in pdf_text(tmp_path / "constancia.pdf")
        address = printed_address(tmp_path / "constancia.pdf")
        assert address == qr_code(tmp_path / "constancia.pdf")
        assert address.startswith(f"{base}/verify/{issued.event.verification_code}?titular=")

        # Typed into a browser, the address verifies the certificate and asks for the printed CURP ...
        page = await browse(address, tmp_path / "chromium")
        assert 'data-status="valid"' in page and "Constancia VÁLIDA" in page
        assert 'name="curp"' in page and "escriba la CURP impresa en ella" in page
        # ... and the form's answer (its GET adds the CURP to the address) says the CURP is the holder's.
        (salt,) = parse_qs(urlsplit(address).query)["titular"]
        assert f'name="titular" value="{salt}"' in page
        answered = await browse(f"{address}&curp={curp(1).lower()}", tmp_path / "chromium")
        assert 'data-holder="match"' in answered and "La CURP corresponde al titular de esta constancia" in answered
        assert curp(1) not in answered.upper()
        someone_else = await browse(f"{address}&curp={curp(2)}", tmp_path / "chromium")
        assert 'data-holder="mismatch"' in someone_else

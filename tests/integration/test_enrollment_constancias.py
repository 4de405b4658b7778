"""Named constancias come from enrollment, the home of names: one PDF per certificate certification
issued, all of an institution's in one ZIP for its liaison, none once the servant's data was erased.

On SQLite and PostgreSQL, through the HTTP API and the event stream (in-memory broker).
"""

from __future__ import annotations

import io
import subprocess
import zipfile
from datetime import date, timedelta

import zxingcpp
from PIL import Image

from contracts.events import CertificateIssued, CertificateRevoked
from contracts.holder import holder_matches
from tests.integration.test_enrollment_api import curp, platform, register, set_up_programme  # noqa: F401 (fixture)

ISSUED = date.today() - timedelta(days=10)


def certificate(n: int, servant_id: str, code: str) -> CertificateIssued:
    return CertificateIssued(certificate_id=f"ce-{n}", verification_code=code, servant_id=servant_id,
                             course_id="co-etica", session_id="se-1", hours=4, issued_on=ISSUED,
                             issuing_authority="Secretaría de la Contraloría")


def pdf_text(pdf: bytes, tmp_path) -> str:
    (tmp_path / "c.pdf").write_bytes(pdf)
    return subprocess.run(["pdftotext", str(tmp_path / "c.pdf"), "-"], capture_output=True, text=True, check=True,
                          timeout=60).stdout


def qr_codes(pdf: bytes, tmp_path) -> list[str]:
    (tmp_path / "q.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "100", "-singlefile", str(tmp_path / "q.pdf"), str(tmp_path / "q")],
                   check=True, timeout=60)
    return [c.text for c in zxingcpp.read_barcodes(Image.open(tmp_path / "q.png"))
            if c.format == zxingcpp.BarcodeFormat.QRCode]


async def test_a_liaison_prints_the_constancia_with_the_holders_name_and_curp_and_a_qr_code_to_verify_it(
        platform, tmp_path):
    await set_up_programme(platform)
    ana = await register(platform, 1)
    await platform.harness.send(certificate(1, ana, "PRB-AAAA-1111"))
    await platform.harness.drain()
    async with platform.client("liaison-a") as c:
        listed = (await c.get(f"/servants/{ana}/constancias")).json()
        pdf = await c.get(listed[0]["pdf"])
    assert [(x["verification_code"], x["course_title"], x["revoked"]) for x in listed] == [
        ("PRB-AAAA-1111", "Código de Ética", False)]
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = pdf_text(pdf.content, tmp_path)
    for expected in ("Persona 1", f"CURP: {curp(1)}", "Código de Ética", "4 horas", "PRB-AAAA-1111"):
        assert expected in text, expected
    (url,) = qr_codes(pdf.content, tmp_path)
    base, salt = url.split("?titular=")
    assert base == "http://127.0.0.1:8003/verify/PRB-AAAA-1111"
    (registered,) = await platform.events("servant.registered.v1")
    assert holder_matches(salt, curp(1), registered.event.holder_digest), "the QR's salt binds the printed CURP"
    async with platform.client("liaison-b") as c:  # another institution's servant is unknown
        assert (await c.get(listed[0]["pdf"])).status_code == 404


async def test_an_institutions_constancias_come_in_one_zip_without_revoked_ones_nor_other_institutions(platform):
    await set_up_programme(platform)
    one, two = await register(platform, 1), await register(platform, 2)
    elsewhere = await register(platform, 3, institution="in-b")
    await platform.harness.send(certificate(1, one, "PRB-AAAA-0001"), certificate(2, two, "PRB-AAAA-0002"),
                                certificate(3, two, "PRB-AAAA-0003"), certificate(4, elsewhere, "PRB-AAAA-0004"))
    await platform.harness.send(CertificateRevoked(certificate_id="ce-3", verification_code="PRB-AAAA-0003",
                                                   servant_id=two, course_id="co-etica", session_id="se-1",
                                                   reason="corrección de asistencia"))
    await platform.harness.drain()
    async with platform.client("liaison-a") as c:
        answer = await c.get("/institutions/in-a/constancias.zip")
        revoked = await c.get(f"/servants/{two}/constancias/PRB-AAAA-0003.pdf")
        foreign = await c.get("/institutions/in-b/constancias.zip")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/zip"
    names = sorted(zipfile.ZipFile(io.BytesIO(answer.content)).namelist())
    assert names == [f"{curp(1)}/constancia-PRB-AAAA-0001.pdf", f"{curp(2)}/constancia-PRB-AAAA-0002.pdf"]
    assert revoked.status_code == 409 and "revoked" in revoked.text
    assert foreign.status_code == 404


async def test_after_arco_erasure_no_constancia_bearing_the_name_can_be_printed_again(platform):
    await set_up_programme(platform)
    ana = await register(platform, 1)
    await platform.harness.send(certificate(1, ana, "PRB-AAAA-2222"))
    await platform.harness.drain()
    async with platform.client("comptroller") as c:
        assert (await c.get(f"/servants/{ana}/constancias/PRB-AAAA-2222.pdf")).status_code == 200
        erased = await c.delete(f"/servants/{ana}/personal-data")
        assert erased.status_code in (200, 204), erased.text
        again = await c.get(f"/servants/{ana}/constancias/PRB-AAAA-2222.pdf")
        archive = await c.get("/institutions/in-a/constancias.zip")
    assert again.status_code == 410 and "erased" in again.text
    assert zipfile.ZipFile(io.BytesIO(archive.content)).namelist() == []

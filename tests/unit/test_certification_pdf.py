"""The printed certificate's QR code opens the verification page for its code; its signature block names
the signing authority."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import replace
from datetime import date

import pytest
import zxingcpp
from PIL import Image

from probidad.shared.printing import SigningAuthority
from services.certification.documents import PrintedCertificate, render_pdf
from services.certification.settings import CertificationSettings

# In CI (PROBIDAD_REQUIRE_REAL=1) a missing poppler-utils must fail these tests, not skip them.
REQUIRE_REAL = os.environ.get("PROBIDAD_REQUIRE_REAL") == "1"
NO_POPPLER = shutil.which("pdftoppm") is None and not REQUIRE_REAL

pytestmark = pytest.mark.skipif(NO_POPPLER, reason="pdftoppm (poppler-utils) not installed")


def printed(url: str) -> PrintedCertificate:
    return PrintedCertificate(
        verification_code="PRB-7K3M-Q9XD-2F4H", course_title="Prevención de Actos de Corrupción",
        course_topic="Prevención de Actos de Corrupción", hours=4, issued_on=date(2026, 11, 5),
        issuing_authority="Secretaría de la Contraloría del Estado", score=91.5, verification_url=url,
    )


def test_the_qr_code_on_the_rendered_pdf_decodes_to_the_verification_url(tmp_path):
    url = "https://certificados.example.gob.mx/verify/PRB-7K3M-Q9XD-2F4H"
    pdf = render_pdf(printed(url))
    assert pdf.startswith(b"%PDF-")
    (tmp_path / "certificate.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "100", "-singlefile", str(tmp_path / "certificate.pdf"),
                    str(tmp_path / "page")], check=True, timeout=60)
    codes = zxingcpp.read_barcodes(Image.open(tmp_path / "page.png"))
    assert [c.text for c in codes if c.format == zxingcpp.BarcodeFormat.QRCode] == [url]


def pdf_text(tmp_path, certificate: PrintedCertificate) -> str:
    if shutil.which("pdftotext") is None and not REQUIRE_REAL:
        pytest.skip("pdftotext (poppler-utils) not installed")
    (tmp_path / "c.pdf").write_bytes(render_pdf(certificate))
    return subprocess.run(["pdftotext", str(tmp_path / "c.pdf"), "-"], capture_output=True, text=True,
                          check=True, timeout=60).stdout


def test_the_pdf_states_course_hours_date_and_code_in_its_text(tmp_path):
    text = pdf_text(tmp_path, printed("http://127.0.0.1:8003/verify/PRB-7K3M-Q9XD-2F4H"))
    for expected in ("Prevención de Actos de Corrupción", "4 horas", "5 de noviembre de 2026", "PRB-7K3M-Q9XD-2F4H",
                     "Secretaría de la Contraloría del Estado", "91.5"):
        assert expected in text


def test_the_pdf_prints_its_vigencia_only_when_it_has_one(tmp_path):
    url = "http://127.0.0.1:8003/verify/PRB-7K3M-Q9XD-2F4H"
    assert "Vigente hasta" not in pdf_text(tmp_path, printed(url))
    bounded = replace(printed(url), valid_until=date(2028, 11, 5))
    assert "Vigente hasta 5 de noviembre de 2028" in pdf_text(tmp_path, bounded)


def test_the_pdf_carries_the_signature_block_of_the_configured_authority(tmp_path):
    settings = CertificationSettings(constancia_signatory_name="Mtra. Ana López Ruiz",
                                     constancia_signatory_position="Titular de la Unidad de Ética")
    url = "http://127.0.0.1:8003/verify/PRB-7K3M-Q9XD-2F4H"
    signed = replace(printed(url), signed_by=SigningAuthority.of(settings))
    assert "Mtra. Ana López Ruiz\nTitular de la Unidad de Ética" in pdf_text(tmp_path, signed)
    assert "Mtra. Ana López Ruiz" not in pdf_text(tmp_path, printed(url))

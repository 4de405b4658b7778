"""The named constancia states its holder's name and CURP, and its QR code opens the verification
page with the salt that lets the page check the printed CURP."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import date

import pytest
import zxingcpp
from PIL import Image

from contracts.holder import holder_digest, holder_matches, new_salt
from services.enrollment.constancias import NamedConstancia, constancia_url, render_constancia

# In CI (PROBIDAD_REQUIRE_REAL=1) a missing poppler-utils must fail these tests, not skip them.
REQUIRE_REAL = os.environ.get("PROBIDAD_REQUIRE_REAL") == "1"
NO_POPPLER = (shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None) and not REQUIRE_REAL

CODE = "PRB-7K3M-Q9XD-2F4H"
CURP = "GOMA850101MDFRRN09"
VERIFY = "https://certificados.example.gob.mx/verify"


def constancia(url: str) -> NamedConstancia:
    return NamedConstancia(
        holder_name="Ana Gómez Martínez", curp=CURP, verification_code=CODE,
        course_title="Prevención de Actos de Corrupción", hours=4, issued_on=date(2026, 11, 5),
        issuing_authority="Secretaría de la Contraloría del Estado", verification_url=url,
        institution_name="Secretaría de Finanzas",
    )


@pytest.mark.skipif(NO_POPPLER, reason="poppler-utils not installed")
def test_the_rendered_constancia_names_its_holder_and_their_curp_course_hours_date_and_folio(tmp_path):
    url = constancia_url(VERIFY, CODE, new_salt())
    (tmp_path / "c.pdf").write_bytes(render_constancia(constancia(url)))
    text = subprocess.run(["pdftotext", str(tmp_path / "c.pdf"), "-"], capture_output=True, text=True,
                          check=True, timeout=60).stdout
    for expected in ("Ana Gómez Martínez", f"CURP: {CURP}", "Prevención de Actos de Corrupción", "4 horas",
                     "5 de noviembre de 2026", f"Folio de verificación: {CODE}"):
        assert expected in text, expected


@pytest.mark.skipif(NO_POPPLER, reason="poppler-utils not installed")
def test_the_constancias_qr_code_decodes_to_the_verification_url_with_the_holder_salt(tmp_path):
    salt = new_salt()
    url = constancia_url(VERIFY, CODE, salt)
    assert url == f"{VERIFY}/{CODE}?titular={salt}"
    (tmp_path / "c.pdf").write_bytes(render_constancia(constancia(url)))
    subprocess.run(["pdftoppm", "-png", "-r", "100", "-singlefile", str(tmp_path / "c.pdf"), str(tmp_path / "page")],
                   check=True, timeout=60)
    codes = zxingcpp.read_barcodes(Image.open(tmp_path / "page.png"))
    assert [c.text for c in codes if c.format == zxingcpp.BarcodeFormat.QRCode] == [url]


def test_the_printed_curp_matches_the_holder_digest_only_under_the_servants_salt():
    salt = new_salt()
    digest = holder_digest(salt, CURP)
    assert holder_matches(salt, CURP, digest)
    assert holder_matches(salt, " goma850101mdfrrn09 ", digest)  # as typed from the paper
    assert not holder_matches(salt, "GOMA850101MDFRRN08", digest)
    assert not holder_matches(new_salt(), CURP, digest)
    assert not holder_matches(salt, CURP, None)  # a certificate issued before holders were bound


def test_the_same_curp_under_two_salts_gives_unrelated_digests():
    assert holder_digest(new_salt(), CURP) != holder_digest(new_salt(), CURP)
    assert len(holder_digest(new_salt(), CURP)) == 64

"""The named constancia states its holder's name and CURP, and its QR code opens the verification
page with the salt that lets the page check the printed CURP; the address printed under it is the
same, for a person to type; its signature block names the signing authority and position."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import date

import pytest
import zxingcpp
from PIL import Image

from contracts.holder import holder_digest, holder_matches, new_salt
from probidad.shared.printing import SigningAuthority
from services.enrollment.constancias.pdf import NamedConstancia, constancia_url, render_constancia
from services.enrollment.settings import EnrollmentSettings

# In CI (PROBIDAD_REQUIRE_REAL=1) a missing poppler-utils must fail these tests, not skip them.
REQUIRE_REAL = os.environ.get("PROBIDAD_REQUIRE_REAL") == "1"
NO_POPPLER = (shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None) and not REQUIRE_REAL

CODE = "PRB-7K3M-Q9XD-2F4H"
CURP = "GOMA850101MDFRRN09"
VERIFY = "https://certificados.example.gob.mx/verify"


SIGNER = SigningAuthority("Mtra. Laura Beatriz Chan Poot",
                          "Titular de la Unidad de Ética y Prevención de Conflictos de Interés")


def constancia(url: str, signed_by: SigningAuthority = SIGNER) -> NamedConstancia:
    return NamedConstancia(
        holder_name="Ana Gómez Martínez", curp=CURP, verification_code=CODE,
        course_title="Prevención de Actos de Corrupción", hours=4, issued_on=date(2026, 11, 5),
        issuing_authority="Secretaría de la Contraloría del Estado", verification_url=url,
        institution_name="Secretaría de Finanzas", signed_by=signed_by,
    )


def pdf_text(tmp_path, document: NamedConstancia) -> str:
    (tmp_path / "c.pdf").write_bytes(render_constancia(document))
    return subprocess.run(["pdftotext", str(tmp_path / "c.pdf"), "-"], capture_output=True, text=True,
                          check=True, timeout=60).stdout


def qr_codes(tmp_path, document: NamedConstancia) -> list[str]:
    (tmp_path / "q.pdf").write_bytes(render_constancia(document))
    subprocess.run(["pdftoppm", "-png", "-r", "100", "-singlefile", str(tmp_path / "q.pdf"), str(tmp_path / "q")],
                   check=True, timeout=60)
    return [c.text for c in zxingcpp.read_barcodes(Image.open(tmp_path / "q.png"))
            if c.format == zxingcpp.BarcodeFormat.QRCode]


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


@pytest.mark.skipif(NO_POPPLER, reason="poppler-utils not installed")
def test_the_address_printed_for_a_person_to_type_is_the_qr_codes_with_the_holder_salt(tmp_path):
    salt = new_salt()
    document = constancia(constancia_url(VERIFY, CODE, salt))
    (printed,) = re.findall(r"https?://\S+", pdf_text(tmp_path, document))
    assert printed == f"{VERIFY}/{CODE}?titular={salt}"
    assert qr_codes(tmp_path, document) == [printed]


@pytest.mark.skipif(NO_POPPLER, reason="poppler-utils not installed")
def test_a_public_address_too_long_for_one_line_is_printed_whole_on_two_broken_before_the_salt(tmp_path):
    long_base = "https://verificacion-de-constancias.secretaria-de-la-contraloria.gobierno-del-estado.gob.mx/verify"
    url = constancia_url(long_base, CODE, new_salt())
    lines = pdf_text(tmp_path, constancia(url)).splitlines()
    path = next(n for n, line in enumerate(lines) if line.startswith("https://"))
    assert lines[path] == url.split("?")[0] and lines[path + 1] == "?" + url.split("?")[1]
    assert qr_codes(tmp_path, constancia(url)) == [url]


@pytest.mark.skipif(NO_POPPLER, reason="poppler-utils not installed")
def test_the_constancia_is_signed_by_the_authority_and_position_the_settings_name(tmp_path):
    settings = EnrollmentSettings(constancia_signatory_name=" Mtro. Jorge Pech Canul ",
                                  constancia_signatory_position="Director de Capacitación")
    text = pdf_text(tmp_path, constancia(constancia_url(VERIFY, CODE, new_salt()), SigningAuthority.of(settings)))
    assert "Mtro. Jorge Pech Canul\nDirector de Capacitación" in text
    # A long position wraps under the name, in order.
    text = pdf_text(tmp_path, constancia(constancia_url(VERIFY, CODE, new_salt())))
    lines = [line for line in text.splitlines() if line]
    name = lines.index("Mtra. Laura Beatriz Chan Poot")
    assert " ".join(lines[name + 1:name + 3]) == SIGNER.position


@pytest.mark.skipif(NO_POPPLER, reason="poppler-utils not installed")
def test_without_a_configured_name_the_line_is_left_to_sign_by_hand_above_the_position(tmp_path):
    text = pdf_text(tmp_path, constancia(constancia_url(VERIFY, CODE, new_salt()),
                                         SigningAuthority(position="Titular de la Secretaría")))
    lines = [line for line in text.splitlines() if line]
    assert "Titular de la Secretaría" in lines and SIGNER.name not in text


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

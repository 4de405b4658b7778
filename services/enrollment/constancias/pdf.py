"""The named constancia: the printable certificate with its holder's full name and CURP.

Certification signs certificates and holds no personal data, so it prints them without a name;
enrollment, the only home of names and CURPs, prints the constancia that goes into a personnel file.
Its QR code opens the public verification page with the servant's holder salt
(``/verify/{code}?titular=<salt>``): the page can then confirm that the CURP printed on the paper is
the one the signed certificate's ``holder_digest`` binds (contracts.holder), without showing it. The
same address is printed in full under the QR code, so a person without a QR reader who types it gets
the same check; the signature block names who signs for the issuing authority.
After an ARCO erasure the servant has no name, CURP or salt any more: nothing can be printed.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from urllib.parse import quote

from contracts.holder import SALT_PARAMETER
from probidad.shared.printing import SigningAuthority, draw_signature_block, qr_image, spanish_date
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import cm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas


def constancia_url(verify_base_url: str, verification_code: str, salt: str) -> str:
    """The verification URL the constancia's QR code carries: the certificate's page, with the salt
    that lets it check the printed CURP."""
    return f"{verify_base_url.rstrip('/')}/{quote(verification_code)}?{SALT_PARAMETER}={quote(salt)}"


@dataclass(frozen=True)
class NamedConstancia:
    holder_name: str
    curp: str
    verification_code: str
    course_title: str
    hours: float
    issued_on: date
    issuing_authority: str
    verification_url: str
    institution_name: str | None = None
    signed_by: SigningAuthority = SigningAuthority()


def file_name(constancia: NamedConstancia) -> str:
    return f"constancia-{constancia.verification_code}.pdf"


def render_constancia(constancia: NamedConstancia) -> bytes:
    buffer = io.BytesIO()
    width, height = landscape(A4)
    page = canvas.Canvas(buffer, pagesize=(width, height), invariant=1)
    page.setTitle(f"Constancia {constancia.verification_code}")
    page.setAuthor(constancia.issuing_authority)

    page.setStrokeColor(colors.HexColor("#7a1c2e"))
    page.setLineWidth(3)
    page.rect(1.2 * cm, 1.2 * cm, width - 2.4 * cm, height - 2.4 * cm)

    page.setFillColor(colors.HexColor("#7a1c2e"))
    page.setFont("Helvetica-Bold", 16)
    page.drawCentredString(width / 2, height - 3 * cm, constancia.issuing_authority[:90])
    page.setFillColor(colors.black)
    page.setFont("Helvetica", 12)
    page.drawCentredString(width / 2, height - 3.8 * cm, "Programa de Capacitación en Integridad")

    page.setFont("Helvetica-Bold", 28)
    page.drawCentredString(width / 2, height - 5.6 * cm, "CONSTANCIA DE ACREDITACIÓN")
    page.setFont("Helvetica", 13)
    page.drawCentredString(width / 2, height - 6.8 * cm, "que se otorga a")
    page.setFont("Helvetica-Bold", 22)
    page.drawCentredString(width / 2, height - 8.0 * cm, constancia.holder_name[:70])
    page.setFont("Helvetica", 13)
    holder_line = f"CURP: {constancia.curp}"
    if constancia.institution_name:
        holder_line += f" · {constancia.institution_name}"
    page.drawCentredString(width / 2, height - 8.9 * cm, holder_line[:120])
    page.drawCentredString(width / 2, height - 10.0 * cm, "por haber acreditado el curso")
    page.setFont("Helvetica-Bold", 18)
    page.drawCentredString(width / 2, height - 11.0 * cm, constancia.course_title[:80])
    page.setFont("Helvetica", 13)
    page.drawCentredString(width / 2, height - 11.9 * cm,
                           f"Duración: {constancia.hours:g} horas · Sesión del {spanish_date(constancia.issued_on)}")

    draw_signature_block(page, constancia.signed_by, centre_x=width - 6.6 * cm, line_y=7.4 * cm, width=8 * cm)

    qr_size = 4.6 * cm
    page.drawImage(ImageReader(qr_image(constancia.verification_url)), 2.2 * cm, 2.0 * cm, qr_size, qr_size)
    page.setFont("Helvetica-Bold", 14)
    page.drawString(7.4 * cm, 5.2 * cm, f"Folio de verificación: {constancia.verification_code}")
    page.setFont("Helvetica", 10)
    page.drawString(7.4 * cm, 4.5 * cm, "Verifique esta constancia, y que la CURP impresa es la de su titular, en:")
    # The QR code's address in full (the salt included): typed by hand it checks the CURP just as well.
    # A typewriter face tells l from 1 and O from 0; a long address shrinks to fit, or breaks before its "?".
    _draw_address(page, constancia.verification_url, x=7.4 * cm, y=3.85 * cm, width=width - 9.2 * cm)
    page.setFont("Helvetica", 9)
    page.drawString(7.4 * cm, 2.75 * cm, "Escriba la dirección completa, con sus mayúsculas y minúsculas, o lea el "
                    "código QR. La página no muestra datos personales.")
    page.showPage()
    page.save()
    return buffer.getvalue()


_ADDRESS_FONT, _ADDRESS_SIZES = "Courier-Bold", (10.0, 9.5, 9.0, 8.5, 8.0)


def _draw_address(page: canvas.Canvas, url: str, *, x: float, y: float, width: float) -> None:
    for size in _ADDRESS_SIZES:
        if stringWidth(url, _ADDRESS_FONT, size) <= width:
            page.setFont(_ADDRESS_FONT, size)
            page.drawString(x, y, url)
            return
    page.setFont(_ADDRESS_FONT, _ADDRESS_SIZES[-1])
    path, _, query = url.partition("?")
    page.drawString(x, y + 0.2 * cm, path)
    page.drawString(x, y - 0.25 * cm, f"?{query}" if query else "")

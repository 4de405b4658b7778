"""What the printed documents share: a QR code image, dates in Spanish and the signature block."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import qrcode
from reportlab.lib import colors
from reportlab.lib.units import cm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

_MONTHS = ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
           "noviembre", "diciembre")


def spanish_date(day: date) -> str:
    return f"{day.day} de {_MONTHS[day.month - 1]} de {day.year}"


def qr_image(url: str) -> Any:  # a PIL image
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=10, border=4)
    code.add_data(url)
    code.make(fit=True)
    return code.make_image(fill_color="black", back_color="white").get_image()


@dataclass(frozen=True)
class SigningAuthority:
    """Who signs a printed document for the issuing authority (settings ``constancia_signatory_name`` and
    ``constancia_signatory_position``); an empty name leaves the line to be signed by hand."""

    name: str = ""
    position: str = ""

    @classmethod
    def of(cls, settings: Any) -> SigningAuthority:  # any service's settings
        return cls(settings.constancia_signatory_name.strip(), settings.constancia_signatory_position.strip())


def draw_signature_block(page: Canvas, authority: SigningAuthority, *, centre_x: float, line_y: float,
                         width: float) -> None:
    """A signature line with the signer's name and position centred under it, as on an official document;
    a long position wraps onto a second line."""
    page.setStrokeColor(colors.black)
    page.setLineWidth(0.8)
    page.line(centre_x - width / 2, line_y, centre_x + width / 2, line_y)
    page.setFillColor(colors.black)
    y = line_y - 0.5 * cm
    if authority.name:
        page.setFont("Helvetica-Bold", 11)
        page.drawCentredString(centre_x, y, authority.name)
        y -= 0.45 * cm
    page.setFont("Helvetica", 9)
    for line in _wrapped(authority.position, "Helvetica", 9, width)[:2]:
        page.drawCentredString(centre_x, y, line)
        y -= 0.4 * cm


def _wrapped(text: str, font: str, size: float, width: float) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and stringWidth(f"{lines[-1]} {word}", font, size) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines

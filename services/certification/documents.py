"""The printable certificate: a one-page PDF whose QR code opens the public verification page."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import cm
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas

from probidad.shared.printing import SigningAuthority, draw_signature_block, qr_image, spanish_date

__all__ = ["PrintedCertificate", "qr_image", "render_pdf", "spanish_date"]


@dataclass(frozen=True)
class PrintedCertificate:
    verification_code: str
    course_title: str
    course_topic: str
    hours: float
    issued_on: date
    issuing_authority: str
    score: float | None
    verification_url: str
    valid_until: date | None = None  # printed as its vigencia; None: it never expires
    signed_by: SigningAuthority = SigningAuthority()  # the signature block


def render_pdf(certificate: PrintedCertificate) -> bytes:
    buffer = io.BytesIO()
    width, height = landscape(A4)
    page = canvas.Canvas(buffer, pagesize=(width, height), invariant=1)
    page.setTitle(f"Constancia {certificate.verification_code}")
    page.setAuthor(certificate.issuing_authority)

    page.setStrokeColor(colors.HexColor("#7a1c2e"))
    page.setLineWidth(3)
    page.rect(1.2 * cm, 1.2 * cm, width - 2.4 * cm, height - 2.4 * cm)

    page.setFillColor(colors.HexColor("#7a1c2e"))
    page.setFont("Helvetica-Bold", 16)
    page.drawCentredString(width / 2, height - 3 * cm, certificate.issuing_authority)
    page.setFillColor(colors.black)
    page.setFont("Helvetica", 12)
    page.drawCentredString(width / 2, height - 3.8 * cm, "Programa de Capacitación en Integridad")

    page.setFont("Helvetica-Bold", 30)
    page.drawCentredString(width / 2, height - 6 * cm, "CONSTANCIA DE ACREDITACIÓN")

    page.setFont("Helvetica", 13)
    page.drawCentredString(width / 2, height - 7.6 * cm, "por haber acreditado el curso")
    page.setFont("Helvetica-Bold", 20)
    page.drawCentredString(width / 2, height - 8.8 * cm, certificate.course_title[:80])
    page.setFont("Helvetica", 13)
    details = f"Tema: {certificate.course_topic} · Duración: {certificate.hours:g} horas"
    if certificate.score is not None:
        details += f" · Calificación: {certificate.score:g}"
    page.drawCentredString(width / 2, height - 10 * cm, details[:120])
    page.drawCentredString(width / 2, height - 11 * cm, f"Sesión del {spanish_date(certificate.issued_on)}")
    if certificate.valid_until is not None:
        page.drawCentredString(width / 2, height - 11.8 * cm, f"Vigente hasta {spanish_date(certificate.valid_until)}")

    draw_signature_block(page, certificate.signed_by, centre_x=width - 6.6 * cm, line_y=7.4 * cm, width=8 * cm)

    qr_size = 5 * cm
    page.drawImage(ImageReader(qr_image(certificate.verification_url)), 2.2 * cm, 2.2 * cm, qr_size, qr_size)
    page.setFont("Helvetica-Bold", 14)
    page.drawString(7.8 * cm, 5.4 * cm, f"Folio de verificación: {certificate.verification_code}")
    page.setFont("Helvetica", 10)
    page.drawString(7.8 * cm, 4.6 * cm, "Verifique la autenticidad de esta constancia en:")
    page.drawString(7.8 * cm, 4.0 * cm, certificate.verification_url)
    page.drawString(7.8 * cm, 3.2 * cm,
                    "Firmada electrónicamente (Ed25519); clave pública en /.well-known/probidad-certificates.json")
    page.showPage()
    page.save()
    return buffer.getvalue()

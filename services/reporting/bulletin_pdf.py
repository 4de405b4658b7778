"""The bulletin as a PDF (reportlab): the same title, paragraphs and topics as its HTML and Markdown,
numbers in bold, each linked to the query that gives it (relative to the service). Pure: bytes out."""

from __future__ import annotations

import html
import io

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.platypus import ListFlowable, ListItem, Paragraph, SimpleDocTemplate, Spacer

from services.reporting.bulletin import Document, Num, Paragraph as Text

_WINE = colors.HexColor("#7a1c2e")


def _markup(paragraph: Text) -> str:
    return "".join(html.escape(p, quote=False) if isinstance(p, str) else
                   f'<link href="{html.escape(p.href)}"><b>{html.escape(p.shown, quote=False)}</b></link>' for p in paragraph
                   if isinstance(p, (str, Num)))


def render_pdf(doc: Document, *, author: str) -> bytes:
    buffer = io.BytesIO()
    sheet = getSampleStyleSheet()
    body = ParagraphStyle("bulletin", parent=sheet["BodyText"], fontName="Helvetica", fontSize=11, leading=15,
                          alignment=TA_LEFT, spaceAfter=8)
    title = ParagraphStyle("bulletin-title", parent=sheet["Title"], textColor=_WINE, alignment=TA_LEFT)
    heading = ParagraphStyle("bulletin-heading", parent=sheet["Heading2"], textColor=_WINE)
    note = ParagraphStyle("bulletin-note", parent=body, fontSize=9, leading=12, textColor=colors.HexColor("#555555"))
    pdf = SimpleDocTemplate(buffer, pagesize=LETTER, leftMargin=2.2 * cm, rightMargin=2.2 * cm, topMargin=2 * cm,
                            bottomMargin=2 * cm, title=doc.title, author=author, invariant=1)
    story: list = [Paragraph(html.escape(doc.title, quote=False), title),
                   Paragraph(f"<i>{html.escape(doc.byline, quote=False)}</i>", note), Spacer(1, 6)]
    story += [Paragraph(_markup(p), body) for p in doc.paragraphs]
    if doc.topics:
        story.append(Paragraph(html.escape(doc.topics_heading, quote=False), heading))
        story.append(ListFlowable([ListItem(Paragraph(_markup(t), body), leftIndent=12) for t in doc.topics],
                                  bulletType="bullet", start="•", leftIndent=12))
    story += [Spacer(1, 6), *(Paragraph(_markup(p), note) for p in doc.closing)]
    pdf.build(story)
    return buffer.getvalue()

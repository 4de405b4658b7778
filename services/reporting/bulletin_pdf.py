"""The bulletin as a PDF (reportlab): the same title, paragraphs, topics, sources and issuer block as its
HTML and Markdown. Numbers are in bold and carry no link (on paper nobody clicks a number); the sources
paragraph prints the public addresses in full, each linked, absolute. Pure: bytes out."""

from __future__ import annotations

import html
import io

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_LEFT
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.platypus import ListFlowable, ListItem, Paragraph, SimpleDocTemplate, Spacer

from services.reporting.bulletin_text import Document, Link, Num, Paragraph as Text

_WINE = colors.HexColor("#7a1c2e")


def _markup(paragraph: Text) -> str:
    return "".join(html.escape(p, quote=False) if isinstance(p, str) else
                   f"<b>{html.escape(p.shown, quote=False)}</b>" if isinstance(p, Num) else
                   f'<link href="{html.escape(p.href)}" color="#7a1c2e">{html.escape(p.shown, quote=False)}</link>'
                   for p in paragraph if isinstance(p, (str, Num, Link)))


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
    story += [Spacer(1, 4), *(Paragraph(_markup(p), body) for p in doc.sources)]
    if doc.issuer:  # the signature block, centred as on an official document: lead, name, position, Secretaría
        centred = ParagraphStyle("bulletin-issuer", parent=body, alignment=TA_CENTER, spaceAfter=0)
        lines = [Paragraph(html.escape(text, quote=False), centred) for text in doc.issuer]
        if len(doc.issuer) == 4:
            lines[1] = Paragraph(f"<b>{html.escape(doc.issuer[1], quote=False)}</b>", centred)
            lines.insert(1, Spacer(1, 28))  # room for the signature
        story += [Spacer(1, 18), *lines, Spacer(1, 18)]
    story += [Spacer(1, 6), *(Paragraph(_markup(p), note) for p in doc.closing)]
    pdf.build(story)
    return buffer.getvalue()

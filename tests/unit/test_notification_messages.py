"""What a contact's digest and a servant's reminder say, in Spanish and English, as text and as HTML
(notifications/render.py and templates/mail/)."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, timedelta

import pytest

from services.enrollment.notifications.domain import (
    DIGEST_SECTIONS,
    Expiring,
    Reminder,
    Standing,
    digest_period,
    due_soon,
    expiring_soon,
    overdue,
    requirement_counts,
)
from services.enrollment.notifications.render import OpenSession, Rendered, render_digest, render_reminder

TODAY = date(2026, 12, 8)  # a Tuesday of ISO week 50
CSV = "https://probidad.example/enrollment/institutions/i1/compliance.csv"
UNSUBSCRIBE = "https://probidad.example/enrollment/unsubscribe/abc.def"
STANDINGS = [
    Standing("s1", "Ana Pérez", "Directora de Área", "r1", "Ética pública", "c1", "overdue", date(2026, 12, 1)),
    Standing("s2", "Bruno Díaz", "Analista", "r1", "Ética pública", "c1", "due", date(2026, 12, 20)),
    Standing("s3", "Carla Ruiz", None, "r1", "Ética pública", "c1", "due", date(2027, 3, 1)),
    Standing("s4", "Diego Luna", "Jefe de Departamento", "r1", "Ética pública", "c1", "compliant", None),
    Standing("s5", "Elena Mar", "Subdirectora", "r2", "Conflicto de interés", "c2", "exempt", None),
    Standing("s6", None, None, "r2", "Conflicto de interés", "c2", "overdue", date(2026, 11, 2)),
]
HELD = [Expiring("s4", "Diego Luna", "k1", "c1", "Ética pública", date(2027, 1, 15))]


def digest(language: str = "es", sections: tuple[str, ...] = DIGEST_SECTIONS,
           standings: list[Standing] = STANDINGS, contact: str = "María Gómez") -> Rendered:
    return render_digest(language=language, institution_name="Secretaría de la Función Pública",
                         contact_name=contact, cadence="weekly", period=digest_period("weekly", TODAY) or "",
                         today=TODAY, sections=sections, counts=requirement_counts(standings, TODAY),
                         overdue=overdue(standings), due_soon=due_soon(standings, TODAY),
                         expiring=expiring_soon(HELD, TODAY), csv_url=CSV, unsubscribe_url=UNSUBSCRIBE)


def visible(page: str) -> str:
    """The words an HTML part shows, tags dropped (inline ones without a space) and entities read, spaces folded."""
    inline = re.sub(r"</?(strong|a)\b[^>]*>", "", page)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", inline)).split())


# ------------------------------------------------------------------------------------------------ digest


def test_a_spanish_digest_names_the_institution_and_the_week_in_its_subject_and_greets_the_contact() -> None:
    mail = digest("es")
    assert mail.subject == ("Resumen de cumplimiento de Secretaría de la Función Pública: "
                            "semana del 7 al 13 de diciembre de 2026")
    for part in (mail.text, visible(mail.html)):
        assert "Apreciable María Gómez:" in part
        assert "con datos al 8 de diciembre de 2026" in part


def test_an_english_digest_says_the_same_in_english() -> None:
    mail = digest("en")
    assert mail.subject == "Compliance summary for Secretaría de la Función Pública: week of 7–13 December 2026"
    assert "- Ana Pérez (Directora de Área): Ética pública, was due on 1 December 2026" in mail.text
    assert "Ana Pérez Directora de Área Ética pública 1 December 2026" in visible(mail.html)
    for part in (mail.text, visible(mail.html)):
        assert "Dear María Gómez," in part
        assert "Bruno Díaz" in part and "20 December 2026" in part
        assert "This message contains personal data" in part


def test_the_digest_counts_each_requirement_in_text_and_in_an_html_table() -> None:
    mail = digest("es")
    assert ("Ética pública\n  Cumplen: 1 | Vencen en los próximos 30 días: 1 | Vencen después: 1 | "
            "Con plazo vencido: 1 | Exentos: 0 | Total: 4") in mail.text
    assert ("Conflicto de interés\n  Cumplen: 0 | Vencen en los próximos 30 días: 0 | Vencen después: 0 | "
            "Con plazo vencido: 1 | Exentos: 1 | Total: 2") in mail.text
    cells = re.findall(r"<tr><td[^>]*>(.*?)</td>" + r"<td[^>]*>(\d+)</td>" * 6 + "</tr>", mail.html)
    assert cells == [("Conflicto de interés", "0", "0", "0", "1", "1", "2"),
                     ("Ética pública", "1", "1", "1", "1", "0", "4")]


def test_the_digest_names_who_is_overdue_and_who_falls_due_within_30_days_and_nobody_else() -> None:
    text = digest("es").text
    overdue_part = text.split("PERSONAS CON PLAZO VENCIDO")[1].split("PERSONAS CUYO PLAZO")[0]
    soon_part = text.split("PERSONAS CUYO PLAZO VENCE EN LOS PRÓXIMOS 30 DÍAS")[1].split("Puede descargar")[0]
    assert overdue_part.strip().splitlines() == [
        "- (datos suprimidos) s6: Conflicto de interés, venció el 2 de noviembre de 2026",
        "- Ana Pérez (Directora de Área): Ética pública, venció el 1 de diciembre de 2026"]
    assert soon_part.strip().splitlines() == [
        "- Bruno Díaz (Analista): Ética pública, vence el 20 de diciembre de 2026"]
    assert "Carla Ruiz" not in text  # due later: counted, not named


def test_the_digest_lists_the_constancias_expiring_within_60_days() -> None:
    mail = digest("es")
    assert "- Diego Luna: Ética pública, válida hasta el 15 de enero de 2027" in mail.text
    assert "Diego Luna Ética pública 15 de enero de 2027" in visible(mail.html)


def test_an_erased_servant_appears_by_id_as_data_erased() -> None:
    assert "(datos suprimidos) s6" in visible(digest("es").html)
    assert "- (data erased) s6: Conflicto de interés, was due on 2 November 2026" in digest("en").text


def test_the_digest_links_the_csv_and_the_unsubscribe_page_and_warns_of_personal_data() -> None:
    mail = digest("es")
    for part in (mail.text, mail.html):
        assert CSV in part and UNSUBSCRIBE in part
    assert f'href="{CSV}"' in mail.html and f'href="{UNSUBSCRIBE}"' in mail.html
    assert "contiene datos personales" in mail.text and "uso exclusivo de la institución" in mail.text


def test_a_digest_holds_only_the_sections_asked_for() -> None:
    expiring_only = digest("es", sections=("expiring",))
    for part in (expiring_only.text, expiring_only.html):
        assert "Ana Pérez" not in part and CSV not in part and "Cumplen" not in part
        assert "Diego Luna" in part and UNSUBSCRIBE in part
    compliance_only = digest("en", sections=("compliance",))
    for part in (compliance_only.text, compliance_only.html):
        assert "15 January 2027" not in part and "valid until" not in part.lower()
        assert "Ana Pérez" in part and CSV in part


def test_a_digest_with_nothing_to_report_says_so() -> None:
    calm = [Standing("s4", "Diego Luna", None, "r1", "Ética pública", "c1", "compliant", None)]
    text = digest("es", standings=calm).text
    assert "Nadie tiene plazos vencidos." in text
    assert "Nadie tiene plazos que venzan en los próximos 30 días." in text


def test_a_digest_refuses_an_unknown_section_or_language() -> None:
    with pytest.raises(ValueError):
        digest("es", sections=("compliance", "gossip"))
    with pytest.raises(ValueError):
        digest("fr")


def test_names_are_escaped_in_html_and_left_as_written_in_text() -> None:
    script = "<script>alert('x')</script>"
    hostile = [Standing("s1", f"Ana {script}", "Jefa & <b>", "r1", "Ética <i>pública</i>", "c1", "overdue",
                        date(2026, 12, 1))]
    mail = digest("es", standings=hostile, contact=f"María {script}")
    assert "<script>" not in mail.html and "<b>" not in mail.html and "<i>" not in mail.html
    assert "Ana &lt;script&gt;" in mail.html and "Jefa &amp; &lt;b&gt;" in mail.html
    assert f"Ana {script} (Jefa & <b>): Ética <i>pública</i>" in mail.text


def test_a_subject_is_one_line_whatever_the_institution_is_called() -> None:
    mail = render_digest(language="es", institution_name="Secretaría\r\nBcc: x@example.org", contact_name="M",
                         cadence="monthly", period="2026-12", today=TODAY, sections=("expiring",), counts=[],
                         overdue=[], due_soon=[], expiring=[], csv_url=CSV, unsubscribe_url=UNSUBSCRIBE)
    assert "\n" not in mail.subject and "\r" not in mail.subject
    assert mail.subject == "Resumen de cumplimiento de Secretaría Bcc: x@example.org: diciembre de 2026"


@pytest.mark.parametrize(("cadence", "period", "language", "words"), [
    ("daily", "2026-12-08", "es", "8 de diciembre de 2026"),
    ("daily", "2026-12-08", "en", "8 December 2026"),
    ("monthly", "2026-12", "es", "diciembre de 2026"),
    ("monthly", "2026-12", "en", "December 2026"),
    ("weekly", "2026-W53", "es", "semana del 28 de diciembre de 2026 al 3 de enero de 2027"),
    ("weekly", "2026-W53", "en", "week of 28 December 2026 – 3 January 2027"),
    ("weekly", "2026-W49", "es", "semana del 30 de noviembre al 6 de diciembre de 2026"),
])
def test_the_subject_writes_the_period_out(cadence: str, period: str, language: str, words: str) -> None:
    mail = render_digest(language=language, institution_name="SFP", contact_name="M", cadence=cadence,
                         period=period, today=TODAY, sections=("expiring",), counts=[], overdue=[], due_soon=[],
                         expiring=[], csv_url=CSV, unsubscribe_url=UNSUBSCRIBE)
    assert mail.subject.endswith(words)


# ------------------------------------------------------------------------------------------------ reminders


SESSIONS = [
    OpenSession("x1", "Ética pública", datetime(2026, 12, 15, 16, 0, tzinfo=UTC), "America/Mexico_City",
                "virtual", "Plataforma institucional", 12),
    OpenSession("x2", "Ética pública", datetime(2027, 1, 5, 15, 30, tzinfo=UTC), "America/Cancun",
                "in_person", "Sala 3 <Torre B>", 1),
]


def reminder(kind: str, days: int, course: str | None = "c1") -> Reminder:
    day = TODAY + timedelta(days=days)
    title = "Ética pública"
    return Reminder(kind, "s1", "k1" if kind.startswith("expiry") else "r1", day.isoformat(), day, title, course)


def remind(kind: str, days: int, language: str = "es", sessions: list[OpenSession] = SESSIONS,
           name: str | None = "Ana Pérez", course: str | None = "c1") -> Rendered:
    return render_reminder(language=language, servant_name=name, institution_name="SFP",
                           reminder=reminder(kind, days, course), today=TODAY, open_sessions=sessions,
                           unsubscribe_url=UNSUBSCRIBE)


@pytest.mark.parametrize(("kind", "days", "subject", "sentence"), [
    ("due_30", 30, "Recordatorio: el plazo para «Ética pública» vence el 7 de enero de 2027",
     "el plazo para cumplir con «Ética pública» vence el 7 de enero de 2027 (dentro de 30 días)."),
    ("due_7", 1, "Recordatorio: el plazo para «Ética pública» vence el 9 de diciembre de 2026",
     "vence el 9 de diciembre de 2026 (mañana)."),
    ("overdue", -7, "El plazo para «Ética pública» venció el 1 de diciembre de 2026",
     "el plazo para cumplir con «Ética pública» venció el 1 de diciembre de 2026. Todavía puede cumplirlo."),
    ("expiry_30", 20, "Su constancia de «Ética pública» deja de ser válida después del 28 de diciembre de 2026",
     "Su constancia del curso «Ética pública» deja de ser válida después del 28 de diciembre de 2026."),
    ("expiry_7", 0, "Su constancia de «Ética pública» deja de ser válida después del 8 de diciembre de 2026",
     "deja de ser válida después del 8 de diciembre de 2026."),
])
def test_a_spanish_reminder_says_what_falls_due_and_when_in_the_right_tense(
        kind: str, days: int, subject: str, sentence: str) -> None:
    mail = remind(kind, days)
    assert mail.subject == subject
    assert mail.text.startswith("Apreciable Ana Pérez:\n\n")
    assert sentence in mail.text and sentence in visible(mail.html)


@pytest.mark.parametrize(("kind", "days", "subject", "sentence"), [
    ("due_30", 30, "Reminder: Ética pública is due on 7 January 2027", "is due on 7 January 2027 (in 30 days)."),
    ("due_7", 0, "Reminder: Ética pública is due on 8 December 2026", "is due on 8 December 2026 (today)."),
    ("overdue", -7, "Ética pública was due on 1 December 2026",
     "Our records show that Ética pública was due on 1 December 2026. You can still complete it."),
    ("expiry_7", 7, "Your certificate for Ética pública stops being valid after 15 December 2026",
     "stops being valid after 15 December 2026."),
])
def test_an_english_reminder_says_the_same_in_english(kind: str, days: int, subject: str, sentence: str) -> None:
    mail = remind(kind, days, "en")
    assert mail.subject == subject
    assert mail.text.startswith("Dear Ana Pérez,\n\n")
    assert sentence in mail.text and sentence in visible(mail.html)


def test_a_reminder_lists_the_open_sessions_in_their_own_time_zone() -> None:
    mail = remind("due_30", 30)
    assert ("- Ética pública: martes 15 de diciembre de 2026, 10:00 h (hora de America/Mexico_City); en línea, "
            "Plataforma institucional; 12 lugares disponibles.") in mail.text
    assert ("- Ética pública: martes 5 de enero de 2027, 10:30 h (hora de America/Cancun); presencial, "
            "Sala 3 <Torre B>; 1 lugar disponible.") in mail.text
    page = visible(mail.html)
    assert "martes 15 de diciembre de 2026, 10:00 h (hora de America/Mexico_City) en línea" in page
    assert "Sala 3 &lt;Torre B&gt;" in mail.html and "<Torre B>" not in mail.html
    english = remind("due_30", 30, "en").text
    assert "Tuesday 15 December 2026, 10:00 (America/Mexico_City time); online, Plataforma institucional; " \
           "12 seats left." in english
    assert "in person, Sala 3 <Torre B>; 1 seat left." in english


def test_a_reminder_says_so_when_no_session_is_open_and_whom_to_ask() -> None:
    for language, words in (("es", "Por ahora no hay sesiones abiertas para inscripción en este curso. "
                                   "Le sugerimos consultar con la persona enlace de SFP."),
                            ("en", "There are no sessions open for enrolment in this course yet. "
                                   "Please ask the liaison at SFP.")):
        mail = remind("overdue", -3, language, sessions=[])
        assert words in mail.text and words in visible(mail.html)
        assert "<table" not in mail.html


def test_a_requirement_met_by_a_competency_sends_the_servant_to_the_liaison() -> None:
    mail = remind("due_7", 5, sessions=[], course=None)
    assert "Para saber cómo cumplir con este requisito, le sugerimos consultar con la persona enlace de SFP." \
        in mail.text


def test_a_reminder_carries_its_unsubscribe_link() -> None:
    mail = remind("due_7", 3, "en")
    assert f"unsubscribe here:\n{UNSUBSCRIBE}" in mail.text
    assert f'href="{UNSUBSCRIBE}"' in mail.html


def test_a_reminder_escapes_the_name_in_html() -> None:
    mail = remind("due_7", 3, name="<img src=x onerror=alert(1)>")
    assert "<img" not in mail.html and "&lt;img src=x onerror=alert(1)&gt;" in mail.html
    assert mail.text.startswith("Apreciable <img src=x onerror=alert(1)>:")


def test_a_reminder_of_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError):
        render_reminder(language="es", servant_name="Ana", institution_name="SFP",
                        reminder=Reminder("nag", "s1", "r1", "2026-12-09", date(2026, 12, 9), "x", None),
                        today=TODAY, open_sessions=[], unsubscribe_url=UNSUBSCRIBE)

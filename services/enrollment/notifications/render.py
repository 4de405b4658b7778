"""The digests and reminders as e-mail: subject, plain text and HTML, in Spanish (formal) or English.

The wording lives in ``templates/mail/<message>.<language>.(txt|html)``; this module turns the domain's records
into what the templates print (dates written out, erased names marked, a session's time in its own zone) so the
two parts of one message say the same thing. HTML templates escape everything; the text ones print as is.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from probidad.shared.printing import spanish_date

from .domain import (DIGEST_SECTIONS, EXPIRING_DAYS, LANGUAGES, SOON_DAYS, Expiring, Reminder, RequirementCounts,
                     Standing)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class OpenSession:
    """A session of the required course open for enrolment."""

    session_id: str
    course_title: str
    starts_at: datetime  # aware
    timezone: str
    modality: str  # virtual | in_person | hybrid (contracts.events.Modality)
    place: str | None  # venue or platform
    seats_left: int | None


_TEMPLATES = Environment(loader=PackageLoader("services.enrollment", "templates/mail"),
                         autoescape=select_autoescape(["html"], default_for_string=True, default=False),
                         keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
                         undefined=StrictUndefined)

_EN_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
              "November", "December")
_ES_MONTHS = ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
              "noviembre", "diciembre")
_WEEKDAYS = {"es": ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"),
             "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")}
_ERASED = {"es": "(datos suprimidos)", "en": "(data erased)"}
_MODALITIES = {"es": {"virtual": "en línea", "in_person": "presencial", "hybrid": "mixta (presencial y en línea)"},
               "en": {"virtual": "online", "in_person": "in person", "hybrid": "hybrid (in person and online)"}}


def _language(language: str) -> str:
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; one of {', '.join(LANGUAGES)}")
    return language


def written(day: date, language: str) -> str:
    """A date written out: "8 de diciembre de 2026", "8 December 2026"."""
    return spanish_date(day) if language == "es" else f"{day.day} {_EN_MONTHS[day.month - 1]} {day.year}"


def _span(first: date, last: date, language: str) -> str:
    """Two days as a range, saying the month and year once when they share them."""
    if language == "es":
        if (first.year, first.month) == (last.year, last.month):
            return f"del {first.day} al {spanish_date(last)}"
        if first.year == last.year:
            return f"del {first.day} de {_ES_MONTHS[first.month - 1]} al {spanish_date(last)}"
        return f"del {spanish_date(first)} al {spanish_date(last)}"
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}–{written(last, 'en')}"
    if first.year == last.year:
        return f"{first.day} {_EN_MONTHS[first.month - 1]} – {written(last, 'en')}"
    return f"{written(first, 'en')} – {written(last, 'en')}"


def period_label(cadence: str, period: str, language: str) -> str:
    """The period a digest covers, in words: a day, a week (Monday to Sunday) or a month."""
    if cadence == "daily":
        return written(date.fromisoformat(period), language)
    if cadence == "weekly":
        year, _, week = period.partition("-W")
        monday = date.fromisocalendar(int(year), int(week), 1)
        sunday = date.fromisocalendar(int(year), int(week), 7)
        return f"semana {_span(monday, sunday, language)}" if language == "es" else \
            f"week of {_span(monday, sunday, language)}"
    if cadence == "monthly":
        year, _, month = period.partition("-")
        months = _ES_MONTHS if language == "es" else _EN_MONTHS
        return f"{months[int(month) - 1]} de {year}" if language == "es" else f"{months[int(month) - 1]} {year}"
    raise ValueError(f"no digest for cadence {cadence!r}")


def _who(name: str | None, servant_id: str, language: str) -> str:
    # An erased servant keeps a line (the count must add up) but only by id.
    return name if name is not None else f"{_ERASED[language]} {servant_id}"


def _one_line(text: str) -> str:
    # A header is one line: an institution or course named with a line break must not add headers.
    return " ".join(text.split())


def _render(name: str, language: str, subject: str, values: dict[str, Any]) -> Rendered:
    values = {**values, "subject": _one_line(subject), "lang": language, "soon_days": SOON_DAYS,
              "expiring_days": EXPIRING_DAYS}
    return Rendered(_one_line(subject), _TEMPLATES.get_template(f"{name}.{language}.txt").render(values),
                    _TEMPLATES.get_template(f"{name}.{language}.html").render(values))


def render_digest(*, language: str, institution_name: str, contact_name: str, cadence: str, period: str,
                  today: date, sections: Collection[str], counts: Sequence[RequirementCounts],
                  overdue: Sequence[Standing], due_soon: Sequence[Standing], expiring: Sequence[Expiring],
                  csv_url: str, unsubscribe_url: str) -> Rendered:
    """A contact's digest: only the sections asked for (the compliance counts and named lists, the constancias
    expiring), with the link to the named list's CSV and the unsubscribe link."""
    lang = _language(language)
    unknown = set(sections) - set(DIGEST_SECTIONS)
    if unknown or not sections:
        raise ValueError(f"digest sections must be some of {', '.join(DIGEST_SECTIONS)}, not {sorted(sections)}")
    label = period_label(cadence, period, lang)

    def standing(s: Standing) -> dict[str, Any]:
        return {"who": _who(s.name, s.servant_id, lang), "position": s.position, "requirement": s.requirement_title,
                "day": written(s.due_on, lang) if s.due_on else ""}

    subject = (f"Resumen de cumplimiento de {institution_name}: {label}" if lang == "es"
               else f"Compliance summary for {institution_name}: {label}")
    return _render("digest", lang, subject, {
        "institution": institution_name, "contact": contact_name, "period": label, "cadence": cadence,
        "today": written(today, lang), "compliance": "compliance" in sections, "expiring": "expiring" in sections,
        "counts": counts, "overdue": [standing(s) for s in overdue], "due_soon": [standing(s) for s in due_soon],
        "constancias": [{"who": _who(c.name, c.servant_id, lang), "course": c.course_title,
                         "day": written(c.valid_until, lang)} for c in expiring],
        "csv_url": csv_url, "unsubscribe_url": unsubscribe_url})


def _session(s: OpenSession, language: str) -> dict[str, Any]:
    local = s.starts_at.astimezone(ZoneInfo(s.timezone))
    return {"course": s.course_title, "weekday": _WEEKDAYS[language][local.weekday()],
            "day": written(local.date(), language), "time": local.strftime("%H:%M"), "zone": s.timezone,
            "modality": _MODALITIES[language].get(s.modality, s.modality), "place": s.place,
            "seats": s.seats_left}


_REMINDER_SUBJECTS = {
    "es": {"due_30": "Recordatorio: el plazo para «{title}» vence el {day}",
           "due_7": "Recordatorio: el plazo para «{title}» vence el {day}",
           "overdue": "El plazo para «{title}» venció el {day}",
           "expiry_30": "Su constancia de «{title}» deja de ser válida después del {day}",
           "expiry_7": "Su constancia de «{title}» deja de ser válida después del {day}"},
    "en": {"due_30": "Reminder: {title} is due on {day}",
           "due_7": "Reminder: {title} is due on {day}",
           "overdue": "{title} was due on {day}",
           "expiry_30": "Your certificate for {title} stops being valid after {day}",
           "expiry_7": "Your certificate for {title} stops being valid after {day}"},
}


def render_reminder(*, language: str, servant_name: str | None, institution_name: str, reminder: Reminder,
                    today: date, open_sessions: Sequence[OpenSession], unsubscribe_url: str) -> Rendered:
    """A servant's reminder: what falls due (or was due, or stops being valid) and when, the sessions open for
    enrolment in the course that satisfies it, or whom to ask when none is open."""
    lang = _language(language)
    subjects = _REMINDER_SUBJECTS[lang]
    if reminder.kind not in subjects:
        raise ValueError(f"unknown reminder kind {reminder.kind!r}")
    day = written(reminder.day, lang)
    return _render("reminder", lang, subjects[reminder.kind].format(title=reminder.title, day=day), {
        "name": servant_name, "institution": institution_name, "kind": reminder.kind, "title": reminder.title,
        "day": day, "days_left": (reminder.day - today).days, "has_course": reminder.course_id is not None,
        "sessions": [_session(s, lang) for s in open_sessions], "unsubscribe_url": unsubscribe_url})

"""The monthly bulletin: the sentences a comptroller publishes, each number a link to the figure query
that gives it. Pure (domain side): numbers from a ``Snapshot``, text from the numbers; no I/O.

``bulletin_figures(snapshot, year, month)`` computes the numbers; ``render_markdown`` / ``render_html``
write them in the programme's language (Spanish by default, English with ``lang="en"``) following the
sentences of the Quintana Roo (SECOES) and Guanajuato (STRC) bulletins; the PDF
(``services.reporting.bulletin_pdf``) prints the same paragraphs. Every number is exactly a figure of
``GET /reports/figures`` (same period, same ``by``, same ``as_of``), so a reader can check any of them:

* **courses delivered** (the bulletin's "cursos impartidos"): sessions delivered in the month —
  started in it (programme's zone), not cancelled, with at least one present attendee; with the titles
  of their courses and the number of distinct courses;
* **servants trained in the month**: distinct people with a completion (a standing certificate) in a
  session of the month;
* **through virtual platforms**: the ``virtual`` row of the month by modality — people who completed a
  *virtual* session. A hybrid session mixes a room and a call and records nobody's side, so its people
  are not counted as trained through virtual platforms; they are given apart, as "hybrid sessions",
  when there are any (a person may appear in both rows when they completed both kinds of session);
* **from January to the month**: distinct people over the whole range — not a sum of months — and the
  state/municipal split of the same range by government level (a person serving in a state and a
  municipal institution counts once in each row, so the two may add up to more than the total);
* **topics**: per topic, the distinct people trained January to the month;
* **plan attainment**: when an annual training plan (TrainingPlanDeclared) is in force for the year at
  the as-of moment, ``Snapshot.plan_against_actual`` through the month (``GET /reports/plan``): in the
  month, sessions delivered / sessions planned and servants trained / people planned (the month's
  targets summed over institutions and topics); January to the month, the plan's total row. Without a
  plan the bulletin says that none was declared;
* **compliance** (only when a training requirement is in force): for each requirement in force on the
  bulletin's day — the month's last day, or the as-of date when that is earlier (today, for a bulletin
  of the current month asked without ``as_of``) — the servants required, compliant, due, overdue and
  exempt and the rate compliant / (required − exempt), exactly the ``by_requirement`` row of
  ``GET /reports/compliance?on=<day>&requirement_id=…`` (same ``as_of``): "Al 30 de noviembre, el
  54.5 % de las y los servidores públicos obligados cumplía con el curso Código de Ética (6 de 11
  obligados, 0 exentos); 4 tenían el curso vencido y 1 aún estaba en plazo".

``figures_digest`` is the sha256 of the canonical JSON of the numbers: what publishing records.
"""

from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from contracts.events import ReportPublished
from services.reporting.compliance import report as compliance_report
from services.reporting.domain import Period, Snapshot, attainment

LANGUAGES = ("es", "en")
KIND = "bulletin"
_MONTHS = {
    "es": ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
           "noviembre", "diciembre"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
}
_LEVELS = ("state", "municipal")
_MODALITIES = ("virtual", "hybrid", "in_person")


class BulletinError(ValueError):
    """A bulletin that cannot be written as asked (a bad month, an unknown language)."""


def month_of(text: str) -> tuple[int, int]:
    """``YYYY-MM`` -> (year, month); BulletinError naming ``month`` otherwise."""
    try:
        year_text, month_text = text.split("-")
        if len(year_text) != 4 or len(month_text) != 2:
            raise ValueError(text)
        year, month = int(year_text), int(month_text)
        if not (2000 <= year <= 2100 and 1 <= month <= 12):
            raise ValueError(text)
    except ValueError as error:
        raise BulletinError(f"month: expected YYYY-MM (e.g. 2026-11), got {text!r}") from error
    return year, month


# ---------------------------------------------------------------- the numbers


def bulletin_figures(snapshot: Snapshot, year: int, month: int, *, as_of: datetime | None = None,
                     today: date | None = None) -> dict[str, Any]:
    """Every number of the month's bulletin, as plain JSON (what is digested and published).

    ``as_of`` is the moment the snapshot was resolved at (None: now, which the links then leave out);
    ``today`` caps the compliance day of a bulletin asked without ``as_of``.
    """
    period = Period.month(year, month)
    to_date = Period(date(year, 1, 1), period.end)
    total = snapshot.figures(period)[0]
    delivered = sorted(snapshot.delivered(period), key=lambda s: (s.starts_at, s.session_id))
    titles: list[str] = []
    for session in delivered:
        if session.course_title not in titles:
            titles.append(session.course_title)
    by_modality = {r["modality"]: r["servants_trained"] for r in snapshot.figures(period, "modality")}
    month_levels = {r["government_level"]: r["servants_trained"] for r in snapshot.figures(period, "government_level")}
    year_total = snapshot.figures(to_date)[0]
    year_levels = {r["government_level"]: r["servants_trained"] for r in snapshot.figures(to_date, "government_level")}
    topics = sorted(({"topic": r["topic"], "servants_trained": r["servants_trained"]}
                     for r in snapshot.figures(to_date, "topic") if r["servants_trained"]),
                    key=lambda r: (-r["servants_trained"], r["topic"]))
    figures = {
        "kind": KIND,
        "month": f"{year:04d}-{month:02d}",
        "as_of": as_of.isoformat() if as_of is not None else None,
        "month_figures": {
            "sessions_delivered": total["sessions_delivered"],
            "courses_delivered": total["courses_delivered"],
            "course_titles": titles,
            "servants_trained": total["servants_trained"],
            "participations": total["participations"],
            "by_modality": {m: by_modality.get(m, 0) for m in _MODALITIES},
            "by_government_level": {lv: month_levels.get(lv, 0) for lv in _LEVELS},
        },
        "year_to_date": {
            "from": to_date.start.isoformat(), "to": to_date.end.isoformat(),
            "servants_trained": year_total["servants_trained"],
            "by_government_level": {lv: year_levels.get(lv, 0) for lv in _LEVELS},
            "topics": topics,
        },
        "plan": plan_attainment(snapshot, year, month, total),
    }
    found = compliance_figures(snapshot, period.end, as_of=as_of, today=today)
    if found is not None:  # absent without requirements: bulletins published before them keep their digest
        figures["compliance"] = found
    return figures


def compliance_figures(snapshot: Snapshot, month_end: date, *, as_of: datetime | None,
                       today: date | None) -> dict[str, Any] | None:
    """The requirements in force on the bulletin's day and their ``by_requirement`` rows; None when none is."""
    cap = as_of.astimezone(snapshot.zone).date() if as_of is not None else today
    on = min(month_end, cap) if cap is not None else month_end
    body = compliance_report(snapshot, on, with_standings=False)
    if not body["by_requirement"]:
        return None
    kinds = {r["requirement_id"]: r for r in body["requirements"]}
    return {"on": on.isoformat(), "requirements": [
        {"requirement_id": r["requirement_id"], "title": r["title"],
         "course_id": kinds[r["requirement_id"]]["course_id"], "competency": kinds[r["requirement_id"]]["competency"],
         **{k: r[k] for k in ("required", "compliant", "due", "overdue", "exempt", "rate")}}
        for r in body["by_requirement"]]}


def plan_attainment(snapshot: Snapshot, year: int, month: int, total: dict[str, Any]) -> dict[str, Any] | None:
    """The plan's part of the bulletin (see the module's docstring); None when no plan is in force."""
    if snapshot.plan_in_force(year) is None:
        return None
    report = snapshot.plan_against_actual(year, month)
    label = f"{year:04d}-{month:02d}"
    cells = [r for r in report["months"] if r["period"] == label]
    planned_sessions = sum(r["planned_sessions"] for r in cells)
    planned_people = sum(r["planned_people"] for r in cells)
    ytd = report["total"]
    return {
        "plan_id": report["plan"]["plan_id"], "version": report["plan"]["version"],
        "month": {"planned_sessions": planned_sessions, "sessions_delivered": total["sessions_delivered"],
                  "sessions_attainment": attainment(total["sessions_delivered"], planned_sessions),
                  "planned_people": planned_people, "servants_trained": total["servants_trained"],
                  "people_attainment": attainment(total["servants_trained"], planned_people)},
        "year_to_date": {k: ytd[k] for k in ("planned_sessions", "sessions_delivered", "sessions_attainment",
                                             "planned_people", "servants_trained", "people_attainment")},
    }


def canonical_json(figures: dict[str, Any]) -> str:
    return json.dumps(figures, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def figures_digest(figures: dict[str, Any]) -> str:
    """sha256 (hex) of the canonical JSON of the numbers: equal digests, equal bulletins."""
    return hashlib.sha256(canonical_json(figures).encode()).hexdigest()


# ---------------------------------------------------------------- publishing


@dataclass(frozen=True)
class Publication:
    """A bulletin published: its numbers as known at ``as_of`` (UTC), their digest, who published it."""

    report_id: str
    month: str
    as_of: datetime
    figures: dict[str, Any]
    figures_digest: str
    published_by: str
    kind: str = KIND

    @property
    def events(self) -> list[ReportPublished]:
        return [ReportPublished(report_id=self.report_id, kind=self.kind, month=self.month, as_of=self.as_of,
                                figures_digest=self.figures_digest, figures=self.figures,
                                published_by=self.published_by)]

    def holds(self, recomputed: dict[str, Any]) -> bool:
        """Whether ``recomputed`` (the numbers resolved again as of ``as_of``) are the ones published, and
        the stored numbers still have the published digest."""
        return figures_digest(self.figures) == self.figures_digest == figures_digest(recomputed)


def decide_publication(figures: dict[str, Any], *, report_id: str, published_by: str) -> Publication:
    """Publish ``figures`` (from ``bulletin_figures`` with an ``as_of``): the fact and what is stored."""
    if figures.get("as_of") is None:
        raise BulletinError("as_of: a published bulletin needs the moment its figures are as of")
    return Publication(report_id=report_id, month=figures["month"], as_of=datetime.fromisoformat(figures["as_of"]),
                       figures=figures, figures_digest=figures_digest(figures), published_by=published_by)


# ---------------------------------------------------------------- the queries behind each number


def _query(route: str, as_of: str | None, **params: str) -> str:
    return f"{route}?{urlencode({**params, **({'as_of': as_of} if as_of else {})})}"


def queries(figures: dict[str, Any]) -> dict[str, str]:
    """Number -> the ``GET`` that returns it (same period, breakdown and ``as_of``)."""
    month, as_of = figures["month"], figures["as_of"]
    ytd = figures["year_to_date"]
    span = {"from": ytd["from"], "to": ytd["to"]}
    return {
        "month": _query("/reports/figures", as_of, month=month),
        "modality": _query("/reports/figures", as_of, month=month, by="modality"),
        "month_level": _query("/reports/figures", as_of, month=month, by="government_level"),
        "year_to_date": _query("/reports/figures", as_of, **span),
        "year_level": _query("/reports/figures", as_of, **span, by="government_level"),
        "topics": _query("/reports/figures", as_of, **span, by="topic"),
        "coverage": _query("/reports/coverage", as_of, year=month[:4]),
        "plan": _query("/reports/plan", as_of, year=month[:4], through=str(int(month[5:]))),
    }


def compliance_query(figures: dict[str, Any], requirement_id: str) -> str:
    """The ``GET`` whose ``by_requirement`` row gives a compliance sentence's numbers."""
    return _query("/reports/compliance", figures["as_of"], on=figures["compliance"]["on"], requirement_id=requirement_id)


# ---------------------------------------------------------------- the text


@dataclass(frozen=True)
class Num:
    """A number in a sentence and the query that gives it."""

    value: int | float
    href: str
    text: str | None = None  # how it is printed when not as the bare number (a rate: "54.5 %")

    @property
    def shown(self) -> str:
        return self.text if self.text is not None else _number(self.value)


Piece = str | Num
Paragraph = list[Piece]


@dataclass(frozen=True)
class Document:
    """The bulletin as language-resolved text: a title, a byline, paragraphs and a list of topics."""

    title: str
    byline: str
    paragraphs: list[Paragraph]
    topics_heading: str
    topics: list[Paragraph]
    closing: list[Paragraph]


def _join(items: list[str], lang: str) -> str:
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    last = " y " if lang == "es" else " and "
    if lang == "es" and items[-1][:1].lower() == "i" and not items[-1][:2].lower() in ("ia", "ie", "io", "iu"):
        last = " e "  # "y" becomes "e" before an i- sound: "Transparencia e Integridad"
    return ", ".join(items[:-1]) + last + items[-1]


_FEMININE = ("secretaría", "unidad", "coordinación", "contraloría", "dirección", "subsecretaría", "comisión")


def _subject(unit: str, lang: str) -> str:
    """The unit as the subject of a Spanish sentence: "La Secretaría …" (the name as given otherwise)."""
    first = unit.split(" ", 1)[0].lower()
    return f"La {unit}" if lang == "es" and first in _FEMININE else unit


def _when(figures: dict[str, Any], lang: str) -> tuple[str, str, int, int]:
    year, month = (int(p) for p in figures["month"].split("-"))
    name = _MONTHS[lang][month - 1]
    return (f"{name} de {year}" if lang == "es" else f"{name} {year}"), name, year, month


def _as_of_text(figures: dict[str, Any], lang: str, zone: Any) -> str:
    if figures["as_of"] is None:
        return ("Cifras conocidas al momento de la consulta" if lang == "es"
                else "Figures as known when this page was requested")
    moment = datetime.fromisoformat(figures["as_of"]).astimezone(zone)
    months = _MONTHS[lang]
    if lang == "es":
        return f"Cifras conocidas al {moment.day} de {months[moment.month - 1]} de {moment.year}, {moment:%H:%M} ({zone})"
    return f"Figures as known on {months[moment.month - 1]} {moment.day}, {moment.year}, {moment:%H:%M} ({zone})"


def document(figures: dict[str, Any], *, unit: str, zone: Any, lang: str = "es",
             published: Publication | None = None, holds: bool = True) -> Document:
    """The bulletin's sentences for ``figures`` (from ``bulletin_figures``), in ``lang``; ``published``
    names the publication they are (``holds``: whether they still resolve to the published digest)."""
    if lang not in LANGUAGES:
        raise BulletinError(f"lang: one of {', '.join(LANGUAGES)}, got {lang!r}")
    q = queries(figures)
    m, ytd = figures["month_figures"], figures["year_to_date"]
    when, month_name, year, month = _when(figures, lang)
    es = lang == "es"
    subject = _subject(unit, lang)
    subject_mid = f"la {unit}" if subject != unit else unit  # mid-sentence: "De enero a noviembre, la Secretaría …"
    sessions = Num(m["sessions_delivered"], q["month"])
    courses = Num(m["courses_delivered"], q["month"])
    trained = Num(m["servants_trained"], q["month"])
    virtual = Num(m["by_modality"]["virtual"], q["modality"])
    hybrid = Num(m["by_modality"]["hybrid"], q["modality"])
    paragraphs: list[Paragraph] = []

    # 1. Courses delivered in the month, and their titles (SECOES, first paragraph).
    if m["sessions_delivered"]:
        titles = _join(m["course_titles"], lang)
        paragraphs.append(
            [f"{subject} mantiene una campaña permanente de capacitación y durante {when} ha impartido un total de ",
             sessions, f" cursos sobre {titles} (", courses, " cursos distintos del catálogo)."] if es else
            [f"{unit} runs a permanent training campaign and in {when} delivered a total of ", sessions,
             f" courses on {titles} (", courses, " distinct courses of the catalogue)."])
    else:
        paragraphs.append([f"{subject} no impartió cursos durante {when}." if es else f"{unit} delivered no courses in {when}."])

    # 2. Servants trained in the month, through virtual platforms (SECOES, second paragraph).
    sentence: Paragraph = ([virtual, " servidores públicos se han capacitado a través de plataformas virtuales, de un total de ",
                            trained, f" servidores públicos capacitados en {when}."] if es else
                           [virtual, " public servants were trained through virtual platforms, of a total of ", trained,
                            f" public servants trained in {when}."])
    if m["by_modality"]["hybrid"]:
        sentence += ([" Además, ", hybrid, " se capacitaron en sesiones híbridas (sala y plataforma a la vez), que no se "
                      "cuentan como plataformas virtuales."] if es else
                     [" Besides, ", hybrid, " were trained in hybrid sessions (room and platform at once), which are not "
                      "counted as virtual platforms."])
    paragraphs.append(sentence)

    # 3. Distinct servants January to the month, state and municipal (SECOES third paragraph; STRC).
    levels = ytd["by_government_level"]
    state, municipal = Num(levels["state"], q["year_level"]), Num(levels["municipal"], q["year_level"])
    span = (when if month == 1 else f"enero a {month_name} de {year}") if es else (
        when if month == 1 else f"January to {month_name} {year}")
    paragraphs.append(
        [("En " if month == 1 else "De ") + f"{span}, {subject_mid} ha capacitado a un total de ",
         Num(ytd["servants_trained"], q["year_to_date"]), " servidores públicos, personas distintas: ",
         state, " de instituciones estatales y ", municipal, " de instituciones municipales."] if es else
        [("In " if month == 1 else "From ") + f"{span}, {unit} trained a total of ",
         Num(ytd["servants_trained"], q["year_to_date"]), " public servants, distinct people: ", state,
         " from state institutions and ", municipal, " from municipal institutions."])
    month_levels = m["by_government_level"]
    paragraphs.append(
        [f"En {when} se capacitaron ", Num(month_levels["state"], q["month_level"]), " servidores públicos de instituciones "
         "estatales y ", Num(month_levels["municipal"], q["month_level"]), " de instituciones municipales."] if es else
        [f"In {when}, ", Num(month_levels["state"], q["month_level"]), " public servants from state institutions and ",
         Num(month_levels["municipal"], q["month_level"]), " from municipal institutions were trained."])

    # 4. Plan attainment: only with a declared plan.
    plan = figures.get("plan")
    if plan:
        paragraphs.append(_plan_paragraph(plan, q, when, span, lang))
    else:
        paragraphs.append([f"Avance del plan: no se declaró un plan anual de capacitación para {when}, por lo que no "
                           "hay avance contra el plan que informar." if es else
                           f"Plan attainment: no annual training plan was declared for {when}, so there is no "
                           "attainment against a plan to report."])

    # 5. Compliance with the training requirements in force (only when there are any).
    if figures.get("compliance"):
        paragraphs += [_compliance_sentence(figures, r, lang) for r in figures["compliance"]["requirements"]]

    topics = [[t["topic"], ": ", Num(t["servants_trained"], q["topics"]),
               " servidores públicos capacitados" if es else " public servants trained"] for t in ytd["topics"]]
    closing: list[Paragraph] = [[
        "Cada cifra enlaza a la consulta que la da. Servidores capacitados: personas distintas con al menos una "
        "constancia vigente en sesiones iniciadas en el periodo, en la zona horaria del programa; cursos impartidos: "
        "sesiones no canceladas con al menos un asistente presente." if es else
        "Every number links to the query that gives it. Servants trained: distinct people with at least one valid "
        "certificate in sessions started in the period, in the programme's time zone; courses delivered: sessions not "
        "cancelled with at least one attendee present."]]
    byline = f"{unit}. {_as_of_text(figures, lang, zone)}."
    if published is not None:
        byline += (f" Publicado como {published.report_id} (sha256 {published.figures_digest[:16]}…)." if es else
                   f" Published as {published.report_id} (sha256 {published.figures_digest[:16]}…).")
        if not holds:
            closing.append([
                "Aviso: resueltas de nuevo al mismo momento, las cifras ya no coinciden con las publicadas (llegaron "
                "después hechos fechados antes de ese momento); este boletín imprime las cifras publicadas." if es else
                "Notice: resolved again as of the same moment, the figures no longer match the published ones (facts "
                "dated before that moment arrived later); this bulletin prints the published figures."])
    return Document(
        title=(f"Boletín de capacitación: {when}" if es else f"Training bulletin: {when}"),
        byline=byline,
        paragraphs=paragraphs,
        topics_heading=(f"Temas de la capacitación, {span}" if es else f"Training topics, {span}"),
        topics=topics, closing=closing)


def _percent(share: float | None, lang: str) -> str:
    if share is None:
        return "sin meta programada" if lang == "es" else "nothing planned"
    return f"{share * 100:.1f} %"


def _plan_paragraph(plan: dict[str, Any], q: dict[str, str], when: str, span: str, lang: str) -> Paragraph:
    """Attainment of the annual plan in the month and January to it; the actuals link to the figures,
    the planned numbers to the plan report."""
    m, y = plan["month"], plan["year_to_date"]
    p = q["plan"]
    if lang == "es":
        return [f"Avance del plan anual de capacitación (versión {plan['version']}): en {when} se impartieron ",
                Num(m["sessions_delivered"], q["month"]), " de ", Num(m["planned_sessions"], p),
                f" cursos programados ({_percent(m['sessions_attainment'], lang)}) y se capacitó a ",
                Num(m["servants_trained"], q["month"]), " de ", Num(m["planned_people"], p),
                f" servidores públicos previstos ({_percent(m['people_attainment'], lang)}); de {span}, ",
                Num(y["sessions_delivered"], p), " de ", Num(y["planned_sessions"], p),
                f" cursos ({_percent(y['sessions_attainment'], lang)}) y ", Num(y["servants_trained"], p), " de ",
                Num(y["planned_people"], p), f" servidores públicos ({_percent(y['people_attainment'], lang)})."]
    return [f"Annual training plan attainment (version {plan['version']}): in {when}, ",
            Num(m["sessions_delivered"], q["month"]), " of ", Num(m["planned_sessions"], p),
            f" planned courses were delivered ({_percent(m['sessions_attainment'], lang)}) and ",
            Num(m["servants_trained"], q["month"]), " of ", Num(m["planned_people"], p),
            f" planned public servants trained ({_percent(m['people_attainment'], lang)}); "
            f"{'from' if ' to ' in span else 'in'} {span}, ",
            Num(y["sessions_delivered"], p), " of ", Num(y["planned_sessions"], p),
            f" courses ({_percent(y['sessions_attainment'], lang)}) and ", Num(y["servants_trained"], p), " of ",
            Num(y["planned_people"], p), f" public servants ({_percent(y['people_attainment'], lang)})."]


def _day_text(day: date, lang: str) -> str:
    months = _MONTHS[lang]
    return f"{day.day} de {months[day.month - 1]} de {day.year}" if lang == "es" else \
        f"{months[day.month - 1]} {day.day}, {day.year}"


def _compliance_sentence(figures: dict[str, Any], r: dict[str, Any], lang: str) -> Paragraph:
    """One requirement's compliance on the bulletin's day; every number links to its compliance query."""
    href = compliance_query(figures, r["requirement_id"])
    on = _day_text(date.fromisoformat(figures["compliance"]["on"]), lang)
    es = lang == "es"
    what = ((f"el curso {r['title']}" if r["course_id"] else f"la competencia {r['title']}") if es else
            (f"the {r['title']} course" if r["course_id"] else f"the {r['title']} competency"))
    required, compliant = Num(r["required"], href), Num(r["compliant"], href)
    exempt, overdue, due = Num(r["exempt"], href), Num(r["overdue"], href), Num(r["due"], href)
    if r["rate"] is None:
        return ([f"Al {on}, ninguna persona servidora pública estaba obligada a cumplir con {what} (", required,
                 " obligados, ", exempt, " exentos)."] if es else
                [f"On {on}, no public servant was required to complete {what} (", required, " required, ", exempt,
                 " exempt)."])
    rate = Num(r["rate"], href, f"{r['rate'] * 100:.1f} %")
    if es:
        return [f"Al {on}, el ", rate, f" de las y los servidores públicos obligados cumplía con {what} (", compliant,
                " de ", required, " obligados, ", exempt, " exentos); ", overdue,
                " tenían el curso vencido y " if r["course_id"] else " tenían la competencia vencida y ", due,
                " aún estaban en plazo."]
    return [f"On {on}, ", rate, f" of the public servants required to complete {what} complied (", compliant, " of ",
            required, " required, ", exempt, " exempt); ", overdue, " were overdue and ", due,
            " were still within their deadline."]


def _number(value: int | float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def render_markdown(doc: Document) -> str:
    def line(paragraph: Paragraph) -> str:
        return "".join(p if isinstance(p, str) else f"[{p.shown}]({p.href})" for p in paragraph)

    out = [f"# {doc.title}", "", f"*{doc.byline}*", ""]
    for paragraph in doc.paragraphs:
        out += [line(paragraph), ""]
    if doc.topics:
        out += [f"## {doc.topics_heading}", ""]
        out += [f"- {line(t)}" for t in doc.topics]
        out.append("")
    for paragraph in doc.closing:
        out += [f"_{line(paragraph)}_", ""]
    return "\n".join(out)


_STYLE = ("body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;line-height:1.5;"
          "color:#222}h1{color:#7a1c2e}a.n{font-weight:bold;color:#7a1c2e}.by{color:#555}.note{color:#555;"
          "font-size:.9rem}")


def render_html(doc: Document, *, lang: str = "es") -> str:
    def line(paragraph: Paragraph) -> str:
        return "".join(html.escape(p) if isinstance(p, str) else
                       f'<a class="n" href="{html.escape(p.href)}">{html.escape(p.shown)}</a>' for p in paragraph)

    body = [f"<h1>{html.escape(doc.title)}</h1>", f'<p class="by">{html.escape(doc.byline)}</p>']
    body += [f"<p>{line(p)}</p>" for p in doc.paragraphs]
    if doc.topics:
        body.append(f"<h2>{html.escape(doc.topics_heading)}</h2><ul>")
        body += [f"<li>{line(t)}</li>" for t in doc.topics]
        body.append("</ul>")
    body += [f'<p class="note">{line(p)}</p>' for p in doc.closing]
    return (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>{html.escape(doc.title)}</title>'
            f"<style>{_STYLE}</style></head><body>{''.join(body)}</body></html>\n")


def plain(paragraph: Paragraph) -> str:
    """A paragraph as text, numbers in place (the PDF prints this)."""
    return "".join(p if isinstance(p, str) else p.shown for p in paragraph)

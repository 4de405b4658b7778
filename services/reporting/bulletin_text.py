"""The bulletin's wording: the sentences a press office writes from ``bulletin_figures``'s numbers, in the
programme's language (Spanish by default, English with ``lang="en"``), each number a link to the public page
that shows it; and the bulletin rendered as Markdown and HTML (the HTML from ``templates/bulletin.html``).
Pure: no I/O. The numbers, what is published and what the dashboard shows of them: ``bulletin``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined

from services.reporting.bulletin import WITHHELD, BulletinError, Publication, Withheld, month_over, queries

LANGUAGES = ("es", "en")
_MONTHS = {
    "es": ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
           "noviembre", "diciembre"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
}


def _withheld_text(lang: str) -> str:
    return "cifra reservada" if lang == "es" else "withheld"


# ---------------------------------------------------------------- the text


@dataclass(frozen=True)
class Num:
    """A number in a sentence and the public page a reader checks it on (absolute address)."""

    value: int | float | Withheld
    href: str
    text: str | None = None  # how it is printed when not as the bare number (a rate: "54.5 %")

    @property
    def shown(self) -> str:
        if self.text is not None:
            return self.text
        return _withheld_text("es") if self.value is WITHHELD else _number(self.value)


def _n(value: int | float | Withheld, href: str, lang: str) -> Num:
    """A count of people as printed: the number, or in words when the public dashboard withholds it."""
    return Num(value, href, _withheld_text(lang) if value is WITHHELD else None)


@dataclass(frozen=True)
class Link:
    """A public address printed in full (on paper a reader types it), linked on screen."""

    href: str

    @property
    def shown(self) -> str:
        return self.href


Piece = str | Num | Link
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
    sources: list[Paragraph] = field(default_factory=list)  # where the public checks the figures
    issuer: list[str] = field(default_factory=list)  # the signature block, line by line


def _join(items: list[str], lang: str) -> str:
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    last = " y " if lang == "es" else " and "
    if lang == "es" and items[-1][:1].lower() == "i" and items[-1][:2].lower() not in ("ia", "ie", "io", "iu"):
        last = " e "  # "y" becomes "e" before an i- sound: "Transparencia e Integridad"
    return ", ".join(items[:-1]) + last + items[-1]


_FEMININE = ("secretaría", "unidad", "coordinación", "contraloría", "dirección", "subsecretaría", "comisión")
DEFAULT_AUTHORITY = "Secretaría de la Contraloría del Estado"
DEFAULT_AUTHORITY_EN = "State Comptroller's Office"


def _article(name: str) -> str:
    return "la" if name.split(" ", 1)[0].lower() in _FEMININE else "el"


def _acting_unit(unit: str, authority: str) -> str | None:
    """The unit through which the Secretaría acts: "Unidad de Ética …" of "Secretaría … — Unidad de Ética …";
    the unit as given when it is not under the authority's name; None when it is the authority itself."""
    if unit.startswith(authority):
        return unit[len(authority):].strip(" —–-,·") or None
    return unit.strip() or None


@dataclass(frozen=True)
class Voice:
    """Who speaks: the Secretaría is the subject, named in full once with the unit it acts through
    (``first``), then by its short name (``later``)."""

    first: str
    later: str

    @classmethod
    def of(cls, unit: str, authority: str, authority_en: str, lang: str) -> "Voice":
        acting = _acting_unit(unit, authority)
        if lang == "es":
            article = _article(authority)
            through = f", a través {'de la' if _article(acting) == 'la' else 'del'} {acting}," if acting else ""
            return cls(f"{article.capitalize()} {authority}{through}", f"{article} {authority.split(' ', 1)[0]}")
        english = authority_en.removeprefix("the ").removeprefix("The ")
        through = f", through its {acting}," if acting else ""
        return cls(f"The {english} ({authority}){through}", f"the {english.split()[-1]}")


def _noun(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


def _quoted(titles: list[str], lang: str) -> str:
    """Course titles in quotation marks: a title with commas in it stays one title."""
    return _join([f"“{t}”" for t in titles], lang)


def _when(figures: dict[str, Any], lang: str) -> tuple[str, str, int, int]:
    year, month = (int(p) for p in figures["month"].split("-"))
    name = _MONTHS[lang][month - 1]
    return (f"{name} de {year}" if lang == "es" else f"{name} {year}"), name, year, month


def _moment_text(moment: datetime, lang: str, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    return f"{_day_text(local.date(), lang)}, {local:%H:%M} ({zone})"


def document(figures: dict[str, Any], *, unit: str, zone: ZoneInfo, lang: str = "es",
             published: Publication | None = None, holds: bool = True, public_url: str = "",
             authority: str = DEFAULT_AUTHORITY, authority_en: str = DEFAULT_AUTHORITY_EN,
             signatory: tuple[str, str] | None = None, now: datetime | None = None) -> Document:
    """The bulletin's sentences for ``figures`` (from ``bulletin_figures``), in ``lang``, as a press office
    writes them: the Secretaría (``authority``; ``authority_en`` in English) the subject, named once with
    the unit it acts through (``unit``, the responsible unit); numbers in Mexican style (1,949); every
    number linked to the public page that shows it (``public_url``: where the public reaches reporting);
    ``signatory`` (name, position) signs it. A month not over at the figures' moment (``as_of``, else
    ``now``) says so in its title and sentences: its figures are preliminary. ``published`` names the
    publication they are (``holds``: whether they still resolve to the published digest)."""
    if lang not in LANGUAGES:
        raise BulletinError("lang", f"one of {', '.join(LANGUAGES)}, got {lang!r}")
    base = public_url.rstrip("/")
    q = queries(figures, base)
    m, ytd = figures["month_figures"], figures["year_to_date"]
    when, month_name, year, month = _when(figures, lang)
    es = lang == "es"
    voice = Voice.of(unit, authority, authority_en, lang)
    moment = datetime.fromisoformat(figures["as_of"]) if figures["as_of"] else (now or datetime.now(UTC))
    over = month_over(figures["month"], moment, zone)
    known = moment.astimezone(zone).date()
    known_text = _day_text(known, lang)
    # "en noviembre de 2026" once the month is over; "en lo que va de diciembre de 2026" while it runs.
    in_when = (f"en {when}" if over else f"en lo que va de {when}") if es else \
        (f"in {when}" if over else f"so far in {when}")
    sessions = Num(m["sessions_delivered"], q["month"])
    courses = Num(m["courses_delivered"], q["month"])
    trained = _n(m["servants_trained"], q["month"], lang)
    virtual = _n(m["by_modality"]["virtual"], q["modality"], lang)
    hybrid = _n(m["by_modality"]["hybrid"], q["modality"], lang)
    paragraphs: list[Paragraph] = []

    # 1. The Secretaría, through its unit, and the courses delivered in the month (SECOES, first paragraph).
    n_sessions, n_courses = m["sessions_delivered"], m["courses_delivered"]
    if n_sessions:
        titles = _quoted(m["course_titles"], lang)
        verb = ("impartió" if over else "ha impartido") if es else ("delivered" if over else "has delivered")
        paragraphs.append(
            [f"{voice.first} mantiene una campaña permanente de capacitación y {in_when} {verb} un total de ",
             sessions, f" {_noun(n_sessions, 'curso', 'cursos')}, de ", courses,
             f" {_noun(n_courses, 'título', 'títulos')} de su catálogo: {titles}."] if es else
            [f"{voice.first} runs a permanent training campaign and {in_when} {verb} a total of ", sessions,
             f" {_noun(n_sessions, 'course', 'courses')}, covering ", courses,
             f" {_noun(n_courses, 'title', 'titles')} from its catalogue: {titles}."])
    else:
        paragraphs.append([f"{voice.first} mantiene una campaña permanente de capacitación; {in_when} "
                           f"{'no impartió' if over else 'aún no ha impartido'} cursos." if es else
                           f"{voice.first} runs a permanent training campaign; {in_when} it "
                           f"{'delivered no courses' if over else 'has delivered no courses yet'}."])

    # 2. Servants trained in the month: state and municipal, through virtual platforms (SECOES, STRC).
    month_levels = m["by_government_level"]
    state_m, municipal_m = (_n(month_levels["state"], q["month_level"], lang),
                            _n(month_levels["municipal"], q["month_level"], lang))
    opening = in_when[0].upper() + in_when[1:]
    if not m["servants_trained"]:
        sentence: Paragraph = [f"{opening} {'no se capacitó' if over else 'aún no se ha capacitado'} a ningún "
                               "servidor público." if es else
                               f"{opening}, no public servant {'was' if over else 'has been'} trained."]
    elif es:
        sentence = [f"{opening} {'se capacitaron' if over else 'se han capacitado'} ", trained,
                    f" {_noun(m['servants_trained'], 'servidor público', 'servidores públicos')}: ", state_m,
                    " de instituciones estatales y ", municipal_m, " de instituciones municipales; de ellos, ", virtual,
                    f" {'lo hicieron' if over else 'lo han hecho'} a través de plataformas virtuales."]
    else:
        sentence = [f"{opening}, ", trained,
                    f" {_noun(m['servants_trained'], 'public servant', 'public servants')} "
                    f"{'were' if over else 'have been'} trained: ", state_m, " from state institutions and ",
                    municipal_m, " from municipal institutions; ", virtual, " of them through virtual platforms."]
    if m["by_modality"]["hybrid"]:
        sentence += ([" Además, ", hybrid, f" {'participaron' if over else 'han participado'} en sesiones híbridas "
                      "(en sala y en línea a la vez), que no se cuentan como plataformas virtuales."] if es else
                     [" In addition, ", hybrid, f" {'took' if over else 'have taken'} part in hybrid sessions "
                      "(in a room and online at once), which are not counted as virtual platforms."])
    paragraphs.append(sentence)

    # 3. Distinct servants January to the month, state and municipal (SECOES third paragraph); in January
    # they are the month's own, said above.
    levels = ytd["by_government_level"]
    state, municipal = _n(levels["state"], q["year_level"], lang), _n(levels["municipal"], q["year_level"], lang)
    span = (when if month == 1 else f"enero a {month_name} de {year}") if es else (
        when if month == 1 else f"January to {month_name} {year}")
    if month > 1:
        since = (f"De enero a {month_name} de {year}" if over else f"Del 1 de enero al {known_text}") if es else \
            (f"From January to {month_name} {year}" if over else f"From January 1 to {known_text}")
        total = _n(ytd["servants_trained"], q["year_to_date"], lang)
        paragraphs.append(
            [f"{since}, {voice.later} {'capacitó' if over else 'ha capacitado'} a un total de ", total,
             " servidores públicos, cada persona contada una vez: ", state, " de instituciones estatales y ",
             municipal, " de instituciones municipales."] if es else
            [f"{since}, {voice.later} {'trained' if over else 'has trained'} a total of ", total,
             " public servants, each person counted once: ", state, " from state institutions and ", municipal,
             " from municipal institutions."])

    # 4. Plan attainment: only with a declared plan.
    plan = figures.get("plan")
    if plan:
        paragraphs.append(_plan_paragraph(plan, q, when, span, lang))
        if "outside_plan" in plan:  # absent from bulletins published before it was reported apart
            paragraphs.append(_outside_plan_paragraph(plan["outside_plan"], q["plan"], when, span, lang))
    else:
        paragraphs.append([f"Avance del plan: no se declaró un plan anual de capacitación para {when}, por lo que no "
                           "hay avance contra el plan que informar." if es else
                           f"Plan attainment: no annual training plan was declared for {when}, so there is no "
                           "attainment against a plan to report."])

    # 5. Compliance with the training requirements in force (only when there are any).
    if figures.get("compliance"):
        paragraphs += [_compliance_sentence(figures, r, lang, q["compliance"])
                       for r in figures["compliance"]["requirements"]]

    topics = [[t["topic"], ": ", _n(t["servants_trained"], q["topics"], lang),
               "" if t["servants_trained"] is WITHHELD else  # "Tema: cifra reservada"
               " servidores públicos capacitados" if es else " public servants trained"] for t in ytd["topics"]]
    sources: list[Paragraph] = [
        ["Las cifras pueden consultarse en el tablero público del programa, ", Link(q["month"].split("#")[0]),
         ", y en los datos abiertos del año, sin datos personales, ", Link(q["open_data"]), "."] if es else
        ["The figures can be checked on the programme's public dashboard, ", Link(q["month"].split("#")[0]),
         ", and in the year's open data, with no personal data, ", Link(q["open_data"]), "."]]
    closing: list[Paragraph] = [[
        "Nota metodológica: servidores públicos capacitados son personas distintas con al menos una constancia "
        "vigente en sesiones iniciadas en el periodo, en la zona horaria del programa (quien sirve en una institución "
        "estatal y en una municipal se cuenta en ambas); cursos impartidos son sesiones no canceladas con al menos una "
        "persona presente. Como en el tablero público, las cifras pequeñas de personas (y las que permitirían "
        "deducirlas) se publican como «cifra reservada» para proteger a las personas." if es else
        "Methodology: public servants trained are distinct people with at least one valid certificate in sessions "
        "started in the period, in the programme's time zone (someone serving in a state and a municipal institution "
        "counts in both); courses delivered are sessions not cancelled with at least one person present. As on the "
        "public dashboard, small counts of people (and those they could be worked out from) are printed as "
        "\u201cwithheld\u201d to protect the people behind them."]]
    if over:
        byline = (f"Cifras conocidas al {_moment_text(moment, lang, zone)}." if es else
                  f"Figures as known on {_moment_text(moment, lang, zone)}.")
    else:  # preliminary: a month's bulletin is published once the month is over (``month_over``)
        byline = (f"Mes en curso: cifras preliminares, conocidas al {_moment_text(moment, lang, zone)}; el boletín "
                  "del mes se publica cuando concluya." if es else
                  f"Month in progress: preliminary figures, as known on {_moment_text(moment, lang, zone)}; the "
                  "month's bulletin is published once the month is over.")
    if published is not None:
        byline += (f" Publicado como {published.report_id} (sha256 {published.figures_digest[:16]}…)." if es else
                   f" Published as {published.report_id} (sha256 {published.figures_digest[:16]}…).")
        if not holds:
            closing.append([
                "Aviso: resueltas de nuevo al mismo momento, las cifras ya no coinciden con las publicadas (llegaron "
                "después hechos fechados antes de ese momento); este boletín imprime las cifras publicadas." if es else
                "Notice: resolved again as of the same moment, the figures no longer match the published ones (facts "
                "dated before that moment arrived later); this bulletin prints the published figures."])
    title = f"Boletín de capacitación: {when}" if es else f"Training bulletin: {when}"
    if not over:
        title += " (mes en curso)" if es else " (month in progress)"
    return Document(
        title=title,
        byline=byline,
        paragraphs=paragraphs,
        topics_heading=(f"Temas de la capacitación, {span if over else f'del 1 de enero al {known_text}'}" if es else
                        f"Training topics, {span if over else f'January 1 to {known_text}'}"),
        topics=topics, closing=closing, sources=sources,
        issuer=_issuer(signatory, authority, authority_en, lang))


def _issuer(signatory: tuple[str, str] | None, authority: str, authority_en: str, lang: str) -> list[str]:
    """The signature block of an official document: who signs, their position, the Secretaría."""
    name, position = (part.strip() for part in (signatory or ("", "")))
    organisation = authority if lang == "es" else f"{authority_en.removeprefix('the ')} ({authority})"
    if not (name and position):
        return ["Sin firma: no se ha designado a la persona servidora pública que firma este boletín." if lang == "es"
                else "Unsigned: no official has been designated to sign this bulletin.", organisation]
    return ["Atentamente" if lang == "es" else "Issued by", name, position, organisation]


def _percent(share: float | None, lang: str) -> str:
    if share is None:
        return "sin meta programada" if lang == "es" else "nothing planned"
    if share is WITHHELD:  # the dashboard withholds it: it would give a withheld count away
        return "porcentaje reservado" if lang == "es" else "rate withheld"
    # Mexican style, as every number of the bulletin (1,637.5 %); English writes the sign close (12.5%).
    return f"{share * 100:,.1f} %" if lang == "es" else f"{share * 100:,.1f}%"


def _plan_paragraph(plan: dict[str, Any], q: dict[str, str], when: str, span: str, lang: str) -> Paragraph:
    """Attainment of the annual plan in the month and January to it, over the cells the plan names (each
    counted in its own cell, the cells added up as their targets are); every number links to where it is
    shown."""
    m, y = plan["month"], plan["year_to_date"]
    p = q["plan"]
    if lang == "es":
        return [f"Avance del plan anual de capacitación (versión {plan['version']}; cursos y personas contados en "
                f"cada mes, institución y tema programados): en {when} se impartieron ",
                Num(m["sessions_delivered"], p), " de ", Num(m["planned_sessions"], p),
                f" cursos programados ({_percent(m['sessions_attainment'], lang)}) y se capacitó a ",
                _n(m["servants_trained"], p, lang), " de ", Num(m["planned_people"], p),
                f" servidores públicos previstos ({_percent(m['people_attainment'], lang)}); de {span}, ",
                Num(y["sessions_delivered"], p), " de ", Num(y["planned_sessions"], p),
                f" cursos ({_percent(y['sessions_attainment'], lang)}) y ", _n(y["servants_trained"], p, lang), " de ",
                Num(y["planned_people"], p), f" servidores públicos ({_percent(y['people_attainment'], lang)})."]
    return [f"Annual training plan attainment (version {plan['version']}; courses and people counted in each "
            f"planned month, institution and topic): in {when}, ",
            Num(m["sessions_delivered"], p), " of ", Num(m["planned_sessions"], p),
            f" planned courses were delivered ({_percent(m['sessions_attainment'], lang)}) and ",
            _n(m["servants_trained"], p, lang), " of ", Num(m["planned_people"], p),
            f" planned public servants trained ({_percent(m['people_attainment'], lang)}); "
            f"{'from' if ' to ' in span else 'in'} {span}, ",
            Num(y["sessions_delivered"], p), " of ", Num(y["planned_sessions"], p),
            f" courses ({_percent(y['sessions_attainment'], lang)}) and ", _n(y["servants_trained"], p, lang), " of ",
            Num(y["planned_people"], p), f" public servants ({_percent(y['people_attainment'], lang)})."]


def _outside_plan_paragraph(outside: dict[str, Any], p: str, when: str, span: str, lang: str) -> Paragraph:
    """Delivery in cells the plan does not name, beside the attainment and never counted in it."""
    m, y = outside["month"], outside["year_to_date"]
    if lang == "es":
        return ["Fuera del programa (meses, instituciones y temas que el plan no prevé, contados igual; no cuenta "
                f"en el avance): en {when} se impartieron ",
                Num(m["sessions_delivered"], p), " cursos y se capacitó a ", _n(m["servants_trained"], p, lang),
                f" servidores públicos; de {span}, ", Num(y["sessions_delivered"], p), " cursos y ",
                _n(y["servants_trained"], p, lang), " servidores públicos."]
    return ["Outside the plan (months, institutions and topics it does not name, counted alike; not counted as "
            f"attainment): in {when}, ", Num(m["sessions_delivered"], p),
            " courses were delivered and ", _n(m["servants_trained"], p, lang), " public servants trained; "
            f"{'from' if ' to ' in span else 'in'} {span}, ", Num(y["sessions_delivered"], p), " courses and ",
            _n(y["servants_trained"], p, lang), " public servants."]


def _day_text(day: date, lang: str) -> str:
    months = _MONTHS[lang]
    return f"{day.day} de {months[day.month - 1]} de {day.year}" if lang == "es" else \
        f"{months[day.month - 1]} {day.day}, {day.year}"


def _compliance_sentence(figures: dict[str, Any], r: dict[str, Any], lang: str, href: str) -> Paragraph:
    """One requirement's compliance on the bulletin's day, the requirement named as a requirement (its
    title is not a course's); every number links to the dashboard's compliance panel (``href``)."""
    on = _day_text(date.fromisoformat(figures["compliance"]["on"]), lang)
    es = lang == "es"
    what = f"el requisito de capacitación “{r['title']}”" if es else f"the “{r['title']}” training requirement"
    if not r["course_id"] and r.get("competency"):
        what += (f", que se acredita con la competencia “{r['competency']}”," if es else
                 f", met by attaining the “{r['competency']}” competency,")
    required, compliant, exempt, overdue, due = (_n(r[k], href, lang)
                                                 for k in ("required", "compliant", "exempt", "overdue", "due"))
    if r["rate"] is None:
        return ([f"Al {on}, ninguna persona servidora pública estaba obligada a cumplir con {what.rstrip(',')} (",
                 required, " obligados, ", exempt, " exentos)."] if es else
                [f"On {on}, no public servant was subject to {what.rstrip(',')} (", required, " required, ", exempt,
                 " exempt)."])
    if any(r[k] is WITHHELD for k in ("required", "compliant", "due", "overdue", "exempt", "rate")):
        # Some counts withheld, as on the dashboard: each figure under its own label, none left to read around it.
        rate = Num(r["rate"], href, _withheld_text(lang) if r["rate"] is WITHHELD else _percent(r["rate"], lang))
        return ([f"Al {on}, de las y los servidores públicos obligados a cumplir con {what.rstrip(',')} (", required,
                 "), cumplían: ", compliant, "; exentos: ", exempt, "; habían rebasado su plazo sin cumplirlo: ",
                 overdue, "; aún en plazo: ", due, "; porcentaje de cumplimiento: ", rate, "."] if es else
                [f"On {on}, of the public servants subject to {what.rstrip(',')} (", required, "): met it: ",
                 compliant, "; exempt: ", exempt, "; past their deadline without meeting it: ", overdue,
                 "; still within their deadline: ", due, "; compliance rate: ", rate, "."])
    rate = Num(r["rate"], href, _percent(r["rate"], lang))
    if es:
        return [f"Al {on}, el ", rate, f" de las y los servidores públicos obligados cumplía con {what} (", compliant,
                " de ", required, " obligados, ", exempt, f" {_noun(r['exempt'], 'exento', 'exentos')}); ", overdue,
                f" {_noun(r['overdue'], 'había', 'habían')} rebasado su plazo sin cumplirlo y ", due,
                f" aún {_noun(r['due'], 'estaba', 'estaban')} en plazo."]
    return [f"On {on}, ", rate, f" of the public servants subject to {what} had met it (", compliant, " of ",
            required, " required, ", exempt, " exempt); ", overdue,
            " had passed their deadline without meeting it and ", due,
            f" {_noun(r['due'], 'was', 'were')} still within their deadline."]


def _number(value: int | float) -> str:
    """Mexican style: thousands with a comma, decimals with a point (1,949; 1,949.5)."""
    return f"{value:,}" if isinstance(value, int) else f"{value:,g}"


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
    for paragraph in doc.sources:
        out += [line(paragraph), ""]
    if doc.issuer:
        out += ["  \n".join(f"**{text}**" if i == 1 and len(doc.issuer) > 2 else text
                              for i, text in enumerate(doc.issuer)), ""]
    for paragraph in doc.closing:
        out += [f"_{line(paragraph)}_", ""]
    return "\n".join(out)


_TEMPLATES = Environment(loader=PackageLoader("services.reporting", "templates"), autoescape=True,
                         keep_trailing_newline=True, undefined=StrictUndefined)
_STYLE = ("body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;line-height:1.5;"
          "color:#222}h1{color:#7a1c2e}a.n{font-weight:bold;color:#7a1c2e}.by{color:#555}.note{color:#555;"
          "font-size:.9rem}.issuer{margin:2.5rem 0 1.5rem;text-align:center}.issuer p{margin:0}"
          ".issuer .name{font-weight:bold;margin-top:2.5rem}")


def render_html(doc: Document, *, lang: str = "es") -> str:
    """The bulletin as one HTML page (``templates/bulletin.html``): every number a link to where it is shown."""
    def pieces(paragraph: Paragraph) -> list[dict[str, Any]]:
        return [{"text": p, "href": None, "number": False} if isinstance(p, str) else
                {"text": p.shown, "href": p.href, "number": isinstance(p, Num)} for p in paragraph]

    classes = ["lead", "name", "position", "authority"] if len(doc.issuer) == 4 else ["unsigned", "authority"]
    return _TEMPLATES.get_template("bulletin.html").render(
        lang=lang, doc=doc, style=_STYLE, paragraphs=[pieces(p) for p in doc.paragraphs],
        topics=[pieces(t) for t in doc.topics], sources=[pieces(p) for p in doc.sources],
        closing=[pieces(p) for p in doc.closing],
        issuer=list(zip(classes, doc.issuer, strict=True)) if doc.issuer else [])


def plain(paragraph: Paragraph) -> str:
    """A paragraph as text, numbers in place (the PDF prints this)."""
    return "".join(p if isinstance(p, str) else p.shown for p in paragraph)

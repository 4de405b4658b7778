"""The monthly bulletin: the sentences a comptroller's press office publishes, each number a link to the
public dashboard panel that shows it. Pure (domain side): numbers from a ``Snapshot``, text from the
numbers; no I/O.

``bulletin_figures(snapshot, year, month)`` computes the numbers; ``render_markdown`` / ``render_html``
write them in the programme's language (Spanish by default, English with ``lang="en"``) following the
sentences of the Quintana Roo (SECOES) and Guanajuato (STRC) bulletins; the PDF
(``services.reporting.bulletin_pdf``) prints the same paragraphs. ``document`` writes them as a press
office does: the Secretaría the subject, named once with the unit it acts through; Mexican number style
(2,533); a month still in progress (``month_over``) said to be so; links absolute to reporting's public
address and only to public pages (``queries``); an issuer block. Every number is exactly a figure of
``GET /reports/figures`` (same period, same ``by``, same ``as_of``), the comptroller's check of it:

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
  the as-of moment, ``Snapshot.plan_against_actual`` through the month (``GET /reports/plan``), over the
  cells the plan names only (month x institution x topic): in the month, the ``month_total`` row —
  sessions delivered in the month's planned cells / sessions planned, servants trained in them / people
  planned, each cell's distinct sessions and persons added up over the cells as the targets are;
  January to the month, the ``total`` row. Delivery in cells the plan does not name
  is its own sentence, "fuera del programa" (``outside_plan``'s ``month_total`` and ``total``), never
  counted as attainment. Without a plan the bulletin says that none was declared;
* **compliance** (only when a training requirement is in force): for each requirement in force on the
  bulletin's day — the month's last day, or the as-of date when that is earlier (today, for a bulletin
  of the current month asked without ``as_of``) — the servants required, compliant, due, overdue and
  exempt and the rate compliant / (required − exempt), exactly the ``by_requirement`` row of
  ``GET /reports/compliance?on=<day>&requirement_id=…`` (same ``as_of``): "Al 30 de noviembre de 2026,
  el 54.5 % de las y los servidores públicos obligados cumplía con el requisito de capacitación “Código de
  Ética” (6 de 11 obligados, 0 exentos); 4 habían rebasado su plazo sin cumplirlo y 1 aún estaba en plazo".

``figures_digest`` is the sha256 of the canonical JSON of the numbers: what publishing records. What is
printed for the press is ``as_shown`` of them: each count of people as the public dashboard panel it links
to shows it, "cifra reservada" where the dashboard blanks it (``shown_figures``).
"""

from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass, field
import calendar
from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import urlencode

from contracts.events import ReportPublished
from services.reporting.compliance import report as compliance_report
from services.reporting.projection.resolved import Period
from services.reporting.projection.snapshot import Snapshot

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
        "plan": plan_attainment(snapshot, year, month),
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


_PLAN_FIGURES = ("planned_sessions", "sessions_delivered", "sessions_attainment", "planned_people",
                 "servants_trained", "people_attainment")
_OUTSIDE_FIGURES = ("sessions_delivered", "servants_trained")


def plan_attainment(snapshot: Snapshot, year: int, month: int) -> dict[str, Any] | None:
    """The plan's part of the bulletin (see the module's docstring): the plan report's rows through the
    month, planned cells and delivery outside the plan apart; None when no plan is in force."""
    if snapshot.plan_in_force(year) is None:
        return None
    report = snapshot.plan_against_actual(year, month)
    outside = report["outside_plan"]
    return {
        "plan_id": report["plan"]["plan_id"], "version": report["plan"]["version"],
        "month": {k: report["month_total"][k] for k in _PLAN_FIGURES},
        "year_to_date": {k: report["total"][k] for k in _PLAN_FIGURES},
        "outside_plan": {"month": {k: outside["month_total"][k] for k in _OUTSIDE_FIGURES},
                         "year_to_date": {k: outside["total"][k] for k in _OUTSIDE_FIGURES}},
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


# ---------------------------------------------------------------- where a reader checks each number


def month_over(month: str, moment: datetime, zone: Any) -> bool:
    """Whether the month ``YYYY-MM`` was over at ``moment``: its last instant (in the programme's zone) has
    come. A date given as ``as_of`` is its last instant, so ``as_of=2026-11-30`` closes November."""
    year, number = month_of(month)
    last = date(year, number, calendar.monthrange(year, number)[1])
    return moment >= datetime.combine(last, time.max, zone)


def _public(base: str, route: str, as_of: str | None, anchor: str, **params: str) -> str:
    return f"{base}{route}?{urlencode({**params, **({'as_of': as_of} if as_of else {})})}#{anchor}"


def queries(figures: dict[str, Any], base: str = "") -> dict[str, str]:
    """Number -> the public page a reader checks it on: reporting's public dashboard of the same period
    (the month, or January to the month) as known at the same ``as_of``, at the panel that shows it; and
    the year's open data. ``base`` is the address the public reaches reporting at, so every link is
    absolute. The comptroller's figure routes need a token: a bulletin never links to them."""
    month, as_of = figures["month"], figures["as_of"]
    year, number = month[:4], str(int(month[5:]))

    def dashboard(period: str, anchor: str) -> str:
        return _public(base, "/dashboard", as_of, anchor, year=year, period=period, month=number)

    return {
        "month": dashboard("month", "kpis"),
        "modality": dashboard("month", "breakdown-modality"),
        "month_level": dashboard("month", "split"),
        "compliance": dashboard("month", "compliance"),
        "year_to_date": dashboard("ytd", "kpis"),
        "year_level": dashboard("ytd", "split"),
        "topics": dashboard("ytd", "breakdown-topic"),
        "coverage": dashboard("ytd", "coverage"),
        "plan": dashboard("ytd", "plan"),
        "open_data": f"{base}/open-data/figures.csv?{urlencode({'year': year})}",
    }


# ---------------------------------------------------------------- what the public dashboard shows


class _Withheld:
    """A count of people (or a rate) the public dashboard blanks: printed in words, never as a number."""

    def __repr__(self) -> str:
        return "WITHHELD"


WITHHELD = _Withheld()
_COMPLIANCE_COUNTS = ("required", "compliant", "due", "overdue", "exempt")


def as_shown(figures: dict[str, Any], month_page: dict[str, Any], ytd_page: dict[str, Any],
             minimum: int) -> dict[str, Any]:
    """``figures`` as the public dashboard shows them, for printing (the published figures, and their
    digest, are untouched): every count of people the bulletin prints is the dashboard's own number on
    the panel it links to — ``month_page`` the month, ``ytd_page`` January to the month, both as known at
    the same ``as_of`` and suppressed as the dashboard suppresses them — and ``WITHHELD`` where the
    dashboard blanks it; a rate is the dashboard's printed rate. A count the dashboard does not show (the
    plan's month, delivery outside the plan in the month) is withheld from 1 to ``minimum`` − 1, its rate
    with it. Sessions and courses delivered are printed as they are: they identify no one.

    A blank is printed as "cifra reservada" ("withheld"), never "menos de 5": the dashboard prints every blank alike (a
    complementary blank is no small count), and telling which blanks are the small ones would tell more."""
    out = json.loads(json.dumps(figures))
    m, ytd = out["month_figures"], out["year_to_date"]

    def count(value: Any, shown: Any = None, *, on_page: bool = True) -> Any:
        if on_page:
            return WITHHELD if shown is None or (minimum > 1 and 0 < value < minimum) else value
        return WITHHELD if minimum > 1 and 0 < value < minimum else value

    totals, ytd_totals = month_page["totals"], ytd_page["totals"]
    m["servants_trained"] = count(m["servants_trained"], totals["servants_trained"])
    m["participations"] = count(m["participations"], totals["participations"])
    modality = {r["category"]: r["servants_trained"] for r in month_page["breakdowns"]["modality"]}
    m["by_modality"] = {k: count(v, modality.get(k, 0)) for k, v in m["by_modality"].items()}
    levels = {r["level"]: r["servants_trained"] for r in month_page["levels"]}
    m["by_government_level"] = {k: count(v, levels.get(k, 0)) for k, v in m["by_government_level"].items()}
    ytd["servants_trained"] = count(ytd["servants_trained"], ytd_totals["servants_trained"])
    levels = {r["level"]: r["servants_trained"] for r in ytd_page["levels"]}
    ytd["by_government_level"] = {k: count(v, levels.get(k, 0)) for k, v in ytd["by_government_level"].items()}
    topics = {r["category"]: r["servants_trained"] for r in ytd_page["breakdowns"]["topic"]}
    ytd["topics"] = [{**t, "servants_trained": count(t["servants_trained"], topics.get(t["topic"]))}
                     for t in ytd["topics"]]
    # As the dashboard orders them: the printed by count, the withheld last by name (their place among the
    # others would bound them).
    ytd["topics"].sort(key=lambda t: (t["servants_trained"] is WITHHELD,
                                      0 if t["servants_trained"] is WITHHELD else -t["servants_trained"], t["topic"]))

    plan = out.get("plan")
    if plan:
        shown_plan = ytd_page.get("plan") or {}
        year, month = plan["year_to_date"], plan["month"]
        total = shown_plan.get("total") or {}
        year["servants_trained"] = count(year["servants_trained"], total.get("servants_trained"))
        for rate in ("people_attainment", "sessions_attainment"):  # as the dashboard prints it
            if year[rate] is not None:
                year[rate] = WITHHELD if total.get(rate) is None else total[rate]
        month["servants_trained"] = count(month["servants_trained"], on_page=False)
        if month["servants_trained"] is WITHHELD:
            month["people_attainment"] = WITHHELD
        if "outside_plan" in plan:
            outside = shown_plan.get("outside_plan") or {}
            plan["outside_plan"]["year_to_date"]["servants_trained"] = count(
                plan["outside_plan"]["year_to_date"]["servants_trained"], outside.get("servants_trained"))
            plan["outside_plan"]["month"]["servants_trained"] = count(
                plan["outside_plan"]["month"]["servants_trained"], on_page=False)

    if out.get("compliance"):
        rows = {r["requirement_id"]: r for r in month_page["compliance"]["requirements"]}
        for r in out["compliance"]["requirements"]:
            shown = rows.get(r["requirement_id"], {})
            for name in _COMPLIANCE_COUNTS:
                r[name] = count(r[name], shown.get(name))
            if r["rate"] is not None:  # as the dashboard prints it (to 0.1 %), or withheld with it
                r["rate"] = WITHHELD if shown.get("rate") is None else shown["rate"]
    return out


def shown_figures(snapshot: Snapshot, figures: dict[str, Any], *, minimum: int, unit: str,
                  today: date | None = None) -> dict[str, Any]:
    """``as_shown`` with the public dashboard's pages the bulletin links to (the month and January to the
    month, as known at the figures' ``as_of``), decided as the dashboard decides them."""
    from services.reporting.dashboard import dashboard_data  # the dashboard is drawn from the same numbers

    year, month = month_of(figures["month"])
    as_of = datetime.fromisoformat(figures["as_of"]) if figures["as_of"] else None
    pages = [dashboard_data(snapshot, year, as_of=as_of, unit=unit, minimum=minimum, period=period, month=month,
                            today=today) for period in ("month", "ytd")]
    return as_shown(figures, *pages, minimum)


def _withheld_text(lang: str) -> str:
    return "cifra reservada" if lang == "es" else "withheld"


# ---------------------------------------------------------------- the text


@dataclass(frozen=True)
class Num:
    """A number in a sentence and the public page a reader checks it on (absolute address)."""

    value: int | float | _Withheld
    href: str
    text: str | None = None  # how it is printed when not as the bare number (a rate: "54.5 %")

    @property
    def shown(self) -> str:
        if self.text is not None:
            return self.text
        return _withheld_text("es") if self.value is WITHHELD else _number(self.value)


def _n(value: Any, href: str, lang: str) -> Num:
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
    if lang == "es" and items[-1][:1].lower() == "i" and not items[-1][:2].lower() in ("ia", "ie", "io", "iu"):
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


def _moment_text(moment: datetime, lang: str, zone: Any) -> str:
    local = moment.astimezone(zone)
    return f"{_day_text(local.date(), lang)}, {local:%H:%M} ({zone})"


def document(figures: dict[str, Any], *, unit: str, zone: Any, lang: str = "es",
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
        raise BulletinError(f"lang: one of {', '.join(LANGUAGES)}, got {lang!r}")
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
                     [" In addition, ", hybrid, f" {'took' if over else 'have taken'} part in hybrid sessions (in a room "
                      "and online at once), which are not counted as virtual platforms."])
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
        "persona presente. Como en el tablero público, las cifras pequeñas de personas (y las que permitirían deducirlas) "
        "se publican como «cifra reservada» para proteger a las personas." if es else
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
            required, " required, ", exempt, " exempt); ", overdue, " had passed their deadline without meeting it and ",
            due, f" {_noun(r['due'], 'was', 'were')} still within their deadline."]


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


_STYLE = ("body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;line-height:1.5;"
          "color:#222}h1{color:#7a1c2e}a.n{font-weight:bold;color:#7a1c2e}.by{color:#555}.note{color:#555;"
          "font-size:.9rem}.issuer{margin:2.5rem 0 1.5rem;text-align:center}.issuer p{margin:0}"
          ".issuer .name{font-weight:bold;margin-top:2.5rem}")


def render_html(doc: Document, *, lang: str = "es") -> str:
    def line(paragraph: Paragraph) -> str:
        return "".join(html.escape(p) if isinstance(p, str) else
                       f'<a class="n" href="{html.escape(p.href)}">{html.escape(p.shown)}</a>' if isinstance(p, Num) else
                       f'<a href="{html.escape(p.href)}">{html.escape(p.shown)}</a>' for p in paragraph)

    body = [f"<h1>{html.escape(doc.title)}</h1>", f'<p class="by">{html.escape(doc.byline)}</p>']
    body += [f"<p>{line(p)}</p>" for p in doc.paragraphs]
    if doc.topics:
        body.append(f"<h2>{html.escape(doc.topics_heading)}</h2><ul>")
        body += [f"<li>{line(t)}</li>" for t in doc.topics]
        body.append("</ul>")
    body += [f'<p class="sources">{line(p)}</p>' for p in doc.sources]
    if doc.issuer:
        classes = ["lead", "name", "position", "authority"] if len(doc.issuer) == 4 else ["unsigned", "authority"]
        body.append('<footer class="issuer" id="issuer">' + "".join(
            f'<p class="{c}">{html.escape(text)}</p>' for c, text in zip(classes, doc.issuer, strict=True)) + "</footer>")
    body += [f'<p class="note">{line(p)}</p>' for p in doc.closing]
    return (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>{html.escape(doc.title)}</title>'
            f"<style>{_STYLE}</style></head><body>{''.join(body)}</body></html>\n")


def plain(paragraph: Paragraph) -> str:
    """A paragraph as text, numbers in place (the PDF prints this)."""
    return "".join(p if isinstance(p, str) else p.shown for p in paragraph)

"""The monthly bulletin: the sentences a comptroller's press office publishes, each number a link to the
public dashboard panel that shows it. Pure (domain side): numbers from a ``Snapshot``, text from the
numbers; no I/O.

``bulletin_figures(snapshot, year, month)`` computes the numbers (this module, with what is published and
what the public dashboard shows of them); ``services.reporting.bulletin_text``'s ``render_markdown`` /
``render_html`` write them in the programme's language (Spanish by default, English with ``lang="en"``) following the
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

import calendar
import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from contracts.events import ReportPublished
from probidad.shared.errors import Kind, RuleViolation

from services.reporting.compliance import report as compliance_report
from services.reporting.domain.resolved import Period
from services.reporting.domain.snapshot import Snapshot

KIND = "bulletin"
_LEVELS = ("state", "municipal")
_MODALITIES = ("virtual", "hybrid", "in_person")


class BulletinError(RuleViolation):
    """A bulletin that cannot be written or published as asked (a bad month, an unknown language, a month
    still in progress, a moment still to come)."""

    def __init__(self, field: str, message: str, kind: Kind = "invalid") -> None:
        super().__init__(field, message, kind)


class NotPublished(BulletinError):
    """No bulletin was published under what was asked for (a month, a report id)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message, "not_found")


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
        raise BulletinError("month", f"expected YYYY-MM (e.g. 2026-11), got {text!r}") from error
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
        raise BulletinError("as_of", "a published bulletin needs the moment its figures are as of")
    return Publication(report_id=report_id, month=figures["month"], as_of=datetime.fromisoformat(figures["as_of"]),
                       figures=figures, figures_digest=figures_digest(figures), published_by=published_by)


# ---------------------------------------------------------------- where a reader checks each number


def month_over(month: str, moment: datetime, zone: ZoneInfo) -> bool:
    """Whether the month ``YYYY-MM`` was over at ``moment``: its last instant (in the programme's zone) has
    come. A date given as ``as_of`` is its last instant, so ``as_of=2026-11-30`` closes November."""
    year, number = month_of(month)
    last = date(year, number, calendar.monthrange(year, number)[1])
    return moment >= datetime.combine(last, time.max, zone)


def ensure_publishable(month: str, moment: datetime, now: datetime, zone: ZoneInfo) -> None:
    """A bulletin is published as known at a moment that has come (facts still to come would change its
    figures) and of a month over by then: preliminary figures are rendered, never published."""
    if moment > now:
        raise BulletinError("as_of", "must not be in the future (facts still to come would change the figures)")
    if not month_over(month, moment, zone):
        raise BulletinError("month", f"{month} is still in progress at {moment.astimezone(zone).isoformat()} "
                            "(programme time zone); its bulletin can be published once the month is over", "conflict")


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


class Withheld:
    """A count of people (or a rate) the public dashboard blanks: printed in words, never as a number."""

    def __repr__(self) -> str:
        return "WITHHELD"


WITHHELD = Withheld()
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

    def count(value: int, shown: object = None, *, on_page: bool = True) -> int | Withheld:
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

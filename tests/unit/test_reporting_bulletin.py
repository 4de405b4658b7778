"""The monthly bulletin on the generated Quintana Roo year: its numbers are the plan's and the ground
truth's, every number links to the figure query that returns it, and the sentences are the bulletins'."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, date, datetime
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest

from contracts.envelope import seal
from contracts.events import PlanTarget, TrainingPlanDeclared
from probidad.ops.programme import COURSES, bulletin_plan, generate
from services.reporting import bulletin
from services.reporting.domain import Ledger, Period, fact_from

ZONE = ZoneInfo("America/Mexico_City")
UNIT = "Secretaría de la Contraloría del Estado"


@pytest.fixture(scope="module")
def programme():
    return generate(bulletin_plan())


@pytest.fixture(scope="module")
def snapshot(programme):
    ledger = Ledger()
    ledger.apply_all(f for e in programme.envelopes if (f := fact_from(e)))
    return ledger.snapshot(ZONE)


@pytest.fixture(scope="module")
def november(snapshot):
    return bulletin.bulletin_figures(snapshot, 2026, 11)


def test_novembers_numbers_are_the_plans(programme, november):
    plan = programme.plan
    month = november["month_figures"]
    assert month["sessions_delivered"] == plan.months[11].sessions_delivered == 11
    assert month["servants_trained"] == plan.months[11].servants_trained == 180
    # November is virtual only in the plan: all 180 through virtual platforms, nobody hybrid.
    assert month["by_modality"] == {"virtual": 180, "hybrid": 0, "in_person": 0}
    assert november["year_to_date"]["servants_trained"] == plan.distinct_trained == 2533


def test_titles_levels_and_topics_are_the_ground_truths(programme, november):
    delivered = [d for d in programme.delivered if (d.year, d.month) == (2026, 11)]
    titles = {title for code, title, *_ in COURSES if f"course-{code.lower()}" in {d.course_id for d in delivered}}
    month = november["month_figures"]
    assert set(month["course_titles"]) == titles and len(month["course_titles"]) == len(titles)
    assert month["courses_delivered"] == len({d.course_id for d in delivered})
    year = [c for c in programme.completions if c.year == 2026 and c.month <= 11]
    levels: dict[str, set[str]] = defaultdict(set)
    topics: dict[str, set[str]] = defaultdict(set)
    for c in year:
        levels[c.government_level].add(c.servant_id)
        topics[c.topic].add(c.servant_id)
    assert november["year_to_date"]["by_government_level"] == {k: len(v) for k, v in levels.items()}
    assert {t["topic"]: t["servants_trained"] for t in november["year_to_date"]["topics"]} == \
        {k: len(v) for k, v in topics.items()}
    in_month: dict[str, set[str]] = defaultdict(set)
    for c in year:
        if c.month == 11:
            in_month[c.government_level].add(c.servant_id)
    assert month["by_government_level"] == {lv: len(in_month[lv]) for lv in ("state", "municipal")}


def test_every_number_links_to_the_query_that_returns_it(snapshot, november):
    doc = bulletin.document(november, unit=UNIT, zone=ZONE)
    numbers = [p for para in doc.paragraphs + doc.topics for p in para if isinstance(p, bulletin.Num)]
    assert len(numbers) >= 10
    for number in numbers:
        url = urlsplit(number.href)
        assert url.path == "/reports/figures"
        params = {k: v[0] for k, v in parse_qs(url.query).items()}
        if "month" in params:
            period = Period.month(*(int(x) for x in params["month"].split("-")))
        else:
            period = Period(date.fromisoformat(params["from"]), date.fromisoformat(params["to"]))
        rows = snapshot.figures(period, params.get("by"))
        measures = {r[m] for r in rows for m in ("sessions_delivered", "courses_delivered", "servants_trained")}
        assert number.value in measures, (number, rows)


def test_the_spanish_markdown_says_the_secoes_sentences_with_the_exact_numbers(november):
    text = bulletin.render_markdown(bulletin.document(november, unit=UNIT, zone=ZONE))
    assert ("La Secretaría de la Contraloría del Estado mantiene una campaña permanente de capacitación y durante "
            "noviembre de 2026 ha impartido un total de [11](/reports/figures?month=2026-11) cursos sobre ") in text
    assert "Código de Ética" in text and "Conflicto de Interés" in text
    assert ("[180](/reports/figures?month=2026-11&by=modality) servidores públicos se han capacitado a través de "
            "plataformas virtuales") in text
    assert ("De enero a noviembre de 2026, la Secretaría de la Contraloría del Estado ha capacitado a un total de "
            "[2533](/reports/figures?from=2026-01-01&to=2026-11-30) servidores públicos") in text
    assert "de instituciones estatales y" in text and "de instituciones municipales" in text
    assert "no se declaró un plan anual de capacitación para noviembre de 2026" in text
    assert "Más de" not in text  # exact numbers, never rounded


def test_html_holds_the_same_links_and_english_is_there_on_request(november):
    doc = bulletin.document(november, unit=UNIT, zone=ZONE)
    page = bulletin.render_html(doc)
    assert page.startswith("<!doctype html>") and 'lang="es"' in page
    assert '<a class="n" href="/reports/figures?from=2026-01-01&amp;to=2026-11-30">2533</a>' in page
    english = bulletin.render_markdown(bulletin.document(november, unit="The comptroller", zone=ZONE, lang="en"))
    assert "From January to November 2026, The comptroller trained a total of [2533]" in english
    assert "through virtual platforms" in english
    with pytest.raises(bulletin.BulletinError, match="lang"):
        bulletin.document(november, unit=UNIT, zone=ZONE, lang="fr")


def test_an_as_of_goes_into_every_link_and_the_digest_is_of_the_numbers(snapshot, november):
    moment = datetime(2026, 12, 2, 18, 0, tzinfo=UTC)
    pinned = bulletin.bulletin_figures(snapshot, 2026, 11, as_of=moment)
    assert all("as_of=2026-12-02T18%3A00%3A00%2B00%3A00" in href for href in bulletin.queries(pinned).values())
    assert "Cifras conocidas al 2 de diciembre de 2026, 12:00" in bulletin.render_markdown(
        bulletin.document(pinned, unit=UNIT, zone=ZONE))
    assert bulletin.figures_digest(november) == bulletin.figures_digest(dict(reversed(list(november.items()))))
    assert re.fullmatch(r"[0-9a-f]{64}", bulletin.figures_digest(november))
    assert bulletin.figures_digest(pinned) != bulletin.figures_digest(november)


def test_a_month_with_hybrid_sessions_gives_them_apart_and_january_reads_as_one_month(snapshot):
    year = {m: bulletin.bulletin_figures(snapshot, 2026, m) for m in range(1, 11)}
    mixed = next(f for f in year.values() if f["month_figures"]["by_modality"]["hybrid"])
    text = bulletin.render_markdown(bulletin.document(mixed, unit=UNIT, zone=ZONE))
    assert "sesiones híbridas" in text and "no se cuentan como plataformas virtuales" in text
    january = bulletin.render_markdown(bulletin.document(year[1], unit=UNIT, zone=ZONE))
    assert "En enero de 2026, la Secretaría" in january


@pytest.mark.parametrize("text", ["2026-13", "2026-1", "Nov", "26-11", "2026-11-01", ""])
def test_a_bad_month_is_refused_naming_month(text):
    with pytest.raises(bulletin.BulletinError, match="^month:"):
        bulletin.month_of(text)


def test_an_empty_month_says_no_courses_were_delivered(snapshot):
    empty = bulletin.bulletin_figures(snapshot, 2025, 6)
    text = bulletin.render_markdown(bulletin.document(empty, unit=UNIT, zone=ZONE))
    assert "no impartió cursos durante junio de 2025" in text


def test_with_a_plan_in_force_the_bulletin_gives_its_attainment_in_the_month_and_the_year(programme):
    declared = TrainingPlanDeclared(
        plan_id="plan-2026-v1", year=2026, version=1, declared_at=datetime(2026, 1, 10, tzinfo=UTC),
        declared_by="comptroller:ana",
        targets=[PlanTarget(month=11, institution_id="inst-e01", topic="Código de Ética", sessions=12, people=200,
                            hours=600),
                 PlanTarget(month=10, institution_id="inst-e02", topic="Conflicto de Interés", sessions=14,
                            people=300, hours=800)])
    ledger = Ledger()
    ledger.apply_all(f for e in [*programme.envelopes, seal(declared, time=datetime(2026, 1, 10, tzinfo=UTC))]
                     if (f := fact_from(e)))
    figures = bulletin.bulletin_figures(ledger.snapshot(ZONE), 2026, 11)
    plan = figures["plan"]
    assert (plan["plan_id"], plan["version"]) == ("plan-2026-v1", 1)
    assert plan["month"] == {"planned_sessions": 12, "sessions_delivered": 11, "sessions_attainment": 0.9167,
                             "planned_people": 200, "servants_trained": 180, "people_attainment": 0.9}
    delivered = sum(m.sessions_delivered for m in programme.plan.months.values())
    assert plan["year_to_date"] == {"planned_sessions": 26, "sessions_delivered": delivered,
                                    "sessions_attainment": round(delivered / 26, 4), "planned_people": 500,
                                    "servants_trained": 2533, "people_attainment": round(2533 / 500, 4)}
    text = bulletin.render_markdown(bulletin.document(figures, unit=UNIT, zone=ZONE))
    assert ("Avance del plan anual de capacitación (versión 1): en noviembre de 2026 se impartieron "
            "[11](/reports/figures?month=2026-11) de [12](/reports/plan?year=2026&through=11) cursos programados "
            "(91.7 %) y se capacitó a [180](/reports/figures?month=2026-11) de "
            "[200](/reports/plan?year=2026&through=11) servidores públicos previstos (90.0 %)") in text
    assert "no se declaró un plan" not in text
    # As of a moment before the plan was declared, there is none.
    before = bulletin.bulletin_figures(ledger.snapshot(ZONE, datetime(2026, 1, 9, tzinfo=UTC)), 2026, 11,
                                       as_of=datetime(2026, 1, 9, tzinfo=UTC))
    assert before["plan"] is None

"""The monthly bulletin on the generated Quintana Roo year: its numbers are the plan's and the ground
truth's; it reads as a comptroller's press office writes, in Spanish and in English, numbers in Mexican
style; every number links to the public dashboard panel that shows it; a month in progress says so; an
issuer block names who signs it."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, date, datetime, time
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from contracts.envelope import seal
from contracts.events import (CoursePublished, DueRule, ExemptionGranted, PlanTarget, RequirementScope,
                              TrainingPlanDeclared, TrainingRequirementDeclared)
from probidad.ops.programme import COURSES, bulletin_plan, generate
from services.reporting import bulletin, bulletin_text
from services.reporting.dashboard import dashboard_data
from services.reporting.domain.facts import fact_from
from services.reporting.domain.ledger import Ledger
from services.reporting.settings import ReportingSettings

ZONE = ZoneInfo("America/Mexico_City")
UNIT = "Secretaría de la Contraloría del Estado"
RESPONSIBLE = ("Secretaría de la Contraloría del Estado — "
               "Unidad de Ética, Integridad y Prevención de Conflictos de Interés")
PUBLIC = "https://reportes.contraloria.example.gob.mx"
SIGNATORY = ("Mtra. Ana Laura Méndez Ortiz",
             "Titular de la Unidad de Ética, Integridad y Prevención de Conflictos de Interés")
DECEMBER = datetime(2026, 12, 7, 16, 0, tzinfo=UTC)  # the moment the bulletins below are asked at


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


def test_every_number_links_to_the_public_dashboard_panel_that_shows_it(snapshot, november):
    printed = bulletin.shown_figures(snapshot, november, minimum=5, unit=RESPONSIBLE)
    doc = bulletin_text.document(printed, unit=RESPONSIBLE, zone=ZONE, public_url=PUBLIC + "/", now=DECEMBER)
    numbers = [p for para in doc.paragraphs + doc.topics for p in para if isinstance(p, bulletin_text.Num)]
    assert len(numbers) >= 10
    pages: dict[str, dict] = {}
    found = 0
    for number in numbers:
        url = urlsplit(number.href)
        assert f"{url.scheme}://{url.netloc}" == PUBLIC and url.path == "/dashboard", number.href
        params = {k: v[0] for k, v in parse_qs(url.query).items()}
        assert params["year"] == "2026" and params["month"] == "11" and params["period"] in ("month", "ytd")
        key = params["period"]
        if key not in pages:
            pages[key] = dashboard_data(snapshot, 2026, as_of=None, unit=RESPONSIBLE, minimum=5, period=key, month=11)
        page = pages[key]
        # The number is on the page the link opens, in the panel its anchor names.
        shown = {"kpis": {page["totals"][m] for m in ("sessions_delivered", "courses_delivered", "servants_trained")},
                 "split": {r["servants_trained"] for r in page["levels"]},
                 "breakdown-modality": {r["servants_trained"] for r in page["breakdowns"]["modality"]},
                 "breakdown-topic": {r["servants_trained"] for r in page["breakdowns"]["topic"]}}[url.fragment]
        # The number the page shows; one the page blanks is withheld in the bulletin too.
        assert number.value in shown or (number.value is bulletin.WITHHELD and None in shown), (number, shown)
        found += number.value in shown
    assert found == len([n for n in numbers if n.value is not bulletin.WITHHELD]), \
        "the bulletin's numbers are the dashboard's"
    sources = [p for para in doc.sources for p in para if isinstance(p, bulletin_text.Link)]
    assert [urlsplit(s.href).path for s in sources] == ["/dashboard", "/open-data/figures.csv"]
    assert all(s.href.startswith(PUBLIC + "/") and s.shown == s.href for s in sources)
    assert "/reports/" not in bulletin_text.render_html(doc)  # the comptroller's routes need a token: never linked


def test_the_spanish_bulletin_reads_as_a_press_office_writes_it(november):
    doc = bulletin_text.document(november, unit=RESPONSIBLE, zone=ZONE, now=DECEMBER)
    body = [bulletin_text.plain(p) for p in doc.paragraphs]
    assert body[0].startswith(
        "La Secretaría de la Contraloría del Estado, a través de la Unidad de Ética, Integridad y Prevención de "
        "Conflictos de Interés, mantiene una campaña permanente de capacitación y en noviembre de 2026 impartió un "
        "total de 11 cursos, de 8 títulos de su catálogo: “")
    # Titles in quotation marks: one with commas in it stays one title.
    assert "“Transparencia, Acceso a la Información y Protección de Datos Personales”" in body[0]
    assert body[1] == ("En noviembre de 2026 se capacitaron 180 servidores públicos: 133 de instituciones estatales "
                       "y 47 de instituciones municipales; de ellos, 180 lo hicieron a través de plataformas "
                       "virtuales.")
    assert body[2] == ("De enero a noviembre de 2026, la Secretaría capacitó a un total de 2,533 servidores públicos, "
                       "cada persona contada una vez: 1,802 de instituciones estatales y 731 de instituciones "
                       "municipales.")
    # The unit is named once; the Secretaría is the subject.
    assert sum(p.count("Unidad de Ética") for p in body) == 1
    assert "no se declaró un plan anual de capacitación para noviembre de 2026" in body[3]
    assert doc.title == "Boletín de capacitación: noviembre de 2026"
    assert doc.byline == "Cifras conocidas al 7 de diciembre de 2026, 10:00 (America/Mexico_City)."
    text = bulletin_text.render_markdown(doc)
    assert "Más de" not in text  # exact numbers, never rounded


def test_the_english_bulletin_reads_as_english(november):
    doc = bulletin_text.document(november, unit=RESPONSIBLE, zone=ZONE, lang="en", now=DECEMBER)
    body = [bulletin_text.plain(p) for p in doc.paragraphs]
    assert body[0].startswith(
        "The State Comptroller's Office (Secretaría de la Contraloría del Estado), through its Unidad de Ética, "
        "Integridad y Prevención de Conflictos de Interés, runs a permanent training campaign and in November 2026 "
        "delivered a total of 11 courses, covering 8 titles from its catalogue: “")
    assert body[0].endswith("” and “Prevención de Actos de Corrupción”.")
    assert body[1] == ("In November 2026, 180 public servants were trained: 133 from state institutions and 47 from "
                       "municipal institutions; 180 of them through virtual platforms.")
    assert body[2] == ("From January to November 2026, the Office trained a total of 2,533 public servants, each "
                       "person counted once: 1,802 from state institutions and 731 from municipal institutions.")
    assert doc.title == "Training bulletin: November 2026"
    assert doc.topics_heading == "Training topics, January to November 2026"
    english = bulletin_text.render_markdown(doc)
    # Spanish only inside proper names: the Secretaría's, the unit's and the course titles (quoted).
    unquoted = re.sub(r"“[^”]*”|\([^)]*Secretaría[^)]*\)|Unidad de Ética, Integridad y Prevención de Conflictos "
                      r"de Interés|^- [^:]*:", "", english, flags=re.M)
    assert not re.search(r"\b(servidores|públicos|instituciones|capacitación|cursos|de enero|noviembre)\b", unquoted)
    with pytest.raises(bulletin.BulletinError, match="lang"):
        bulletin_text.document(november, unit=UNIT, zone=ZONE, lang="fr")


def test_numbers_are_printed_in_mexican_style_thousands_with_a_comma_decimals_with_a_point(november):
    assert [bulletin_text.Num(v, "").shown for v in (7, 1949, 2533, 1234567, 1949.5, 0.25)] == \
        ["7", "1,949", "2,533", "1,234,567", "1,949.5", "0.25"]
    # Shares as well (a plan's attainment may pass a thousand per cent); English writes the sign close.
    assert (bulletin_text._percent(16.375, "es"), bulletin_text._percent(16.375, "en"),
            bulletin_text._percent(0.9, "es")) == \
        ("1,637.5 %", "1,637.5%", "90.0 %")
    for lang in bulletin_text.LANGUAGES:
        doc = bulletin_text.document(november, unit=RESPONSIBLE, zone=ZONE, lang=lang, now=DECEMBER)
        text = bulletin_text.render_markdown(doc)
        assert "[2,533](" in text and "[1,802](" in text
        assert not re.search(r"\[\d{4,}", text)  # no bare thousands
        assert "2,026" not in text  # years are years


def test_an_as_of_goes_into_every_link_and_the_digest_is_of_the_numbers(snapshot, november):
    moment = datetime(2026, 12, 2, 18, 0, tzinfo=UTC)
    pinned = bulletin.bulletin_figures(snapshot, 2026, 11, as_of=moment)
    links = bulletin.queries(pinned, PUBLIC)
    assert all("as_of=2026-12-02T18%3A00%3A00%2B00%3A00" in href for name, href in links.items() if name != "open_data")
    assert "Cifras conocidas al 2 de diciembre de 2026, 12:00" in bulletin_text.render_markdown(
        bulletin_text.document(pinned, unit=UNIT, zone=ZONE))
    assert bulletin.figures_digest(november) == bulletin.figures_digest(dict(reversed(list(november.items()))))
    assert re.fullmatch(r"[0-9a-f]{64}", bulletin.figures_digest(november))
    assert bulletin.figures_digest(pinned) != bulletin.figures_digest(november)


def test_a_month_with_hybrid_sessions_gives_them_apart_and_january_is_said_once(snapshot):
    year = {m: bulletin.bulletin_figures(snapshot, 2026, m) for m in range(1, 11)}
    mixed = next(f for f in year.values() if f["month_figures"]["by_modality"]["hybrid"])
    text = bulletin_text.render_markdown(bulletin_text.document(mixed, unit=UNIT, zone=ZONE, now=DECEMBER))
    assert "participaron en sesiones híbridas" in text and "no se cuentan como plataformas virtuales" in text
    january = [bulletin_text.plain(p)
               for p in bulletin_text.document(year[1], unit=UNIT, zone=ZONE, now=DECEMBER).paragraphs]
    assert january[1].startswith("En enero de 2026 se capacitaron 260 servidores públicos")
    # January to January is January: no second paragraph repeating the month's own figures.
    assert not any(p.startswith(("De enero", "En enero de 2026, la Secretaría")) for p in january)


def test_an_empty_month_says_no_courses_were_delivered(snapshot):
    empty = bulletin.bulletin_figures(snapshot, 2025, 6)
    body = [bulletin_text.plain(p)
            for p in bulletin_text.document(empty, unit=UNIT, zone=ZONE, now=DECEMBER).paragraphs]
    assert body[0] == ("La Secretaría de la Contraloría del Estado mantiene una campaña permanente de capacitación; "
                       "en junio de 2025 no impartió cursos.")
    assert body[1] == "En junio de 2025 no se capacitó a ningún servidor público."


def test_a_month_in_progress_says_so_in_its_title_byline_and_sentences(snapshot):
    # As of November 20 (or asked live on that day), November is still running.
    moment = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
    early = bulletin.bulletin_figures(snapshot, 2026, 11, as_of=moment)
    for doc in (bulletin_text.document(early, unit=RESPONSIBLE, zone=ZONE),
                bulletin_text.document(bulletin.bulletin_figures(snapshot, 2026, 11), unit=RESPONSIBLE, zone=ZONE,
                                  now=moment)):
        body = [bulletin_text.plain(p) for p in doc.paragraphs]
        assert doc.title == "Boletín de capacitación: noviembre de 2026 (mes en curso)"
        assert doc.byline.startswith("Mes en curso: cifras preliminares, conocidas al 20 de noviembre de 2026, 12:00")
        assert "y en lo que va de noviembre de 2026 ha impartido un total de " in body[0]
        assert body[1].startswith("En lo que va de noviembre de 2026 se han capacitado ")
        assert body[2].startswith(
            "Del 1 de enero al 20 de noviembre de 2026, la Secretaría ha capacitado a un total de ")
        assert doc.topics_heading == "Temas de la capacitación, del 1 de enero al 20 de noviembre de 2026"
    english = bulletin_text.document(early, unit=RESPONSIBLE, zone=ZONE, lang="en")
    assert english.title == "Training bulletin: November 2026 (month in progress)"
    assert "and so far in November 2026 has delivered a total of " in bulletin_text.plain(english.paragraphs[0])
    assert bulletin_text.plain(english.paragraphs[2]).startswith(
        "From January 1 to November 20, 2026, the Office has trained")
    # The same month once over: no such words.
    closed = bulletin_text.document(bulletin.bulletin_figures(snapshot, 2026, 11, as_of=DECEMBER), unit=RESPONSIBLE,
                               zone=ZONE)
    closed_text = bulletin_text.render_markdown(closed)
    assert "en curso" not in closed_text and "en lo que va" not in closed_text


@pytest.mark.parametrize(("moment", "over"), [
    (datetime(2026, 11, 30, 12, 0, tzinfo=ZONE), False),
    (datetime.combine(date(2026, 11, 30), time.max, ZONE), True),  # as_of=2026-11-30: the day's last instant
    (datetime(2026, 12, 1, 5, 59, tzinfo=UTC), False),  # 23:59 on November 30 in Mexico City
    (datetime(2026, 12, 1, 6, 0, tzinfo=UTC), True),
    (datetime(2026, 10, 1, tzinfo=UTC), False),
])
def test_a_month_is_over_from_its_last_instant_in_the_programmes_zone(moment, over):
    assert bulletin.month_over("2026-11", moment, ZONE) is over


def test_the_issuer_block_names_who_signs_and_their_position(november):
    signed = bulletin_text.document(november, unit=RESPONSIBLE, zone=ZONE, now=DECEMBER, signatory=SIGNATORY)
    assert signed.issuer == ["Atentamente", *SIGNATORY, "Secretaría de la Contraloría del Estado"]
    page = bulletin_text.render_html(signed)
    assert ('<footer class="issuer" id="issuer"><p class="lead">Atentamente</p><p class="name">Mtra. Ana Laura Méndez '
            'Ortiz</p><p class="position">Titular de la Unidad de Ética, Integridad y Prevención de Conflictos de '
            'Interés</p><p class="authority">Secretaría de la Contraloría del Estado</p></footer>') in page
    assert ("Atentamente  \n**Mtra. Ana Laura Méndez Ortiz**  \nTitular de la Unidad"
            in bulletin_text.render_markdown(signed))
    english = bulletin_text.document(november, unit=RESPONSIBLE, zone=ZONE, lang="en", now=DECEMBER,
                                     signatory=SIGNATORY)
    assert english.issuer == ["Issued by", *SIGNATORY,
                              "State Comptroller's Office (Secretaría de la Contraloría del Estado)"]
    unsigned = bulletin_text.document(november, unit=RESPONSIBLE, zone=ZONE, now=DECEMBER)
    assert unsigned.issuer[0].startswith("Sin firma:") and "Atentamente" not in bulletin_text.render_html(unsigned)


def test_a_requirement_is_named_as_a_requirement_not_as_a_course(programme):
    course = next(e.event for e in programme.envelopes if isinstance(e.event, CoursePublished))
    declared = TrainingRequirementDeclared(
        requirement_id="req-codigo-etica", version=1, effective_from=date(2026, 1, 1),
        title="Código de Ética para quien ingresa", course_id=course.course_id, scope=RequirementScope(),
        due=DueRule(kind="within_days_of_joining", days=90), declared_at=datetime(2026, 1, 10, tzinfo=UTC),
        declared_by="comptroller:ana")
    ledger = Ledger()
    ledger.apply_all(f for e in [*programme.envelopes, seal(declared, time=datetime(2026, 1, 10, tzinfo=UTC))]
                     if (f := fact_from(e)))
    figures = bulletin.bulletin_figures(ledger.snapshot(ZONE), 2026, 11)
    row = figures["compliance"]["requirements"][0]
    spanish = bulletin_text.plain(bulletin_text.document(figures, unit=UNIT, zone=ZONE, now=DECEMBER).paragraphs[-1])
    assert spanish == (
        f"Al 30 de noviembre de 2026, el {row['rate'] * 100:.1f} % de las y los servidores públicos obligados cumplía "
        f"con el requisito de capacitación “Código de Ética para quien ingresa” ({row['compliant']:,} de "
        f"{row['required']:,} obligados, {row['exempt']:,} exentos); {row['overdue']:,} habían rebasado su plazo sin "
        f"cumplirlo y {row['due']:,} aún estaban en plazo.")
    assert row["required"] >= 1000  # and printed with its thousands comma
    english = bulletin_text.plain(
        bulletin_text.document(figures, unit=UNIT, zone=ZONE, lang="en", now=DECEMBER).paragraphs[-1])
    assert english.startswith(f"On November 30, 2026, {row['rate'] * 100:.1f}% of the public servants subject to the "
                              "“Código de Ética para quien ingresa” training requirement had met it (")
    assert "el curso" not in spanish and "course" not in english


def test_production_refuses_a_bulletin_without_a_public_address_or_a_signatory(monkeypatch):
    for name in ("PROBIDAD_REPORTING_PUBLIC_URL", "PROBIDAD_BULLETIN_SIGNATORY_NAME",
                 "PROBIDAD_BULLETIN_SIGNATORY_POSITION", "PROBIDAD_PUBLIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PROBIDAD_ENVIRONMENT", "production")
    monkeypatch.setenv("PROBIDAD_JWT_SECRET", "a-production-secret")
    with pytest.raises(ValidationError, match="PROBIDAD_REPORTING_PUBLIC_URL must be set in production"):
        ReportingSettings()
    monkeypatch.setenv("PROBIDAD_REPORTING_PUBLIC_URL", "http://reportes.contraloria.example.gob.mx")
    with pytest.raises(ValidationError, match="PROBIDAD_REPORTING_PUBLIC_URL must be an https:// URL in production"):
        ReportingSettings()
    monkeypatch.setenv("PROBIDAD_REPORTING_PUBLIC_URL", PUBLIC + "/")
    with pytest.raises(ValidationError, match="PROBIDAD_BULLETIN_SIGNATORY_NAME, PROBIDAD_BULLETIN_SIGNATORY_POSITION"):
        ReportingSettings()
    monkeypatch.setenv("PROBIDAD_BULLETIN_SIGNATORY_NAME", SIGNATORY[0])
    monkeypatch.setenv("PROBIDAD_BULLETIN_SIGNATORY_POSITION", SIGNATORY[1])
    assert ReportingSettings().public_url == PUBLIC
    # In development the service's own address stands in.
    monkeypatch.delenv("PROBIDAD_REPORTING_PUBLIC_URL")
    assert ReportingSettings(environment="development", http_port=8104).public_url == "http://127.0.0.1:8104"


@pytest.mark.parametrize("text", ["2026-13", "2026-1", "Nov", "26-11", "2026-11-01", ""])
def test_a_bad_month_is_refused_naming_month(text):
    with pytest.raises(bulletin.BulletinError, match="^month:"):
        bulletin.month_of(text)


def test_with_a_plan_in_force_the_bulletin_measures_the_planned_cells_and_gives_the_rest_apart(programme):
    # The ground truth's cells (month, institution, topic): who completed there, in which sessions.
    trained: dict[tuple, set[str]] = defaultdict(set)
    sessions: dict[tuple, set[str]] = defaultdict(set)
    for c in programme.completions:
        if c.year == 2026:
            trained[(c.month, c.institution_id, c.topic)].add(c.servant_id)
            sessions[(c.month, c.institution_id, c.topic)].add(c.session_id)
    busiest = sorted(trained, key=lambda k: (-len(trained[k]), k))
    november = [k for k in busiest if k[0] == 11][:2]
    planned = [*november, next(k for k in busiest if k[0] == 10)]
    declared = TrainingPlanDeclared(
        plan_id="plan-2026-v1", year=2026, version=1, declared_at=datetime(2026, 1, 10, tzinfo=UTC),
        declared_by="comptroller:ana",
        targets=[PlanTarget(month=m, institution_id=i, topic=t, sessions=3, people=20, hours=40)
                 for m, i, t in planned])
    ledger = Ledger()
    ledger.apply_all(f for e in [*programme.envelopes, seal(declared, time=datetime(2026, 1, 10, tzinfo=UTC))]
                     if (f := fact_from(e)))
    figures = bulletin.bulletin_figures(ledger.snapshot(ZONE), 2026, 11)
    plan = figures["plan"]
    assert (plan["plan_id"], plan["version"]) == ("plan-2026-v1", 1)

    def added(groups: dict, cells: list) -> int:
        """Each cell's distinct sessions or people, added up over the cells as the plan's targets are."""
        return sum(len(groups[k]) for k in cells)

    in_month, to_date = added(sessions, november), added(sessions, planned)
    people_month, people_to_date = added(trained, november), added(trained, planned)
    assert plan["month"] == {"planned_sessions": 6, "sessions_delivered": in_month,
                             "sessions_attainment": round(in_month / 6, 4), "planned_people": 40,
                             "servants_trained": people_month, "people_attainment": round(people_month / 40, 4)}
    assert plan["year_to_date"] == {"planned_sessions": 9, "sessions_delivered": to_date,
                                    "sessions_attainment": round(to_date / 9, 4), "planned_people": 60,
                                    "servants_trained": people_to_date,
                                    "people_attainment": round(people_to_date / 60, 4)}
    # Everything else the programme delivered is outside the plan, never in the attainment.
    unplanned = [k for k in trained if k not in planned]
    outside_month = added(trained, [k for k in unplanned if k[0] == 11])
    outside_to_date = added(trained, [k for k in unplanned if k[0] <= 11])
    assert plan["outside_plan"]["month"]["servants_trained"] == outside_month
    assert plan["outside_plan"]["year_to_date"]["servants_trained"] == outside_to_date
    # a session counts in each cell it reached (someone present there, certified or not)
    assert plan["outside_plan"]["month"]["sessions_delivered"] >= added(sessions, [k for k in unplanned if k[0] == 11])
    assert people_month < figures["month_figures"]["servants_trained"] == 180

    text = bulletin_text.render_markdown(bulletin_text.document(figures, unit=UNIT, zone=ZONE))
    link = "(/dashboard?year=2026&period=ytd&month=11#plan)"  # the public dashboard's plan panel
    assert ("Avance del plan anual de capacitación (versión 1; cursos y personas contados en cada mes, "
            f"institución y tema programados): en noviembre de 2026 se impartieron "
            f"[{in_month}]{link} de [6]{link} cursos programados ({in_month / 6 * 100:.1f} %) y se capacitó a "
            f"[{people_month}]{link} de [40]{link} servidores públicos previstos ({people_month / 40 * 100:.1f} %)"
            ) in text
    assert ("Fuera del programa (meses, instituciones y temas que el plan no prevé, contados igual; no cuenta en "
            "el avance): en noviembre de 2026 se impartieron "
            f"[{plan['outside_plan']['month']['sessions_delivered']}]{link} cursos y se capacitó a "
            f"[{outside_month}]{link} servidores públicos") in text
    assert "no se declaró un plan" not in text
    english = bulletin_text.render_markdown(bulletin_text.document(figures, unit=UNIT, zone=ZONE, lang="en"))
    assert ("Outside the plan (months, institutions and topics it does not name, counted alike; not counted as "
            "attainment): in November 2026, ") in english
    # As of a moment before the plan was declared, there is none.
    before = bulletin.bulletin_figures(ledger.snapshot(ZONE, datetime(2026, 1, 9, tzinfo=UTC)), 2026, 11,
                                       as_of=datetime(2026, 1, 9, tzinfo=UTC))
    assert before["plan"] is None


def test_the_bulletin_prints_no_count_of_people_the_public_dashboard_blanks(programme):
    """Three servants exempt from a requirement: the dashboard blanks the small exempt count (and what would
    give it away); the bulletin, linked to that panel, prints each count as the panel shows it, a blanked one
    in words, while its published figures keep the exact numbers."""
    course = next(e.event for e in programme.envelopes if isinstance(e.event, CoursePublished))
    servants = sorted({e.event.servant_id for e in programme.envelopes
                       if e.event.type.endswith("servant.registered.v1")})
    declared_at = datetime(2026, 1, 10, tzinfo=UTC)
    events = [TrainingRequirementDeclared(
        requirement_id="req-etica", version=1, effective_from=date(2026, 1, 1), title="Código de Ética",
        course_id=course.course_id, scope=RequirementScope(), due=DueRule(kind="yearly_by", month=6, day=30),
        declared_at=declared_at, declared_by="comptroller:ana")]
    events += [ExemptionGranted(exemption_id=f"ex-{n}", requirement_id="req-etica", servant_id=servant,
                                reason="licencia médica", effective_from=date(2026, 2, 1), granted_by="comptroller:ana",
                                granted_at=declared_at) for n, servant in enumerate(servants[:3])]
    ledger = Ledger()
    ledger.apply_all(f for e in [*programme.envelopes, *(seal(x, time=declared_at) for x in events)]
                     if (f := fact_from(e)))
    snapshot = ledger.snapshot(ZONE)
    figures = bulletin.bulletin_figures(snapshot, 2026, 11)
    digest = bulletin.figures_digest(figures)
    assert figures["compliance"]["requirements"][0]["exempt"] == 3  # what is published: the exact numbers

    shown = bulletin.shown_figures(snapshot, figures, minimum=5, unit=UNIT)
    assert bulletin.figures_digest(figures) == digest, "suppression happens at rendering, not in what is published"
    month_page, ytd_page = (dashboard_data(snapshot, 2026, as_of=None, unit=UNIT, minimum=5, period=period, month=11)
                            for period in ("month", "ytd"))
    [row] = shown["compliance"]["requirements"]
    [panel] = month_page["compliance"]["requirements"]
    assert panel["exempt"] is None and row["exempt"] is bulletin.WITHHELD
    m, ytd = shown["month_figures"], shown["year_to_date"]
    modality = {r["category"]: r["servants_trained"] for r in month_page["breakdowns"]["modality"]}
    topics = {r["category"]: r["servants_trained"] for r in ytd_page["breakdowns"]["topic"]}
    pairs = [*((row[k], panel[k]) for k in ("required", "compliant", "due", "overdue", "exempt", "rate")),
             (m["servants_trained"], month_page["totals"]["servants_trained"]),
             (m["sessions_delivered"], month_page["totals"]["sessions_delivered"]),
             (m["courses_delivered"], month_page["totals"]["courses_delivered"]),
             *((m["by_government_level"][r["level"]], r["servants_trained"]) for r in month_page["levels"]),
             *((m["by_modality"][k], modality.get(k, 0)) for k in ("virtual", "hybrid")),
             (ytd["servants_trained"], ytd_page["totals"]["servants_trained"]),
             *((ytd["by_government_level"][r["level"]], r["servants_trained"]) for r in ytd_page["levels"]),
             *((t["servants_trained"], topics[t["topic"]]) for t in ytd["topics"])]
    for printed, on_dashboard in pairs:
        assert printed == on_dashboard or (printed is bulletin.WITHHELD and on_dashboard is None), \
            (printed, on_dashboard)

    for lang, words in (("es", "exentos: cifra reservada"), ("en", "exempt: withheld")):
        doc = bulletin_text.document(shown, unit=UNIT, zone=ZONE, lang=lang, now=DECEMBER)
        sentence = bulletin_text.plain(doc.paragraphs[-1])
        assert words in sentence, sentence
        assert not re.search(r"(?<![\d,.])[1-4](?![\d,.])", sentence), sentence  # no small count, nor 3 exempt
        numbers = [p for para in doc.paragraphs + doc.topics for p in para if isinstance(p, bulletin_text.Num)]
        plan = shown.get("plan") or {}
        activity = {m["sessions_delivered"], m["courses_delivered"],  # sessions identify no one: printed
                    *(plan[k][x] for k in ("month", "year_to_date") if k in plan
                      for x in ("sessions_delivered", "planned_sessions"))}
        assert not [n for n in numbers if isinstance(n.value, int) and 0 < n.value < 5 and n.value not in activity]

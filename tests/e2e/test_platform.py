"""The whole platform on the real broker: four service processes, a small programme loaded through
the public interfaces, and the reporting API agreeing with figures computed straight from the plan."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from probidad.ops.demo import (
    demo_contacts,
    DemoAlreadyLoaded, DemoIncomplete, Loader, comptroller_token, programme_for, request_id,
)
from probidad.ops.localhost import eventually, port_answers
from probidad.ops.platform import SERVICES, start_services, stop_services
from probidad.ops.programme import (
    completes, expected_bulletin, expected_compliance, expected_figures, expected_plan,
)
from probidad.ops.programme import demo_programme as plan
from tests.support.browser import rendered_dom
from tests.support.smtp import SmtpSink, smtp_sink  # noqa: F401 (fixture)
from tests.support.processes import free_port_offset

# Planned as on 2 May 2026: the twelve months May 2025 to April 2026, all long over.
PLANNED_ON = datetime(2026, 5, 2, 9, 0, tzinfo=ZoneInfo("America/Mexico_City"))


@pytest.fixture
def platform(kafka_bootstrap: str, topic_prefix: str, tmp_path):
    offset = free_port_offset(topic_prefix)
    running = start_services(tmp_path, kafka_bootstrap, topic_prefix=topic_prefix, base_port_offset=offset)
    yield {s.name: s.url for s in running} | {"logs": tmp_path / "logs"}
    stop_services(running)


async def _figures(http: httpx.AsyncClient, url: str, **params) -> dict:
    response = await http.get(f"{url}/reports/figures", params=params)
    response.raise_for_status()
    rows = response.json()["rows"]
    return rows[0] if rows else {}


async def test_the_reporting_api_shows_the_figures_of_the_programme_loaded_through_the_public_interfaces(
        platform, kafka_bootstrap: str, topic_prefix: str) -> None:
    programme = plan(seed=11, scale=0.05, now=PLANNED_ON)
    token = comptroller_token()
    urls = {name: url for name, url in platform.items() if name != "logs"}
    # A load stopped part-way (Ctrl-C, a failure) says how far it got; loading again continues it,
    # doubling nothing; a third time loads nothing.
    closed = {"sessions": 0}

    def note(step: str, done: int, _total: int) -> None:
        if step == "sessions closed":
            closed["sessions"] = done

    stopped = Loader(urls, kafka_bootstrap, programme, token, topic_prefix=topic_prefix, report=note,
                     should_stop=lambda: closed["sessions"] >= 3)
    with pytest.raises(DemoIncomplete) as incomplete:
        await stopped.run()
    assert "sessions closed 3 of" in incomplete.value.loaded and "servants" in incomplete.value.loaded
    loaded = Loader(urls, kafka_bootstrap, programme, token, topic_prefix=topic_prefix)
    await loaded.run()
    with pytest.raises(DemoAlreadyLoaded):  # a second `up --demo` on the same state loads nothing twice
        await Loader(urls, kafka_bootstrap, programme, token, topic_prefix=topic_prefix).run()
    expected = expected_figures(programme)

    reporting = platform["reporting"]
    wanted = {month: (f["sessions_delivered"], f["servants_trained"], f["participations"])
              for month, f in expected["months"].items()}
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:

        async def monthly() -> dict:
            seen = {}
            for month in wanted:
                row = await _figures(http, reporting, month=month)
                seen[month] = (row.get("sessions_delivered"), row.get("servants_trained"), row.get("participations"))
            return seen

        # Certification and reporting catch up asynchronously, each topic at its own pace.
        deadline = time.monotonic() + 120
        seen = await monthly()
        while seen != wanted and time.monotonic() < deadline:
            await asyncio.sleep(1)
            seen = await monthly()
        assert seen == wanted

        period = {"from": programme.first_day.isoformat(), "to": programme.last_day.isoformat()}
        year = await _figures(http, reporting, **period)
        assert year["servants_trained"] == expected["servants_trained"]
        assert year["servants_trained"] < sum(m["servants_trained"] for m in expected["months"].values()), (
            "people trained in several months count once in the period")
        assert year["participations"] == expected["participations"]

        async def levels() -> dict:
            by_level = await http.get(f"{reporting}/reports/figures", params={**period, "by": "government_level"})
            return {row["government_level"]: row["servants_trained"] for row in by_level.json()["rows"]}

        # Moves between institutions were recorded after the sessions closed: a moved servant's
        # completions stay with the institution they belonged to when the session started.
        wanted_levels = expected["servants_trained_by_level"]
        seen_levels = await eventually(lambda: _equal(levels(), wanted_levels), timeout_s=60, what="levels")
        assert seen_levels == wanted_levels

        await _the_oversight_figures_are_the_programmes(http, urls, programme)
        await _compliance_and_the_overdue_lists_are_the_programmes(http, urls, programme, loaded.servant_ids)
    _the_dashboard_shows_compliance_and_the_plan_in_a_browser(urls["reporting"], programme, platform["logs"].parent)

    # One enrolment's correlation id (its agency request id) is in the JSON logs of every service
    # its facts went through.
    session = next(s for s in programme.sessions if not s.cancelled and any(completes(s, k) for k in s.enrolled))
    key = next(k for k in session.enrolled if completes(session, k))
    correlation = request_id(session, key)
    for service in ("enrollment", "attendance", "certification", "reporting"):
        lines = [json.loads(line) for line in (platform["logs"] / f"{service}.log").read_text().splitlines()
                 if line.startswith("{")]
        assert any(line.get("correlation_id") == correlation for line in lines), service


async def _equal(value, wanted):
    """``await value`` when it equals ``wanted`` (for ``eventually``), else None."""
    seen = await value
    return seen if seen == wanted else None


async def _the_oversight_figures_are_the_programmes(http: httpx.AsyncClient, urls: dict, programme) -> None:
    """Plan attainment and every number of the bulletin, against figures computed from the generated
    facts (probidad.ops.programme: expected_plan, expected_bulletin)."""
    reporting = urls["reporting"]
    year, through = programme.months[-1]
    wanted = expected_plan(programme, year, through)

    async def plan_report() -> dict | None:
        response = await http.get(f"{reporting}/reports/plan", params={"year": year, "through": through})
        report = response.json()
        if report.get("plan") is None:
            return None
        cells = {(int(r["period"][5:]), r["institution"], r["topic"]): {k: r[k] for k in wanted["total"]}
                 for r in report["months"]}
        return report if cells == wanted["cells"] else None

    report = await eventually(plan_report, timeout_s=60, what="the plan report equal to the programme's")
    assert {k: report["total"][k] for k in wanted["total"]} == wanted["total"]
    assert {k: report["month_total"][k] for k in wanted["month_total"]} == wanted["month_total"]
    # Delivery in cells the plan does not name: beside the attainment, never in it.
    outside = report["outside_plan"]
    assert {(int(r["period"][5:]), r["institution"], r["topic"]): {k: r[k] for k in wanted["outside_plan"]["total"]}
            for r in outside["months"]} == wanted["outside_plan"]["cells"]
    assert {k: outside["total"][k] for k in wanted["outside_plan"]["total"]} == wanted["outside_plan"]["total"]

    # The bulletin of the programme's last month, published: its numbers are the programme's.
    month = programme.bulletin_month
    bulletin = expected_bulletin(programme, month)
    # A move recorded after the sessions gives the new institution the sessions from its effective day
    # on: wait until reporting has every move before publishing what it knows.
    to_date = {"from": bulletin["year_to_date"]["from"], "to": bulletin["year_to_date"]["to"], "by": "government_level"}

    async def year_levels() -> dict:
        rows = (await http.get(f"{reporting}/reports/figures", params=to_date)).json()["rows"]
        return {level: next((r["servants_trained"] for r in rows if r["government_level"] == level), 0)
                for level in bulletin["year_to_date"]["by_government_level"]}

    await eventually(lambda: _equal(year_levels(), bulletin["year_to_date"]["by_government_level"]), timeout_s=60,
                     what="the year's figures by level, every move known")
    published = (await http.post(f"{reporting}/reports/bulletin/{month}/publish")).json()
    figures = published["figures"]
    assert figures["month_figures"] == bulletin["month_figures"]
    assert figures["year_to_date"] == bulletin["year_to_date"]
    assert figures["plan"] is not None, (month, figures)
    assert {part: figures["plan"][part] for part in ("month", "year_to_date", "outside_plan")} == bulletin["plan"]
    # ... and the rendered bulletin prints each of them.
    text = (await http.get(f"{reporting}/reports/bulletin", params={
        "month": month, "format": "markdown", "published": "latest"})).text
    for title in bulletin["month_figures"]["course_titles"]:
        assert title in text
    # Each count of people as the public dashboard it links to shows it (same period, same moment): the number
    # in Mexican style (1,949), or in words where the dashboard blanks it; sessions always as they are.
    pages = {}
    for period in ("month", "ytd"):
        page = (await http.get(f"{reporting}/dashboard", params={
            "year": month[:4], "period": period, "month": int(month[5:]), "as_of": published["as_of"]})).text
        pages[period] = json.loads(re.search(r'<script id="dashboard-data" type="application/json">(.*?)</script>',
                                             page, re.S).group(1).replace("<\\/", "</"))
    virtual = {r["category"]: r["servants_trained"] for r in pages["month"]["breakdowns"]["modality"]}
    levels = {r["level"]: r["servants_trained"] for r in pages["ytd"]["levels"]}
    numbers = [(bulletin["month_figures"]["sessions_delivered"], pages["month"]["totals"]["sessions_delivered"]),
               (bulletin["month_figures"]["servants_trained"], pages["month"]["totals"]["servants_trained"]),
               (bulletin["month_figures"]["by_modality"]["virtual"], virtual.get("virtual", 0)),
               (bulletin["year_to_date"]["servants_trained"], pages["ytd"]["totals"]["servants_trained"]),
               *((v, levels[k]) for k, v in bulletin["year_to_date"]["by_government_level"].items())]
    assert pages["month"]["totals"]["sessions_delivered"] == bulletin["month_figures"]["sessions_delivered"]
    for number, on_dashboard in numbers:
        assert on_dashboard in (number, None), (number, on_dashboard)
        printed = f"{number:,}" if on_dashboard is not None else "cifra reservada"
        assert f"[{printed}]({reporting}/dashboard?" in text, (number, text[:3000])


async def _compliance_and_the_overdue_lists_are_the_programmes(http: httpx.AsyncClient, urls: dict, programme,
                                                              servant_ids: dict[str, str]) -> None:
    """Compliance counts per requirement, institution and level in reporting, and each institution's named
    overdue list in enrollment, against standings computed straight from the generated facts."""
    reporting, enrollment = urls["reporting"], urls["enrollment"]
    on = programme.last_day
    wanted = expected_compliance(programme, on)
    counts = wanted["counts"]
    assert any(c["overdue"] for c in counts.values()) and any(c["compliant"] for c in counts.values())
    assert any(c["exempt"] for c in counts.values()), "the demo exempts some servants"

    def rows_of(report: dict) -> dict:
        keys = ("required", "compliant", "due", "overdue", "exempt")
        seen = {("requirement", "all", r["requirement_id"]): {k: r[k] for k in keys} for r in report["by_requirement"]}
        seen |= {("institution", r["institution"], r["requirement_id"]): {k: r[k] for k in keys}
                 for r in report["by_institution"]}
        seen |= {("government_level", r["government_level"], r["requirement_id"]): {k: r[k] for k in keys}
                 for r in report["by_government_level"]}
        return seen

    async def compliance_report() -> dict | None:
        report = (await http.get(f"{reporting}/reports/compliance", params={"on": on.isoformat()})).json()
        return report if rows_of(report) == counts else None

    report = await eventually(compliance_report, timeout_s=90, what="compliance counts equal to the programme's")
    for row in report["by_requirement"]:
        required = row["required"] - row["exempt"]
        assert row["rate"] == (round(row["compliant"] / required, 4) if required else None)
    key_of = {servant_id: key for key, servant_id in servant_ids.items()}
    assert {(key_of[s["servant_id"]], s["requirement_id"]): (s["state"], s["due_on"])
            for s in report["standings"]} == {
        k: (state, due_on.isoformat() if due_on else None) for k, (state, due_on) in wanted["standings"].items()}

    # Enrollment's named lists for the ethics committees: who is overdue, by name, per institution.
    overdue: dict[str, set] = {}
    for (key, requirement_id), (state, due_on) in wanted["standings"].items():
        if state == "overdue":
            overdue.setdefault(programme.institution_of(key, on), set()).add((servant_ids[key], requirement_id))
    names = {servant_ids[s.key]: s.name for s in programme.servants}
    for institution in programme.institutions:
        iid = institution.institution_id

        async def named_list(iid: str = iid) -> dict | None:
            response = await http.get(f"{enrollment}/institutions/{iid}/compliance",
                                      params={"on": on.isoformat(), "state": "overdue"})
            body = response.json()
            listed = {(line["servant_id"], line["requirement_id"]) for line in body["lines"]}
            return body if listed == overdue.get(iid, set()) else None

        body = await eventually(named_list, timeout_s=60, what=f"the overdue list of {iid}")
        assert all(line["name"] == names[line["servant_id"]] and line["state"] == "overdue" for line in body["lines"])
    busiest = max(overdue, key=lambda i: len(overdue[i]))
    csv_text = (await http.get(f"{enrollment}/institutions/{busiest}/compliance.csv",
                               params={"on": on.isoformat()})).text
    assert len(csv_text.strip().splitlines()) == 1 + len(overdue[busiest])


def _attributes(dom: str, marker: str) -> list[dict[str, str]]:
    """The data-* attributes of every element carrying ``marker`` (an attribute name)."""
    found = []
    for tag in re.findall(r"<[a-z]+\s[^>]*" + re.escape(marker) + r"[^>]*>", dom):
        found.append({k: v for k, v in re.findall(r'(data-[a-z-]+)="([^"]*)"', tag)})
    return found


def _the_dashboard_shows_compliance_and_the_plan_in_a_browser(reporting: str, programme, scratch: Path) -> None:
    """The dashboard, rendered by a real browser for the programme's last year to date, and for one
    institution: compliance per requirement and plan against actual as computed from the generated facts,
    small counts blanked (a blank arrives as "null"), topic, modality and sex panels filled."""
    year, through = programme.months[-1]
    compliance = expected_compliance(programme, programme.last_day)["counts"]
    plan_total = expected_plan(programme, year, through)["total"]
    plan_outside = expected_plan(programme, year, through)["outside_plan"]["total"]
    largest = max(programme.institutions, key=lambda i: i.headcount).institution_id
    for institution in (None, largest):
        query = f"year={year}&period=ytd&month={through}" + (f"&institution={institution}" if institution else "")
        dom = rendered_dom(f"{reporting}/dashboard?{query}", scratch / f"chromium-{institution or 'all'}")
        data = json.loads(re.search(r'<script id="dashboard-data" type="application/json">(.*?)</script>', dom,
                                    re.S).group(1))
        minimum = data["minimum"]

        def shown(count: int) -> set[str]:
            """A small count is blanked; any other is printed, or blanked as a complement of a small one."""
            return {str(count)} if count == 0 else {"null"} if count < minimum else {str(count), "null"}

        rows = {r["data-requirement"]: r for r in _attributes(dom, 'class="compliance-row"')}
        group = ("requirement", "all") if institution is None else ("institution", institution)
        wanted = {rid: c for (kind, name, rid), c in compliance.items() if (kind, name) == group}
        assert set(rows) == {r.requirement_id for r in programme.requirements}, (institution, rows)
        for rid, counts in wanted.items():
            for state in ("required", "compliant", "due", "overdue", "exempt"):
                assert rows[rid][f"data-{state}"] in shown(counts[state]), (institution, rid, state, rows[rid])
        if institution is None:
            (total,) = _attributes(dom, "data-plan-total")
            assert (total["data-planned-sessions"], total["data-planned-people"]) == (
                str(plan_total["planned_sessions"]), str(plan_total["planned_people"]))
            assert total["data-servants-trained"] in shown(plan_total["servants_trained"])
            # Sessions are the programme's activity: printed however few (they identify no one).
            assert total["data-sessions-delivered"] == str(plan_total["sessions_delivered"])
            (outside,) = _attributes(dom, "data-plan-outside")
            assert outside["data-sessions-delivered"] == str(plan_outside["sessions_delivered"])
            assert outside["data-servants-trained"] in shown(plan_outside["servants_trained"])
        for by in ("topic", "modality", "sex"):
            assert _attributes(dom, f'data-breakdown="{by}"'), f"the {by} panel is empty"
        assert f'value="{institution}" selected' in dom if institution else "Todas las instituciones" in dom


def test_several_instances_of_a_service_need_a_database_they_can_share(tmp_path) -> None:
    from probidad.ops.platform import PlatformError

    with pytest.raises(PlatformError, match="2 instances of certification need a PostgreSQL database"):
        start_services(tmp_path, "127.0.0.1:9", instances={"certification": 2})
    assert not (tmp_path / "logs").exists(), "refused before starting anything"


async def test_two_certification_instances_start_on_one_postgresql_database_and_both_answer(
        kafka_bootstrap: str, topic_prefix: str, postgres_admin_url: str, tmp_path) -> None:
    from tests.conftest import _admin_execute

    names = [f"probidad_t_{topic_prefix.strip('.').replace('-', '_')}_{s}"
             for s in ("enrollment", "attendance", "certification", "reporting")]
    for name in names:
        await _admin_execute(postgres_admin_url, f'CREATE DATABASE "{name}"')
    namespace = topic_prefix.strip(".").replace("-", "_")
    template = f"{postgres_admin_url.rsplit('/', 1)[0]}/probidad_t_{namespace}_{{service}}"
    offset = free_port_offset(topic_prefix, instances=2)
    running = []
    try:
        running = await asyncio.to_thread(start_services, tmp_path, kafka_bootstrap, topic_prefix=topic_prefix,
                                          base_port_offset=offset, postgres=template,
                                          instances={"certification": 2})
        certification = [s for s in running if s.name == "certification"]
        assert len(certification) == 2 and len(running) == 5
        async with httpx.AsyncClient(timeout=10) as http:
            for service in certification:
                health = (await http.get(f"{service.url}/health")).json()
                assert health["status"] == "ok" and health["checks"]["database"] == "ok"
        assert (tmp_path / "logs" / "certification-2.log").exists()
    finally:
        await asyncio.to_thread(stop_services, running)
        for name in names:
            await _admin_execute(postgres_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _probidad_command() -> list[str]:
    """The installed ``probidad`` command (what the README tells a newcomer to run)."""
    beside = Path(sys.executable).with_name("probidad")
    found = str(beside) if beside.exists() else shutil.which("probidad")
    return [found] if found else [sys.executable, "-c", "from probidad.ops.cli import app; app()"]


def _new_years_day() -> str:
    """00:30 on 1 January of this year in the programme's zone: the demo is then last year's programme."""
    zone = ZoneInfo("America/Mexico_City")
    now = datetime.now(zone)
    return min(now, datetime(now.year, 1, 1, 0, 30, tzinfo=zone)).isoformat()


@pytest.mark.parametrize("today", [None, _new_years_day()], ids=["on-the-clock", "on-new-years-day"])
def test_probidad_up_runs_the_platform_loads_the_demo_and_stops_everything_on_ctrl_c(
        kafka_bootstrap: str, topic_prefix: str, tmp_path, today: str | None,
        smtp_sink: SmtpSink) -> None:  # noqa: F811 (the fixture)
    offset = free_port_offset(topic_prefix)
    output = tmp_path / "up.out"
    state_dir = tmp_path / "state"
    command = [*_probidad_command(), "up", "--demo", "--demo-scale", "0.02", "--bootstrap", kafka_bootstrap,
               "--topic-prefix", topic_prefix, "--port-offset", str(offset), "--state-dir", str(state_dir),
               *(["--demo-today", today] if today else [])]
    urls = {name: f"http://127.0.0.1:{port + offset}" for name, port in SERVICES}
    with open(output, "wb") as sink:
        up = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT,
                              env={**os.environ, "COLUMNS": "200", **smtp_sink.env()})
        try:
            deadline = time.monotonic() + 240
            while "demo loaded" not in output.read_text() and up.poll() is None and time.monotonic() < deadline:
                time.sleep(0.5)
            shown = output.read_text()
            assert "demo loaded" in shown, shown[-3000:]
            for name, url in urls.items():  # the table of where everything is
                for where in (f"{url}/docs", f"{url}/asyncapi", f"{url}/metrics"):
                    assert where in shown, f"{name}: {where} not shown"
                assert httpx.get(f"{url}/health", timeout=10).json()["status"] == "ok", name
            assert f"{urls['reporting']}/dashboard" in shown

            # The programme up loaded is the one its state dir records: the twelve months before the
            # month of ``today``, every session of it over. Its bulletin month reaches the comptroller's
            # figures exactly (certification and reporting catch up after the last session closed).
            programme, _note = programme_for(state_dir, scale=0.02)
            bulletin = expected_figures(programme)["months"][programme.bulletin_month]
            assert f"bulletin month {programme.bulletin_month}" in shown
            headers = {"Authorization": f"Bearer {comptroller_token()}"}
            wanted = (bulletin["sessions_delivered"], bulletin["servants_trained"], bulletin["participations"])
            seen = None
            while seen != wanted and time.monotonic() < deadline + 60:
                rows = httpx.get(f"{urls['reporting']}/reports/figures", params={"month": programme.bulletin_month},
                                 headers=headers, timeout=10).json()["rows"]
                seen = (rows[0]["sessions_delivered"], rows[0]["servants_trained"], rows[0]["participations"])
                time.sleep(0.5)
            assert seen == wanted
            # The dashboard opens on the year of the bulletin month: the one that has figures.
            page = httpx.get(f"{urls['reporting']}/dashboard", timeout=10)
            assert page.status_code == 200
            assert f"Programa de integridad {programme.months[-1][0]}" in page.text

            # The demo names its institutions' contacts: `probidad notify run --now` sends each its digest.
            notify = subprocess.run([*_probidad_command(), "notify", "run", "--now"], capture_output=True, text=True,
                                    timeout=120, env={**os.environ, "PROBIDAD_STATE_DIR": str(state_dir)})
            assert notify.returncode == 0, notify.stdout + notify.stderr
            contacts = {c["email"] for n, i in enumerate(programme.institutions)
                        for c in demo_contacts(i.institution_id, n)}
            digests = [m for m in smtp_sink.messages() if str(m["Subject"]).startswith("Resumen de cumplimiento")]
            assert sorted(str(m["To"]) for m in digests) == sorted(contacts), notify.stdout
            assert "bounced 0, failed 0, uncertain 0" in notify.stdout, notify.stdout
        finally:
            up.send_signal(signal.SIGINT)  # Ctrl-C
            up.wait(timeout=90)
    shown = output.read_text()
    assert up.returncode == 0, shown[-3000:]
    assert shown.rstrip().endswith("stopped."), shown[-3000:]
    for name, port in SERVICES:
        assert not port_answers(port + offset), f"{name} still listening"

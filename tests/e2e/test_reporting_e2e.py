"""Reporting against the real broker: the service as a process consumes the platform topics from
offset 0, reports its lag, is rebuilt by ``probidad reporting rebuild`` while it keeps answering, and
its dashboard renders the bulletin's figures in headless Chromium with no network."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from contracts.envelope import to_record
from contracts.topics import ATTENDANCE_EVENTS, CERTIFICATION_EVENTS, ENROLLMENT_EVENTS
from probidad.ops.programme import bulletin_plan, generate, small_plan
from probidad.shared.auth import issue_token
from probidad.shared.kafka import ensure_topics
from probidad.shared.settings import DEV_JWT_SECRET
from services.reporting.domain.facts import fact_from
from services.reporting.domain.ledger import Ledger
from tests.support.browser import rendered_dom, screenshot
from tests.support.kafka_tools import eventually
from tests.support.processes import ROOT, ServiceProcess, free_port

pytestmark = pytest.mark.kafka
TOPICS = (ENROLLMENT_EVENTS, ATTENDANCE_EVENTS, CERTIFICATION_EVENTS)
TOKEN = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'comptroller')}"}


async def produce(bootstrap: str, prefix: str, envelopes) -> None:
    """Write the programme's events with their own ids and times, as the services' relays did."""
    await ensure_topics(bootstrap, [f"{prefix}{t}" for t in TOPICS])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=20)
    await producer.start()
    try:
        for envelope in envelopes:
            key, value, headers = to_record(envelope)
            await producer.send(f"{prefix}{envelope.event.kafka_topic}", value, key=key,
                                headers=[(k, v.encode()) for k, v in headers.items()])
        await producer.flush()
    finally:
        await producer.stop()


def facts_in(envelopes) -> int:
    ledger = Ledger()
    return ledger.apply_all(f for e in envelopes if (f := fact_from(e)))


def env_for(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> dict[str, str]:
    return {"PROBIDAD_KAFKA_BOOTSTRAP": kafka_bootstrap, "PROBIDAD_TOPIC_PREFIX": topic_prefix,
            "PROBIDAD_STATE_DIR": str(tmp_path),
            "PROBIDAD_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'reporting.db'}",
            "PROBIDAD_JWT_SECRET": DEV_JWT_SECRET}


async def month(client: httpx.AsyncClient, **params) -> dict:
    response = await client.get("/reports/figures", params=params, headers=TOKEN)
    assert response.status_code == 200, response.text
    return response.json()["rows"][0]


async def test_the_live_service_projects_every_topic_from_offset_0_and_reports_no_lag_once_caught_up(
        kafka_bootstrap, topic_prefix, tmp_path):
    programme = generate(small_plan(seed=11))
    await produce(kafka_bootstrap, topic_prefix, programme.envelopes)
    service = ServiceProcess("services.reporting", env_for(kafka_bootstrap, topic_prefix, tmp_path), free_port(),
                             tmp_path / "reporting.log").start()
    try:
        async with httpx.AsyncClient(base_url=service.url, timeout=10) as client:
            expected = facts_in(programme.envelopes)

            async def caught_up() -> bool:
                return (await client.get("/reports/status")).json()["facts"] == expected

            await eventually(caught_up, timeout_s=120, interval_s=1)
            for number, plan in programme.plan.months.items():
                figures = await month(client, month=f"2026-{number:02d}")
                assert (figures["sessions_delivered"], figures["servants_trained"]) == (
                    plan.sessions_delivered, plan.servants_trained)

            async def lag_is_zero() -> dict[str, float]:
                text = (await client.get("/metrics")).text
                lags = {}
                for topic in TOPICS:
                    found = re.search(r'probidad_consumer_lag_events\{group="probidad-reporting",topic="'
                                      + re.escape(topic_prefix + topic) + r'"\} (\S+)', text)
                    if found is None:
                        return {}
                    lags[topic] = float(found.group(1))
                return lags if all(v == 0 for v in lags.values()) else {}

            lags = await eventually(lag_is_zero, timeout_s=30, interval_s=1)
            assert set(lags) == set(TOPICS)
            assert 'probidad_consumer_lag_seconds{group="probidad-reporting"' in (await client.get("/metrics")).text
    finally:
        service.stop()


async def test_a_rebuild_swaps_in_while_the_service_answers_and_the_dashboard_shows_the_bulletin(
        kafka_bootstrap, topic_prefix, tmp_path):
    programme = generate(bulletin_plan())
    await produce(kafka_bootstrap, topic_prefix, programme.envelopes)
    env = env_for(kafka_bootstrap, topic_prefix, tmp_path)
    service = ServiceProcess("services.reporting", env, free_port(), tmp_path / "reporting.log").start()
    try:
        async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:
            import os

            rebuild = subprocess.Popen([sys.executable, "-c", "from probidad.ops.cli import app; app()", "reporting",
                                        "rebuild"], cwd=ROOT, env={**os.environ, **env},
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            answered = 0
            while rebuild.poll() is None:  # the service keeps answering throughout the rebuild
                assert (await client.get("/reports/figures", params={"month": "2026-11"},
                                         headers=TOKEN)).status_code == 200
                answered += 1
                await asyncio.sleep(0.2)
            output = rebuild.stdout.read().decode()
            assert rebuild.returncode == 0, output
            assert "swapped in" in output and f"{len(programme.envelopes):,} events read" in output
            assert answered >= 1

            status = (await client.get("/reports/status")).json()
            assert status["generation"] >= 2
            november = await month(client, month="2026-11")
            assert november["sessions_delivered"] == programme.plan.months[11].sessions_delivered
            assert november["servants_trained"] == programme.plan.months[11].servants_trained
            jan_nov = await month(client, **{"from": "2026-01-01", "to": "2026-11-30"})
            assert jan_nov["servants_trained"] == programme.plan.distinct_trained

        url = f"{service.url}/dashboard?year=2026"
        dom = rendered_dom(url, tmp_path / "chromium")
        shot = screenshot(url, tmp_path / "chromium", tmp_path / "dashboard.png")
        assert shot.stat().st_size > 20_000

        assert re.search(r'<rect[^>]*data-month="2026-11"[^>]*data-servants-trained="'
                         + str(programme.plan.months[11].servants_trained) + '"', dom)
        assert re.search(r'<circle[^>]*data-month="2026-11"[^>]*data-sessions-delivered="'
                         + str(programme.plan.months[11].sessions_delivered) + '"', dom)
        levels = {m.group(1): int(m.group(2)) for m in
                  re.finditer(r'class="split-row" data-level="(\w+)" data-servants-trained="(\d+)"', dom)}
        trained = programme.trained()
        assert sum(levels.values()) == len(trained) and set(levels) == {"state", "municipal"}
        coverage = [float(c) for c in re.findall(r'<tr data-institution="[^"]+" data-coverage="([0-9.]+)"', dom)]
        assert len(coverage) == len(programme.institutions) and coverage == sorted(coverage)
        assert 'data-figure="servants_trained"' in dom
        assert not re.search(r'\s(src|href)=|<link|@import|url\(', dom), "the page must load nothing from anywhere"
    finally:
        service.stop()

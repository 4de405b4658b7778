"""The platform's learning records in a real Ralph LRS: the four services as processes on the real broker,
reporting pointed at Ralph by PROBIDAD_LRS_URL; a small programme loaded through the public interfaces appears
in the LRS, read back through its xAPI API, as exactly the statements its facts call for (counted per verb,
course and month, and checked one by one for a servant); records delivered again add none; a correction over
HTTP voids the attended statement and replaces it; ``probidad xapi backfill`` sends the history again and the
LRS keeps one of each."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from contracts.envelope import Envelope, open_envelope
from contracts.events import AttendanceRecorded, CertificateIssued
from contracts.topics import ATTENDANCE_EVENTS, CERTIFICATION_EVENTS, ENROLLMENT_EVENTS
from probidad.ops.demo import Loader, comptroller_token
from probidad.ops.localhost import eventually
from probidad.ops.platform import start_services, stop_services
from probidad.ops.programme import demo_programme as plan
from probidad.ops.programme import expected_figures
from services.reporting.rebuild.source import KafkaSnapshot
from tests.support.ralph import Lrs, ralph_fixture  # noqa: F401 (fixture `ralph`)
from tests.support.xapi_counts import counted, expected_counts, verb
from tests.support.processes import free_port_offset

PLANNED_ON = datetime(2026, 5, 2, 9, 0, tzinfo=ZoneInfo("America/Mexico_City"))
TOPICS = (ENROLLMENT_EVENTS, ATTENDANCE_EVENTS, CERTIFICATION_EVENTS)


@pytest.fixture
def lrs_platform(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, ralph: Lrs):
    base = f"https://probidad.test/{topic_prefix.strip('.') or 'e2e'}"
    env = {**ralph.server.environment(), "PROBIDAD_XAPI_PUBLIC_URL": base, "PROBIDAD_LRS_RETRY_BASE_S": "0.5",
           "PROBIDAD_RELAY_INTERVAL_MS": "50"}
    running = start_services(tmp_path, kafka_bootstrap, topic_prefix=topic_prefix,
                             base_port_offset=free_port_offset(topic_prefix), extra_env=env)
    yield {"running": running, "urls": {s.name: s.url for s in running}, "base": base, "env": env}
    stop_services(running)


async def _records(bootstrap: str, topic_prefix: str) -> list:
    snapshot = await KafkaSnapshot(bootstrap, [f"{topic_prefix}{t}" for t in TOPICS]).open()
    try:
        return [record async for batch in snapshot.batches() for record in batch]
    finally:
        await snapshot.close()


def _envelopes(records) -> list[Envelope]:
    return [open_envelope(r.headers, r.value) for r in records]


async def test_a_programme_loaded_through_the_public_interfaces_is_in_the_lrs_as_exactly_its_statements(
        lrs_platform, ralph, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    programme = plan(seed=7, scale=0.03, now=PLANNED_ON)
    token = comptroller_token()
    urls, base = lrs_platform["urls"], lrs_platform["base"]
    await Loader(urls, kafka_bootstrap, programme, token, topic_prefix=topic_prefix).run()
    wanted = {month: (f["sessions_delivered"], f["servants_trained"], f["participations"])
              for month, f in expected_figures(programme)["months"].items()}

    async def every_certificate_out():
        # Reporting's figures are the programme's once certification has issued every certificate.
        seen = {}
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
            for month in wanted:
                rows = (await http.get(f"{urls['reporting']}/reports/figures", params={"month": month})).json()["rows"]
                row = rows[0] if rows else {}
                seen[month] = (row.get("sessions_delivered"), row.get("servants_trained"), row.get("participations"))
        return seen == wanted
    await eventually(every_certificate_out, timeout_s=180, interval_s=1, what="every certificate issued")

    async def lrs_matches_the_facts():
        envelopes = _envelopes(await _records(kafka_bootstrap, topic_prefix))
        stored = await ralph.of(base)
        return (envelopes, stored) if counted(stored, base) == expected_counts(envelopes) else None
    # Certification decides completions after the sessions close, and the projection follows: a fixed point.
    envelopes, stored = await eventually(lrs_matches_the_facts, timeout_s=180, interval_s=2,
                                         what="the LRS holding the programme's statements")
    expected = expected_counts(envelopes)
    assert {v for v, _course, _month in expected} >= {"registered", "attended", "completed", "passed", "earned"}
    assert len({s["id"] for s in stored}) == len(stored)

    # One servant, statement by statement.
    issued = next(e.event for e in envelopes if isinstance(e.event, CertificateIssued))
    record = next(e.event for e in envelopes if isinstance(e.event, AttendanceRecorded)
                  and (e.event.session_id, e.event.servant_id) == (issued.session_id, issued.servant_id))
    theirs = [s for s in stored if s["actor"] == {"objectType": "Agent", "account": {"homePage": base,
                                                                                   "name": issued.servant_id}}]
    of_session = [s for s in theirs if f"/session/{issued.session_id}" in str(s)]
    assert {verb(s) for s in of_session} >= {"registered", "attended", "completed", "passed", "earned"}
    [attended] = [s for s in of_session if verb(s) == "attended"]
    seconds = record.seconds_present if record.seconds_present is not None else record.minutes_present * 60
    h, m, sec = seconds // 3600, seconds % 3600 // 60, seconds % 60
    assert attended["result"]["duration"] == "PT" + ("".join(f"{n}{u}" for n, u in ((h, "H"), (m, "M"), (sec, "S"))
                                                             if n) or "0S")
    [completed] = [s for s in of_session if verb(s) == "completed"]
    assert completed["object"]["id"] == f"{base}/xapi/activities/course/{issued.course_id}"
    assert completed["result"]["completion"] is True
    for s in theirs:  # pseudonymous: only ids, never a name, e-mail or CURP
        assert "mbox" not in str(s) and "@" not in str(s["actor"])

    # Records delivered again, and then a correction over HTTP: the correction alone adds statements.
    records = await _records(kafka_bootstrap, topic_prefix)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for r in records[:: max(len(records) // 60, 1)]:
            await producer.send_and_wait(r.topic, r.value, key=r.key, headers=list(r.headers))
    finally:
        await producer.stop()
    minutes = max(record.minutes_present - 7, 0)
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        marked = await http.post(f"{urls['attendance']}/sessions/{issued.session_id}/marks", json={
            "servant_id": issued.servant_id, "status": "present", "minutes_present": minutes,
            "reason": "the platform report missed a reconnection"})
    assert marked.status_code == 200, marked.text

    async def corrected():
        now_stored = await ralph.of(base)
        voiding = [s for s in now_stored if verb(s) == "voided" and s["object"]["id"] == attended["id"]]
        return now_stored if voiding else None
    after = await eventually(corrected, timeout_s=60, what="the attended statement voided")
    envelopes = _envelopes(await _records(kafka_bootstrap, topic_prefix))
    assert len(envelopes) > len(records)
    assert counted(after, base) == expected_counts(envelopes)
    assert len(after) == len(stored) + 2, "a voiding statement and the replacement; nothing for the redelivered"
    [again] = [s for s in after if verb(s) == "attended" and s["id"] != attended["id"]
               and s["actor"]["account"]["name"] == issued.servant_id and f"/session/{issued.session_id}" in str(s)]
    assert again["result"]["duration"].startswith("PT")

    # The history again, from the topics: the LRS keeps one of each.
    stop_services(lrs_platform["running"])
    env = {**os.environ, **lrs_platform["env"], "PROBIDAD_STATE_DIR": str(tmp_path),
           "PROBIDAD_KAFKA_BOOTSTRAP": kafka_bootstrap, "PROBIDAD_TOPIC_PREFIX": topic_prefix}
    env.pop("PROBIDAD_DATABASE_URL", None)
    for since in ([], ["--since", datetime.now(ZoneInfo("UTC")).date().isoformat()]):
        done = subprocess.run([sys.executable, "-c", "from probidad.ops.cli import app; app()", "xapi", "backfill",
                               *since], env=env,
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        assert " 0 parked" in done.stdout and " 0 learning facts" not in done.stdout, done.stdout
        assert len(await ralph.of(base)) == len(after)

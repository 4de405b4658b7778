"""Over the real broker: enrollment's facts published by an outside producer, a Zoom report imported with
the CLI into the attendance process, the session closed, and the attendance read back with kcat."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from contracts.events import EnrolmentConfirmed, ServantRegistered, SessionScheduled
from contracts.pseudonyms import email_digest
from contracts.topics import ATTENDANCE_EVENTS
from probidad.shared.auth import issue_token
from probidad.shared.settings import DEV_JWT_SECRET
from tests.support.kafka_tools import eventually, publish_events
from tests.support.processes import ROOT, ServiceProcess, free_port

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "attendance"
DIGEST_KEY = "e2e-digest-key"
CANCUN = ZoneInfo("America/Cancun")
ENROLLED = {
    "srv-ana": ("sefiplan", "ana.lopez@sefiplan.example.gob.mx"),
    "srv-benito": ("ssp", "benito.chan@seguridad.example.gob.mx"),
    "srv-carla": ("dif", "carla.cauich@dif.example.gob.mx"),
    "srv-fer": ("dif", "fernanda.may@dif.example.gob.mx"),
}
# What the Zoom fixture says, merged and clipped to 10:00–12:00 (see tests/unit/test_attendance_reports.py)
EXPECTED = {"srv-ana": (118, "present"), "srv-benito": (113, "present"), "srv-carla": (88, "late"),
            "srv-fer": (0, "absent")}


def kcat_events(kcat: str, bootstrap: str, topic: str) -> list[dict]:
    """Every record of the topic, as a non-Probidad client sees it: headers and JSON value."""
    out = subprocess.run([kcat, "-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-J", "-q"],
                         capture_output=True, text=True, timeout=30)
    records = []
    for line in out.stdout.splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        flat = record.get("headers") or []
        headers = dict(zip(flat[0::2], flat[1::2], strict=True))
        records.append({"key": record["key"], "type": headers.get("ce_type"), "headers": headers,
                        "data": json.loads(record["payload"])})
    return records


async def test_a_zoom_report_imported_and_the_session_closed_reach_kafka_with_the_merged_minutes(
        kafka_bootstrap: str, topic_prefix: str, kcat: str, tmp_path: Path) -> None:
    day = (datetime.now(CANCUN) - timedelta(days=3)).date()
    starts = datetime(day.year, day.month, day.day, 10, 0, tzinfo=CANCUN)
    env = {"PROBIDAD_KAFKA_BOOTSTRAP": kafka_bootstrap, "PROBIDAD_TOPIC_PREFIX": topic_prefix,
           "PROBIDAD_STATE_DIR": str(tmp_path / "state"), "PROBIDAD_EMAIL_DIGEST_KEY": DIGEST_KEY,
           "PROBIDAD_JWT_SECRET": DEV_JWT_SECRET, "PROBIDAD_ENVIRONMENT": "test"}
    service = ServiceProcess("services.attendance", env, free_port(), tmp_path / "attendance.log").start()
    try:
        session_id = f"ses-{topic_prefix.strip('.')}"
        await publish_events(kafka_bootstrap, [
            SessionScheduled(session_id=session_id, course_id="crs-etica", modality="virtual", platform="Zoom",
                             starts_at=starts, ends_at=starts + timedelta(hours=2), timezone="America/Cancun",
                             capacity=25, instructor_id="ins-rosa"),
            *(ServantRegistered(servant_id=s, institution_id=inst, sex="female",
                                email_digest=email_digest(email, DIGEST_KEY)) for s, (inst, email) in ENROLLED.items()),
            *(EnrolmentConfirmed(enrolment_id=f"enr-{s}", session_id=session_id, servant_id=s, institution_id=inst)
              for s, (inst, _) in ENROLLED.items()),
        ], topic_prefix=topic_prefix)

        token = issue_token(DEV_JWT_SECRET, "instructor", instructor_id="ins-rosa", subject="rosa")
        headers = {"Authorization": f"Bearer {token}"}

        async def roster_complete() -> bool:
            async with httpx.AsyncClient(base_url=service.url) as http:
                response = await http.get(f"/sessions/{session_id}", headers=headers)
            return response.status_code == 200 and len(response.json()["attendance"]) == len(ENROLLED)

        await eventually(roster_complete, timeout_s=30)

        report = tmp_path / "participants_81234567890.csv"
        report.write_bytes((FIXTURES / "zoom_participants.csv").read_bytes()
                           .replace(b"11/05/2026", starts.strftime("%m/%d/%Y").encode()))
        cli = subprocess.run(
            [sys.executable, "-c", "from probidad.ops.cli import app; app()", "attendance", "import", session_id,
             str(report), "--format", "zoom", "--url", service.url, "--token", token],
            cwd=ROOT, capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"})
        assert cli.returncode == 0, cli.stdout + cli.stderr
        assert "10 rows, 5 matched to 3 servants, 5 unmatched, 1 ignored" in cli.stdout
        assert "no servant has this e-mail" in cli.stdout

        async with httpx.AsyncClient(base_url=service.url) as http:
            closed = await http.post(f"/sessions/{session_id}/close", headers=headers)
        assert closed.status_code == 200, closed.text

        topic = f"{topic_prefix}{ATTENDANCE_EVENTS}"
        deadline = time.monotonic() + 30
        records: list[dict] = []
        while time.monotonic() < deadline:
            records = kcat_events(kcat, kafka_bootstrap, topic)
            if any(r["type"] == "probidad.attendance.session.closed.v1" for r in records):
                break
            await asyncio.sleep(0.5)
        recorded = {r["data"]["servant_id"]: r for r in records
                    if r["type"] == "probidad.attendance.attendance.recorded.v1"}
        assert {s: (r["data"]["minutes_present"], r["data"]["status"]) for s, r in recorded.items()} == EXPECTED
        assert all(r["data"]["source_of_record"] == "zoom" and r["data"]["session_minutes"] == 120
                   for r in recorded.values())
        assert all(r["key"] == session_id and r["headers"]["ce_source"] == "probidad/attendance"
                   and r["headers"]["content-type"] == "application/json" for r in records)
        # one partition per session: the records precede the close
        assert [r["type"].split(".")[-2] for r in records] == ["recorded"] * 4 + ["closed"]
        closing = records[-1]["data"]
        assert (closing["enrolled"], closing["present"]) == (4, 3)
        assert len({r["headers"]["ce_id"] for r in records}) == len(records)
    finally:
        service.stop()

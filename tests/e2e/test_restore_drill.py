"""The restore drill, on the real broker and PostgreSQL: a programme loaded through the public interfaces, a
backup taken while the services still work through it and agencies keep sending enrolment requests, more
requests after it, then the four databases dropped and the signing key deleted. ``probidad restore`` brings
them back, the services catch up from the offsets the backup recorded, and every answer the APIs gave
before the loss — figures, certificates, constancias, named compliance lists — is given again, identical;
the restored certification still signs a new certificate that verifies."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from contracts.envelope import seal, to_record
from contracts.events import EnrolmentRequested
from probidad.ops.demo import Loader, comptroller_token
from probidad.ops.platform import SERVICES, RunningService, start_services, stop_services
from probidad.ops.programme import demo_programme
from tests.conftest import _admin_execute
from tests.support.processes import free_port_offset
from tests.support.outages import OwnKafka

PLANNED_ON = datetime(2026, 5, 2, 9, 0, tzinfo=ZoneInfo("America/Mexico_City"))
NAMES = [name for name, _port in SERVICES]
# What an answer says about the moment it was given, not about the facts.
VOLATILE = {"generated_at", "served_at", "now"}


@pytest.fixture
def own_kafka(tmp_path_factory: pytest.TempPathFactory):
    """A broker of the drill's own: consumer groups are broker-wide, and a restore may set a group's offsets
    only while nobody is in it — other tests' services on a shared broker use the same group names."""
    kafka = OwnKafka(tmp_path_factory.mktemp("drill-kafka"))
    kafka.start()
    yield kafka.bootstrap
    kafka.stop()


@pytest.fixture
async def drill_databases(postgres_admin_url: str):
    """Four fresh databases, one per service, named by a URL template; dropped afterwards."""
    tag = uuid.uuid4().hex[:8]
    names = {service: f"probidad_drill_{tag}_{service}" for service in NAMES}
    for name in names.values():
        await _admin_execute(postgres_admin_url, f'CREATE DATABASE "{name}"')
    base = postgres_admin_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/probidad_drill_{tag}_{{service}}", names
    finally:
        for name in names.values():
            await _admin_execute(postgres_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _probidad(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The operator's command, as a process."""
    import os

    return subprocess.run([sys.executable, "-c", "from probidad.ops.cli import app; app()", *args],
                          capture_output=True, text=True, env={**os.environ, **env}, timeout=300)


async def _end_offsets(bootstrap: str, prefix: str) -> dict[tuple[str, int], int]:
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if t.startswith(prefix)]
        described = await admin.describe_topics(topics) if topics else []
    finally:
        await admin.close()
    partitions = [TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]]
    assert partitions, f"no topics of {prefix} on the broker"
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    return {(tp.topic, tp.partition): offset for tp, offset in ends.items()}


async def _settled(bootstrap: str, prefix: str) -> dict[tuple[str, int], int] | None:
    """The topics' end offsets once every group has committed the end of every partition of each topic
    it reads (none behind), else None."""
    from probidad.ops.backup import committed_offsets

    ends = await _end_offsets(bootstrap, prefix)
    groups = await committed_offsets(bootstrap, prefix, {})
    for offsets in groups.values():
        read = {key.rsplit(":", 1)[0] for key in offsets}
        for (topic, partition), end in ends.items():
            if topic in read and end > 0 and offsets.get(f"{topic}:{partition}") != end:
                return None
    return ends


async def _caught_up(bootstrap: str, prefix: str, timeout_s: float = 120) -> None:
    """Every group at the end of what it reads, and nothing new published for a while (the relays done)."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        ends = await _settled(bootstrap, prefix)
        if ends is not None and ends == last:
            return
        last = ends
        await asyncio.sleep(1.5)
    raise AssertionError(f"the services did not catch up within {timeout_s:.0f}s")


def _steady(answer: Any) -> Any:
    if isinstance(answer, dict):
        return {k: _steady(v) for k, v in answer.items() if k not in VOLATILE}
    if isinstance(answer, list):
        return [_steady(v) for v in answer]
    return answer


async def _answers(http: httpx.AsyncClient, urls: dict[str, str], programme: Any, sessions: list[str]) -> dict:
    """Every answer the drill compares: what the comptroller, the institutions and the public are told."""
    enrollment, attendance, certification, reporting = (urls[n] for n in NAMES)
    day = programme.last_day.isoformat()
    asked: dict[str, str] = {
        "sessions": f"{enrollment}/sessions", "enrolments": f"{enrollment}/enrolments",
        "institutions": f"{enrollment}/institutions", "servants": f"{enrollment}/servants",
        "transfers": f"{enrollment}/transfers", "requirements": f"{enrollment}/requirements",
        "figures": f"{reporting}/reports/figures?from={programme.first_day}&to={day}",
        "open data": f"{reporting}/open-data/figures.json",
        "compliance": f"{reporting}/reports/compliance?on={day}",
    }
    for by in ("month", "institution", "government_level", "topic", "modality", "sex"):
        asked[f"figures by {by}"] = f"{reporting}/reports/figures?from={programme.first_day}&to={day}&by={by}"
    for year in sorted({programme.first_day.year, programme.last_day.year}):
        asked[f"coverage {year}"] = f"{reporting}/reports/coverage?year={year}"
        asked[f"plan {year}"] = f"{reporting}/reports/plan?year={year}"
    for institution in programme.institutions:
        asked[f"named list {institution.institution_id}"] = (
            f"{enrollment}/institutions/{institution.institution_id}/compliance?state=all&on={day}")
    for session in sessions:
        asked[f"certificates {session}"] = f"{certification}/certificates?session_id={session}"
        asked[f"attendance {session}"] = f"{attendance}/sessions/{session}"
        asked[f"roster {session}"] = f"{reporting}/reports/sessions/{session}/roster"
    found: dict[str, Any] = {}
    for what, url in asked.items():
        response = await http.get(url)
        assert response.status_code == 200, (what, response.status_code, response.text[:300])
        found[what] = _steady(response.json())
    # Listed in the order enrollment decided them; requests read again after the restore arrive from the
    # agencies' partitions in another interleaving (each agency's own order is kept).
    found["enrolments"] = sorted(found["enrolments"], key=lambda e: e["enrolment_id"])
    servants = [s["servant_id"] for s in found["servants"]]
    for servant in servants:
        constancias = await http.get(f"{enrollment}/servants/{servant}/constancias")
        found[f"constancias {servant}"] = _steady(constancias.json())
    codes = sorted(c["verification_code"] for what, listed in found.items() if what.startswith("certificates ")
                   for c in listed)
    for code in codes:
        found[f"verify {code}"] = _steady((await http.get(f"{certification}/verify/{code}",
                                                          headers={"Accept": "application/json"})).json())
    return found


async def _request_enrolments(bootstrap: str, prefix: str, programme: Any, session_id: str, keys: list[str],
                              pause_s: float = 0.0) -> None:
    """Agencies' enrolment requests, one record each (``pause_s`` apart: traffic that goes on meanwhile)."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for key in keys:
            person = programme.servant(key)
            request = EnrolmentRequested(request_id=f"drill-{uuid.uuid5(uuid.NAMESPACE_URL, session_id + key)}",
                                         institution_id=person.institution_id, session_id=session_id,
                                         curp=person.curp)
            k, value, headers = to_record(seal(request, source=f"agency/{person.institution_id}"))
            await producer.send_and_wait(f"{prefix}{request.kafka_topic}", value, key=k,
                                         headers=[(h, v.encode()) for h, v in headers.items()])
            await asyncio.sleep(pause_s)
    finally:
        await producer.stop()


def _ungraded_course(programme: Any) -> str:
    """A course completed by presence alone (no evaluation)."""
    return next(c.course_id for c in programme.courses if c.passing_score is None)


async def _schedule(http: httpx.AsyncClient, enrollment: str, programme: Any, session_id: str, starts: datetime,
                    capacity: int) -> None:
    response = await http.post(f"{enrollment}/sessions", json={
        "session_id": session_id, "course_id": _ungraded_course(programme), "modality": "in_person",
        "starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=2)).isoformat(),
        "timezone": programme.timezone, "capacity": capacity, "instructor_id": "ins-drill",
        "organising_unit": "Unidad de Ética", "venue": "Sala 3"})
    assert response.status_code == 201, response.text


@pytest.mark.timeout(480)  # about two and a half minutes here; room for a slower CI machine
async def test_a_platform_restored_from_a_backup_taken_under_traffic_gives_every_answer_it_gave_before_the_loss(
        drill_databases, own_kafka: str, topic_prefix: str, tmp_path: Path) -> None:
    template, databases = drill_databases
    kafka_bootstrap = own_kafka
    programme = demo_programme(seed=29, scale=0.01, now=PLANNED_ON)
    token = comptroller_token()
    offset = free_port_offset(topic_prefix)
    state = tmp_path / "state"
    key_file = state / "certification-signing-key.pem"
    operator = {"PROBIDAD_STATE_DIR": str(state)}
    kafka = ["--postgres", template, "--bootstrap", kafka_bootstrap, "--topic-prefix", topic_prefix]
    running: list[RunningService] = start_services(state, kafka_bootstrap, postgres=template,
                                                   topic_prefix=topic_prefix, base_port_offset=offset)
    try:
        urls = {s.name: s.url for s in running}
        await Loader(urls, kafka_bootstrap, programme, token, topic_prefix=topic_prefix).run()
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
            # Two more sessions, whose seats agencies request while the backup is taken and after it.
            starts = programme.last_day - timedelta(days=3)
            first_day = datetime(starts.year, starts.month, starts.day, 10, tzinfo=ZoneInfo(programme.timezone))
            extra = ["ses-drill-during", "ses-drill-after"]
            for n, session_id in enumerate(extra):
                await _schedule(http, urls["enrollment"], programme, session_id, first_day + timedelta(days=n),
                                capacity=len(programme.servants))
            # Servants still where they were registered (an agency enrols only its own, serving staff).
            elsewhere = set(programme.departures) | {move.key for move in programme.moves}
            keys = [s.key for s in programme.servants if s.key not in elsewhere]
            during = asyncio.create_task(_request_enrolments(kafka_bootstrap, topic_prefix, programme, extra[0],
                                                             keys, pause_s=0.4))
            # The backup starts while certification and reporting still work through the programme's facts and
            # the requests keep coming.
            backup = await asyncio.to_thread(_probidad, "backup", "-o", str(tmp_path / "backup"), *kafka,
                                             env=operator)
            assert backup.returncode == 0, backup.stderr
            print(backup.stdout)
            assert not during.done(), "the requests were meant to go on while the backup was taken"
            await during
            await _request_enrolments(kafka_bootstrap, topic_prefix, programme, extra[1], keys)
            await _caught_up(kafka_bootstrap, topic_prefix)
            enrolled = {s: len((await http.get(f"{urls['enrollment']}/enrolments", params={"session_id": s})).json())
                        for s in extra}
            assert enrolled == {s: len(keys) for s in extra}
            sessions = [s.session_id for s in programme.sessions] + extra
            before = await _answers(http, urls, programme, sessions)
        dead_letters_before = {tp: n for tp, n in (await _end_offsets(kafka_bootstrap, topic_prefix)).items()
                               if tp[0].endswith(".dlq")}
        certificates = [k for k in before if k.startswith("verify ")]
        assert certificates and all(before[k]["signature"]["holds"] for k in certificates)

        manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
        assert (tmp_path / "backup" / "certification-signing-key.pem").stat().st_mode & 0o777 == 0o600
        assert "SECRET" in backup.stdout and "PRIVATE" in backup.stdout

        # The loss: every service stopped, its database dropped, the signing key deleted.
        stop_services(running)
        running = []
        for name in databases.values():
            await _admin_execute(template.rsplit("/", 1)[0] + "/probidad", f'DROP DATABASE "{name}" WITH (FORCE)')
        key_file.unlink()

        restored = await asyncio.to_thread(_probidad, "restore", str(tmp_path / "backup"), *kafka, env=operator)
        assert restored.returncode == 0, restored.stdout + restored.stderr
        for service in NAMES:
            assert f"{service}: restoring" in restored.stdout
        # Enrollment had read requests after the backup: its group is set back to read them again.
        moved = re.search(r"probidad-enrollment: \d+ partitions set to the backup's offsets \((\d+) moved back\)",
                          restored.stdout)
        assert moved and int(moved.group(1)) > 0, restored.stdout
        assert key_file.stat().st_mode & 0o777 == 0o600
        # A second restore would overwrite what the first brought back: refused, naming why.
        again = await asyncio.to_thread(_probidad, "restore", str(tmp_path / "backup"), *kafka, env=operator)
        assert again.returncode == 1 and "hold tables" in again.stderr

        running = start_services(state, kafka_bootstrap, postgres=template, topic_prefix=topic_prefix,
                                 base_port_offset=offset)
        await _caught_up(kafka_bootstrap, topic_prefix)
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
            after = await _answers(http, urls, programme, sessions)
            differing = sorted(k for k in {*before, *after} if before.get(k) != after.get(k))
            if differing:  # kept beside the test's logs, for whoever reads the failure
                (tmp_path / "differences.json").write_text(json.dumps(
                    {k: {"before": before.get(k), "after": after.get(k)} for k in differing}, indent=1))
            assert not differing, (differing[:10], [(before.get(k), after.get(k)) for k in differing[:2]])
            dead_letters_after = {tp: n for tp, n in (await _end_offsets(kafka_bootstrap, topic_prefix)).items()
                                  if tp[0].endswith(".dlq")}
            assert dead_letters_after == dead_letters_before, "the catch-up dead-lettered records"

            # The restored certification signs a new certificate with the restored key, and it verifies.
            await _a_new_certificate_is_signed_with_the_restored_key(http, urls, programme, first_day,
                                                                     manifest["signing_key"]["key_id"])
    finally:
        stop_services(running)


async def _a_new_certificate_is_signed_with_the_restored_key(http: httpx.AsyncClient, urls: dict[str, str],
                                                             programme: Any, day: datetime, key_id: str) -> None:
    session_id = "ses-drill-new"
    await _schedule(http, urls["enrollment"], programme, session_id, day + timedelta(days=2), capacity=5)
    servant = (await http.get(f"{urls['enrollment']}/servants")).json()[0]["servant_id"]
    response = await http.post(f"{urls['enrollment']}/enrolments", json={"session_id": session_id,
                                                                          "servant_id": servant})
    assert response.status_code == 201, response.text
    attendance = f"{urls['attendance']}/sessions/{session_id}"
    deadline = time.monotonic() + 30
    while len((await http.get(attendance)).json().get("attendance", [])) < 1:
        assert time.monotonic() < deadline, "attendance never learnt of the enrolment"
        await asyncio.sleep(0.3)
    marked = await http.post(f"{attendance}/marks", json={"servant_id": servant, "status": "present",
                                                          "minutes_present": 120})
    assert marked.status_code == 200, marked.text
    assert (await http.post(f"{attendance}/close")).status_code == 200
    deadline = time.monotonic() + 30
    while not (issued := (await http.get(f"{urls['certification']}/certificates",
                                         params={"session_id": session_id})).json()):
        assert time.monotonic() < deadline, "no certificate was issued for the new session"
        await asyncio.sleep(0.3)
    verified = (await http.get(f"{urls['certification']}/verify/{issued[0]['verification_code']}",
                               headers={"Accept": "application/json"})).json()
    assert verified["valid"] is True, verified
    assert verified["signature"] == {**verified["signature"], "key_id": key_id, "holds": True}, verified

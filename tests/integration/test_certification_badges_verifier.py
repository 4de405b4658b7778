"""Badges checked by software that is not ours: Digital Bazaar's VC libraries (tests/badge_verifier, installed
by scripts/badge-verifier-setup) verify the badges the service serves, offline, with the status lists it
serves — a valid badge verifies, a tampered one does not, a revoked one verifies but reads as revoked.
Also the public documents a badge points at: its status list and its achievement."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from contracts.envelope import open_envelope, seal
from contracts.events import (
    AssessmentGraded,
    AttendanceCorrected,
    AttendanceRecorded,
    CertificateIssued,
    CertificateRevoked,
    CoursePublished,
    EnrolmentConfirmed,
    SessionScheduled,
)
from services.certification import status_list
from services.certification.app import create_app
from services.certification.settings import CertificationSettings
from tests.support.harness import ServiceHarness, serving

REQUIRE_REAL = os.environ.get("PROBIDAD_REQUIRE_REAL") == "1"
ROOT = Path(__file__).resolve().parents[2]
VERIFIER = ROOT / "tests" / "badge_verifier" / "verify.mjs"
BASE_URL = "https://certificados.example.gob.mx"
T0 = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
CANCUN = ZoneInfo("America/Cancun")


@pytest.fixture(scope="module")
def independent_verifier() -> Path:
    """The verifier installed (once; a no-op when its lock file is what was installed). In CI a verifier
    that cannot be installed fails the tests that need it."""
    if shutil.which("node") is None and not REQUIRE_REAL:
        pytest.skip("Node.js not installed")
    done = subprocess.run([str(ROOT / "scripts" / "badge-verifier-setup")], capture_output=True, text=True,
                          timeout=600)
    if done.returncode != 0:
        message = f"scripts/badge-verifier-setup failed:\n{done.stderr[-3000:]}"
        if REQUIRE_REAL:
            pytest.fail(message)
        pytest.skip(message)
    return VERIFIER


def verify_independently(verifier: Path, tmp_path: Path, credentials: dict, documents: dict) -> dict:
    cases = tmp_path / "cases.json"
    cases.write_text(json.dumps({"credentials": credentials, "documents": documents}), encoding="utf-8")
    done = subprocess.run(["node", str(verifier), str(cases)], capture_output=True, text=True, timeout=120,
                          cwd=verifier.parent)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


class Certification:
    def __init__(self, harness: ServiceHarness) -> None:
        self.harness, self.settings = harness, harness.settings
        self.clock = 0

    async def hear(self, *events) -> None:
        for event in events:
            self.clock += 1
            await self.harness.deliver(seal(event, time=T0 + timedelta(hours=self.clock)),
                                       topic=self.settings.topic(event.kafka_topic))

    async def events(self, kind) -> list:
        await self.harness.drain()
        envelopes = [open_envelope(m.headers, m.body) for m in self.harness.messages]
        return [e.event for e in envelopes if isinstance(e.event, kind)]


@pytest.fixture
async def certification(database_url: str, tmp_path: Path):
    settings = CertificationSettings(database_url=database_url, state_dir=tmp_path, public_base_url=BASE_URL)
    async with serving(create_app, settings, dead_letters=False) as harness:
        yield Certification(harness)


COURSE = CoursePublished(course_id="c-1", code="CE-01", title="Código de Ética para servidores públicos",
                         topic="Código de Ética", hours=4, minimum_attendance_share=0.8, passing_score=70)
STARTS = datetime(2026, 11, 5, 9, 0, tzinfo=CANCUN)
SESSION = SessionScheduled(session_id="s-1", course_id="c-1", modality="virtual", platform="Zoom", starts_at=STARTS,
                           ends_at=STARTS + timedelta(hours=4), timezone="America/Cancun", capacity=30)


def completed(servant: str) -> list:
    return [EnrolmentConfirmed(enrolment_id=f"en-{servant}", session_id="s-1", servant_id=servant,
                               institution_id="inst-1"),
            AttendanceRecorded(session_id="s-1", servant_id=servant, minutes_present=228, session_minutes=240,
                               share=0.95, status="present", source_of_record="zoom"),
            AssessmentGraded(session_id="s-1", servant_id=servant, score=86)]


def left_early(servant: str) -> AttendanceCorrected:
    return AttendanceCorrected(session_id="s-1", servant_id=servant, minutes_present=120, session_minutes=240,
                               share=0.5, status="late", reason="left during the second half",
                               corrected_by="instructor-1")


async def test_an_independent_verifier_accepts_a_badge_rejects_a_tampered_one_and_reads_a_revoked_one(
        certification, independent_verifier, tmp_path):
    await certification.hear(COURSE, SESSION, *completed("sv-1"), *completed("sv-2"))
    kept, withdrawn = sorted(await certification.events(CertificateIssued), key=lambda e: e.servant_id)
    async with certification.harness.client(None) as http:
        badge = (await http.get(f"/certificates/{kept.verification_code}/badge")).json()
        revoked_badge = (await http.get(f"/certificates/{withdrawn.verification_code}/badge")).json()
        await certification.hear(left_early("sv-2"))
        (revocation,) = await certification.events(CertificateRevoked)
        assert revocation.certificate_id == withdrawn.certificate_id
        assert (await http.get(f"/certificates/{kept.verification_code}/badge")).json() == badge  # same bytes signed
        lists = {}
        for held in (badge, revoked_badge):
            url = held["credentialStatus"]["statusListCredential"]
            answer = await http.get(url.removeprefix(BASE_URL))
            assert answer.status_code == 200, answer.text
            lists[url] = answer.json()
    tampered = copy.deepcopy(badge)
    tampered["credentialSubject"]["achievement"]["name"] = "Un curso que no se tomó"

    verdicts = verify_independently(independent_verifier, tmp_path,
                                    {"valid": badge, "tampered": tampered, "revoked": revoked_badge}, lists)

    assert verdicts["valid"] == {"verified": True, "revoked": False, "error": None}
    assert verdicts["tampered"]["verified"] is False and "signature" in verdicts["tampered"]["error"].lower()
    assert verdicts["revoked"] == {"verified": True, "revoked": True, "error": None}


async def test_a_status_list_has_the_bits_of_revoked_certificates_set_and_no_others(certification):
    await certification.hear(COURSE, SESSION, *completed("sv-1"), *completed("sv-2"), left_early("sv-2"))
    kept, withdrawn = sorted(await certification.events(CertificateIssued), key=lambda e: e.servant_id)
    async with certification.harness.client(None) as http:
        for held, revoked in ((kept, False), (withdrawn, True)):
            at = status_list.position(held.verification_code)
            answer = await http.get(f"/status-lists/{at.list_id.lower()}")  # as a person might type it
            assert answer.status_code == 200
            assert answer.headers["content-type"].startswith("application/vc+ld+json")
            credential = answer.json()
            assert credential["id"] == f"{BASE_URL}/status-lists/{at.list_id}"
            bits = status_list.decoded_list(credential["credentialSubject"]["encodedList"])
            assert status_list.bit_is_set(bits, at.index) is revoked
            assert sum(bin(byte).count("1") for byte in bits) == int(revoked)
        for not_a_list in ("UUUU-UUUU", "7K3M", "7K3M-Q9XD-2F4H"):  # U is no Crockford symbol; too short; a code
            assert (await http.get(f"/status-lists/{not_a_list}")).status_code == 404, not_a_list


async def test_a_badges_achievement_id_serves_the_achievement(certification):
    await certification.hear(COURSE, SESSION, *completed("sv-1"))
    (issued,) = await certification.events(CertificateIssued)
    async with certification.harness.client(None) as http:
        badge = (await http.get(f"/certificates/{issued.verification_code}/badge")).json()
        embedded = badge["credentialSubject"]["achievement"]
        answer = await http.get(embedded["id"].removeprefix(BASE_URL))
        assert answer.status_code == 200
        served = answer.json()
        assert served.pop("@context") == badge["@context"]
        assert served == embedded
        assert served["criteria"]["narrative"].startswith("Asistir al menos al 80%")
        assert (await http.get("/achievements/c-unknown")).status_code == 404

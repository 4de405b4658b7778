"""Certification on SQLite and PostgreSQL: facts in through the consumer, certificates out through the
outbox, and the public verification API — with the in-memory broker."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from itertools import permutations
from zoneinfo import ZoneInfo

import httpx
import pytest
from faststream.kafka.annotations import KafkaMessage
from sqlalchemy import update

from contracts.envelope import open_envelope, seal
from contracts.events import (
    AssessmentGraded,
    AttendanceCorrected,
    AttendanceRecorded,
    CertificateIssued,
    CertificateRevoked,
    CompetencyAttained,
    CoursePublished,
    EnrolmentCancelled,
    EnrolmentConfirmed,
    ServantRegistered,
    ServantUpdated,
    SessionRescheduled,
    SessionScheduled,
)
from contracts.holder import holder_digest, new_salt
from services.certification.app import create_app
from services.certification.badges import verify_credential
from services.certification.settings import CertificationSettings
from services.certification.signing import PublicKey, b64url_decode
from services.certification.tables import CertificateRecord
from tests.support.harness import ServiceHarness, serving

# In CI (PROBIDAD_REQUIRE_REAL=1) a missing poppler-utils must fail these tests, not skip them.
REQUIRE_REAL = os.environ.get("PROBIDAD_REQUIRE_REAL") == "1"
NO_POPPLER = shutil.which("pdftoppm") is None and not REQUIRE_REAL

CANCUN = ZoneInfo("America/Cancun")
T0 = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
BASE_URL = "https://certificados.example.gob.mx"


class Certification:
    """The service in the harness: an HTTP client, facts delivered at a clock, and what it published."""

    def __init__(self, harness: ServiceHarness) -> None:
        self.harness = harness
        self.app, self.settings, self.runtime = harness.app, harness.settings, harness.runtime
        self.published: list[KafkaMessage] = harness.messages
        self.clock = 0

    async def hear(self, event, *, hours: float | None = None, envelope=None):
        """Deliver one fact as its producer would have (stated at T0 + hours)."""
        if envelope is None:
            self.clock += 1
            envelope = seal(event, time=T0 + timedelta(hours=self.clock if hours is None else hours))
        await self.harness.deliver(envelope, topic=self.settings.topic(event.kafka_topic))
        return envelope

    async def events(self, kind=None) -> list:
        await self.harness.drain()
        envelopes = [open_envelope(m.headers, m.body) for m in self.published]
        return [e.event for e in envelopes if kind is None or isinstance(e.event, kind)]

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        return self.harness.client(None, token=token)

    def token(self, role: str, *, institution_id: str | None = None, subject: str | None = None) -> str:
        return self.harness.token(role, institution=institution_id, subject=subject)


@asynccontextmanager
async def running(settings: CertificationSettings, tokens=None):
    """The service started with ``settings`` on the in-memory broker, stopped on leaving."""
    async with serving(create_app, settings, dead_letters=False, tokens=tokens) as harness:
        yield Certification(harness)


@pytest.fixture
async def certification(database_url: str, tmp_path, token_minter):
    settings = CertificationSettings(
        database_url=database_url, state_dir=tmp_path, public_base_url=BASE_URL,
        competency_model={"Integridad pública": ["Código de Ética", "CI-02"]},
    )
    async with running(settings, token_minter) as service:
        yield service


def course(n: int | str = 1, *, code: str = "CE-01", topic: str = "Código de Ética", passing: float | None = 70):
    return CoursePublished(course_id=f"c-{n}", code=code, title=f"{topic} para servidores públicos", topic=topic,
                           hours=4, minimum_attendance_share=0.8, passing_score=passing)


def scheduled(n: int | str = 1, course_n: int | str = 1, day: int = 5):
    starts = datetime(2026, 11, day, 21, 0, tzinfo=CANCUN)  # already the next day in UTC
    return SessionScheduled(session_id=f"s-{n}", course_id=f"c-{course_n}", modality="virtual", platform="Zoom",
                            starts_at=starts, ends_at=starts + timedelta(hours=4), timezone="America/Cancun",
                            capacity=30)


def seat(servant: str, n: int | str = 1):
    return EnrolmentConfirmed(enrolment_id=f"en-{servant}-{n}", session_id=f"s-{n}", servant_id=servant,
                              institution_id="inst-1")


def present(servant: str, n: int | str = 1, minutes: int = 228):
    return AttendanceRecorded(session_id=f"s-{n}", servant_id=servant, minutes_present=minutes, session_minutes=240,
                              share=minutes / 240, status="present", source_of_record="zoom")


def corrected(servant: str, n: int | str = 1, minutes: int = 120):
    return AttendanceCorrected(session_id=f"s-{n}", servant_id=servant, minutes_present=minutes, session_minutes=240,
                               share=minutes / 240, status="late", reason="left during the second half",
                               corrected_by="instructor-1")


def graded(servant: str, n: int | str = 1, score: float = 86):
    return AssessmentGraded(session_id=f"s-{n}", servant_id=servant, score=score)


async def test_a_completion_heard_out_of_order_issues_one_certificate_the_public_can_verify(certification):
    for fact in (graded("sv-1"), present("sv-1"), seat("sv-1"), scheduled(), course()):
        await certification.hear(fact)
    (issued,) = await certification.events(CertificateIssued)
    assert (issued.servant_id, issued.session_id, issued.course_id) == ("sv-1", "s-1", "c-1")
    assert issued.hours == 4 and issued.score == 86
    assert issued.issued_on.isoformat() == "2026-11-05"
    assert issued.issuing_authority == certification.settings.issuing_authority

    async with certification.client() as http:
        answer = await http.get(f"/verify/{issued.verification_code}")
        assert answer.status_code == 200
        view = answer.json()
        assert view["status"] == "valid" and view["valid"] is True
        assert view["course"]["title"] == "Código de Ética para servidores públicos"
        assert (view["date"], view["hours"], view["issuer"]) == ("2026-11-05", 4, issued.issuing_authority)
        assert view["signature"]["holds"] is True
        assert "sv-1" not in answer.text and "inst-1" not in answer.text  # nothing about the holder
        typed = await http.get(f"/verify/{issued.verification_code.lower().replace('-', ' ')}")
        assert typed.json()["verification_code"] == issued.verification_code
        page = await http.get(f"/verify/{issued.verification_code}", headers={"Accept": "text/html"})
        assert page.headers["content-type"].startswith("text/html")
        assert "VÁLIDA" in page.text and "5 de noviembre de 2026" in page.text
        assert (await http.get("/verify/PRB-0000-0000-0000")).status_code == 404


async def test_redelivered_and_repeated_facts_issue_nothing_more(certification):
    envelopes = [await certification.hear(f) for f in (course(), scheduled(), seat("sv-1"), present("sv-1"))]
    last = await certification.hear(graded("sv-1"))
    for envelope in [*envelopes, last]:
        await certification.hear(envelope.event, envelope=envelope)
    await certification.hear(present("sv-1"))  # the same attendance stated again, later
    assert len(await certification.events(CertificateIssued)) == 1
    assert await certification.events(CertificateRevoked) == []


async def test_every_order_of_a_completions_facts_gives_the_same_single_certificate(certification):
    # One servant per order; each order's facts carry the same statement times, only arrival differs.
    orders = list(permutations(range(5)))[::5]  # 24 of the 120 orders, spread over all of them
    for i, order in enumerate(orders):
        facts = [course(i), scheduled(i, i), seat(f"sv-{i}", i), present(f"sv-{i}", i), graded(f"sv-{i}", i)]
        for index in order:
            await certification.hear(facts[index], hours=index)
    issued = await certification.events(CertificateIssued)
    assert sorted(e.servant_id for e in issued) == sorted(f"sv-{i}" for i in range(len(orders)))
    assert {(e.hours, e.score, e.issued_on.isoformat()) for e in issued} == {(4, 86, "2026-11-05")}


async def test_a_correction_revokes_and_a_later_one_issues_a_new_certificate(certification):
    for fact in (course(), scheduled(), seat("sv-1"), present("sv-1"), graded("sv-1")):
        await certification.hear(fact)
    (first,) = await certification.events(CertificateIssued)
    await certification.hear(corrected("sv-1", minutes=120))
    (revoked,) = await certification.events(CertificateRevoked)
    assert revoked.certificate_id == first.certificate_id
    assert "50%" in revoked.reason

    async with certification.client() as http:
        view = (await http.get(f"/verify/{first.verification_code}")).json()
        assert view["status"] == "revoked" and view["valid"] is False
        assert (await http.get(f"/certificates/{first.verification_code}/pdf")).status_code == 410

        await certification.hear(corrected("sv-1", minutes=235))
        first_again, second = await certification.events(CertificateIssued)
        assert second.certificate_id != first.certificate_id
        assert (await http.get(f"/verify/{second.verification_code}")).json()["status"] == "valid"
        assert (await http.get(f"/verify/{first.verification_code}")).json()["status"] == "revoked"


async def test_a_failed_evaluation_or_a_cancelled_enrolment_issues_nothing(certification):
    cancelled = EnrolmentCancelled(enrolment_id="en-sv-2-1", session_id="s-1", servant_id="sv-2", reason="moved")
    for fact in (course(), scheduled(), seat("sv-1"), present("sv-1"), graded("sv-1", score=55),
                 seat("sv-2"), present("sv-2"), cancelled, graded("sv-2")):
        await certification.hear(fact)
    assert await certification.events(CertificateIssued) == []


async def test_an_enrolment_cancelled_after_the_certificate_revokes_it(certification):
    for fact in (course(), scheduled(), seat("sv-1"), present("sv-1"), graded("sv-1")):
        await certification.hear(fact)
    await certification.hear(EnrolmentCancelled(enrolment_id="en-sv-1-1", session_id="s-1", servant_id="sv-1"))
    (revoked,) = await certification.events(CertificateRevoked)
    assert revoked.reason == "the enrolment was cancelled"


async def test_a_reschedule_heard_after_the_certificate_amends_its_date_under_the_same_id(certification):
    for fact in (course(), scheduled(), seat("sv-1"), present("sv-1"), graded("sv-1")):
        await certification.hear(fact)
    moved = SessionRescheduled(session_id="s-1", starts_at=datetime(2026, 11, 12, 9, 0, tzinfo=CANCUN),
                               ends_at=datetime(2026, 11, 12, 13, 0, tzinfo=CANCUN), timezone="America/Cancun")
    await certification.hear(moved)
    first, amended = await certification.events(CertificateIssued)
    assert amended.certificate_id == first.certificate_id
    assert (first.issued_on.isoformat(), amended.issued_on.isoformat()) == ("2026-11-05", "2026-11-12")


async def test_a_record_edited_behind_the_services_back_fails_verification(certification):
    for fact in (course(), scheduled(), seat("sv-1"), present("sv-1"), graded("sv-1")):
        await certification.hear(fact)
    (issued,) = await certification.events(CertificateIssued)
    async with certification.runtime.database.transaction() as db:
        await db.execute(update(CertificateRecord).where(
            CertificateRecord.certificate_id == issued.certificate_id).values(hours=40))
    async with certification.client() as http:
        view = (await http.get(f"/verify/{issued.verification_code}")).json()
        assert view["status"] == "invalid" and view["signature"]["holds"] is False
        assert (await http.get(f"/certificates/{issued.verification_code}/badge")).status_code == 409


async def test_the_badge_verifies_against_the_published_key(certification):
    for fact in (course(), scheduled(), seat("sv-1"), present("sv-1"), graded("sv-1")):
        await certification.hear(fact)
    (issued,) = await certification.events(CertificateIssued)
    async with certification.client() as http:
        keys = (await http.get("/.well-known/probidad-certificates.json")).json()
        (key,) = keys["keys"]
        published = PublicKey.from_raw(b64url_decode(key["public_key"]))
        assert key["jwk"]["x"] == key["public_key"] and key["jwk"]["crv"] == "Ed25519"
        badge = (await http.get(f"/certificates/{issued.verification_code}/badge")).json()
    assert verify_credential(badge, published)
    assert badge["credentialSubject"]["achievement"]["humanCode"] == "CE-01"
    assert badge["evidence"][0]["id"] == f"{BASE_URL}/verify/{issued.verification_code}"


@pytest.mark.skipif(NO_POPPLER, reason="pdftoppm (poppler-utils) not installed")
async def test_the_pdf_served_carries_a_qr_code_to_its_verification_page(certification, tmp_path):
    import zxingcpp
    from PIL import Image

    for fact in (course(), scheduled(), seat("sv-1"), present("sv-1"), graded("sv-1")):
        await certification.hear(fact)
    (issued,) = await certification.events(CertificateIssued)
    async with certification.client() as http:
        answer = await http.get(f"/certificates/{issued.verification_code}/pdf")
    assert answer.headers["content-type"] == "application/pdf"
    (tmp_path / "c.pdf").write_bytes(answer.content)
    subprocess.run(["pdftoppm", "-png", "-r", "100", "-singlefile", str(tmp_path / "c.pdf"), str(tmp_path / "c")],
                   check=True, timeout=60)
    (code,) = zxingcpp.read_barcodes(Image.open(io.BytesIO((tmp_path / "c.png").read_bytes())))
    assert code.text == f"{BASE_URL}/verify/{issued.verification_code}"


async def test_certificates_for_every_course_of_a_competency_attain_it_once(certification):
    await certification.hear(course(1))
    await certification.hear(course(2, code="CI-02", topic="Conflicto de Interés", passing=None))
    await certification.hear(scheduled(1, 1, day=5))
    await certification.hear(scheduled(2, 2, day=19))
    for fact in (seat("sv-1", 1), present("sv-1", 1), graded("sv-1", 1), seat("sv-1", 2)):
        await certification.hear(fact)
    assert await certification.events(CompetencyAttained) == []
    await certification.hear(present("sv-1", 2))
    (attained,) = await certification.events(CompetencyAttained)
    assert attained.competency == "Integridad pública" and attained.servant_id == "sv-1"
    assert attained.course_ids == ["c-1", "c-2"]
    assert attained.attained_on.isoformat() == "2026-11-19"
    # Hearing more (a regrade amends a certificate) announces nothing again.
    await certification.hear(graded("sv-1", 1, score=99))
    assert len(await certification.events(CompetencyAttained)) == 1

    async with certification.client(certification.token("comptroller")) as http:
        held = (await http.get("/servants/sv-1/competencies")).json()
        assert [c["competency"] for c in held] == ["Integridad pública"]
        mine = (await http.get("/certificates", params={"servant_id": "sv-1"})).json()
        assert {c["course_code"] for c in mine} == {"CE-01", "CI-02"}
    async with certification.client(certification.token("liaison", institution_id="inst-9")) as http:
        assert (await http.get("/certificates", params={"servant_id": "sv-1"})).json() == []
    async with certification.client() as http:
        assert (await http.get("/certificates")).status_code == 401


async def test_a_competency_resting_on_a_revoked_certificate_is_attained_again_when_the_servant_retrains(
        certification):
    await certification.hear(course(1))
    await certification.hear(course(2, code="CI-02", topic="Conflicto de Interés", passing=None))
    await certification.hear(scheduled(1, 1, day=5))
    await certification.hear(scheduled(2, 2, day=19))
    for fact in (seat("sv-1", 1), present("sv-1", 1), graded("sv-1", 1), seat("sv-1", 2), present("sv-1", 2)):
        await certification.hear(fact)
    (first,) = await certification.events(CompetencyAttained)
    ethics, conflict = sorted(await certification.events(CertificateIssued), key=lambda e: e.session_id)
    assert first.certificate_ids == sorted([ethics.certificate_id, conflict.certificate_id])

    # The ethics training never happened as recorded: its certificate is revoked, nothing is attained anew.
    await certification.hear(corrected("sv-1", 1, minutes=60))
    (revoked,) = await certification.events(CertificateRevoked)
    assert revoked.certificate_id == ethics.certificate_id
    assert len(await certification.events(CompetencyAttained)) == 1

    # The servant takes the ethics course again: the competency is attained again, on the new certificate.
    await certification.hear(scheduled(3, 1, day=26))
    for fact in (seat("sv-1", 3), present("sv-1", 3)):
        await certification.hear(fact)
    last = await certification.hear(graded("sv-1", 3))
    retrained = next(e for e in await certification.events(CertificateIssued) if e.session_id == "s-3")
    kept, again = await certification.events(CompetencyAttained)
    assert kept == first
    assert again.certificate_ids == sorted([conflict.certificate_id, retrained.certificate_id])
    assert again.course_ids == ["c-1", "c-2"]
    assert again.attained_on.isoformat() == "2026-11-26"

    # Redelivered, or followed by more facts about intact certificates, it is announced no more.
    await certification.hear(graded("sv-1", 3), envelope=last)
    await certification.hear(graded("sv-1", 2, score=95))
    await certification.hear(graded("sv-1", 3, score=99))
    assert len(await certification.events(CompetencyAttained)) == 2

    async with certification.client(certification.token("comptroller")) as http:
        (held,) = (await http.get("/servants/sv-1/competencies")).json()
    assert held["certificate_ids"] == again.certificate_ids and held["attained_on"] == "2026-11-26"


def lasting(n: int | str, months: int, *, code: str = "CE-01", topic: str = "Código de Ética"):
    """A course whose completions hold ``months`` months."""
    return course(n, code=code, topic=topic, passing=None).model_copy(update={"validity_months": months})


def scheduled_on(n: int | str, course_n: int | str, day: datetime):
    return scheduled(n, course_n).model_copy(update={"starts_at": day, "ends_at": day + timedelta(hours=4)})


async def test_a_course_with_validity_issues_certificates_that_hold_until_their_vigencia_and_then_expire(certification):
    await certification.hear(lasting(1, 240))
    await certification.hear(lasting(2, 12, code="CI-02", topic="Conflicto de Interés"))
    await certification.hear(course(3, passing=None))
    await certification.hear(scheduled(1, 1, day=5))
    await certification.hear(scheduled_on(2, 2, datetime(2024, 3, 4, 10, 0, tzinfo=CANCUN)))
    await certification.hear(scheduled(3, 3, day=19))
    for n in (1, 2, 3):
        await certification.hear(seat("sv-1", n))
        await certification.hear(present("sv-1", n))
    by_session = {e.session_id: e for e in await certification.events(CertificateIssued)}
    assert by_session["s-1"].valid_until.isoformat() == "2046-11-05"
    assert by_session["s-2"].valid_until.isoformat() == "2025-03-04"
    assert by_session["s-3"].valid_until is None  # a course without validity: as before

    async with certification.client() as http:
        holding = (await http.get(f"/verify/{by_session['s-1'].verification_code}")).json()
        assert (holding["status"], holding["valid"], holding["valid_until"]) == ("valid", True, "2046-11-05")
        assert holding["signature"]["holds"] is True  # the stored vigencia is what was signed
        page = await http.get(f"/verify/{by_session['s-1'].verification_code}", headers={"Accept": "text/html"})
        assert "VÁLIDA" in page.text and "Hasta el 5 de noviembre de 2046" in page.text

        ended = (await http.get(f"/verify/{by_session['s-2'].verification_code}")).json()
        assert (ended["status"], ended["valid"], ended["valid_until"]) == ("expired", False, "2025-03-04")
        page = await http.get(f"/verify/{by_session['s-2'].verification_code}", headers={"Accept": "text/html"})
        assert "VENCIDA" in page.text and "4 de marzo de 2025" in page.text and "VÁLIDA" not in page.text

        forever = (await http.get(f"/verify/{by_session['s-3'].verification_code}")).json()
        assert (forever["status"], forever["valid_until"]) == ("valid", None)
        page = await http.get(f"/verify/{by_session['s-3'].verification_code}", headers={"Accept": "text/html"})
        assert "Vigencia" not in page.text

        await certification.hear(corrected("sv-1", 2, minutes=60))
        revoked = (await http.get(f"/verify/{by_session['s-2'].verification_code}")).json()
        assert revoked["status"] == "revoked"  # revoked stays revoked, expired or not


SALT = new_salt()
CURP = "GODE561231HDFRRN09"


def registered(servant: str, digest: str | None = None):
    return ServantRegistered(servant_id=servant, institution_id="inst-1", sex="female",
                             holder_digest=digest or holder_digest(SALT, CURP))


async def test_a_servant_registered_before_completing_gets_one_certificate_bound_to_their_curp(certification):
    for fact in (registered("sv-1"), course(), scheduled(), seat("sv-1"), present("sv-1"), graded("sv-1")):
        await certification.hear(fact)
    (issued,) = await certification.events(CertificateIssued)
    assert issued.holder_digest == holder_digest(SALT, CURP)
    async with certification.client() as http:
        view = (await http.get(f"/verify/{issued.verification_code}")).json()
        assert view["signature"]["holds"] is True and view["holder_check"] is None
        checked = await http.get(f"/verify/{issued.verification_code}", params={"titular": SALT, "curp": CURP})
        assert checked.json()["holder_check"] == "match"
        assert checked.headers["cache-control"] == "no-store"


async def test_a_named_constancias_curp_is_checked_on_the_verification_page_without_being_shown(certification):
    for fact in (course(), scheduled(), seat("sv-1"), present("sv-1"), graded("sv-1")):
        await certification.hear(fact)
    (unbound,) = await certification.events(CertificateIssued)
    assert unbound.holder_digest is None
    await certification.hear(registered("sv-1"))  # heard after the certificate: it is amended to bind the holder
    first, bound = await certification.events(CertificateIssued)
    assert bound.certificate_id == first.certificate_id and bound.holder_digest == holder_digest(SALT, CURP)
    code, html = bound.verification_code, {"Accept": "text/html"}

    async with certification.client() as http:
        assert (await http.get(f"/verify/{code}")).json()["signature"]["holds"] is True
        ask = await http.get(f"/verify/{code}", params={"titular": SALT}, headers=html)
        assert '<form class="holder" method="get"' in ask.text
        assert f'<input type="hidden" name="titular" value="{SALT}">' in ask.text and 'name="curp"' in ask.text
        assert ask.headers["referrer-policy"] == "no-referrer"

        match = await http.get(f"/verify/{code}", params={"titular": SALT, "curp": CURP.lower()}, headers=html)
        assert "La CURP corresponde al titular de esta constancia" in match.text
        assert CURP not in match.text.upper() and "<form" not in match.text
        wrong = "MAPA800101MDFRRL02"
        mismatch = await http.get(f"/verify/{code}", params={"titular": SALT, "curp": wrong}, headers=html)
        assert "La CURP NO corresponde" in mismatch.text and wrong not in mismatch.text
        answer = await http.get(f"/verify/{code}", params={"titular": SALT, "curp": wrong})
        assert answer.json()["holder_check"] == "mismatch" and wrong not in answer.text and SALT not in answer.text
        other_salt = await http.get(f"/verify/{code}", params={"titular": new_salt(), "curp": CURP})
        assert other_salt.json()["holder_check"] == "mismatch"

        # ARCO erasure: enrollment forgets the digest, and the certificate stops binding anyone.
        await certification.hear(ServantUpdated(servant_id="sv-1", institution_id="inst-1", sex="female"))
        *_, erased = await certification.events(CertificateIssued)
        assert erased.certificate_id == bound.certificate_id and erased.holder_digest is None
        after = await http.get(f"/verify/{code}", params={"titular": SALT, "curp": CURP})
        assert after.json()["holder_check"] is None and after.json()["signature"]["holds"] is True
        page = await http.get(f"/verify/{code}", params={"titular": SALT, "curp": CURP}, headers=html)
        assert "no está vinculada a un titular" in page.text and "<form" not in page.text
        assert "<form" not in (await http.get(f"/verify/{code}", params={"titular": SALT}, headers=html)).text


async def test_a_certificate_failing_its_signature_answers_nothing_about_its_holder(certification):
    for fact in (registered("sv-1"), course(), scheduled(), seat("sv-1"), present("sv-1"), graded("sv-1")):
        await certification.hear(fact)
    (issued,) = await certification.events(CertificateIssued)
    async with certification.runtime.database.transaction() as db:
        await db.execute(update(CertificateRecord).where(
            CertificateRecord.certificate_id == issued.certificate_id).values(hours=40))
    async with certification.client() as http:
        asked = {"titular": SALT, "curp": CURP}
        view = (await http.get(f"/verify/{issued.verification_code}", params=asked)).json()
        assert view["status"] == "invalid" and view["holder_check"] is None
        page = await http.get(f"/verify/{issued.verification_code}", params=asked, headers={"Accept": "text/html"})
        assert "NO VÁLIDA" in page.text and "La CURP" not in page.text and "vinculada" not in page.text

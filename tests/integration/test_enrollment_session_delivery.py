"""A delivered session stays delivered: once certification has said it issued a certificate from a
session, enrollment refuses to cancel it (409), since a cancellation would revoke training that
happened; attendance corrections and certification's revocations undo training, each with its reason.
A session that will still be held, or that was never held (a cancellation entered late), cancels as
before. On SQLite and PostgreSQL, through the HTTP API and the event stream (in-memory broker).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from contracts.events import CertificateIssued, CertificateRevoked
from tests.integration.test_enrollment_api import platform, register, set_up_programme  # noqa: F401 (fixture)


def certificate(n: int, servant_id: str, session_id: str = "se-1") -> CertificateIssued:
    return CertificateIssued(certificate_id=f"ce-{n}", verification_code=f"PRB-DLVR-{n:04d}", servant_id=servant_id,
                             course_id="co-etica", session_id=session_id, hours=4, issued_on=date(2026, 11, 5),
                             issuing_authority="Secretaría de la Contraloría")


async def test_a_session_certificates_were_issued_from_cannot_be_cancelled(platform):
    await set_up_programme(platform)
    ana, bea = await register(platform, 1), await register(platform, 2)
    await platform.harness.send(certificate(1, ana), certificate(2, bea))
    await platform.harness.drain()
    async with platform.client() as c:
        refused = await c.post("/sessions/se-1/cancel", json={"reason": "cancelada por error"})
        shown = (await c.get("/sessions/se-1")).json()
    assert refused.status_code == 409, refused.text
    detail = refused.json()["detail"]
    assert detail.startswith("session_id: session se-1 was delivered: 2 certificate(s) were issued from it")
    assert "correct the attendance" in detail and "revoke the certificates" in detail
    assert shown["cancelled"] is False
    assert await platform.events("session.cancelled.v1") == []


async def test_a_session_whose_certificates_were_all_revoked_was_still_delivered(platform):
    await set_up_programme(platform)
    ana = await register(platform, 1)
    # The revocation may come first (another partition): it names the session all the same.
    await platform.harness.send(CertificateRevoked(certificate_id="ce-1", verification_code="PRB-DLVR-0001",
                                                   servant_id=ana, course_id="co-etica", session_id="se-1",
                                                   reason="corrección de asistencia"))
    await platform.harness.send(certificate(1, ana))
    await platform.harness.drain()
    async with platform.client() as c:
        refused = await c.post("/sessions/se-1/cancel")
    assert refused.status_code == 409, refused.text
    assert "1 certificate(s)" in refused.json()["detail"]


async def test_a_future_session_and_a_past_one_never_held_still_cancel(platform):
    await set_up_programme(platform)
    ana = await register(platform, 1)
    await platform.harness.send(certificate(1, ana, session_id="se-1"))  # another session's certificate
    await platform.harness.drain()
    start = (datetime.now() + timedelta(days=30)).replace(microsecond=0)
    async with platform.client() as c:
        scheduled = await c.post("/sessions", json={
            "session_id": "se-next", "course_id": "co-etica", "modality": "virtual", "platform": "Zoom",
            "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=2)).isoformat(), "capacity": 10})
        assert scheduled.status_code == 201, scheduled.text
        future = await c.post("/sessions/se-next/cancel", json={"reason": "sin quórum"})
        never_held = await c.post("/sessions/se-2/cancel", json={"reason": "instructor no disponible"})
    assert future.status_code == 200 and future.json()["cancelled"] is True, future.text
    assert never_held.status_code == 200 and never_held.json()["cancelled"] is True, never_held.text
    assert sorted(e.event.session_id for e in await platform.events("session.cancelled.v1")) == ["se-2", "se-next"]

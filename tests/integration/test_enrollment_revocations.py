"""Enrollment's named compliance lists read a revocation in valid time (contracts.compliance.revoked_from):
a certificate revoked as void never satisfied a requirement on any day, as known from the revocation on;
one revoked from a date satisfied it until the day before. A competency attained with a revoked certificate
counts only while that certificate does (contracts.compliance.attainment_revoked_on), whichever arrived first.
On SQLite and PostgreSQL, in-memory broker.

Every date is counted back from today, so the tests mean the same on any day they run.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contracts.events import CertificateIssued, CertificateRevoked, CompetencyAttained
from tests.integration.test_enrollment_api import platform, register, set_up_programme  # noqa: F401 (fixture)
from tests.integration.test_enrollment_oversight import ETHICS, JOINED, TODAY, declare, lines

DEADLINE = JOINED + timedelta(days=30)  # ETHICS: within 30 days of joining
INTEGRITY = {"requirement_id": "rq-integridad", "title": "Integridad pública", "competency": "Integridad pública",
             "due": {"kind": "within_days_of_joining", "days": 30}, "effective_from": ETHICS["effective_from"]}


async def named(p, *, on, state: str = "all", as_of: datetime | None = None) -> dict:
    params = {"state": state, "on": on.isoformat(), **({"as_of": as_of.isoformat()} if as_of else {})}
    async with p.client("liaison-a") as c:
        answer = await c.get("/institutions/in-a/compliance", params=params)
    assert answer.status_code == 200, answer.text
    return lines(answer)


def certificate(servant: str, n: int) -> CertificateIssued:
    return CertificateIssued(certificate_id=f"ce-{n}", verification_code=f"PRB-0000-0000-000{n}", servant_id=servant,
                             course_id="co-etica", session_id=f"se-{n}", hours=4, issued_on=JOINED + timedelta(days=3),
                             issuing_authority="Secretaría")


def revocation(servant: str, n: int, **how) -> CertificateRevoked:
    return CertificateRevoked(certificate_id=f"ce-{n}", verification_code=f"PRB-0000-0000-000{n}", servant_id=servant,
                              course_id="co-etica", session_id=f"se-{n}", reason="revocada", **how)


async def test_a_void_revocation_puts_the_holder_on_the_overdue_list_for_every_day_as_known_from_its_recording(
        platform):
    await set_up_programme(platform)
    void = await register(platform, 1, joined_on=JOINED.isoformat())
    dated = await register(platform, 2, joined_on=JOINED.isoformat())
    kept = await register(platform, 3, joined_on=JOINED.isoformat())
    assert (await declare(platform, ETHICS)).status_code == 201
    await platform.harness.send(certificate(void, 1), certificate(dated, 2), certificate(kept, 3))
    await platform.harness.drain()
    before = datetime.now(UTC)
    yesterday = TODAY - timedelta(days=1)
    sanction_from = TODAY - timedelta(days=20)
    await platform.harness.send(revocation(void, 1, applies="void"),
                                revocation(dated, 2, applies="from_date", effective_on=sanction_from))
    await platform.harness.drain()

    assert await named(platform, on=yesterday) == {void: ("overdue", DEADLINE.isoformat()),
                                                   dated: ("overdue", DEADLINE.isoformat()),
                                                   kept: ("compliant", None)}
    assert set(await named(platform, on=yesterday, state="overdue")) == {void, dated}
    # Valid time: the void certificate never counted, not even on the days before it was revoked; the
    # sanctioned one counted until the day before its date.
    on_the_deadline = await named(platform, on=DEADLINE)
    assert on_the_deadline[void] == ("due", DEADLINE.isoformat())
    assert on_the_deadline[dated] == on_the_deadline[kept] == ("compliant", None)
    assert (await named(platform, on=sanction_from - timedelta(days=1)))[dated] == ("compliant", None)
    # Knowledge time: as of before the revocations were recorded, the old answer stands.
    assert await named(platform, on=yesterday, as_of=before) == {
        void: ("compliant", None), dated: ("compliant", None), kept: ("compliant", None)}
    # The constancia follows the certificate: revoked, from whatever date, it is no longer printed.
    async with platform.client("liaison-a") as c:
        listed = (await c.get(f"/servants/{dated}/constancias")).json()
        printed = await c.get(f"/servants/{dated}/constancias/PRB-0000-0000-0002.pdf")
    assert [(x["verification_code"], x["revoked"]) for x in listed] == [("PRB-0000-0000-0002", True)]
    assert printed.status_code == 409 and "revoked" in printed.text


async def test_a_revocation_that_says_nothing_of_how_it_applies_is_void(platform):
    await set_up_programme(platform)
    holder = await register(platform, 1, joined_on=JOINED.isoformat())
    assert (await declare(platform, ETHICS)).status_code == 201
    await platform.harness.send(certificate(holder, 1))
    await platform.harness.drain()
    # as every revocation before it could say how: after a correction
    await platform.harness.send(revocation(holder, 1))
    await platform.harness.drain()
    assert (await named(platform, on=DEADLINE))[holder] == ("due", DEADLINE.isoformat())
    assert (await named(platform, on=TODAY - timedelta(days=1)))[holder] == ("overdue", DEADLINE.isoformat())


def attainment(servant: str, n: int) -> CompetencyAttained:
    return CompetencyAttained(servant_id=servant, competency="Integridad pública", course_ids=["co-etica"],
                              certificate_ids=[f"ce-{n}"], attained_on=JOINED + timedelta(days=3))


async def test_a_competency_attained_with_a_revoked_certificate_counts_only_while_that_certificate_does(platform):
    await set_up_programme(platform)
    void = await register(platform, 1, joined_on=JOINED.isoformat())
    dated = await register(platform, 2, joined_on=JOINED.isoformat())
    kept = await register(platform, 3, joined_on=JOINED.isoformat())
    assert (await declare(platform, INTEGRITY)).status_code == 201
    await platform.harness.send(*(e for servant, n in ((void, 1), (dated, 2), (kept, 3))
                                  for e in (certificate(servant, n), attainment(servant, n))))
    await platform.harness.drain()
    yesterday = TODAY - timedelta(days=1)
    assert set((await named(platform, on=yesterday, state="compliant"))) == {void, dated, kept}
    before = datetime.now(UTC)
    sanction_from = TODAY - timedelta(days=20)
    await platform.harness.send(revocation(void, 1, applies="void"),
                                revocation(dated, 2, applies="from_date", effective_on=sanction_from))
    await platform.harness.drain()

    # No event withdraws the attainment: the revocation of the certificate it lists takes it away.
    assert await named(platform, on=yesterday, state="overdue") == {void: ("overdue", DEADLINE.isoformat()),
                                                                    dated: ("overdue", DEADLINE.isoformat())}
    assert (await named(platform, on=DEADLINE))[void] == ("due", DEADLINE.isoformat()), "void: never counted"
    assert (await named(platform, on=sanction_from - timedelta(days=1)))[dated] == ("compliant", None)
    assert (await named(platform, on=sanction_from))[dated] == ("overdue", DEADLINE.isoformat())
    assert (await named(platform, on=yesterday))[kept] == ("compliant", None)
    # Knowledge time: as of before the revocations were recorded, the attainment still counted.
    assert await named(platform, on=yesterday, state="overdue", as_of=before) == {}
    assert await named(platform, on=yesterday, as_of=before) == {
        void: ("compliant", None), dated: ("compliant", None), kept: ("compliant", None)}


async def test_a_revocation_recorded_before_the_attainment_that_lists_its_certificate_withdraws_it_too(platform):
    await set_up_programme(platform)
    holder = await register(platform, 1, joined_on=JOINED.isoformat())
    assert (await declare(platform, INTEGRITY)).status_code == 201
    # Any order across partitions: the revocation first, then its certificate, then the attainment.
    await platform.harness.send(revocation(holder, 1, applies="void"))
    await platform.harness.drain()
    await platform.harness.send(certificate(holder, 1))
    await platform.harness.drain()
    await platform.harness.send(attainment(holder, 1))
    await platform.harness.drain()
    assert await named(platform, on=TODAY - timedelta(days=1), state="overdue") == {
        holder: ("overdue", DEADLINE.isoformat())}
    assert (await named(platform, on=DEADLINE))[holder] == ("due", DEADLINE.isoformat())

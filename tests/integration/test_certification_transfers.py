"""A certificate is stamped with the institution the servant belonged to when the session started, as
reporting counts it (contracts.attribution): a transfer in force when the session starts (from local
midnight of its effective day in the programme's zone) gives the joining institution's stamp (its liaison
lists the certificate, the leaving one's does not), a later one leaves the institution the servant came
from. In any order of the facts, redelivered or not. On SQLite and PostgreSQL, in-memory broker."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from contracts.events import CertificateIssued, CertificateRevoked, ServantTransferred
from tests.integration.test_certification_service import (  # noqa: F401 (certification is a fixture)
    certification, course, present, scheduled, seat,
)

# scheduled() starts at 21:00 on 5 November in Cancún, already 6 November in UTC.
SESSION_DAY = date(2026, 11, 5)
# A transfer is not recorded before its effective day (enrollment refuses transfers dated ahead; one stated
# early is in force from when it was stated): the one effective the day after is stated then, 7 November
# 12:00 UTC, this many hours after T0 (1 October 12:00 UTC).
DAY_AFTER_STATED = 37 * 24


def moved(servant: str, effective_on: date, *, to: str = "inst-2", transfer_id: str = "trf-1"):
    return ServantTransferred(
        servant_id=servant, transfer_id=transfer_id, from_institution_id="inst-1", to_institution_id=to,
        effective_on=effective_on, sex="female", requested_by="liaison:inst-1:rh", approved_by="liaison:inst-2:rh",
        approved_at=datetime(2026, 11, 1, tzinfo=UTC))


async def listed_by(certification, institution: str) -> list[tuple[str, str]]:
    async with certification.client(certification.token("liaison", institution_id=institution)) as http:
        answer = await http.get("/certificates")
        assert answer.status_code == 200, answer.text
        return [(c["servant_id"], c["session_id"]) for c in answer.json()]


def completion(servant: str = "sv-1"):
    return [course(passing=None), scheduled(), seat(servant), present(servant)]


async def test_a_transfer_in_force_on_the_sessions_local_day_stamps_the_joining_institution(certification):
    await certification.hear(moved("sv-1", SESSION_DAY), hours=-48)
    for fact in completion():
        await certification.hear(fact)

    assert len(await certification.events(CertificateIssued)) == 1
    assert await listed_by(certification, "inst-2") == [("sv-1", "s-1")]
    assert await listed_by(certification, "inst-1") == []


async def test_a_transfer_effective_the_day_after_the_session_leaves_the_enrolling_institution(certification):
    # 6 November is already the session's day in UTC, not in the programme's zone
    await certification.hear(moved("sv-1", date(2026, 11, 6)), hours=DAY_AFTER_STATED)
    for fact in completion():
        await certification.hear(fact)

    assert await listed_by(certification, "inst-1") == [("sv-1", "s-1")]
    assert await listed_by(certification, "inst-2") == []


async def test_a_transfer_heard_after_the_certificate_restamps_it_without_a_new_issue(certification):
    for fact in completion():
        await certification.hear(fact)
    (issued,) = await certification.events(CertificateIssued)
    assert await listed_by(certification, "inst-1") == [("sv-1", "s-1")]

    await certification.hear(moved("sv-1", SESSION_DAY))

    assert await listed_by(certification, "inst-2") == [("sv-1", "s-1")]
    assert await listed_by(certification, "inst-1") == []
    # the stamp is not among the signed terms: the same certificate, still valid, nothing republished
    assert await certification.events(CertificateIssued) == [issued]
    assert await certification.events(CertificateRevoked) == []
    async with certification.client() as http:
        view = (await http.get(f"/verify/{issued.verification_code}")).json()
    assert view["status"] == "valid" and view["signature"]["holds"] is True


ORDERS = {
    "transfer first": ["moved", "course", "scheduled", "seat", "present"],
    "transfer last": ["course", "scheduled", "seat", "present", "moved"],
    "transfer before the schedule": ["present", "seat", "moved", "course", "scheduled"],
    "everything twice, out of order": ["seat", "moved", "present", "course", "moved", "scheduled", "present",
                                       "seat", "scheduled", "course"],
}


@pytest.mark.parametrize("order", ORDERS.values(), ids=ORDERS.keys())
@pytest.mark.parametrize(("effective_on", "stamp"), [(SESSION_DAY, "inst-2"), (date(2026, 11, 6), "inst-1")],
                         ids=["in force at the start", "from the day after"])
async def test_every_order_and_redelivery_of_the_facts_stamps_alike(certification, order, effective_on, stamp):
    facts = dict(zip(["course", "scheduled", "seat", "present"], completion(), strict=True))
    facts["moved"] = moved("sv-1", effective_on)
    statement_hours = {name: hour for hour, name in enumerate(["moved", "course", "scheduled", "seat", "present"])}
    if effective_on > SESSION_DAY:
        statement_hours["moved"] = DAY_AFTER_STATED
    envelopes = {}
    for name in order:
        if name in envelopes:
            await certification.hear(facts[name], envelope=envelopes[name])  # the same record again
        else:
            envelopes[name] = await certification.hear(facts[name], hours=statement_hours[name])

    assert len(await certification.events(CertificateIssued)) == 1
    other = "inst-1" if stamp == "inst-2" else "inst-2"
    assert await listed_by(certification, stamp) == [("sv-1", "s-1")]
    assert await listed_by(certification, other) == []


async def test_of_two_transfers_in_force_the_one_recorded_last_holds_even_when_heard_first(certification):
    onwards = moved("sv-1", date(2026, 11, 3), to="inst-3", transfer_id="trf-2")
    await certification.hear(onwards, hours=-24)
    await certification.hear(moved("sv-1", date(2026, 11, 1)), hours=-72)
    for fact in completion():
        await certification.hear(fact)

    assert await listed_by(certification, "inst-3") == [("sv-1", "s-1")]
    assert await listed_by(certification, "inst-2") == []
    assert await listed_by(certification, "inst-1") == []

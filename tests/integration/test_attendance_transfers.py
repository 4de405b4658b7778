"""A servant transferred to another institution is that institution's in attendance from then on: its liaison
sees them in rosters and in the records made afterwards, the institution they left no longer does, and
records made before the transfer stay where they were made. On SQLite and PostgreSQL, in-memory broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from contracts.envelope import seal
from contracts.events import ServantTransferred, ServantUpdated
from probidad.shared.settings import ServiceSettings
from tests.integration.test_attendance_service import (  # noqa: F401 (service is a fixture)
    SERVANTS, confirmed, past_morning, registered, scheduled, service, zoom_report_of,
)

ANA_EMAIL = SERVANTS["srv-ana"][1]


PROGRAMME_ZONE = ZoneInfo(ServiceSettings().programme_timezone)


def ana_to_dif(transfer_id: str = "trf-1", effective_days_ago: int = 8) -> ServantTransferred:
    # by default in force for sessions starting past_morning() (7 days ago) or later, not past_morning(9)
    return ServantTransferred(
        servant_id="srv-ana", transfer_id=transfer_id, from_institution_id="sefiplan", to_institution_id="dif",
        # the programme's day, as the rule reads effective_on (the machine's date is UTC's: a day ahead in the evening)
        effective_on=datetime.now(PROGRAMME_ZONE).date() - timedelta(days=effective_days_ago), sex="female",
        requested_by="liaison:sefiplan:rh", approved_by="liaison:dif:rh",
        approved_at=datetime.now(UTC))


async def roster_seen_by(service, institution: str, session_id: str) -> list[str]:
    session = (await service.http.get(f"/sessions/{session_id}",
                                      headers=service.token("liaison", institution_id=institution))).json()
    return [a["servant_id"] for a in session["attendance"]]


async def records_seen_by(service, institution: str) -> list[tuple[str, str]]:
    found = (await service.http.get("/records", headers=service.token("liaison", institution_id=institution))).json()
    return sorted((r["session_id"], r["servant_id"]) for r in found)


async def test_after_a_transfer_the_joining_institution_sees_the_servant_and_the_leaving_one_keeps_only_the_past(
        service) -> None:
    comptroller = service.token()
    await service.deliver(scheduled("ses-before", past_morning(9)), scheduled("ses-after", past_morning(2)),
                          registered("srv-ana", service.digest(ANA_EMAIL)),
                          confirmed("ses-before", "srv-ana"), confirmed("ses-after", "srv-ana"))
    assert (await service.http.post("/sessions/ses-before/close", headers=comptroller)).status_code == 200
    assert await roster_seen_by(service, "sefiplan", "ses-after") == ["srv-ana"]

    await service.deliver(ana_to_dif())

    # the enrolment was made by sefiplan, but the servant is dif's now
    assert await roster_seen_by(service, "dif", "ses-after") == ["srv-ana"]
    assert await roster_seen_by(service, "sefiplan", "ses-after") == []
    assert (await service.http.post("/sessions/ses-after/close", headers=comptroller)).status_code == 200
    assert await records_seen_by(service, "dif") == [("ses-after", "srv-ana")]
    # the record made before the transfer keeps the institution it was made for
    assert await records_seen_by(service, "sefiplan") == [("ses-before", "srv-ana")]
    sefiplan = service.token("liaison", institution_id="sefiplan")
    assert (await service.http.get("/sessions/ses-after/records", headers=sefiplan)).json() == []
    assert (await service.http.get("/records?institution_id=dif", headers=sefiplan)).status_code == 403
    by_institution = (await service.http.get("/records?institution_id=dif", headers=comptroller)).json()
    assert [(r["session_id"], r["institution_id"]) for r in by_institution] == [("ses-after", "dif")]


async def test_a_session_started_before_the_transfer_took_effect_is_recorded_for_the_leaving_institution(
        service) -> None:
    # heard before the close, effective after the session started: the roster is dif's, the record sefiplan's
    await service.deliver(scheduled("ses-before", past_morning(9)), registered("srv-ana", service.digest(ANA_EMAIL)),
                          confirmed("ses-before", "srv-ana"), ana_to_dif())
    assert await roster_seen_by(service, "dif", "ses-before") == ["srv-ana"]

    assert (await service.http.post("/sessions/ses-before/close", headers=service.token())).status_code == 200
    assert await records_seen_by(service, "sefiplan") == [("ses-before", "srv-ana")]
    assert await records_seen_by(service, "dif") == []


async def test_a_transfer_effective_on_the_sessions_local_day_gives_its_record_to_the_joining_institution(
        service) -> None:
    await service.deliver(scheduled("ses-x", past_morning(2)), registered("srv-ana", service.digest(ANA_EMAIL)),
                          confirmed("ses-x", "srv-ana"), ana_to_dif(effective_days_ago=2))
    await service.http.post("/sessions/ses-x/close", headers=service.token())
    assert await records_seen_by(service, "dif") == [("ses-x", "srv-ana")]
    assert await records_seen_by(service, "sefiplan") == []


async def test_a_correction_after_the_transfer_stays_with_the_institution_of_the_record_it_corrects(service) -> None:
    comptroller = service.token()
    await service.deliver(scheduled("ses-before", past_morning(9)), registered("srv-ana", service.digest(ANA_EMAIL)),
                          confirmed("ses-before", "srv-ana"))
    await service.http.post("/sessions/ses-before/close", headers=comptroller)
    await service.deliver(ana_to_dif())

    marked = await service.http.post("/sessions/ses-before/marks", headers=comptroller, json={
        "servant_id": "srv-ana", "status": "present", "reason": "signed the paper attendance sheet"})
    assert marked.status_code == 200, marked.text
    assert marked.json()["corrected"] is True
    history = (await service.http.get("/sessions/ses-before/records?history=true", headers=comptroller)).json()
    assert [(r["kind"], r["institution_id"]) for r in history] == [("recorded", "sefiplan"), ("corrected", "sefiplan")]
    assert await records_seen_by(service, "dif") == []


NOW = datetime.now(UTC)
# Ana registered by sefiplan, updated there (her e-mail), then transferred to dif: in order, and as the
# topic's partitions or a replay may hand them over, each fact stamped with when it happened.
FACTS = {
    "registered": lambda service: seal(registered("srv-ana", None), time=NOW - timedelta(hours=3)),
    "updated": lambda service: seal(ServantUpdated(servant_id="srv-ana", institution_id="sefiplan", sex="female",
                                                   email_digest=service.digest(ANA_EMAIL)),
                                    time=NOW - timedelta(hours=2)),
    "transferred": lambda service: seal(ana_to_dif(), time=NOW - timedelta(hours=1)),
}
ORDERS = {
    "in order": ["registered", "updated", "transferred"],
    "transfer heard before the registration": ["transferred", "registered", "updated"],
    "an older update after the transfer": ["registered", "transferred", "updated"],
    "everything twice, redelivered out of order": ["transferred", "updated", "registered", "transferred",
                                                   "registered", "updated"],
}


@pytest.mark.parametrize("order", ORDERS.values(), ids=ORDERS.keys())
async def test_servant_facts_in_any_order_and_redelivered_leave_the_servant_with_the_joining_institution(
        service, order: list[str]) -> None:
    starts = past_morning()
    await service.deliver(scheduled("ses-etica-1", starts), confirmed("ses-etica-1", "srv-ana"))
    envelopes = {name: make(service) for name, make in FACTS.items()}
    for name in order:
        await service.redeliver(envelopes[name])

    assert await roster_seen_by(service, "dif", "ses-etica-1") == ["srv-ana"]
    assert await roster_seen_by(service, "sefiplan", "ses-etica-1") == []
    # the e-mail digest of the update still arrived: the report's rows are matched to Ana by e-mail
    imported = await service.http.post("/sessions/ses-etica-1/reports", content=zoom_report_of(starts),
                                       headers=service.token())
    assert imported.json()["servants"] == {"srv-ana": 118}
    await service.http.post("/sessions/ses-etica-1/close", headers=service.token())
    assert await records_seen_by(service, "dif") == [("ses-etica-1", "srv-ana")]
    assert await records_seen_by(service, "sefiplan") == []


async def test_of_two_transfers_the_later_one_holds_even_when_it_is_heard_first(service) -> None:
    await service.deliver(scheduled("ses-x", past_morning(2)), confirmed("ses-x", "srv-ana"))
    onwards = ServantTransferred(**{**ana_to_dif("trf-2").model_dump(), "from_institution_id": "dif",
                                    "to_institution_id": "ssp"})
    await service.deliver(onwards, time=NOW - timedelta(minutes=1))
    await service.deliver(ana_to_dif("trf-1"), time=NOW - timedelta(hours=1))

    assert await roster_seen_by(service, "ssp", "ses-x") == ["srv-ana"]
    assert await roster_seen_by(service, "dif", "ses-x") == []
    assert await roster_seen_by(service, "sefiplan", "ses-x") == []


async def test_the_asyncapi_document_lists_the_transfer_among_the_events_attendance_handles(service) -> None:
    document = (await service.http.get("/asyncapi.json")).text
    assert "probidad.enrollment.servant.transferred.v1" in document

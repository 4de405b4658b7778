"""Reporting's xAPI projection on SQLite and PostgreSQL (in-memory broker) against a real Ralph LRS: a programme
heard by reporting appears in the LRS as exactly its statements, read back through the xAPI API; a redelivery
adds none; a correction voids and replaces; revocations void or revoke; while the LRS is away statements wait
and are retried, and once given up they are parked, listed and replayed. Without PROBIDAD_LRS_URL nothing of
it runs."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from contracts.envelope import seal
from contracts.events import (
    AssessmentGraded, AttendanceCorrected, AttendanceRecorded, CertificateIssued, CertificateRevoked,
    EnrolmentConfirmed,
)
from probidad.ops.localhost import eventually
from probidad.ops.programme import generate, small_plan
from services.reporting.app import XAPI_GROUP, create_app
from services.reporting.settings import ReportingSettings
from tests.support.harness import serving
from tests.support.ralph import ralph_fixture, ralph_later_fixture  # noqa: F401 (fixtures `ralph`, `ralph_later`)
from tests.support.webhook_receiver import WebhookReceiver
from tests.support.xapi_counts import counted, expected_counts, verb

PROGRAMME = generate(small_plan())


def fresh(envelopes) -> list:
    """The programme under event ids of its own: statement ids derive from event ids, and the LRS a module
    shares must not hold another test's statements under them."""
    return [seal(e.event, time=e.time) for e in envelopes]
async def settled(reporting) -> dict:
    """Wait until nothing is left to send (all sent or parked); the status then."""
    async def done():
        r = await reporting.client.get("/xapi/status")
        body = r.json()
        return body if body["pending"] == 0 else None
    return await eventually(done, timeout_s=60, what="every statement sent or parked")


class Reporting:
    def __init__(self, harness) -> None:
        self.harness = harness
        self.client = harness.client("comptroller")
        self.base = harness.settings.xapi_base

    async def hear(self, envelopes) -> None:
        await self.harness.deliver(*envelopes)


def reporting_with(database_url, tmp_path, **lrs):
    return serving(create_app, ReportingSettings(database_url=database_url, state_dir=tmp_path, **lrs),
                   dead_letters=False)


async def test_a_programme_reaches_the_lrs_as_exactly_its_statements_and_a_redelivery_adds_none(
        database_url, tmp_path, ralph):
    small = fresh(PROGRAMME.envelopes)
    async with reporting_with(database_url, tmp_path, **ralph.settings()) as harness:
        reporting = Reporting(harness)
        await reporting.hear(small)
        status = await settled(reporting)
        assert status["sent"] > 0 and status["parked"] == 0 and status["held"] == 0 and status["enabled"]
        stored = await ralph.of(reporting.base)
        assert counted(stored, reporting.base) == expected_counts(small)
        assert len({s["id"] for s in stored}) == len(stored) == status["sent"]

        # One by one, for a sample: the attended statement of an attendance names its duration and context.
        record = next(e for e in small if isinstance(e.event, AttendanceRecorded))
        [attended] = [s for s in stored if verb(s) == "attended" and s["actor"]["account"]["name"]
                      == record.event.servant_id and s["object"]["id"].endswith("/" + record.event.session_id)]
        seconds = record.event.seconds_present or record.event.minutes_present * 60
        h, m, sec = seconds // 3600, seconds % 3600 // 60, seconds % 60
        parts = "".join(f"{n}{unit}" for n, unit in ((h, "H"), (m, "M"), (sec, "S")) if n)
        assert attended["result"]["duration"] == f"PT{parts or '0S'}"
        assert attended["actor"] == {"objectType": "Agent", "account": {"homePage": reporting.base,
                                                                        "name": record.event.servant_id}}
        assert f"{reporting.base}/xapi/extensions/institution" in attended["context"]["extensions"]
        issued = next(e for e in small if isinstance(e.event, CertificateIssued))
        theirs = sorted(verb(s) for s in stored if s["actor"]["account"]["name"] == issued.event.servant_id
                        and s["timestamp"][:19] == issued.time.strftime("%Y-%m-%dT%H:%M:%S"))
        assert {"completed", "passed", "earned"} <= set(theirs)

        # Heard again (a redelivery, a replay of the topics): nothing new is queued or stored.
        await reporting.hear(small)
        again = await settled(reporting)
        assert again["sent"] == status["sent"]
        assert len(await ralph.of(reporting.base)) == len(stored)


async def test_a_correction_voids_the_attended_statement_and_replaces_it_and_revocations_void_or_revoke(
        database_url, tmp_path, ralph):
    small = fresh(PROGRAMME.envelopes)
    async with reporting_with(database_url, tmp_path, **ralph.settings()) as harness:
        reporting = Reporting(harness)
        await reporting.hear(small)
        await settled(reporting)
        record = next(e.event for e in small if isinstance(e.event, AttendanceRecorded))
        later = max(e.time for e in small) + timedelta(days=1)
        correction = seal(AttendanceCorrected(
            session_id=record.session_id, servant_id=record.servant_id, minutes_present=61, session_minutes=120,
            share=0.5083, status="present", reason="the platform report came late", corrected_by="instructor:i",
            seconds_present=3661, session_seconds=7200), time=later)
        issued = [e.event for e in small if isinstance(e.event, CertificateIssued)][:2]
        void = seal(CertificateRevoked(certificate_id=issued[0].certificate_id, verification_code="ABCD1234",
                                       servant_id=issued[0].servant_id, course_id=issued[0].course_id,
                                       session_id=issued[0].session_id, reason="annulled", applies="void"), time=later)
        from_date = seal(CertificateRevoked(
            certificate_id=issued[1].certificate_id, verification_code="ABCD1234", servant_id=issued[1].servant_id,
            course_id=issued[1].course_id, session_id=issued[1].session_id, reason="sanction", applies="from_date",
            effective_on=date(2027, 1, 1)), time=later)
        await reporting.hear([correction, void, from_date])
        await settled(reporting)
        stored = await ralph.of(reporting.base)
        by_id = {s["id"]: s for s in stored}
        voided = {s["object"]["id"] for s in stored if verb(s) == "voided"}

        def attended_of(s):
            return verb(s) == "attended" and s["actor"]["account"]["name"] == record.servant_id \
                and s["object"]["id"].endswith("/" + record.session_id)
        in_force = [s for s in stored if attended_of(s) and s["id"] not in voided]
        assert [s["result"]["duration"] for s in in_force] == ["PT1H1M1S"], "the replacement alone stands"
        assert [by_id[v]["result"]["duration"] for v in voided if attended_of(by_id[v])] != ["PT1H1M1S"]
        completion = {verb(by_id[v]) for v in voided if not attended_of(by_id[v])}
        assert completion == {"completed", "passed", "earned"}, "a void revocation voids the completion"
        revoked = [s for s in stored if verb(s) == "revoked"]
        assert [s["object"]["id"].rsplit("/", 1)[1] for s in revoked] == [issued[1].certificate_id]
        assert len(voided) == 4
        assert counted(stored, reporting.base) == expected_counts([*small, correction, void, from_date])

        await reporting.hear([correction, void, from_date])  # redelivered: nothing more
        await settled(reporting)
        assert len(await ralph.of(reporting.base)) == len(stored)


async def test_while_the_lrs_is_away_statements_are_retried_and_sent_once_it_is_back(
        database_url, tmp_path, ralph_later):
    small = fresh(PROGRAMME.envelopes)
    settings = ralph_later.settings(lrs_retry_base_s=0.1, lrs_retry_max_s=0.3, lrs_retry_for_s=3600)
    async with reporting_with(database_url, tmp_path, **settings) as harness:
        reporting = Reporting(harness)
        await reporting.hear(small[:120])

        async def retrying():
            body = (await reporting.client.get("/xapi/status")).json()
            return body if body["retrying"] > 0 and body["sent"] == 0 else None
        await eventually(retrying, timeout_s=30, what="statements retried while the LRS is away")
        lrs = ralph_later.start()
        status = await settled(reporting)
        assert status["parked"] == 0 and status["retrying"] == 0
        assert counted(await lrs.of(reporting.base), reporting.base) == expected_counts(small[:120])


async def test_a_statement_given_up_is_parked_listed_and_replayed(database_url, tmp_path, ralph_later):
    small = fresh(PROGRAMME.envelopes)
    settings = ralph_later.settings(lrs_retry_base_s=1, lrs_retry_max_s=1, lrs_retry_for_s=0.5)
    async with reporting_with(database_url, tmp_path, **settings) as harness:
        reporting = Reporting(harness)
        assert (await reporting.client.get("/xapi/dead-letters", headers={"Authorization": ""})).status_code == 401
        await reporting.hear(small[:120])
        status = await settled(reporting)
        assert status["sent"] == 0 and status["parked"] > 0
        parked = (await reporting.client.get("/xapi/dead-letters")).json()
        assert len(parked) == status["parked"]
        assert {p["verb"] for p in parked} <= {"registered", "attended", "scored", "failed", "completed", "passed",
                                               "earned"}
        assert all(p["last_status_code"] is None and p["last_error"] for p in parked), "no answer: nobody there"
        lrs = ralph_later.start()
        one = parked[0]["statement_id"]
        replayed = await reporting.client.post("/xapi/dead-letters/replay", params={"statement_id": one})
        assert replayed.json() == {"replayed": 1}
        await settled(reporting)
        assert [s["id"] for s in await lrs.of(reporting.base)] == [one]
        assert (await reporting.client.post("/xapi/dead-letters/replay")).json() == {"replayed": len(parked) - 1}
        after = await settled(reporting)
        assert after["parked"] == 0 and after["sent"] == len(parked)
        assert counted(await lrs.of(reporting.base), reporting.base) == expected_counts(small[:120])


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_without_an_lrs_url_nothing_of_xapi_runs(database_url, tmp_path):
    small = fresh(PROGRAMME.envelopes)
    async with reporting_with(database_url, tmp_path) as harness:
        assert XAPI_GROUP not in {c.group for c, _ in harness.runtime.consumers}
        await harness.deliver(*small[:60])
        status = (await harness.client("comptroller").get("/xapi/status")).json()
        assert status == {"enabled": False, "lrs": None, "pending": 0, "retrying": 0, "sent": 0, "parked": 0,
                          "held": 0}


async def test_facts_naming_what_is_not_known_yet_wait_and_are_sent_once_it_is(database_url, tmp_path, ralph):
    small = fresh(PROGRAMME.envelopes)
    async with reporting_with(database_url, tmp_path, **ralph.settings()) as harness:
        reporting = Reporting(harness)
        learning = (EnrolmentConfirmed, AttendanceRecorded, AssessmentGraded, CertificateIssued)
        first = [e for e in small if isinstance(e.event, learning)]
        rest = [e for e in small if not isinstance(e.event, learning)]
        await reporting.hear(first)
        waiting = await settled(reporting)
        assert waiting["sent"] == 0 and waiting["held"] == len(first)
        await reporting.hear(rest)
        status = await settled(reporting)
        assert status["held"] == 0
        assert counted(await ralph.of(reporting.base), reporting.base) == expected_counts(small)



@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_several_reporting_instances_on_one_database_never_send_a_statement_twice(database_url, tmp_path):
    small = fresh(PROGRAMME.envelopes)
    # An LRS that takes its time answering, so the instances' passes overlap; it records every statement posted.
    with WebhookReceiver(status=200, delay_s=0.05) as receiver:
        lrs = {"lrs_url": f"http://127.0.0.1:{receiver.port}", "lrs_batch_size": 5,
               "xapi_public_url": "https://probidad.test/instances"}
        async with reporting_with(database_url, tmp_path / "a", **lrs) as first, \
                reporting_with(database_url, tmp_path / "b", **lrs) as second, \
                reporting_with(database_url, tmp_path / "c", **lrs):
            await first.deliver(*small)
            status = await settled(Reporting(second))
        posted = [s["id"] for r in receiver.taken() for s in json.loads(r.body)]
    assert status["sent"] == len(posted) > 100
    assert len(set(posted)) == len(posted), "no statement was sent by two instances"
    assert {r.path for r in receiver.taken()} == {"/xAPI/statements"}
    assert {r.headers["x-experience-api-version"] for r in receiver.taken()} == {"1.0.3"}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_an_id_the_lrs_holds_for_a_different_statement_is_counted_sent_and_never_sent_again(
        database_url, tmp_path, ralph):
    small = fresh(PROGRAMME.envelopes)[:120]
    async with reporting_with(database_url.replace("service.db", "first.db"), tmp_path / "first",
                              **ralph.settings()) as harness:
        first = Reporting(harness)
        await first.hear(small)
        sent = await settled(first)
    # Another platform (another base URL) makes different statements under the same ids: the LRS refuses each
    # batch whole (409), then each statement alone; it keeps its own, and nothing is retried or parked.
    async with reporting_with(database_url.replace("service.db", "second.db"), tmp_path / "second",
                              **ralph.settings()) as harness:
        second = Reporting(harness)
        await second.hear(small)
        status = await settled(second)
        assert status["sent"] == sent["sent"] and status["parked"] == 0 and status["retrying"] == 0
        assert await ralph.of(second.base) == []
        assert len(await ralph.of(first.base)) == sent["sent"]

"""Digests to an institution's contacts and reminders to its servants, sent through a real SMTP server.

On SQLite and PostgreSQL, with the in-memory broker and an SMTP server (aiosmtpd) in its own process. The scheduler
is run a round at a time through ``POST /notifications/run``, for a day counted from today, so the tests mean the
same on any day they run.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from services.enrollment.app import create_app
from services.enrollment.settings import EnrollmentSettings
from services.enrollment.tables import MailMessage
from tests.integration.test_enrollment_api import Platform, register, set_up_programme
from tests.support.harness import serving
from tests.support.smtp import SmtpSink, smtp_sink  # noqa: F401 (fixture)

# The programme's day (its zone, as the service reads "today"), not the machine's UTC date: they differ for hours.
TODAY = datetime.now(ZoneInfo("America/Cancun")).date()
ETHICS = {"requirement_id": "rq-etica", "title": "Código de Ética para quien ingresa", "course_id": "co-etica",
          "due": {"kind": "within_days_of_joining", "days": 30},
          "effective_from": (TODAY - timedelta(days=400)).isoformat()}


@pytest.fixture
async def platform(database_url: str, tmp_path, token_minter, smtp_sink: SmtpSink):
    settings = EnrollmentSettings(database_url=database_url, state_dir=tmp_path, programme_timezone="America/Cancun",
                                  smtp_host=smtp_sink.host, smtp_port=smtp_sink.port, notify_scheduler=False,
                                  mail_retry_base_s=0.2, mail_retry_max_s=0.5, public_url="http://enrollment.test",
                                  mail_from="Probidad <avisos@contraloria.example.gob.mx>")
    async with serving(create_app, settings, tokens=token_minter) as harness:
        yield Platform(harness)


async def run_round(p: Platform, on: date = TODAY, decide: bool = True) -> dict:
    async with p.client() as c:
        answer = await c.post("/notifications/run", params={"on": on.isoformat(), "decide": str(decide).lower()})
    assert answer.status_code == 200, answer.text
    return answer.json()


async def programme_with_servants(p: Platform) -> dict[str, str]:
    """in-a: one servant overdue, one due in 30 days, one due in 7, one without e-mail (overdue); in-b: one overdue."""
    await set_up_programme(p)
    async with p.client() as c:
        r = await c.post("/requirements", json=ETHICS)
        assert r.status_code == 201, r.text
        # A session of the course opening next month, for the reminders to offer.
        start = (TODAY + timedelta(days=20)).isoformat() + "T10:00:00"
        r = await c.post("/sessions", json={"session_id": "se-next", "course_id": "co-etica", "modality": "in_person",
                                            "venue": "Sala de capacitación, piso 3", "starts_at": start,
                                            "ends_at": start.replace("T10", "T13"), "capacity": 30})
        assert r.status_code == 201, r.text
    joined = {"late": 31, "month": 0, "week": 23, "silent": 40}
    servants = {}
    for n, (who, days_ago) in enumerate(joined.items(), start=1):
        email = {} if who == "silent" else {"email": f"{who}@sefiplan.example.gob.mx"}
        servants[who] = await register(p, n, joined_on=(TODAY - timedelta(days=days_ago)).isoformat(), **email)
    servants["other"] = await register(p, 9, institution="in-b", email="other@otra.example.gob.mx",
                                       joined_on=(TODAY - timedelta(days=60)).isoformat())
    return servants


async def add_contact(p: Platform, institution: str = "in-a", who: str = "liaison-a", **body) -> dict:
    async with p.client(who) as c:
        answer = await c.post(f"/institutions/{institution}/contacts", json={
            "name": "Mtra. Rosa Chan", "email": "enlace@sefiplan.example.gob.mx", "role": "Enlace de capacitación",
            **body})
    assert answer.status_code == 201, answer.text
    return answer.json()


def to(message: EmailMessage) -> str:
    return str(message["To"])


def text_of(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content()


async def test_a_liaison_names_its_contacts_and_another_institution_sees_none_of_them(platform):
    await set_up_programme(platform)
    contact = await add_contact(platform)
    assert contact["digests"] == ["compliance", "expiring"]
    async with platform.client("liaison-b") as c:
        assert (await c.get("/institutions/in-a/contacts")).status_code == 404
        assert (await c.post("/institutions/in-a/contacts", json={
            "name": "X", "email": "x@y.mx", "role": "Enlace"})).status_code == 404
    async with platform.client("liaison-a") as c:
        bad = await c.post("/institutions/in-a/contacts", json={"name": "X", "email": "not-an-address", "role": "E"})
        assert bad.status_code == 422 and "email" in bad.text
        bad = await c.post("/institutions/in-a/contacts", json={"name": "X", "email": "x@y.mx", "role": "E",
                                                                 "digests": ["gossip"]})
        assert bad.status_code == 422 and "digests" in bad.text
        assert [x["contact_id"] for x in (await c.get("/institutions/in-a/contacts")).json()] == [contact["contact_id"]]
        settings = await c.put("/institutions/in-a/notices", json={"digest_cadence": "fortnightly"})
        assert settings.status_code == 422 and "digest_cadence" in settings.text
    # The contact's address is personal data: no event carries it.
    assert all("enlace@" not in e.event.model_dump_json() for e in await platform.events())


async def test_the_digest_counts_and_names_exactly_what_the_named_compliance_list_says_and_no_one_else(
        platform, smtp_sink):
    servants = await programme_with_servants(platform)
    await add_contact(platform)
    await add_contact(platform, institution="in-b", who="liaison-b", name="Lic. Otro", email="enlace@otra.example")
    done = await run_round(platform)
    assert done["held_turn"] and done["sent"] == done["decided"]
    arrived = {to(m): m for m in await smtp_sink.wait_for(done["decided"])}
    digest = text_of(arrived["enlace@sefiplan.example.gob.mx"])

    async with platform.client("liaison-a") as c:
        listed = (await c.get("/institutions/in-a/compliance", params={"state": "all",
                                                                        "on": TODAY.isoformat()})).json()["lines"]
    states = [line["state"] for line in listed]
    due_soon = [line for line in listed if line["state"] == "due"
                and date.fromisoformat(line["due_on"]) <= TODAY + timedelta(days=30)]
    counts = re.search(r"Cumplen: (\d+) \| Vencen en los próximos 30 días: (\d+) \| Vencen después: (\d+) \| "
                       r"Con plazo vencido: (\d+) \| Exentos: (\d+) \| Total: (\d+)", digest)
    assert counts, digest
    assert [int(n) for n in counts.groups()] == [states.count("compliant"), len(due_soon),
                                                 states.count("due") - len(due_soon), states.count("overdue"),
                                                 states.count("exempt"), len(listed)]
    overdue_part = digest.split("PERSONAS CON PLAZO VENCIDO")[1].split("PERSONAS CUYO PLAZO")[0]
    soon_part = digest.split("PERSONAS CUYO PLAZO VENCE")[1].split("Puede descargar")[0]
    assert {n for n in re.findall(r"Persona \d+", overdue_part)} == {
        line["name"] for line in listed if line["state"] == "overdue"}
    assert {n for n in re.findall(r"Persona \d+", soon_part)} == {line["name"] for line in due_soon}
    assert "Persona 9" not in digest, "in-b's servant is in nobody's digest but in-b's"
    assert "http://enrollment.test/institutions/in-a/compliance.csv" in digest
    assert "Persona 9" in text_of(arrived["enlace@otra.example"])
    # The message is a fact with no personal data on the topic; deciding the same day again sends nothing.
    queued = await platform.events("message.queued.v1")
    assert {e.event.recipient_id for e in queued} >= {servants["late"], servants["month"], servants["week"]}
    published = [e.event.model_dump_json() for e in queued]
    assert all("sefiplan" not in data and "Persona" not in data for data in published)
    again = await run_round(platform)
    assert again["decided"] == 0 and again["sent"] == 0
    assert len(smtp_sink.messages()) == done["decided"]


async def test_servants_are_reminded_at_30_and_7_days_and_once_when_overdue_with_the_sessions_they_can_join(
        platform, smtp_sink):
    servants = await programme_with_servants(platform)
    done = await run_round(platform)
    arrived = {to(m): m for m in await smtp_sink.wait_for(done["decided"])}
    assert set(arrived) == {"late@sefiplan.example.gob.mx", "month@sefiplan.example.gob.mx",
                            "week@sefiplan.example.gob.mx", "other@otra.example.gob.mx"}
    month, week, late = (text_of(arrived[f"{w}@sefiplan.example.gob.mx"]) for w in ("month", "week", "late"))
    assert "dentro de 30 días" in month and "dentro de 7 días" in week and "venció el" in late
    assert "Sala de capacitación, piso 3" in month and "30 lugares disponibles" in month
    unsubscribe = arrived["month@sefiplan.example.gob.mx"]["List-Unsubscribe"]
    assert unsubscribe.startswith("<http://enrollment.test/mail/unsubscribe?token=")
    assert arrived["month@sefiplan.example.gob.mx"]["Message-ID"].endswith("@contraloria.example.gob.mx>")
    # A week later the one due in 30 days is due in 23: nothing; the overdue one is not told again.
    assert (await run_round(platform, on=TODAY + timedelta(days=7)))["decided"] == 0
    # 23 days later the first is at 7 days, and the one due in 7 became overdue: one reminder each.
    later = await run_round(platform, on=TODAY + timedelta(days=23))
    assert later["decided"] == 2 and later["sent"] == 2
    last = {to(m): text_of(m) for m in (await smtp_sink.wait_for(6))[4:]}
    assert set(last) == {"month@sefiplan.example.gob.mx", "week@sefiplan.example.gob.mx"}
    assert "dentro de 7 días" in last["month@sefiplan.example.gob.mx"]
    assert "venció el" in last["week@sefiplan.example.gob.mx"]
    kinds = {(e.event.recipient_id, e.event.kind) for e in await platform.events("message.queued.v1")}
    assert kinds == {(servants["late"], "overdue"), (servants["month"], "due_30"), (servants["week"], "due_7"),
                     (servants["other"], "overdue"), (servants["month"], "due_7"), (servants["week"], "overdue")}


async def test_nobody_is_written_to_after_erasure_unsubscribing_or_leaving(platform, smtp_sink):
    servants = await programme_with_servants(platform)
    async with platform.client("comptroller") as c:
        assert (await c.delete(f"/servants/{servants['late']}/personal-data")).status_code == 200
    async with platform.client("liaison-a") as c:
        r = await c.post(f"/servants/{servants['week']}/departure", json={"left_on": TODAY.isoformat(),
                                                                         "reason": "renuncia"})
        assert r.status_code in (200, 201), r.text
    done = await run_round(platform)
    arrived = await smtp_sink.wait_for(done["sent"])
    assert {to(m) for m in arrived} == {"month@sefiplan.example.gob.mx", "other@otra.example.gob.mx"}
    # The link in the reminder opens a page that asks first; confirming stops all mail to that address.
    link = re.search(r"http://enrollment.test/mail/unsubscribe\?token=\S+",
                     text_of(next(m for m in arrived if to(m).startswith("month")))).group(0)
    token = parse_qs(urlparse(link).query)["token"][0]
    async with platform.client(None) as c:
        page = await c.get("/mail/unsubscribe", params={"token": token})
        assert page.status_code == 200 and "Confirmar la baja" in page.text
        forged = await c.post("/mail/unsubscribe", params={"token": token[:-3] + "AAA"})
        assert forged.status_code == 400
        assert (await c.post("/mail/unsubscribe", params={"token": token})).status_code == 200
    later = await run_round(platform, on=TODAY + timedelta(days=23))
    assert later["sent"] == 0
    assert len(smtp_sink.messages()) == 2


async def test_a_stopped_smtp_server_is_retried_until_it_is_back_and_each_message_goes_once(platform, smtp_sink):
    await programme_with_servants(platform)
    smtp_sink.stop()
    first = await run_round(platform)
    assert first["sent"] == 0 and first["retrying"] == first["decided"] == 4
    async with platform.client("liaison-a") as c:
        waiting = (await c.get("/institutions/in-a/messages", params={"status": "queued"})).json()
    assert all(m["attempts"] == 1 and m["next_attempt_at"] and m["last_error"] for m in waiting)
    smtp_sink.start()
    sent = 0
    for _ in range(40):  # the retry waits 0.2 s, then 0.4 s: a few rounds bring them all
        sent += (await run_round(platform, decide=False))["sent"]
        if sent == 4:
            break
    assert sent == 4
    arrived = await smtp_sink.wait_for(4)
    assert len({m["Message-ID"] for m in arrived}) == len(arrived) == 4


async def test_a_hard_bounce_marks_the_address_and_no_more_mail_goes_to_it(platform, smtp_sink):
    servants = await programme_with_servants(platform)
    smtp_sink.refuse("month@sefiplan.example.gob.mx")
    done = await run_round(platform)
    assert done["bounced"] == 1 and done["sent"] == 3
    async with platform.client("liaison-a") as c:
        (bounced,) = (await c.get("/institutions/in-a/messages", params={"status": "bounced"})).json()
    assert bounced["recipient_id"] == servants["month"] and "550" in bounced["last_error"]
    later = await run_round(platform, on=TODAY + timedelta(days=23))
    queued = [e.event for e in await platform.events("message.queued.v1")]
    assert later["decided"] == 1 and queued[-1].recipient_id == servants["week"]  # overdue by then
    assert [e.kind for e in queued if e.recipient_id == servants["month"]] == ["due_30"], \
        "the bounced address is not written to again"
    async with platform.runtime.database.transaction() as db:
        rows = (await db.execute(select(MailMessage).where(MailMessage.status == "bounced"))).scalars().all()
    assert [r.address for r in rows] == [None], "the text and address of a bounced message are not kept"

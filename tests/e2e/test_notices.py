"""Digests and reminders end to end: enrollment as a real process on PostgreSQL and the real broker, its mail going
to a real SMTP server (``probidad mail-sink``), its rounds run by ``probidad notify run --now`` as an operator would.

One enrollment process serves the whole file (its scheduler on, deciding only when it starts: the interval is a
day); each test has its own institutions and addresses, and decides for the programme's day (its zone, as the
service reads "today") or a day counted from it, so the tests mean the same at any hour they run.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import subprocess
import unicodedata
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from aiokafka import AIOKafkaProducer

from contracts.envelope import open_envelope
from contracts.events import CertificateIssued, MessageQueued
from contracts.topics import CERTIFICATION_EVENTS, ENROLLMENT_EVENTS
from tests.conftest import _fresh_postgres
from tests.integration.test_enrollment_api import curp
from tests.support.kafka_tools import eventually, publish_events, read_topic
from tests.support.notices_e2e import (NoticesEnrollment, SmtpRelay, arrived, cli_env, kept_count, kind_of,
                                       liaison, message_id, text_of, twice)
from tests.support.processes import ROOT
from tests.support.smtp import SmtpSink

pytestmark = pytest.mark.kafka

ZONE = "America/Mexico_City"  # the platform's programme time zone (ServiceSettings' default)
REQUIREMENT = "Código de Ética para quien ingresa"
CERTIFICATE_TYPE = CertificateIssued.type
_curps = itertools.count(1)


# ------------------------------------------------------------------ one enrollment process for the file


@pytest.fixture(scope="module")
def day() -> date:
    """The programme's day: in its zone the UTC date is a day ahead every evening."""
    return datetime.now(ZoneInfo(ZONE)).date()


@pytest.fixture(scope="module")
def sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpSink]:
    running = SmtpSink(tmp_path_factory.mktemp("notices-sink")).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture(scope="module")
async def enrollment(kafka_bootstrap: str, postgres_admin_url: str, sink: SmtpSink, prefix: str, day: date,
                     tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[NoticesEnrollment]:
    async with _fresh_postgres(postgres_admin_url) as database_url:
        directory = tmp_path_factory.mktemp("notices-enrollment")
        service = NoticesEnrollment(directory, {
            "PROBIDAD_KAFKA_BOOTSTRAP": kafka_bootstrap, "PROBIDAD_TOPIC_PREFIX": prefix,
            "PROBIDAD_STATE_DIR": str(directory), "PROBIDAD_DATABASE_URL": database_url,
            "PROBIDAD_PROGRAMME_TIMEZONE": ZONE, **sink.env(),
            "PROBIDAD_MAIL_FROM": "Probidad <avisos@contraloria.example.gob.mx>",
            "PROBIDAD_MAIL_RETRY_BASE_S": "0.5", "PROBIDAD_MAIL_RETRY_MAX_S": "1",
            # The scheduler sends what waits every second; it decides once, when it starts, at any hour (the
            # tests' rounds decide the rest).
            "PROBIDAD_NOTIFY_SCHEDULER": "true", "PROBIDAD_NOTIFY_INTERVAL_S": "86400",
            "PROBIDAD_NOTIFY_FROM_HOUR": "0", "PROBIDAD_RELAY_INTERVAL_MS": "20",
            # Static membership: started again (after a kill too), it takes its partitions back at once.
            "PROBIDAD_KAFKA_INSTANCE_ID": f"notices-{prefix}"})
        await service.start()
        try:
            async with service.client() as c:
                for path, body in (
                    ("/courses", {"course_id": "co-etica", "code": "CE-01", "title": "Código de Ética",
                                  "topic": "Código de Ética", "hours": 4}),
                    ("/requirements", {"requirement_id": "rq-etica", "title": REQUIREMENT, "course_id": "co-etica",
                                       "due": {"kind": "within_days_of_joining", "days": 60},
                                       "effective_from": (day - timedelta(days=400)).isoformat()}),
                    ("/sessions", {"session_id": "se-proxima", "course_id": "co-etica", "modality": "in_person",
                                   "venue": "Sala de capacitación, piso 3", "capacity": 30,
                                   "starts_at": f"{day + timedelta(days=20)}T10:00:00",
                                   "ends_at": f"{day + timedelta(days=20)}T13:00:00"}),
                ):
                    answer = await c.post(path, json=body)
                    assert answer.status_code == 201, answer.text
            yield service
        finally:
            service.stop()


async def institutions(enrollment: NoticesEnrollment, *ids: str) -> None:
    async with enrollment.client() as c:
        for institution_id in ids:
            answer = await c.post("/institutions", json={
                "institution_id": institution_id, "name": f"Institución {institution_id}",
                "government_level": "state", "headcount": 400, "headcount_year": 2026})
            assert answer.status_code == 201, answer.text


async def register(enrollment: NoticesEnrollment, institution_id: str, name: str, joined_on: date,
                   email: str | None) -> str:
    async with enrollment.client() as c:
        answer = await c.post("/servants", json={
            "institution_id": institution_id, "name": name, "curp": curp(next(_curps)), "sex": "female",
            "joined_on": joined_on.isoformat(), **({"email": email} if email else {})})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["servant_id"])


async def compliance(enrollment: NoticesEnrollment, institution_id: str, on: date) -> list[dict]:
    async with enrollment.client(liaison(institution_id)) as c:
        answer = await c.get(f"/institutions/{institution_id}/compliance", params={"state": "all",
                                                                                     "on": on.isoformat()})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["lines"])


async def certified(enrollment: NoticesEnrollment, kafka_bootstrap: str, prefix: str, servant_id: str, *,
                    issued_on: date, valid_until: date, day: date) -> CertificateIssued:
    """Certification's fact, published on the real broker; returns once enrollment has applied it (the servant
    is compliant on ``day``)."""
    certificate = CertificateIssued(
        certificate_id=f"ce-{uuid.uuid4().hex[:12]}", verification_code=uuid.uuid4().hex[:10].upper(),
        servant_id=servant_id, course_id="co-etica", session_id="se-pasada", hours=4, issued_on=issued_on,
        issuing_authority="Secretaría de la Contraloría", valid_until=valid_until)
    await publish_events(kafka_bootstrap, [certificate], topic_prefix=prefix)
    institution_id = await servant_institution(enrollment, servant_id)

    async def compliant() -> bool:
        lines = await compliance(enrollment, institution_id, day)
        return any(line["servant_id"] == servant_id and line["state"] == "compliant" for line in lines)

    await eventually(compliant, timeout_s=60, what=f"{servant_id} compliant with the certificate")
    return certificate


async def servant_institution(enrollment: NoticesEnrollment, servant_id: str) -> str:
    async with enrollment.client() as c:
        return str((await c.get(f"/servants/{servant_id}")).json()["institution_id"])


async def queued_events(kafka_bootstrap: str, prefix: str, institution_ids: set[str], at_least: int) -> list:
    """The MessageQueued records on enrollment's topic for these institutions, once at least ``at_least`` are."""
    async def found() -> list:
        records = await read_topic(kafka_bootstrap, f"{prefix}{ENROLLMENT_EVENTS}", timeout_s=10)
        ours = [(r, open_envelope(r.headers, r.value)) for r in records]
        ours = [(r, e) for r, e in ours if e.type == MessageQueued.type and e.event.institution_id in institution_ids]
        return ours if len(ours) >= at_least else []

    return await eventually(found, timeout_s=60, interval_s=0.5, what=f"{at_least} MessageQueued events")


def named(digest: str, heading: str, until: str) -> list[str]:
    """The names listed under ``heading`` (a line each: "- Name (position): requirement, …")."""
    part = digest.split(heading, 1)[1].split(until, 1)[0]
    return sorted(re.findall(r"^- (.+?)(?: \([^)]*\))?: ", part, re.M))


def mailbox(name: str) -> str:
    """An ASCII mailbox for a name ("Héctor Uc" -> "hector"), as institutions give them."""
    return unicodedata.normalize("NFKD", name.split()[0].lower()).encode("ascii", "ignore").decode()


def sent_to(messages: list) -> list[tuple[str, str]]:
    return sorted((str(m["To"]).split("@")[0], kind_of(m)) for m in messages)


# ------------------------------------------------------------------ 1. the digest


async def test_a_liaisons_digest_counts_and_names_exactly_what_the_named_compliance_list_says_and_no_one_else(
        enrollment: NoticesEnrollment, sink: SmtpSink, day: date, kafka_bootstrap: str, prefix: str) -> None:
    a, b = "in-dig-a", "in-dig-b"
    await institutions(enrollment, a, b)
    ago = {"Abril Canché Uc": 75, "Bruno Chan Pech": 61, "Carmen Dzul May": 90,  # overdue (Carmen has no e-mail)
           "Diego Euán Tun": 35, "Elena Ku Poot": 55,  # due within 30 days
           "Fausto Mis Cauich": 10,  # due in 50 days
           "Gloria Tzab Ek": 70, "Héctor Uc Balam": 40,  # compliant (Héctor's constancia expires in 45 days)
           "Irma Poot Canul": 75}  # exempt
    ids = {name: await register(enrollment, a, name, day - timedelta(days=n),
                                None if name.startswith("Carmen") else f"{mailbox(name)}@dig-a.example.gob.mx")
           for name, n in ago.items()}
    others = {"Julián Ek Chi": await register(enrollment, b, "Julián Ek Chi", day - timedelta(days=80),
                                              "julian@dig-b.example.gob.mx"),
              "Karla May Dzib": await register(enrollment, b, "Karla May Dzib", day - timedelta(days=45),
                                               "karla@dig-b.example.gob.mx")}
    await certified(enrollment, kafka_bootstrap, prefix, ids["Gloria Tzab Ek"], issued_on=day - timedelta(days=3),
                    valid_until=day + timedelta(days=365), day=day)
    await certified(enrollment, kafka_bootstrap, prefix, ids["Héctor Uc Balam"], issued_on=day - timedelta(days=300),
                    valid_until=day + timedelta(days=45), day=day)
    async with enrollment.client(liaison(a)) as c:
        answer = await c.post(f"/servants/{ids['Irma Poot Canul']}/exemptions", json={
            "requirement_id": "rq-etica", "reason": "Acreditado ante otra instancia"})
        assert answer.status_code == 201, answer.text
        answer = await c.post(f"/institutions/{a}/contacts", json={
            "name": "Mtra. Rosa Chan", "email": "enlace@dig-a.example.gob.mx", "role": "Enlace de capacitación"})
        assert answer.status_code == 201, answer.text
    async with enrollment.client(liaison(b)) as c:
        answer = await c.post(f"/institutions/{b}/contacts", json={
            "name": "Lic. Omar Pat", "email": "enlace@dig-b.example.gob.mx", "role": "Enlace de capacitación"})
        assert answer.status_code == 201, answer.text

    # The operator's command, without --on: the service's own "today", which must be the programme's.
    done = enrollment.notify()
    # Two digests; reminders to A's two overdue and two due soon with an address, and to B's two.
    assert (done["decided"], done["sent"]) == (8, 8), done
    (digest,) = [text_of(m) for m in arrived(sink, "dig-a.example.gob.mx") if str(m["To"]).startswith("enlace@")]
    (other,) = [text_of(m) for m in arrived(sink, "dig-b.example.gob.mx") if str(m["To"]).startswith("enlace@")]

    listed = await compliance(enrollment, a, day)
    states = Counter(line["state"] for line in listed)
    soon = [line for line in listed if line["state"] == "due"
            and date.fromisoformat(line["due_on"]) <= day + timedelta(days=30)]
    assert states == {"overdue": 3, "due": 3, "compliant": 2, "exempt": 1}, "the spread this test set up"
    counts = re.search(rf"{REQUIREMENT}\n  Cumplen: (\d+) \| Vencen en los próximos 30 días: (\d+) \| "
                       r"Vencen después: (\d+) \| Con plazo vencido: (\d+) \| Exentos: (\d+) \| Total: (\d+)", digest)
    assert counts, digest
    assert [int(n) for n in counts.groups()] == [states["compliant"], len(soon), states["due"] - len(soon),
                                                 states["overdue"], states["exempt"], len(listed)]
    assert named(digest, "PERSONAS CON PLAZO VENCIDO", "PERSONAS CUYO PLAZO") == sorted(
        line["name"] for line in listed if line["state"] == "overdue")
    assert named(digest, "PERSONAS CUYO PLAZO VENCE", "Puede descargar") == sorted(line["name"] for line in soon)
    assert named(digest, "CONSTANCIAS QUE DEJAN DE SER VÁLIDAS", "Este mensaje") == ["Héctor Uc Balam"]
    assert not [name for name in others if name in digest], "B's servants are in nobody's digest but B's"
    assert not [name for name in ago if name in other] and "Julián Ek Chi" in other
    # The digest's link is the named list itself, for its liaison.
    link = re.search(rf"{re.escape(enrollment.url)}/institutions/{a}/compliance\.csv\S*", digest)
    assert link, digest
    async with enrollment.client(liaison(a)) as c:
        csv = await c.get(link.group(0))
    assert csv.status_code == 200 and all(name in csv.text for name in ago), csv.text

    # The decisions are facts on the real broker, each a message that arrived, and none carries personal data.
    records = await queued_events(kafka_bootstrap, prefix, {a, b}, at_least=8)
    assert len(records) == 8
    ours = arrived(sink, "dig-a.example.gob.mx") + arrived(sink, "dig-b.example.gob.mx")
    assert {e.event.message_id for _r, e in records} == {message_id(m) for m in ours} and not twice(ours)
    personal = [*ago, *others, "Rosa Chan", "Omar Pat", "@dig-a.example", "@dig-b.example",
                *(line["curp"] for line in listed)]
    for record, _envelope in records:
        raw = b" ".join([record.key or b"", record.value, *(v for _k, v in record.headers)]).decode()
        assert not [p for p in personal if p.lower() in raw.lower()], raw


# ------------------------------------------------------------------ 2. reminders


async def test_servants_are_reminded_at_30_and_7_days_and_once_overdue_and_never_after_erasure_unsubscribing_or_leaving(
        enrollment: NoticesEnrollment, sink: SmtpSink, day: date) -> None:
    r, domain = "in-rem", "rem.example.gob.mx"
    await institutions(enrollment, r)
    joined = {"marta": 30, "wendy": 53, "luis": 70, "erika": 30, "lalo": 30, "ursula": 30}
    ids = {who: await register(enrollment, r, f"{who.title()} Canul", day - timedelta(days=n), f"{who}@{domain}")
           for who, n in joined.items()}

    done = enrollment.notify("--on", day.isoformat())
    assert (done["decided"], done["sent"]) == (6, 6), done
    first = arrived(sink, domain)
    assert sent_to(first) == sorted([("marta", "due_30"), ("wendy", "due_7"), ("luis", "overdue"),
                                     ("erika", "due_30"), ("lalo", "due_30"), ("ursula", "due_30")])
    marta = text_of(next(m for m in first if str(m["To"]) == f"marta@{domain}"))
    assert "dentro de 30 días" in marta and "Sala de capacitación, piso 3" in marta

    # Erika's data are erased, Lalo leaves today, Ursula follows the link in her reminder.
    async with enrollment.client() as c:
        assert (await c.delete(f"/servants/{ids['erika']}/personal-data")).status_code == 200
    async with enrollment.client(liaison(r)) as c:
        answer = await c.post(f"/servants/{ids['lalo']}/departure", json={"left_on": day.isoformat(),
                                                                         "reason": "renuncia"})
        assert answer.status_code == 200, answer.text
    ursula = text_of(next(m for m in first if str(m["To"]) == f"ursula@{domain}"))
    link = re.search(rf"{re.escape(enrollment.url)}/mail/unsubscribe\?token=\S+", ursula)
    assert link, ursula
    async with enrollment.client({}) as c:
        page = await c.post(link.group(0))
    assert page.status_code == 200, page.text

    # A week later Marta is 23 days away and Wendy's day has come: nothing new for anyone of the institution.
    enrollment.notify("--on", (day + timedelta(days=7)).isoformat())
    assert len(arrived(sink, domain)) == 6
    # Three weeks after that, Marta is 7 days away and Wendy overdue; the erased, the gone and the unsubscribed,
    # as far along as Marta, get nothing.
    enrollment.notify("--on", (day + timedelta(days=23)).isoformat())
    assert sent_to(arrived(sink, domain)) == sorted([*sent_to(first), ("marta", "due_7"), ("wendy", "overdue")])
    assert not twice(arrived(sink, domain))
    decided = await enrollment.messages(r)
    assert Counter(m["status"] for m in decided) == {"sent": 8}
    assert {(m["recipient_id"], m["kind"]) for m in decided if m["recipient_id"] in
            (ids["erika"], ids["lalo"], ids["ursula"])} == {(ids[w], "due_30") for w in ("erika", "lalo", "ursula")}


# ------------------------------------------------------------------ 3. kill -9 mid-send


async def test_a_kill_9_while_the_smtp_server_answers_leaves_that_message_uncertain_and_every_other_sent_once(
        enrollment: NoticesEnrollment, sink: SmtpSink, day: date, kafka_bootstrap: str, prefix: str) -> None:
    k, domain, many = "in-kill", "kill.example.gob.mx", 300
    # For this test enrollment's mail goes through a relay that can keep the sink's answer to a message from it.
    relay = SmtpRelay(sink.port)
    enrollment.stop()
    enrollment.env.update(relay.env())
    await enrollment.start()
    command = None
    try:
        await institutions(enrollment, k)
        gate = asyncio.Semaphore(8)

        async def one(n: int) -> str:
            async with gate:
                return await register(enrollment, k, f"Persona K{n}", day - timedelta(days=70), f"k{n}@{domain}")

        await asyncio.gather(*(one(n) for n in range(many)))  # every one overdue: a reminder each
        before = kept_count(sink)
        command = subprocess.Popen(enrollment.notify_command("--on", day.isoformat()), cwd=ROOT, env=cli_env(),
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

        async def some_arrived() -> bool:
            return kept_count(sink) - before >= 30

        await eventually(some_arrived, timeout_s=120, interval_s=0.02, what="30 reminders at the sink")
        # The next message reaches the sink, but enrollment never hears that it did: it dies waiting.
        relay.hold_next()

        async def held() -> bool:
            return relay.held.is_set()

        await eventually(held, timeout_s=30, interval_s=0.02, what="a message taken and its answer held")
        in_flight = message_id(sink.messages()[-1])
        enrollment.kill()
        output, _ = command.communicate(timeout=60)
    finally:
        if command is not None and command.poll() is None:
            command.kill()
        relay.close()
        enrollment.env.update(sink.env())
    assert command.returncode == 1 and "enrollment" in output, output
    assert kept_count(sink) - before < many, "the kill came in the middle of the round"

    await enrollment.start()  # same database: its first round settles what was cut off and sends the rest
    assert enrollment.notify("--on", day.isoformat())["decided"] == 0

    async def settled() -> list[dict]:
        decided = await enrollment.messages(k)
        return decided if all(m["status"] in ("sent", "uncertain") for m in decided) else []

    decided = await eventually(settled, timeout_s=120, what="every message sent or uncertain")
    assert len(decided) == many
    (uncertain,) = await enrollment.messages(k, "uncertain")
    assert uncertain["message_id"] == in_flight and "interrupted" in uncertain["last_error"]
    assert Counter(m["status"] for m in decided) == {"sent": many - 1, "uncertain": 1}
    landed = Counter(message_id(m) for m in arrived(sink, domain))
    assert landed == dict.fromkeys((m["message_id"] for m in decided), 1), "each arrived, none twice"
    # Nothing was decided twice: one MessageQueued (one event id) per message.
    records = await queued_events(kafka_bootstrap, prefix, {k}, at_least=many)
    ids_per_message: dict[str, set[str]] = {}
    for _record, envelope in records:
        ids_per_message.setdefault(envelope.event.message_id, set()).add(envelope.id)
    assert set(ids_per_message) == {m["message_id"] for m in decided}
    assert all(len(event_ids) == 1 for event_ids in ids_per_message.values())


# ------------------------------------------------------------------ 4. a redelivered event


async def test_a_redelivered_certificate_decides_no_new_message_and_sends_nothing_twice(
        enrollment: NoticesEnrollment, sink: SmtpSink, day: date, kafka_bootstrap: str, prefix: str) -> None:
    x, domain = "in-redo", "redo.example.gob.mx"
    await institutions(enrollment, x)
    rocio = await register(enrollment, x, "Rocío Balam Chi", day - timedelta(days=100), f"rocio@{domain}")
    # Her constancia stops being valid in 20 days: a reminder 30 days ahead.
    certificate = await certified(enrollment, kafka_bootstrap, prefix, rocio, issued_on=day - timedelta(days=345),
                                  valid_until=day + timedelta(days=20), day=day)
    enrollment.notify("--on", day.isoformat())
    assert sent_to(arrived(sink, domain)) == [("rocio", "expiry_30")]

    topic = f"{prefix}{CERTIFICATION_EVENTS}"
    records = await read_topic(kafka_bootstrap, topic, timeout_s=10)
    (hers,) = [r for r in records
               if open_envelope(r.headers, r.value).event.certificate_id == certificate.certificate_id]
    duplicates = {"type": CERTIFICATE_TYPE, "outcome": "duplicate"}
    seen = await enrollment.metric("probidad_events_consumed_total", **duplicates)
    await produce_again(kafka_bootstrap, topic, [hers])  # the same record: the same ce_id
    await eventually(_at_least(enrollment, "probidad_events_consumed_total", seen + 1, **duplicates),
                     timeout_s=60, what="the redelivered certificate judged a duplicate")
    # Then as after a restart reading from the start: every record of the topic again, to a fresh process. (Its
    # consumer group's offsets are not rewound instead: that needs the group empty, and enrollments elsewhere on
    # the shared broker are members of the same group.)
    enrollment.stop()
    await enrollment.start()
    again = await read_topic(kafka_bootstrap, topic, timeout_s=10)
    await produce_again(kafka_bootstrap, topic, again)
    await eventually(_at_least(enrollment, "probidad_events_consumed_total", len(again), **duplicates),
                     timeout_s=60, what="every certificate read again and judged a duplicate")
    assert await enrollment.metric("probidad_events_consumed_total", type=CERTIFICATE_TYPE, outcome="applied") == 0

    assert enrollment.notify("--on", day.isoformat())["decided"] == 0
    assert [(m["recipient_id"], m["kind"], m["status"]) for m in await enrollment.messages(x)] == [
        (rocio, "expiry_30", "sent")]
    assert sent_to(arrived(sink, domain)) == [("rocio", "expiry_30")]
    assert len(await queued_events(kafka_bootstrap, prefix, {x}, at_least=1)) == 1
    assert not twice(sink.messages())


def _at_least(enrollment: NoticesEnrollment, name: str, value: float,
              **labels: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await enrollment.metric(name, **labels) >= value

    return check


async def produce_again(bootstrap: str, topic: str, records: list) -> None:
    """Records produced again byte for byte (key, value, headers): what a consumer sees on a redelivery."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for record in records:
            await producer.send_and_wait(topic, record.value, key=record.key, headers=list(record.headers))
    finally:
        await producer.stop()


# ------------------------------------------------------------------ 5. the SMTP server away


async def test_while_the_smtp_server_is_stopped_messages_wait_and_the_service_delivers_each_once_when_it_is_back(
        enrollment: NoticesEnrollment, sink: SmtpSink, day: date) -> None:
    y, domain = "in-retry", "retry.example.gob.mx"
    await institutions(enrollment, y)
    ids = [await register(enrollment, y, f"Persona Y{n}", day - timedelta(days=70), f"y{n}@{domain}")
           for n in range(4)]
    sink.stop()
    try:
        done = enrollment.notify("--on", day.isoformat())
        assert (done["decided"], done["sent"], done["retrying"]) == (4, 0, 4), done
        waiting = await enrollment.messages(y)
        assert [m["status"] for m in waiting] == ["queued"] * 4
        assert all(m["attempts"] >= 1 and m["last_error"] and m["next_attempt_at"] for m in waiting), waiting
        assert await enrollment.metric("probidad_mail_retry_queue") == 4
        # Meanwhile the last one's data are erased: her waiting message must not go.
        async with enrollment.client() as c:
            assert (await c.delete(f"/servants/{ids[3]}/personal-data")).status_code == 200
    finally:
        sink.start()

    # No round is asked for: the service's own loop tries again and delivers.
    async def settled() -> list[dict]:
        decided = await enrollment.messages(y)
        return decided if all(m["status"] in ("sent", "cancelled") for m in decided) else []

    decided = await eventually(settled, timeout_s=60, what="the reminders delivered or cancelled")
    assert sorted(str(m["To"]) for m in arrived(sink, domain)) == [f"y{n}@{domain}" for n in range(3)]
    assert not twice(sink.messages())
    assert all(m["attempts"] >= 2 for m in decided if m["status"] == "sent")
    assert [(m["recipient_id"], "erased" in m["last_error"]) for m in decided if m["status"] == "cancelled"] == [
        (ids[3], True)]

    async def queue_empty() -> bool:
        return await enrollment.metric("probidad_mail_retry_queue") == 0

    await eventually(queue_empty, timeout_s=30, what="the retry queue back to 0")


# ------------------------------------------------------------------ 6. a hard bounce


async def test_a_hard_bounce_marks_the_message_bounced_and_no_more_mail_goes_to_that_address(
        enrollment: NoticesEnrollment, sink: SmtpSink, day: date) -> None:
    z, domain = "in-bounce", "bounce.example.gob.mx"
    await institutions(enrollment, z)
    beatriz = await register(enrollment, z, "Beatriz Pech", day - timedelta(days=30), f"beatriz@{domain}")
    await register(enrollment, z, "Carlos Pech", day - timedelta(days=53), f"carlos@{domain}")
    bounced_before = await enrollment.metric("probidad_mail_messages_total", outcome="bounced")
    sink.refuse(f"beatriz@{domain}")

    done = enrollment.notify("--on", day.isoformat())
    assert (done["bounced"], done["sent"]) == (1, 1), done
    (bounced,) = await enrollment.messages(z, "bounced")
    assert bounced["recipient_id"] == beatriz and bounced["kind"] == "due_30" and "550" in bounced["last_error"]
    assert await enrollment.metric("probidad_mail_messages_total", outcome="bounced") == bounced_before + 1

    # 23 days later she would be 7 days away, and Carlos overdue: only Carlos is written to.
    enrollment.notify("--on", (day + timedelta(days=23)).isoformat())
    assert sent_to(arrived(sink, domain)) == [("carlos", "due_7"), ("carlos", "overdue")]
    assert [(m["kind"], m["status"]) for m in await enrollment.messages(z) if m["recipient_id"] == beatriz] == [
        ("due_30", "bounced")]
    assert not twice(sink.messages())

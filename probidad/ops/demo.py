"""The demo: a realistic year of a state comptroller's integrity-training programme, loaded through the
public interfaces exactly as its users would: the comptroller's training unit over HTTP (institutions,
catalogue, sessions, grades, closing), HR departments by bulk import, agencies by publishing
enrolment requests to Kafka, instructors by importing Zoom reports and marking in-person presence.

The programme is the generator's demo plan (``probidad.ops.programme.demo_programme``: pure and
deterministic, from a seed); ``expected_figures`` there computes the oversight figures straight from
the plan, independently of the services, so a test can compare the two.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import httpx
from aiokafka.errors import KafkaError

from contracts.envelope import seal, to_record
from contracts.events import EnrolmentRequested
from probidad.ops.programme import UNIT, DemoProgramme, Session, demo_programme

if TYPE_CHECKING:
    from rich.console import Console

    from probidad.shared.kafka_security import KafkaSecurity

# ------------------------------------------------------------------ what the instructors upload


def zoom_report(session: Session, programme: DemoProgramme, rng: random.Random) -> str:
    """A Zoom participants report (the layout Zoom exports), with reconnections for some people."""
    zone = ZoneInfo(programme.timezone)
    fmt = "%m/%d/%Y %I:%M:%S %p"
    out = io.StringIO()
    writer = csv.writer(out)
    start = session.starts_at.astimezone(zone)
    writer.writerow(["Meeting ID", "Topic", "Start Time", "End Time", "User Email", "Duration (Minutes)",
                     "Participants"])
    meeting_id = f"8{rng.randint(10, 99)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}"
    writer.writerow([meeting_id, session.course.title,
                     start.strftime(fmt), session.ends_at.astimezone(zone).strftime(fmt),
                     "capacitacion@contraloria.example.gob.mx", session.session_minutes, len(session.enrolled)])
    writer.writerow([])
    writer.writerow(["Name (Original Name)", "User Email", "Join Time", "Leave Time", "Duration (Minutes)", "Guest",
                     "Recording Consent", "In Waiting Room"])
    for key in session.enrolled:
        minutes = session.minutes[key]
        if minutes <= 0:
            continue
        person = programme.servant(key)
        if minutes > 20 and rng.random() < 0.3:  # dropped and reconnected: two rows, one person
            cut = rng.randint(5, minutes - 10)
            gap = 3
            spans = [(0, cut), (cut + gap, minutes + gap)]
        else:
            spans = [(0, minutes)]
        for begin, end in spans:
            joined = start + timedelta(minutes=begin)
            left = start + timedelta(minutes=end)
            writer.writerow([person.name, person.email, joined.strftime(fmt), left.strftime(fmt), end - begin,
                             "No", "Yes", "No"])
    return out.getvalue()


# ------------------------------------------------------------------ loading


class DemoError(RuntimeError):
    pass


class DemoAlreadyLoaded(DemoError):
    pass


class DemoIncomplete(DemoError):
    """The demo stopped part-way; ``loaded`` says how far each step got. Loading again continues."""

    def __init__(self, reason: str, loaded: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.loaded = loaded


@dataclass
class Loader:
    """Loads a programme step by step. Every step skips what the platform already has, so a load that
    stopped part-way (a failure, Ctrl-C) continues where it stopped when run again."""

    urls: dict[str, str]
    bootstrap: str
    programme: DemoProgramme
    token: str
    topic_prefix: str = ""
    report: Callable[[str, int, int], None] = lambda _step, _done, _total: None
    kafka_security: object = None  # a probidad.shared.kafka_security.KafkaSecurity on a secure broker
    should_stop: Callable[[], bool] = lambda: False
    servant_ids: dict[str, str] = field(default_factory=dict)
    progress: dict[str, tuple[int, int]] = field(default_factory=dict)  # step -> (done, total)

    def _check(self, response: httpx.Response, what: str) -> dict:
        if response.status_code >= 400:
            raise DemoError(f"{what}: HTTP {response.status_code} {response.text[:500]}")
        return response.json()

    def _progress(self, step: str, done: int, total: int) -> None:
        self.progress[step] = (done, total)
        self.report(step, done, total)

    def loaded(self) -> str:
        """How far each step got, for a person reading why the demo stopped."""
        if not self.progress:
            return "nothing yet"
        return "; ".join(f"{step} {done:,} of {total:,}" for step, (done, total) in self.progress.items())

    async def already_loaded(self, http: httpx.AsyncClient) -> bool:
        """Sessions are closed in the programme's order, and the oversight step comes last and ends with
        the annual plan of the last year: once that is declared, the whole programme is in."""
        last = [s for s in self.programme.sessions if not s.cancelled][-1].session_id
        response = await http.get(f"{self.urls['attendance']}/sessions/{last}")
        if response.status_code != 200 or response.json().get("closed_at") is None:
            return False
        years = sorted(self.programme.plan_targets)
        if not years:
            return True
        return (await http.get(f"{self.urls['enrollment']}/plans/{years[-1]}")).status_code == 200

    async def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        limits = httpx.Limits(max_connections=8)
        try:
            async with httpx.AsyncClient(headers=headers, timeout=60, limits=limits) as http:
                if await self.already_loaded(http):
                    raise DemoAlreadyLoaded("the demo programme is already loaded in this state dir")
                for step in (self.catalogue, self.people, self.enrolments, self.attendance, self.oversight):
                    if self.should_stop():
                        raise DemoError("stopped before the demo was loaded")
                    await step(http)
        except DemoAlreadyLoaded:
            raise
        except (DemoError, httpx.HTTPError, OSError, KafkaError) as error:  # a service or the broker went away
            raise DemoIncomplete(str(error) or repr(error), self.loaded()) from error

    async def catalogue(self, http: httpx.AsyncClient) -> None:
        enrollment = self.urls["enrollment"]
        p = self.programme
        total = len(p.institutions) + len(p.courses) + len(p.sessions)
        done = 0
        declared = {i["institution_id"]: i["headcounts"]
                    for i in self._check(await http.get(f"{enrollment}/institutions"), "institutions")}
        for institution in p.institutions:
            for year in p.years:  # coverage is per calendar year: each year the programme touches
                if declared.get(institution.institution_id, {}).get(str(year)) == institution.headcount:
                    continue
                self._check(await http.post(f"{enrollment}/institutions", json={
                    "institution_id": institution.institution_id, "name": institution.name,
                    "government_level": institution.government_level, "municipality": institution.municipality,
                    "headcount": institution.headcount, "headcount_year": year}), "institution")
            done += 1
            self._progress("catalogue", done, total)
        published = {c["course_id"] for c in self._check(await http.get(f"{enrollment}/courses"), "courses")}
        for course in p.courses:
            if course.course_id not in published:
                self._check(await http.post(f"{enrollment}/courses", json={
                    "course_id": course.course_id, "code": course.code, "title": course.title,
                    "topic": course.title, "competency": course.competency, "hours": course.hours,
                    "minimum_attendance_share": course.minimum_attendance_share,
                    "passing_score": course.passing_score, "validity_months": course.validity_months}), "course")
            done += 1
            self._progress("catalogue", done, total)
        scheduled = {s["session_id"]: s for s in self._check(await http.get(f"{enrollment}/sessions"), "sessions")}
        for session in p.sessions:
            body = {"session_id": session.session_id, "course_id": session.course.course_id,
                    "modality": session.modality, "starts_at": session.starts_at.isoformat(),
                    "ends_at": session.ends_at.isoformat(), "timezone": p.timezone, "capacity": session.capacity,
                    "instructor_id": session.instructor_id, "organising_unit": UNIT}
            if session.modality in ("virtual", "hybrid"):
                body["platform"] = "Zoom"
            if session.modality in ("in_person", "hybrid"):
                body["venue"] = "Centro de Capacitación de la Contraloría, Sala 2"
            known = scheduled.get(session.session_id)
            if known is None:
                known = self._check(await http.post(f"{enrollment}/sessions", json=body),
                                    f"session {session.session_id}")
            if session.cancelled and not known["cancelled"]:
                self._check(await http.post(f"{enrollment}/sessions/{session.session_id}/cancel",
                                            json={"reason": "Instructor unavailable"}), "cancel")
            done += 1
            self._progress("catalogue", done, total)

    async def people(self, http: httpx.AsyncClient) -> None:
        """HR departments upload their servants in bulk (the HR export)."""
        servants = self.programme.servants
        chunk = 500
        for begin in range(0, len(servants), chunk):
            joined = self.programme.joined_on
            rows = [{"line": begin + i + 1, "institution_id": s.institution_id, "name": s.name, "curp": s.curp,
                     "email": s.email, "sex": s.sex, "position": s.position, "position_level": s.position_level,
                     "joined_on": joined[s.key].isoformat() if s.key in joined else None}
                    for i, s in enumerate(servants[begin:begin + chunk])]
            report = self._check(await http.post(f"{self.urls['enrollment']}/servants/import", json={"rows": rows}),
                                 "servant import")
            for row, result in zip(servants[begin:begin + chunk], report["results"], strict=True):
                if not result["accepted"]:
                    raise DemoError(f"servant {row.key} rejected: {result['field']}: {result['reason']}")
                self.servant_ids[row.key] = result["servant_id"]
            self._progress("servants", min(begin + chunk, len(servants)), len(servants))

    async def enrolments(self, http: httpx.AsyncClient) -> None:
        """Agencies publish enrolment requests from their HR systems to Kafka."""
        expected = {s.session_id: len(s.enrolled) for s in self.programme.sessions if not s.cancelled}
        sessions_url = f"{self.urls['enrollment']}/sessions"

        def confirmed(listing: list[dict]) -> int:
            return sum(min(row["confirmed"], expected.get(row["session_id"], 0)) for row in listing)

        if confirmed(self._check(await http.get(sessions_url), "sessions")) < sum(expected.values()):
            await self._request_enrolments()
        # Wait until enrollment has applied every request.
        await self._until(http, sessions_url, confirmed, sum(expected.values()), "enrolments confirmed")

    async def _request_enrolments(self) -> None:
        """Every enrolment of the programme as an agency request; enrollment ignores a request id it
        has decided already, so sending them all again after a stop is harmless."""
        from aiokafka import AIOKafkaProducer

        wanted = [(s, key) for s in self.programme.sessions if not s.cancelled for key in s.enrolled]
        # On a secure broker the demo sends as the admin: it stands in for every institution at once.
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True,
                                    linger_ms=5, **(self.kafka_security.aiokafka() if self.kafka_security else {}))
        await producer.start()
        try:
            pending = []
            for n, (session, key) in enumerate(wanted, start=1):
                person = self.programme.servant(key)
                request = EnrolmentRequested(request_id=request_id(session, key),
                                             institution_id=person.institution_id, session_id=session.session_id,
                                             curp=person.curp)
                # The request id doubles as correlation id: every service's log lines about this
                # enrolment (and the certificate it leads to) carry it.
                k, value, headers = to_record(seal(request, source=f"agency/{person.institution_id}",
                                                   correlation_id=request.request_id))
                pending.append(await producer.send(f"{self.topic_prefix}{request.kafka_topic}", value, key=k,
                                                   headers=[(h, v.encode()) for h, v in headers.items()]))
                if len(pending) >= 500:
                    await asyncio.gather(*pending)
                    pending.clear()
                    self._progress("enrolment requests", n, len(wanted))
            await asyncio.gather(*pending)
            self._progress("enrolment requests", len(wanted), len(wanted))
        finally:
            await producer.stop()

    async def _until(self, http: httpx.AsyncClient, url: str, measure: Callable[[Any], int], target: int, step: str,
                     timeout_s: float = 600) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            value = measure(self._check(await http.get(url), step))
            self._progress(step, min(value, target), target)
            if value >= target:
                return
            if time.monotonic() > deadline or self.should_stop():
                raise DemoError(f"{step}: reached {value} of {target}")
            await asyncio.sleep(0.5)

    async def attendance(self, http: httpx.AsyncClient) -> None:
        attendance = self.urls["attendance"]
        rng = random.Random(7)
        sessions = [s for s in self.programme.sessions if not s.cancelled]
        for n, session in enumerate(sessions, start=1):
            if self.should_stop():
                raise DemoError("stopped before every session was closed")
            sid = session.session_id
            known = await http.get(f"{attendance}/sessions/{sid}")
            if known.status_code == 200 and known.json().get("closed_at"):  # closed by an earlier run
                self._progress("sessions closed", n, len(sessions))
                continue
            await self._until(http, f"{attendance}/sessions/{sid}", lambda s: len(s.get("attendance", [])),
                              len(session.enrolled), "attendance knows the roster", timeout_s=120)
            if session.modality == "virtual":
                self._check(await http.post(f"{attendance}/sessions/{sid}/reports", params={"format": "zoom"},
                                            content=zoom_report(session, self.programme, rng).encode(),
                                            headers={"content-type": "text/csv"}), f"zoom report {sid}")
            else:
                for key in session.enrolled:
                    minutes = session.minutes[key]
                    self._check(await http.post(f"{attendance}/sessions/{sid}/marks", json={
                        "servant_id": self.servant_ids[key], "status": "present" if minutes else "absent",
                        "minutes_present": minutes}), f"mark {sid}")
            if session.scores:
                self._check(await http.post(f"{attendance}/sessions/{sid}/grades", json={"grades": [
                    {"servant_id": self.servant_ids[key], "score": score} for key, score in session.scores.items()]}),
                    f"grades {sid}")
            self._check(await http.post(f"{attendance}/sessions/{sid}/close"), f"close {sid}")
            self._progress("sessions closed", n, len(sessions))

    async def contacts(self, http: httpx.AsyncClient) -> None:
        """Each institution names who gets its weekly digest. Only the first institution reminds its servants by
        e-mail, so `probidad notify run --now` shows every kind of message without thousands of reminders."""
        enrollment = self.urls["enrollment"]
        for n, institution in enumerate(self.programme.institutions):
            url = f"{enrollment}/institutions/{institution.institution_id}"
            if self._check(await http.get(f"{url}/contacts"), "contacts"):
                continue
            for contact in demo_contacts(institution.institution_id, n):
                self._check(await http.post(f"{url}/contacts", json=contact), "contact")
            self._check(await http.put(f"{url}/notices", json={"digest_cadence": "weekly", "language": "es",
                                                               "reminders": n == 0}), "notice settings")

    async def oversight(self, http: httpx.AsyncClient) -> None:
        """The comptroller's oversight facts, each skipped when the platform has it already: moves between
        institutions and departures (HR, over HTTP), the training requirements, exemptions, and the annual
        plan of every year the programme touches (declared last: it marks the demo as loaded)."""
        enrollment = self.urls["enrollment"]
        p = self.programme
        total = len(p.moves) + len(p.departures) + len(p.requirements) + len(p.exemptions) + len(p.plan_targets)
        done = 0
        moved = {(t["servant_id"], t["to_institution_id"])
                 for t in self._check(await http.get(f"{enrollment}/transfers", params={"status": "completed"}),
                                      "transfers")}
        for move in p.moves:
            servant_id = self.servant_ids[move.key]
            if (servant_id, move.to_institution_id) not in moved:
                self._check(await http.post(f"{enrollment}/servants/{servant_id}/transfer", json={
                    "to_institution_id": move.to_institution_id, "effective_on": move.effective_on.isoformat(),
                    "reason": "Cambio de adscripción"}), f"transfer of {move.key}")
            done += 1
            self._progress("oversight", done, total)
        for key, left_on in p.departures.items():
            servant_id = self.servant_ids[key]
            known = self._check(await http.get(f"{enrollment}/servants/{servant_id}"), f"servant {key}")
            if not known.get("left_on"):
                self._check(await http.post(f"{enrollment}/servants/{servant_id}/departure", json={
                    "left_on": left_on.isoformat(), "reason": "Baja por renuncia"}), f"departure of {key}")
            done += 1
            self._progress("oversight", done, total)
        declared = {r["requirement_id"]
                    for r in self._check(await http.get(f"{enrollment}/requirements"), "requirements")}
        for requirement in p.requirements:
            if requirement.requirement_id not in declared:
                scope = {}
                if requirement.position_levels:
                    scope["position_levels"] = list(requirement.position_levels)
                if requirement.government_level:
                    scope["government_level"] = requirement.government_level
                self._check(await http.post(f"{enrollment}/requirements", json={
                    "requirement_id": requirement.requirement_id, "title": requirement.title,
                    "course_id": p.course(requirement.course_code).course_id, "scope": scope,
                    "due": requirement.due, "effective_from": p.first_day.isoformat()}),
                    f"requirement {requirement.requirement_id}")
            done += 1
            self._progress("oversight", done, total)
        for exemption in p.exemptions:
            servant_id = self.servant_ids[exemption.key]
            held = self._check(await http.get(f"{enrollment}/servants/{servant_id}/exemptions"), "exemptions")
            if not any(e["requirement_id"] == exemption.requirement_id for e in held):
                self._check(await http.post(f"{enrollment}/servants/{servant_id}/exemptions", json={
                    "requirement_id": exemption.requirement_id, "reason": exemption.reason,
                    "effective_from": exemption.effective_from.isoformat()}), f"exemption of {exemption.key}")
            done += 1
            self._progress("oversight", done, total)
        await self.contacts(http)
        for year, targets in sorted(p.plan_targets.items()):
            if (await http.get(f"{enrollment}/plans/{year}")).status_code != 200:
                self._check(await http.post(f"{enrollment}/plans", json={"year": year, "targets": targets}),
                            f"plan {year}")
            done += 1
            self._progress("oversight", done, total)


# Who hears about each institution: its training liaison (both digests) and, in every third, the ethics
# committee's secretary (the compliance digest). Names are made up; the addresses are on example domains.
LIAISONS = ("Mtra. Ana Laura Pech Canul", "Lic. Jorge Iván Canché May", "C.P. Rosa María Chi Ek",
            "Lic. Martín Uc Balam", "Mtra. Guadalupe Dzib Tun", "Ing. Ricardo Poot Cen")


def demo_contacts(institution_id: str, n: int) -> list[dict]:
    contacts = [{"name": LIAISONS[n % len(LIAISONS)], "email": f"enlace@{institution_id}.example.gob.mx",
                 "role": "Enlace de capacitación", "digests": ["compliance", "expiring"]}]
    if n % 3 == 0:
        contacts.append({"name": "Secretaría Técnica del Comité de Ética",
                         "email": f"comite.etica@{institution_id}.example.gob.mx",
                         "role": "Secretaría del Comité de Ética", "digests": ["compliance"]})
    return contacts


def request_id(session: Session, key: str) -> str:
    """The agency request id of one enrolment (stable, so a re-run sends the same requests)."""
    return f"hr-{uuid.uuid5(uuid.NAMESPACE_URL, session.session_id + key)}"


def comptroller_token(subject: str = "demo-loader") -> str:
    """A comptroller's token signed with the platform's secret (development); ``subject`` shows in audit logs."""
    from probidad.shared.auth import issue_token
    from probidad.shared.settings import ServiceSettings

    return issue_token(ServiceSettings().jwt_secret.get_secret_value(), "comptroller", subject=subject)


DEMO_RECORD = "demo.json"


def programme_for(state_dir: Path, *, scale: float, now: datetime | None = None,
                  timezone: str = "America/Mexico_City") -> tuple[DemoProgramme, str | None]:
    """The demo programme of this state dir: the one an earlier ``up --demo`` started loading (its
    month and scale are recorded beside the data, so loading again next month continues the same
    programme instead of mixing two), or a new one ending before ``now``'s month.

    Returns the programme and, when the record overrides what was asked, a note saying so."""
    record = state_dir / DEMO_RECORD
    zone = ZoneInfo(timezone)
    note = None
    if record.is_file():
        planned = json.loads(record.read_text())
        year, month = (int(part) for part in planned["month"].split("-"))
        now, timezone = datetime(year, month, 1, tzinfo=ZoneInfo(planned["timezone"])), planned["timezone"]
        if planned["scale"] != scale:
            note = (f"this state dir holds the demo planned on {planned['month']} at scale {planned['scale']}; "
                    f"continuing it (use another --state-dir for scale {scale})")
        scale = planned["scale"]
    else:
        now = (now or datetime.now(zone)).astimezone(zone)
        state_dir.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps({"month": f"{now:%Y-%m}", "scale": scale, "timezone": timezone}) + "\n")
    return demo_programme(scale=scale, now=now, timezone=timezone), note


def load(urls: dict[str, str], bootstrap: str, programme: DemoProgramme, *, console: Console | None = None,
         should_stop: Callable[[], bool] = lambda: False, topic_prefix: str = "",
         kafka_security: KafkaSecurity | None = None) -> None:
    """Load ``programme`` with a progress bar per step.

    Raises DemoAlreadyLoaded when it is all in already, DemoIncomplete (saying how far it got) when it
    stopped part-way."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=False) as progress:
        tasks: dict[str, int] = {}

        def report(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = progress.add_task(step, total=total)
            progress.update(tasks[step], completed=done, total=total)

        loader = Loader(urls, bootstrap, programme, comptroller_token(), topic_prefix=topic_prefix, report=report,
                        should_stop=should_stop, kafka_security=kafka_security)
        asyncio.run(loader.run())

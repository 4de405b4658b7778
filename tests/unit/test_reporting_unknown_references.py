"""Facts naming what reporting does not know yet wait; transfers move a servant from their effective day.

The trust rules: a certificate, presence or enrolment that names a session, servant or certificate
reporting has no fact about never enters published figures unattributed (no "unknown" category); it
counts from the moment what it names is known, as if the facts had come in order. A revocation of a
certificate never issued counts nothing.
"""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from contracts.envelope import seal
from contracts.events import ServantTransferred, ServantUpdated
from probidad.ops.programme import generate, small_plan
from services.reporting.domain.facts import DIMENSIONS, UNKNOWN, Fact, fact_from, from_micros, micros
from services.reporting.domain.ledger import Ledger
from services.reporting.domain.resolved import Period
from services.reporting.exports import open_data

ZONE = ZoneInfo("America/Mexico_City")


@pytest.fixture(scope="module")
def programme():
    return generate(small_plan())


@pytest.fixture(scope="module")
def facts(programme) -> list[Fact]:
    return [f for e in programme.envelopes if (f := fact_from(e))]


def published(snapshot, year: int) -> list:
    """Everything reporting publishes for a year: figures by every dimension, coverage, open data, rosters."""
    period = Period.year(year)
    return [*(snapshot.figures(period, by) for by in (None, *DIMENSIONS)), snapshot.coverage(year),
            open_data(snapshot, year, unit="Unidad", updated_on=date(2026, 12, 2), minimum=1),
            {sid: snapshot.roster(sid) for sid in sorted(snapshot.sessions)}]


def ledger_of(facts) -> Ledger:
    ledger = Ledger()
    ledger.apply_all(facts)
    return ledger


def orphans(facts: list[Fact]) -> list[Fact]:
    """Facts naming a session, servant or certificate that no other fact describes."""
    issued = [f for f in facts if f.kind == "certificate_issued"]
    attended = [f for f in facts if f.kind == "attendance"]
    rng = random.Random(3)
    made: list[Fact] = []
    for n, f in enumerate(rng.sample(issued, 20)):
        made.append(dataclasses.replace(f, event_id=f"ghost-session-{n}", subject=f"cert-gs-{n}",
                                        session_id=f"ses-ghost-{n}"))
        made.append(dataclasses.replace(f, event_id=f"ghost-servant-{n}", subject=f"cert-gv-{n}",
                                        servant_id=f"sv-ghost-{n}"))
        made.append(Fact(f"ghost-revoke-{n}", "certificate_revoked", f.known_at + 1, f"cert-never-{n}",
                         f.session_id, f.servant_id, {"course_id": f.attributes["course_id"]}))
    for n, f in enumerate(rng.sample(attended, 20)):
        present = {"status": "present", "share": 1.0, "minutes_present": 120}
        made.append(dataclasses.replace(f, event_id=f"ghost-presence-{n}", servant_id=f"sv-ghost-{n}",
                                        attributes=present))
        made.append(Fact(f"ghost-enrolment-{n}", "enrolment_confirmed", f.known_at, f.session_id, f.session_id,
                         f"sv-ghost-{n}"))
    return made


def test_facts_naming_unknown_sessions_servants_or_certificates_change_no_published_figure(programme, facts):
    year = programme.plan.year
    expected = published(ledger_of(facts).snapshot(ZONE), year)
    with_orphans = ledger_of(facts + orphans(facts)).snapshot(ZONE)
    assert published(with_orphans, year) == expected
    for by in ("institution", "government_level", "sex", "topic", "modality"):
        assert UNKNOWN not in {row[by] for row in with_orphans.figures(Period.year(year), by)}


def test_a_presence_of_an_unknown_servant_does_not_deliver_a_session_nobody_known_attended(programme, facts):
    unattended = programme.unattended_session_ids[0]
    ghost = Fact("ghost-only-presence", "attendance", max(f.known_at for f in facts), unattended, unattended,
                 "sv-ghost", {"status": "present", "share": 1.0, "minutes_present": 120})
    snapshot = ledger_of([*facts, ghost]).snapshot(ZONE)
    assert unattended not in {s.session_id for s in snapshot.delivered(Period.year(programme.plan.year))}
    assert "sv-ghost" not in {p["servant_id"] for p in snapshot.roster(unattended)["participants"]}


@pytest.mark.parametrize("late", ["servant", "session_scheduled", "institution", "course"])
def test_held_facts_count_once_what_they_name_is_known_exactly_as_if_they_had_come_in_order(programme, facts, late):
    """The described entity becomes known only after everything else: until then its facts wait;
    from then on every figure is the in-order one."""
    year = programme.plan.year
    in_order = published(ledger_of(facts).snapshot(ZONE), year)
    issued = next(f for f in facts if f.kind == "certificate_issued")
    key = {"servant": issued.servant_id, "session_scheduled": issued.session_id,
           "institution": next(f.attributes["institution_id"] for f in facts
                               if f.kind == "servant" and f.servant_id == issued.servant_id),
           "course": issued.attributes["course_id"]}[late]
    field = {"servant": "servant_id", "session_scheduled": "session_id", "institution": "subject",
             "course": "subject"}[late]
    last = max(f.known_at for f in facts)
    arrival = last + 3_600_000_000  # an hour after every other fact
    moved = [dataclasses.replace(f, known_at=arrival) if f.kind == late and getattr(f, field) == key else f
             for f in facts]
    ledger = ledger_of(moved)
    assert published(ledger.snapshot(ZONE), year) == in_order
    waiting = ledger.snapshot(ZONE, from_micros(last))
    assert issued.subject not in {c.certificate_id for c in waiting.completions}
    for by in ("institution", "government_level", "topic", "modality"):
        assert UNKNOWN not in {row[by] for row in waiting.figures(Period.year(year), by)}
    assert published(waiting, year) != in_order


def test_a_revocation_of_a_certificate_not_yet_issued_counts_once_the_issue_is_known(programme, facts):
    ever = Period(date(2000, 1, 1), date(2100, 12, 31))  # the revocation is dated when it became known
    issued = next(f for f in facts if f.kind == "certificate_issued"
                  and not any(g.kind == "certificate_revoked" and g.subject == f.subject for g in facts))
    late_issue = dataclasses.replace(issued, known_at=max(f.known_at for f in facts) + 2)
    revocation = Fact("revoke-first", "certificate_revoked", late_issue.known_at - 1, issued.subject,
                      issued.session_id, issued.servant_id, {"course_id": issued.attributes["course_id"]})
    others = [f for f in facts if f is not issued]
    before = ledger_of(others).snapshot(ZONE).figures(ever)[0]
    ledger = ledger_of([*others, revocation, late_issue])
    only_revoked = ledger.snapshot(ZONE, from_micros(revocation.known_at)).figures(ever)[0]
    assert only_revoked == before  # the revocation of nothing counts nothing
    both = ledger.snapshot(ZONE).figures(ever)[0]
    assert (both["certificates_issued"], both["certificates_revoked"], both["participations"]) == (
        before["certificates_issued"] + 1, before["certificates_revoked"] + 1, before["participations"])


# ---------------------------------------------------------------- transfers

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=ZONE)


def envelope_fact(event, at: datetime, event_id: str) -> Fact:
    return fact_from(seal(event, event_id=event_id, time=at.astimezone(UTC), correlation_id=event_id))


def session_with_certificate(n: int, starts: datetime) -> list[Fact]:
    known = micros(starts - timedelta(days=1))
    return [
        Fact(f"e-ses-{n}", "session_scheduled", known, f"ses-{n}", f"ses-{n}", attributes={
            "course_id": "course-x", "modality": "virtual", "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=2)).isoformat(), "organising_unit": None}),
        Fact(f"e-cert-{n}", "certificate_issued", micros(starts + timedelta(hours=3)), f"cert-{n}", f"ses-{n}", "sv-1",
             {"course_id": "course-x", "hours": 2.0, "issued_on": starts.date().isoformat()}),
    ]


def transfer_story() -> list[Fact]:
    """sv-1 registered in inst-a; a session on 12 March and one on 30 March; an e-mail change published on
    25 March (still inst-a); on 10 April the comptroller records the move to inst-b effective 20 March."""
    catalogue = [
        *(Fact(f"e-{iid}", "institution", micros(T0 - timedelta(days=30)), iid, attributes={
            "name": iid.upper(), "government_level": level, "municipality": None, "headcount": 10,
            "headcount_year": 2026}) for iid, level in (("inst-a", "state"), ("inst-b", "municipal"))),
        Fact("e-course", "course", micros(T0 - timedelta(days=30)), "course-x",
             attributes={"code": "X-1", "title": "Ética", "topic": "Ética", "hours": 2.0}),
        Fact("e-sv1", "servant", micros(T0 - timedelta(days=20)), "sv-1", None, "sv-1",
             {"institution_id": "inst-a", "sex": "female"}),
    ]
    update = envelope_fact(ServantUpdated(servant_id="sv-1", institution_id="inst-a", sex="female",
                                          email_digest="d" * 64), datetime(2026, 3, 25, 12, tzinfo=ZONE), "e-upd")
    transfer = envelope_fact(ServantTransferred(
        servant_id="sv-1", transfer_id="tr-1", from_institution_id="inst-a", to_institution_id="inst-b",
        effective_on=date(2026, 3, 20), sex="female", requested_by="comptroller:c", approved_by="comptroller:c",
        approved_at=datetime(2026, 4, 10, 16, tzinfo=UTC)), datetime(2026, 4, 10, 10, tzinfo=ZONE), "e-tr")
    return [*catalogue, *session_with_certificate(1, datetime(2026, 3, 12, 10, tzinfo=ZONE)),
            *session_with_certificate(2, datetime(2026, 3, 30, 10, tzinfo=ZONE)), update, transfer]


def by_session(snapshot) -> dict[str, str]:
    return {c.session.session_id: c.who.institution_id for c in snapshot.completions}


def test_a_transfer_gives_the_new_institution_the_training_from_its_effective_day_on():
    story = transfer_story()
    assert story[-1].kind == "servant_transferred" and story[-1].attributes["effective_on"] == "2026-03-20"
    for order in (story, story[::-1]):
        ledger = ledger_of(order)
        now = ledger.snapshot(ZONE)
        # The update of 25 March still said inst-a: enrollment did not know of the move yet. The
        # transfer, recorded later but effective 20 March, decides where the servant was on 30 March.
        assert by_session(now) == {"ses-1": "inst-a", "ses-2": "inst-b"}
        rows = {r["institution"]: r["servants_trained"] for r in now.figures(Period.month(2026, 3), "institution")}
        assert rows == {"inst-a": 1, "inst-b": 1}
        assert {r["institution"]: r["servants_trained"] for r in now.coverage(2026)} == {"inst-a": 1, "inst-b": 1}
        assert now.roster("ses-2")["participants"][0]["institution"] == "inst-b"
        # As of a day before the transfer was recorded, it was not known: both with inst-a, as published then.
        then = ledger.snapshot(ZONE, datetime(2026, 4, 9, tzinfo=ZONE))
        assert by_session(then) == {"ses-1": "inst-a", "ses-2": "inst-a"}


def test_a_transfer_alone_does_not_make_an_unknown_servant_known():
    story = [f for f in transfer_story() if f.event_id != "e-sv1" and f.event_id != "e-upd"]
    snapshot = ledger_of(story).snapshot(ZONE)
    assert snapshot.completions == [] and snapshot.issued == []

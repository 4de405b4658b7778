"""Reporting on SQLite and PostgreSQL, through its consumer and HTTP API: facts naming what it does not
know yet wait (no "unknown" in any published figure), and count once it is known; a transfer moves a
servant's training from its effective day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from contracts.envelope import seal
from contracts.events import CertificateIssued, CertificateRevoked, ServantTransferred
from services.reporting.domain.facts import DIMENSIONS
from services.reporting.domain.resolved import Period
from tests.integration.test_reporting_service import SMALL, pure, reporting  # noqa: F401 (fixture)


def late(envelope, days: int = 400):
    """The same event, known only long after the programme."""
    return seal(envelope.event, event_id=envelope.id, time=envelope.time + timedelta(days=days),
                correlation_id=envelope.correlation_id)


def orphans() -> list:
    issued = [e for e in SMALL.envelopes if e.type == CertificateIssued.type][:5]
    made = []
    for n, e in enumerate(issued):
        made.append(seal(e.event.model_copy(update={"certificate_id": f"cert-ghost-session-{n}",
                                                    "session_id": f"ses-ghost-{n}"}), time=e.time))
        made.append(seal(e.event.model_copy(update={"certificate_id": f"cert-ghost-servant-{n}",
                                                    "servant_id": f"sv-ghost-{n}"}), time=e.time))
        made.append(seal(CertificateRevoked(certificate_id=f"cert-never-{n}", verification_code="ABCD1234",
                                            servant_id=e.event.servant_id, course_id=e.event.course_id,
                                            session_id=e.event.session_id, reason="corrected"), time=e.time))
    return made


async def by_every_dimension(reporting) -> list:
    return [await reporting.figures(year=2026, **({"by": by} if by else {})) for by in (None, *DIMENSIONS)]


def expected(envelopes, zone: str) -> list:
    snapshot = pure(envelopes).snapshot(ZoneInfo(zone))
    return [snapshot.figures(Period.year(2026), by) for by in (None, *DIMENSIONS)]


async def test_certificates_naming_unknown_entities_wait_and_count_once_the_servant_is_known(reporting):
    zone = reporting.settings.programme_timezone
    trained = next(e.event.servant_id for e in SMALL.envelopes if e.type == CertificateIssued.type)
    registration = next(e for e in SMALL.envelopes
                        if e.type.endswith("servant.registered.v1") and e.event.servant_id == trained)
    others = [e for e in SMALL.envelopes if e is not registration]
    await reporting.hear([*others, *orphans()])
    waiting = await by_every_dimension(reporting)
    assert waiting == expected(others, zone)
    for rows, by in zip(waiting[1:], DIMENSIONS):
        assert "unknown" not in {row[by] for row in rows}, by
    assert waiting[0][0]["servants_trained"] == expected(SMALL.envelopes, zone)[0][0]["servants_trained"] - 1
    open_data = (await reporting.client.get("/open-data/figures.json", params={"year": 2026})).json()
    assert "unknown" not in str(open_data)
    await reporting.hear([late(registration)])  # known at last: counted as if it had come in order
    assert await by_every_dimension(reporting) == expected(SMALL.envelopes, zone)


async def test_a_transfer_heard_late_moves_only_the_training_from_its_effective_day(reporting):
    zone = ZoneInfo(reporting.settings.programme_timezone)
    await reporting.hear(SMALL.envelopes)
    issued = sorted((e for e in SMALL.envelopes if e.type == CertificateIssued.type), key=lambda e: e.event.issued_on)
    servant = issued[-1].event.servant_id
    theirs = [e.event for e in issued if e.event.servant_id == servant]
    registered = next(e.event for e in SMALL.envelopes
                      if e.type.endswith("servant.registered.v1") and e.event.servant_id == servant)
    other = next(e.event.institution_id for e in SMALL.envelopes
                 if e.type.endswith("institution.registered.v1")
                 and e.event.institution_id != registered.institution_id)
    effective = theirs[-1].issued_on - timedelta(days=1)
    transfer = seal(ServantTransferred(
        servant_id=servant, transfer_id="tr-1", from_institution_id=registered.institution_id,
        to_institution_id=other, effective_on=effective, sex=registered.sex, requested_by="comptroller:c",
        approved_by="comptroller:c", approved_at=datetime(2027, 1, 5, tzinfo=UTC)),
        time=datetime(2027, 1, 5, tzinfo=UTC))
    await reporting.hear([transfer])
    assert await by_every_dimension(reporting) == expected([*SMALL.envelopes, transfer], zone.key)
    snapshot = pure([*SMALL.envelopes, transfer]).snapshot(zone)
    places = {c.session.session_id: c.who.institution_id for c in snapshot.completions if c.servant_id == servant}
    for certificate in theirs:
        starts = snapshot.sessions[certificate.session_id].starts_at.astimezone(zone).date()
        assert places[certificate.session_id] == (other if starts >= effective else registered.institution_id)
    assert other in places.values()
    # As of a day the transfer was not yet recorded, the figures published then are unchanged.
    before = (await reporting.client.get("/reports/figures", params={"year": 2026, "by": "institution",
                                                                     "as_of": "2027-01-03"})).json()["rows"]
    assert before == pure(SMALL.envelopes).snapshot(zone).figures(Period.year(2026), "institution")

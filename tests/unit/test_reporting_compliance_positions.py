"""Compliance broken down by what requirements are scoped by: position level and position (its keyed
digest, as enrollment publishes it), beside institution and government level. A small programme whose
standings on 30 November 2026 are known by hand:

* in-a (state) and in-b (municipal); one course, co-e;
* rq-mandos: co-e each year by 31 October, for the position levels "mando medio" and "directivo";
  rq-compras: co-e within 60 days of joining (or of 1 January), for the position "Jefe de Compras";
  rq-todos: co-e each year by 31 December, for everyone;
* d1 (in-a, directivo, Director de Administración) and m1 (in-a, mando medio, Jefe de Compras) completed
  co-e on 10 February 2026; d2 (in-b, directivo, Director de Obras), m2 (in-a, mando medio, Jefe de
  Compras), o1 (in-a, operativo, Jefe de Compras), o2 (in-a, operativo, no position) and u1 (in-b, no
  level, no position) never did; m3 was registered operativo (Subdirector de Planeación) and later
  updated to mando medio: the current level is the one a scope matches and the one counted.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from contracts.envelope import seal
from contracts.events import (
    AttendanceRecorded, CertificateIssued, CoursePublished, DueRule, InstitutionRegistered, RequirementScope,
    ServantRegistered, ServantUpdated, SessionScheduled, TrainingRequirementDeclared,
)
from contracts.pseudonyms import position_digest
from services.reporting import compliance
from services.reporting.domain.facts import UNKNOWN, fact_from
from services.reporting.domain.ledger import Ledger

ZONE = ZoneInfo("America/Mexico_City")
KEY = "a-digest-key-for-tests"
ON = date(2026, 11, 30)


def digest(title: str) -> str:
    return position_digest(title, KEY)


def at(day: date, hour: int = 18) -> datetime:
    return datetime.combine(day, time(hour), ZONE).astimezone(UTC)


SERVANTS = {  # servant: (institution, position level, position title)
    "d1": ("in-a", "directivo", "Director de Administración"), "d2": ("in-b", "directivo", "Director de Obras"),
    "m1": ("in-a", "mando medio", "Jefe de Compras"), "m2": ("in-a", "mando medio", "Jefe de Compras"),
    "m3": ("in-a", "operativo", "Subdirector de Planeación"), "o1": ("in-a", "operativo", "Jefe de Compras"),
    "o2": ("in-a", "operativo", None), "u1": ("in-b", None, None),
}


def requirement(rid: str, due: DueRule, **scope) -> TrainingRequirementDeclared:
    return TrainingRequirementDeclared(
        requirement_id=rid, version=1, effective_from=date(2026, 1, 1), title=f"Requisito {rid}", course_id="co-e",
        scope=RequirementScope(**scope), due=due, declared_at=datetime(2025, 12, 15, tzinfo=UTC),
        declared_by="comptroller:ana")


def envelopes() -> list:
    events: list = [
        InstitutionRegistered(institution_id="in-a", name="Secretaría de Finanzas", government_level="state",
                              headcount=40, headcount_year=2026),
        InstitutionRegistered(institution_id="in-b", name="Municipio de Bacalar", government_level="municipal",
                              headcount=20, headcount_year=2026),
        CoursePublished(course_id="co-e", code="CE", title="Código de Ética", topic="Código de Ética", hours=4)]
    events += [ServantRegistered(servant_id=s, institution_id=i, sex="female", position_level=level,
                                 position_digest=digest(title) if title else None, joined_on=date(2024, 3, 1))
               for s, (i, level, title) in SERVANTS.items()]
    out = [seal(e, time=at(date(2025, 1, 3))) for e in events]
    out += [seal(e, time=at(date(2025, 12, 15))) for e in (
        requirement("rq-mandos", DueRule(kind="yearly_by", month=10, day=31),
                    position_levels=["mando medio", "directivo"]),
        requirement("rq-compras", DueRule(kind="within_days_of_joining", days=60),
                    position_digests=[digest("Jefe de Compras")]),
        requirement("rq-todos", DueRule(kind="yearly_by", month=12, day=31)))]
    day = date(2026, 2, 10)
    out.append(seal(SessionScheduled(session_id="s1", course_id="co-e", modality="virtual", platform="Zoom",
                                     starts_at=at(day, 10), ends_at=at(day, 12), timezone="America/Mexico_City",
                                     capacity=30), time=at(date(2026, 1, 5))))
    for servant in ("d1", "m1"):
        out += [seal(AttendanceRecorded(session_id="s1", servant_id=servant, minutes_present=120, session_minutes=120,
                                        share=1.0, status="present", source_of_record="zoom"), time=at(day)),
                seal(CertificateIssued(certificate_id=f"ce-s1-{servant}", verification_code="ABCD1234",
                                       servant_id=servant, course_id="co-e", session_id="s1", hours=4, issued_on=day,
                                       issuing_authority="Contraloría"), time=at(day))]
    # m3 is promoted: the update restates the servant with the new level and the same position.
    out.append(seal(ServantUpdated(servant_id="m3", institution_id="in-a", sex="female", position_level="mando medio",
                                   position_digest=digest("Subdirector de Planeación"), joined_on=date(2024, 3, 1)),
                    time=at(date(2026, 6, 1))))
    return out


def report(as_of: datetime | None = None) -> dict:
    ledger = Ledger()
    ledger.apply_all(f for e in envelopes() if (f := fact_from(e)))
    return compliance.report(ledger.snapshot(ZONE, as_of), ON)


def counts(row: dict) -> tuple:
    return tuple(row[k] for k in ("required", "compliant", "due", "overdue", "exempt", "rate"))


def by(body: dict, part: str, key: str) -> dict:
    return {(r["requirement_id"], r[key]): counts(r) for r in body[part]}


def test_compliance_is_broken_down_by_the_position_level_requirements_are_scoped_by():
    rows = by(report(), "by_position_level", "position_level")
    assert {k: v for k, v in rows.items() if k[0] == "rq-mandos"} == {
        ("rq-mandos", "directivo"): (2, 1, 0, 1, 0, 0.5),      # d1 compliant, d2 overdue
        ("rq-mandos", "mando medio"): (3, 1, 0, 2, 0, 0.3333),  # m1 compliant, m2 and the promoted m3 overdue
    }
    assert {k: v for k, v in rows.items() if k[0] == "rq-compras"} == {
        ("rq-compras", "mando medio"): (2, 1, 0, 1, 0, 0.5), ("rq-compras", "operativo"): (1, 0, 0, 1, 0, 0.0)}
    # A requirement of everyone: every level, and the servant with none known under "unknown".
    assert {k: v for k, v in rows.items() if k[0] == "rq-todos"} == {
        ("rq-todos", "directivo"): (2, 1, 1, 0, 0, 0.5), ("rq-todos", "mando medio"): (3, 1, 2, 0, 0, 0.3333),
        ("rq-todos", "operativo"): (2, 0, 2, 0, 0, 0.0), ("rq-todos", UNKNOWN): (1, 0, 1, 0, 0, 0.0)}


def test_compliance_is_broken_down_by_position_as_its_pseudonymous_digest():
    body = report()
    rows = by(body, "by_position", "position_digest")
    assert {k: v for k, v in rows.items() if k[0] == "rq-compras"} == {
        ("rq-compras", digest("Jefe de Compras")): (3, 1, 0, 2, 0, 0.3333)}  # m1 compliant; m2 and o1 overdue
    assert {k: v for k, v in rows.items() if k[0] == "rq-todos"} == {
        ("rq-todos", digest("Director de Administración")): (1, 1, 0, 0, 0, 1.0),
        ("rq-todos", digest("Director de Obras")): (1, 0, 1, 0, 0, 0.0),
        ("rq-todos", digest("Jefe de Compras")): (3, 1, 2, 0, 0, 0.3333),
        ("rq-todos", digest("Subdirector de Planeación")): (1, 0, 1, 0, 0, 0.0),
        ("rq-todos", UNKNOWN): (2, 0, 2, 0, 0, 0.0)}  # o2 and u1: no position known
    assert not any("Jefe" in str(r) for r in body["by_position"]), "the title stays in enrollment"


def test_each_breakdown_adds_up_to_the_requirements_row():
    body = report()
    for part in ("by_institution", "by_government_level", "by_position_level", "by_position"):
        for row in body["by_requirement"]:
            rid = row["requirement_id"]
            for count in ("required", "compliant", "due", "overdue", "exempt"):
                assert sum(r[count] for r in body[part] if r["requirement_id"] == rid) == row[count], (part, rid)


def test_as_of_before_the_promotion_the_servant_counts_at_the_level_known_then():
    before = by(report(as_of=at(date(2026, 5, 31))), "by_position_level", "position_level")
    assert before[("rq-mandos", "mando medio")] == (2, 1, 0, 1, 0, 0.5), "m3 not yet a mando medio"
    assert before[("rq-todos", "operativo")] == (3, 0, 3, 0, 0, 0.0)

"""The rebuild's fast decoding (records straight to store rows) reaches the live consumer's verdict
and fact — ``open_envelope`` + ``fact_from`` — for every record: the valid ones of a whole generated
programme, and records damaged in every field and header in the ways we could think of."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest

from contracts.envelope import ContractViolation, open_envelope, seal, to_record
from contracts.events import (
    AttendanceCorrected, CompetencyAttained, DueRule, EnrolmentCancelled, ExemptionGranted, ExemptionWithdrawn,
    PlanTarget,
    RequirementScope, ServantLeft, ServantTransferred, SessionRescheduled, SessionScheduled, TrainingPlanDeclared,
    TrainingRequirementDeclared,
)
from probidad.ops.programme import bulletin_plan, generate, small_plan
from services.reporting.domain.facts import KINDS, fact_from
from services.reporting.rebuild import rows, rows_of
from services.reporting.rebuild.rows import fast_row, slow_row
from services.reporting.repository import fact_row, fact_values

PROGRAMME = generate(bulletin_plan()).envelopes + generate(small_plan()).envelopes


def wire(envelope):
    _key, value, headers = to_record(envelope)
    return [(k, v.encode()) for k, v in headers.items()], value


def live(headers, value):
    """What the live consumer keeps: the fact's row, None (ignored type), or why it dead-letters."""
    try:
        fact = fact_from(open_envelope(headers, value))
    except ContractViolation as violation:
        return ("dead-lettered", str(violation))
    if fact is None:
        return None
    try:
        fact_row(fact, 7)  # what the live handler stores
    except Exception as error:  # noqa: BLE001 — the live consumer dead-letters a record its handler fails on
        return ("dead-lettered", f"{type(error).__name__}: {error}")
    return fact_values(fact, 7)


def rebuilt(headers, value):
    try:
        return fast_row(headers, value, 7)
    except ContractViolation as violation:
        return ("dead-lettered", str(violation))


def samples() -> dict[str, object]:
    """One valid envelope of every type reporting keeps."""
    found = {}
    for envelope in PROGRAMME:
        found.setdefault(envelope.type, envelope)
    some = next(e for e in PROGRAMME if e.type == "probidad.attendance.attendance.recorded.v1").event
    found.setdefault(EnrolmentCancelled.type, seal(EnrolmentCancelled(
        enrolment_id="enr-1", session_id=some.session_id, servant_id=some.servant_id, reason="changed plans")))
    found.setdefault(AttendanceCorrected.type, seal(AttendanceCorrected(
        session_id=some.session_id, servant_id=some.servant_id, minutes_present=30, session_minutes=120, share=0.25,
        status="late", reason="platform report was late", corrected_by="unit-7")))
    found.setdefault(ServantTransferred.type, seal(ServantTransferred(
        servant_id=some.servant_id, transfer_id="tr-1", from_institution_id="inst-a", to_institution_id="inst-b",
        effective_on=date(2026, 11, 16), sex="female", requested_by="liaison:inst-a:rh",
        approved_by="liaison:inst-b:rh", approved_at=datetime(2026, 11, 20, 15, tzinfo=UTC))))
    found.setdefault(TrainingPlanDeclared.type, seal(TrainingPlanDeclared(
        plan_id="pl-1", year=2026, version=2, declared_at=datetime(2026, 1, 10, 12, tzinfo=UTC),
        declared_by="comptroller:ana", targets=[
            PlanTarget(month=3, institution_id="inst-a", topic="Código de Ética", sessions=2, people=40, hours=160),
            PlanTarget(month=4, institution_id="inst-b", topic="Conflicto de Interés", sessions=0, people=0,
                       hours=0.5)])))
    found.setdefault(TrainingRequirementDeclared.type, seal(TrainingRequirementDeclared(
        requirement_id="rq-etica", version=2, effective_from=date(2026, 7, 1), title="Código de Ética",
        course_id="co-etica", scope=RequirementScope(government_level="state", position_levels=["directivo"]),
        due=DueRule(kind="renewal", months=12, days=60), declared_at=datetime(2026, 6, 20, 12, tzinfo=UTC),
        declared_by="comptroller:ana")))
    found.setdefault(ExemptionGranted.type, seal(ExemptionGranted(
        exemption_id="ex-1", requirement_id="rq-etica", servant_id=some.servant_id, reason="incapacidad",
        effective_from=date(2026, 3, 1), until=date(2026, 9, 30), granted_by="comptroller:ana",
        granted_at=datetime(2026, 3, 1, 15, tzinfo=UTC))))
    found.setdefault(ExemptionWithdrawn.type, seal(ExemptionWithdrawn(
        exemption_id="ex-1", requirement_id="rq-etica", servant_id=some.servant_id, withdrawn_on=date(2026, 5, 1),
        withdrawn_by="comptroller:ana")))
    found.setdefault(ServantLeft.type, seal(ServantLeft(
        servant_id=some.servant_id, institution_id="inst-a", left_on=date(2026, 10, 1),
        recorded_by="liaison:inst-a:rh")))
    found.setdefault(CompetencyAttained.type, seal(CompetencyAttained(
        servant_id=some.servant_id, competency="Ética pública", course_ids=["co-1", "co-2"],
        certificate_ids=["ce-1", "ce-2"], attained_on=date(2026, 6, 1))))
    assert set(KINDS) <= set(found)
    return {t: found[t] for t in KINDS}


SAMPLES = samples()


# Types whose model the fast tier does not compile (a list of nested models): every record of them takes
# the authoritative tier. A year's plan is declared a few times, so nothing is lost by it.
# A session's schedule too: its zone and its end after its start are checked by the contract's validators,
# which the fast tier does not compile; a session is scheduled once or twice, so little is lost.
SLOW_TYPES = {TrainingPlanDeclared.type, TrainingRequirementDeclared.type, SessionScheduled.type,
              SessionRescheduled.type}


def test_every_valid_record_becomes_the_same_row_without_the_slow_tier(monkeypatch):
    def slow(*args):
        raise AssertionError(f"a plain valid record took the slow tier: {args[0]}")

    assert {t for t, row in rows._ROWS.items() if row is None} == {t.encode() for t in SLOW_TYPES}
    for envelope in [*PROGRAMME, *SAMPLES.values()]:
        headers, value = wire(envelope)
        expected = live(headers, value)
        if envelope.type in SLOW_TYPES:
            monkeypatch.undo()
        else:
            monkeypatch.setattr(rows, "slow_row", slow)
        assert rebuilt(headers, value) == expected


ODD_VALUES = [
    None, "", " ", "x", "abc", "a" * 4, "a" * 32, "a" * 33, "a" * 64, "a" * 65, "a" * 201, "a" * 1001, "ab\n", "ab c",
    "é", "Código de Ética", "sess-1\u00e9", "٣", 0, 1, -1, 2, 0.0, -0.0, 0.5, 1.0, 1.5, 99.5, 100, 100.0, 100.5, 500,
    5e-324, 1e-05, 9.99e-05, 0.0001, 0.00015, 1e16, 12345678.9, "America", "America/Cancun", "UTC", "a" * 300,
    500.0, 501, 1999, 2000, 2100, 2101, 2**53, 2**53 + 1, 2**63, 2**70, 1e300, True, False, "1", "0.5", [], {},
    ["a"], {"a": 1}, "present", "late", "absent", "PRESENT", "virtual", "in_person", "hybrid", "female", "male",
    "state", "municipal", "zoom",
    "2026-11-05T10:00:00-05:00", "2026-11-05T10:00:00Z", "2026-11-05T10:00:00+00:00", "2026-11-05T10:00:00-00:00",
    "2026-11-05T10:00:00", "2026-11-05T10:00:00.5+00:00", "2026-11-05T10:00:00.500000+00:00",
    "2026-11-05T10:00:00.1234567+00:00", "2026-11-05 10:00:00+00:00", "2026-11-05T10:00+00:00",
    "2026-11-05T10:00:00+05:30", "2026-11-05T10:00:00+0530", "2026-13-01T00:00:00+00:00",
    "2026-11-05T24:00:00+00:00", "2026-11-05", "2026-02-30", "2026-11-5", "20261105", "2026-W45-4", 1780000000,
]


@pytest.mark.parametrize("event_type", list(SAMPLES))
def test_a_damaged_field_gets_the_live_verdict_and_fact(event_type):
    headers, value = wire(SAMPLES[event_type])
    data = json.loads(value)
    missing = object()
    for name in [*data, "unknown_extra_field"]:
        for odd in [missing, *ODD_VALUES]:
            changed = dict(data)
            if odd is missing:
                changed.pop(name, None)
            else:
                changed[name] = odd
            damaged = json.dumps(changed, ensure_ascii=bool(len(name) % 2)).encode()
            assert rebuilt(headers, damaged) == live(headers, damaged), (name, odd)


RAW_VALUES = [
    b"not json", b"[1, 2]", b"null", b"", b"\xef\xbb\xbf{}", b'{"score": NaN}', b'{"score": Infinity}',
    b'{"score": 1e400}', b'{"share": 1e-400}', b'{"minutes_present": 123456789012345678901234567890}',
    b'{"servant_id": "\\ud800"}', b'{"servant_id": "a\\u0000b"}', b"\xff\xfe", b'{"a": 1} trailing',
]


@pytest.mark.parametrize("event_type", list(SAMPLES))
def test_damaged_json_gets_the_live_verdict(event_type):
    headers, value = wire(SAMPLES[event_type])
    text = value.decode()
    variants = [*RAW_VALUES, value[:-1], b" " + value + b"\n", value.replace(b"{", b'{"session_id": 1, ', 1),
                ("{" + text[1:-1] + "," + text[1:-1] + "}").encode()]  # every key twice: the last one counts
    for raw in variants:
        merged = raw
        if raw.startswith(b'{"') and raw.endswith(b"}") and raw in RAW_VALUES:
            merged = (text[:-1] + ", " + raw.decode()[1:]).encode()  # the odd member inside a real event
        for candidate in (raw, merged):
            assert rebuilt(headers, candidate) == live(headers, candidate), candidate


HEADER_DAMAGE = [
    lambda h: [x for x in h if x[0] != "ce_id"],
    lambda h: [x for x in h if x[0] != "ce_source"],
    lambda h: [x for x in h if x[0] != "ce_specversion"],
    lambda h: [x for x in h if x[0] != "ce_subject"],
    lambda h: [x for x in h if x[0] not in ("ce_correlationid", "correlation_id")],
    lambda h: [(k, b"0.3" if k == "ce_specversion" else x) for k, x in h],
    lambda h: [(k, b"" if k == "ce_id" else x) for k, x in h],
    lambda h: [(k, b"probidad.nothing.v1" if k == "ce_type" else x) for k, x in h],
    lambda h: [(k, b"yesterday" if k == "ce_time" else x) for k, x in h],
    lambda h: [(k, b"2026-11-05T10:00:00+00:00" if k == "ce_time" else x) for k, x in h],
    lambda h: [(k, b"2026-11-05T10:00:00.5-06:00" if k == "ce_time" else x) for k, x in h],
    lambda h: [(k, b"2026-11-05T10:00:00" if k == "ce_time" else x) for k, x in h],  # naive: as the live path
    lambda h: [(k, "caf\u00e9".encode() if k == "ce_id" else x) for k, x in h],
    lambda h: [(k, b"\xff" if k == "content-type" else x) for k, x in h],
    lambda h: [(k, "\u00e9".encode() if k == "content-type" else x) for k, x in h],
    lambda h: [(k, None if k == "content-type" else x) for k, x in h],
    lambda h: [(k, x.decode() if k == "ce_type" else x) for k, x in h],
    lambda h: [(k, x.decode()) for k, x in h],
    lambda h: [*h, ("ce_id", b"second-id-wins")],
    lambda h: [*h, ("ce_type", b"probidad.attendance.session.closed.v1")],
    lambda h: [*h, ("x-extra", b"1")],
    lambda h: [*h, ("x-hr\udcff", b"1")],  # a name that was not UTF-8, as the record reader hands it on
    lambda h: [*h, ("x-r\u00e9gion", b"1")],  # a name that is UTF-8 but not ASCII
]


@pytest.mark.parametrize("damage", HEADER_DAMAGE)
def test_damaged_headers_get_the_live_verdict(damage):
    for event_type in SAMPLES:
        headers, value = wire(SAMPLES[event_type])
        broken = damage(headers)
        event_type = dict(broken).get("ce_type")
        if isinstance(event_type, bytes):
            event_type = event_type.decode()
        if event_type in KINDS:
            assert rebuilt(broken, value) == live(broken, value), event_type
        else:  # a type no figure needs: no fact either way (the live consumer ignores or dead-letters it)
            assert rebuilt(broken, value) is None
            assert live(broken, value) is None or live(broken, value)[0] == "dead-lettered"


def test_types_no_figure_needs_are_skipped_and_invalid_records_counted():
    closed = next(e for e in PROGRAMME if e.type.endswith("session.closed.v1"))
    valid = [wire(e) for e in list(SAMPLES.values())[:3]]
    headers, value = valid[0]
    items = [*valid, wire(closed), (headers, b"not json"), ([x for x in headers if x[0] != "ce_id"], value)]
    found, invalid = rows_of([SimpleNamespace(headers=h, value=v) for h, v in items], 7)
    assert found == [live(*item) for item in valid] and invalid == 2


def test_slow_row_is_the_live_path():
    for envelope in list(SAMPLES.values()):
        headers, value = wire(envelope)
        assert slow_row(headers, value, 7) == fact_values(fact_from(envelope), 7)

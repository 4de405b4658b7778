"""A session's schedule is valid everywhere or nowhere: its end after its start and its zone a known IANA
zone are the contract's checks (SessionScheduled, SessionRescheduled), not attendance's alone.

Before, attendance dead-lettered a schedule ending before it started while certification and reporting
kept it; a zone named "America" failed attendance's handler three times, and one too long for a file
name raised OSError, which a consumer retries forever as a transient fault.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from contracts.envelope import ContractViolation, open_envelope, seal, to_record
from contracts.events import SessionRescheduled, SessionScheduled
from services.reporting.rebuild.rows import fast_row

START = datetime(2026, 11, 5, 15, tzinfo=UTC)


def scheduled(**changed) -> SessionScheduled:
    return SessionScheduled(**{"session_id": "se-1", "course_id": "co-1", "modality": "virtual", "platform": "Zoom",
                               "starts_at": START, "ends_at": START + timedelta(hours=2),
                               "timezone": "America/Cancun", "capacity": 30, **changed})


def rescheduled(**changed) -> SessionRescheduled:
    return SessionRescheduled(**{"session_id": "se-1", "starts_at": START, "ends_at": START + timedelta(hours=2),
                                 "timezone": "America/Cancun", **changed})


@pytest.mark.parametrize("build", [scheduled, rescheduled], ids=["scheduled", "rescheduled"])
@pytest.mark.parametrize("ends_at", [START, START - timedelta(hours=1)], ids=["at its start", "before its start"])
def test_a_session_ending_at_or_before_its_start_is_refused_naming_ends_at(build, ends_at) -> None:
    with pytest.raises(ValidationError) as refused:
        build(ends_at=ends_at)
    [error] = refused.value.errors()
    assert error["loc"] == ("ends_at",) and "is not after starts_at" in error["msg"]


@pytest.mark.parametrize("build", [scheduled, rescheduled], ids=["scheduled", "rescheduled"])
@pytest.mark.parametrize("zone", ["Mars/Olympus", "America", "", "America/../Europe/Paris", "a" * 1000,
                                  "America/Cancun "])
def test_a_session_in_a_zone_that_is_not_an_iana_zone_is_refused_naming_timezone(build, zone) -> None:
    with pytest.raises(ValidationError) as refused:
        build(timezone=zone)
    [error] = refused.value.errors()
    assert error["loc"] == ("timezone",) and "is not an IANA time zone" in error["msg"]


@pytest.mark.parametrize("zone", ["America/Cancun", "America/Mexico_City", "UTC"])
def test_a_session_in_an_iana_zone_ending_after_its_start_is_accepted(zone) -> None:
    assert scheduled(timezone=zone).timezone == rescheduled(timezone=zone).timezone == zone


@pytest.mark.parametrize("raw", [{"timezone": "a" * 300}, {"timezone": "America"},
                                 {"ends_at": START.isoformat()}], ids=["zone too long", "zone a directory",
                                                                       "no length"])
def test_such_a_record_is_a_contract_violation_for_every_consumer(raw) -> None:
    _key, value, headers = to_record(seal(scheduled(), time=START))
    wire = [(name, text.encode()) for name, text in headers.items()]
    tampered = json.dumps({**json.loads(value), **raw}).encode()
    # Where every service's consumer judges a record: refused for good, never an error retried as transient.
    with pytest.raises(ContractViolation, match=next(iter(raw))):
        open_envelope(wire, tampered)
    with pytest.raises(ContractViolation, match=next(iter(raw))):
        fast_row(wire, tampered, 1)

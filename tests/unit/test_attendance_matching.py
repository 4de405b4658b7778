"""Report rows are matched to enrolled servants by servant id or by keyed e-mail digest; nothing is dropped."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from contracts.pseudonyms import email_digest
from services.attendance.domain.errors import AttendanceError, SessionNotReady
from services.attendance.domain.intervals import (
    ReportRow, Roster, SessionWindow, check_in_code, covered_seconds, match_rows, merge_intervals, validate_mark,
    verify_check_in,
)
from services.attendance.domain.reports import parse_report

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "attendance"
KEY = "digest-key-for-tests"


def at(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("America/Cancun")).timestamp())


def digest(email: str) -> str:
    return email_digest(email, KEY)


SESSION = SessionWindow("ses-1", at("2026-11-05T10:00"), at("2026-11-05T12:00"), "America/Cancun")


def zoom_roster() -> Roster:
    servants = {"srv-ana": "ana.lopez@sefiplan.example.gob.mx", "srv-benito": "benito.chan@seguridad.example.gob.mx",
                "srv-carla": "carla.cauich@dif.example.gob.mx", "srv-daniel": "daniel.pech@sefiplan.example.gob.mx",
                "srv-elena": "elena.ku@dif.example.gob.mx"}
    enrolled = {"srv-ana": "sefiplan", "srv-benito": "ssp", "srv-carla": "dif", "srv-daniel": "sefiplan",
                "srv-fer": "dif"}
    return Roster(enrolled, {digest(e): s for s, e in servants.items()})


def test_zoom_rows_match_enrolled_servants_by_email_digest_whatever_the_case_of_the_address() -> None:
    report = parse_report((FIXTURES / "zoom_participants.csv").read_bytes(), timezone="America/Cancun",
                          session_start=SESSION.starts_at)
    match = match_rows(report.rows, zoom_roster(), digest)
    minutes = {s: covered_seconds(merge_intervals(iv, SESSION.window)) // 60 for s, iv in match.intervals.items()}
    assert minutes == {"srv-ana": 118, "srv-benito": 113, "srv-carla": 88, "srv-daniel": 60}


def test_unmatched_rows_are_returned_with_their_line_and_reason() -> None:
    report = parse_report((FIXTURES / "zoom_participants.csv").read_bytes(), timezone="America/Cancun",
                          session_start=SESSION.starts_at)
    match = match_rows(report.rows, zoom_roster(), digest)
    assert [(u.line, u.name, u.reason) for u in match.unmatched] == [
        (5, "Unidad de Ética (Capacitación)", "no servant has this e-mail"),
        (13, "iPhone de Pedro", "the row has no e-mail or servant id to match"),
        (14, "Consultoría Externa", "no servant has this e-mail"),
        (15, "Elena Kú", "servant srv-elena is not enrolled in this session"),
    ]
    assert match.matched_rows + len(match.unmatched) == len(report.rows)


def test_unmatched_rows_carry_a_digest_not_the_address_for_keeping() -> None:
    row = ReportRow(7, "X", "Someone@External.example", None, at("2026-11-05T10:00"), at("2026-11-05T11:00"))
    (unmatched,) = match_rows([row], Roster({}, {}), digest).unmatched
    assert unmatched.email_digest == digest("someone@external.example")


def test_a_row_carrying_an_enrolled_servant_id_matches_without_email() -> None:
    row = ReportRow(2, "", None, "srv-fer", at("2026-11-05T10:00"), at("2026-11-05T10:30"))
    match = match_rows([row], zoom_roster(), digest)
    assert match.intervals == {"srv-fer": [(at("2026-11-05T10:00"), at("2026-11-05T10:30"))]}


def test_an_unknown_servant_id_is_reported_not_dropped() -> None:
    row = ReportRow(2, "", None, "srv-ghost", at("2026-11-05T10:00"), at("2026-11-05T10:30"))
    (unmatched,) = match_rows([row], zoom_roster(), digest).unmatched
    assert unmatched.reason == "servant srv-ghost is not enrolled in this session"


def test_each_distinct_address_is_digested_once() -> None:
    calls = []

    def counting(email: str) -> str:
        calls.append(email)
        return digest(email)

    rows = [ReportRow(i, "Ana", "ana@x.example", None, at("2026-11-05T10:00") + i, at("2026-11-05T10:30"))
            for i in range(50)]
    match_rows(rows, Roster({"srv-ana": None}, {digest("ana@x.example"): "srv-ana"}), counting)
    assert calls == ["ana@x.example"]


# ---------------------------------------------------------------- check-in codes


def test_the_check_in_code_is_stable_per_session_and_differs_between_sessions() -> None:
    assert check_in_code("k", "ses-1") == check_in_code("k", "ses-1")
    assert check_in_code("k", "ses-1") != check_in_code("k", "ses-2")
    assert check_in_code("k", "ses-1") != check_in_code("other-key", "ses-1")


def test_the_check_in_code_is_accepted_only_while_the_session_runs() -> None:
    code = check_in_code("k", "ses-1")
    verify_check_in("k", SESSION, code, at("2026-11-05T10:30"), opens_before_s=900)
    verify_check_in("k", SESSION, code.lower(), at("2026-11-05T09:50"), opens_before_s=900)
    with pytest.raises(SessionNotReady, match="not opened"):
        verify_check_in("k", SESSION, code, at("2026-11-05T09:40"), opens_before_s=900)
    with pytest.raises(SessionNotReady, match="ended"):
        verify_check_in("k", SESSION, code, at("2026-11-05T12:00"), opens_before_s=900)


def test_another_sessions_code_is_refused() -> None:
    with pytest.raises(AttendanceError, match="code"):
        verify_check_in("k", SESSION, check_in_code("k", "ses-2"), at("2026-11-05T10:30"), opens_before_s=900)


# ---------------------------------------------------------------- marks


def test_a_mark_cannot_credit_more_than_the_session_or_minutes_to_an_absence() -> None:
    with pytest.raises(AttendanceError, match="minutes_present"):
        validate_mark(SESSION, "present", 121)
    with pytest.raises(AttendanceError, match="minutes_present"):
        validate_mark(SESSION, "absent", 30)
    with pytest.raises(AttendanceError, match="status"):
        validate_mark(SESSION, "asleep", None)
    assert validate_mark(SESSION, "late", 90).minutes_present == 90

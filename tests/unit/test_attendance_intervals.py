"""Joins and leaves of one person become minutes present: reconnections, overlaps, the session's edges."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from services.attendance.domain.intervals import Evidence, Mark, SessionWindow, covered_seconds, decide, merge_intervals

CANCUN = ZoneInfo("America/Cancun")


def at(text: str, zone: ZoneInfo = CANCUN) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=zone).timestamp())


SESSION = SessionWindow("ses-1", at("2026-11-05T10:00"), at("2026-11-05T12:00"), "America/Cancun")
LATE = 15 * 60


def minutes(*intervals: tuple[str, str], window: SessionWindow = SESSION) -> int:
    spans = [(at(a), at(b)) for a, b in intervals]
    return covered_seconds(merge_intervals(spans, window.window)) // 60


def test_a_reconnection_leaves_the_time_away_out() -> None:
    assert minutes(("2026-11-05T10:00", "2026-11-05T10:40"), ("2026-11-05T10:50", "2026-11-05T12:00")) == 110


def test_overlapping_connections_from_two_devices_count_once() -> None:
    assert minutes(("2026-11-05T10:05", "2026-11-05T11:30"), ("2026-11-05T10:20", "2026-11-05T11:58")) == 113


def test_the_same_connection_reported_twice_counts_once() -> None:
    once = minutes(("2026-11-05T10:10", "2026-11-05T11:10"))
    twice = minutes(("2026-11-05T10:10", "2026-11-05T11:10"), ("2026-11-05T10:10", "2026-11-05T11:10"))
    assert once == twice == 60


def test_joining_before_the_start_and_leaving_after_the_end_count_only_the_session() -> None:
    assert minutes(("2026-11-05T09:30", "2026-11-05T12:45")) == 120


def test_a_connection_entirely_outside_the_session_counts_nothing() -> None:
    assert minutes(("2026-11-05T08:00", "2026-11-05T09:59"), ("2026-11-05T12:00", "2026-11-05T13:00")) == 0


def test_touching_connections_merge_into_one() -> None:
    merged = merge_intervals([(at("2026-11-05T10:00"), at("2026-11-05T10:30")),
                              (at("2026-11-05T10:30"), at("2026-11-05T11:00"))])
    assert merged == [(at("2026-11-05T10:00"), at("2026-11-05T11:00"))]


def test_a_connection_inside_another_adds_nothing() -> None:
    assert minutes(("2026-11-05T10:00", "2026-11-05T11:00"), ("2026-11-05T10:15", "2026-11-05T10:45")) == 60


def test_a_session_crossing_midnight_counts_both_days() -> None:
    night = SessionWindow("ses-night", at("2026-12-31T23:00"), at("2027-01-01T01:00"), "America/Cancun")
    assert minutes(("2026-12-31T22:55", "2026-12-31T23:50"), ("2026-12-31T23:58", "2027-01-01T00:40"),
                   window=night) == 50 + 42


def test_partial_minutes_are_not_rounded_up() -> None:
    assert minutes(("2026-11-05T10:00:00", "2026-11-05T10:59:59")) == 59


def test_an_arrival_after_the_grace_period_is_late_and_the_share_is_of_the_whole_session() -> None:
    evidence = Evidence(((at("2026-11-05T10:31"), at("2026-11-05T12:00"), "zoom"),))
    decision = decide("srv-1", SESSION, evidence, late_after_s=LATE)
    assert (decision.status, decision.minutes_present, decision.session_minutes) == ("late", 89, 120)
    assert decision.share == 0.7416  # 5340 s of 7200 s, rounded down so no threshold is reached early
    assert decision.source_of_record == "zoom"


def test_an_arrival_within_the_grace_period_is_present() -> None:
    evidence = Evidence(((at("2026-11-05T10:14"), at("2026-11-05T12:00"), "teams"),))
    assert decide("srv-1", SESSION, evidence, late_after_s=LATE).status == "present"


def test_no_evidence_at_all_is_an_absence_vouched_for_by_the_default_source() -> None:
    decision = decide("srv-1", SESSION, Evidence(), late_after_s=LATE, default_source="zoom")
    assert (decision.status, decision.minutes_present, decision.share, decision.source_of_record) == (
        "absent", 0, 0.0, "zoom")


def test_the_source_of_record_is_the_one_that_saw_the_servant_longest() -> None:
    evidence = Evidence(((at("2026-11-05T10:00"), at("2026-11-05T10:20"), "check_in"),
                         (at("2026-11-05T10:20"), at("2026-11-05T12:00"), "zoom")))
    decision = decide("srv-1", SESSION, evidence, late_after_s=LATE)
    assert (decision.minutes_present, decision.source_of_record) == (120, "zoom")


def test_an_instructor_mark_outranks_the_platform_report() -> None:
    evidence = Evidence(((at("2026-11-05T10:00"), at("2026-11-05T12:00"), "zoom"),), Mark("excused"))
    decision = decide("srv-1", SESSION, evidence, late_after_s=LATE)
    assert (decision.status, decision.minutes_present, decision.source_of_record) == ("excused", 0, "instructor")


def test_a_present_mark_without_minutes_keeps_measured_time_or_credits_the_whole_session() -> None:
    measured = Evidence(((at("2026-11-05T10:00"), at("2026-11-05T11:00"), "zoom"),), Mark("present"))
    assert decide("srv-1", SESSION, measured, late_after_s=LATE).minutes_present == 60
    unmeasured = Evidence((), Mark("present"))
    assert decide("srv-1", SESSION, unmeasured, late_after_s=LATE).minutes_present == 120


def test_a_mark_with_minutes_decides_the_minutes() -> None:
    decision = decide("srv-1", SESSION, Evidence((), Mark("late", 75)), late_after_s=LATE)
    assert (decision.status, decision.minutes_present, decision.share) == ("late", 75, 0.625)

"""The real layouts of the Zoom participants report, the Teams attendance report and Google Meet's."""

from __future__ import annotations

import codecs
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from services.attendance.domain.errors import ReportError
from services.attendance.domain.intervals import covered_seconds, merge_intervals
from services.attendance.domain.reports import detect_format, parse_grades, parse_report

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "attendance"


def at(text: str, zone: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp())


def per_person(report, window) -> dict[str, int]:
    spans: dict[str, list] = {}
    for row in report.rows:
        spans.setdefault((row.email or row.name).lower(), []).append((row.joined, row.left))
    return {who: covered_seconds(merge_intervals(s, window)) // 60 for who, s in spans.items()}


def test_the_zoom_participants_report_is_read_in_the_meetings_time_zone() -> None:
    data = (FIXTURES / "zoom_participants.csv").read_bytes()
    assert data.startswith(codecs.BOM_UTF8)
    start, end = at("2026-11-05T10:00", "America/Cancun"), at("2026-11-05T12:00", "America/Cancun")
    report = parse_report(data, timezone="America/Cancun", session_start=start)
    assert report.format == "zoom"
    ana = [r for r in report.rows if r.email == "ana.lopez@sefiplan.example.gob.mx"]
    assert [(r.joined, r.left) for r in ana] == [
        (at("2026-11-05T09:55:02", "America/Cancun"), at("2026-11-05T10:41:30", "America/Cancun")),
        (at("2026-11-05T10:43:10", "America/Cancun"), at("2026-11-05T12:05:00", "America/Cancun")),
    ]
    minutes = per_person(report, (start, end))
    assert minutes["ana.lopez@sefiplan.example.gob.mx"] == 118  # 41:30 before the break, 76:50 after
    assert minutes["benito.chan@seguridad.example.gob.mx"] == 113  # phone and laptop overlap
    assert minutes["carla.cauich@dif.example.gob.mx"] == 88  # quoted "Cauich, Carla" keeps its columns


def test_zoom_time_in_the_waiting_room_is_not_presence_but_is_reported() -> None:
    data = (FIXTURES / "zoom_participants.csv").read_bytes()
    start = at("2026-11-05T10:00", "America/Cancun")
    report = parse_report(data, timezone="America/Cancun", session_start=start)
    assert [(i.name, i.reason) for i in report.ignored] == [("Daniel Pech", "time in the waiting room is not presence")]
    daniel = [r for r in report.rows if r.name == "Daniel Pech"]
    assert len(daniel) == 1 and daniel[0].joined == at("2026-11-05T09:58", "America/Cancun")


def test_a_zoom_guest_without_email_is_kept_as_a_row_to_match() -> None:
    report = parse_report((FIXTURES / "zoom_participants.csv").read_bytes(), timezone="America/Cancun",
                          session_start=at("2026-11-05T10:00", "America/Cancun"))
    guest = next(r for r in report.rows if r.name == "iPhone de Pedro")
    assert guest.email is None and guest.line == 13


def test_the_teams_report_is_utf16_tab_separated_and_its_in_meeting_activities_give_each_connection() -> None:
    data = (FIXTURES / "teams_attendance_report.csv").read_bytes()
    assert data.startswith(codecs.BOM_UTF16_LE)
    zone = "America/Mexico_City"
    start, end = at("2026-11-19T18:00", zone), at("2026-11-19T20:00", zone)
    report = parse_report(data, timezone=zone, session_start=start)
    assert report.format == "teams"
    assert len(report.rows) == 7  # the activities, not the per-person summary
    minutes = per_person(report, (start, end))
    assert minutes == {
        "rosa.canul@contraloria.example.gob.mx": 120,
        "ana.lopez@sefiplan.example.gob.mx": 40 + 28 + 48,  # 40:00 + 28:50 + 48:00 = 116:50
        "benito.chan@seguridad.example.gob.mx": 95,
        "carla.cauich@dif.example.gob.mx": 90,
    }


def test_a_teams_report_with_only_the_participants_section_uses_first_join_and_last_leave() -> None:
    text = ("1. Summary\nMeeting title\tÉtica Pública\n\n2. Participants\n"
            "Name\tFirst Join\tLast Leave\tIn-Meeting Duration\tEmail\tParticipant ID (UPN)\tRole\n"
            "Ana\t11/19/2026, 6:05:00 PM\t11/19/2026, 7:35:00 PM\t1h 30m\tana@x.example\tana@x.example\tAttendee\n")
    report = parse_report(text.encode("utf-16"), timezone="America/Mexico_City",
                          session_start=at("2026-11-19T18:00", "America/Mexico_City"))
    (row,) = report.rows
    assert (row.left - row.joined) // 60 == 90
    assert row.joined == at("2026-11-19T18:05", "America/Mexico_City")


def test_a_teams_activities_table_without_section_titles_is_still_teams() -> None:
    text = ("Name\tJoin Time\tLeave Time\tDuration\tEmail\tRole\n"
            "Ana\t19/11/2026, 18:00:00\t19/11/2026, 18:45:00\t45m\tana@x.example\tAttendee\n")
    report = parse_report(text.encode("utf-16"), timezone="America/Mexico_City",
                          session_start=at("2026-11-19T18:00", "America/Mexico_City"))
    assert report.format == "teams" and [(r.email, (r.left - r.joined) // 60) for r in report.rows] == [
        ("ana@x.example", 45)]


def test_the_2020_teams_layout_pairs_joins_and_leaves_per_person() -> None:
    text = ("Full Name\tUser Action\tTimestamp\n"
            "Ana López\tJoined\t11/19/2026, 6:00:00 PM\n"
            "Benito Chan\tJoined\t11/19/2026, 6:02:00 PM\n"
            "Ana López\tLeft\t11/19/2026, 6:30:00 PM\n"
            "Ana López\tJoined\t11/19/2026, 6:40:00 PM\n"
            "Ana López\tLeft\t11/19/2026, 7:00:00 PM\n")
    report = parse_report(text.encode("utf-16"), timezone="America/Mexico_City",
                          session_start=at("2026-11-19T18:00", "America/Mexico_City"))
    assert [(r.name, (r.left - r.joined) // 60) for r in report.rows] == [("Ana López", 30), ("Ana López", 20)]
    assert [(i.name, i.reason) for i in report.ignored] == [("Benito Chan", "joined but never left in the report")]


def test_the_google_meet_report_gives_times_of_the_session_day() -> None:
    start = at("2026-11-05T10:00", "America/Cancun")
    report = parse_report((FIXTURES / "meet_attendance.csv").read_bytes(), timezone="America/Cancun",
                          session_start=start)
    assert report.format == "meet"
    assert [(r.name, r.joined, (r.left - r.joined) // 60) for r in report.rows] == [
        ("Ana María López Ruiz", at("2026-11-05T10:02", "America/Cancun"), 115),
        ("Benito Chan", at("2026-11-05T10:40", "America/Cancun"), 45),
    ]


def test_time_only_stamps_after_midnight_belong_to_the_next_day() -> None:
    text = "First name,Last name,Email,Duration,Time joined,Time exited\nAna,L,a@x.example,1 hr,11:05 PM,12:40 AM\n"
    start = at("2026-12-31T23:00", "America/Cancun")
    (row,) = parse_report(text, timezone="America/Cancun", session_start=start, format="meet").rows
    assert row.left == at("2027-01-01T00:40", "America/Cancun") and (row.left - row.joined) // 60 == 95


def test_day_first_dates_are_recognised_by_a_day_above_twelve() -> None:
    text = ("Name (Original Name),User Email,Join Time,Leave Time,Duration (Minutes)\n"
            "A,a@x.example,03/11/2026 10:00:00,03/11/2026 11:00:00,60\n"
            "B,b@x.example,03/11/2026 10:00:00,13/11/2026 09:00:00,60\n")
    rows = parse_report(text, timezone="America/Cancun", session_start=at("2026-11-03T10:00", "America/Cancun")).rows
    assert rows[0].joined == at("2026-11-03T10:00", "America/Cancun")


def test_ambiguous_dates_take_the_reading_nearest_the_session() -> None:
    text = ("Name (Original Name),User Email,Join Time,Leave Time,Duration (Minutes)\n"
            "A,a@x.example,05/11/2026 10:00:00 AM,05/11/2026 11:00:00 AM,60\n")
    in_november = parse_report(text, timezone="America/Cancun", session_start=at("2026-11-05T10:00", "America/Cancun"))
    in_may = parse_report(text, timezone="America/Cancun", session_start=at("2026-05-11T10:00", "America/Cancun"))
    assert in_november.rows[0].joined == at("2026-11-05T10:00", "America/Cancun")
    assert in_may.rows[0].joined == at("2026-05-11T10:00", "America/Cancun")


def test_the_session_zone_turns_wall_clock_times_into_instants() -> None:
    text = "servant_id,joined_at,left_at\nsrv-1,2026-11-05 10:00,2026-11-05 11:00\n"
    cancun = parse_report(text, timezone="America/Cancun", session_start=at("2026-11-05T10:00", "America/Cancun"))
    mexico = parse_report(text, timezone="America/Mexico_City",
                          session_start=at("2026-11-05T10:00", "America/Mexico_City"))
    assert mexico.rows[0].joined - cancun.rows[0].joined == 3600


def test_an_explicit_offset_wins_over_the_session_zone() -> None:
    text = "servant_id,joined_at,left_at\nsrv-1,2026-11-05T15:00:00Z,2026-11-05T16:00:00+00:00\n"
    (row,) = parse_report(text, timezone="America/Cancun", session_start=at("2026-11-05T10:00", "America/Cancun")).rows
    assert (row.servant_id, row.joined) == ("srv-1", at("2026-11-05T10:00", "America/Cancun"))


def test_a_spanish_locale_am_pm_is_understood() -> None:
    text = ("Nombre (nombre original),User Email,Join Time,Leave Time\n"
            "Ana,a@x.example,11/05/2026 02:00:00 p. m.,11/05/2026 03:30:00 p. m.\n")
    (row,) = parse_report(text, timezone="America/Cancun", session_start=at("2026-11-05T14:00", "America/Cancun")).rows
    assert row.joined == at("2026-11-05T14:00", "America/Cancun") and (row.left - row.joined) == 5400


def test_a_garbled_time_names_its_line() -> None:
    text = ("Name (Original Name),User Email,Join Time,Leave Time\n"
            "A,a@x.example,11/05/2026 10:00:00 AM,11/05/2026 11:00:00 AM\n"
            "B,b@x.example,yesterday,11/05/2026 11:00:00 AM\n")
    with pytest.raises(ReportError, match="line 3: join time"):
        parse_report(text, timezone="America/Cancun", session_start=at("2026-11-05T10:00", "America/Cancun"))


def test_leaving_before_joining_is_refused() -> None:
    text = "servant_id,joined_at,left_at\nsrv-1,2026-11-05 11:00,2026-11-05 10:00\n"
    with pytest.raises(ReportError, match="line 2: leave time"):
        parse_report(text, timezone="America/Cancun", session_start=at("2026-11-05T10:00", "America/Cancun"))


def test_a_file_that_is_no_attendance_report_is_refused_by_name() -> None:
    with pytest.raises(ReportError, match="format"):
        detect_format("foo,bar\n1,2\n")


def test_an_evaluation_sheet_reads_ids_emails_and_decimal_commas() -> None:
    assert parse_grades("servant_id,email,score\nsrv-1,,90\n,b@x.example,\"85,5\"\n") == [
        ("srv-1", None, 90.0), (None, "b@x.example", 85.5)]

"""Zoom and Teams exports written by a Spanish interface read as their English twins."""

from __future__ import annotations

import codecs
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from services.attendance.domain.errors import ReportError
from services.attendance.domain.intervals import covered_seconds, merge_intervals
from services.attendance.domain.reports import detect_format, parse_report

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "attendance"
CANCUN, MEXICO = "America/Cancun", "America/Mexico_City"


def at(text: str, zone: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp())


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def zoom(name: str, **options: str):
    return parse_report(fixture(name), timezone=CANCUN, session_start=at("2026-11-05T10:00", CANCUN), **options)


def teams(name: str, **options: str):
    return parse_report(fixture(name), timezone=MEXICO, session_start=at("2026-11-19T18:00", MEXICO), **options)


def connections(report) -> list[tuple]:
    return [(r.email, r.joined, r.left) for r in report.rows]


def minutes_per_person(report, window) -> dict[str, int]:
    spans: dict[str, list] = {}
    for row in report.rows:
        spans.setdefault((row.email or row.name).lower(), []).append((row.joined, row.left))
    return {who: covered_seconds(merge_intervals(s, window)) // 60 for who, s in spans.items()}


# ---------------------------------------------------------------- Zoom


def test_a_spanish_zoom_export_without_the_meeting_block_gives_the_same_connections_as_the_english_one() -> None:
    data = fixture("zoom_participants_es.csv")
    assert data.startswith(codecs.BOM_UTF8) and b"\r\n" in data and b"Hora de entrada" in data
    spanish, english = zoom("zoom_participants_es.csv"), zoom("zoom_participants.csv")
    assert spanish.format == "zoom"
    assert [(r.name, *c) for r, c in zip(spanish.rows, connections(spanish))] == [
        (r.name, *c) for r, c in zip(english.rows, connections(english))]
    ana = [(r.joined, r.left) for r in spanish.rows if r.email == "ana.lopez@sefiplan.example.gob.mx"]
    assert ana == [(at("2026-11-05T09:55:02", CANCUN), at("2026-11-05T10:41:30", CANCUN)),
                   (at("2026-11-05T10:43:10", CANCUN), at("2026-11-05T12:05:00", CANCUN))]
    assert ana[0][0] == at("2026-11-05T14:55:02", "UTC")  # 05/11 is 5 November, read in Cancún (UTC-5)


def test_a_spanish_zoom_export_with_the_meeting_block_and_a_12_hour_clock_gives_the_same_presence_as_the_english_one(
) -> None:
    data = fixture("zoom_participants_es_meeting.csv")
    assert data.startswith(codecs.BOM_UTF8 + "ID de reunión".encode()) and "p.\u00a0m.".encode() in data
    spanish, english = zoom("zoom_participants_es_meeting.csv"), zoom("zoom_participants.csv")
    assert spanish.format == "zoom" and connections(spanish) == connections(english)
    window = (at("2026-11-05T10:00", CANCUN), at("2026-11-05T12:00", CANCUN))
    assert minutes_per_person(spanish, window) == minutes_per_person(english, window)
    carla = next(r for r in spanish.rows if r.name == "Cauich, Carla")
    assert (carla.joined, carla.left) == (at("2026-11-05T10:31:15", CANCUN), at("2026-11-05T12:00:40", CANCUN))


def test_a_spanish_zoom_export_leaves_out_the_waiting_room_marked_si_and_keeps_the_guest_without_email() -> None:
    report = zoom("zoom_participants_es_meeting.csv")
    assert [(i.name, i.reason) for i in report.ignored] == [("Daniel Pech", "time in the waiting room is not presence")]
    guest = next(r for r in report.rows if r.name == "iPhone de Pedro")
    assert guest.email is None and guest.line == 13 and guest.joined == at("2026-11-05T10:10", CANCUN)


@pytest.mark.parametrize("name", ["zoom_participants_es.csv", "zoom_participants_es_meeting.csv"])
def test_format_zoom_accepts_the_spanish_exports_as_auto_does(name: str) -> None:
    assert connections(zoom(name, format="zoom")) == connections(zoom(name))


def test_a_spanish_zoom_export_saved_as_windows_1252_still_reads() -> None:
    text = fixture("zoom_participants_es.csv").decode("utf-8-sig")
    report = parse_report(text.encode("cp1252"), timezone=CANCUN, session_start=at("2026-11-05T10:00", CANCUN))
    assert report.format == "zoom" and report.rows[0].name == "Unidad de Ética (Capacitación)"


def test_a_zoom_export_resaved_as_utf16_with_tabs_is_still_zoom_by_its_columns() -> None:
    text = fixture("zoom_participants_es.csv").decode("utf-8-sig").replace(",", "\t").replace('"Cauich\tCarla"',
                                                                                            "Cauich, Carla")
    report = parse_report(codecs.BOM_UTF16_LE + text.encode("utf-16-le"), timezone=CANCUN,
                          session_start=at("2026-11-05T10:00", CANCUN))
    assert report.format == "zoom" and connections(report) == connections(zoom("zoom_participants_es.csv"))


# ---------------------------------------------------------------- Teams


def test_a_spanish_teams_report_in_utf16_with_tabs_gives_the_same_activities_as_the_english_one() -> None:
    data = fixture("teams_attendance_es_v2.csv")
    assert data.startswith(codecs.BOM_UTF16_LE) and "3. Actividades en la reunión\r\n".encode("utf-16-le") in data
    spanish, english = teams("teams_attendance_es_v2.csv"), teams("teams_attendance_report.csv")
    assert spanish.format == "teams" and len(spanish.rows) == 7
    assert connections(spanish) == connections(english)
    rosa = spanish.rows[0]
    assert (rosa.name, rosa.email) == ("Mtra. Rosa Canul", "rosa.canul@contraloria.example.gob.mx")
    # "19/11/2026, 05:50:12 p. m." in Mexico City (UTC-6)
    assert (rosa.joined, rosa.left) == (at("2026-11-19T23:50:12", "UTC"), at("2026-11-19T20:04:40", MEXICO))


def test_a_spanish_teams_report_with_only_its_participants_section_uses_primera_union_and_ultima_salida() -> None:
    text = fixture("teams_attendance_es_v2.csv").decode("utf-16")
    only_participants = text[:text.index("3. Actividades")]
    report = parse_report(only_participants.encode("utf-16"), timezone=MEXICO,
                          session_start=at("2026-11-19T18:00", MEXICO))
    assert [(r.name, r.servant_id, r.joined, r.left) for r in report.rows[1:3]] == [
        ("LÓPEZ RUIZ, ANA MARÍA", "ana.lopez@sefiplan.example.gob.mx",
         at("2026-11-19T17:58:30", MEXICO), at("2026-11-19T20:04:00", MEXICO)),
        ("Benito Chan", "benito.chan@seguridad.example.gob.mx",
         at("2026-11-19T18:10:00", MEXICO), at("2026-11-19T19:45:30", MEXICO)),
    ]
    assert report.rows[3].email == "carla.cauich@dif.example.gob.mx" and report.rows[3].servant_id is None


def test_the_spanish_2020_teams_layout_pairs_unido_and_se_fue_per_person() -> None:
    data = fixture("teams_attendance_es_v1.csv")
    assert data.startswith(codecs.BOM_UTF16_LE + "Nombre completo\t".encode("utf-16-le"))
    report = teams("teams_attendance_es_v1.csv")
    assert report.format == "teams" and report.ignored == []
    assert sorted((r.name, r.joined, r.left) for r in report.rows) == [
        ("Benito Chan", at("2026-11-19T18:10", MEXICO), at("2026-11-19T19:00", MEXICO)),  # Se unió / Salió
        ("Carla Cauich (Invitado)", at("2026-11-19T18:20", MEXICO), at("2026-11-19T19:50", MEXICO)),  # Unido antes
        ("LÓPEZ RUIZ, ANA MARÍA", at("2026-11-19T17:58:30", MEXICO), at("2026-11-19T18:40", MEXICO)),
        ("LÓPEZ RUIZ, ANA MARÍA", at("2026-11-19T18:41:10", MEXICO), at("2026-11-19T19:10", MEXICO)),  # Izquierda
        ("Mtra. Rosa Canul", at("2026-11-19T17:50:12", MEXICO), at("2026-11-19T20:04:40", MEXICO)),
    ]


def test_a_reworded_teams_section_title_still_gives_the_activities() -> None:
    text = fixture("teams_attendance_es_v2.csv").decode("utf-16").replace("3. Actividades en la reunión",
                                                                         "3. Actividades durante la reunión")
    report = parse_report(text.encode("utf-16"), timezone=MEXICO, session_start=at("2026-11-19T18:00", MEXICO))
    assert report.format == "teams" and connections(report) == connections(teams("teams_attendance_es_v2.csv"))


@pytest.mark.parametrize("name", ["teams_attendance_es_v2.csv", "teams_attendance_es_v1.csv"])
def test_format_teams_accepts_the_spanish_reports_as_auto_does(name: str) -> None:
    assert connections(teams(name, format="teams")) == connections(teams(name))


# ---------------------------------------------------------------- dates and clocks


ZOOM_ES = ("Nombre (nombre original),Correo electrónico del usuario,Hora de entrada,Hora de salida,"
           "Duración (minutos)\n")
ZOOM_EN = "Name (Original Name),User Email,Join Time,Leave Time,Duration (Minutes)\n"


def joined(text: str, session_day: str) -> int:
    return parse_report(text, timezone=CANCUN, session_start=at(f"{session_day}T10:00", CANCUN)).rows[0].joined


def test_when_the_sessions_day_settles_nothing_spanish_headers_read_the_day_first_and_english_the_month_first() -> None:
    row = "Ana,a@x.example,05/11/2026 10:00:00,05/11/2026 11:00:00,60\n"
    assert joined(ZOOM_ES + row, "2026-08-01") == at("2026-11-05T10:00", CANCUN)
    assert joined(ZOOM_EN + row, "2026-08-01") == at("2026-05-11T10:00", CANCUN)


def test_a_reading_on_the_sessions_day_wins_over_the_language() -> None:
    row = "Ana,a@x.example,05/11/2026 10:00:00,05/11/2026 11:00:00,60\n"
    assert joined(ZOOM_ES + row, "2026-05-11") == at("2026-05-11T10:00", CANCUN)


def test_a_value_above_twelve_wins_over_the_language() -> None:
    rows = ("Ana,a@x.example,11/13/2026 10:00:00,11/13/2026 11:00:00,60\n"
            "Beto,b@x.example,11/05/2026 10:00,11/05/2026 11:00,60\n")
    report = parse_report(ZOOM_ES + rows, timezone=CANCUN, session_start=at("2026-08-01T10:00", CANCUN))
    assert [r.joined for r in report.rows] == [at("2026-11-13T10:00", CANCUN), at("2026-11-05T10:00", CANCUN)]


@pytest.mark.parametrize(("written", "wall_clock"), [
    ("10:01:05 a. m.", "10:01:05"), ("10:01:05 AM", "10:01:05"), ("02:30:00 p. m.", "14:30:00"),
    ("12:15:00 a.\u00a0m.", "00:15:00"), ("12:15:00 p.m.", "12:15:00"), ("16:45:09", "16:45:09"),
])
def test_spanish_and_english_clocks_give_the_same_wall_clock_time(written: str, wall_clock: str) -> None:
    row = f"Ana,a@x.example,05/11/2026 {written},05/11/2026 23:59:00,60\n"
    assert joined(ZOOM_ES + row, "2026-11-05") == at(f"2026-11-05T{wall_clock}", CANCUN)


# ---------------------------------------------------------------- refusals


def test_an_unknown_layout_is_refused_naming_what_was_expected_in_both_languages() -> None:
    with pytest.raises(ReportError, match=r"^format: .*'Hora de entrada'/'Hora de salida'.*'3\. Actividades en la"):
        detect_format("Nombre,Apellido\nAna,López\n")


def test_format_zoom_on_a_teams_report_names_the_columns_it_looked_for() -> None:
    with pytest.raises(ReportError, match=r"^columns: no 'Join Time' and 'Leave Time' \(or 'Hora de entrada'"):
        zoom("teams_attendance_es_v1.csv", format="zoom")


def test_format_teams_on_a_zoom_export_names_the_sections_it_looked_for() -> None:
    with pytest.raises(ReportError, match=r"^sections: .*'2\. Participantes'"):
        zoom("zoom_participants_es_meeting.csv", format="teams")

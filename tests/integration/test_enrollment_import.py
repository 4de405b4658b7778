"""An HR department's CSV export, imported through the bulk endpoint: a verdict for every line."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from services.enrollment.app import create_app
from services.enrollment.cli import import_rows, read_rows, render_report
from services.enrollment.settings import EnrollmentSettings
from tests.support.harness import serving

HR_EXPORT = Path(__file__).parents[1] / "fixtures" / "enrollment" / "hr_export.csv"


@pytest.fixture
async def client(database_url: str, tmp_path):
    async with serving(create_app, EnrollmentSettings(database_url=database_url, state_dir=tmp_path)) as service:
        async with service.client("comptroller") as c:
            await c.post("/institutions", json={"institution_id": "in-a", "name": "SEFIPLAN",
                                                "government_level": "state", "headcount": 900, "headcount_year": 2026})
            await c.post("/courses", json={"course_id": "co-1", "code": "RA-1", "title": "Responsabilidades",
                                           "topic": "Responsabilidades Administrativas", "hours": 2})
            r = await c.post("/sessions", json={"session_id": "se-1", "course_id": "co-1", "modality": "in_person",
                                                "venue": "Auditorio", "capacity": 1,
                                                "starts_at": "2026-11-12T10:00:00-05:00",
                                                "ends_at": "2026-11-12T12:00:00-05:00"})
            assert r.status_code == 201, r.text
            r = await c.post("/sessions", json={"session_id": "se-2", "course_id": "co-1", "modality": "virtual",
                                                "platform": "Teams", "capacity": 10,
                                                "starts_at": "2026-11-13T10:00:00-05:00",
                                                "ends_at": "2026-11-13T12:00:00-05:00"})
            assert r.status_code == 201, r.text
        async with service.client("liaison", institution="in-a") as c:
            yield c


def test_spanish_headers_split_names_and_semicolons_are_read_as_import_rows():
    rows = read_rows(HR_EXPORT.read_text(encoding="utf-8"))
    first = rows[0]
    assert first["line"] == 2 and first["name"] == "Ana Gómez Martínez"
    assert (first["email"], first["sex"], first["position_level"], first["session_id"]) == \
        ("ana.gomez@qroo.gob.mx", "Mujer", "operativo", "se-1")
    assert "sex" not in rows[1]  # an empty cell is absent, so the CURP decides
    assert [r["line"] for r in rows] == [2, 3, 4, 5, 6, 7, 9, 10, 11, 12]  # the blank line 8 is skipped


def test_a_file_without_a_curp_column_is_refused_before_anything_is_sent():
    with pytest.raises(ValueError, match="CURP"):
        read_rows("nombre,correo\nAna,ana@example.org\n")


async def test_each_line_is_accepted_or_rejected_with_its_field_and_a_bad_line_changes_nothing(client):
    progress: list[int] = []
    report = await import_rows(client, read_rows(HR_EXPORT.read_text(encoding="utf-8")), chunk_size=3,
                               on_progress=progress.append)
    assert progress == [3, 3, 3, 1]
    by_line = {r["line"]: r for r in report["results"]}
    verdicts = {line: (r["accepted"], r["servant"] if r["accepted"] else r["field"]) for line, r in by_line.items()}
    assert verdicts == {2: (True, "registered"), 3: (True, "registered"), 4: (False, "curp"), 5: (False, "name"),
                        6: (False, "email"), 7: (False, "session_id"), 9: (True, "updated"), 10: (False, "sex"),
                        11: (True, "existing"), 12: (False, "curp")}
    assert (by_line[2]["enrolment"], by_line[3]["enrolment"], by_line[3]["waitlist_position"]) == \
        ("confirmed", "waitlisted", 1)
    assert by_line[9]["servant_id"] == by_line[2]["servant_id"]
    # A line with only a CURP and a session enrols someone already registered, and no one else.
    assert (by_line[11]["servant_id"], by_line[11]["enrolment"]) == (by_line[3]["servant_id"], "confirmed")
    assert "no registered servant" in by_line[12]["reason"]
    assert (report["accepted"], report["rejected"]) == (4, 6)

    servants = (await client.get("/servants")).json()
    assert sorted(s["name"] for s in servants) == ["Ana María Gómez Martínez", "José Pérez Hernández"]
    assert {s["name"]: s["sex"] for s in servants}["José Pérez Hernández"] == "male"  # from the CURP's H

    console = Console(record=True, width=200)
    render_report(report, console, only_rejected=True)
    text = console.export_text()
    assert "check digit" in text and "unknown session 'se-nope'" in text and "6 rejected" in text
    assert "Ana María" not in text

"""Every CSV the platform hands out opens in a spreadsheet as written: a cell that would start a
formula (``=``, ``+``, ``-``, ``@``) is text, so a name typed that way cannot run anything."""

from __future__ import annotations

from services.enrollment.cli import write_report_csv
from services.reporting.exports import to_csv


def test_reporting_csv_cells_that_would_start_a_formula_are_written_as_text_and_numbers_stay_numbers():
    rows = [{"category": "=HYPERLINK(\"http://x\")", "count": -3}, {"category": "+1", "count": 4},
            {"category": "-2+3", "count": 0}, {"category": "@SUM(A1)", "count": None},
            {"category": "Secretaría de Salud", "count": 12}]
    lines = to_csv(rows, ["category", "count"]).splitlines()
    assert lines[1:] == ['"\'=HYPERLINK(""http://x"")",-3', "'+1,4", "'-2+3,0", "'@SUM(A1),",
                         "Secretaría de Salud,12"]


def test_the_import_report_csv_writes_a_reason_quoting_a_formula_as_text(tmp_path):
    path = tmp_path / "report.csv"
    write_report_csv({"results": [{"line": 2, "accepted": False, "field": "name",
                                   "reason": "=cmd|' /C calc'!A0 is not a name"}]}, path)
    assert path.read_text().splitlines()[1] == "2,False,,,,,,name,'=cmd|' /C calc'!A0 is not a name"

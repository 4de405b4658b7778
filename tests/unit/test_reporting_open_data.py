"""Open data blanks small counts so that no blanked count can be worked out from what is published."""

from __future__ import annotations

from services.reporting.domain.facts import MEASURES
from services.reporting.exports import COUNTS, suppress


def table(**participations: int) -> list[dict]:
    """One period's rows by institution: each institution's participations (and hours), little else."""
    rows = []
    for category, count in participations.items():
        row = {m: 0 for m in MEASURES}
        row.update(participations=count, training_hours=count * 2.0, sessions_delivered=7)
        rows.append({"period": "2026-11", "dimension": "institution", "category": category, **row})
    return rows


def shown(rows: list[dict], measure: str) -> dict[str, int | None]:
    return {r["category"]: r[measure] for r in rows}


def test_a_single_small_count_is_blanked_with_the_smallest_other_count_so_the_total_cannot_reveal_it():
    rows = suppress(table(salud=3, finanzas=20, educacion=30), minimum=5)
    assert shown(rows, "participations") == {"salud": None, "finanzas": None, "educacion": 30}
    # With the period's total (53) published, 53 - 30 leaves 23 for two blanked cells: neither is known.
    assert shown(rows, "training_hours") == {"salud": None, "finanzas": None, "educacion": 60.0}
    assert [r["suppressed"] for r in rows] == ["participations training_hours"] * 2 + [""]


def test_two_small_counts_already_hide_each_other():
    rows = suppress(table(salud=3, finanzas=2, educacion=30), minimum=5)
    # 35 - 30 leaves 5 for two blanks, each at least 1: either is 1 to 4, all that "< 5" says.
    assert shown(rows, "participations") == {"salud": None, "finanzas": None, "educacion": 30}


def test_two_small_counts_whose_sum_is_smaller_still_need_a_third_blank():
    rows = suppress(table(salud=3, finanzas=1, educacion=30), minimum=5)
    # 34 - 30 would leave 4 for the two, each then 1 to 3: more than "< 5" says.
    assert shown(rows, "participations") == {"salud": None, "finanzas": None, "educacion": None}


def test_zeros_and_large_counts_are_published_as_they_are():
    rows = suppress(table(salud=0, finanzas=20, educacion=30), minimum=5)
    assert shown(rows, "participations") == {"salud": 0, "finanzas": 20, "educacion": 30}
    assert all(r["suppressed"] == "" for r in rows)
    assert shown(rows, "sessions_delivered") == {"salud": 7, "finanzas": 7, "educacion": 7}


def test_a_lone_small_count_has_nothing_to_hide_behind_and_its_total_is_blanked_too():
    # The one category equals the period's total, which the same rule blanks in the total table.
    [only] = suppress(table(salud=3), minimum=5)
    assert only["participations"] is None
    [total] = suppress([{**table(salud=3)[0], "dimension": "total", "category": "all"}], minimum=5)
    assert total["participations"] is None


def test_every_count_measure_is_protected_on_its_own():
    rows = table(salud=40, finanzas=20, educacion=30)
    rows[0]["certificates_revoked"] = 1
    rows[1]["certificates_revoked"] = 6
    rows[2]["certificates_revoked"] = 9
    out = suppress(rows, minimum=5)
    assert shown(out, "certificates_revoked") == {"salud": None, "finanzas": None, "educacion": 9}
    assert shown(out, "participations") == {"salud": 40, "finanzas": 20, "educacion": 30}
    assert {m for r in out for m in r["suppressed"].split()} <= set(COUNTS)


"""The annual training programme's rules in enrollment's domain: the CSV file and the declaration."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contracts.events import MAX_PLAN_TARGETS
from probidad.shared.errors import RuleViolation
from services.enrollment.plans.domain import PlanLine, decide_plan, parse_plan_csv

HEADER = "year,month,institution_id,topic,sessions,people,hours\n"
NOW = datetime(2026, 1, 10, 12, tzinfo=UTC)


def declare(lines, known=frozenset({"in-a", "in-b"}), version=1):
    return decide_plan(plan_id="pl-1", year=2026, version=version, lines=lines, known_institutions=set(known),
                       declared_at=NOW, declared_by="comptroller:ana")


def line(source="targets.0", month=1, institution_id="in-a", topic="Ética", sessions=1, people=10, hours=4.0):
    return PlanLine(source, month, institution_id, topic, sessions, people, hours)


def test_a_file_gives_its_year_and_targets_in_any_column_order_skipping_blank_rows():
    text = "topic,hours,people,sessions,institution_id,month,year,note\nÉtica,4.5,10,1,in-a,3,2026,x\n\n" \
           "Conflicto de Interés, 0 , 0,0,in-b,12,2026,\n"
    year, lines = parse_plan_csv(("\ufeff" + text).encode())
    assert year == 2026
    assert lines == [PlanLine("row 2", 3, "in-a", "Ética", 1, 10, 4.5),
                     PlanLine("row 4", 12, "in-b", "Conflicto de Interés", 0, 0, 0.0)]


@pytest.mark.parametrize(("row", "detail"), [
    ("2026,0,in-a,Ética,1,10,4", "row 2, month: must be a whole number from 1 to 12, got '0'"),
    ("2026,1,in-a,Ética,1.5,10,4", "row 2, sessions: must be a whole number from 0 to 100000, got '1.5'"),
    ("2026,1,in-a,Ética,1,-3,4", "row 2, people: must be a whole number from 0 to 10000000, got '-3'"),
    ("2026,1,in-a,Ética,1,3,inf", "row 2, hours: must be a number from 0 to 100000000, got 'inf'"),
    ("2026,1,in a,Ética,1,3,4", "row 2, institution_id: expected an institution id"),
    ("2026,1,in-a,,1,3,4", "row 2, topic: must be 1 to 200 characters"),
    ("1999,1,in-a,Ética,1,3,4", "row 2, year: must be a whole number from 2000 to 2100"),
])
def test_a_bad_value_names_its_row_and_column(row, detail):
    with pytest.raises(RuleViolation) as refused:
        parse_plan_csv((HEADER + row + "\n").encode())
    assert str(refused.value).startswith(detail)


def test_every_row_is_of_one_year_and_the_file_needs_its_header_and_a_target():
    with pytest.raises(RuleViolation,
                       match=r"^row 3, year: every row must be of the same year: 2027 here, 2026 in row 2"):
        parse_plan_csv((HEADER + "2026,1,in-a,Ética,1,3,4\n2027,1,in-a,Ética,1,3,4\n").encode())
    with pytest.raises(RuleViolation, match="^header: missing column"):
        parse_plan_csv(b"year,month\n2026,1\n")
    with pytest.raises(RuleViolation, match="^file: no targets"):
        parse_plan_csv(HEADER.encode())
    with pytest.raises(RuleViolation, match="^file: not UTF-8"):
        parse_plan_csv(b"\xff\xfe")


def test_a_declaration_is_the_whole_plan_as_one_event():
    event = declare([line(), line("targets.1", month=2, institution_id="in-b", people=0, hours=0)], version=3)
    assert (event.year, event.version, event.key, event.subject) == (2026, 3, "2026", "pl-1")
    assert [(t.month, t.institution_id, t.people, t.hours) for t in event.targets] == [(1, "in-a", 10, 4.0),
                                                                                        (2, "in-b", 0, 0.0)]


def test_a_declaration_refuses_unknown_institutions_duplicates_blank_topics_and_no_targets():
    with pytest.raises(RuleViolation, match=r"^row 3, institution_id: unknown institution 'in-z'"):
        declare([line("row 2"), line("row 3", institution_id="in-z")])
    with pytest.raises(RuleViolation, match=r"^targets.1.topic: month 1, institution in-a and topic 'Ética' are "
                                            r"already planned in targets.0"):
        declare([line(), line("targets.1")])
    with pytest.raises(RuleViolation, match=r"^targets.0.topic: must not be blank"):
        declare([line(topic="  ")])
    with pytest.raises(RuleViolation, match="^targets: a plan needs at least one target"):
        declare([])
    with pytest.raises(RuleViolation, match="^targets: a plan holds at most"):
        declare([line(f"targets.{i}", topic=f"t{i}") for i in range(MAX_PLAN_TARGETS + 1)])

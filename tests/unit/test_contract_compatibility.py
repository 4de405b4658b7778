"""The compatibility check between a published event schema and the model, fed deliberately changed models.

Each variant is a copy of a real event model with one edit, turned into a JSON Schema the same way
the committed ones are (``schema_of``), so the checker sees what pydantic really writes ($defs,
anyOf for optional fields) and not hand-written dictionaries.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import Field, create_model

from contracts.base import Event
from contracts.events import (
    CompetencyAttained, CoursePublished, InstitutionRegistered, ServantRegistered, ServantUpdated, Sex,
)
from contracts.schemas import (
    breaking_changes, publish_all, published_breaks, published_schemas, render, schema_of, write_all,
)

def variant(base: type[Event], *, without: tuple[str, ...] = (), key_field: str | None = None,
            **fields: Any) -> type[Event]:
    """A copy of ``base`` (same name, type, topic and key) with ``without`` removed and ``fields`` put in."""
    definitions: dict[str, Any] = {
        name: (info.annotation, info) for name, info in base.model_fields.items() if name not in without
    }
    definitions.update(fields)
    model = create_model(base.__name__, __base__=Event, __doc__=base.__doc__, **definitions)
    for attribute in ("type", "source", "kafka_topic", "key_field", "subject_field"):
        setattr(model, attribute, getattr(base, attribute))
    if key_field is not None:
        model.key_field = key_field
    return model


def changes(base: type[Event], changed: type[Event]) -> list[str]:
    return breaking_changes(schema_of(base), schema_of(changed))


def test_an_unchanged_copy_of_a_model_has_the_same_schema_and_no_breaking_change() -> None:
    copy = variant(ServantRegistered)
    assert render(schema_of(copy)) == render(schema_of(ServantRegistered))
    assert changes(ServantRegistered, copy) == []


# ---------------------------------------------------------------- breaking


def test_removing_a_field_from_a_published_event_is_reported_as_breaking() -> None:
    assert changes(ServantRegistered, variant(ServantRegistered, without=("institution_id",))) == [
        "field 'institution_id' was removed",
    ]


def test_removing_an_optional_field_is_breaking_too() -> None:
    assert changes(ServantRegistered, variant(ServantRegistered, without=("email_digest",))) == [
        "field 'email_digest' was removed",
    ]


def test_adding_a_required_field_to_a_published_event_is_reported_as_breaking() -> None:
    grown = variant(ServantRegistered, grade=(str, Field(max_length=10)))
    assert changes(ServantRegistered, grown) == ["field 'grade' is newly required"]


def test_making_an_optional_field_required_is_reported_as_breaking() -> None:
    stricter = variant(ServantRegistered, position_level=(str, Field(max_length=100)))
    problems = changes(ServantRegistered, stricter)
    assert "field 'position_level' is newly required" in problems
    assert "field 'position_level' changed type (null or string -> string)" in problems


def test_making_a_required_field_optional_is_reported_as_breaking() -> None:
    looser = variant(ServantRegistered, institution_id=(str | None, Field(None, max_length=64, min_length=1)))
    problems = changes(ServantRegistered, looser)
    assert "field 'institution_id' is no longer required (its published consumers need it)" in problems
    assert "field 'institution_id' changed type (string -> null or string)" in problems


def test_changing_a_fields_type_is_reported_as_breaking() -> None:
    assert changes(InstitutionRegistered, variant(InstitutionRegistered, headcount=(str, Field()))) == [
        "field 'headcount' changed type (integer -> string)",
    ]


def test_changing_a_fields_format_is_reported_as_breaking() -> None:
    dated = variant(CompetencyAttained, attained_on=(str, Field()))
    assert changes(CompetencyAttained, dated) == ["field 'attained_on' changed type (string (date) -> string)"]


def test_lowering_a_max_length_is_reported_as_breaking() -> None:
    shorter = variant(ServantRegistered, email_digest=(str | None, Field(None, max_length=32)))
    assert changes(ServantRegistered, shorter) == ["field 'email_digest' tightened maxLength from 64 to 32"]


def test_raising_a_max_length_is_reported_as_breaking_because_published_consumers_refuse_longer_values() -> None:
    longer = variant(ServantRegistered, email_digest=(str | None, Field(None, max_length=128)))
    assert changes(ServantRegistered, longer) == ["field 'email_digest' loosened maxLength from 64 to 128"]


def test_adding_a_pattern_is_reported_as_breaking() -> None:
    patterned = variant(ServantRegistered,
                        position_level=(str | None, Field(None, max_length=100, pattern="^[a-z ]+$")))
    assert changes(ServantRegistered, patterned) == ["field 'position_level' gained pattern '^[a-z ]+$'"]


def test_raising_a_lower_bound_is_reported_as_breaking() -> None:
    bigger = variant(InstitutionRegistered, headcount=(int, Field(ge=10)))
    assert changes(InstitutionRegistered, bigger) == ["field 'headcount' tightened minimum from 1 to 10"]


def test_tightening_the_items_of_a_list_is_reported_as_breaking() -> None:
    short = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._:\-]+$")]
    assert changes(CompetencyAttained, variant(CompetencyAttained, course_ids=(list[short], Field()))) == [
        "field 'course_ids[]' tightened maxLength from 64 to 32",
    ]


def test_loosening_the_items_of_a_list_is_reported_as_breaking() -> None:
    assert changes(CompetencyAttained, variant(CompetencyAttained, course_ids=(list[str], Field()))) == [
        "field 'course_ids[]' lost maxLength 64 (loosened)",
        "field 'course_ids[]' lost minLength 1 (loosened)",
        "field 'course_ids[]' lost pattern '^[A-Za-z0-9._:\\\\-]+$'",
    ]


class FewerSexes(str, Enum):
    female = "female"
    male = "male"
    non_binary = "non_binary"


class MoreSexes(str, Enum):
    female = "female"
    male = "male"
    non_binary = "non_binary"
    undisclosed = "undisclosed"
    other = "other"


def test_removing_an_enum_value_is_reported_as_breaking() -> None:
    assert changes(ServantRegistered, variant(ServantRegistered, sex=(FewerSexes, Field()))) == [
        "field 'sex' no longer accepts enum value(s) 'undisclosed'",
    ]


def test_adding_an_enum_value_is_reported_as_breaking_because_published_consumers_refuse_it() -> None:
    assert changes(ServantRegistered, variant(ServantRegistered, sex=(MoreSexes, Field()))) == [
        "field 'sex' gained enum value(s) 'other' its published consumers refuse",
    ]


def test_turning_an_enum_into_free_text_is_reported_as_breaking() -> None:
    assert changes(ServantRegistered, variant(ServantRegistered, sex=(str, Field()))) == [
        "field 'sex' is no longer an enum of 'female', 'male', 'non_binary', 'undisclosed'",
    ]


def test_changing_a_default_is_reported_as_breaking() -> None:
    lenient = variant(CoursePublished, minimum_attendance_share=(float, Field(0.7, ge=0.0, le=1.0)))
    assert changes(CoursePublished, lenient) == ["field 'minimum_attendance_share' changed its default from 0.8 to 0.7"]


def test_moving_an_event_to_another_key_is_reported_as_breaking() -> None:
    assert changes(InstitutionRegistered, variant(InstitutionRegistered, key_field="name")) == [
        "key field changed from 'institution_id' to 'name'",
    ]


def test_several_breaking_changes_are_all_reported() -> None:
    broken = variant(ServantRegistered, without=("institution_id",), sex=(FewerSexes, Field()),
                     email_digest=(str | None, Field(None, max_length=32)), grade=(str, Field()))
    assert sorted(changes(ServantRegistered, broken)) == sorted([
        "field 'institution_id' was removed",
        "field 'sex' no longer accepts enum value(s) 'undisclosed'",
        "field 'email_digest' tightened maxLength from 64 to 32",
        "field 'grade' is newly required",
    ])


def test_a_changed_field_of_a_nested_object_is_reported_with_its_path() -> None:
    old = {"type": "object", "properties": {"place": {"$ref": "#/$defs/Place"}},
           "$defs": {"Place": {"type": "object", "properties": {"code": {"type": "string", "maxLength": 9}},
                               "required": ["code"]}}}
    new = json.loads(json.dumps(old))
    new["$defs"]["Place"]["properties"] = {"code": {"type": "string", "maxLength": 5}, "kind": {"type": "string"}}
    new["$defs"]["Place"]["required"] = ["code", "kind"]
    assert breaking_changes(old, new) == [
        "field 'place.code' tightened maxLength from 9 to 5",
        "field 'place.kind' is newly required",
    ]


# ---------------------------------------------------------------- compatible


def test_adding_the_optional_person_id_to_the_servant_events_is_compatible() -> None:
    for event in (ServantRegistered, ServantUpdated):
        assert "person_id" in event.model_fields
        before = variant(event, without=("person_id",))
        assert changes(before, event) == []


def test_adding_an_optional_field_is_compatible() -> None:
    grown = variant(InstitutionRegistered, website=(str | None, Field(None, max_length=200)))
    assert changes(InstitutionRegistered, grown) == []


def test_editing_descriptions_and_titles_is_compatible() -> None:
    reworded = variant(ServantRegistered, institution_id=(str, Field(
        min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$", title="Institution",
        description="The institution the servant belongs to.")))
    assert schema_of(reworded) != schema_of(ServantRegistered)
    assert changes(ServantRegistered, reworded) == []


def test_a_field_written_with_another_but_equal_annotation_is_compatible() -> None:
    same = variant(ServantRegistered, sex=(Sex, Field(description="As declared by the servant.")))
    assert changes(ServantRegistered, same) == []


# ---------------------------------------------------------------- regenerating and publishing


@pytest.fixture()
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    schema_dir, published_dir = tmp_path / "schemas", tmp_path / "schemas" / "published"
    published_dir.mkdir(parents=True)
    (published_dir / f"{ServantRegistered.type}.json").write_text(render(schema_of(variant(
        ServantRegistered, without=("person_id",)))))
    return schema_dir, published_dir


def test_regenerating_the_snapshots_refuses_a_model_that_breaks_its_published_version(dirs) -> None:
    schema_dir, published_dir = dirs
    baseline = (published_dir / f"{ServantRegistered.type}.json").read_text()
    refused = write_all([variant(ServantRegistered, without=("institution_id",))], schema_dir, published_dir)
    assert refused == [f"{ServantRegistered.type}: field 'institution_id' was removed — publish a new version instead"]
    assert not (schema_dir / f"{ServantRegistered.type}.json").exists()
    assert (published_dir / f"{ServantRegistered.type}.json").read_text() == baseline


def test_regenerating_the_snapshots_leaves_the_published_baseline_where_it_was(dirs) -> None:
    schema_dir, published_dir = dirs
    baseline = (published_dir / f"{ServantRegistered.type}.json").read_text()
    assert write_all([ServantRegistered, InstitutionRegistered], schema_dir, published_dir) == []
    assert (schema_dir / f"{ServantRegistered.type}.json").read_text() == render(schema_of(ServantRegistered))
    assert (schema_dir / f"{InstitutionRegistered.type}.json").exists()
    assert (published_dir / f"{ServantRegistered.type}.json").read_text() == baseline
    assert sorted(published_schemas(published_dir)) == [ServantRegistered.type]


def test_publishing_records_the_current_models_as_the_new_baseline(dirs) -> None:
    schema_dir, published_dir = dirs
    assert publish_all([ServantRegistered, InstitutionRegistered], schema_dir, published_dir) == []
    assert published_schemas(published_dir) == {
        ServantRegistered.type: schema_of(ServantRegistered),
        InstitutionRegistered.type: schema_of(InstitutionRegistered),
    }
    # From then on, dropping the field just published is a breaking change.
    assert published_breaks([variant(ServantRegistered, without=("person_id",)), InstitutionRegistered],
                            published_dir) == {ServantRegistered.type: ["field 'person_id' was removed"]}


def test_publishing_refuses_a_breaking_model_and_writes_nothing(dirs) -> None:
    schema_dir, published_dir = dirs
    baseline = (published_dir / f"{ServantRegistered.type}.json").read_text()
    broken = variant(ServantRegistered, sex=(FewerSexes, Field()))
    assert publish_all([broken, InstitutionRegistered], schema_dir, published_dir) == [
        f"{ServantRegistered.type}: field 'sex' no longer accepts enum value(s) 'undisclosed' "
        "— publish a new version instead",
    ]
    assert (published_dir / f"{ServantRegistered.type}.json").read_text() == baseline
    assert sorted(p.name for p in published_dir.iterdir()) == [f"{ServantRegistered.type}.json"]
    assert not schema_dir.joinpath(f"{InstitutionRegistered.type}.json").exists()


def test_a_published_type_left_without_a_model_is_reported(dirs) -> None:
    _, published_dir = dirs
    assert published_breaks([InstitutionRegistered], published_dir) == {
        ServantRegistered.type: ["the published type has no model any more"],
    }

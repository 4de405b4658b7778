"""Every contract event survives the trip through a CloudEvents Kafka record, and its JSON fits its schema.

The instances are generated (hypothesis) from each type's committed JSON Schema, the document agency
developers build from: so the test also shows that data the schema allows is data the model accepts,
and that what the model writes is what the schema allows (checked by jsonschema_rs, a validator
independent of pydantic). A new event type needs no hand-written example; a schema using a keyword
the generator does not know fails here rather than being half-tested.
"""

from __future__ import annotations

import inspect
import json
import zoneinfo
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import contracts.events
from contracts.base import PLAIN_NUMBER_RULE, Event, has_plain_form
from contracts.envelope import open_envelope, seal, to_record
from contracts.events import ALL_EVENTS, EVENTS_BY_TYPE
from contracts.schemas import committed

BINARY_MODE_HEADERS = {
    "ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "ce_subject", "content-type",
    "ce_correlationid", "correlation_id",
}
ANNOTATIONS = {"title", "description", "default", "examples"}
# Keywords the generator honours, by JSON type; any other keyword in a schema fails the test.
HANDLED = {
    "string": {"type", "minLength", "maxLength", "pattern", "format"},
    "integer": {"type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"},
    "number": {"type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"},
    "array": {"type", "items", "minItems", "maxItems"},
    "boolean": {"type"},
    "null": {"type"},
    "object": {"type", "properties", "required"},  # a nested model (e.g. a plan's targets)
}
LARGEST_SAFE_INTEGER = 2**53
# Free-form JSON (``dict[str, Any]``, e.g. a published report's figures): any JSON value inside.
FREE_FORM = {"type": "object", "additionalProperties": True}
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-LARGEST_SAFE_INTEGER, max_value=LARGEST_SAFE_INTEGER)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=10)

# A field described as an IANA zone takes one (the contract checks it); from a sorted list, as the test is derandomised.
zones = st.sampled_from(sorted(zoneinfo.available_timezones()))

offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes)))
aware_datetimes = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 12, 31), timezones=offsets)


def _resolve(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target = root["$defs"][node["$ref"].removeprefix("#/$defs/")]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _strings(node: dict[str, Any]) -> st.SearchStrategy[str]:
    low, high = node.get("minLength", 0), node.get("maxLength")
    fmt = node.get("format")
    if fmt == "date-time":
        return aware_datetimes.map(lambda moment: moment.isoformat())
    if fmt == "date":
        return st.dates().map(lambda day: day.isoformat())
    if fmt is not None:
        raise NotImplementedError(f"the example generator knows no string format {fmt!r}")
    if "pattern" in node:
        return st.from_regex(node["pattern"], fullmatch=True).filter(
            lambda text: low <= len(text) and (high is None or len(text) <= high))
    return st.text(min_size=low, max_size=high)


def from_schema(root: dict[str, Any], node: dict[str, Any], plain: bool = False) -> st.SearchStrategy[Any]:
    """JSON data valid under ``node`` (a part of the schema ``root``). A number whose description states
    the plain-number rule (hours and scores, which certificates sign) keeps to it, as the schema says."""
    node = _resolve(root, node)
    plain = plain or PLAIN_NUMBER_RULE in node.get("description", "")
    if node.get("type") == "string" and "IANA zone" in node.get("description", ""):
        return zones
    node = {k: v for k, v in node.items() if k not in ANNOTATIONS}
    if "anyOf" in node:
        assert set(node) == {"anyOf"}, f"the example generator takes anyOf alone, not with {sorted(node)}"
        return st.one_of([from_schema(root, branch, plain) for branch in node["anyOf"]])
    if "enum" in node:
        assert set(node) <= {"enum", "type"}, sorted(node)
        return st.sampled_from(node["enum"])
    if node == FREE_FORM:
        return st.dictionaries(st.text(max_size=10), json_values, max_size=4)
    kind = node.get("type")
    unknown = set(node) - HANDLED.get(kind, set())
    if kind not in HANDLED or unknown:
        raise NotImplementedError(f"the example generator cannot build {kind!r} with {sorted(unknown)}")
    if kind == "string":
        return _strings(node)
    if kind in ("integer", "number"):
        low = node.get("minimum", node.get("exclusiveMinimum", -LARGEST_SAFE_INTEGER))
        high = node.get("maximum", node.get("exclusiveMaximum", LARGEST_SAFE_INTEGER))
        if kind == "integer":
            return st.integers(min_value=low + ("exclusiveMinimum" in node),
                               max_value=high - ("exclusiveMaximum" in node))
        numbers = st.floats(min_value=low, max_value=high, exclude_min="exclusiveMinimum" in node,
                            exclude_max="exclusiveMaximum" in node, allow_nan=False, allow_infinity=False)
        return numbers.filter(has_plain_form) if plain else numbers
    if kind == "array":
        return st.lists(from_schema(root, node.get("items", {})), min_size=node.get("minItems", 0),
                        max_size=min(node.get("maxItems", 5), 5))
    if kind == "boolean":
        return st.booleans()
    if kind == "object":
        return _objects(root, node)
    return st.none()


def _objects(root: dict[str, Any], node: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Every required property, and any of the optional ones."""
    properties, required = node["properties"], set(node.get("required", []))
    return st.fixed_dictionaries(
        {name: from_schema(root, sub) for name, sub in properties.items() if name in required},
        optional={name: from_schema(root, sub) for name, sub in properties.items() if name not in required},
    )


def _ends_after_start(data: dict[str, Any]) -> bool:
    """A session's end is after its start, as its schema's ``ends_at`` says."""
    if "starts_at" not in data or "ends_at" not in data:
        return True
    return datetime.fromisoformat(data["ends_at"]) > datetime.fromisoformat(data["starts_at"])


def events_of(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Event data: every required field, and any of the optional ones."""
    assert schema["type"] == "object"
    properties, required = schema["properties"], set(schema.get("required", []))
    return st.fixed_dictionaries(
        {name: from_schema(schema, sub) for name, sub in properties.items() if name in required},
        optional={name: from_schema(schema, sub) for name, sub in properties.items() if name not in required},
    ).filter(_ends_after_start)


def test_every_event_class_in_the_contracts_is_registered_for_decoding() -> None:
    defined = {
        cls for _, cls in inspect.getmembers(contracts.events, inspect.isclass)
        if issubclass(cls, Event) and "type" in vars(cls)
    }
    assert defined == set(ALL_EVENTS), f"not in ALL_EVENTS: {sorted(c.__name__ for c in defined - set(ALL_EVENTS))}"
    assert len(EVENTS_BY_TYPE) == len(ALL_EVENTS), "two event classes share a type"


def test_the_example_generator_refuses_a_keyword_it_does_not_know() -> None:
    with pytest.raises(NotImplementedError, match="multipleOf"):
        from_schema({}, {"type": "integer", "multipleOf": 5})
    with pytest.raises(NotImplementedError, match="uuid"):
        from_schema({}, {"type": "string", "format": "uuid"})


@pytest.mark.parametrize("event", ALL_EVENTS, ids=lambda e: e.__name__)
def test_every_event_survives_a_kafka_record_round_trip_and_fits_its_committed_schema(event: type[Event]) -> None:
    schema = committed(event)
    assert schema is not None, f"no committed schema for {event.type}"
    validator = jsonschema_rs.validator_for(schema, validate_formats=True)

    @settings(max_examples=30, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(data=events_of(schema), event_id=st.uuids().map(str), at=aware_datetimes,
           correlation_id=st.from_regex(r"[A-Za-z0-9-]{1,40}", fullmatch=True))
    def round_trip(data: dict[str, Any], event_id: str, at: datetime, correlation_id: str) -> None:
        validator.validate(data)  # the generator keeps to the schema
        original = event.model_validate(data)
        sealed = seal(original, correlation_id=correlation_id, event_id=event_id, time=at)
        key, value, headers = to_record(sealed)

        assert key == original.key.encode()
        validator.validate(json.loads(value))
        assert set(headers) == BINARY_MODE_HEADERS
        assert headers["ce_specversion"] == "1.0"
        assert headers["ce_id"] == event_id
        assert headers["ce_source"] == event.source
        assert headers["ce_type"] == event.type
        assert headers["ce_subject"] == original.subject
        assert headers["content-type"] == "application/json"
        assert headers["ce_correlationid"] == headers["correlation_id"] == correlation_id
        assert headers["ce_time"].endswith("Z")
        assert datetime.fromisoformat(headers["ce_time"]) == at.astimezone(UTC)

        # As a Kafka client hands them over: a list of (name, bytes).
        opened = open_envelope([(name, text.encode()) for name, text in headers.items()], value)
        assert type(opened.event) is event
        assert opened.event == original
        assert (opened.id, opened.source, opened.subject, opened.correlation_id) == (
            event_id, event.source, original.subject, correlation_id)
        assert opened.time == at
        assert opened.extra_headers == {}

    round_trip()

"""The event contracts: naming, keys, committed schemas, compatibility rules and the wire envelope."""

from __future__ import annotations

import json
import re

import pytest

from contracts.envelope import ContractViolation, open_envelope, seal, to_record
from contracts.events import (
    ALL_EVENTS, EVENTS_BY_TYPE, AttendanceRecorded, CertificateIssued, EnrolmentConfirmed, SessionScheduled,
)
from contracts.schemas import (
    PUBLISHED_DIR, SCHEMA_DIR, breaking_changes, committed, published_schemas, render, schema_of,
)
from tests.support.ledger import institution

TYPE_NAME = re.compile(r"^probidad\.[a-z]+\.[a-z_]+\.[a-z_]+\.v\d+$")


@pytest.mark.parametrize("event", ALL_EVENTS, ids=lambda e: e.__name__)
def test_every_event_type_is_named_context_subject_action_version(event) -> None:
    assert TYPE_NAME.match(event.type), event.type


@pytest.mark.parametrize("event", ALL_EVENTS, ids=lambda e: e.__name__)
def test_the_committed_schema_matches_the_model(event) -> None:
    snapshot = committed(event)
    assert snapshot is not None, f"no committed schema for {event.type}: run python -m contracts.schemas"
    assert render(snapshot) == render(schema_of(event)), (
        f"{event.type} differs from contracts/schemas/{event.type}.json; regenerate with python -m contracts.schemas"
    )


# Compatibility is judged against the published baseline (contracts/schemas/published/), never against
# the snapshot above: the snapshot is regenerated from the models, so the two always agree and a
# breaking change regenerated into it would pass. The baseline moves only with --publish, which
# refuses a breaking change; tests/unit/test_contract_compatibility.py shows the check catching each.
PUBLISHED = published_schemas()


def test_a_published_baseline_of_the_contract_is_committed_apart_from_the_snapshots() -> None:
    assert PUBLISHED_DIR.parent == SCHEMA_DIR and PUBLISHED_DIR != SCHEMA_DIR
    assert PUBLISHED, f"no published schemas in {PUBLISHED_DIR.relative_to(SCHEMA_DIR.parent.parent)}"
    for event_type, schema in PUBLISHED.items():
        assert schema["x-ce-type"] == event_type, f"published/{event_type}.json describes {schema['x-ce-type']}"


@pytest.mark.parametrize("event_type", sorted(PUBLISHED))
def test_every_published_event_type_keeps_a_model_compatible_with_its_published_version(event_type: str) -> None:
    model = EVENTS_BY_TYPE.get(event_type)
    assert model is not None, f"{event_type} was published: a published type is never removed"
    assert breaking_changes(PUBLISHED[event_type], schema_of(model)) == [], (
        f"{event_type} breaks its published version: add optional fields only, or make a new vN type"
    )


def test_session_scoped_facts_are_keyed_by_session_and_certificates_by_servant() -> None:
    for event in (SessionScheduled, EnrolmentConfirmed, AttendanceRecorded):
        assert event.key_field == "session_id"
    assert CertificateIssued.key_field == "servant_id"


def test_the_envelope_carries_cloudevents_headers_and_plain_json() -> None:
    key, value, headers = to_record(seal(institution(), correlation_id="corr-1"))
    assert key == b"inst-1"
    assert json.loads(value)["headcount"] == 120
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_type"] == "probidad.enrollment.institution.registered.v1"
    assert headers["ce_source"] == "probidad/enrollment"
    assert headers["ce_subject"] == "inst-1"
    assert headers["ce_time"].endswith("Z")
    assert headers["ce_correlationid"] == "corr-1"
    assert headers["content-type"] == "application/json"
    opened = open_envelope({k: v.encode() for k, v in headers.items()}, value)
    assert opened.event == institution()
    assert opened.correlation_id == "corr-1"


def test_unknown_fields_are_ignored_so_producers_may_add_optional_fields() -> None:
    _, value, headers = to_record(seal(institution()))
    data = {**json.loads(value), "added_in_a_later_minor": "x"}
    assert open_envelope(headers, json.dumps(data).encode()).event == institution()


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda h, v: ({k: x for k, x in h.items() if k != "ce_id"}, v), "missing CloudEvents header(s): ce_id"),
        (lambda h, v: ({**h, "ce_type": "probidad.nope.v1"}, v), "unknown event type"),
        (lambda h, v: (h, b"{not json"), "value is not JSON"),
        (lambda h, v: (h, b"[1, 2]"), "value must be a JSON object"),
        (lambda h, v: (h, json.dumps({**json.loads(v), "headcount": 0}).encode()), "headcount"),
        (lambda h, v: (h, json.dumps({**json.loads(v), "government_level": "federal"}).encode()), "government_level"),
    ],
    ids=["missing-id", "unknown-type", "not-json", "not-object", "rule-violated", "bad-enum"],
)
def test_an_invalid_record_is_refused_with_a_reason(mutate, reason: str) -> None:
    _, value, headers = to_record(seal(institution()))
    bad_headers, bad_value = mutate(headers, value)
    with pytest.raises(ContractViolation, match=re.escape(reason)):
        open_envelope(bad_headers, bad_value)

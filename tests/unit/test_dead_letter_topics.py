"""Dead-letter topics keep what their source topic keeps: a dead letter carries the source record."""

from __future__ import annotations

from contracts.topics import (
    AGENCY_REQUEST_RETENTION_MS, AGENCY_REQUESTS, ATTENDANCE_EVENTS, dead_letter_config, dead_letter_topic,
)


def test_dead_letters_of_agency_requests_expire_with_the_requests_personal_data() -> None:
    for prefix in ("", "t1."):
        for requests in (f"{prefix}{AGENCY_REQUESTS}", f"{prefix}{AGENCY_REQUESTS}.in-sefiplan"):
            assert dead_letter_config(requests, prefix)["retention.ms"] == str(AGENCY_REQUEST_RETENTION_MS)


def test_dead_letters_of_the_system_of_record_are_kept_forever() -> None:
    assert dead_letter_config(f"t1.{ATTENDANCE_EVENTS}", "t1.")["retention.ms"] == "-1"


def test_a_dead_letter_topic_names_its_source_topic_and_group() -> None:
    assert dead_letter_topic(AGENCY_REQUESTS, "probidad-enrollment") == \
        "probidad.agency.requests.probidad-enrollment.dlq"

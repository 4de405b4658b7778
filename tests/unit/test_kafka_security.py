"""The ACL plan of secure mode matches what the services actually consume and write."""

from __future__ import annotations

import importlib
import re

import pytest

from contracts.events import ALL_EVENTS
from contracts.topics import dead_letter_topic
from probidad.shared.kafka_security import (
    PREFIXED, READ, TOPIC, WRITE, SecurityError, agency_acls, agency_requests_topic, institution_of_request_topic,
    request_topic_pattern, service_acls, service_user,
)
from probidad.shared.settings import ServiceSettings


def allowed(acls, user: str, operation: int, topic: str) -> bool:
    return any(a.principal == user and a.resource_type == TOPIC and a.operation == operation
               and (topic == a.name if a.pattern != PREFIXED else topic.startswith(a.name)) for a in acls)


@pytest.mark.parametrize("service", ["enrollment", "attendance", "certification", "reporting"])
def test_each_service_may_read_what_it_consumes_and_write_its_dead_letters(service, tmp_path):
    app = importlib.import_module(f"services.{service}.app")
    settings = importlib.import_module(f"services.{service}.settings")
    settings_class = next(v for k, v in vars(settings).items() if k.endswith("Settings") and k != "ServiceSettings")
    runtime = app.create_runtime(settings_class(state_dir=tmp_path))
    acls = service_acls()
    for consumer, topics in runtime.consumers:
        for topic in topics:
            assert allowed(acls, service_user(service), READ, topic), topic
            assert allowed(acls, service_user(service), WRITE, dead_letter_topic(topic, consumer.group)), topic


def test_a_service_may_write_the_topic_of_its_own_events_only():
    acls = service_acls()
    for event in ALL_EVENTS:
        writer = event.source.removeprefix("probidad/")
        for service in ("enrollment", "attendance", "certification", "reporting"):
            assert allowed(acls, service_user(service), WRITE, event.kafka_topic) == (service == writer), \
                (service, event.kafka_topic)


def test_an_agency_may_write_its_own_request_topic_and_not_another_institutions():
    acls = agency_acls("salud")
    assert allowed(acls, "agency-salud", WRITE, "probidad.agency.requests.salud")
    assert not allowed(acls, "agency-salud", WRITE, "probidad.agency.requests.educacion")
    assert not allowed(acls, "agency-salud", WRITE, "probidad.agency.requests")
    assert allowed(acls, "agency-salud", READ, "probidad.agency.outcomes.salud")
    assert not allowed(acls, "agency-salud", READ, "probidad.agency.requests.salud")


def test_enrollment_reads_every_request_topic_by_pattern_but_not_their_dead_letters():
    pattern = re.compile(request_topic_pattern("t1."))
    assert pattern.match("t1.probidad.agency.requests")
    assert pattern.match("t1.probidad.agency.requests.salud")
    assert not pattern.match("t1.probidad.agency.requests.salud.probidad-enrollment.dlq")
    assert not pattern.match("probidad.agency.requests.salud")
    assert institution_of_request_topic("t1.probidad.agency.requests.salud", "t1.") == "salud"
    assert institution_of_request_topic("t1.probidad.agency.requests", "t1.") is None


def test_an_institution_id_with_a_dot_cannot_name_a_topic():
    with pytest.raises(SecurityError):
        agency_requests_topic("salud.educacion")


def test_secure_settings_need_credentials_and_a_ca_file(tmp_path):
    with pytest.raises(ValueError, match="PROBIDAD_KAFKA_USERNAME"):
        ServiceSettings(kafka_security="scram-tls")
    with pytest.raises(ValueError, match="PROBIDAD_KAFKA_CA_FILE"):
        ServiceSettings(kafka_security="scram-tls", kafka_username="u", kafka_password="p",
                        kafka_ca_file=tmp_path / "missing.crt")

"""A comma-separated broker list reaches every client as a list of brokers, not one odd host name."""

from __future__ import annotations

from probidad.shared.kafka import bootstrap_servers, replicated_config


def test_a_broker_list_becomes_one_entry_per_broker() -> None:
    assert bootstrap_servers("h:9092,h:9094, h:9096") == ["h:9092", "h:9094", "h:9096"]
    assert bootstrap_servers("127.0.0.1:9092") == ["127.0.0.1:9092"]


def test_three_replicas_refuse_a_write_unless_two_have_it_and_one_replica_needs_only_itself() -> None:
    assert replicated_config({"retention.ms": "-1"}, 3) == {"retention.ms": "-1", "min.insync.replicas": "2"}
    assert replicated_config({}, 1) == {"min.insync.replicas": "1"}

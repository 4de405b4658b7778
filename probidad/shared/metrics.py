"""Prometheus metrics shared by the services (names documented in the README).

Defined once per process in the default registry; the ``service`` label tells the services apart.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, Counter, Gauge, Histogram

EVENTS_CONSUMED = Counter(
    "probidad_events_consumed_total",
    "Events a consumer group handled, by outcome (applied, duplicate, ignored, dead_lettered).",
    ["service", "group", "type", "outcome"],
)
DEAD_LETTERS = Counter(
    "probidad_dead_letters_total",
    "Messages sent to a dead-letter topic.",
    ["service", "group", "topic", "reason"],
)
HANDLER_RETRIES = Counter(
    "probidad_handler_retries_total",
    "Retries of an event handler after a transient fault (database or broker unavailable).",
    ["service", "group"],
)
CONSUMER_LAG = Gauge(
    "probidad_consumer_lag_events",
    "Events in a topic not yet committed by the consumer group (high-water mark minus committed offset).",
    ["group", "topic"],
)
CONSUMER_LAG_SECONDS = Gauge(
    "probidad_consumer_lag_seconds",
    "Age of the last event the group processed, when it still has lag; 0 when caught up.",
    ["group", "topic"],
)
KAFKA_UNREACHABLE = Gauge(
    "probidad_kafka_unreachable_seconds",
    "How long the service has been unable to reach any Kafka broker (0 while it reaches one).",
    ["service"],
)
KAFKA_CONNECTION_ATTEMPTS = Counter(
    "probidad_kafka_connection_attempts_total",
    "Connections the process's Kafka clients tried to open, by outcome (connected, failed); while a broker "
    "is away the retries wait on a bounded exponential backoff.",
    ["outcome"],
)
OUTBOX_BACKLOG = Gauge(
    "probidad_outbox_backlog",
    "Events committed to the outbox and not yet published to Kafka.",
    ["service"],
)
OUTBOX_OLDEST_AGE = Gauge(
    "probidad_outbox_oldest_age_seconds",
    "How long the oldest event not yet published to Kafka has waited (0: none waits); measured by /health.",
    ["service"],
)
OUTBOX_PUBLISHED = Counter(
    "probidad_outbox_published_total",
    "Events the outbox relay published to Kafka (acknowledged by all in-sync replicas), by topic.",
    ["service", "topic"],
)
OUTBOX_RELAY_ERRORS = Counter(
    "probidad_outbox_relay_errors_total",
    "Failed relay rounds (the batch is retried).",
    ["service"],
)
HTTP_REQUESTS = Counter(
    "probidad_http_requests_total",
    "HTTP requests served, by route and status class.",
    ["service", "method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "probidad_http_request_seconds",
    "HTTP request latency.",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

__all__ = [name for name in dir() if name.isupper()] + ["REGISTRY"]

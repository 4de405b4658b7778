"""Kafka topics of the platform: one writing service per topic.

Topics are the system of record, so they keep every event forever (``retention.ms=-1``), except the
agency request topic: requests carry the personal data an agency submits (name, CURP, email), which
must be erasable, so that topic keeps messages only as long as enrollment needs to act on them.
Dead-letter topics keep the retention of the topic they park records of (``dead_letter_config``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

ENROLLMENT_EVENTS = "probidad.enrollment.events"
ATTENDANCE_EVENTS = "probidad.attendance.events"
CERTIFICATION_EVENTS = "probidad.certification.events"
REPORTING_EVENTS = "probidad.reporting.events"  # reports published (ReportPublished); no personal data
AGENCY_REQUESTS = "probidad.agency.requests"
# probidad.agency.outcomes.<institution>: enrollment's answer to each of an institution's requests, for
# that agency to read; kept like the requests (an agency reads its answers within days).
AGENCY_OUTCOMES = "probidad.agency.outcomes"

DEFAULT_PARTITIONS = 6
AGENCY_REQUEST_RETENTION_MS = 7 * 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    writer: str
    partitions: int = DEFAULT_PARTITIONS
    config: dict[str, str] = field(default_factory=lambda: {"retention.ms": "-1", "retention.bytes": "-1"})


PLATFORM_TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(ENROLLMENT_EVENTS, writer="enrollment"),
    TopicSpec(ATTENDANCE_EVENTS, writer="attendance"),
    TopicSpec(CERTIFICATION_EVENTS, writer="certification"),
    TopicSpec(REPORTING_EVENTS, writer="reporting"),
    TopicSpec(
        AGENCY_REQUESTS,
        writer="agencies",
        config={"retention.ms": str(AGENCY_REQUEST_RETENTION_MS), "retention.bytes": "-1"},
    ),
)


def dead_letter_topic(topic: str, consumer_group: str) -> str:
    """Where a consumer group parks the messages of ``topic`` it cannot process."""
    return f"{topic}.{consumer_group}.dlq"


def topic_config(topic: str, prefix: str = "") -> dict[str, str]:
    """The configuration ``topic`` (a name inside namespace ``prefix``) is created with."""
    for spec in PLATFORM_TOPICS:
        # An agency's own request topic (probidad.agency.requests.<institution>) is kept like the shared one,
        # and so is its outcome topic.
        if topic == prefixed(spec.name, prefix) or (spec.name == AGENCY_REQUESTS and any(
                topic.startswith(prefixed(family, prefix) + ".") for family in (AGENCY_REQUESTS, AGENCY_OUTCOMES))):
            return dict(spec.config)
    return dict(TopicSpec(topic, writer="").config)


def dead_letter_config(topic: str, prefix: str = "") -> dict[str, str]:
    """A dead-letter topic keeps its records as long as its source topic does: a dead letter carries
    the source record, personal data included, which must be erased on the same schedule."""
    return topic_config(topic, prefix)


def prefixed(name: str, prefix: str) -> str:
    """Topic name inside a namespace (tests and side-by-side environments use a prefix)."""
    return f"{prefix}{name}" if prefix else name

"""What enrollment decided, for the operations dashboards (the shared metrics cover HTTP, events and the outbox)."""

from __future__ import annotations

from prometheus_client import Counter

ENROLMENT_DECISIONS = Counter(
    "probidad_enrollment_enrolments_total",
    "Enrolment requests decided, by channel (http, import, agency) and outcome (confirmed, waitlisted, rejected).",
    ["channel", "outcome"],
)
AGENCY_REJECTIONS = Counter(
    "probidad_enrollment_agency_rejections_total",
    "Agency requests answered with RequestRejected, by request type and field at fault.",
    ["request", "field"],
)
